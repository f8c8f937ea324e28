// Topology files on named netns and Linux bridges, as root: the three-tier example applied with
// traffic checked, applied again (state byte-identical), drift repaired, links and guests
// removed from the file removed, destroy leaving the host exactly as before.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { ip, addBridge, delLink } from './helpers/netns.js';
import { sh } from './helpers/run.js';
import { addresses, assertSameState, cleanupAll, example, hasLink, hostState, ifindex, ping, pw, pwOk, scratch, write } from './topology-lib.js';

const REWRITE: [string, string][] = [['tier-', 'tgtier-'], ['name: three-tier', 'name: tg3t']];

void describe('topology: the three-tier example on named netns', () => {
  let dir: string;
  let file: string;
  let pristine: unknown;

  before(async () => {
    await cleanupAll();
    dir = scratch();
    file = example('three-tier.yaml', dir, REWRITE);
    pristine = await hostState();
  });
  after(async () => {
    await pw(['destroy', '--name', 'tg3t']);
    await cleanupAll();
  });

  void test('apply makes the netns, bridges and links; traffic flows over each network, IPv4 and IPv6', async () => {
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /topology tg3t: 6 created; made tgtier-client, tgtier-web, tgtier-app, tgtier-db, br-tgtier-front, br-tgtier-mid, br-tgtier-data/u);
    assert.ok(await ping('tgtier-client', '10.41.1.2'), 'client → web over front');
    assert.ok(await ping('tgtier-web', '10.41.2.1'), 'web → app over mid (app took 10.41.2.1 by auto)');
    assert.ok(await ping('tgtier-app', '10.41.3.3'), 'app → db over data');
    assert.ok((await sh(['ip', 'netns', 'exec', 'tgtier-app', 'ping', '-6', '-n', '-c', '1', '-W', '2', 'fd00:41:3::3'], { timeoutMs: 10_000 })).code === 0
      || await new Promise<boolean>((res) => setTimeout(() => res(ping('tgtier-app', 'fd00:41:3::3')), 2500)), 'app → db over IPv6');
    // No traffic between networks that nothing routes: client cannot reach app (web does not forward).
    const route = (await sh(['ip', '-n', 'tgtier-client', 'route', 'show', 'default'])).stdout;
    assert.match(route, /default via 10\.41\.1\.2 dev eth1/u);
    // The data network's MTU, the impairment (tbf, rate 100mbit) inside db, the U: MAC.
    assert.match((await sh(['ip', '-n', 'tgtier-db', 'link', 'show', 'eth1'])).stdout, /mtu 1400 .*\n.*link\/ether 02:/u);
    assert.match((await sh(['ip', 'netns', 'exec', 'tgtier-db', 'tc', 'qdisc', 'show', 'dev', 'eth1'])).stdout, /tbf .*rate 100Mbit/u);
    // Every link recorded as this topology's.
    const ls = JSON.parse((await pwOk(['ls', '--owner', 'topology:tg3t', '--json'])).stdout) as unknown;
    assert.equal(JSON.stringify(ls).match(/"owner":"topology:tg3t"/gu)?.length, 6);
  });

  void test('a second apply changes nothing and says so: state byte-identical', async () => {
    const before = await hostState();
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /^topology tg3t is up to date \(6 unchanged\): nothing to do$/mu);
    await assertSameState(before, 'a second apply changed something');
    const deep = await pwOk(['apply', file, '--deep', '--json']);
    const j = JSON.parse(deep.stdout) as { changed: boolean; links: { outcome: string }[] };
    assert.equal(j.changed, false);
    assert.deepEqual(j.links.map((l) => l.outcome), Array(6).fill('unchanged'));
    await assertSameState(before, 'apply --deep changed something');
  });

  void test('a link deleted by hand is made again; the others keep their interfaces (same ifindex)', async () => {
    const kept = await ifindex('tgtier-web', 'eth1');
    const keptDb = await ifindex('tgtier-db', 'eth1');
    await ip(['link', 'del', 'eth2'], 'tgtier-web');
    const missing = await pw(['inspect', file, '--json']);
    assert.equal(missing.code, 2, 'inspect exits 2 when the host differs from the file');
    const inspect = JSON.parse(missing.stdout) as { links: { link: string; status: string }[] };
    assert.deepEqual(inspect.links.find((l) => l.link === 'web:eth2')?.status, 'missing');
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /links\[2\] web:eth2: created/u);
    assert.equal(await ifindex('tgtier-web', 'eth1'), kept);
    assert.equal(await ifindex('tgtier-db', 'eth1'), keptDb);
    assert.ok(await ping('tgtier-web', '10.41.2.1'));
  });

  void test('drift inside a guest: inspect shows it, apply --deep repairs it', async () => {
    await ip(['addr', 'del', '10.41.3.3/24', 'dev', 'eth1'], 'tgtier-db');
    const inspect = JSON.parse((await pw(['inspect', file, '--json'])).stdout) as { links: { link: string; status: string; differs?: string[] }[] };
    const db = inspect.links.find((l) => l.link === 'db:eth1');
    assert.equal(db?.status, 'drift');
    assert.match(db?.differs?.join() ?? '', /address 10\.41\.3\.3\/24 is missing/u);
    const kept = await ifindex('tgtier-db', 'eth1');
    assert.match((await pwOk(['apply', file, '--deep'])).stdout, /links\[5\] db:eth1: repaired \(address 10\.41\.3\.3\/24 is missing on eth1\)/u);
    assert.equal(await ifindex('tgtier-db', 'eth1'), kept);
    assert.ok((await addresses('tgtier-db', 'eth1')).includes('10.41.3.3/24'));
  });

  void test('an address, MAC or MTU changed in the file: only that link is re-made', async () => {
    const web1 = await ifindex('tgtier-web', 'eth1');
    const client = await ifindex('tgtier-client', 'eth1');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('client front 10.41.1.10/24@10.41.1.2', 'client front 10.41.1.11/24@10.41.1.2 02:00:00:41:01:0b'));
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /^links\[0\] client:eth1: replaced$/mu);
    assert.doesNotMatch(r.stdout, /links\[[1-5]\]/u);
    assert.notEqual(await ifindex('tgtier-client', 'eth1'), client);
    assert.equal(await ifindex('tgtier-web', 'eth1'), web1);
    assert.deepEqual(await addresses('tgtier-client', 'eth1'), ['10.41.1.11/24']);
    assert.ok(await ping('tgtier-client', '10.41.1.2'));
    // The default route came with it.
    assert.match((await sh(['ip', '-n', 'tgtier-client', 'route', 'show', 'default'])).stdout, /via 10\.41\.1\.2 dev eth1/u);
    writeFileSync(file, readFileSync(file, 'utf8').replace('mtu: 1400', 'mtu: 1300'));
    const app2 = await ifindex('tgtier-app', 'eth1');
    const m = await pwOk(['apply', file]);
    assert.match(m.stdout, /links\[4\] app:eth2: replaced\nlinks\[5\] db:eth1: replaced/u);
    assert.equal(await ifindex('tgtier-app', 'eth1'), app2);
    assert.match((await sh(['ip', '-n', 'tgtier-db', 'link', 'show', 'eth1'])).stdout, /mtu 1300/u);
  });

  void test('impairments change live (the same interface), and go when the file drops them', async () => {
    const db = await ifindex('tgtier-db', 'eth1');
    writeFileSync(file, readFileSync(file, 'utf8').replace('impair: {rate: 100mbit}', 'impair: {rate: 20mbit}'));
    assert.match((await pwOk(['apply', file])).stdout, /links\[5\] db:eth1: edited \(rate 100mbit → 20mbit\)/u);
    assert.equal(await ifindex('tgtier-db', 'eth1'), db);
    assert.match((await sh(['ip', 'netns', 'exec', 'tgtier-db', 'tc', 'qdisc', 'show', 'dev', 'eth1'])).stdout, /tbf .*rate 20Mbit/u);
    writeFileSync(file, readFileSync(file, 'utf8').replace('    impair: {rate: 20mbit}                     # tbf inside the guest; delay/jitter/loss use netem\n', ''));
    assert.match((await pwOk(['apply', file])).stdout, /links\[5\] db:eth1: edited \(rate 20mbit removed\)/u);
    assert.doesNotMatch((await sh(['ip', 'netns', 'exec', 'tgtier-db', 'tc', 'qdisc', 'show', 'dev', 'eth1'])).stdout, /tbf/u);
  });

  void test('address auto is stable: a link keeps what it got when others come and go', async () => {
    assert.deepEqual(await addresses('tgtier-app', 'eth1'), ['10.41.2.1/24']);
    // A new auto link in front of it (in file order) takes the next free one, not app's.
    const text = readFileSync(file, 'utf8').replace('  - web:eth2 mid 10.41.2.2/24\n', '  - web:eth2 mid 10.41.2.2/24\n  - db:eth2 mid auto\n');
    writeFileSync(file, text);
    await pwOk(['apply', file]);
    assert.deepEqual(await addresses('tgtier-app', 'eth1'), ['10.41.2.1/24']);
    assert.deepEqual(await addresses('tgtier-db', 'eth2'), ['10.41.2.3/24']);
    await pwOk(['apply', file]);
    assert.deepEqual(await addresses('tgtier-db', 'eth2'), ['10.41.2.3/24']);
  });

  void test('a link, a guest and a network removed from the file are removed; the rest untouched', async () => {
    const text = readFileSync(file, 'utf8');
    const web1 = await ifindex('tgtier-web', 'eth1');
    writeFileSync(file, text.replace('  - db:eth2 mid auto\n', ''));
    const inspect = JSON.parse((await pw(['inspect', file, '--json'])).stdout) as { leftovers: { links: string[] } };
    assert.deepEqual(inspect.leftovers.links, ['netns:tgtier-db:eth2']);
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /removed netns:tgtier-db:eth2 \(no longer in the file\)/u);
    assert.ok(!(await hasLink('tgtier-db', 'eth2')));
    assert.equal(await ifindex('tgtier-web', 'eth1'), web1);
    // The client and the front network go: the netns and bridge the topology made with them.
    let less = readFileSync(file, 'utf8').replace(/ {2}- client front .*\n/u, '').replace(/ {2}client: .*\n/u, '');
    less = less.replace(/ {2}- web:eth1 front .*\n/u, '').replace(/ {2}front: .*\n/u, '');
    writeFileSync(file, less);
    const r2 = await pwOk(['apply', file]);
    assert.match(r2.stdout, /removed network namespace tgtier-client/u);
    assert.match(r2.stdout, /removed br-tgtier-front/u);
    assert.ok(!(await hasLink(undefined, 'br-tgtier-front')));
    assert.ok(!(await hasLink('tgtier-web', 'eth1')));
    assert.ok(await ping('tgtier-web', '10.41.2.1'));
  });

  void test('destroy leaves the host exactly as before; a second destroy is fine', async () => {
    const r = await pwOk(['destroy', file]);
    assert.match(r.stdout, /topology tg3t is destroyed/u);
    await assertSameState(pristine, 'destroy left something behind');
    assert.match((await pwOk(['destroy', file])).stdout, /topology tg3t: nothing to destroy/u);
    assert.match((await pwOk(['destroy', '--name', 'tg3t'])).stdout, /nothing to destroy/u);
  });
});

