// Issue 19 items 5, 6 and 7: topology runs that are interrupted, or that share a bridge.
// - Two topologies sharing a new bridge, applied at the same moment: both succeed, their guests
//   reach each other, and the bridge goes with the last of them (in either order of destroy).
// - Signals to a 100-guest apply's process group, once or twice: exit 0 with everything, or 130;
//   whatever a given-up run leaves, `destroy` removes and a new `apply` makes whole.
// - An interrupt while apply starts its containers exits 130 and leaves none of them.
// Run as root.
//
// Names: netns `tsi…`, bridges `br-tsi…`, containers `tsi-…`, topologies `tsi-…`; addresses
// 10.166.0.0/16 inside our own netns only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { delLink, delNetns, listNetns } from './helpers/netns.js';
import { assertResolvConfUnchanged } from './helpers/bridge-common.js';
import { dockerAvailable, ensureImage, listContainers, removeContainersByPrefix, DOCKER_TEST_IMAGE } from './helpers/docker.js';
import { show, signalGroup, sleepUntil, startPipework } from './helpers/hardening.js';
import { ping, pw, write } from './topology-lib.js';

const docker = await dockerAvailable();
let dir = '';

async function ourNetns(): Promise<string[]> {
  return (await listNetns()).filter((n) => n.startsWith('tsi'));
}

async function cleanup(): Promise<void> {
  for (const n of await ourNetns()) await delNetns(n);
  for (const b of ['br-tsi1', 'br-tsi2', 'br-tsi3']) await delLink(b);
  if (docker) await removeContainersByPrefix('tsi-');
  for (const f of ['tsi-a', 'tsi-b', 'tsi-big', 'tsi-ct']) rmSync(`/run/pipework/topology/${f}.json`, { force: true });
  for (const f of ['tsi-ct']) rmSync(`/var/lib/pipework/topology/${f}.containers.json`, { force: true });
}

before(async () => {
  await cleanup();
  dir = mkdtempSync(join(process.env['PIPEWORK_TEST_TMP'] ?? tmpdir(), 'tsi-'));
});

after(async () => {
  await cleanup();
  rmSync(dir, { recursive: true, force: true });
  assertResolvConfUnchanged();
});

function shared(name: 'tsi-a' | 'tsi-b', base: number): string {
  const guests = [1, 2, 3].map((i) => `  g${i}: {netns: ${name}-g${i}}`).join('\n');
  const links = [1, 2, 3].map((i) => `  - g${i} lan 10.166.0.${base + i}/24`).join('\n');
  return write(dir, `${name}.yaml`, `name: ${name}\nnetworks:\n  lan: {bridge: br-tsi1}\nguests:\n${guests}\nlinks:\n${links}\n`);
}

