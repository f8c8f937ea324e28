/**
 * The command line → a typed request. Pure: no I/O, every refusal is an exception thrown before
 * anything is looked up or changed.
 *
 * Options go anywhere (the classic order `<hostif> -i -l -a` included): `-i eth2`, `-ieth2` and
 * `-i=eth2` are one option; `--opt value` and `--opt=value` too; `--` ends the options (a guest
 * named `-x` can then be given). After the guest of route/rule/tc, every word is theirs.
 */
import { parseAddressSpec, type Family } from '../../model/address.js';
import { isDhcpMethod, DHCP_METHODS } from '../../model/dhcp-methods.js';
import { checkDhcpOptions, splitDhcpOptions } from '../../model/dhcp-options.js';
import { InvalidArgumentError, UsageError } from '../../model/errors.js';
import { checkIfName } from '../../model/ifname.js';
import { parseMac } from '../../model/mac.js';
import { parseVlan } from '../../model/vlan.js';
import type { AddressConfig, HostIfRef, Request } from './request.js';

const PASSTHROUGH = new Set(['route', 'rule', 'tc']);
/** Verbs of ours (the classic tool has none): a host interface cannot be called this. */
export const VERBS = ['del', 'ls', 'batch', 'help', 'completion'] as const;

interface Options {
  dryRun: boolean;
  json: boolean;
  replace: boolean;
  all: boolean;
  stale: boolean;
  directPhys: boolean;
  wait: boolean;
  help: boolean;
  version: boolean;
  guestIf?: string;
  localIf?: string;
  family?: Family;
  timeoutSec?: number;
  dhcpTimeoutSec?: number;
  dhcpImage?: string;
  owner?: string;
  /** Which options were given, for "X goes with Y" refusals. */
  given: Set<string>;
}

const FLAGS: Record<string, keyof Options> = {
  '--dry-run': 'dryRun', '--json': 'json', '--replace': 'replace', '--all': 'all', '--stale': 'stale',
  '--direct-phys': 'directPhys', '--wait': 'wait', '-h': 'help', '--help': 'help', '-V': 'version', '--version': 'version',
};
const VALUED = new Set(['--timeout', '--dhcp-timeout', '--dhcp-image', '--owner']);

function parseTimeout(text: string, option = '--timeout'): number {
  if (!/^\d+(\.\d+)?$/u.test(text) || Number(text) <= 0) {
    throw new InvalidArgumentError(`invalid ${option} '${text}': expected a positive number of seconds`);
  }
  if (option === '--dhcp-timeout' && Number(text) > 3600) {
    throw new InvalidArgumentError(`invalid --dhcp-timeout '${text}': at most 3600 seconds`);
  }
  return Number(text);
}

/** A container image reference: [registry[:port]/]name[:tag][@digest] (the watcher's --dhcp-image too). */
export function parseImage(text: string): string {
  if (text.length > 255 || !/^[a-z0-9][a-z0-9._\-/:]*(@sha256:[0-9a-f]{64})?$/u.test(text) || text.includes('//')) {
    throw new InvalidArgumentError(`invalid --dhcp-image '${text}': expected an image name like busybox or registry.example/busybox:1.36`);
  }
  return text;
}

function parseFamily(text: string): Family {
  if (text === '4' || text === '6') return Number(text) as Family;
  throw new InvalidArgumentError(`invalid address family '-a ${text}': expected 4 or 6`);
}

function setValued(opts: Options, name: string, value: string): void {
  opts.given.add(name);
  switch (name) {
    case '-i':
      if (opts.guestIf !== undefined) throw new UsageError('-i given twice');
      opts.guestIf = checkIfName(value, 'guest interface name (-i)');
      return;
    case '-l':
      if (opts.localIf !== undefined) throw new UsageError('-l given twice');
      opts.localIf = checkIfName(value, 'local interface name (-l)');
      return;
    case '-a':
      if (opts.family !== undefined) throw new UsageError('-a given twice');
      opts.family = parseFamily(value);
      return;
    case '--timeout':
      opts.timeoutSec = parseTimeout(value);
      return;
    case '--dhcp-timeout':
      opts.dhcpTimeoutSec = parseTimeout(value, '--dhcp-timeout');
      return;
    case '--dhcp-image':
      opts.dhcpImage = parseImage(value);
      return;
    case '--owner':
      opts.owner = value;
      return;
  }
}

