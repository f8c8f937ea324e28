/**
 * The validated model of a file, kept by the hash of its text (and of the program that
 * validated it), so that an apply of an unchanged file — the common re-apply — does not parse
 * and validate the YAML again: on a cold start the yaml package alone takes ~200 ms for a file
 * of 200 links, most of a second apply's budget. Only root's runs use it (the folder is root's,
 * on tmpfs); a cache that cannot be read or written is simply not used. Host checks are never
 * cached: they run on every apply.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { digest } from '../../model/hash.js';
import type { Topology } from './model.js';

export const MODEL_DIR = '/run/pipework/topology/models';
/** Entries kept; the oldest go first. */
const KEEP = 32;

/** What changes when the validating code does: the running file's size and mtime. */
function codeIdentity(): string {
  try {
    const st = statSync(fileURLToPath(import.meta.url));
    return `${st.size}/${st.mtimeMs}`;
  } catch {
    return 'unknown';
  }
}

export function modelKey(text: string): string {
  return digest('sha256', `topology-model-1\0${codeIdentity()}\0${text}`).toString('hex');
}

function encode(t: Topology): string {
  return JSON.stringify(t, (_k, v: unknown) => {
    if (v instanceof Map) return { __map: [...v.entries()] };
    if (typeof v === 'bigint') return { __big: v.toString() };
    return v;
  });
}

function decode(text: string): Topology {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && '__map' in v) return new Map((v as { __map: [string, unknown][] }).__map);
    if (v !== null && typeof v === 'object' && '__big' in v) return BigInt((v as { __big: string }).__big);
    return v;
  }) as Topology;
}

const usable = () => process.getuid?.() === 0;

export function cachedModel(text: string, file: string, dir = MODEL_DIR): Topology | undefined {
  if (!usable()) return undefined;
  try {
    const t = decode(readFileSync(`${dir}/${modelKey(text)}.json`, 'utf8'));
    return { ...t, file };
  } catch {
    return undefined;
  }
}

export function keepModel(text: string, topology: Topology, dir = MODEL_DIR): void {
  if (!usable()) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = `${dir}/${modelKey(text)}.json`;
    writeFileSync(`${path}.${process.pid}.tmp`, encode(topology), { mode: 0o600 });
    renameSync(`${path}.${process.pid}.tmp`, path);
    const entries = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => ({ f, t: statSync(`${dir}/${f}`).mtimeMs })).sort((a, b) => b.t - a.t);
    for (const { f } of entries.slice(KEEP)) rmSync(`${dir}/${f}`, { force: true });
  } catch {
    // a cache is a convenience
  }
}

/** Forget every model of this topology (destroy). */
export function forgetModels(name: string, dir = MODEL_DIR): void {
  try {
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        if (decode(readFileSync(`${dir}/${f}`, 'utf8')).name === name) rmSync(`${dir}/${f}`, { force: true });
      } catch {
        rmSync(`${dir}/${f}`, { force: true });
      }
    }
  } catch {
    // no cache
  }
}
