// One journal per apply (issue 20 item 3), as root: a failure in the links stage undoes what the
// make stage (netns, bridge) and the container stage (a container started from an image) did, and
// so does an interrupt (SIGINT to the process group) while the links are plumbed — one message,
// nothing left. apply --dry-run and destroy --dry-run choose what goes as the real run does: a
// bridge the topology made with a port that is not its own is not listed for removal, and the
// real run keeps it.
//
// Names: topologies `tndj`/`tndk`, netns `tndj-…`/`tndk-…`, bridges `br-tndj…`/`br-tndk…`,
// containers `tndj-…`, other links `tndk…`; addresses in 10.171.0.0/16 inside our own netns only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dockerAvailable, ensureImage, inspectContainer, listContainers, removeContainersByPrefix } from './helpers/docker.js';
import { show, signalGroup, startPipework } from './helpers/hardening.js';
import { delLink, delNetns, getLink, ip, listNetns } from './helpers/netns.js';
import { sh, sleep } from './helpers/run.js';
import { ping, pw, pwOk, scratch, write } from './topology-lib.js';

const docker = await dockerAvailable();
const IMAGE = 'pipework-test-busybox:latest';
const STATE = '/run/pipework/topology';
const OWNED = '/var/lib/pipework/topology';
let dir = '';

async function ourNetns(prefix: string): Promise<string[]> {
  return (await listNetns()).filter((n) => n.startsWith(prefix));
}

/** What a topology run may have left: netns, bridges, containers, state and container records. */
async function leftovers(name: 'tndj' | 'tndk'): Promise<string[]> {
  const out = (await ourNetns(`${name}-`)).map((n) => `netns ${n}`);
  for (const b of [`br-${name}1`, `br-${name}2`]) if (existsSync(`/sys/class/net/${b}`)) out.push(`bridge ${b}`);
  if (docker) out.push(...(await listContainers()).filter((c) => c.startsWith(`${name}-`)).map((c) => `container ${c}`));
  if (existsSync(`${STATE}/${name}.json`)) out.push('state file');
  const owned = `${OWNED}/${name}.containers.json`;
  if (existsSync(owned) && readFileSync(owned, 'utf8').includes('"id"')) out.push(`container record ${readFileSync(owned, 'utf8').trim()}`);
  return out;
}

async function cleanup(): Promise<void> {
  for (const n of [...await ourNetns('tndj-'), ...await ourNetns('tndk-')]) await delNetns(n);
  for (const l of ['tndkf0', 'br-tndj1', 'br-tndk1', 'br-tndk2']) await delLink(l);
  if (docker) await removeContainersByPrefix('tndj-');
  for (const n of ['tndj', 'tndk']) {
    rmSync(`${STATE}/${n}.json`, { force: true });
    rmSync(`${OWNED}/${n}.containers.json`, { force: true });
  }
}

before(async () => {
  await cleanup();
  dir = scratch();
});

