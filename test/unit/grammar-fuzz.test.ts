// Property test over the command line: every line either parses into a request that holds the
// invariants, or is refused with a PipeworkError and a one-line message ("every malformed line
// exits non-zero with a message"). Seeded, no dependency; set PIPEWORK_FUZZ_SEED to replay a run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import ipaddr from 'ipaddr.js';
import { parseCommandLine } from '../../src/front/classic/grammar.js';
import type { Request } from '../../src/front/classic/request.js';
import { DHCP_METHODS } from '../../src/model/dhcp-methods.js';
import { PipeworkError } from '../../src/model/errors.js';
import { ifNameProblem } from '../../src/model/ifname.js';

const SEED = process.env['PIPEWORK_FUZZ_SEED'] !== undefined ? Number(process.env['PIPEWORK_FUZZ_SEED']) >>> 0 : 0x5eed2026;
const RANDOM_LINES = 4000;
const MUTATED_LINES = 4000;
const VALID_LINES = 1500;

/** mulberry32: small, fast, good enough to spread test cases. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number): boolean => next() < p;
  return { next, int, pick, chance };
}
type Rng = ReturnType<typeof prng>;

// ---- token pools ---------------------------------------------------------------------------

const HOST_IFS_OK = ['br0', 'br1', 'br-lan_0', 'eth0', 'ovsbr0', 'dummy0', 'abcdefghijklmno', 'v@x', 'mac:52:54:00:12:34:56', 'mac:52-54-00-AB-cd-EF'];
const HOST_IFS_BAD = ['br/0', 'br 0', 'br0:1', 'abcdefghijklmnop', '.', '..', 'a#b', "a'b", 'a"b', 'a\\b', 'éééééééé', 'mac:zz', 'mac:', 'mac:52:54:00:12:34', 'br%d'];
const GUEST_IFS_OK = ['eth1', 'eth2', 'eth1.100', 'net0', 'abcdefghijklmno', 'x'];
const GUESTS_OK = ['c1', 'docker:c1', 'netns:blue', 'pid:1234', 'lxc:u1', 'podman:web', '4f0c3a2b1d9e', 'k8s:pod', 'web.1', 'my web', '中文', 'del', 'ls'];
const GUESTS_BAD = ['', 'pid:', '-c1'];
const V4_OK = ['10.0.0.2/24', '10.0.0.2/24@10.0.0.1', '10.0.0.2/24@10.9.9.1', '192.168.1.5/30', '10.0.0.0/31', '10.0.0.5/32', '172.16.5.4/12@172.16.0.1', '10.0.0.2/1'];
const V6_OK = ['2001:db8::2/64', '2001:DB8:0::2/64@2001:db8::1', '2001:db8:2::5/64@fe80::1', 'fd00::1/128', '2001:0db8:0000:0000:0000:0000:0000:0002/64'];
const ADDR_BAD = [
  '10.0.0.300/24', '10.1/24', '10.0.0.1', '2001:db8::2', '10.0.0.1/33', '10.0.0.1/0', '10.0.0.1/', '10.0.0.1/x', '10.0.0.1/24@', '10.0.0.2/24@gw',
  '10.0.0.2/24@2001:db8::1', '2001:db8::2/64@10.0.0.1', '10.0.0.2/24@10.0.0.2', '10.0.0.2/24@224.0.0.1', '224.0.0.5/24', 'ff02::1/64', '0.0.0.0/24',
  '255.255.255.255/32', '0/0@10.0.0.1', 'fe80::2/64@fe80::1%eth0', '2001:db8::2/129', '010.0.0.2/24', '10.0.0.2/024', '10.0.0.2/-1', ' 10.0.0.2/24',
  '10.0.0.2/24 ', '10.0.0.2//24', '10.0.0.2/24@@10.0.0.1', '@', '/', '0/00', '0/0/0',
  // Not interface addresses (or no router's): IPv4-mapped IPv6, loopback, a subnet's network or broadcast address as gateway.
  '::ffff:10.0.0.1/96', '127.0.0.2/8', '::1/128', '10.0.0.2/24@::ffff:10.0.0.1', '10.0.0.2/24@10.0.0.0', '10.0.0.2/24@10.0.0.255',
];
const DHCP = [...DHCP_METHODS, 'udhcpc:-v', 'dhclient:', 'dhcpcd-f:  -x\ty  ', 'dhcp:hostname:foo', 'dhcpx', 'DHCP'];
const MACS_OK = ['02:42:ac:11:00:02', '02:42:AC:11:00:02', '2:42:ac:11:0:2', '02-42-ac-11-00-02', 'fe:ff:ff:ff:ff:ff', 'U:myhost.foo.com', 'U:中', 'U:a b'];
const MACS_BAD = ['01:00:5e:00:00:01', '00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '02:42:ac:11:00', '02:42:ac:11:00:02:03', '02:42:ac:11:00:gg', '0242ac110002', 'U:', 'zz'];
const VLANS = ['@1', '@10', '@4094', '@0', '@4095', '@-1', '@', '@abc', '@01', '@12345', '@ 1', '@1@2'];
const OPTIONS = [
  '-i', '-l', '-a', '--dry-run', '--json', '--replace', '--all', '--stale', '--wait', '--timeout', '--timeout=5', '--timeout=0', '--timeout=abc', '--timeout=',
  '--direct-phys', '-h', '--help', '-V', '--version', '--bogus', '-x', '-', '--', '---', '--json=1', '-I',
  '--owner', '--owner=cli', '--owner=topology:lab', '--owner=', '-ieth2', '-i=eth2', '-i=', '-a6', '-a=4', '-lvx0', '--dhcp-timeout=5', '--dhcp-image',
];
const VERBS = ['route', 'rule', 'tc', 'del', 'ls', 'batch', 'help', 'completion'];
const NUMBERS = ['4', '6', '5', '0', '1', '1.5', '-1', '1e3', '0x10', '9'.repeat(400)];
const JUNK = [
  '', ' ', '  ', '\t', '\n', '\r\n', '#', '"', "'", '\\', ';', '%', '%41', '$(reboot)', '`id`', '*', 'x'.repeat(300), 'é', '中文', '😀',
  '\u0000', '\u00a0', '\u2028', 'a b', 'show', 'add', 'default', 'via', 'eth1', 'a=b', 'mac:', 'U:', '@', ':',
];
const POOLS = [HOST_IFS_OK, HOST_IFS_BAD, GUEST_IFS_OK, GUESTS_OK, GUESTS_BAD, V4_OK, V6_OK, ADDR_BAD, DHCP, MACS_OK, MACS_BAD, VLANS, OPTIONS, VERBS, NUMBERS, JUNK];

function randomToken(r: Rng): string {
  const pool = r.pick(POOLS);
  let t = r.pick(pool);
  // Now and then glue a MAC and a VLAN, or a MAC/VLAN onto something else.
  if (r.chance(0.05)) t += r.pick(VLANS);
  return t;
}

function randomLine(r: Rng): string[] {
  const n = r.int(9);
  const line: string[] = [];
  for (let i = 0; i < n; i++) line.push(randomToken(r));
  // Bias towards lines that start like real ones, so the parser gets past its first checks.
  if (line.length > 0 && r.chance(0.5)) line[0] = r.pick([...HOST_IFS_OK, ...VERBS, '--dry-run', '--json', '--wait']);
  return line;
}

// ---- valid lines and their mutations ---------------------------------------------------------

/** Put each long option at a random place after `from` (never between an option and its value). */
function sprinkle(r: Rng, segments: string[][], from: number, options: string[]): string[] {
  for (const o of options) {
    const at = from + r.int(segments.length - from + 1);
    segments.splice(at, 0, [o]);
  }
  return segments.flat();
}

