/**
 * The options a user may hand a DHCP client after `method:` (pure). They come from the command
 * line, a batch line, a topology file, a container's label or pipework_cmd variable — and whoever
 * writes a label must not make root run a program or touch a file. So each client takes exactly
 * the options below, each value of a known shape, and pipework passes them on in one canonical
 * form (one option per word; for dhcpcd `--name=value`), which this check accepts again as it
 * is (the DHCP agent checks what it is handed once more). Everything else is refused with one
 * line naming the option and why: above all what names a script or a file, or passes environment
 * to pipework's hook, and what is pipework's own choice (the interface, the address family,
 * whether the client stays).
 *
 * Spellings follow each client: udhcpc (busybox, also in the `dhcp` helper) and dhcpcd read
 * their options with getopt — clustered flags (`-CB`), a value glued (`-Vacme`) or in the next
 * word, long names with `=` or a next word; dhclient reads one option per word.
 */
import ipaddr from 'ipaddr.js';
import type { DhcpMethod } from './dhcp-methods.js';
import { InvalidArgumentError } from './errors.js';

export type DhcpClient = 'udhcpc' | 'dhclient' | 'dhcpcd';

const CLIENT_OF: Readonly<Record<DhcpMethod, DhcpClient>> = {
  dhcp: 'udhcpc', udhcpc: 'udhcpc', 'udhcpc-f': 'udhcpc',
  dhclient: 'dhclient', 'dhclient-f': 'dhclient', dhcpcd: 'dhcpcd', 'dhcpcd-f': 'dhcpcd',
};

/** The client a method runs (for `dhcp`: busybox udhcpc in the helper container). */
export function dhcpClientOf(method: DhcpMethod): DhcpClient {
  return CLIENT_OF[method];
}

/** The text after `method:` as words: split on white space (the classic tool's word splitting). */
export function splitDhcpOptions(text: string): string[] {
  return text.split(/\s+/u).filter((w) => w !== '');
}

// ---- value shapes ----------------------------------------------------------------------------

interface Shape {
  /** What the option needs, as a message says it: "a vendor class". */
  what: string;
  /** More about the shape, said when a value was given and refused. */
  detail?: string;
  ok(value: string): boolean;
}

