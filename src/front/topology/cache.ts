/**
 * The validated model of a file, kept by the hash of its text (and of the program that
 * validated it), so that an apply of an unchanged file — the common re-apply — does not parse
 * and validate the YAML again: on a cold start the yaml package alone takes ~200 ms for a file
 * of 200 links, most of a second apply's budget. Only root's runs use it (the folder is root's,
 * on tmpfs); a cache that cannot be read or written is simply not used. Host checks are never
 * cached: they run on every apply.
 *
 * One model per topology: an entry is `<key>.<name>.json`, and writing a topology's model
 * removes the one before it (an edit cycle does not pile up entries), destroy removes it; at most
 * KEEP topologies are kept, the least recently written go first.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Topology } from './model.js';

export const MODEL_DIR = '/run/pipework/topology/models';
/** Topologies whose models are kept; the least recently written go first. */
const KEEP = 32;
/** A topology's name as it appears in an entry's file name (NAME_PATTERN, model.ts). */
const ENTRY = /^([0-9a-f]{16})\.([a-z0-9][a-z0-9-]{0,15})\.json$/u;

/** The entry file of a model. */
export function entryName(key: string, name: string): string {
  return `${key}.${name}.json`;
}

/** What changes when the validating code does: the running file's size and mtime. */
function codeIdentity(): string {
  try {
    const st = statSync(fileURLToPath(import.meta.url));
    return `${st.size}/${st.mtimeMs}`;
  } catch {
    return 'unknown';
  }
}

/**
 * Where a text's model is kept: a cheap hash (FNV-1a, 2×32 bits) of the code's identity and the
 * text — node:crypto would cost a start-up more than the whole lookup. A collision cannot give a
 * wrong model: an entry holds its text, compared in full.
 */
export function modelKey(text: string): string {
  const input = `topology-model-2\0${codeIdentity()}\0${text}`;
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ input.length;
  for (let i = 0; i < input.length; i++) {
    const c = input.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c ^ (a >>> 7), 0x5bd1e995) >>> 0;
  }
  return `${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}`;
}

interface Entry {
  text: string;
  name: string;
  networks: [string, Network][];
  guests: [string, TopologyGuest][];
  links: Topology['links'];
  hosts?: [string, Host][];
}

type Network = Topology['networks'] extends Map<string, infer N> ? N : never;
type TopologyGuest = Topology['guests'] extends Map<string, infer G> ? G : never;
type Host = NonNullable<Topology['hosts']> extends Map<string, infer H> ? H : never;

function encode(text: string, t: Topology): string {
  // Subnets' base addresses are bigints: kept as text.
  const networks = [...t.networks].map(([k, n]) => [k, n.subnet ? { ...n, subnet: { ...n.subnet, base: n.subnet.base.toString() } } : n]);
  return JSON.stringify({ text, name: t.name, networks, guests: [...t.guests], links: t.links, ...(t.hosts && { hosts: [...t.hosts] }) });
}

/** A plain JSON.parse (no reviver: that alone would cost more than the parse). */
function decode(json: string): Entry {
  const e = JSON.parse(json) as Entry;
  for (const [, n] of e.networks) if (n.subnet) n.subnet.base = BigInt(n.subnet.base);
  return e;
}

const usable = () => process.getuid?.() === 0;

/** The entry of a key, if there is one (its file name holds the key and the topology's name). */
function entryOf(key: string, dir: string): string | undefined {
  return readdirSync(dir).find((f) => f.startsWith(`${key}.`) && ENTRY.test(f));
}

export function cachedModel(text: string, file: string, dir = MODEL_DIR): Topology | undefined {
  if (!usable()) return undefined;
  try {
    const entry = entryOf(modelKey(text), dir);
    if (entry === undefined) return undefined;
    const e = decode(readFileSync(`${dir}/${entry}`, 'utf8'));
    if (e.text !== text) return undefined;
    return { name: e.name, file, networks: new Map(e.networks), guests: new Map(e.guests), links: e.links, ...(e.hosts && { hosts: new Map(e.hosts) }) };
  } catch {
    return undefined;
  }
}

export function keepModel(text: string, topology: Topology, dir = MODEL_DIR): void {
  if (!usable() || !/^[a-z0-9][a-z0-9-]{0,15}$/u.test(topology.name)) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const mine = entryName(modelKey(text), topology.name);
    const path = `${dir}/${mine}`;
    writeFileSync(`${path}.${process.pid}.tmp`, encode(text, topology), { mode: 0o600 });
    renameSync(`${path}.${process.pid}.tmp`, path);
    // This topology's model before this one goes; so do entries of another form (an older
    // pipework's `<key>.json`: their key cannot match this program's), and the topologies
    // beyond KEEP, least recently written first.
    const others: { f: string; t: number }[] = [];
    for (const f of readdirSync(dir)) {
      if (f === mine || !f.endsWith('.json')) continue;
      const m = ENTRY.exec(f);
      if (m === null || m[2] === topology.name) rmSync(`${dir}/${f}`, { force: true });
      else others.push({ f, t: statSync(`${dir}/${f}`).mtimeMs });
    }
    others.sort((a, b) => b.t - a.t);
    for (const { f } of others.slice(KEEP - 1)) rmSync(`${dir}/${f}`, { force: true });
  } catch {
    // a cache is a convenience
  }
}

/** Forget the model of this topology (destroy). */
export function forgetModels(name: string, dir = MODEL_DIR): void {
  try {
    for (const f of readdirSync(dir)) if (ENTRY.exec(f)?.[2] === name) rmSync(`${dir}/${f}`, { force: true });
  } catch {
    // no cache
  }
}
