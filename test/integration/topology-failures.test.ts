// Atomic apply, as root: a failure injected at every step of every plan of an apply (plan 1:
// the netns and networks the topology makes; plans 2…: its links) leaves nothing new; so does a
// failure on a re-apply that changes links, an interrupt (SIGINT) mid-apply, and a failure after
// containers were started from an image. Docker image guests are made, labelled and removed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dockerApi, dockerAvailable, ensureImage, inspectContainer, removeContainer, runContainer } from './helpers/docker.js';
import { ipJson, waitDad } from './helpers/netns.js';
import { pipeworkBin, sh, sleep, waitFor } from './helpers/run.js';
import { assertSameState, cleanupAll, hostState, ping, pw, pwOk, scratch, write } from './topology-lib.js';

async function ovsRunning(): Promise<boolean> {
  return (await sh(['ovs-appctl', '--timeout=2', '-t', 'ovs-vswitchd', 'version'])).code === 0;
}

const SMALL = `name: tgfail
networks:
  lan: {bridge: br-tgfail}
  sw:  {ovs: ovs-tgfail, vlan: 7}
guests:
  a: {netns: tgfail-a}
  b: {netns: tgfail-b}
links:
  - a lan 10.50.0.1/24
  - b lan 10.50.0.2/24@10.50.0.1
  - {guest: a, interface: eth2, network: sw, address: [10.50.1.1/24, "fd00:50::1/64"], impair: {rate: 50mbit}}
`;