function someOf(r: Rng, options: readonly string[]): string[] {
  return options.filter(() => r.chance(0.3));
}

/** A short option with its value: `-i eth2`, `-ieth2` or `-i=eth2` (all one option). */
function shortOption(r: Rng, name: string, value: string): string[] {
  return r.pick([[name, value], [`${name}${value}`], [`${name}=${value}`]]);
}

function validAttach(r: Rng): string[] {
  const family = r.pick([4, 6] as const);
  const address = r.chance(0.15) ? '0/0'
    : r.chance(0.1) ? r.pick(family === 6 ? DHCP_METHODS.filter((m) => m !== 'dhcp') : DHCP_METHODS)
      : r.pick(family === 4 ? V4_OK : V6_OK);
  const flags: string[][] = [];
  if (r.chance(0.4)) flags.push(shortOption(r, '-i', r.pick(GUEST_IFS_OK)));
  if (r.chance(0.3)) flags.push(shortOption(r, '-l', r.pick(['vx0', 'myveth', 'abcdefghijklmno'])));
  if (r.chance(0.3)) flags.push(shortOption(r, '-a', String(family)));
  flags.sort(() => r.next() - 0.5);
  const tail: string[][] = [];
  if (r.chance(0.3)) tail.push([`${r.chance(0.7) ? r.pick(MACS_OK) : ''}${r.chance(0.3) ? r.pick(['@1', '@10', '@4094']) : ''}`].filter((t) => t !== ''));
  const before = someOf(r, ['--dry-run', '--json', '--replace', '--direct-phys']);
  const after = someOf(r, ['--dry-run', '--json', '--replace']);
  // Options go anywhere: -i/-l/-a also before <hostif>.
  const early = r.chance(0.3) ? flags.splice(0, r.int(flags.length + 1)) : [];
  // `--` ends the options: then a guest may start with a dash, and nothing after it is an option.
  const dashed = r.chance(0.15);
  const guest = dashed && r.chance(0.5) ? r.pick(['-c1', '--x', '-']) : r.pick(GUESTS_OK);
  const head = [...before.map((o) => [o]), ...early, [r.pick(HOST_IFS_OK)], ...flags];
  const rest = [...(dashed ? [['--']] : []), [guest], [address], ...tail];
  if (dashed) return [...sprinkle(r, head, before.length + early.length + 1, after), ...rest.flat()];
  return sprinkle(r, [...head, ...rest], before.length + early.length + 1, after);
}

