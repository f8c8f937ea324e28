// Edit cycles on a real kernel (issue 22 items 5–8): an impairment changed in the file and
// changed back is applied both ways (tc's live state, the records, apply's words); inspect's exit
// code and its advice after a link or a bridge is deleted by hand; a link's mtu below its bridge's
// refused before anything changes; one cached model per topology through edits, none after
// destroy. Names under the topology tests' prefix (tg); traffic only inside the netns made here.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './helpers/run.js';
import { assertSameState, cleanupAll, hostState, ping, pw, pwOk, scratch, STATE_DIR, write } from './topology-lib.js';

const FILE = `name: tgedit
networks:
  n: {bridge: br-tgedit}
guests:
  a: {netns: tgedit-a}
  b: {netns: tgedit-b}
links:
  - guest: a
    network: n
    address: 10.93.0.1/24
    impair: {rate: 50mbit}
  - b n 10.93.0.2/24
`;

async function tcOf(ns: string, dev: string): Promise<string> {
  return (await sh(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'show', 'dev', dev])).stdout;
}

/** The record on the host end of a guest's interface (what a re-apply believes). */
async function hostRecord(guest: string, dev: string): Promise<string> {
  const out = (await sh(['ip', '-d', '-o', 'link', 'show'])).stdout;
  return out.split('\n').find((l) => l.includes(`r=host;g=netns:${guest};`) && l.includes(`;i=${dev};`)) ?? '';
}

function models(name: string): string[] {
  const dir = join(STATE_DIR, 'models');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => {
    try {
      return (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { name?: string }).name === name;
    } catch {
      return false;
    }
  });
}

async function mtuOf(ns: string | undefined, dev: string): Promise<number> {
  const out = (await sh(ns === undefined ? ['ip', '-o', 'link', 'show', 'dev', dev] : ['ip', '-n', ns, '-o', 'link', 'show', 'dev', dev])).stdout;
  return Number(/ mtu (\d+)/u.exec(out)?.[1]);
}