void describe('topology: atomic apply', () => {
  let dir: string;
  before(async () => {
    assert.ok(await ovsRunning(), 'ovs-vswitchd is not running: start Open vSwitch (scripts/test.sh does)');
    await cleanupAll();
    dir = scratch();
  });
  after(async () => {
    await pw(['destroy', '--name', 'tgfail']);
    await cleanupAll();
  });

  void test('a failure injected at every step of every plan of a first apply leaves nothing new', async () => {
    const file = write(dir, 'small.yaml', SMALL);
    const pristine = await hostState();
    let injected = 0;
    for (let plan = 1; ; plan++) {
      let step = 1;
      for (; step < 100; step++) {
        const r = await pw(['apply', file], { PIPEWORK_FAIL_STEP: `${plan}:${step}` });
        if (r.code === 0) break;
        injected++;
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /injected failure \(PIPEWORK_FAIL_STEP\)/u, `plan ${plan} step ${step}: ${r.stderr}`);
        await assertSameState(pristine, `plan ${plan} step ${step} left something behind: ${r.stderr}`);
      }
      // Past its last step: the apply succeeded. Undo it, and go on with the next plan.
      await pwOk(['destroy', file]);
      await assertSameState(pristine, 'destroy after a successful apply left something');
      if (step === 1) break; // no such plan: every plan was covered
    }
    // Plan 1 (2 netns + bridge + OVS bridge) and three link plans, each several steps.
    assert.ok(injected >= 20, `only ${injected} failure points were injected`);
  });

  void test('a failure on a re-apply that changes links undoes the change; the links it did not touch stay', async () => {
    const file = write(dir, 'small.yaml', SMALL);
    await pwOk(['apply', file]);
    writeFileSync(file, readFileSync(file, 'utf8').replace('b lan 10.50.0.2/24@10.50.0.1', 'b lan 10.50.0.3/24@10.50.0.1').replace('vlan: 7', 'vlan: 8'));
    // The IPv6 address's local route comes once duplicate address detection is done.
    await waitDad('eth2', 'tgfail-a');
    const before = await hostState();
    // Plans of this run: 1 (nothing to make), then the links that changed: b:eth1, a:eth2.
    for (const point of ['2:1', '2:3', '3:2', '3:5']) {
      const r = await pw(['apply', file], { PIPEWORK_FAIL_STEP: point });
      assert.equal(r.code, 1, `${point}: ${r.stdout}`);
      await assertSameState(before, `failure at ${point} left something changed`);
    }
    assert.ok(await ping('tgfail-b', '10.50.0.1'));
    await pwOk(['apply', file]);
    await pwOk(['destroy', file]);
  });

  void test('an interrupt (SIGINT) during an apply undoes what it did', async () => {
    // A DHCP link waits for a lease that never comes: the apply is interrupted meanwhile.
    const file = write(dir, 'int.yaml', `name: tgint
networks:
  lan: {bridge: br-tgint}
guests:
  a: {netns: tgint-a}
  b: {netns: tgint-b}
links:
  - a lan 10.51.0.1/24
  - b lan udhcpc
`);
    const pristine = await hostState();
    const child = spawn(process.execPath, [pipeworkBin, 'apply', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    // Wait (bounded) until the netns exists, i.e. the apply is under way, then interrupt it.
    for (let i = 0; i < 100 && (await sh(['ip', 'netns', 'list'])).stdout.includes('tgint-b') === false; i++) await sleep(50);
    await sleep(500);
    child.kill('SIGINT');
    const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
    assert.equal(code, 130, stderr);
    assert.match(stderr, /SIGTERM|interrupted/u);
    assert.match(stderr, /everything the run did was undone/u);
    await assertSameState(pristine, 'an interrupted apply left something behind');
  });
});

void describe('topology: containers started from an image', async () => {
  const docker = await dockerAvailable();
  const IMAGE = 'tg-busybox:latest';
  let dir: string;
  before(async () => {
    assert.ok(docker, 'Docker is not reachable on /var/run/docker.sock (scripts/test.sh starts dockerd)');
    await cleanupAll();
    await ensureImage(IMAGE);
    dir = scratch();
  });
  after(async () => {
    await pw(['destroy', '--name', 'tgimg']);
    await cleanupAll();
    await dockerApi('DELETE', `/images/${encodeURIComponent(IMAGE)}?force=true`).catch(() => undefined);
  });

  const FILE = `name: tgimg
networks:
  lan: {bridge: br-tgimg}
guests:
  c1: {image: ${IMAGE}, command: [sleep, "3600"]}
  c2: {image: ${IMAGE}, command: [sleep, "3600"]}
  n: {netns: tgimg-n}
links:
  - c1 lan 10.52.0.1/24
  - c2:eth2 lan 10.52.0.2/24
  - n lan 10.52.0.3/24
`;

  void test('apply starts the containers with no network of their own, labelled; traffic flows; re-apply is unchanged', async () => {
    const file = write(dir, 'img.yaml', FILE);
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /made tgimg-n, br-tgimg, tgimg-c1, tgimg-c2$/mu);
    const c1 = await inspectContainer('tgimg-c1');
    assert.equal(c1?.HostConfig.NetworkMode, 'none');
    assert.equal(c1?.Config.Labels?.['pipework-topology'], 'tgimg');
    assert.ok(await ping('tgimg-n', '10.52.0.1'));
    assert.ok(await ping('tgimg-n', '10.52.0.2'));
    assert.match((await pwOk(['apply', file])).stdout, /up to date \(3 unchanged\)/u);
  });

  void test('a stopped container of the topology is started again, and re-plumbed', async () => {
    const file = write(dir, 'img.yaml', FILE);
    await dockerApi('POST', '/containers/tgimg-c1/stop?t=0');
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /links\[0\] c1:eth1: created/u);
    assert.ok(await ping('tgimg-n', '10.52.0.1'));
    // The stopped container's namespace is freed by the kernel in the background, and its veth
    // (the host end) with it: wait for that, so later snapshots do not see it vanish.
    await waitFor('the stopped container\'s old host end to go with its namespace', async () =>
      ((await ipJson(['link', 'show'])) as { ifalias?: string }[]).filter((l) => (l.ifalias ?? '').includes(';g=docker:tgimg-c1;')).length === 1 || undefined);
  });

  void test('a container of that name the topology did not make is refused, with its line', async () => {
    const file = write(dir, 'other.yaml', FILE.replace('name: tgimg', 'name: tgother').replace(/tgimg-n/gu, 'tgother-n').replace('br-tgimg', 'br-tgother'));
    // tgother-c1 is made by hand, unlabelled.
    await dockerApi('POST', '/containers/create?name=tgother-c1', { json: { Image: IMAGE, Cmd: ['sleep', '3600'], HostConfig: { NetworkMode: 'none' } } });
    try {
      const before = await hostState();
      const r = await pw(['apply', file]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /other\.yaml:5:15: guests\.c1\.image: a docker container named tgother-c1 exists and was not made by topology tgother/u);
      await assertSameState(before, 'a refused apply changed something');
    } finally {
      await removeContainer('tgother-c1');
    }
  });

  void test('a failure after the containers were created removes them again', async () => {
    const file = write(dir, 'img2.yaml', FILE.replace('name: tgimg', 'name: tgimg2').replace(/tgimg-n/gu, 'tgimg2-n').replace('br-tgimg', 'br-tgimg2'));
    const before = await hostState();
    const r = await pw(['apply', file], { PIPEWORK_FAIL_STEP: '3:2' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /everything the run did was undone \(.*the containers it started/u);
    await assertSameState(before, 'the failed apply left containers or links behind');
    assert.equal(await inspectContainer('tgimg2-c1'), undefined);
  });

  void test('a container: guest (a container the test started) is plumbed, and destroy never removes it', async () => {
    await runContainer('tg-ext1', IMAGE, ['sleep', '3600']);
    try {
      const file = write(dir, 'ext.yaml', 'name: tgcref\nnetworks:\n  lan: {bridge: br-tgcref}\nguests:\n  x: {container: "docker:tg-ext1"}\n  n: {netns: tgcref-n}\nlinks:\n  - x lan 10.53.0.1/24\n  - n lan 10.53.0.2/24\n');
      await pwOk(['apply', file]);
      assert.ok(await ping('tgcref-n', '10.53.0.1'));
      await pwOk(['destroy', file]);
      const c = await inspectContainer('tg-ext1');
      assert.equal(c?.State.Running, true, 'the container is still there, running');
      assert.equal((await sh(['nsenter', `--net=/proc/${c.State.Pid}/ns/net`, 'ip', 'link', 'show', 'eth1'])).code, 1, 'its eth1 is gone');
    } finally {
      await removeContainer('tg-ext1');
    }
  });

  void test('destroy removes the containers it made and leaves the host as before', async () => {
    const file = write(dir, 'img.yaml', FILE);
    await pwOk(['destroy', file]);
    assert.equal(await inspectContainer('tgimg-c1'), undefined);
    assert.equal(await inspectContainer('tgimg-c2'), undefined);
    assert.match((await pwOk(['destroy', file])).stdout, /nothing to destroy/u);
  });
});
