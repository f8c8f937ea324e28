// Our pipework against the classic shell script, on twin Docker containers: the same command
// line must leave the same kernel state (names, MTU, MACs, addresses with broadcast, routes,
// rules, qdiscs, bridge membership, link state). The classic script is not shipped with this
// project: set PIPEWORK_CLASSIC to its path to run this comparison.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureImage, removeContainer, runContainer, type DockerContainer } from './helpers/docker.js';
import { classicSkip, runClassic } from './helpers/classic.js';
import { delLink, ip, ipJson, type IpAddrLink, type IpLink, type IpRoute } from './helpers/netns.js';
import { runPipework, sh, type RunResult } from './helpers/run.js';

const skip = classicSkip;

interface Twin {
  /** Placeholder values for this side. */
  vars: Record<string, string>;
  container: DockerContainer;
}

/** Substitute {C}, {BR}, {BR2}, {L} in a command line. */
function fill(line: readonly string[], vars: Record<string, string>): string[] {
  return line.map((a) => a.replace(/\{(\w+)\}/gu, (_, k: string) => vars[k] ?? `{${k}}`));
}

/** Everything a plumbing run can change, with this side's names replaced by placeholders. */
async function kernelState(t: Twin): Promise<unknown> {
  const rename = (s: string | undefined): string | undefined => {
    if (s === undefined) return undefined;
    let out = s;
    for (const [k, v] of Object.entries(t.vars)) out = out.split(v).join(`{${k}}`);
    return out.split(String(t.container.pid)).join('{PID}');
  };
  const pid = t.container.pid;
  const links = (await ipJson(['-d', 'addr', 'show'], pid)) as IpAddrLink[];
  const guest = links
    .filter((l) => l.ifname !== 'lo')
    .map((l) => ({
      name: l.ifname,
      kind: l.linkinfo?.info_kind,
      mtu: l.mtu,
      flags: [...l.flags].sort(),
      operstate: l.operstate,
      // Random MACs differ between runs; a requested one must match.
      address: t.vars['MAC'] !== undefined ? l.address : undefined,
      addrs: l.addr_info
        .filter((a) => !a.local.startsWith('fe80:'))
        .map((a) => ({ family: a.family, local: a.local, prefixlen: a.prefixlen, broadcast: a.broadcast, scope: a.scope })),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const routes: unknown[] = [];
  for (const fam of ['-4', '-6']) {
    const rs = (await ipJson([fam, 'route', 'show', 'table', 'main'], pid)) as IpRoute[];
    for (const r of rs) {
      if (r.dst.startsWith('fe80:') || r.dst.startsWith('ff00:')) continue;
      routes.push({ dst: r.dst, gateway: r.gateway, dev: r.dev, scope: r.scope, protocol: r.protocol, metric: r.metric });
    }
  }
  const rules = (await ip(['rule', 'show'], pid)).trim();
  const qdiscs = (await sh(['nsenter', `--net=/proc/${pid}/ns/net`, 'tc', 'qdisc', 'show'])).stdout
    .split('\n').filter((l) => !l.includes(' noqueue ')).join('\n').trim()
    // Handles are numbered machine-wide (8001:, 8002:…), not per guest.
    .replace(/ [0-9a-f]+: dev /gu, ' N: dev ');

  const hostLinks = (await ipJson(['-d', 'link', 'show'], undefined)) as IpLink[];
  const mine = hostLinks.filter((l) => Object.values(t.vars).some((v) => l.ifname === v || l.master === v)
    || l.ifname.includes(String(pid)));
  const host = mine
    .map((l) => ({
      name: rename(l.ifname),
      kind: l.linkinfo?.info_kind,
      master: rename(l.master),
      mtu: l.mtu,
      flags: [...l.flags].sort(),
    }))
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  return { guest, routes, rules, qdiscs, host };
}

interface Case {
  name: string;
  /** Command lines, run in order on each side. */
  lines: string[][];
  /** Set up before the lines run (e.g. a bridge with a given MTU), per side. */
  prepare?: (vars: Record<string, string>) => Promise<void>;
  vars?: Record<string, string>;
}

const CASES: Case[] = [
  { name: 'static IPv4', lines: [['{BR}', '{C}', '10.80.1.1/24']] },
  { name: 'gateway in the subnet', lines: [['{BR}', '{C}', '10.80.2.1/24@10.80.2.254']] },
  { name: 'gateway off the subnet', lines: [['{BR}', '{C}', '10.80.3.1/24@10.80.99.1']] },
  { name: '-i', lines: [['{BR}', '-i', 'eth5', '{C}', '10.80.4.1/24']] },
  { name: '-i and -l', lines: [['{BR}', '-i', 'eth1', '-l', '{L}', '{C}', '10.80.5.1/24']] },
  { name: 'MAC', lines: [['{BR}', '{C}', '10.80.6.1/24', '02:aa:bb:cc:dd:01']], vars: { MAC: 'yes' } },
  { name: 'U:text MAC', lines: [['{BR}', '{C}', '10.80.7.1/24', 'U:host.example.com']], vars: { MAC: 'yes' } },
  { name: '0/0', lines: [['{BR}', '{C}', '0/0']] },
  { name: '/32 and /30', lines: [['{BR}', '{C}', '10.80.8.1/32'], ['{BR}', '-i', 'eth2', '{C}', '10.80.9.1/30']] },
  { name: 'second interface on a second bridge', lines: [['{BR}', '{C}', '10.80.10.1/24'], ['{BR2}', '-i', 'eth2', '{C}', '10.80.11.1/24@10.80.11.254']] },
  {
    name: 'existing bridge with MTU 1400',
    prepare: async (v) => {
      await ip(['link', 'add', 'name', v['BR']!, 'mtu', '1400', 'type', 'bridge']);
      await ip(['link', 'set', 'dev', v['BR']!, 'up']);
    },
    lines: [['{BR}', '{C}', '10.80.12.1/24']],
  },
  {
    name: 'route, rule and tc',
    lines: [
      ['{BR}', '{C}', '10.80.13.1/24'],
      ['route', '{C}', 'add', '10.90.0.0/16', 'via', '10.80.13.254'],
      ['rule', '{C}', 'add', 'from', '10.80.13.1', 'table', '100'],
      ['tc', '{C}', 'qdisc', 'add', 'dev', 'eth1', 'root', 'tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms'],
    ],
  },
];

describe('same kernel state as the classic script, on twin Docker containers', { skip }, () => {
  const created: string[] = [];
  const links: string[] = [];
  before(async () => {
    await ensureImage();
  });
  after(async () => {
    for (const c of created) await removeContainer(c);
    for (const l of links) await delLink(l).catch(() => undefined);
  });

  CASES.forEach((c, n) => {
    test(c.name, async () => {
      const sides: Twin[] = [];
      for (const side of ['a', 'b']) {
        const name = `pwc-${n}-${side}`;
        created.push(name);
        const container = await runContainer(name);
        const vars = { C: name, BR: `brpwc${n}${side}`, BR2: `brpwc${n}${side}2`, L: `pwcl${n}${side}`, ...c.vars };
        links.push(vars.BR, vars.BR2);
        await c.prepare?.(vars);
        sides.push({ vars, container });
      }
      const [classic, ours] = sides as [Twin, Twin];
      for (const line of c.lines) {
        const r1 = await runClassic(fill(line, classic.vars), classic.container.pid);
        const r2 = await runPipework(fill(line, ours.vars));
        assert.equal(r2.code, r1.code, `exit codes differ for ${line.join(' ')}: classic ${r1.stderr} / ours ${r2.stderr}`);
      }
      assert.deepEqual(await kernelState(ours), await kernelState(classic));
      for (const s of sides) {
        await removeContainer(s.vars['C']!);
        for (const l of [s.vars['BR']!, s.vars['BR2']!]) await delLink(l).catch(() => undefined);
      }
    });
  });

  test('-a 6: the classic script fails half-way with busybox installed; ours plumbs the address', async () => {
    const a = await runContainer('pwc-v6-a');
    const b = await runContainer('pwc-v6-b');
    created.push('pwc-v6-a', 'pwc-v6-b');
    links.push('brpwc6a', 'brpwc6b');
    const r1 = await runClassic(['brpwc6a', '-a', '6', 'pwc-v6-a', '2001:db8:80::1/64'], a.pid);
    const r2 = await runPipework(['brpwc6b', '-a', '6', 'pwc-v6-b', '2001:db8:80::1/64']);
    assert.notEqual(r1.code, 0, 'the classic script was expected to fail on -a 6 (busybox ipcalc)');
    assert.equal(r2.code, 0, r2.stderr);
    const addrs = (await ipJson(['-6', 'addr', 'show', 'dev', 'eth1'], b.pid)) as IpAddrLink[];
    assert.ok(addrs[0]?.addr_info.some((x) => x.local === '2001:db8:80::1' && x.prefixlen === 64));
    // The classic script leaves eth1 behind, down and without the address.
    const left = (await ipJson(['link', 'show', 'dev', 'eth1'], a.pid)) as IpLink[];
    assert.equal(left.length, 1);
  });

  test('-l naming a link that exists and is up: both refuse with exit 1', async () => {
    const results: RunResult[] = [];
    for (const side of ['a', 'b']) {
      const name = `pwc-up-${side}`;
      created.push(name);
      const { pid } = await runContainer(name);
      const busy = `pwcup${side}`;
      links.push(busy, `brpwcu${side}`);
      await ip(['link', 'add', 'name', busy, 'type', 'veth', 'peer', 'name', `${busy}p`]);
      await ip(['link', 'set', 'dev', busy, 'up']);
      const args = [`brpwcu${side}`, '-l', busy, name, '10.80.14.1/24'];
      results.push(side === 'a' ? await runClassic(args, pid) : await runPipework(args));
    }
    assert.equal(results[0]!.code, 1);
    assert.equal(results[1]!.code, 1);
    assert.match(results[1]!.stderr, /Link pwcupb exists and is up/u);
  });
});
