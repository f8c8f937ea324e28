// Issue 18 (item 5's install check, item 6's dataDir), the pure parts: is a path somewhere only
// root can change (walked over a fake filesystem), and where `cni install --socket` may point.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rootOnlyProblem, type Entry, type FsView } from '../../src/front/cni/root-only.js';
import { socketPathProblem } from '../../src/front/cni/install.js';

interface Node {
  uid?: number;
  /** Permission bits (the sticky bit included). */
  perm: number;
  link?: string;
  file?: boolean;
}

/** A filesystem of these paths (and their parents, root's 0755 directories unless listed). */
function fakeFs(tree: Record<string, Node>): FsView {
  const nodes = new Map<string, Node>([['/', { perm: 0o755 }], ...Object.entries(tree)]);
  return {
    lstat(path): Entry | undefined {
      const n = nodes.get(path);
      if (n === undefined) return undefined;
      return { uid: n.uid ?? 0, mode: n.perm, isDirectory: n.link === undefined && n.file !== true, isSymbolicLink: n.link !== undefined };
    },
    readlink(path) {
      const l = nodes.get(path)?.link;
      if (l === undefined) throw new Error(`EINVAL: ${path} is not a link`);
      return l;
    },
  };
}

const SYSTEM: Record<string, Node> = {
  '/run': { perm: 0o755 },
  '/run/pipework': { perm: 0o700 },
  '/tmp': { perm: 0o1777 },
  '/var': { perm: 0o755 },
  '/var/run': { perm: 0o777, link: '/run' },
  '/var/lib': { perm: 0o755 },
  '/home': { perm: 0o755 },
  '/home/alice': { uid: 1000, perm: 0o755 },
  '/home/alice/rootdir': { perm: 0o700 },
};

