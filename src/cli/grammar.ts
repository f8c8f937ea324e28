/**
 * The command line → a typed request. Pure: no I/O, every refusal is an exception
 * thrown before anything is looked up or changed.
 */
import { parseAddressSpec, type Family } from '../model/address.js';
import { InvalidArgumentError, UsageError } from '../model/errors.js';
import { checkIfName } from '../model/ifname.js';
import { parseMac } from '../model/mac.js';
import { parseVlan } from '../model/vlan.js';
import { DHCP_METHODS, type AddressConfig, type DhcpMethod, type HostIfRef, type Request } from './request.js';

const PASSTHROUGH = new Set(['route', 'rule', 'tc']);

/** Our long options, accepted before the host interface and among -i/-l/-a. */
interface LongOptions {
  dryRun: boolean;
  json: boolean;
  replace: boolean;
  all: boolean;
  stale: boolean;
  directPhys: boolean;
  wait: boolean;
  help: boolean;
  version: boolean;
  timeoutSec?: number;
  dhcpTimeoutSec?: number;
  dhcpImage?: string;
}

function takeLongOption(args: string[], i: number, opts: LongOptions): number {
  const arg = args[i]!;
  switch (arg) {
    case '--dry-run': opts.dryRun = true; return i + 1;
    case '--json': opts.json = true; return i + 1;
    case '--replace': opts.replace = true; return i + 1;
    case '--all': opts.all = true; return i + 1;
    case '--stale': opts.stale = true; return i + 1;
    case '--direct-phys': opts.directPhys = true; return i + 1;
    case '--wait': opts.wait = true; return i + 1;
    case '-h': case '--help': opts.help = true; return i + 1;
    case '-V': case '--version': opts.version = true; return i + 1;
    case '--timeout': {
      const value = args[i + 1];
      if (value === undefined) throw new UsageError('--timeout needs a number of seconds');
      opts.timeoutSec = parseTimeout(value);
      return i + 2;
    }
    case '--dhcp-timeout': {
      const value = args[i + 1];
      if (value === undefined) throw new UsageError('--dhcp-timeout needs a number of seconds');
      opts.dhcpTimeoutSec = parseTimeout(value, '--dhcp-timeout');
      return i + 2;
    }
    case '--dhcp-image': {
      const value = args[i + 1];
      if (value === undefined) throw new UsageError('--dhcp-image needs an image name');
      opts.dhcpImage = parseImage(value);
      return i + 2;
    }
  }
  if (arg.startsWith('--timeout=')) {
    opts.timeoutSec = parseTimeout(arg.slice('--timeout='.length));
    return i + 1;
  }
  if (arg.startsWith('--dhcp-timeout=')) {
    opts.dhcpTimeoutSec = parseTimeout(arg.slice('--dhcp-timeout='.length), '--dhcp-timeout');
    return i + 1;
  }
  if (arg.startsWith('--dhcp-image=')) {
    opts.dhcpImage = parseImage(arg.slice('--dhcp-image='.length));
    return i + 1;
  }
  throw new UsageError(`unknown option '${arg}' (see pipework --help)`);
}

function parseTimeout(text: string, option = '--timeout'): number {
  if (!/^\d+(\.\d+)?$/u.test(text) || Number(text) <= 0) {
    throw new InvalidArgumentError(`invalid ${option} '${text}': expected a positive number of seconds`);
  }
  if (option === '--dhcp-timeout' && Number(text) > 3600) {
    throw new InvalidArgumentError(`invalid --dhcp-timeout '${text}': at most 3600 seconds`);
  }
  return Number(text);
}

/** A container image reference: [registry[:port]/]name[:tag][@digest]. */
function parseImage(text: string): string {
  if (text.length > 255 || !/^[a-z0-9][a-z0-9._\-/:]*(@sha256:[0-9a-f]{64})?$/u.test(text) || text.includes('//')) {
    throw new InvalidArgumentError(`invalid --dhcp-image '${text}': expected an image name like busybox or registry.example/busybox:1.36`);
  }
  return text;
}


