/**
 * What a container asks for: its `pipework.<ifname>` labels and the fork's `pipework_cmd*`
 * environment variables, each turned into a classic attach request through the classic grammar
 * (src/front/classic/grammar.ts). Pure: the container as the runtime describes it in, requests and
 * the reasons for refusing the others out.
 */
import { PipeworkError, UsageError } from '../../model/errors.js';
import { ifNameProblem } from '../../model/ifname.js';
import { parseCommandLine } from '../classic/grammar.js';
import type { AttachRequest } from '../classic/request.js';
import { splitWords } from '../classic/words.js';
import type { Runtime } from './options.js';

export const LABEL_PREFIX = 'pipework.';
/** The fork's variables: any whose name contains this (pipework_cmd, pipework_cmd_eth1, …). */
export const ENV_MARK = 'pipework_cmd';

/** A container as its runtime's inspect describes it. */
export interface ContainerView {
  runtime: Runtime;
  /** Full id. */
  id: string;
  /** Without Docker's leading '/'. */
  name: string;
  labels: Record<string, string>;
  /** `NAME=value` entries. */
  env: string[];
  hostname?: string;
  /** What its image carries; undefined: the image could not be read (so nothing can be told apart). */
  image?: { labels: Record<string, string>; env: string[] };
}

/** One interface a container asks for. */
export interface Ask {
  /** `label pipework.eth1` or `variable pipework_cmd_eth1`: what log lines name. */
  source: string;
  /** The label's or variable's value, as written. */
  text: string;
  request: AttachRequest;
}

export interface Problem {
  source: string;
  text: string;
  why: string;
}

export interface ContainerAsks {
  asks: Ask[];
  /** Malformed or not acceptable from a container: the container is left alone. */
  problems: Problem[];
  /** Inherited from the image, and image labels are not trusted: ignored. */
  inherited: Problem[];
}

/** Does the container carry anything for pipework (before looking at its image)? */
export function asksForPipework(labels: Record<string, string>, env: readonly string[]): boolean {
  return Object.keys(labels).some((k) => k.startsWith(LABEL_PREFIX)) || env.some((e) => envName(e).includes(ENV_MARK));
}

function envName(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/** Options a label may carry (the interface comes from the key, the guest is the container). */
const LABEL_OPTIONS = /^(--direct-phys|-a|-a[46]|-a=[46]|--dhcp-timeout|--dhcp-timeout=.*)$/su;
/** A pipework_cmd line may also name the interface (-i; eth1 by default). */
const ENV_OPTIONS = /^(--direct-phys|-a|-a[46]|-a=[46]|-i|-i.+|--dhcp-timeout|--dhcp-timeout=.*)$/su;
/** These take the next word as their value when written alone. */
const TAKES_VALUE = new Set(['-a', '-i', '--dhcp-timeout']);

/** Why an option is not taken from a container. */
function refusedOption(word: string, inLabel: boolean): string {
  if (/^-i/u.test(word)) return `-i is not used in a label: the interface is the label's key (${LABEL_PREFIX}<ifname>)`;
  if (/^-l/u.test(word)) return '-l is not accepted from a container: it names a link on the host';
  if (word === '--replace') return '--replace is not accepted from a container';
  // The helper runs that image's code with NET_ADMIN in the container's namespaces.
  if (/^--dhcp-image(=|$)/u.test(word)) return "--dhcp-image is not accepted from a container: the helper image is the operator's choice (pipework watch --dhcp-image)";
  return `option ${word} is not accepted ${inLabel ? 'in a label' : 'in a pipework_cmd variable'} (only --direct-phys, -a and --dhcp-timeout${inLabel ? '' : ', -i'})`;
}

/** Refuse the options a container may not use. */
function checkOptions(words: readonly string[], inLabel: boolean): void {
  const allowed = inLabel ? LABEL_OPTIONS : ENV_OPTIONS;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') throw new UsageError("'--' is not accepted from a container");
    if (!w.startsWith('-') || w.length === 1) continue;
    if (!allowed.test(w)) throw new UsageError(refusedOption(w, inLabel));
    if (TAKES_VALUE.has(w)) i++;
  }
}

/** The label's words with the guest put after the host interface (the first word that is no option). */
function withGuest(words: readonly string[], guest: string): string[] {
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w.startsWith('-') && w.length > 1) {
      if (TAKES_VALUE.has(w)) i++;
      continue;
    }
    return [...words.slice(0, i + 1), guest, ...words.slice(i + 1)];
  }
  throw new UsageError('no host interface');
}

function attachOf(argv: string[], shape: string): AttachRequest {
  let request;
  try {
    request = parseCommandLine(argv);
  } catch (err) {
    if (err instanceof UsageError && err.showSyntax) throw new UsageError(`too few words: expected ${shape}`);
    throw err;
  }
  if (request.kind !== 'attach') throw new UsageError(`not an attach line: expected ${shape}`);
  return request;
}

const LABEL_SHAPE = "'<hostif> <address|dhcp-method> [<mac>][@<vlan>]'";
const ENV_SHAPE = "a classic line: '<hostif> [-i <guestif>] <guest> <address|dhcp-method> [<mac>][@<vlan>]'";

/** The guest word the requests carry: the container itself, by runtime and full id. */
export function guestWord(c: Pick<ContainerView, 'runtime' | 'id'>): string {
  return `${c.runtime}:${c.id}`;
}

