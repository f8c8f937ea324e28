/**
 * The reference for `pipework destroy` in bench/topology.ts: what a `pipework batch` of 200 del
 * lines would cost if batch had del lines — one process, the engine's own detach for every guest,
 * as many at a time as batch runs guests (8). bench/topology.ts bundles it like bin/pipework.
 *
 *   node topology-del.js NS1 NS2 …   (named netns; removes what the command line plumbed there)
 */
import { newRun } from '../src/engine/context.js';
import { detach } from '../src/engine/detach.js';
import { mapLimit } from '../src/engine/pool.js';
import { ownerFilter } from '../src/model/owner.js';

const names = process.argv.slice(2);
const ctx = newRun();
await mapLimit(names, ctx.concurrency, (name) => detach({ guest: { kind: 'netns', name }, which: { all: true }, owner: ownerFilter('cli'), ownerName: 'cli' }, ctx));
process.stdout.write(`${names.length} guests detached\n`);