const PRINTABLE = /^[\x21-\x7e]{1,255}$/u;
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?$`, 'u');

function text(what: string): Shape {
  return { what, detail: "printable characters, no space, at most 255, not starting with '-'", ok: (v) => PRINTABLE.test(v) && !v.startsWith('-') };
}
function number(what: string, max: number): Shape {
  return { what, detail: `0 to ${max}`, ok: (v) => /^\d{1,10}$/u.test(v) && Number(v) <= max };
}
/** A DHCP option code (1 to 254) as a number, or 0x followed by hex. */
function optionCode(v: string): boolean {
  const n = /^0x[0-9a-f]{1,2}$/iu.test(v) ? parseInt(v.slice(2), 16) : /^\d{1,3}$/u.test(v) ? Number(v) : NaN;
  return n >= 1 && n <= 254;
}

const S = {
  vendorClass: text('a vendor class'),
  userClass: text('a user class'),
  clientId: text('a client id'),
  hostName: { what: 'a host name', detail: 'like web or web.example.com', ok: (v: string) => HOST_NAME.test(v) },
  ipv4: { what: 'an IPv4 address', ok: (v: string) => ipaddr.IPv4.isValidFourPartDecimal(v) },
  ip: { what: 'an IP address', ok: (v: string) => ipaddr.IPv4.isValidFourPartDecimal(v) || (!v.includes('%') && ipaddr.IPv6.isValid(v)) },
  seconds: number('a number of seconds', 4_294_967_295),
  count: number('a number', 1_000_000),
  msec: number('milliseconds', 1_000_000),
  prefixLength: number('a prefix length', 128),
  duid: { what: 'LL or LLT', ok: (v: string) => v === 'LL' || v === 'LLT' },
  fqdnMode: { what: 'none, ptr, both or disable', ok: (v: string) => ['none', 'ptr', 'both', 'disable'].includes(v) },
  udhcpcOption: {
    what: 'an option name or number', detail: 'like ntpsrv, 42 or 0x2a',
    ok: (v: string) => /^[a-z][a-z0-9]{0,31}$/u.test(v) || optionCode(v),
  },
  udhcpcSend: {
    what: 'OPTION:VALUE', detail: 'like lease:3600, hostname:web or 0x3d:0100BEEFC0FFEE',
    ok: (v: string) => {
      const colon = v.indexOf(':');
      const name = v.slice(0, colon);
      return colon > 0 && (/^[a-z][a-z0-9]{0,31}$/u.test(name) || optionCode(name)) && PRINTABLE.test(v.slice(colon + 1));
    },
  },
  dhcpcdOptions: {
    what: 'option names or numbers', detail: 'like ntp_servers or 42, separated by commas',
    ok: (v: string) => v.length <= 255 && /^[A-Za-z0-9_]+(?:,[A-Za-z0-9_]+)*$/u.test(v),
  },
  dhcpcdVendor: {
    what: 'CODE,VALUE', detail: 'like 1,text',
    ok: (v: string) => /^\d{1,3},/u.test(v) && PRINTABLE.test(v.slice(v.indexOf(',') + 1)),
  },
} satisfies Record<string, Shape>;

// ---- what each client takes --------------------------------------------------------------------

interface Accepted {
  /** getopt clients: the letter; dhclient: the whole word. */
  short?: string;
  /** Without the leading `--`. */
  long?: string;
  /** Its value; none for a flag. */
  value?: Shape;
  /** udhcpc -a: the value only glued to the letter (-a500), and it may be left out. */
  optional?: boolean;
}

interface ClientRules {
  client: DhcpClient;
  style: 'getopt' | 'words';
  accepted: readonly Accepted[];
  /** Refused spellings (`-s`, `--script`, `-sf`) that have a reason of their own. */
  refused: Readonly<Record<string, string>>;
  /** The form pipework passes an accepted option on in. */
  emit(option: Accepted, value: string | undefined): string[];
}

const SCRIPT = "it names a script (a client runs only pipework's hook)";
const ENV = "it passes environment to pipework's hook";
const STAYS = 'pipework decides whether the client stays (choose the method: udhcpc or udhcpc-f, dhclient or dhclient-f, dhcpcd or dhcpcd-f)';
const IFACE = 'pipework chooses the interface (its own -i)';
const FAMILY = 'pipework chooses the address family (-a 4|6)';
const OTHERS = 'it stops or releases a client that runs';
const file = (what: string): string => `it names a file (${what})`;

const UDHCPC: ClientRules = {
  client: 'udhcpc',
  style: 'getopt',
  accepted: [
    { short: 'V', long: 'vendorclass', value: S.vendorClass },
    { short: 'r', long: 'request', value: S.ipv4 },
    { short: 'x', value: S.udhcpcSend },
    { short: 'O', long: 'request-option', value: S.udhcpcOption },
    { short: 'F', long: 'fqdn', value: S.hostName },
    { short: 'C', long: 'clientid-none' },
    { short: 'B', long: 'broadcast' },
    { short: 'a', long: 'arping', value: S.msec, optional: true },
    { short: 'R', long: 'release' },
    { short: 't', long: 'retries', value: S.count },
    { short: 'T', long: 'timeout', value: S.seconds },
    { short: 'A', long: 'tryagain', value: S.seconds },
    { short: 'v' },
  ],
  refused: {
    '-s': SCRIPT, '--script': SCRIPT,
    '-p': file("the pidfile is pipework's"), '--pidfile': file("the pidfile is pipework's"),
    '-i': IFACE, '--interface': IFACE,
    '-f': STAYS, '--foreground': STAYS, '-b': STAYS, '--background': STAYS, '-q': STAYS, '--quit': STAYS, '-n': STAYS, '--now': STAYS,
    '-H': "pipework sends the guest's name as host name (to send another: -x hostname:NAME)",
    '-h': "pipework sends the guest's name as host name (to send another: -x hostname:NAME)",
    '--hostname': "pipework sends the guest's name as host name (to send another: -x hostname:NAME)",
    '-c': 'to send a client id, use -x 0x3d:HEX (or -C to send none)',
  },
  emit: (o, v) => (v === undefined ? [`-${o.short!}`] : o.optional === true ? [`-${o.short!}${v}`] : [`-${o.short!}`, v]),
};

const DHCLIENT: ClientRules = {
  client: 'dhclient',
  style: 'words',
  accepted: [
    { short: '-v' },
    { short: '-I' },
    { short: '-i' },
    { short: '-N' },
    { short: '-T' },
    { short: '-D', value: S.duid },
    { short: '-s', value: S.ip },
    { long: 'dad-wait-time', value: S.seconds },
    { long: 'prefix-len-hint', value: S.prefixLength },
    { long: 'decline-wait-time', value: S.seconds },
    { long: 'address-prefix-len', value: S.prefixLength },
  ],
  refused: {
    '-sf': SCRIPT,
    '-cf': file("the configuration is pipework's"), '-lf': file("the lease file is pipework's"),
    '-pf': file("the pidfile is pipework's"), '-df': file('a DUID file'),
    '-e': ENV,
    '-d': STAYS, '-nw': STAYS, '-w': STAYS, '-1': STAYS,
    '-4': FAMILY, '-6': FAMILY,
    '-x': OTHERS, '-r': OTHERS,
  },
  emit: (o, v) => [o.short ?? `--${o.long!}`, ...(v === undefined ? [] : [v])],
};

const DHCPCD: ClientRules = {
  client: 'dhcpcd',
  style: 'getopt',
  accepted: [
    { short: 'i', long: 'vendorclassid', value: S.vendorClass },
    { short: 'I', long: 'clientid', value: S.clientId },
    { short: 'l', long: 'leasetime', value: S.seconds },
    { short: 'r', long: 'request', value: S.ipv4 },
    { short: 'o', long: 'option', value: S.dhcpcdOptions },
    { short: 'O', long: 'nooption', value: S.dhcpcdOptions },
    { short: 'Q', long: 'require', value: S.dhcpcdOptions },
    { short: 'u', long: 'userclass', value: S.userClass },
    { short: 'v', long: 'vendor', value: S.dhcpcdVendor },
    { short: 'F', long: 'fqdn', value: S.fqdnMode },
    { short: 'h', long: 'hostname', value: S.hostName },
    { short: 'm', long: 'metric', value: S.count },
    { short: 'y', long: 'reboot', value: S.seconds },
    { short: 't', long: 'timeout', value: S.seconds },
    { short: 'A', long: 'noarp' },
    { short: 'J', long: 'broadcast' },
    { short: 'd', long: 'debug' },
  ],
  refused: {
    '-c': SCRIPT, '--script': SCRIPT,
    '-e': ENV, '--env': ENV,
    '-f': file("the configuration is the host's"), '--config': file("the configuration is the host's"),
    '-j': file("the log is pipework's"), '--logfile': file("the log is pipework's"),
    '-U': file('a lease to dump'), '--dumplease': file('a lease to dump'),
    '-p': STAYS, '--persistent': STAYS, '-b': STAYS, '--background': STAYS, '-B': STAYS, '--nobackground': STAYS,
    '-w': STAYS, '--waitip': STAYS, '-M': STAYS, '--master': STAYS, '-1': STAYS, '--oneshot': STAYS,
    '-4': FAMILY, '--ipv4only': FAMILY, '-6': FAMILY, '--ipv6only': FAMILY,
    '-x': OTHERS, '--exit': OTHERS, '-k': OTHERS, '--release': OTHERS, '-n': OTHERS, '--rebind': OTHERS,
    '-N': OTHERS, '--renew': OTHERS, '-g': OTHERS, '--reconfigure': OTHERS,
  },
  emit: (o, v) => [v === undefined ? `--${o.long!}` : `--${o.long!}=${v}`],
};

const RULES: Readonly<Record<DhcpClient, ClientRules>> = { udhcpc: UDHCPC, dhclient: DHCLIENT, dhcpcd: DHCPCD };

/** How an option is named in messages and the docs: its short form, else its long one. */
function nameOf(rules: ClientRules, o: Accepted): string {
  if (o.short !== undefined) return rules.style === 'words' ? o.short : `-${o.short}`;
  return `--${o.long!}`;
}

/** Each client's accepted options, as `-V VALUE` words, for the docs and --help. */
export function acceptedDhcpOptions(client: DhcpClient): string[] {
  const rules = RULES[client];
  return rules.accepted.map((o) => nameOf(rules, o));
}

// ---- the check ---------------------------------------------------------------------------------

/** A word as a message quotes it: 'word', or JSON when it holds anything unusual. */
function shown(word: string): string {
  return /^[\x21-\x26\x28-\x7e]*$/u.test(word) ? `'${word}'` : JSON.stringify(word);
}

/** An option name as typed, printable or quoted. */
function typed(name: string): string {
  return /^[\x21-\x7e]+$/u.test(name) ? name : JSON.stringify(name);
}

class Checker {
  private readonly out: string[] = [];
  constructor(private readonly rules: ClientRules) {}

  private refuse(name: string, word: string, why: string | undefined, note = ''): never {
    const inWord = word !== name ? ` (in ${shown(word)})` : '';
    const takes = `${this.rules.client} takes only ${acceptedDhcpOptions(this.rules.client).join(', ')}`;
    throw new InvalidArgumentError(`DHCP client option ${typed(name)}${note}${inWord} is not accepted${why !== undefined ? `: ${why}` : ''}; ${takes}`);
  }

  private notOption(word: string): never {
    throw new InvalidArgumentError(
      `${shown(word)} is not a DHCP client option: pipework passes only options to ${this.rules.client} (it would take other words as interface names)`,
    );
  }

  /** An accepted option and its value (undefined for a flag): checked, then passed on. */
  private take(o: Accepted, name: string, value: string | undefined): void {
    if (o.value !== undefined && (value !== undefined || o.optional !== true)) {
      if (value === undefined || !o.value.ok(value)) {
        const said = value === undefined ? '' : `${o.value.detail !== undefined ? ` (${o.value.detail})` : ''}, not ${shown(value)}`;
        throw new InvalidArgumentError(`DHCP client option ${name} needs ${o.value.what}${said}`);
      }
    }
    this.out.push(...this.rules.emit(o, value));
  }

  /** `--name[=value]`: an exact long name; an abbreviation is named with what it stands for. */
  private long(word: string, next: () => string | undefined): void {
    const eq = word.indexOf('=');
    const name = eq === -1 ? word : word.slice(0, eq);
    const o = this.rules.accepted.find((a) => a.long !== undefined && `--${a.long}` === name);
    if (o === undefined) {
      if (name === '--') this.refuse('--', word, 'the words after it would be interface names');
      if (this.rules.refused[name] !== undefined) this.refuse(name, name, this.rules.refused[name]);
      const stem = name.slice(2);
      const refusedLong = Object.keys(this.rules.refused).filter((r) => r.startsWith('--') && stem !== '' && r.startsWith(name));
      if (refusedLong.length > 0) this.refuse(name, name, this.rules.refused[refusedLong[0]!], ` (short for ${refusedLong[0]!})`);
      const acceptedLong = this.rules.accepted.filter((a) => a.long !== undefined && stem !== '' && `--${a.long}`.startsWith(name)).map((a) => `--${a.long!}`);
      if (acceptedLong.length > 0) this.refuse(name, name, `write it in full (${acceptedLong.join(' or ')})`);
      this.refuse(name, name, undefined);
    }
    if (o.value === undefined) {
      if (eq !== -1) throw new InvalidArgumentError(`DHCP client option ${name} takes no value`);
      this.take(o, name, undefined);
      return;
    }
    this.take(o, name, eq !== -1 ? word.slice(eq + 1) : o.optional === true ? undefined : next());
  }

  /** `-abc`: flags, then at most one letter that takes the rest of the word (or the next word). */
  private cluster(word: string, next: () => string | undefined): void {
    for (let j = 1; j < word.length; j++) {
      const letter = word[j]!;
      const name = `-${letter}`;
      const o = this.rules.accepted.find((a) => a.short === letter);
      if (o === undefined) this.refuse(name, word, this.rules.refused[name]);
      if (o.value === undefined) {
        this.take(o, name, undefined);
        continue;
      }
      const rest = word.slice(j + 1);
      this.take(o, name, rest !== '' ? rest : o.optional === true ? undefined : next());
      return;
    }
  }

  /** dhclient: one option per word, its value (if any) in the next word. */
  private word(word: string, next: () => string | undefined): void {
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const name = eq === -1 ? word : word.slice(0, eq);
    const o = this.rules.accepted.find((a) => nameOf(this.rules, a) === name);
    if (o === undefined) {
      if (this.rules.refused[name] !== undefined) this.refuse(name, word, this.rules.refused[name]);
      // A value glued to an option (-sf/x, -ePATH=…): named by the longest option it starts with.
      const known = [...Object.keys(this.rules.refused), ...this.rules.accepted.map((a) => nameOf(this.rules, a))]
        .filter((k) => word.startsWith(k) && word.length > k.length).sort((a, b) => b.length - a.length)[0];
      if (known !== undefined && this.rules.refused[known] !== undefined) this.refuse(known, word, this.rules.refused[known]);
      if (known !== undefined) this.refuse(word, word, `${this.rules.client} takes one option per word (and its value in the next word)`);
      this.refuse(word, word, undefined);
    }
    if (o.value === undefined) {
      if (eq !== -1) throw new InvalidArgumentError(`DHCP client option ${name} takes no value`);
      this.take(o, name, undefined);
      return;
    }
    this.take(o, name, eq !== -1 ? word.slice(eq + 1) : next());
  }

  run(words: readonly string[]): string[] {
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      const next = (): string | undefined => {
        const v = words[i + 1];
        if (v !== undefined) i++;
        return v;
      };
      if (!w.startsWith('-') || w === '-') this.notOption(w);
      if (this.rules.style === 'words') this.word(w, next);
      else if (w.startsWith('--')) this.long(w, next);
      else this.cluster(w, next);
    }
    return this.out;
  }
}

/**
 * The options `words` for `method`'s client, checked and in the form pipework passes them on;
 * an InvalidArgumentError of one line naming the first option refused and why.
 */
export function checkDhcpOptions(method: DhcpMethod, words: readonly string[]): string[] {
  return new Checker(RULES[dhcpClientOf(method)]).run(words);
}
