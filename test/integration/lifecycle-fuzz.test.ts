// Command-line fuzz on the real kernel: a seeded PRNG mutates valid pipework lines (bad
// addresses, MACs, VLANs, names, dropped / duplicated / swapped tokens, unknown options) and
// runs each malformed line against an existing netns guest and bridge. Every one must exit
// non-zero with one "pipework: …" line on stderr (or, for too few arguments, the syntax on
// stdout) and leave the host (our names) and the guest exactly as they were. A mutated line
// that happens to be valid (its --dry-run exits 0) is counted as valid and never run for real
// (lines the grammar itself refuses skip the --dry-run: pipework refuses them before looking).
// Run as root. PWL_FUZZ_SEED=<n> replays a seed; PWL_FUZZ_LINES=<n> changes the count.
//
// Names: netns `pwl-f…`, bridges `brpwlf…`, other host links `pwlf…`; addresses 10.247.6x.0/24.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupPrefix } from './helpers/guard.js';
import { addNetns, getLink, ip, ipJson, type IpLink } from './helpers/netns.js';
import { waitFor, type RunResult } from './helpers/run.js';
import { parseCommandLine } from '../../src/front/classic/grammar.js';
import {
  assertResolvConfUnchanged,
  pw,
  removeLink,
} from './helpers/bridge-common.js';

const NS_PREFIX = 'pwl-f';
const BR_PREFIX = 'brpwlf';
const LINK_PREFIX = 'pwlf';
const G = 'pwl-f1';
const BR = 'brpwlf';
const DOWN_BR = 'pwlfdown';
/** Our names, and what a truncated bridge name could become ("br", "brp", …). */
const isOurName = (n: string): boolean =>
  n.startsWith(NS_PREFIX) || n.startsWith(BR_PREFIX) || n.startsWith(LINK_PREFIX) || (n.length >= 2 && BR_PREFIX.startsWith(n));

const SEED = process.env['PWL_FUZZ_SEED'] !== undefined ? Number(process.env['PWL_FUZZ_SEED']) >>> 0 : 0x5eed2026;
const LINES = Number(process.env['PWL_FUZZ_LINES'] ?? 200);

async function cleanup(): Promise<void> {
  await cleanupPrefix(NS_PREFIX);
  await cleanupPrefix(BR_PREFIX);
  await cleanupPrefix(LINK_PREFIX);
}

before(cleanup);
after(async () => {
  await cleanup();
  assertResolvConfUnchanged();
});

// ---- PRNG and mutations ----------------------------------------------------------------------