const VALUE_WORDS: Record<string, string> = {
  '-i': 'an interface name', '-l': 'an interface name', '-a': '4 or 6', '--timeout': 'a number of seconds',
  '--dhcp-timeout': 'a number of seconds', '--dhcp-image': 'an image name', '--owner': 'an owner (cli, topology:NAME, cni:NET, watch)',
};

/** Split options from positional words; route/rule/tc keep every word after their guest. */
function scan(argv: readonly string[]): { opts: Options; positional: string[] } {
  const opts: Options = { dryRun: false, json: false, replace: false, all: false, stale: false, directPhys: false, wait: false, help: false, version: false, given: new Set() };
  const positional: string[] = [];
  let ended = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const verbatim = PASSTHROUGH.has(positional[0] ?? '') && positional.length >= 2;
    if (ended || verbatim || arg === '-' || !arg.startsWith('-') || arg.length === 1) {
      positional.push(arg);
      continue;
    }
    if (arg === '--') {
      ended = true;
      continue;
    }
    const flag = FLAGS[arg];
    if (flag !== undefined) {
      (opts as unknown as Record<string, boolean>)[flag] = true;
      opts.given.add(arg);
      continue;
    }
    const short = /^(-[ila])(=?)(.*)$/su.exec(arg);
    const long = /^(--[a-z-]+)(=)(.*)$/su.exec(arg);
    const name = short?.[1] ?? (long && VALUED.has(long[1]!) ? long[1]! : VALUED.has(arg) ? arg : undefined);
    if (name === undefined) throw new UsageError(`unknown option '${arg}' (see pipework --help)`);
    let value: string | undefined;
    if (short && (short[2] !== '' || short[3] !== '')) value = short[3]!;
    else if (long && long[1] === name) value = long[3]!;
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new UsageError(`option ${name} needs ${VALUE_WORDS[name] ?? 'a value'}`, name.length === 2);
    setValued(opts, name, value);
  }
  return { opts, positional };
}

function parseHostIf(text: string): HostIfRef {
  if (text.startsWith('mac:')) {
    const mac = text.slice(4);
    if (!/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/u.test(mac)) {
      throw new InvalidArgumentError(`invalid host interface MAC '${mac}': expected six hex bytes like 52:54:00:12:34:56`);
    }
    return { by: 'mac', mac: mac.toLowerCase().replaceAll('-', ':') };
  }
  return { by: 'name', name: checkIfName(text, 'host interface') };
}

export function parseConfig(text: string, family: Family | undefined): AddressConfig {
  const colon = text.indexOf(':');
  const head = colon === -1 ? text : text.slice(0, colon);
  if (isDhcpMethod(head)) {
    if (family === 6 && head === 'dhcp') {
      throw new InvalidArgumentError("the 'dhcp' method (busybox udhcpc in a helper container) is IPv4 only");
    }
    // Client options come from labels and files too: only those a client may take from anyone.
    const options = colon === -1 ? [] : checkDhcpOptions(head, splitDhcpOptions(text.slice(colon + 1)));
    return { kind: 'dhcp', method: head, options };
  }
  // A word that is no address at all is a DHCP method mistyped, not an address without a netmask.
  if (/^[a-zA-Z][a-zA-Z0-9_-]*$/u.test(head) && !/^[0-9a-fA-F]{1,4}$/u.test(head)) {
    const near = DHCP_METHODS.find((m) => m === head.toLowerCase());
    throw new InvalidArgumentError(
      `'${text}' is neither an address (<ip>/<prefix>) nor a DHCP method${near !== undefined ? ` — did you mean ${near}? (methods are lower case)` : ''}: the methods are ${DHCP_METHODS.join(', ')}`,
    );
  }
  return { kind: 'static', spec: parseAddressSpec(text, family) };
}

/**
 * `[<mac>][@<vlan>]`, as the classic tool splits it. What follows `@` is a VLAN id (1 to 4094)
 * for every host kind but IPoIB, where the classic tool read it as a hexadecimal partition
 * key; which one applies is known once the host interface is, so both are kept.
 */
