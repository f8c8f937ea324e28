// Issue 18 (item 5's install check, item 6's dataDir), the pure parts: is a path somewhere only
// root can change (walked over a fake filesystem), and where `cni install --socket` may point.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rootOnlyProblem, type Entry, type FsView } from '../../src/exec/root-only.js';
import { socketPathProblem } from '../../src/front/cni/install.js';
import { DEFAULT_DATA_DIR, parseNetConf, type ParseOptions } from '../../src/front/cni/config.js';
import { CniError, Code } from '../../src/front/cni/protocol.js';
import { loadOperatorFile, parseOperatorFile } from '../../src/front/cni/operator.js';
import { parseRecordFile, recordKeyProblem, recordProblem, statePath } from '../../src/front/cni/state.js';
import { masqChain, masqComment } from '../../src/drivers/network/masq.js';
import { encodeRecord } from '../../src/model/record.js';
import { formatOwner } from '../../src/model/owner.js';
import { ownerOf } from '../../src/front/cni/spec.js';
import { recordedIpamProblem } from '../../src/front/cni/cleanup.js';

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

function netConf(extra: Record<string, unknown>, command: 'ADD' | 'DEL' | 'GC' = 'ADD', options: ParseOptions = {}) {
  return parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'net1', type: 'pipework', ...extra }), { args: '', command }, { lenient: command !== 'ADD', ...options });
}

function refusal(f: () => unknown): CniError {
  try {
    f();
  } catch (err) {
    if (err instanceof CniError) return err;
    throw err;
  }
  assert.fail('not refused');
}

void describe('dataDir: where root keeps the records is not the configuration\'s choice', () => {
  void test('absent, or the default directory itself', () => {
    assert.equal(netConf({}).dataDir, DEFAULT_DATA_DIR);
    assert.equal(netConf({ dataDir: '/var/lib/cni/pipework' }).dataDir, DEFAULT_DATA_DIR);
    assert.equal(netConf({ dataDir: '/var/lib/cni/pipework/' }).dataDir, DEFAULT_DATA_DIR);
  });

  void test('any other directory is code 7 naming it, on every command', () => {
    for (const dataDir of ['/etc', '/tmp/x', '/var/lib/cni/pipework/sub', '/var/lib/cni/pipework/../../../etc', '/var/lib/cni/./pipework', '//var/lib/cni/pipework', '/', 'relative', '']) {
      for (const command of ['ADD', 'DEL', 'GC'] as const) {
        const e = refusal(() => netConf({ dataDir }, command));
        assert.equal(e.code, Code.InvalidConfig, `${command} ${dataDir}: ${e.message}`);
        assert.ok(e.message.includes(`dataDir '${dataDir}' is not allowed`), e.message);
        assert.match(e.details, /\/var\/lib\/cni\/pipework/u);
      }
    }
    assert.equal(refusal(() => netConf({ dataDir: 7 })).code, Code.InvalidConfig);
  });
});

void describe('dataDir: a directory the node\'s operator allows', () => {
  const operator = () => ({ dataDirs: ['/srv/pw'], source: '/etc/pipework/cni.json' });
  void test('exactly the directories listed', () => {
    assert.equal(netConf({ dataDir: '/srv/pw' }, 'ADD', { operator }).dataDir, '/srv/pw');
    assert.equal(netConf({ dataDir: '/srv/pw/' }, 'DEL', { operator }).dataDir, '/srv/pw');
    for (const dataDir of ['/srv/pw/sub', '/srv', '/srv/pw/..', '/srv/pwx']) {
      const e = refusal(() => netConf({ dataDir }, 'ADD', { operator }));
      assert.equal(e.code, Code.InvalidConfig);
      assert.match(e.details, /\/etc\/pipework\/cni\.json/u);
    }
  });
  void test('the operator\'s file is read only for another directory than the default', () => {
    let asked = 0;
    const counting = () => {
      asked++;
      return operator();
    };
    netConf({}, 'ADD', { operator: counting });
    netConf({ dataDir: DEFAULT_DATA_DIR }, 'ADD', { operator: counting });
    assert.equal(asked, 0);
    netConf({ dataDir: '/srv/pw' }, 'ADD', { operator: counting });
    assert.equal(asked, 1);
  });
  void test('a file that was not read says why in the refusal', () => {
    const e = refusal(() => netConf({ dataDir: '/srv/pw' }, 'ADD', { operator: () => ({ dataDirs: [], source: '/etc/pipework/cni.json', problem: '/etc/pipework/cni.json is writable by others (mode 0666)' }) }));
    assert.match(e.details, /was not read: \/etc\/pipework\/cni\.json is writable by others/u);
  });
});