function validDel(r: Rng): string[] {
  if (r.chance(0.2)) {
    // del --stale [<guest>]
    const segments = [...someOf(r, ['--dry-run', '--json']).map((o) => [o]), ['del'], ['--stale'], ...(r.chance(0.5) ? [[r.pick(GUESTS_OK)]] : [])];
    return segments.flat();
  }
  const which = r.pick([[], shortOption(r, '-i', r.pick(GUEST_IFS_OK)), ['--all']]);
  const owner = r.chance(0.3) ? [r.chance(0.5) ? ['--owner', r.pick(['cli', 'topology:lab', 'cni'])] : ['--owner=watch']] : [];
  const segments = [...someOf(r, ['--dry-run', '--json']).map((o) => [o]), ['del'], which, ...owner, [r.pick(GUESTS_OK)]];
  return sprinkle(r, segments, segments.length - 2, someOf(r, ['--dry-run', '--json']));
}

function validHelp(r: Rng): string[] {
  const verb = r.pick(['del', 'ls', 'batch', 'route', 'rule', 'tc', 'attach', 'wait', 'completion']);
  return r.pick([['help'], ['help', verb], ['--help'], ['-h'], [r.pick(['del', 'ls', 'batch', 'route']), '--help']]);
}

function validCompletion(): string[] {
  return ['completion', 'bash'];
}

function validLs(r: Rng): string[] {
  const segments = [
    ...someOf(r, ['--dry-run', '--json']).map((o) => [o]), ['ls'], ...(r.chance(0.6) ? [[r.pick([...GUESTS_OK, 'br0'])]] : []),
    ...(r.chance(0.2) ? [['--owner', r.pick(['cli', 'topology', 'cni:net1'])]] : []),
  ];
  return sprinkle(r, segments, segments.length - 1, someOf(r, ['--dry-run', '--json']));
}

function validBatch(r: Rng): string[] {
  const segments = [...someOf(r, ['--dry-run', '--json']).map((o) => [o]), ['batch'], ...(r.chance(0.7) ? [[r.pick(['-', 'lines.txt', '/tmp/x y'])]] : [])];
  return sprinkle(r, segments, segments.length - 1, someOf(r, ['--dry-run', '--json']));
}

function validPassthrough(r: Rng): string[] {
  const args = Array.from({ length: 1 + r.int(5) }, () => r.pick(['show', 'add', 'default', 'via', '10.0.0.1', '-6', '--foo', 'qdisc', '--', '-i', 'x y']));
  return [...someOf(r, ['--dry-run']), r.pick(['route', 'rule', 'tc']), r.pick(GUESTS_OK), ...args];
}

function validWait(r: Rng): string[] {
  // As in the classic tool, -i follows --wait; --timeout goes anywhere.
  const parts: string[][] = [['--wait']];
  if (r.chance(0.5)) parts.push(['-i', r.pick(GUEST_IFS_OK)]);
  if (r.chance(0.5)) parts.splice(r.int(parts.length + 1), 0, r.chance(0.5) ? ['--timeout', r.pick(['5', '1.5', '300'])] : ['--timeout=2']);
  return parts.flat();
}

