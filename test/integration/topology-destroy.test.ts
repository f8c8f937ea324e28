// Issue 22: destroy removes the links of the netns it removes with them (their host ends at once,
// not one by one inside each netns), and still exactly what it should when the host is not as
// apply left it: one of its netns already removed by hand, a guest netns it did not make (stays,
// its link's host end removed explicitly), another's link in that netns, a foreign port on one of
// its bridges. Its --dry-run lists exactly what the real run does. Run as root.
//
// Names: netns tgd-…, bridges br-tgd…, veths tgdf…, topology tgd; addresses 10.177.0.0/16 inside
// our own netns only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { addBridge, ip, listNetns } from './helpers/netns.js';
import { cleanupAll, hasLink, addresses, pw, pwOk, scratch, write } from './topology-lib.js';
import { decodeRecord } from '../../src/model/record.js';

/** Host links whose record names this owner (or a guest of these netns). */
function hostEndsOf(match: (owner: string | undefined, guest: string) => boolean): string[] {
  return readdirSync('/sys/class/net').filter((n) => {
    let alias: string;
    try {
      alias = readFileSync(`/sys/class/net/${n}/ifalias`, 'utf8').trim();
    } catch {
      return false; // gone meanwhile
    }
    const r = decodeRecord(alias);
    return r !== undefined && match(r.owner, r.guest);
  });
}

const ports = (bridge: string): string[] => (existsSync(`/sys/class/net/${bridge}/brif`) ? readdirSync(`/sys/class/net/${bridge}/brif`).sort() : []);

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

void describe('destroy: netns that go take their links; what stays on the host is removed explicitly, and nothing else', () => {
  let dir = '';
  before(async () => {
    await cleanupAll();
    dir = scratch();
  });
  after(async () => {
    await cleanupAll();
  });

  void test('one netns already gone, one that stays with another\'s link in it, a foreign port on its bridge', async () => {
    // Made by the test, not the topology: a netns (a `container:` guest), a bridge, a foreign port.
    await ip(['netns', 'add', 'tgd-c']);
    await addBridge('br-tgdx');
    await pwOk(['br-tgdx', '-i', 'eth2', 'netns:tgd-c', '10.177.9.3/24']);
    const file = write(dir, 'tgd.yaml', [
      'name: tgd',
      'networks:',
      '  lan: {bridge: br-tgd}',
      '  lan2: {bridge: br-tgd2}',
      'guests:',
      '  a: {netns: tgd-a}',
      '  b: {netns: tgd-b}',
      '  c: {container: "netns:tgd-c"}',
      '  d: {netns: tgd-d}',
      'links:',
      '  - a lan 10.177.0.1/24',
      '  - a:eth2 lan2 10.177.1.1/24',
      '  - b lan 10.177.0.2/24',
      '  - c lan 10.177.0.3/24',
      '  - d lan 10.177.0.4/24',
      '',
    ].join('\n'));
    await pwOk(['apply', file]);
    await ip(['link', 'add', 'tgdf0', 'type', 'veth', 'peer', 'name', 'tgdf1']);
    await ip(['link', 'set', 'dev', 'tgdf0', 'master', 'br-tgd2']);
    // Removed by hand: its veth goes with it (in the kernel's own time).
    await ip(['netns', 'del', 'tgd-d']);
    await until('the veth of the removed netns to go', () => hostEndsOf((_o, g) => g === 'netns:tgd-d').length === 0);
    const cliEnd = ports('br-tgdx');
    assert.equal(cliEnd.length, 1);

    const dry = await pwOk(['destroy', '--dry-run', file]);
    const real = await pwOk(['destroy', file]);
    const lines = (out: string) => out.trim().split('\n').map((l) => l.replace(/^would remove /u, 'removed ').replace(' would be destroyed', ' is destroyed')).sort();
    assert.deepEqual(lines(dry.stdout), lines(real.stdout), 'the dry run lists exactly what the run does');
    for (const l of ['removed netns:tgd-a:eth1', 'removed netns:tgd-a:eth2', 'removed netns:tgd-b:eth1', 'removed netns:tgd-c:eth1',
      'removed network namespace tgd-a', 'removed network namespace tgd-b', 'removed br-tgd']) {
      assert.ok(real.stdout.split('\n').includes(l), `${l} in:\n${real.stdout}`);
    }
    assert.match(real.stdout, /^kept br-tgd2 \(ports tgdf0 are not this topology's\)$/mu);
    assert.doesNotMatch(real.stdout, /tgd-d|tgd-c$|network namespace tgd-c|br-tgdx/mu);

    // What went is gone at once (not left to the kernel's background removal of the netns).
    assert.deepEqual(hostEndsOf((o) => o === 'topology:tgd'), [], 'no host end of the topology is left');
    const netns = await listNetns();
    assert.ok(!netns.includes('tgd-a') && !netns.includes('tgd-b') && !netns.includes('tgd-d'));
    assert.ok(!(await hasLink(undefined, 'br-tgd')));
    // What is not the topology's stays as it was.
    assert.ok(netns.includes('tgd-c'), 'a netns it did not make stays');
    assert.ok(!(await hasLink('tgd-c', 'eth1')), 'its link there is removed');
    assert.deepEqual(await addresses('tgd-c', 'eth2'), ['10.177.9.3/24'], "another's link there stays");
    assert.deepEqual(ports('br-tgdx'), cliEnd, "and its host end on another's bridge");
    assert.deepEqual(ports('br-tgd2'), ['tgdf0'], 'a foreign port stays on the bridge it keeps');
    assert.ok(await hasLink(undefined, 'tgdf1'));
    assert.ok(!existsSync('/run/pipework/topology/tgd.json'), 'its state is gone');

    // Again: only the bridge it keeps is named, nothing is removed.
    const again = await pw(['destroy', file]);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /^removed /mu);
  });
});
