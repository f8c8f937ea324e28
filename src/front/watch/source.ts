/**
 * One runtime's socket, followed for as long as the watcher runs: subscribe to its events, then
 * list what runs (so nothing starts unseen between the two), and when the stream breaks — the
 * daemon restarted — subscribe again with backoff, resuming a little before the last event seen
 * (`since` is inclusive; the duplicates are dropped), and list again: a daemon that restarted
 * remembers no events, so the list is what catches up.
 */
import type { Logger } from './log.js';
import type { Runtime } from './options.js';
import { RESUME_MARGIN_NS, RecentEvents, nowNano, openEventStream, type ContainerEvent, type EventStream } from './stream.js';

export interface SourceInfo {
  runtime: Runtime;
  socket: string;
  /** Given on the command line (else a default socket that may never appear). */
  explicit: boolean;
}

export interface SourceHandlers {
  onEvent(source: SourceInfo, event: ContainerEvent): void;
  /** Subscribed: list and reconcile. A rejection drops the stream and tries again. */
  onConnected(source: SourceInfo, reconnect: boolean): Promise<void>;
}

export const BACKOFF_MIN_MS = 250;
export const BACKOFF_MAX_MS = 5_000;
/** A stream that lived this long was no flap: the next loss is retried quickly again. */
const STABLE_MS = 5_000;

/** The next wait after a failed attempt. Pure. */
export function nextBackoff(ms: number): number {
  return Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, ms * 2));
}

/**
 * Where a resumed stream starts: a little before the newest event seen, or before the previous
 * stream opened when it brought nothing newer. Nothing before a first stream. Pure.
 */
export function resumeFrom(lastEvent: bigint | undefined, lastOpened: bigint | undefined): bigint | undefined {
  if (lastOpened === undefined) return undefined;
  const newest = lastEvent !== undefined && lastEvent > lastOpened ? lastEvent : lastOpened;
  return newest - RESUME_MARGIN_NS;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function aborted(signal: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve('stopping');
    else signal.addEventListener('abort', () => resolve('stopping'), { once: true });
  });
}

export class Source {
  private readonly recent = new RecentEvents();
  /** The newest event time seen. */
  private lastEvent: bigint | undefined;
  /** When the last stream was opened (it covered everything from then on). */
  private lastOpened: bigint | undefined;
  private stream: EventStream | undefined;
  connected = false;

  constructor(readonly info: SourceInfo, private readonly handlers: SourceHandlers, private readonly logger: Logger) {}

  private what(): string {
    return `${this.info.runtime} at ${this.info.socket}`;
  }

  /** Follow the socket until `signal` is aborted. */
  async run(signal: AbortSignal): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    let reported = false;
    let everConnected = false;
    const stopping = aborted(signal);
    while (!signal.aborted) {
      const since = resumeFrom(this.lastEvent, this.lastOpened);
      const opened = nowNano();
      try {
        this.stream = await openEventStream(this.info.socket, { ...(since !== undefined && { since }), onLine: (p) => this.onLine(p) });
      } catch (err) {
        if (!reported) {
          const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
          const missing = why === 'ENOENT';
          this.logger.log({
            action: 'connect', result: 'unreachable', runtime: this.info.runtime,
            message: missing && !this.info.explicit && !everConnected
              ? `no ${this.what()} (not running); watching for it`
              : `cannot reach ${this.what()} (${why}); trying again with backoff`,
          });
          reported = true;
        }
        await sleep(backoff, signal);
        backoff = nextBackoff(backoff);
        continue;
      }
      if (signal.aborted) {
        this.stream.close();
        break;
      }
      this.lastOpened = opened;
      const connectedAt = performance.now();
      this.connected = true;
      reported = false;
      this.logger.log({ action: 'connect', result: everConnected ? 'reconnected' : 'connected', runtime: this.info.runtime, message: `${everConnected ? 'reconnected to' : 'watching'} ${this.what()}` });
      const reconnect = everConnected;
      everConnected = true;
      let why: string;
      try {
        await this.handlers.onConnected(this.info, reconnect);
        why = await Promise.race([this.stream.ended, stopping]);
      } catch (err) {
        why = `listing its containers failed: ${(err as Error).message}`;
      }
      this.stream.close();
      this.connected = false;
      if (signal.aborted) break;
      // A stream that lasted starts the backoff over; one that keeps breaking at once (a daemon
      // going up and down) is tried less and less often, and not re-listed in a tight loop.
      backoff = performance.now() - connectedAt >= STABLE_MS ? BACKOFF_MIN_MS : nextBackoff(backoff);
      this.logger.log({ action: 'connect', result: 'lost', runtime: this.info.runtime, message: `lost ${this.what()} (${why}); reconnecting` });
      await sleep(backoff, signal);
    }
    this.stream?.close();
  }

  private onLine(p: { event?: ContainerEvent; nano?: bigint }): void {
    if (p.nano !== undefined && (this.lastEvent === undefined || p.nano > this.lastEvent)) this.lastEvent = p.nano;
    if (p.event !== undefined && this.recent.fresh(p.event)) this.handlers.onEvent(this.info, p.event);
  }
}