function parseFamily(text: string | undefined): Family {
  if (text === '4' || text === '6') return Number(text) as Family;
  throw new InvalidArgumentError(`invalid address family '-a ${text ?? ''}': expected 4 or 6`);
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

function parseConfig(text: string, family: Family | undefined): AddressConfig {
  const colon = text.indexOf(':');
  const head = colon === -1 ? text : text.slice(0, colon);
  if ((DHCP_METHODS as readonly string[]).includes(head)) {
    if (family === 6 && head === 'dhcp') {
      throw new InvalidArgumentError("the 'dhcp' method (busybox udhcpc in a helper container) is IPv4 only");
    }
    const options = colon === -1 ? [] : text.slice(colon + 1).split(/\s+/u).filter((s) => s !== '');
    return { kind: 'dhcp', method: head as DhcpMethod, options };
  }
  return { kind: 'static', spec: parseAddressSpec(text, family) };
}

/**
 * `[<mac>][@<vlan>]`, as the classic tool splits it. What follows `@` is a VLAN id (1 to 4094)
 * for every host kind but IPoIB, where the classic tool read it as a hexadecimal partition
 * key; which one applies is known once the host interface is, so both are kept.
 */
function parseMacVlan(text: string): { mac?: string; vlan?: number; vlanText?: string } {
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

/** `pipework del [-i IF | --all] <guest>` and `pipework ls [<guest>|<hostif>]`. */
function parseLifecycle(
  verb: 'del' | 'ls',
  rest: string[],
  guestIf: string | undefined,
  localIf: string | undefined,
  family: Family | undefined,
  opts: LongOptions,
): Request {
  const positional: string[] = [];
  for (let k = 0; k < rest.length; k++) {
    const arg = rest[k]!;
    if (arg.startsWith('-')) k = takeLongOption(rest, k, opts) - 1;
    else positional.push(arg);
  }
  if (opts.help) return { kind: 'help' };
  if (opts.version) return { kind: 'version' };
  if (localIf !== undefined || family !== undefined || opts.directPhys || opts.replace || opts.timeoutSec !== undefined || opts.wait
    || opts.dhcpTimeoutSec !== undefined || opts.dhcpImage !== undefined) {
    throw new UsageError(`'pipework ${verb}' takes only ${verb === 'del' ? '-i, --all, ' : ''}--json and --dry-run`);
  }
  if (positional.length > 1) throw new UsageError(`unexpected argument '${positional[1]!}'`);
  const target = positional[0];
  if (verb === 'ls') {
    if (guestIf !== undefined || opts.all || opts.stale) throw new UsageError("'pipework ls' takes no -i, --all or --stale");
    if (target === '') throw new UsageError('the ls target is empty');
    return { kind: 'ls', ...(target !== undefined && { target }), dryRun: opts.dryRun, json: opts.json };
  }
  if (opts.stale) {
    if (guestIf !== undefined || opts.all) throw new UsageError('pipework del --stale takes no -i or --all');
    if (target === '') throw new UsageError('the guest name is empty');
    return { kind: 'del', ...(target !== undefined && { guest: target }), which: { stale: true }, dryRun: opts.dryRun, json: opts.json };
  }
  if (target === undefined || target === '') throw new UsageError('pipework del needs a guest: pipework del [-i <guestif> | --all] <guest>');
  if (opts.all && guestIf !== undefined) throw new UsageError('pipework del takes -i or --all, not both');
  return {
    kind: 'del',
    guest: target,
    which: opts.all ? { all: true } : { guestIf: guestIf ?? 'eth1' },
    dryRun: opts.dryRun,
    json: opts.json,
  };
}

/** `pipework batch [FILE|-] [--dry-run] [--json]`. */
function parseBatch(rest: string[], hadOptions: boolean, opts: LongOptions): Request {
  const positional: string[] = [];
  for (let k = 0; k < rest.length; k++) {
    const arg = rest[k]!;
    if (arg.startsWith('-') && arg !== '-') k = takeLongOption(rest, k, opts) - 1;
    else positional.push(arg);
  }
  if (opts.help) return { kind: 'help' };
  if (opts.version) return { kind: 'version' };
  if (hadOptions || opts.directPhys || opts.replace || opts.all || opts.stale || opts.wait || opts.timeoutSec !== undefined
    || opts.dhcpTimeoutSec !== undefined || opts.dhcpImage !== undefined) {
    throw new UsageError("'pipework batch' takes only a file (or -), --dry-run and --json; options go on each line");
  }
  if (positional.length > 1) throw new UsageError(`unexpected argument '${positional[1]!}'`);
  const file = positional[0];
  if (file === '') throw new UsageError('the batch file name is empty');
  return { kind: 'batch', ...(file !== undefined && file !== '-' && { file }), dryRun: opts.dryRun, json: opts.json };
}

export function parseCommandLine(argv: readonly string[]): Request {
  const args = [...argv];
  const opts: LongOptions = {
    dryRun: false, json: false, replace: false, all: false, stale: false, directPhys: false, wait: false, help: false, version: false,
  };
  let i = 0;
  while (i < args.length && args[i]!.startsWith('-') && args[i] !== '-i' && args[i] !== '-l' && args[i] !== '-a') {
    i = takeLongOption(args, i, opts);
  }
  if (opts.help) return { kind: 'help' };
  if (opts.version) return { kind: 'version' };

  // -i, -l, -a: the classic order, though any order is accepted; each at most once.
  let guestIf: string | undefined;
  let localIf: string | undefined;
  let family: Family | undefined;
  const hostIfText = opts.wait ? undefined : args[i++];
  if (hostIfText !== undefined && /^-[ila]$/u.test(hostIfText)) {
    throw new UsageError(`${hostIfText} must follow the host interface: pipework <hostif> [-i <guestif>] [-l <localif>] [-a 4|6] <guest> ...`);
  }
  while (i < args.length) {
    const arg = args[i]!;
    if (arg === '-i' || arg === '-l' || arg === '-a') {
      const value = args[i + 1];
      if (value === undefined) throw new UsageError(`option ${arg} needs a value`, true);
      if (arg === '-i') {
        if (guestIf !== undefined) throw new UsageError('-i given twice');
        guestIf = checkIfName(value, 'guest interface name (-i)');
      } else if (arg === '-l') {
        if (localIf !== undefined) throw new UsageError('-l given twice');
        localIf = checkIfName(value, 'local interface name (-l)');
      } else {
        if (family !== undefined) throw new UsageError('-a given twice');
        family = parseFamily(value);
      }
      i += 2;
    } else if (arg.startsWith('--')) {
      i = takeLongOption(args, i, opts);
    } else {
      break;
    }
  }
  if (opts.help) return { kind: 'help' };
  if (opts.version) return { kind: 'version' };

  if (hostIfText === 'del' || hostIfText === 'ls') return parseLifecycle(hostIfText, args.slice(i), guestIf, localIf, family, opts);
  if (hostIfText === 'batch') return parseBatch(args.slice(i), guestIf !== undefined || localIf !== undefined || family !== undefined, opts);

  if (opts.replace || opts.all || opts.stale || opts.json) {
    if (opts.wait) throw new UsageError('--wait takes only -i and --timeout');
  }
  if (opts.wait) {
    if (i < args.length) throw new UsageError(`unexpected argument '${args[i]!}' after --wait`);
    if (localIf !== undefined || family !== undefined || opts.dhcpTimeoutSec !== undefined || opts.dhcpImage !== undefined) throw new UsageError('--wait takes only -i and --timeout');
    return { kind: 'wait', guestIf: guestIf ?? 'eth1', ...(opts.timeoutSec !== undefined && { timeoutSec: opts.timeoutSec }) };
  }

  // Our long options may also follow the positional arguments (not route/rule/tc's own).
  const rest = args.slice(i);
  const passthrough = hostIfText !== undefined && PASSTHROUGH.has(hostIfText);
  const positional: string[] = [];
  for (let k = 0; k < rest.length; k++) {
    const arg = rest[k]!;
    const ours = (arg.startsWith('--') || arg === '-h' || arg === '-V') && (!passthrough || positional.length < 1);
    if (ours) k = takeLongOption(rest, k, opts) - 1;
    else positional.push(arg);
  }
  if (opts.help) return { kind: 'help' };
  if (opts.version) return { kind: 'version' };
  if (opts.timeoutSec !== undefined) throw new UsageError('--timeout goes with --wait');
  const guest = positional[0];
  const third = positional[1];
  if (hostIfText === undefined || guest === undefined || third === undefined) {
    throw new UsageError('too few arguments', true);
  }
  if (guest === '') throw new InvalidArgumentError('the guest name is empty');
  if (opts.all || opts.stale) throw new UsageError(`${opts.all ? '--all' : '--stale'} goes with pipework del`);

  if (PASSTHROUGH.has(hostIfText)) {
    if (guestIf !== undefined || localIf !== undefined || family !== undefined || opts.directPhys || opts.replace || opts.json
      || opts.dhcpTimeoutSec !== undefined || opts.dhcpImage !== undefined) {
      throw new UsageError(`'pipework ${hostIfText}' takes no -i, -l, -a, --direct-phys, --replace, --json or --dhcp-*`);
    }
    return {
      kind: 'passthrough',
      tool: hostIfText as 'route' | 'rule' | 'tc',
      guest,
      args: positional.slice(1),
      dryRun: opts.dryRun,
      json: false,
    };
  }

  if (positional.length > 3) {
    throw new UsageError(`unexpected argument '${positional[3]!}' after '${positional[2]!}'`);
  }
  const hostIf = parseHostIf(hostIfText);
  const config = parseConfig(third, family);
  if (config.kind !== 'dhcp' && (opts.dhcpTimeoutSec !== undefined || opts.dhcpImage !== undefined)) {
    throw new UsageError(`${opts.dhcpTimeoutSec !== undefined ? '--dhcp-timeout' : '--dhcp-image'} goes with a DHCP method (udhcpc, dhclient, dhcpcd, dhcp, …), not a static address`);
  }
  if (opts.dhcpImage !== undefined && config.kind === 'dhcp' && config.method !== 'dhcp') {
    throw new UsageError(`--dhcp-image goes with the 'dhcp' method (a helper container), not ${config.method}`);
  }
  const { mac, vlan, vlanText } = parseMacVlan(positional[2] ?? '');
  return {
    kind: 'attach',
    hostIf,
    directPhys: opts.directPhys,
    ...(guestIf !== undefined && { guestIf }),
    ...(localIf !== undefined && { localIf }),
    ...(family !== undefined && { family }),
    guest,
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