export function parseMacVlan(text: string): { mac?: string; vlan?: number; vlanText?: string } {
  const at = text.indexOf('@');
  const macText = at === -1 ? text : text.slice(0, at);
  const vlanText = at === -1 ? undefined : text.slice(at + 1);
  const out: { mac?: string; vlan?: number; vlanText?: string } = {};
  if (macText !== '') out.mac = parseMac(macText);
  if (vlanText !== undefined) {
    if (!/^[0-9a-fA-F]{1,4}$/u.test(vlanText)) parseVlan(vlanText); // throws the VLAN id message
    out.vlanText = vlanText;
    if (/^\d{1,4}$/u.test(vlanText) && Number(vlanText) >= 1 && Number(vlanText) <= 4094) out.vlan = Number(vlanText);
  }
  return out;
}

/** Refuse options that do not belong to this command. */
function only(opts: Options, allowed: readonly string[], message: string): void {
  const extra = [...opts.given].filter((o) => !allowed.includes(o) && o !== '-h' && o !== '--help' && o !== '-V' && o !== '--version');
  if (extra.length > 0) throw new UsageError(message);
}

function parseDel(positional: string[], opts: Options): Request {
  if (positional.length > 1) throw new UsageError(`unexpected argument '${positional[1]!}'`);
  const target = positional[0];
  only(opts, ['-i', '--all', '--stale', '--json', '--dry-run', '--owner'], "'pipework del' takes only -i, --all, --stale, --owner, --json and --dry-run");
  const owner = opts.owner !== undefined ? { owner: opts.owner } : {};
  if (opts.stale) {
    if (opts.guestIf !== undefined || opts.all) throw new UsageError('pipework del --stale takes no -i or --all');
    if (target === '') throw new UsageError('the guest name is empty');
    return { kind: 'del', ...(target !== undefined && { guest: target }), which: { stale: true }, dryRun: opts.dryRun, json: opts.json, ...owner };
  }
  if (target === undefined || target === '') throw new UsageError('pipework del needs a guest: pipework del [-i <guestif> | --all] <guest>');
  if (opts.all && opts.guestIf !== undefined) throw new UsageError('pipework del takes -i or --all, not both');
  return {
    kind: 'del',
    guest: target,
    which: opts.all ? { all: true } : { ...(opts.guestIf !== undefined && { guestIf: opts.guestIf }) },
    dryRun: opts.dryRun,
    json: opts.json,
    ...owner,
  };
}

function parseLs(positional: string[], opts: Options): Request {
  if (opts.guestIf !== undefined || opts.all || opts.stale) throw new UsageError("'pipework ls' takes no -i, --all or --stale");
  only(opts, ['--json', '--dry-run', '--owner'], "'pipework ls' takes only --owner, --json and --dry-run");
  if (positional.length > 1) throw new UsageError(`unexpected argument '${positional[1]!}'`);
  const target = positional[0];
  if (target === '') throw new UsageError('the ls target is empty');
  return {
    kind: 'ls', ...(target !== undefined && { target }), dryRun: opts.dryRun, json: opts.json,
    ...(opts.owner !== undefined && { owner: opts.owner }),
  };
}

/** `pipework batch [FILE|-] [--dry-run] [--json]`. */
function parseBatch(positional: string[], opts: Options): Request {
  only(opts, ['--json', '--dry-run'], "'pipework batch' takes only a file (or -), --dry-run and --json; options go on each line");
  if (positional.length > 1) throw new UsageError(`unexpected argument '${positional[1]!}'`);
  const file = positional[0];
  if (file === '') throw new UsageError('the batch file name is empty');
  return { kind: 'batch', ...(file !== undefined && file !== '-' && { file }), dryRun: opts.dryRun, json: opts.json };
}