void describe('the operator\'s file', () => {
  void test('dataDirs: absolute directories written plainly', () => {
    assert.deepEqual(parseOperatorFile('{"dataDirs": ["/srv/pw", "/data/cni"]}').dataDirs, ['/srv/pw', '/data/cni']);
    assert.deepEqual(parseOperatorFile('{}').dataDirs, []);
    for (const [text, why] of [
      ['not json', /not JSON/u],
      ['[]', /not a JSON object/u],
      ['{"dataDir": ["/srv"]}', /unknown key dataDir/u],
      ['{"dataDirs": "/srv"}', /not a list/u],
      ['{"dataDirs": ["srv"]}', /not an absolute path/u],
      ['{"dataDirs": ["/"]}', /cannot hold records/u],
      ['{"dataDirs": ["/srv/../etc"]}', /not written plainly/u],
      ['{"dataDirs": ["/srv/"]}', /not written plainly/u],
      ['{"dataDirs": ["/srv//pw"]}', /not written plainly/u],
    ] as const) {
      const o = parseOperatorFile(text);
      assert.deepEqual(o.dataDirs, [], text);
      assert.match(o.problem ?? '', why, text);
    }
  });
  void test('read only when no user but root can have written it', () => {
    const tree = (perm: number, dirUid = 0): Record<string, Node> => ({
      '/etc': { perm: 0o755 }, '/etc/pipework': { uid: dirUid, perm: 0o755 }, '/etc/pipework/cni.json': { perm, file: true },
    });
    const read = () => '{"dataDirs": ["/srv/pw"]}';
    assert.deepEqual(loadOperatorFile('/etc/pipework/cni.json', fakeFs(tree(0o644)), read).dataDirs, ['/srv/pw']);
    const ww = loadOperatorFile('/etc/pipework/cni.json', fakeFs(tree(0o666)), read);
    assert.deepEqual(ww.dataDirs, []);
    assert.match(ww.problem ?? '', /cni\.json is writable by its group and others/u);
    assert.match(loadOperatorFile('/etc/pipework/cni.json', fakeFs(tree(0o644, 1000)), read).problem ?? '', /\/etc\/pipework is owned by uid 1000/u);
    assert.deepEqual(loadOperatorFile('/etc/pipework/cni.json', fakeFs({}), read), { dataDirs: [], source: '/etc/pipework/cni.json' }, 'no file: nothing allowed, nothing wrong');
  });
});

