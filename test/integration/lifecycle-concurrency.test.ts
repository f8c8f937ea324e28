// Many pipework runs at once on the real kernel: 50 attaches started together onto one Linux
// bridge that does not exist yet (each run may try to create it), then 50 `del`s together.
// Run as root.
//
// Names: netns `pwl-c01`…`pwl-c50`, bridge `brpwlc`, addresses 10.247.50.0/24 (inside our netns).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupPrefix } from './helpers/guard.js';
import { addNetns, getLink, ipJson, listLinks, ping, type IpLink } from './helpers/netns.js';
import { runPipework, waitFor, type RunResult } from './helpers/run.js';
import { assertResolvConfUnchanged, netnsIds, removeLink } from './helpers/bridge-common.js';

const NS_PREFIX = 'pwl-c';
const BR = 'brpwlc';
const N = 50;
const guests = Array.from({ length: N }, (_, i) => `${NS_PREFIX}${String(i + 1).padStart(2, '0')}`);
const addrOf = (i: number): string => `10.247.50.${i + 1}`;

async function cleanup(): Promise<void> {
  await cleanupPrefix(NS_PREFIX);
  await removeLink(BR);
}

before(cleanup);
after(async () => {
  await cleanup();
  assertResolvConfUnchanged();
});

function show(args: readonly string[], r: RunResult): string {
  return `pipework ${args.join(' ')}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

/** Host links that belong to our guests (their peer is in a pwl-c netns) or carry our prefix. */
async function ourHostLinks(): Promise<IpLink[]> {
  const ids = await netnsIds();
  return (await listLinks()).filter((l) => l.ifname.startsWith('pwlc') || l.ifname.startsWith(BR) ||
    l.master === BR || (l.link_netnsid !== undefined && (ids.get(l.link_netnsid) ?? '').startsWith(NS_PREFIX)));
}

void describe(`${N} attaches at once onto a bridge that does not exist yet, then ${N} dels at once`, () => {
  before(async () => {
    for (const g of guests) await addNetns(g);
  });

  void test(`${N} concurrent attaches: all exit 0, ${N} distinct host ends on ${BR}, every guest pings guest #1; ${N} concurrent dels leave nothing`, async (t) => {
    assert.equal(await getLink(BR), undefined, `${BR} must not exist yet`);

    const attachArgs = guests.map((g, i) => [BR, g, `${addrOf(i)}/24`]);
    const t0 = performance.now();
    const attached = await Promise.all(attachArgs.map((args) => runPipework(args, { timeoutMs: 60_000 })));
    const attachMs = performance.now() - t0;
    const failed = attached.map((r, i) => (r.code === 0 && r.stderr === '' ? undefined : show(attachArgs[i]!, r))).filter((x) => x !== undefined);
    assert.deepEqual(failed, [], `${failed.length} of ${N} attaches failed:\n${failed.join('\n\n')}`);

    const br = await getLink(BR);
    assert.equal(br?.linkinfo?.info_kind, 'bridge', `${BR} was created`);
    assert.ok(br.flags.includes('UP'), `${BR} is up`);
    const ports = (await ipJson(['-d', 'link', 'show', 'master', BR])) as IpLink[];
    const names = new Set(ports.map((p) => p.ifname));
    assert.equal(names.size, N, `${N} distinct host ends on ${BR}: ${[...names].join(' ')}`);
    const ids = await netnsIds();
    const peers = new Set(ports.map((p) => ids.get(p.link_netnsid ?? -1)));
    assert.deepEqual([...peers].sort(), [...guests].sort(), 'one host end per guest');
    assert.ok(ports.every((p) => p.linkinfo?.info_kind === 'veth' && p.flags.includes('UP')), 'every host end is an UP veth');

    // Each guest has exactly its eth1 and its address.
    const addrs = await Promise.all(guests.map(async (g) => {
      const [l] = (await ipJson(['-4', 'addr', 'show', 'dev', 'eth1'], g)) as { addr_info: { local: string; prefixlen: number }[] }[];
      return (l?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`).join(',');
    }));
    assert.deepEqual(addrs, guests.map((_, i) => `${addrOf(i)}/24`));

    const t1 = performance.now();
    const pings = await Promise.all(guests.slice(1).map(async (g) => [g, await ping(g, addrOf(0), 4, { retryMs: 5_000 })] as const));
    const pingMs = performance.now() - t1;
    const silent = pings.filter(([, okay]) => !okay).map(([g]) => g);
    assert.deepEqual(silent, [], `guests that could not ping guest #1 (${addrOf(0)})`);

    // The inventory agrees.
    const ls = JSON.parse((await runPipework(['ls', BR, '--json'])).stdout) as { interfaces: { guest: string }[] };
    assert.deepEqual(ls.interfaces.map((i) => i.guest).sort(), guests.map((g) => `netns:${g}`).sort());

    const t2 = performance.now();
    const deleted = await Promise.all(guests.map((g) => runPipework(['del', g], { timeoutMs: 60_000 })));
    const delMs = performance.now() - t2;
    const delFailed = deleted.map((r, i) => (r.code === 0 && r.stderr === '' ? undefined : show(['del', guests[i]!], r))).filter((x) => x !== undefined);
    assert.deepEqual(delFailed, [], `${delFailed.length} of ${N} dels failed:\n${delFailed.join('\n\n')}`);

    await waitFor('no host end left', async () => (await ourHostLinks()).every((l) => l.ifname === BR), 5_000, 100);
    assert.deepEqual((await ourHostLinks()).map((l) => l.ifname), [BR], 'only the bridge is left');
    assert.deepEqual(await ipJson(['link', 'show', 'master', BR]), []);
    for (const g of guests) assert.equal(await getLink('eth1', g), undefined, `eth1 gone from ${g}`);
    await removeLink(BR);
    assert.deepEqual(await ourHostLinks(), []);

    const line = `wall time: ${N} concurrent attaches ${attachMs.toFixed(0)} ms, ${N - 1} concurrent pings ${pingMs.toFixed(0)} ms, ` +
      `${N} concurrent dels ${delMs.toFixed(0)} ms`;
    t.diagnostic(line);
    process.stderr.write(`lifecycle-concurrency: ${line}\n`);
  });
});