export function parseCommandLine(argv: readonly string[]): Request {
  const { opts, positional } = scan(argv);
  const verb = positional[0];
  if (verb === 'help') {
    if (positional.length > 2) throw new UsageError(`unexpected argument '${positional[2]!}'`);
    return positional[1] !== undefined ? { kind: 'help', verb: positional[1] } : { kind: 'help' };
  }
  if (opts.help) return verb !== undefined && ((VERBS as readonly string[]).includes(verb) || PASSTHROUGH.has(verb)) && verb !== 'completion' ? { kind: 'help', verb } : { kind: 'help' };
  if (opts.version) return { kind: 'version' };
  const rest = positional.slice(1);
  if (verb === 'completion') {
    if (rest[0] !== 'bash' || rest.length > 1 || opts.given.size > 0) throw new UsageError("pipework completion takes one shell and no options: 'pipework completion bash'");
    return { kind: 'completion', shell: 'bash' };
  }
  if (opts.wait) {
    if (verb !== undefined) throw new UsageError(`unexpected argument '${verb}' after --wait`);
    only(opts, ['--wait', '-i', '--timeout'], '--wait takes only -i and --timeout');
    return { kind: 'wait', guestIf: opts.guestIf ?? 'eth1', ...(opts.timeoutSec !== undefined && { timeoutSec: opts.timeoutSec }) };
  }
  if (verb === 'del') return parseDel(rest, opts);
  if (verb === 'ls') return parseLs(rest, opts);
  if (verb === 'batch') return parseBatch(rest, opts);
  if (opts.timeoutSec !== undefined) throw new UsageError('--timeout goes with --wait');
  if (opts.owner !== undefined) throw new UsageError('--owner goes with pipework ls and pipework del');

  const guest = positional[1];
  const third = positional[2];
  if (verb === undefined || guest === undefined || third === undefined) {
    if (!(verb !== undefined && PASSTHROUGH.has(verb) && guest !== undefined)) throw new UsageError('too few arguments', true);
  }
  if (guest === '') throw new InvalidArgumentError('the guest name is empty');
  if (opts.all || opts.stale) throw new UsageError(`${opts.all ? '--all' : '--stale'} goes with pipework del`);

  if (PASSTHROUGH.has(verb)) {
    only(opts, ['--dry-run'], `'pipework ${verb}' takes no -i, -l, -a, --direct-phys, --replace, --json or --dhcp-*`);
    if (third === undefined) throw new UsageError('too few arguments', true);
    return { kind: 'passthrough', tool: verb as 'route' | 'rule' | 'tc', guest: guest, args: positional.slice(2), dryRun: opts.dryRun, json: false };
  }

  if (positional.length > 4) throw new UsageError(`unexpected argument '${positional[4]!}' after '${positional[3]!}'`);
  const hostIf = parseHostIf(verb);
  const config = parseConfig(third!, opts.family);
  if (config.kind !== 'dhcp' && (opts.dhcpTimeoutSec !== undefined || opts.dhcpImage !== undefined)) {
    throw new UsageError(`${opts.dhcpTimeoutSec !== undefined ? '--dhcp-timeout' : '--dhcp-image'} goes with a DHCP method (udhcpc, dhclient, dhcpcd, dhcp, …), not a static address`);
  }
  if (opts.dhcpImage !== undefined && config.kind === 'dhcp' && config.method !== 'dhcp') {
    throw new UsageError(`--dhcp-image goes with the 'dhcp' method (a helper container), not ${config.method}`);
  }
  const { mac, vlan, vlanText } = parseMacVlan(positional[3] ?? '');
  return {
    kind: 'attach',
    hostIf,
    directPhys: opts.directPhys,
    ...(opts.guestIf !== undefined && { guestIf: opts.guestIf }),
    ...(opts.localIf !== undefined && { localIf: opts.localIf }),
    ...(opts.family !== undefined && { family: opts.family }),
    guest: guest,
    config,
    ...(mac !== undefined && { mac }),
    ...(vlan !== undefined && { vlan }),
    ...(vlanText !== undefined && { vlanText }),
    replace: opts.replace,
    dryRun: opts.dryRun,
    json: opts.json,
    ...(opts.dhcpTimeoutSec !== undefined && { dhcpTimeoutSec: opts.dhcpTimeoutSec }),
    ...(opts.dhcpImage !== undefined && { dhcpImage: opts.dhcpImage }),
  };
}