const VALID: [Request['kind'], (r: Rng) => string[]][] = [
  ['attach', validAttach], ['attach', validAttach], ['attach', validAttach], ['del', validDel], ['ls', validLs], ['batch', validBatch], ['passthrough', validPassthrough], ['wait', validWait],
  ['help', validHelp], ['completion', validCompletion],
];

const FLIP_CHARS = ['', ' ', '\t', '\n', '-', ':', '/', '@', '.', '%', ';', '=', '#', '"', "'", '\\', 'é', '中', '😀', '0', '9', 'a', 'Z', '\u0000'];

function mutate(r: Rng, line: string[]): string[] {
  const out = [...line];
  const rounds = 1 + r.int(3);
  for (let k = 0; k < rounds; k++) {
    const i = r.int(Math.max(out.length, 1));
    switch (r.int(7)) {
      case 0: out.splice(i, 1); break; // drop
      case 1: if (out.length > 0) out.splice(i, 0, out[i]!); break; // duplicate
      case 2: { // swap
        const j = r.int(Math.max(out.length, 1));
        if (i < out.length && j < out.length) [out[i], out[j]] = [out[j]!, out[i]!];
        break;
      }
      case 3: out.length = r.int(out.length + 1); break; // truncate the line
      case 4: { // flip, insert or delete a character in a token
        const t = out[i] ?? '';
        const c = r.int(t.length + 1);
        const what = r.int(3);
        const ch = r.pick(FLIP_CHARS);
        out[i] = what === 0 ? t.slice(0, c) + ch + t.slice(c + 1) : what === 1 ? t.slice(0, c) + ch + t.slice(c) : t.slice(0, c) + t.slice(c + 1);
        break;
      }
      case 5: out.splice(i, 0, randomToken(r)); break; // insert a foreign token
      default: if (i < out.length) out[i] = randomToken(r); // replace a token
    }
  }
  return out;
}

// ---- the properties ----------------------------------------------------------------------------

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/u;
const LINE_BREAK = /[\n\r\u2028\u2029]/u;

function ifNameOk(name: string | undefined, what: string, problems: string[]): void {
  if (name === undefined) return;
  const p = ifNameProblem(name);
  if (p !== undefined) problems.push(`${what} ${show(name)} ${p}`);
}

function checkIp(text: string, what: string, problems: string[]): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (!ipaddr.isValid(text)) {
    problems.push(`${what} ${JSON.stringify(text)} is not an address`);
    return undefined;
  }
  const ip = ipaddr.parse(text);
  if (ip.toString() !== text) problems.push(`${what} ${JSON.stringify(text)} is not canonical (${ip.toString()})`);
  if (ip.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(text)) problems.push(`${what} ${text} is not dotted quad`);
  if (['unspecified', 'multicast', 'broadcast', 'loopback', 'ipv4Mapped'].includes(ip.range())) problems.push(`${what} ${text} is ${ip.range()}`);
  return ip;
}