void describe('records: every name checked before it becomes a path, every record checked when read back', () => {
  const key = { network: 'net1', containerId: 'c1', ifname: 'eth0' };
  const good = { version: 1, ...key, netns: '/run/netns/x', hostKind: 'bridge', hostIf: 'cni0', hostEnd: 'pwc0123456789ab', phase: 'attached', created: 'x' };

  void test('names', () => {
    assert.equal(recordKeyProblem(key), undefined);
    for (const k of [{ network: '..' }, { network: 'a/b' }, { network: '.hidden' }, { containerId: '..' }, { containerId: 'a/../../b' }, { containerId: '' }, { ifname: '..' }, { ifname: 'a/b' }, { ifname: '.' }]) {
      assert.ok(recordKeyProblem(k) !== undefined, JSON.stringify(k));
    }
    assert.throws(() => statePath('/var/lib/cni/pipework', 'net1', '../../etc', 'eth0'), (e: unknown) => e instanceof CniError && e.code === Code.InvalidEnvironment);
    assert.throws(() => statePath('/var/lib/cni/pipework', '../x', 'c1', 'eth0'), (e: unknown) => e instanceof CniError && e.code === Code.InvalidConfig);
  });

  void test('a record says what it is about, and it is where it was found', () => {
    assert.equal(recordProblem(good, key), undefined);
    for (const [bad, why] of [
      [{ ...good, ifname: '../../../../tmp/victim' }, /ifname/u],
      [{ ...good, containerId: 'c2' }, /containerId/u],
      [{ ...good, network: 'other' }, /network/u],
      [{ ...good, version: 4 }, /version/u],
      [{ ...good, version: '2' }, /version/u],
      [{ ...good, hostKind: 'shell' }, /hostKind/u],
      [{ ...good, hostIf: 'eth0 up' }, /hostIf/u],
      [{ ...good, hostEnd: '../x' }, /hostEnd/u],
      [{ ...good, netns: 'relative' }, /netns/u],
      [{ ...good, ipam: '../../bin/sh' }, /ipam/u],
      [{ ...good, vlan: 5000 }, /vlan/u],
      [{ ...good, phase: 'done' }, /phase/u],
      [[], /object/u],
    ] as const) {
      assert.match(recordProblem(bad, key) ?? '', why, JSON.stringify(bad));
    }
  });

  void test('version 2: the attachment\'s record in the one record format, checked by its one decoder', () => {
    const owner = formatOwner(ownerOf('net1', 'c1', 'eth0'));
    const rec = { role: 'guest' as const, guest: 'netns:c1', nsInode: 4026532001, guestIf: 'eth0', hostIf: 'cni0', hostKind: 'ovs' as const, localIf: 'pwc0123456789ab', owner };
    const v2 = { version: 2, ...key, netns: '/run/netns/x', record: encodeRecord(rec), phase: 'attached', created: 'x' };
    assert.equal(recordProblem(v2, key), undefined);
    const chain = masqChain('net1', 'c1');
    const masq = { chain, comment: masqComment('net1', 'c1'), rules: [{ family: 4, ip: '10.5.0.9', subnet: '10.5.0.0/16' }] };
    assert.equal(recordProblem({ ...v2, masq }, key), undefined);
    // Version 1 is read as the record it would be now: every kind's driver reads one shape.
    const parsed = parseRecordFile(good, key);
    assert.ok(typeof parsed !== 'string');
    assert.deepEqual(parsed.record, { role: 'guest', guest: '?', nsInode: 0, guestIf: 'eth0', hostIf: 'cni0', hostKind: 'bridge', localIf: 'pwc0123456789ab', owner });
    for (const [bad, why] of [
      [{ ...v2, record: 'pipework/1;r=guest;i=eth0;h=cni0;k=shell' }, /record is not one/u],
      // A value of a shape pipework never writes (here a host end that is a path) makes the record no record.
      [{ ...v2, record: encodeRecord(rec).replace('l=pwc0123456789ab', 'l=..%2Fx') }, /record is not one/u],
      [{ ...v2, record: encodeRecord({ ...rec, owner: formatOwner(ownerOf('net1', 'c2', 'eth0')) }) }, /another attachment/u],
      [{ ...v2, record: encodeRecord({ ...rec, guestIf: 'eth1' }) }, /another attachment/u],
      [{ ...v2, record: encodeRecord({ ...rec, role: 'host' }) }, /another attachment/u],
      [{ ...v2, record: { ...rec } }, /record is not one/u],
      [{ ...v2, masq: { ...masq, chain: 'INPUT' } }, /masq/u],
      [{ ...v2, masq: { ...masq, comment: 'x' } }, /masq/u],
      [{ ...v2, masq: { ...masq, rules: [{ family: 4, ip: '-j ACCEPT', subnet: '10.5.0.0/16' }] } }, /masq rules/u],
      [{ ...v2, masq: { ...masq, rules: [{ family: 5, ip: '10.5.0.9', subnet: '10.5.0.0/16' }] } }, /masq rules/u],
      [{ ...v2, masq: { ...masq, rules: 'all' } }, /masq rules/u],
    ] as const) {
      assert.match(recordProblem(bad, key) ?? '', why, JSON.stringify(bad));
    }
  });

  void test('version 3: the masquerading chain is the interface\'s own; older records keep the container\'s, and are found by it', () => {
    const owner = formatOwner(ownerOf('net1', 'c1', 'eth0'));
    const rec = { role: 'guest' as const, guest: 'netns:c1', nsInode: 4026532001, guestIf: 'eth0', hostIf: 'cni0', hostKind: 'bridge' as const, localIf: 'pwc0123456789ab', owner };
    const rules = [{ family: 4, ip: '10.5.0.9', subnet: '10.5.0.0/16' }];
    const old = { chain: masqChain('net1', 'c1'), comment: masqComment('net1', 'c1'), rules };
    const own = { chain: masqChain('net1', 'c1', 'eth0'), comment: masqComment('net1', 'c1', 'eth0'), rules };
    const base = { ...key, netns: '/run/netns/x', record: encodeRecord(rec), phase: 'attached', created: 'x' };
    const v3 = parseRecordFile({ ...base, version: 3, masq: own }, key);
    assert.ok(typeof v3 !== 'string', typeof v3 === 'string' ? v3 : '');
    assert.equal(v3.version, 3);
    assert.deepEqual(v3.masq, own);
    // A record written before keeps the chain it names, for DEL and GC to remove.
    const v2 = parseRecordFile({ ...base, version: 2, masq: old }, key);
    assert.ok(typeof v2 !== 'string', typeof v2 === 'string' ? v2 : '');
    assert.equal(v2.version, 2);
    assert.equal(v2.masq?.chain, masqChain('net1', 'c1'));
    assert.match(recordProblem({ ...base, version: 3, masq: old }, key) ?? '', /masq/u);
    assert.match(recordProblem({ ...base, version: 2, masq: own }, key) ?? '', /masq/u);
    // Another interface's chain is not this one's.
    assert.match(recordProblem({ ...base, version: 3, masq: { ...own, chain: masqChain('net1', 'c1', 'eth1') } }, key) ?? '', /masq/u);
  });
});