/** mulberry32: small, fast, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BAD_ADDRESSES = [
  '10.247.60.256/24', '10.247.60.9/33', '10.247.60.9', '10.247.60/24', '10.247.60.9/-1', '1.2.3.4.5/24', '10.247.60.9/24@',
  '10.247.60.9/24@10.247.60.300', '10.247.60.9/24@2001:db8::1', '2001:db8::g/64', '2001:db8:::1/64', '2001:db8::1/129',
  '10.247.60.9/24@10.247.60.9', '0/0@10.247.60.254', 'abc', '', ' ', '10.247.60.9/24/24', '10.247.60.9 /24', '\u0663.1.1.1/24',
  '10.247.60.9/24@@10.247.60.1', '/24', '10.247.60.9/', '-10.247.60.9/24', '10.247.60.9/24 ', '10.247.60.255/24', '0.0.0.0/24',
  '224.0.0.1/24', '2001:db8::1/64@10.247.60.1', '10.247.60.9/0x18', 'udhcpc:', 'dhcpx', '10.247.60.9/24@fe80::1',
];
const BAD_MACS = [
  '02:00:00:00:00', '02:00:00:00:00:00:00', 'zz:00:00:00:00:01', '01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00',
  '02:00:00:00:00:1g', '02:00:00:00:00:01:', ':02:00:00:00:00:01', '0200.0000.0001', '02:00:00:00:00:001', 'U', '02::00:00:00:01',
  '03:00:00:00:00:01',
];
const BAD_VLANS = ['@0', '@4095', '@-1', '@abc', '@', '@1.5', '@99999', '@10', '@ 10', '@0x10', '@1@2'];
const BAD_NAMES = [
  'averyverylongname', 'eth 1', 'eth/1', '', '.', '..', 'eth1:0', 'eth1\n', 'eth\t1', '-eth1', 'hand0', 'lo',
  'a'.repeat(16), 'ĳĳĳĳĳĳĳĳ', '$(id)', 'eth1;ls', '"eth1"', 'eth%d',
];
const BAD_HOSTIFS = ['brpwlf!', 'nosuchpwlf0', 'mac:zz', 'mac:02:00:00:47:60:99', 'mac:', '', 'x'.repeat(16), 'pwlfnothere', DOWN_BR, 'brpwlf/x'];
const BAD_GUESTS = [
  'pwl-f2', 'netns:pwl-f2', 'netns:', 'pid:', 'pid:abc', 'pid:-1', 'pid:0', 'pid:99999999', 'docker:', 'lxc:', 'podman:', 'nope:pwl-f1',
  'pwl-f1 ', ' pwl-f1', 'netns:../pwl-f1', 'netns:pwl-f1/', 'pwl-f1\n',
];
const BAD_OPTIONS = [
  '--bogus', '--dry_run', '--jsonx', '--replace=1', '---', '--', '-x', '-I', '--all', '--timeout', '--timeout=0', '--timeout=abc',
  '-a', '-i', '-l', '-a7', '-ieth2', '--stale',
];
const SUFFIXES = ['%', ';', '\n', ' ', '/', '@', ':', '-', 'x', '9', 'é', '\t', '"', '$(id)', '\\', '*', '..'];

/** Valid lines (checked by the first test): attaches, del and ls, against G and BR. */
function baseLines(bridgeMac: string): string[][] {
  return [
    [BR, '-i', 'eth2', G, '10.247.60.2/24'],
    [BR, '-i', 'eth3', '-l', 'pwlf3h', G, '10.247.60.3/24@10.247.60.254', '02:00:00:47:60:03'],
    [BR, '-i', 'eth4', '-a', '6', G, '2001:db8:247:60::4/64'],
    [BR, '-i', 'eth5', G, '0/0'],
    ['brpwlfn', '-i', 'eth6', G, '10.247.61.6/24', 'U:pwl-f1.example'],
    [BR, G, '10.247.60.1/24'],
    [`mac:${bridgeMac}`, '-i', 'eth7', G, '10.247.60.7/24'],
    [BR, '-i', 'eth8', G, '10.247.60.8/24@10.247.99.1', '02:00:00:47:60:08'],
    ['del', '-i', 'eth1', G],
    ['ls', G],
  ];
}

function mutate(line: string[], rnd: () => number): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const at = (len: number): number => Math.floor(rnd() * len);
  const out = [...line];
  const count = 1 + at(3);
  for (let k = 0; k < count; k++) {
    const i = at(Math.max(out.length, 1));
    const tok = out[i] ?? '';
    switch (at(11)) {
      case 0: { // a bad address where the address is (or anywhere)
        const j = out.findIndex((t) => /^[0-9a-f:.]+\/\d+|^0\/0$/iu.test(t));
        out[j >= 0 ? j : i] = pick(BAD_ADDRESSES);
        break;
      }
      case 1: { // a bad MAC (and maybe a bad VLAN): replace the MAC, or add one after the address
        const bad = rnd() < 0.7 ? pick(BAD_MACS) : `${pick(BAD_MACS)}${pick(BAD_VLANS)}`;
        const j = out.findIndex((t) => /^([0-9a-f]{2}:){5}[0-9a-f]{2}$|^U:/iu.test(t));
        if (j >= 0) out[j] = bad;
        else out.push(bad);
        break;
      }
      case 2: // a bad VLAN suffix
        out.push(pick(BAD_VLANS));
        break;
      case 3: { // a bad interface name for -i or -l (added if absent)
        const flag = rnd() < 0.6 ? '-i' : '-l';
        const j = out.indexOf(flag);
        if (j >= 0 && j + 1 < out.length) out[j + 1] = pick(BAD_NAMES);
        else out.splice(Math.min(1, out.length), 0, flag, pick(BAD_NAMES));
        break;
      }
      case 4: // a bad host interface
        out[0] = pick(BAD_HOSTIFS);
        break;
      case 5: { // a bad guest
        const j = out.indexOf(G);
        out[j >= 0 ? j : i] = pick(BAD_GUESTS);
        break;
      }
      case 6: // drop a token
        out.splice(i, 1);
        break;
      case 7: // duplicate a token
        out.splice(i, 0, tok);
        break;
      case 8: { // swap two tokens
        const j = at(Math.max(out.length, 1));
        if (out.length > 1) [out[i], out[j]] = [out[j]!, out[i]!];
        break;
      }
      case 9: // an unknown or misplaced option
        out.splice(at(out.length + 1), 0, pick(BAD_OPTIONS));
        break;
      default: { // damage one token: a suffix, a truncation, or a deleted character
        const r = rnd();
        if (r < 0.5) out[i] = tok + pick(SUFFIXES);
        else if (r < 0.75) out[i] = tok.slice(0, at(tok.length + 1));
        else { const c = at(tok.length + 1); out[i] = tok.slice(0, c) + tok.slice(c + 1); }
      }
    }
  }
  return out;
}

