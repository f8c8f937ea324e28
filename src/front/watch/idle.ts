/**
 * A full garbage collection once the watcher has been idle for a while after some work. V8 is
 * lazy with the old generation of a long-lived process: between its own collections, garbage
 * of thousands of engine runs piles up (the heap in use stays ~8 MB, what it holds climbs by
 * tens of MB). One collection when nothing is going on (~10 ms for this heap) gives it back.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's collector, exposed to a fresh context only; undefined where it cannot be. */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

export class IdleCollector {
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private readonly gc = collector();
  collections = 0;

  constructor(private readonly idle: () => boolean, private readonly afterMs = 3_000) {}

  /** Some work ended: collect once nothing has run for `afterMs`. */
  touch(): void {
    if (this.gc === undefined) return;
    this.dirty = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.dirty || !this.idle()) return; // still busy: the next work that ends tries again
      this.dirty = false;
      this.collections++;
      this.gc!();
    }, this.afterMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
