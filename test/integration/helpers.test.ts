// Smoke test of the integration-test helpers against the real components: namespaces on a
// bridge, Docker, Podman (CLI and API service), LXC. A missing runtime is a failure, not a
// skip: scripts/setup.sh installs all of them and scripts/test.sh starts dockerd.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as docker from './helpers/docker.js';
import * as podman from './helpers/podman.js';
import * as lxc from './helpers/lxc.js';
import { assertHostUnchanged, cleanupPrefix, snapshotHost, type HostSnapshot } from './helpers/guard.js';
import {
  addBridge,
  addNetns,
  attachToBridge,
  getAddrs,
  getLink,
  getRoutes,
  ipJson,
  listLinks,
  listNetns,
  ping,
  waitDad,
} from './helpers/netns.js';
import { CommandError, repoRoot, runPipework, sh, shOk, waitFor } from './helpers/run.js';

const P = 'pwh-';

async function cleanupAll(): Promise<void> {
  if (await docker.dockerAvailable()) await docker.removeContainersByPrefix(P);
  await podman.removeContainersByPrefix(P);
  await lxc.destroyByPrefix(P);
  await cleanupPrefix(P);
}

// Every host object these helpers make is named pwh-*; docker/podman/lxc with network none
// make no host links. Scoping the guard to that prefix keeps this test meaningful even while
// another suite works on the same host (suites that plumb unforeseen names should snapshot the
// whole host, the default).
const ours = { only: (n: string): boolean => n.startsWith(P) };
let snap: HostSnapshot;

before(async () => {
  await cleanupAll();
  snap = await snapshotHost(ours);
});

after(async () => {
  await cleanupAll();
  await assertHostUnchanged(snap, 5_000, ours);
});