/** What is wrong with a request the parser accepted (empty when nothing). */
function requestProblems(req: Request): string[] {
  const problems: string[] = [];
  const bool = (v: unknown, what: string) => { if (typeof v !== 'boolean') problems.push(`${what} is ${String(v)}`); };
  switch (req.kind) {
    case 'help':
      if (req.verb !== undefined && req.verb === '') problems.push('help on an empty verb');
      break;
    case 'version':
      break;
    case 'completion':
      if (req.shell !== 'bash') problems.push(`completion for ${show(req.shell)}`);
      break;
    case 'attach': {
      if (req.hostIf.by === 'name') ifNameOk(req.hostIf.name, 'host interface', problems);
      else if (!MAC.test(req.hostIf.mac)) problems.push(`host MAC ${req.hostIf.mac} is not canonical`);
      ifNameOk(req.guestIf, 'guest interface', problems);
      ifNameOk(req.localIf, 'local interface', problems);
      if (req.guest === '') problems.push('empty guest');
      if (req.family !== undefined && req.family !== 4 && req.family !== 6) problems.push(`family ${String(req.family)}`);
      if (req.config.kind === 'static') {
        const { address, gateway } = req.config.spec;
        if (address) {
          const ip = checkIp(address.address, 'address', problems);
          const max = address.family === 4 ? 32 : 128;
          if (!Number.isInteger(address.prefix) || address.prefix < 1 || address.prefix > max) problems.push(`prefix ${address.prefix}`);
          if (address.cidr !== `${address.address}/${address.prefix}`) problems.push(`cidr ${address.cidr}`);
          if (ip && (ip.kind() === 'ipv4' ? 4 : 6) !== address.family) problems.push(`family of ${address.address}`);
          if (req.family !== undefined && req.family !== address.family) problems.push(`-a ${req.family} with ${address.cidr}`);
          if (address.family === 4 && address.prefix !== 31 && address.broadcast === undefined) problems.push(`no broadcast for ${address.cidr}`);
          if (address.family === 6 && address.broadcast !== undefined) problems.push('IPv6 broadcast');
          if (gateway !== undefined) {
            const gw = checkIp(gateway, 'gateway', problems);
            if (gw && ip && gw.kind() !== ip.kind()) problems.push(`gateway ${gateway} of another family`);
            if (gateway === address.address) problems.push('gateway is the address');
          }
        } else if (gateway !== undefined) {
          problems.push('a gateway without an address');
        }
      } else {
        if (!(DHCP_METHODS as readonly string[]).includes(req.config.method)) problems.push(`method ${req.config.method}`);
        if (req.config.method === 'dhcp' && req.family === 6) problems.push('dhcp with -a 6');
        for (const o of req.config.options) if (o === '' || /\s/u.test(o)) problems.push(`DHCP option ${JSON.stringify(o)}`);
      }
      if (req.mac !== undefined) {
        if (!MAC.test(req.mac)) problems.push(`MAC ${req.mac} is not canonical`);
        else if ((parseInt(req.mac.slice(0, 2), 16) & 1) === 1) problems.push(`MAC ${req.mac} is multicast`);
        else if (req.mac === '00:00:00:00:00:00') problems.push('all-zero MAC');
      }
      if (req.vlan !== undefined && (!Number.isInteger(req.vlan) || req.vlan < 1 || req.vlan > 4094)) problems.push(`VLAN ${req.vlan}`);
      bool(req.directPhys, 'directPhys'); bool(req.replace, 'replace'); bool(req.dryRun, 'dryRun'); bool(req.json, 'json');
      break;
    }
    case 'del':
      if (req.guest === '') problems.push('empty guest');
      // `which`: one interface (none named: decided at run time), all of them, or what dead guests left.
      if ('stale' in req.which) { if (req.which.stale !== true) problems.push('which'); }
      else if ('all' in req.which) { if (req.which.all !== true || 'guestIf' in req.which) problems.push('which'); }
      else if (Object.keys(req.which).some((k) => k !== 'guestIf')) problems.push(`which ${show(req.which)}`);
      else ifNameOk(req.which.guestIf, 'guest interface', problems);
      if (!('stale' in req.which) && req.guest === undefined) problems.push('no guest');
      if (req.owner !== undefined && req.owner === '') problems.push('empty owner');
      bool(req.dryRun, 'dryRun'); bool(req.json, 'json');
      break;
    case 'ls':
      if (req.target !== undefined && typeof req.target !== 'string') problems.push('target');
      bool(req.dryRun, 'dryRun'); bool(req.json, 'json');
      break;
    case 'batch':
      if (req.file !== undefined && (req.file === '' || req.file === '-')) problems.push(`file ${show(req.file)}`);
      bool(req.dryRun, 'dryRun'); bool(req.json, 'json');
      break;
    case 'passthrough':
      if (!['route', 'rule', 'tc'].includes(req.tool)) problems.push(`tool ${req.tool}`);
      if (req.guest === '') problems.push('empty guest');
      if (!req.args.every((a) => typeof a === 'string')) problems.push('args');
      bool(req.dryRun, 'dryRun');
      break;
    case 'wait':
      ifNameOk(req.guestIf, 'guest interface', problems);
      if (req.timeoutSec !== undefined && !(req.timeoutSec > 0)) problems.push(`timeout ${req.timeoutSec}`);
      break;
    default:
      problems.push(`unknown kind ${show(req)}`);
  }
  return problems;
}

interface Outcome {
  argv: string[];
  request?: Request;
  error?: unknown;
}