after(async () => {
  await pw(['destroy', '--name', 'tndj']);
  await pw(['destroy', '--name', 'tndk']);
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A topology with each stage: a netns and a bridge to make, a container to start, three links. */
function journalFile(last = '  - b lan 10.171.10.3/24'): string {
  return write(dir, 'tndj.yaml', `name: tndj
networks:
  lan: {bridge: br-tndj1}
guests:
  a: {netns: tndj-a}
  b: {netns: tndj-b}
  c1: {image: "${IMAGE}", command: [sleep, "3600"]}
links:
  - a lan 10.171.10.1/24
  - c1 lan 10.171.10.2/24
${last}
`);
}

void describe('one journal per apply', { skip: !docker && 'Docker is not running here' }, () => {
  before(async () => {
    await ensureImage(IMAGE);
  });

  void test('a failure in the links stage undoes the links, the container and the netns and bridge: nothing is left', async () => {
    const file = journalFile();
    // Plan 1 is the netns and networks; plans 2… the links: the second link's second step, the third link's first.
    for (const point of ['3:2', '4:1', '2:1']) {
      const r = await pw(['apply', file], { PIPEWORK_FAIL_STEP: point });
      assert.equal(r.code, 1, `${point}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /injected failure \(PIPEWORK_FAIL_STEP\)/u);
      // One message: what failed, and that every stage's work was undone.
      assert.match(r.stderr, /everything the run did was undone \(the netns and networks it made, the containers it started(, the links it plumbed)?\)/u, `${point}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.deepEqual(await leftovers('tndj'), [], `${point} left something`);
    }
    // And the same file applies whole, and traffic flows.
    await pwOk(['apply', file]);
    assert.ok(await ping('tndj-a', '10.171.10.2'), 'netns a reaches the container');
    assert.ok(await ping('tndj-a', '10.171.10.3'), 'netns a reaches netns b');
    await pwOk(['destroy', file]);
    assert.deepEqual(await leftovers('tndj'), []);
  });

  void test('an interrupt (SIGINT to the process group) while the links are plumbed undoes every stage', { timeout: 180_000 }, async () => {
    // b's link waits for a DHCP lease that never comes: the run is in its links stage meanwhile.
    const file = journalFile('  - b lan udhcpc');
    const s = startPipework(['apply', file], 120_000);
    // Bounded: b's eth1 exists once the links stage has made it (the lease wait comes after).
    let inLinks = false;
    for (let i = 0; i < 600 && !inLinks; i++) {
      inLinks = (await sh(['ip', '-n', 'tndj-b', 'link', 'show', 'dev', 'eth1'], { timeoutMs: 5_000 })).code === 0;
      if (!inLinks) await sleep(50);
    }
    assert.ok(inLinks, 'the apply reached its links stage');
    assert.equal((await inspectContainer('tndj-c1'))?.State.Running, true, 'its container was started');
    signalGroup(s.pid, 'SIGINT');
    const r = await s.result;
    assert.equal(r.code, 130, show(['apply', file], r));
    assert.match(r.stderr, /interrupted by SIGINT/u);
    assert.match(r.stderr, /everything the run did was undone \(the netns and networks it made, the containers it started, the links it plumbed\)/u, r.stderr);
    assert.deepEqual(await leftovers('tndj'), [], 'the interrupted apply left something');
  });
});

void describe('--dry-run and the real run choose what goes the same way', () => {
  const file = () => write(dir, 'tndk.yaml', `name: tndk
networks:
  lan: {bridge: br-tndk1}
guests:
  a: {netns: tndk-a}
  b: {netns: tndk-b}
links:
  - a lan 10.171.20.1/24
  - b lan 10.171.20.2/24
`);

  /** Someone else's port on the topology's bridge. */
  async function foreignPort(): Promise<void> {
    await ip(['link', 'add', 'tndkf0', 'type', 'veth', 'peer', 'name', 'tndkf1']);
    await ip(['link', 'set', 'tndkf0', 'master', 'br-tndk1']);
  }

  void test('destroy: a bridge it made with a port not its own is not listed for removal, and is kept', async () => {
    const f = file();
    await pwOk(['apply', f]);
    assert.ok(await ping('tndk-a', '10.171.20.2'));
    await foreignPort();
    const dry = await pwOk(['destroy', f, '--dry-run']);
    assert.doesNotMatch(dry.stdout, /would remove br-tndk1/u, dry.stdout);
    assert.match(dry.stdout, /kept br-tndk1 \(ports tndkf0 are not this topology's\)/u, dry.stdout);
    assert.match(dry.stdout, /would remove network namespace tndk-a/u);
    const json = JSON.parse((await pwOk(['destroy', f, '--dry-run', '--json'])).stdout) as { removed: { bridges: string[]; netns: string[] }; kept: string[] };
    assert.deepEqual(json.removed.bridges, []);
    assert.deepEqual(json.removed.netns.sort(), ['tndk-a', 'tndk-b']);
    assert.deepEqual(json.kept, ['br-tndk1 (ports tndkf0 are not this topology\'s)']);
    const real = await pwOk(['destroy', f]);
    assert.doesNotMatch(real.stdout, /removed br-tndk1/u);
    assert.match(real.stdout, /kept br-tndk1 \(ports tndkf0 are not this topology's\)/u, real.stdout);
    assert.deepEqual((await getLink('tndkf0'))?.master, 'br-tndk1', 'the other port is where it was');
    assert.deepEqual(await ourNetns('tndk-'), []);
    // Once nothing else is plugged in, a later destroy removes it (it still carries the mark).
    await delLink('tndkf0');
    const again = await pwOk(['destroy', '--name', 'tndk']);
    assert.match(again.stdout, /removed br-tndk1/u, again.stdout);
    assert.equal(await getLink('br-tndk1'), undefined);
  });

  void test('apply: a network the file no longer names goes only when nothing else is plugged in — as its --dry-run says', async () => {
    const f = file();
    await pwOk(['apply', f]);
    await foreignPort();
    // The file moves its links to another bridge: br-tndk1 is no longer named.
    const moved = write(dir, 'tndk.yaml', readFileSync(f, 'utf8').replace('lan: {bridge: br-tndk1}', 'lan: {bridge: br-tndk2}'));
    const dry = await pwOk(['apply', moved, '--dry-run']);
    assert.doesNotMatch(dry.stdout, /would remove br-tndk1/u, dry.stdout);
    const json = JSON.parse((await pwOk(['apply', moved, '--dry-run', '--json'])).stdout) as { removed: { bridges: string[] }; kept: string[] };
    assert.deepEqual(json.removed.bridges, []);
    assert.deepEqual(json.kept, ['br-tndk1 (ports tndkf0 are not this topology\'s)']);
    const real = await pwOk(['apply', moved]);
    assert.doesNotMatch(real.stdout, /removed br-tndk1/u, real.stdout);
    assert.equal((await getLink('tndkf0'))?.master, 'br-tndk1', 'kept, with the other port in it');
    assert.ok(await ping('tndk-a', '10.171.20.2'), 'the links work on the new bridge');
    assert.equal((await getLink('eth1', 'tndk-a'))?.master, undefined);
    // Without the other port, the next apply's --dry-run and apply agree that it goes.
    await delLink('tndkf0');
    const dry2 = await pwOk(['apply', moved, '--dry-run']);
    assert.match(dry2.stdout, /would remove br-tndk1/u, dry2.stdout);
    const real2 = await pwOk(['apply', moved]);
    assert.match(real2.stdout, /removed br-tndk1/u, real2.stdout);
    assert.equal(await getLink('br-tndk1'), undefined);
    await pwOk(['destroy', moved]);
    assert.deepEqual(await leftovers('tndk'), []);
  });
});