void describe('topology: edit cycles, inspect, mtu, the model cache', () => {
  let dir: string;
  let file: string;

  before(async () => {
    await cleanupAll();
    dir = scratch();
    file = write(dir, 'edit.yaml', FILE);
  });
  after(async () => {
    await pw(['destroy', '--name', 'tgedit']);
    await cleanupAll();
  });

  void test('an impairment edited and reverted: tc follows both ways, apply says what changed in words', async () => {
    await pwOk(['apply', file]);
    assert.match(await tcOf('tgedit-a', 'eth1'), /tbf .*rate 50Mbit/u);
    writeFileSync(file, FILE.replace('rate: 50mbit', 'rate: 20mbit'));
    const dry = await pwOk(['apply', file, '--dry-run']);
    assert.match(dry.stdout, /^# links\[0\] a:eth1 on n: would be edited \(rate 50mbit → 20mbit\)$/mu);
    const edit = await pwOk(['apply', file]);
    assert.equal(edit.stdout, 'links[0] a:eth1: edited (rate 50mbit → 20mbit)\ntopology tgedit: 1 edited, 1 unchanged\n');
    assert.doesNotMatch(edit.stdout, /repaired|r20000000/u);
    assert.match(await tcOf('tgedit-a', 'eth1'), /tbf .*rate 20Mbit/u);
    assert.match(await hostRecord('tgedit-a', 'eth1'), /;im=r20000000/u, 'the host end\'s record is the new one');
    // Back to what it was: applied (not "nothing to do"), tc shapes at 50mbit again.
    writeFileSync(file, FILE);
    const back = await pwOk(['apply', file, '--json']);
    const j = JSON.parse(back.stdout) as { changed: boolean; links: { link: string; outcome: string; edited?: string[]; interface?: { impair?: string } }[] };
    assert.equal(j.changed, true);
    assert.deepEqual(j.links[0], { ...j.links[0], link: 'a:eth1', outcome: 'edited', edited: ['rate 20mbit → 50mbit'] });
    assert.match(await tcOf('tgedit-a', 'eth1'), /tbf .*rate 50Mbit/u);
    assert.match(await hostRecord('tgedit-a', 'eth1'), /;im=r50000000/u);
    assert.match((await pwOk(['apply', file])).stdout, /^topology tgedit is up to date \(2 unchanged\): nothing to do$/mu);
    // Drift (the qdisc removed by hand) is a repair, in words.
    await sh(['ip', 'netns', 'exec', 'tgedit-a', 'tc', 'qdisc', 'del', 'dev', 'eth1', 'root']);
    assert.match((await pwOk(['apply', file, '--deep'])).stdout, /^links\[0\] a:eth1: repaired \(eth1 is not impaired as recorded \(rate 50mbit\)\)$/mu);
    assert.match(await tcOf('tgedit-a', 'eth1'), /tbf .*rate 50Mbit/u);
    assert.ok(await ping('tgedit-a', '10.93.0.2'));
  });

  void test('the model cache keeps one model of the topology through edits', () => {
    // Three texts applied above (50mbit, 20mbit, 50mbit again): one model, the file's now.
    assert.equal(models('tgedit').length, 1, models('tgedit').join(' '));
  });

  void test('inspect: 0 when the host matches, 2 when a link is missing, with apply as the advice', async () => {
    const ok = await pw(['inspect', file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.doesNotMatch(ok.stdout, /pipework apply/u);
    await sh(['ip', '-n', 'tgedit-b', 'link', 'del', 'eth1']);
    const missing = await pw(['inspect', file]);
    assert.equal(missing.code, 2, missing.stdout + missing.stderr);
    assert.match(missing.stdout, /^links\[1\] +b:eth1 +n +missing/mu);
    assert.match(missing.stdout, new RegExp(`^the host differs from the file: 'pipework apply ${file}' makes it match$`, 'mu'));
    const json = await pw(['inspect', file, '--json']);
    assert.equal(json.code, 2);
    assert.equal((JSON.parse(json.stdout) as { matches: boolean }).matches, false);
    await pwOk(['apply', file]);
    assert.equal((await pw(['inspect', file, '--json'])).code, 0);
  });

  void test('inspect after a bridge is deleted by hand: 2, and apply (not del) as the advice; apply puts it right', async () => {
    await sh(['ip', 'link', 'del', 'br-tgedit']);
    const r = await pw(['inspect', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /pipework del/u);
    assert.match(r.stdout, /^links\[0\] +a:eth1 +n +drift +bridge br-tgedit is missing \(apply makes it again\)/mu);
    assert.match(r.stdout, /^network n: br-tgedit is missing \(apply makes it again\)$/mu);
    assert.match(r.stdout, new RegExp(`^the host differs from the file: 'pipework apply ${file}' makes it match$`, 'mu'));
    const fixed = await pwOk(['apply', file]);
    assert.match(fixed.stdout, /made br-tgedit$/mu);
    assert.equal((await pw(['inspect', file])).code, 0);
    assert.ok(await ping('tgedit-a', '10.93.0.2'));
  });

  void test('inspect of a file it cannot read, or a bad one: 1', async () => {
    assert.equal((await pw(['inspect', join(dir, 'none.yaml')])).code, 1);
    assert.equal((await pw(['inspect', write(dir, 'bad.yaml', 'name: tgedit\nlinks: 3\n')])).code, 1);
  });

  void test('a link whose mtu is below its bridge\'s: refused with its line, the bridge\'s MTU and the host unchanged', async () => {
    const before = await hostState();
    const text = `${FILE}  - {guest: b, interface: eth2, network: n, address: 10.93.0.3/24, mtu: 1400}\n`;
    writeFileSync(file, text);
    for (const args of [['apply', file, '--dry-run'], ['apply', file]]) {
      const r = await pw(args);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(r.stderr, `${file}:13:5: links[2].mtu: b:eth2 has mtu 1400, below the MTU of bridge br-tgedit (1500): plugged in, it would lower the whole bridge to 1400 (unless its MTU was set by hand) while a:eth1, b:eth1 keep 1500; give every link on br-tgedit mtu 1400 (mtu: 1400 on network n), or remove this link's mtu\n`);
    }
    assert.equal(await mtuOf(undefined, 'br-tgedit'), 1500);
    await assertSameState(before, 'a refused apply changed something');
    // The network's mtu (every link on the bridge, which is the topology's own): consistent, applied.
    writeFileSync(file, FILE.replace('n: {bridge: br-tgedit}', 'n: {bridge: br-tgedit, mtu: 1400}'));
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /links\[0\] a:eth1: replaced\nlinks\[1\] b:eth1: replaced/u);
    assert.equal(await mtuOf('tgedit-a', 'eth1'), 1400);
    assert.equal(await mtuOf('tgedit-b', 'eth1'), 1400);
    assert.equal(await mtuOf(undefined, 'br-tgedit'), 1400);
    assert.ok(await ping('tgedit-a', '10.93.0.2'));
  });

  void test('destroy takes the topology\'s model with it', async () => {
    await pwOk(['destroy', file]);
    assert.deepEqual(models('tgedit'), []);
  });
});

void describe('topology: impairments edited and reverted on Open vSwitch, two links of one guest at once', () => {
  let dir: string;
  const OVS = `name: tgedov
networks:
  o: {ovs: ovs-tgedov, vlan: 7}
guests:
  a: {netns: tgedov-a}
  b: {netns: tgedov-b}
links:
  - {guest: a, network: o, address: 10.94.0.1/24, impair: {rate: 50mbit}}
  - {guest: a, interface: eth2, network: o, address: 10.94.1.1/24, impair: {rate: 50mbit}}
  - b o 10.94.0.2/24
`;
  before(async () => {
    // scripts/test.sh starts Open vSwitch: a suite that cannot run fails, never passes silently.
    assert.equal((await sh(['ovs-appctl', '--timeout=2', '-t', 'ovs-vswitchd', 'version'])).code, 0, 'ovs-vswitchd is not running');
    await cleanupAll();
    dir = scratch();
  });
  after(async () => {
    await pw(['destroy', '--name', 'tgedov']);
    await cleanupAll();
  });

  void test('both ways applied, tc and the host ends\' records following', async () => {
    const file = write(dir, 'ovs.yaml', OVS);
    await pwOk(['apply', file]);
    writeFileSync(file, OVS.replaceAll('rate: 50mbit', 'rate: 20mbit'));
    assert.equal((await pwOk(['apply', file])).stdout, 'links[0] a:eth1: edited (rate 50mbit → 20mbit)\nlinks[1] a:eth2: edited (rate 50mbit → 20mbit)\ntopology tgedov: 2 edited, 1 unchanged\n');
    for (const dev of ['eth1', 'eth2']) {
      assert.match(await tcOf('tgedov-a', dev), /tbf .*rate 20Mbit/u);
      assert.match(await hostRecord('tgedov-a', dev), /;im=r20000000/u);
    }
    writeFileSync(file, OVS);
    assert.equal((await pwOk(['apply', file])).stdout, 'links[0] a:eth1: edited (rate 20mbit → 50mbit)\nlinks[1] a:eth2: edited (rate 20mbit → 50mbit)\ntopology tgedov: 2 edited, 1 unchanged\n');
    for (const dev of ['eth1', 'eth2']) assert.match(await tcOf('tgedov-a', dev), /tbf .*rate 50Mbit/u);
    assert.match((await pwOk(['apply', file])).stdout, /is up to date \(3 unchanged\): nothing to do/u);
    assert.equal((await pw(['inspect', file])).code, 0);
    assert.ok(await ping('tgedov-a', '10.94.0.2'));
  });
});