void describe('run helpers', () => {
  void test('sh and shOk run argument vectors, report failures and time out', async () => {
    assert.equal((await sh(['true'])).code, 0);
    assert.equal((await sh(['false'])).code, 1);
    // An argument with spaces and shell syntax reaches the program as one argument.
    assert.equal(await shOk(['printf', '%s', 'a b; $(x)']), 'a b; $(x)');
    await assert.rejects(shOk(['sh', '-c', 'echo boom >&2; exit 3']), (e: unknown) => {
      assert.ok(e instanceof CommandError);
      assert.equal(e.result.code, 3);
      assert.match(e.message, /boom/);
      return true;
    });
    assert.equal((await sh(['no-such-program-pwh'])).code, 127);
    const t0 = Date.now();
    const r = await sh(['sleep', '10'], { timeoutMs: 300 });
    assert.equal(r.timedOut, true);
    assert.equal(r.code, 124);
    assert.ok(Date.now() - t0 < 5_000);
    // A background child holding the pipes does not keep the call waiting past the grace time.
    const t1 = Date.now();
    const bg = await sh(['sh', '-c', 'sleep 20 & echo $!']);
    const bgPid = Number(bg.stdout.trim());
    try {
      assert.ok(bgPid > 0, bg.stdout);
      assert.ok(Date.now() - t1 < 5_000);
    } finally {
      if (bgPid > 0) process.kill(bgPid, 'SIGKILL');
    }
    assert.ok(existsSync(join(repoRoot, 'bin', 'pipework')));
  });

  void test('runPipework runs bin/pipework: no arguments prints the syntax and exits 1', async () => {
    const r = await runPipework([]);
    assert.equal(r.timedOut, false);
    assert.equal(r.code, 1, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.match(r.stdout + r.stderr, /pipework\b.*<guest>/);
  });
});

void describe('netns helpers', () => {
  void test('two named netns on a bridge ping each other over IPv4 and IPv6', async () => {
    await addNetns(`${P}a`);
    await addNetns(`${P}b`);
    assert.ok((await listNetns()).includes(`${P}a`));
    await addBridge(`${P}br0`);
    await attachToBridge(`${P}a`, `${P}br0`, { hostIf: `${P}va`, addrs: ['10.231.0.1/24', 'fd31::1/64'] });
    await attachToBridge(`${P}b`, `${P}br0`, { hostIf: `${P}vb`, addrs: ['10.231.0.2/24', 'fd31::2/64'] });

    const br = await getLink(`${P}br0`);
    assert.equal(br?.linkinfo?.info_kind, 'bridge');
    const va = await getLink(`${P}va`);
    assert.equal(va?.master, `${P}br0`);
    assert.equal(va?.linkinfo?.info_kind, 'veth');
    assert.equal(await getLink('eth0-nope', `${P}a`), undefined);

    const eth0 = await getLink('eth0', `${P}a`);
    assert.equal(eth0?.linkinfo?.info_kind, 'veth');
    assert.ok(eth0?.flags.includes('UP'));
    const v4 = await getAddrs('eth0', `${P}a`, 4);
    assert.deepEqual(
      v4.map((a) => [a.local, a.prefixlen, a.broadcast]),
      [['10.231.0.1', 24, undefined]],
    );
    const v6 = await getAddrs('eth0', `${P}a`, 6);
    assert.ok(v6.some((a) => a.local === 'fd31::1' && a.prefixlen === 64));
    const routes = await getRoutes(`${P}a`);
    assert.ok(routes.some((r) => r.dst === '10.231.0.0/24' && r.dev === 'eth0'), JSON.stringify(routes));
    assert.ok((await getRoutes(`${P}a`, 6)).some((r) => r.dst === 'fd31::/64'));
    assert.ok((await ipJson(['link', 'show'], `${P}b`)).length === 2);

    await waitDad('eth0', `${P}a`);
    assert.equal(await ping(`${P}a`, '10.231.0.2'), true);
    assert.equal(await ping(`${P}b`, '10.231.0.1'), true);
    assert.equal(await ping(`${P}a`, 'fd31::2', 6), true);
    assert.equal(await ping(`${P}a`, '10.231.0.99', 4, { retryMs: 0 }), false);

    // The same namespace addressed through a PID (nsenter).
    const sleeper = spawn('ip', ['netns', 'exec', `${P}a`, 'sleep', '60'], { stdio: 'ignore' });
    try {
      const pid = sleeper.pid;
      assert.ok(pid !== undefined);
      // ip netns exec execs sleep in place: same PID, once it has switched namespaces.
      await waitFor('the sleeper to enter the netns', async () => (await getLink('eth0', pid)) !== undefined, 5_000);
      const byPid = await getAddrs('eth0', pid, 4);
      assert.equal(byPid[0]?.local, '10.231.0.1');
      assert.equal(await ping(pid, '10.231.0.2'), true);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  void test('guard notices a leftover link and cleanupPrefix removes it', async () => {
    // Scoped to this test's names, so that it holds even with another suite busy on the host.
    const scope = { only: (n: string): boolean => n.startsWith(`${P}g`) };
    const before0 = await snapshotHost(scope);
    await addBridge(`${P}gx`);
    await addNetns(`${P}gns`);
    await assert.rejects(assertHostUnchanged(before0, 300, scope));
    await cleanupPrefix(`${P}g`);
    await assertHostUnchanged(before0, 5_000, scope);
    await assert.rejects(cleanupPrefix('et'));
  });
});

void describe('docker helpers', () => {
  void test('a container with network none starts, its PID and netns are readable, it can be plumbed by hand', async () => {
    assert.equal(await docker.dockerAvailable(), true, 'no Docker daemon on /var/run/docker.sock (scripts/test.sh starts one)');
    await docker.ensureImage();
    await docker.ensureImage(); // idempotent
    const c = await docker.runContainer(`${P}d1`, docker.DOCKER_TEST_IMAGE, ['sleep', '3600'], {
      hostname: 'pwh-host',
      labels: { 'pipework.test': 'yes' },
    });
    assert.ok(c.pid > 0);
    assert.match(c.id, /^[0-9a-f]{64}$/);
    assert.ok(existsSync(`/proc/${c.pid}/ns/net`));
    assert.ok(c.sandboxKey !== '' && existsSync(c.sandboxKey), `SandboxKey ${c.sandboxKey}`);
    assert.deepEqual((await listLinks(c.pid)).map((l) => l.ifname), ['lo']);
    const info = await docker.inspectContainer(`${P}d1`);
    assert.equal(info?.Config.Hostname, 'pwh-host');
    assert.equal(info?.Config.Labels?.['pipework.test'], 'yes');
    assert.equal(info?.HostConfig.NetworkMode, 'none');
    assert.ok((await docker.listContainers()).includes(`${P}d1`));

    await addNetns(`${P}dn`);
    await addBridge(`${P}br1`);
    await attachToBridge(`${P}dn`, `${P}br1`, { hostIf: `${P}vdn`, addrs: ['10.232.0.1/24'] });
    await attachToBridge(c.pid, `${P}br1`, { hostIf: `${P}vd1`, guestIf: 'eth1', addrs: ['10.232.0.2/24'] });
    assert.equal(await ping(`${P}dn`, '10.232.0.2'), true);
    assert.equal(await ping(c.pid, '10.232.0.1'), true);
    // The container sees its interface too (busybox inside the image).
    const inside = await shOk(['nsenter', '--net=/proc/' + String(c.pid) + '/ns/net', 'ip', '-br', 'addr', 'show', 'eth1']);
    assert.match(inside, /10\.232\.0\.2\/24/);

    await docker.stopContainer(`${P}d1`);
    assert.equal((await docker.inspectContainer(`${P}d1`))?.State.Pid, 0);
    await docker.removeContainer(`${P}d1`);
    assert.equal(await docker.inspectContainer(`${P}d1`), undefined);
    await docker.removeContainer(`${P}d1`); // absent: no error
  });
});

void describe('podman helpers', () => {
  void test('a podman container starts with its PID readable, and the API service answers', async () => {
    assert.equal(await podman.podmanAvailable(), true, 'podman does not work');
    assert.ok(existsSync(podman.podmanConf()));
    await podman.ensureImage();
    const c = await podman.runContainer(`${P}p1`, podman.PODMAN_TEST_IMAGE, ['sleep', '3600'], { hostname: 'pwh-ph' });
    assert.ok(c.pid > 0);
    assert.ok(existsSync(`/proc/${c.pid}/ns/net`));
    assert.deepEqual((await listLinks(c.pid)).map((l) => l.ifname), ['lo']);
    assert.equal((await podman.inspectContainer(`${P}p1`))?.Config.Hostname, 'pwh-ph');

    const sock = join(process.env.PIPEWORK_TEST_TMP ?? tmpdir(), `${P}podman.sock`);
    const svc = await podman.startService(sock);
    try {
      const r = await docker.dockerApi('GET', `/containers/${P}p1/json`, { socketPath: sock });
      assert.equal(r.status, 200);
      const j = JSON.parse(r.body) as docker.DockerInspect;
      assert.equal(j.State.Pid, c.pid);
    } finally {
      await svc.stop();
    }
    assert.equal(existsSync(sock), false);
    assert.throws(() => process.kill(svc.pid, 0));

    await podman.removeContainer(`${P}p1`);
    assert.equal(await podman.inspectContainer(`${P}p1`), undefined);
    await podman.removeContainer(`${P}p1`); // absent: no error
  });
});

void describe('lxc helpers', () => {
  void test('a busybox LXC container starts with an empty network and a readable PID', async () => {
    assert.equal(await lxc.lxcAvailable(), true, 'LXC tools missing');
    const c = await lxc.runContainer(`${P}l1`);
    assert.ok(c.pid > 0);
    assert.equal(await lxc.getPid(`${P}l1`), c.pid);
    assert.deepEqual((await listLinks(c.pid)).map((l) => l.ifname), ['lo']);
    await lxc.stopContainer(`${P}l1`);
    assert.equal(await lxc.getPid(`${P}l1`), undefined);
    await lxc.destroyContainer(`${P}l1`);
    assert.equal((await lxc.listContainers()).includes(`${P}l1`), false);
  });
});
