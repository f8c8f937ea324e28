// What the watcher's unit tests share: a container as its runtime describes it, and the watcher's
// options from a command line.
import type { ContainerView } from '../../src/front/watch/asks.js';
import { parseWatchArgs, type WatchOptions } from '../../src/front/watch/options.js';

export const ID = 'ab'.repeat(32);

export function container(over: Partial<ContainerView> = {}): ContainerView {
  return { runtime: 'docker', id: ID, name: 'web_3', labels: {}, env: [], image: { labels: {}, env: [] }, ...over };
}

export function watchOpts(argv: string[]): WatchOptions {
  const r = parseWatchArgs(['watch', ...argv]);
  if (r.kind !== 'watch') throw new Error(`not a watch request: ${r.kind}`);
  return r;
}
