/**
 * Work per container, in order, never behind another container's: one small queue per container
 * (a start, then a die, then a start again…), all of them running side by side, with a bound on
 * how many engine runs go at once. Coalesced, so a container has at most a die and a start
 * waiting: a second start waiting behind nothing new is the same start; a die makes any start
 * still waiting pointless, and stops (undoes) the one running.
 */

export type TaskKind = 'start' | 'die';

export interface Task<T> {
  kind: TaskKind;
  data: T;
}

interface Lane<T> {
  running?: { task: Task<T>; controller: AbortController };
  pending: Task<T>[];
}

export type Worker<T> = (key: string, task: Task<T>, signal: AbortSignal) => Promise<void>;

export class KeyedQueue<T> {
  private readonly lanes = new Map<string, Lane<T>>();
  private idleWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly worker: Worker<T>, private readonly onCrash: (key: string, err: unknown) => void) {}

  push(key: string, task: Task<T>): void {
    if (this.stopped) return;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { pending: [] };
      this.lanes.set(key, lane);
    }
    if (task.kind === 'start') {
      // A start already waiting (not behind a die) is the same start: it keeps what it came with.
      if (lane.pending[lane.pending.length - 1]?.kind !== 'start') lane.pending.push(task);
    } else {
      lane.pending = lane.pending.filter((t) => t.kind !== 'start');
      const die = lane.pending.find((t) => t.kind === 'die');
      if (die) die.data = task.data;
      else lane.pending.push(task);
      if (lane.running?.task.kind === 'start') lane.running.controller.abort('the container died');
    }
    this.pump(key, lane);
  }

  private pump(key: string, lane: Lane<T>): void {
    if (lane.running || this.stopped) return;
    const task = lane.pending.shift();
    if (!task) {
      this.lanes.delete(key);
      if (this.lanes.size === 0) for (const w of this.idleWaiters.splice(0)) w();
      return;
    }
    const controller = new AbortController();
    lane.running = { task, controller };
    void this.worker(key, task, controller.signal)
      .catch((err: unknown) => this.onCrash(key, err))
      .finally(() => {
        lane.running = undefined;
        if (this.stopped) {
          this.lanes.delete(key);
          if (this.lanes.size === 0) for (const w of this.idleWaiters.splice(0)) w();
          return;
        }
        this.pump(key, lane);
      });
  }

  /** Resolves once nothing runs or waits. */
  idle(): Promise<void> {
    if (this.lanes.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Take nothing more; drop what waits; stop (undo) what runs. `idle()` tells when it has. */
  stop(reason: string): void {
    this.stopped = true;
    for (const [key, lane] of this.lanes) {
      lane.pending = [];
      if (lane.running) lane.running.controller.abort(reason);
      else this.lanes.delete(key);
    }
    if (this.lanes.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Containers with work running or waiting. */
  get size(): number {
    return this.lanes.size;
  }

  /** What waits for one container (tests). */
  pendingOf(key: string): TaskKind[] {
    return this.lanes.get(key)?.pending.map((t) => t.kind) ?? [];
  }
}

/** At most `limit` at once; the others wait their turn in order. */
export class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async use<R>(fn: () => Promise<R>): Promise<R> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  get busy(): number {
    return this.active;
  }
}