/** `pipework.<ifname>=<value>` → a request for that interface of this container. */
export function labelRequest(c: ContainerView, key: string, value: string): AttachRequest {
  const ifname = key.slice(LABEL_PREFIX.length);
  const problem = ifNameProblem(ifname);
  if (problem !== undefined) throw new UsageError(`'${ifname}' after '${LABEL_PREFIX}' is not an interface name: it ${problem}`);
  const words = splitWords(value);
  if (words.length === 0) throw new UsageError(`the value is empty: expected ${LABEL_SHAPE}`);
  checkOptions(words, true);
  return attachOf([...withGuest(words, guestWord(c)), '-i', ifname], LABEL_SHAPE);
}

/** The number at the end of the name's last run of digits (web_3 → 3, app-12-x → 12). */
export function instanceOf(name: string): string | undefined {
  const all = name.match(/\d+/gu);
  return all === null ? undefined : String(Number(all[all.length - 1]));
}

/** The fork's macros, replaced in a pipework_cmd line. */
export function expandMacros(text: string, c: ContainerView): string {
  return text.replace(/@([A-Z][A-Z_]*)@/gu, (whole, macro: string) => {
    switch (macro) {
      case 'CONTAINER_NAME':
        return c.name;
      case 'CONTAINER_ID':
        return c.id;
      case 'INSTANCE': {
        const n = instanceOf(c.name);
        if (n === undefined) throw new UsageError(`@INSTANCE@ is the last number in the container's name, and ${c.name} has none`);
        return n;
      }
      case 'HOSTNAME':
        if (c.hostname === undefined || c.hostname === '') throw new UsageError('@HOSTNAME@: the container has no hostname');
        return c.hostname;
      case 'COMPOSE_PROJECT_NAME': {
        const p = c.labels['com.docker.compose.project'];
        if (p === undefined) throw new UsageError('@COMPOSE_PROJECT_NAME@: the container is not part of a compose project');
        return p;
      }
      default:
        throw new UsageError(`unknown macro ${whole} (known: @CONTAINER_NAME@, @CONTAINER_ID@, @INSTANCE@, @HOSTNAME@, @COMPOSE_PROJECT_NAME@)`);
    }
  });
}

/** Does a guest word of a pipework_cmd line name this container? */
function namesContainer(word: string, c: ContainerView): boolean {
  const colon = word.indexOf(':');
  let ref = word;
  if (colon > 0) {
    if (word.slice(0, colon) !== c.runtime) return false;
    ref = word.slice(colon + 1);
  }
  ref = ref.replace(/^\//u, '');
  return ref === c.name || ref === c.id || (ref.length >= 12 && /^[0-9a-f]+$/u.test(ref) && c.id.startsWith(ref));
}

/** A pipework_cmd line → a request for this container (the line's guest must be this container). */
export function envRequest(c: ContainerView, value: string): AttachRequest {
  let words = splitWords(expandMacros(value, c));
  if (words[0] === 'pipework') words = words.slice(1);
  if (words.length === 0) throw new UsageError(`the value is empty: expected ${ENV_SHAPE}`);
  checkOptions(words, false);
  const request = attachOf(words, ENV_SHAPE);
  if (!namesContainer(request.guest, c)) {
    throw new UsageError(`it names the guest '${request.guest}', not this container (${c.name}); write @CONTAINER_NAME@`);
  }
  return { ...request, guest: guestWord(c) };
}

function whyOf(err: unknown): string {
  if (err instanceof PipeworkError) return err.message;
  throw err;
}

/** Every label and variable of the container: requests, problems, and what came from the image. */
export function readAsks(c: ContainerView, trustImage: boolean): ContainerAsks {
  const out: ContainerAsks = { asks: [], problems: [], inherited: [] };
  const fromImage = (own: boolean) => !trustImage && !own;
  for (const [key, value] of Object.entries(c.labels).sort(([a], [b]) => a.localeCompare(b))) {
    if (!key.startsWith(LABEL_PREFIX)) continue;
    const source = `label ${key}`;
    // Docker and Podman copy the image's labels onto the container; one the container was given
    // (even with another value) is its own.
    if (fromImage(c.image !== undefined && c.image.labels[key] !== value)) {
      out.inherited.push({ source, text: value, why: c.image === undefined ? 'its image could not be read, so it may come from the image' : 'it comes from the image' });
      continue;
    }
    try {
      out.asks.push({ source, text: value, request: labelRequest(c, key, value) });
    } catch (err) {
      out.problems.push({ source, text: value, why: whyOf(err) });
    }
  }
  for (const entry of c.env) {
    const name = envName(entry);
    if (!name.includes(ENV_MARK)) continue;
    const value = entry.slice(name.length + 1);
    const source = `variable ${name}`;
    if (fromImage(c.image !== undefined && !c.image.env.includes(entry))) {
      out.inherited.push({ source, text: value, why: c.image === undefined ? 'its image could not be read, so it may come from the image' : 'it comes from the image' });
      continue;
    }
    try {
      out.asks.push({ source, text: value, request: envRequest(c, value) });
    } catch (err) {
      out.problems.push({ source, text: value, why: whyOf(err) });
    }
  }
  return out;
}