void describe('topology: what destroy must never remove', () => {
  let dir: string;
  before(async () => {
    await cleanupAll();
    dir = scratch();
  });
  after(cleanupAll);

  void test('an external bridge, a bridge that was there before, and a netns apply did not make stay', async () => {
    // Each has a port of its own (a veth pair on the host), so its MAC and state do not move
    // when the topology's ports come and go.
    for (const b of ['br-tgext', 'br-tgpre']) {
      await addBridge(b);
      await ip(['link', 'add', `${b.slice(3)}p0`, 'type', 'veth', 'peer', 'name', `${b.slice(3)}p1`]);
      await ip(['link', 'set', `${b.slice(3)}p0`, 'master', b, 'up']);
      await ip(['link', 'set', `${b.slice(3)}p1`, 'up']);
    }
    await ip(['netns', 'add', 'tgkeep-a']).catch(async () => sh(['ip', 'netns', 'add', 'tgkeep-a']));
    const file = write(dir, 'keep.yaml', `name: tgkeep
networks:
  ext: {bridge: br-tgext, external: true}
  pre: {bridge: br-tgpre}
  new: {bridge: br-tgnew}
guests:
  a: {netns: tgkeep-a}
  b: {netns: tgkeep-b}
links:
  - a ext 10.44.0.1/24
  - b ext 10.44.0.2/24
  - a:eth2 pre 10.44.1.1/24
  - b:eth2 new 10.44.2.1/24
`);
    const before = await hostState();
    const r = await pwOk(['apply', file]);
    assert.match(r.stdout, /made tgkeep-b, br-tgnew$/mu);
    assert.ok(await ping('tgkeep-a', '10.44.0.2'));
    await pwOk(['destroy', file]);
    await assertSameState(before, 'destroy removed or left something it should not have');
    assert.ok(await hasLink(undefined, 'br-tgext'));
    assert.ok(await hasLink(undefined, 'br-tgpre'));
    for (const l of ['tgextp0', 'tgprep0', 'br-tgext', 'br-tgpre']) await delLink(l);
  });

  void test('an external network that is not there is refused, with its line, before anything changes', async () => {
    const file = write(dir, 'ext.yaml', 'name: tgext\nnetworks:\n  up: {bridge: br-tgnone, external: true}\nguests:\n  a: {netns: tgext-a}\nlinks:\n  - a up 10.45.0.1/24\n');
    const before = await hostState();
    const r = await pw(['apply', file]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `${file}:3:16: networks.up.bridge: bridge br-tgnone does not exist, and the network is external: true (never made): create it first`);
    await assertSameState(before, 'a refused apply changed something');
  });

  void test('a container: guest that is not running is refused with its line; nothing changes', async () => {
    const file = write(dir, 'gone.yaml', 'name: tggone\nnetworks:\n  n: {bridge: br-tggone}\nguests:\n  a: {netns: tggone-a}\n  c: {container: "docker:tg-nosuch"}\nlinks:\n  - a n 10.46.0.1/24\n  - c n 10.46.0.2/24\n');
    const before = await hostState();
    const r = await pw(['apply', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^${file.replaceAll('/', '\\/')}:6:18: guests\\.c\\.container: .*tg-nosuch`, 'u'));
    await assertSameState(before, 'a refused apply changed something');
  });

  void test('a bad file: every problem on stderr with FILE:LINE:COL, exit 1, --json lists them, nothing changed', async () => {
    const file = write(dir, 'bad.yaml', 'name: tgbad\nnetworks:\n  n: {bridge: br-tgbad, vlan: 0}\nguests:\n  a: {netns: tgbad-a, pid: 1}\nlinks:\n  - a nowhere 10.47.0.1/24\n  - {guest: a, network: n}\n');
    const before = await hostState();
    for (const verb of ['apply', 'inspect', 'graph']) {
      const r = await pw([verb, file]);
      assert.equal(r.code, 1, verb);
      assert.deepEqual(r.stderr.trim().split('\n').map((l) => l.slice(file.length + 1).split(': ')[0]), ['3:31', '5:23', '7:7', '8:5'], r.stderr);
    }
    const j = await pw(['apply', file, '--json']);
    assert.equal(j.code, 1);
    assert.equal((JSON.parse(j.stdout) as { error: { problems: string[] } }).error.problems.length, 4);
    const missing = await pw(['apply', `${dir}/none.yaml`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^pipework: topology file .*none\.yaml does not exist$/mu);
    await assertSameState(before, 'a bad file changed something');
  });

  void test('--dry-run prints the plan and changes nothing; schema prints the JSON Schema', async () => {
    const file = write(dir, 'dry.yaml', 'name: tgdry\nnetworks:\n  n: {bridge: br-tgdry}\nguests:\n  a: {netns: tgdry-a}\nlinks:\n  - a n 10.48.0.1/24\n');
    const before = await hostState();
    const r = await pwOk(['apply', file, '--dry-run']);
    assert.match(r.stdout, /^ip netns add tgdry-a {4}# 1\. create network namespace tgdry-a$/mu);
    assert.match(r.stdout, /^ip link add name br-tgdry type bridge {4}# 3\. create bridge br-tgdry$/mu);
    assert.match(r.stdout, /links\[0\] a:eth1 on n: would be created/u);
    await assertSameState(before, 'a dry run changed something');
    const schema = JSON.parse((await pwOk(['schema'])).stdout) as { $schema: string };
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  });
});