void describe('rootOnlyProblem: a path only root can change', () => {
  const fs = (more: Record<string, Node> = {}) => fakeFs({ ...SYSTEM, ...more });

  void test('root\'s directories, existing or yet to make under one', () => {
    assert.equal(rootOnlyProblem('/run/pipework', fs()), undefined);
    assert.equal(rootOnlyProblem('/run/pipework/deeper/still', fs()), undefined);
    assert.equal(rootOnlyProblem('/var/lib/cni/pipework', fs()), undefined);
  });

  void test('a directory writable by its group or others, sticky or not, is refused', () => {
    assert.match(rootOnlyProblem('/srv/x', fs({ '/srv': { perm: 0o755 }, '/srv/x': { perm: 0o777 } }))!, /^\/srv\/x is writable by its group and others \(mode 0777\)$/u);
    assert.match(rootOnlyProblem('/srv/x', fs({ '/srv': { perm: 0o755 }, '/srv/x': { perm: 0o770 } }))!, /\/srv\/x is writable by its group/u);
    assert.match(rootOnlyProblem('/tmp', fs())!, /\/tmp is writable by its group and others \(mode 1777\)/u);
  });

  void test('a directory yet to make in a sticky one is refused: another user could make it first', () => {
    assert.match(rootOnlyProblem('/tmp/pipework', fs())!, /\/tmp is writable/u);
  });

  void test('root\'s own directory in a sticky one is fine (others cannot move it)', () => {
    assert.equal(rootOnlyProblem('/tmp/root-only/sock-dir', fs({ '/tmp/root-only': { perm: 0o700 } })), undefined);
    assert.match(rootOnlyProblem('/tmp/theirs', fs({ '/tmp/theirs': { uid: 1000, perm: 0o700 } }))!, /\/tmp is writable/u);
  });

  void test('anything on the way writable by others, or not root\'s, is refused', () => {
    assert.match(rootOnlyProblem('/srv/ww/root-only', fs({ '/srv': { perm: 0o755 }, '/srv/ww': { perm: 0o777 }, '/srv/ww/root-only': { perm: 0o700 } }))!, /\/srv\/ww is writable by its group and others/u);
    assert.match(rootOnlyProblem('/home/alice/rootdir', fs())!, /\/home\/alice is owned by uid 1000, not root/u);
    assert.match(rootOnlyProblem('/srv/x', fs({ '/srv': { perm: 0o755 }, '/srv/x': { uid: 65534, perm: 0o700 } }))!, /\/srv\/x is owned by uid 65534, not root/u);
  });

  void test('symbolic links are followed, and where they lead is checked too', () => {
    // /var/run -> /run: the link's own permissions do not matter, /run does.
    assert.equal(rootOnlyProblem('/var/run/pipework', fs()), undefined);
    assert.match(rootOnlyProblem('/srv/link/sock', fs({ '/srv': { perm: 0o755 }, '/srv/link': { perm: 0o777, link: '/home/alice/rootdir' } }))!, /\/home\/alice is owned by uid 1000/u);
    assert.match(rootOnlyProblem('/srv/rel/x', fs({ '/srv': { perm: 0o755 }, '/srv/ww': { perm: 0o777 }, '/srv/rel': { perm: 0o777, link: 'ww' } }))!, /\/srv\/ww is writable by its group and others/u);
    // A user's link in a sticky directory is theirs to change.
    assert.match(rootOnlyProblem('/tmp/l/x', fs({ '/tmp/l': { uid: 1000, perm: 0o777, link: '/run/pipework' } }))!, /\/tmp is writable/u);
    assert.match(rootOnlyProblem('/srv/a', fs({ '/srv': { perm: 0o755 }, '/srv/a': { perm: 0o777, link: '/srv/a' } }))!, /too many levels of symbolic links/u);
  });

  void test('.. is taken where the links led, as the kernel does', () => {
    assert.match(rootOnlyProblem('/srv/l/../x', fs({ '/srv': { perm: 0o755 }, '/srv/l': { perm: 0o777, link: '/home/alice/rootdir' } }))!, /\/home\/alice is owned by uid 1000/u);
  });

  void test('a file root reads is checked as a directory root writes in', () => {
    assert.equal(rootOnlyProblem('/etc/pipework/cni.json', fs({ '/etc': { perm: 0o755 }, '/etc/pipework': { perm: 0o755 }, '/etc/pipework/cni.json': { perm: 0o644, file: true } })), undefined);
    assert.match(rootOnlyProblem('/etc/pipework/cni.json', fs({ '/etc': { perm: 0o755 }, '/etc/pipework': { perm: 0o755 }, '/etc/pipework/cni.json': { perm: 0o646, file: true } }))!, /cni\.json is writable by others/u);
    assert.match(rootOnlyProblem('/etc/f/x', fs({ '/etc': { perm: 0o755 }, '/etc/f': { perm: 0o644, file: true } }))!, /\/etc\/f is not a directory/u);
  });

  void test('a relative path is refused', () => {
    assert.match(rootOnlyProblem('run/x', fs())!, /not an absolute path/u);
  });
});

void describe('cni install --socket', () => {
  const fs = (more: Record<string, Node> = {}) => fakeFs({ ...SYSTEM, ...more });
  void test('the default and a root-only directory are fine', () => {
    assert.equal(socketPathProblem('/run/pipework/cni.sock', fs()), undefined);
    assert.equal(socketPathProblem('/run/other/cni.sock', fs()), undefined);
  });
  void test('a directory a user can write (or whose path crosses one) is refused in one line naming it', () => {
    const p = socketPathProblem('/tmp/cni.sock', fs())!;
    assert.match(p, /^refusing --socket \/tmp\/cni\.sock: \/tmp is writable by its group and others \(mode 1777\), so a user other than root could put their own socket there; choose a directory only root can write \(the default is \/run\/pipework\/cni\.sock\)$/u);
    assert.ok(!p.includes('\n'));
    assert.match(socketPathProblem('/home/alice/rootdir/cni.sock', fs())!, /\/home\/alice is owned by uid 1000/u);
  });
});