/** Lines only in A ("- …") and only in B ("+ …"); empty when both hold the same lines. */
function lineDiff(a: readonly string[], b: readonly string[]): string[] {
  const inA = new Set(a);
  const inB = new Set(b);
  return [...a.filter((l) => !inB.has(l)).map((l) => `- ${l}`), ...b.filter((l) => !inA.has(l)).map((l) => `+ ${l}`)];
}

// ---- state ----------------------------------------------------------------------------------

/** Drop the fields of `ip -d -json` that tick by themselves (bridge and port timers). */
function stable(value: unknown): string {
  return JSON.stringify(value, (k: string, v: unknown) => (k.endsWith('_timer') ? undefined : v));
}

/**
 * The host (links in our scope: our names, ports of our bridges, veths whose peer is in our
 * netns; their addresses and routes; our netns) and guest G (links, addresses, routes of both
 * families in every table), as comparable lines. Seven `ip` runs: cheap enough for every line.
 */
async function state(): Promise<string[]> {
  const [netns, links, r4, r6, glinks, g4, g6] = await Promise.all([
    ipJson(['netns', 'list']) as Promise<{ name: string; id?: number }[]>,
    ipJson(['-d', 'addr', 'show']) as Promise<(IpLink & { addr_info?: unknown[] })[]>,
    ipJson(['-4', 'route', 'show', 'table', 'all']) as Promise<{ dev?: string }[]>,
    ipJson(['-6', 'route', 'show', 'table', 'all']) as Promise<{ dev?: string }[]>,
    ipJson(['-d', 'addr', 'show'], G),
    ipJson(['-4', 'route', 'show', 'table', 'all'], G),
    ipJson(['-6', 'route', 'show', 'table', 'all'], G),
  ]);
  const ids = new Map(netns.filter((n) => n.id !== undefined).map((n) => [n.id!, n.name]));
  const ours = new Set(links
    .filter((l) => isOurName(l.ifname) || (l.master !== undefined && isOurName(l.master)) ||
      (l.link_netnsid !== undefined && isOurName(ids.get(l.link_netnsid) ?? '')))
    .map((l) => l.ifname));
  return [
    ...netns.filter((n) => isOurName(n.name)).map((n) => `netns ${n.name}`),
    ...links.filter((l) => ours.has(l.ifname)).map((l) => `host link ${stable(l)}`),
    ...[...r4, ...r6].filter((r) => r.dev !== undefined && ours.has(r.dev)).map((r) => `host route ${stable(r)}`),
    ...glinks.map((l) => `guest link ${stable(l)}`),
    ...[...g4, ...g6].map((r) => `guest route ${stable(r)}`),
  ];
}

const fmt = (args: readonly string[]): string => args.map((a) => JSON.stringify(a)).join(' ');

function show(args: readonly string[], r: RunResult): string {
  return `seed ${SEED} (PWL_FUZZ_SEED=${SEED}): pipework ${fmt(args)}\nexit ${r.code}\nstdout: ${JSON.stringify(r.stdout)}\nstderr: ${JSON.stringify(r.stderr)}`;
}