void describe('the IPAM configuration a record kept, used again (DEL without ipam, GC, a stale record)', () => {
  const conf = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'pipework', bridge: 'b', ipam: { type: 'host-local', subnet: '10.5.0.0/16' }, ...extra });
  const rec = (ipamConfig: string | undefined, ipam = 'host-local') => ({ network: 'net1', ipam, ...(ipamConfig !== undefined && { ipamConfig }), cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=web' });
  void test('checked as the configuration parser checks a runtime\'s: ADD\'s own passes', () => {
    assert.equal(recordedIpamProblem(rec(conf())), undefined);
    // Keys ADD would refuse are not refused now (nothing is made), as for DEL itself.
    assert.equal(recordedIpamProblem(rec(conf({ someTypo: 1 }))), undefined);
  });
  void test('hostile: anything else is not handed to the IPAM plugin', () => {
    for (const [r, why] of [
      [rec(undefined), /no configuration/u],
      [rec('{'), /decoding/u],
      [rec('[]'), /not a JSON object/u],
      [rec(conf({ name: 'net2' })), /network net2/u],
      [rec(conf({ name: '../net1' })), /network name/u],
      [rec(conf({ ipam: { type: 'static' } })), /static, not host-local/u],
      [rec(conf({ ipam: { type: '../../bin/sh' } })), /ipam\.type/u],
      [rec(conf({ ipam: { type: '/usr/lib/cni/host-local' } })), /ipam\.type/u],
      [rec(conf({ ipam: {} })), /none, not host-local/u],
      [rec(conf({ cniVersion: '0.2.0' })), /incompatible/u],
      [rec(conf({ dataDir: '/tmp/x' })), /dataDir/u],
      [{ ...rec(conf()), cniArgs: 'A=1' }, /CNI_ARGS/u],
    ] as const) {
      assert.match(recordedIpamProblem(r) ?? '', why, JSON.stringify(r));
    }
  });
});
