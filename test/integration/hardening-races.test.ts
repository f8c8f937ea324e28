// Issue 11 item 8: concurrent runs on one guest interface are serialized. For 30 rounds an
// attach, a del and a --replace of the same guest interface start at (nearly) the same time, in a
// shuffled order with small random offsets. No false error (no "not made by pipework", "exists
// and is not a veth", raw `ip` text); del of a gone interface exits 0; every command exits 0, or 1
// only for a real conflict (a plain attach meeting the other configuration); and after each round
// the state is consistent: no eth1, or one eth1 whose record and addresses match one of the two
// configurations, its host end on the bridge, no orphan host ends, no parked pwo…/pwp… links.
// Run as root.
//
// Names: netns `hdc1` (the guest), `hdc2` (a peer on the bridge), bridge `br-hdc`, the peer's
// host end `hdc2h`; addresses 10.122.0.0/24.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addBridge, addNetns, attachToBridge, listLinks, ping } from './helpers/netns.js';
import { sleep } from './helpers/run.js';
import { assertResolvConfUnchanged, netnsIds } from './helpers/bridge-common.js';
import { aliasOf, cleanupTheme, pw, show, v4 } from './helpers/hardening.js';

const G = 'hdc1';
const PEER = 'hdc2';
const BR = 'br-hdc';
const ROUNDS = 30;
const A = [BR, G, '10.122.0.1/24'];
const B = ['--replace', BR, G, '10.122.0.2/24'];
const D = ['del', G];

/** Text that only a race produces: a false error. */
const FALSE_ERROR = /not made by pipework|not plumbed by pipework|exists and is not a veth|RTNETLINK|Cannot find device|No such device|File exists|does not exist|internal error|\n\s+at |EPIPE|still working on/u;
const CONFLICT = /already plumbed by pipework with another configuration/u;

before(async () => {
  await cleanupTheme('c');
  await addBridge(BR);
  await addNetns(G);
  await addNetns(PEER);
  await attachToBridge(PEER, BR, { hostIf: 'hdc2h', guestIf: 'eth1', addrs: ['10.122.0.100/24'] });
});

after(async () => {
  await cleanupTheme('c');
  assertResolvConfUnchanged();
});

/** The state after a round, or what is wrong with it. */
async function endState(): Promise<{ state: string; problems: string[] }> {
  const problems: string[] = [];
  const guest = await listLinks(G);
  const names = guest.map((l) => l.ifname).filter((n) => n !== 'lo');
  const parked = names.filter((n) => /^pw[op]/u.test(n));
  if (parked.length > 0) problems.push(`parked links left in the guest: ${parked.join(' ')}`);
  const others = names.filter((n) => n !== 'eth1' && !/^pw[op]/u.test(n));
  if (others.length > 0) problems.push(`other links in the guest: ${others.join(' ')}`);

  const ids = await netnsIds();
  const host = await listLinks();
  const hostParked = host.filter((l) => /^pw[op]/u.test(l.ifname) && (l.link_netnsid !== undefined && ids.get(l.link_netnsid) === G));
  if (hostParked.length > 0) problems.push(`parked links on the host: ${hostParked.map((l) => l.ifname).join(' ')}`);
  const hostEnds = host.filter((l) => l.link_netnsid !== undefined && ids.get(l.link_netnsid) === G);

  const eth1 = guest.find((l) => l.ifname === 'eth1');
  if (eth1 === undefined) {
    if (hostEnds.length > 0) problems.push(`no eth1, yet host ends of ${G}: ${hostEnds.map((l) => l.ifname).join(' ')}`);
    return { state: 'none', problems };
  }
  const record = aliasOf(eth1);
  const addr = /;a=([^;]+)/u.exec(record)?.[1];
  const state = addr === '10.122.0.1/24' ? 'A' : addr === '10.122.0.2/24' ? 'B' : `?${record}`;
  if (state.startsWith('?')) problems.push(`eth1's record matches neither configuration: ${record}`);
  const addrs = await v4(G, 'eth1');
  if (addr !== undefined && JSON.stringify(addrs) !== JSON.stringify([addr])) problems.push(`eth1 has ${addrs.join(',') || 'no address'}, its record says ${addr}`);
  if (!eth1.flags.includes('UP')) problems.push('eth1 is down');
  const localIf = /;l=([^;]+)/u.exec(record)?.[1];
  const hostEnd = host.find((l) => l.ifname === localIf);
  if (hostEnd === undefined) problems.push(`eth1's host end ${localIf ?? '?'} is missing`);
  else {
    if (hostEnd.master !== BR) problems.push(`host end ${hostEnd.ifname} is on ${hostEnd.master ?? 'no bridge'}, not ${BR}`);
    if (!hostEnd.flags.includes('UP')) problems.push(`host end ${hostEnd.ifname} is down`);
  }
  const orphans = hostEnds.filter((l) => l.ifname !== localIf);
  if (orphans.length > 0) problems.push(`orphan host ends of ${G}: ${orphans.map((l) => l.ifname).join(' ')}`);
  return { state, problems };
}

function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

void describe(`attach, del and --replace of one guest interface at once, ${ROUNDS} rounds`, () => {
  void test('no false error, del of a gone interface exits 0, a consistent end state after every round; traffic works when eth1 is there', async (t) => {
    const problems: string[] = [];
    const ends = new Map<string, number>();
    let conflicts = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const cmds = shuffled([A, B, D]);
      const results = await Promise.all(cmds.map(async (args, i) => {
        await sleep(i === 0 ? 0 : Math.floor(Math.random() * 40));
        return { args, r: await pw(args, undefined, 90_000) };
      }));
      for (const { args, r } of results) {
        const what = `round ${round}: ${show(args, r)}`;
        if (FALSE_ERROR.test(r.stderr) || FALSE_ERROR.test(r.stdout)) problems.push(`false error: ${what}`);
        else if (args === A && r.code === 1 && CONFLICT.test(r.stderr)) conflicts++;
        else if (r.code !== 0) problems.push(`exit ${r.code}: ${what}`);
      }
      const { state, problems: bad } = await endState();
      ends.set(state, (ends.get(state) ?? 0) + 1);
      for (const p of bad) problems.push(`round ${round} (order ${cmds.map((c) => (c === A ? 'attach' : c === B ? 'replace' : 'del')).join(',')}): ${p}`);
      if ((state === 'A' || state === 'B') && bad.length === 0 && !(await ping(G, '10.122.0.100', 4, { retryMs: 3_000 }))) {
        problems.push(`round ${round}: eth1 (${state}) cannot reach the peer`);
      }
    }
    const line = `${ROUNDS} rounds; end states ${JSON.stringify(Object.fromEntries(ends))}; ${conflicts} real conflicts (attach met the --replace's configuration); ${problems.length} problems`;
    t.diagnostic(line);
    process.stderr.write(`hardening-races: ${line}\n`);
    assert.deepEqual(problems, [], problems.join('\n\n'));
  });

  void test('afterwards: del leaves nothing, and a second del of the gone interface exits 0', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await pw(D);
      assert.equal(r.code, 0, show(D, r));
      assert.doesNotMatch(r.stderr, FALSE_ERROR, show(D, r));
    }
    const { state, problems } = await endState();
    assert.equal(state, 'none');
    assert.deepEqual(problems, []);
  });
});