/** Run FN on ITEMS, at most LIMIT at a time, keeping the order of the results. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

// ---- the test ---------------------------------------------------------------------------------

void describe(`CLI fuzz (seed ${SEED}, ${LINES} malformed lines)`, () => {
  let bridgeMac = '';
  before(async () => {
    await addNetns(G);
    await ip(['link', 'add', 'hand0', 'type', 'veth', 'peer', 'name', 'hand1'], G);
    await ip(['link', 'set', 'hand0', 'up'], G);
    await ip(['link', 'add', DOWN_BR, 'type', 'bridge']); // a host link that is down and not a veth
    const r = await pw([BR, G, '10.247.60.1/24']);
    assert.equal(r.code, 0, r.stderr);
    bridgeMac = (await getLink(BR))!.address!;
    // Let DAD finish, so the snapshots stay put by themselves.
    await waitFor('DAD done', async () => (await ipJson(['-6', 'addr', 'show', 'tentative'], G)).length === 0 &&
      !((await ipJson(['-6', 'addr', 'show', 'tentative'])) as { ifname: string }[]).some((l) => isOurName(l.ifname)), 5_000, 50);
  });
  after(async () => {
    await removeLink(DOWN_BR);
  });

  void test('the base lines are valid (--dry-run exits 0)', async () => {
    for (const line of baseLines(bridgeMac)) {
      const r = await pw(['--dry-run', ...line]);
      assert.equal(r.code, 0, show(['--dry-run', ...line], r));
    }
  });

  void test(`${LINES} malformed lines: each refused with one stderr line (or the syntax), nothing changes`, async (t) => {
    const rnd = prng(SEED);
    const bases = baseLines(bridgeMac);
    const t0 = performance.now();
    const seen = new Set<string>();
    const next = (): string[] => {
      for (;;) {
        const line = mutate(bases[Math.floor(rnd() * bases.length)]!, rnd);
        const key = JSON.stringify(line);
        if (seen.has(key)) continue;
        seen.add(key);
        return line;
      }
    };
    let candidates = 0;
    let valid = 0;
    let malformed = 0;
    const failures: string[] = [];
    let before = await state();
    const slowest: [number, string][] = [];
    while (malformed < LINES && candidates < LINES * 5) {
      // A chunk of candidates. A line the grammar refuses fails before pipework looks at
      // anything; any other line is tried with --dry-run first (which changes nothing), a few
      // at a time, and is valid if that succeeds.
      const chunk = Array.from({ length: Math.min(16, LINES - malformed) }, next);
      candidates += chunk.length;
      const parses = (line: string[]): boolean => {
        try {
          parseCommandLine(line);
          return true;
        } catch {
          return false;
        }
      };
      const dry = await pool(chunk, 4, async (line) => (parses(line) ? (await pw(['--dry-run', ...line])).code : 1));
      for (const [i, line] of chunk.entries()) {
        if (dry[i] === 0) {
          valid++;
          continue;
        }
        malformed++;
        const started = performance.now();
        const r = await pw(line);
        slowest.push([performance.now() - started, fmt(line)]);
        const problems: string[] = [];
        if (r.code === 0) problems.push('exit 0 (its --dry-run failed)');
        if (r.code === 70) problems.push('internal error (exit 70)');
        if (r.timedOut) problems.push('timed out');
        if (r.stderr === '') {
          if (!r.stdout.startsWith('Syntax:\n')) problems.push('nothing on stderr and no syntax on stdout');
        } else {
          if (!/^pipework: \S[^\n]*\n$/u.test(r.stderr)) problems.push('stderr is not one "pipework: …" line');
          if (r.stdout !== '') problems.push('stdout is not empty');
        }
        const after = await state();
        const diff = lineDiff(before, after);
        if (diff.length > 0) {
          problems.push(`the state changed:\n${diff.join('\n')}`);
          before = after; // report each change once
        }
        if (problems.length > 0) failures.push(`${show(line, r)}\n→ ${problems.join('; ')}`);
      }
    }
    const ms = performance.now() - t0;
    assert.equal(malformed, LINES, `seed ${SEED}: only ${malformed} malformed lines among ${candidates}`);
    const summary = `seed ${SEED}: ${candidates} mutated lines, ${valid} valid (skipped), ${malformed} malformed run for real, ` +
      `${failures.length} failures, ${(ms / 1000).toFixed(1)} s`;
    t.diagnostic(summary);
    slowest.sort((a, b) => b[0] - a[0]);
    t.diagnostic(`slowest: ${slowest.slice(0, 5).map(([ms, l]) => `${ms.toFixed(0)} ms ${l}`).join(' | ')}`);
    process.stderr.write(`lifecycle-fuzz: ${summary}\n`);
    assert.deepEqual(failures, [], `${failures.length} malformed lines misbehaved (replay with PWL_FUZZ_SEED=${SEED}):\n\n${failures.join('\n\n')}`);
    // The fixture itself is intact: eth1 as attached, hand0 untouched.
    assert.ok((await getLink('eth1', G)) !== undefined && (await getLink('hand0', G)) !== undefined, `seed ${SEED}: fixture damaged`);
  });
});
