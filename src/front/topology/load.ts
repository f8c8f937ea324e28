/**
 * A topology file → its validated model: read, then taken from the cache of validated models
 * (cache.ts) or parsed (parse.ts). In the bundle the parser is a file of its own
 * (build/dist/topology-parse.js, with the yaml package and TypeBox), loaded only on a cache miss:
 * every other pipework command, and a re-apply of an unchanged file, does without them.
 */
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { InvalidArgumentError, NotFoundError, PipeworkError } from '../../model/errors.js';
import { cachedModel, keepModel } from './cache.js';
import type { Topology } from './model.js';
import { TopologyFileError, type Problem } from './problems.js';

export type Parser = typeof import('./parse.js');

/**
 * The parser module: its own bundle file beside build/dist/pipework.cjs (a script like the CLI's,
 * so required, not imported: bin/pipework compiles the CLI as a script with its code cache), or
 * the compiled module.
 */
export async function parser(): Promise<Parser> {
  if (import.meta.url.endsWith('/dist/pipework.cjs')) return createRequire(import.meta.url)('./topology-parse.cjs') as Parser;
  // (Not a literal: the bundler must not pull the parser into the CLI's bundle.)
  const compiled = './parse.js';
  return import(compiled) as Promise<Parser>;
}

/** Read and validate a topology file. */
export async function loadTopology(file: string): Promise<Topology> {
  const { topology, problems } = await readTopology(file);
  if (!topology || problems.length > 0) throw new TopologyFileError(file, problems);
  return topology;
}

/**
 * Read and validate a topology file: its model, or its problems with the part of the model that
 * resolved (parse.ts's parseText), for apply to list the host's problems with the file's.
 */
export async function readTopology(file: string): Promise<{ topology?: Topology; problems: Problem[] }> {
  let text: string;
  try {
    if (statSync(file).isDirectory()) throw new InvalidArgumentError(`${file} is a directory, not a topology file`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof PipeworkError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`topology file ${file} does not exist`);
    throw new InvalidArgumentError(`cannot read topology file ${file}: ${(err as Error).message}`);
  }
  const cached = cachedModel(text, file);
  if (cached) return { topology: cached, problems: [] };
  const read = (await parser()).parseText(text, file);
  if (read.topology && read.problems.length === 0) keepModel(text, read.topology);
  return read;
}