function aliasOf(link: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${link}/ifalias`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

void describe('two topologies sharing a bridge they make (issue 19 item 7)', () => {
  test('applied at the same moment: both succeed and reach each other; the bridge goes with the last of them', async () => {
    const a = shared('tsi-a', 10);
    const b = shared('tsi-b', 20);
    const [ra, rb] = await Promise.all([pw(['apply', a]), pw(['apply', b])]);
    assert.equal(ra.code, 0, show(['apply', a], ra));
    assert.equal(rb.code, 0, show(['apply', b], rb));
    assert.equal(aliasOf('br-tsi1'), 'pipework-topology:tsi-a,tsi-b', 'both topologies own the bridge');
    assert.ok(await ping('tsi-a-g1', '10.166.0.21'), 'a guest of one reaches a guest of the other');
    const da = await pw(['destroy', a]);
    assert.equal(da.code, 0, show(['destroy', a], da));
    assert.match(da.stdout, /kept br-tsi1 \(topology tsi-b uses it too\)/u);
    assert.equal(aliasOf('br-tsi1'), 'pipework-topology:tsi-b');
    assert.ok(await ping('tsi-b-g1', '10.166.0.22'), 'the other topology still works');
    const db = await pw(['destroy', b]);
    assert.equal(db.code, 0, show(['destroy', b], db));
    assert.ok(!existsSync('/sys/class/net/br-tsi1'), 'the last one out removed the bridge');
    assert.deepEqual(await ourNetns(), []);
  });

  test('applied one after the other, destroyed in the other order', async () => {
    const a = shared('tsi-a', 10);
    const b = shared('tsi-b', 20);
    assert.equal((await pw(['apply', a])).code, 0);
    assert.equal((await pw(['apply', b])).code, 0);
    assert.equal(aliasOf('br-tsi1'), 'pipework-topology:tsi-a,tsi-b');
    assert.equal((await pw(['destroy', b])).code, 0);
    assert.ok(existsSync('/sys/class/net/br-tsi1'));
    assert.equal(aliasOf('br-tsi1'), 'pipework-topology:tsi-a');
    assert.equal((await pw(['destroy', a])).code, 0);
    assert.ok(!existsSync('/sys/class/net/br-tsi1'));
  });
});

void describe('signals during a 100-guest apply (issue 19 item 5)', () => {
  const N = 100;
  let file = '';
  before(() => {
    const guests = Array.from({ length: N }, (_, i) => `  g${i}: {netns: tsi-b${String(i).padStart(3, '0')}}`).join('\n');
    const links = Array.from({ length: N }, (_, i) => `  - g${i} lan 10.166.${1 + Math.floor(i / 200)}.${(i % 200) + 1}/16`).join('\n');
    file = write(dir, 'tsi-big.yaml', `name: tsi-big\nnetworks:\n  lan: {bridge: br-tsi2}\nguests:\n${guests}\nlinks:\n${links}\n`);
  });

  async function leftovers(): Promise<string[]> {
    const out = (await ourNetns()).map((n) => `netns ${n}`);
    if (existsSync('/sys/class/net/br-tsi2')) out.push(`bridge br-tsi2 (${readdirSync('/sys/class/net/br-tsi2/brif').length} ports)`);
    if (existsSync('/run/pipework/topology/tsi-big.json')) out.push('state file');
    return out;
  }

  test('once or twice, at many moments: everything, or nothing, or what destroy removes and apply makes whole', { timeout: 900_000 }, async (t) => {
    const base = startPipework(['apply', file], 120_000);
    const full = await base.result;
    assert.equal(full.code, 0, show(['apply', file], full));
    const T = full.ms;
    assert.equal((await pw(['destroy', file])).code, 0);
    assert.deepEqual(await leftovers(), []);
    const problems: string[] = [];
    const moments: string[] = [];
    for (const twice of [false, true]) {
      for (let k = 1; k <= 8; k++) {
        const d = Math.round((T * k) / 9);
        const s = startPipework(['apply', file], 120_000);
        await sleepUntil(s.t0, d);
        signalGroup(s.pid, 'SIGINT');
        if (twice) {
          await sleepUntil(s.t0, d + 40);
          signalGroup(s.pid, 'SIGINT');
        }
        const r = await s.result;
        const left = await leftovers();
        moments.push(`${twice ? '2×' : ''}${d}ms→${r.signal ?? r.code}${left.length > 0 ? `(${left.length} left)` : ''}`);
        // (Killed before Node ran pipework's first line: nothing was changed yet.)
        if (r.signal !== null && left.length > 0) problems.push(`${d} ms: killed by ${r.signal} with ${left.length} things made`);
        if (!twice && r.code === 130 && left.length > 0) problems.push(`${d} ms, once: exit 130 but left ${left.slice(0, 3).join(', ')}`);
        if (!twice && r.code !== 0 && r.code !== 130) problems.push(`${d} ms, once: exit ${r.code}: ${r.stderr}`);
        // Whatever is left (a complete apply, or a run given up half-way): destroy removes it all.
        const dd = await pw(['destroy', file]);
        if (dd.code !== 0) problems.push(`${d} ms${twice ? ', twice' : ''}: destroy exited ${dd.code}: ${dd.stderr}`);
        const after = await leftovers();
        if (after.length > 0) {
          problems.push(`${d} ms${twice ? ', twice' : ''}: destroy left ${after.slice(0, 3).join(', ')}`);
          for (const n of await ourNetns()) await delNetns(n);
          await delLink('br-tsi2');
          rmSync('/run/pipework/topology/tsi-big.json', { force: true });
        }
        if (twice && k === 4 && left.length > 0) {
          // And from what a run given up leaves, a new apply makes the whole topology.
          const again = startPipework(['apply', file], 120_000);
          await sleepUntil(again.t0, d);
          signalGroup(again.pid, 'SIGINT');
          await sleepUntil(again.t0, d + 40);
          signalGroup(again.pid, 'SIGINT');
          await again.result;
          const whole = await pw(['apply', file]);
          if (whole.code !== 0) problems.push(`apply after a given-up run: exit ${whole.code}: ${whole.stderr}`);
          else if (!(await ping('tsi-b000', '10.166.1.100'))) problems.push('apply after a given-up run: the guests do not reach each other');
          await pw(['destroy', file]);
        }
      }
    }
    t.diagnostic(`uninterrupted ${T.toFixed(0)} ms; ${moments.join(' ')}`);
    assert.deepEqual(problems, []);
  });
});

void describe('an interrupt while apply starts its containers (issue 19 item 6)', { skip: !docker && 'Docker is not running here' }, () => {
  test('exit 130, and none of the containers it made is left', { timeout: 300_000 }, async () => {
    await ensureImage();
    // (Containers are named <topology>-<guest>: tsi-ct-c1 …)
    const guests = [1, 2, 3, 4].map((i) => `  c${i}: {image: "${DOCKER_TEST_IMAGE}", command: [sleep, "3600"]}`).join('\n');
    const links = [1, 2, 3, 4].map((i) => `  - c${i} lan 10.166.3.${i}/24`).join('\n');
    const file = write(dir, 'tsi-ct.yaml', `name: tsi-ct\nnetworks:\n  lan: {bridge: br-tsi3}\nguests:\n${guests}\nlinks:\n${links}\n`);
    let caught = 0;
    const seen: string[] = [];
    for (let d = 150; d <= 1500 && caught < 2; d += 150) {
      const s = startPipework(['apply', file], 120_000);
      await sleepUntil(s.t0, d);
      signalGroup(s.pid, 'SIGINT');
      const r = await s.result;
      seen.push(`${d}→${r.code}`);
      if (/while starting containers/u.test(r.stderr)) {
        caught++;
        assert.equal(r.code, 130, show(['apply', file], r));
        assert.deepEqual((await listContainers()).filter((n) => n.startsWith('tsi-ct')), [], 'the containers it made are gone');
      }
      await pw(['destroy', file]);
      await removeContainersByPrefix('tsi-ct');
    }
    assert.ok(caught > 0, `no signal landed while containers were being started (${seen.join(' ')})`);
  });
});