function run(argv: string[]): Outcome {
  try {
    return { argv, request: parseCommandLine(argv) };
  } catch (error) {
    return { argv, error };
  }
}

/** Everything wrong with one outcome; `singleLine` also asks for one-line messages. */
function outcomeProblems(o: Outcome, singleLine: boolean): string[] {
  if (o.request) return requestProblems(o.request);
  const err = o.error;
  if (!(err instanceof PipeworkError)) {
    return [`threw ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : typeof err} instead of a PipeworkError`];
  }
  const problems: string[] = [];
  if (err.message.trim() === '') problems.push(`${err.name} with an empty message`);
  if (singleLine && LINE_BREAK.test(err.message)) problems.push(`${err.name} message is not one line: ${show(err.message)}`);
  if (!['usage', 'invalid-argument'].includes(err.reason)) problems.push(`${err.name} (${err.reason}) from a pure parser`);
  return problems;
}

function corpus(seed: number): { lines: string[][]; valid: [Request['kind'], string[]][] } {
  const r = prng(seed);
  const valid: [Request['kind'], string[]][] = [];
  for (let i = 0; i < VALID_LINES; i++) {
    const [kind, gen] = r.pick(VALID);
    valid.push([kind, gen(r)]);
  }
  const lines: string[][] = [];
  for (let i = 0; i < RANDOM_LINES; i++) lines.push(randomLine(r));
  for (let i = 0; i < MUTATED_LINES; i++) lines.push(mutate(r, r.pick(valid)[1]));
  return { lines, valid };
}

/** JSON, with the line separators JSON leaves raw escaped too. */
const show = (v: unknown): string => JSON.stringify(v).replace(/[\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

function report(seed: number, failures: { argv: string[]; problems: string[] }[], of: number): string {
  const shown = failures.slice(0, 8).map((f) => `  ${show(f.argv)}: ${f.problems.join('; ')}`).join('\n');
  return `seed ${seed} (replay with PIPEWORK_FUZZ_SEED=${seed}): ${failures.length} of ${of} lines fail\n${shown}`;
}

void describe('grammar property test', () => {
  const { lines, valid } = corpus(SEED);

  void test(`the generated valid lines parse, into the expected kind (seed ${SEED})`, () => {
    const failures = valid.flatMap(([kind, argv]) => {
      const o = run(argv);
      const problems = o.request
        ? [...(o.request.kind === kind ? [] : [`parsed as ${o.request.kind}`]), ...requestProblems(o.request)]
        : [`refused: ${o.error instanceof Error ? o.error.message : String(o.error)}`];
      return problems.length > 0 ? [{ argv, problems }] : [];
    });
    assert.equal(failures.length, 0, report(SEED, failures, valid.length));
  });

  void test(`${RANDOM_LINES + MUTATED_LINES} random and mutated lines: a sound request, or a PipeworkError with a message (seed ${SEED})`, () => {
    const started = Date.now();
    let accepted = 0;
    const failures: { argv: string[]; problems: string[] }[] = [];
    for (const argv of lines) {
      const o = run(argv);
      if (o.request) accepted++;
      // One-line messages for lines without line breaks in them; see the next test for the rest.
      const problems = outcomeProblems(o, !argv.some((a) => LINE_BREAK.test(a)));
      if (problems.length > 0) failures.push({ argv, problems });
    }
    assert.equal(failures.length, 0, report(SEED, failures, lines.length));
    // The corpus exercises both sides, and stays quick.
    assert.ok(accepted > lines.length * 0.02, `only ${accepted} lines were accepted (seed ${SEED})`);
    assert.ok(accepted < lines.length * 0.9, `${accepted} lines were accepted (seed ${SEED})`);
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  void test(
    `messages stay on one line even when the refused value contains a line break (seed ${SEED})`,
    () => {
      const failures = lines
        .filter((argv) => argv.some((a) => LINE_BREAK.test(a)))
        .flatMap((argv) => {
          const problems = outcomeProblems(run(argv), true);
          return problems.length > 0 ? [{ argv, problems }] : [];
        });
      assert.equal(failures.length, 0, report(SEED, failures, lines.length));
    },
  );

  void test('the generator is deterministic for a seed', () => {
    assert.deepEqual(corpus(SEED).lines.slice(0, 50), lines.slice(0, 50));
    assert.notDeepEqual(corpus(SEED + 1).lines.slice(0, 50), lines.slice(0, 50));
  });
});
