/**
 * A runtime's event stream: GET /events over its unix socket with node:http, read as it comes
 * (newline-delimited JSON) — never paused by the work it causes: Docker skips a subscriber that
 * does not take a message within 100 ms. Filtering is ours (Podman's compat server matches no
 * `event=die` filter, and says `died` in newer versions).
 */
import { request, type ClientRequest } from 'node:http';
import { connectUnix } from '../../exec/unix-socket.js';
import { apiMessage } from '../../guest/runtime-api.js';

export type Action = 'start' | 'die';

export interface ContainerEvent {
  action: Action;
  id: string;
  /** The container's name and labels (flattened next to `name` and `image`). */
  attributes: Record<string, string>;
  /** The event's time in nanoseconds (exact: JSON numbers this big lose digits). */
  nano: bigint;
}

/** One line of the stream: a container event we act on, or just the time it carries. */
export interface ParsedLine {
  event?: ContainerEvent;
  nano?: bigint;
}

const ACTIONS: Record<string, Action> = { start: 'start', die: 'die', died: 'die' };

/** One JSON line of /events (Docker or Podman) → what we act on. Pure. */
export function parseEventLine(line: string): ParsedLine | undefined {
  let raw: { Type?: unknown; Action?: unknown; status?: unknown; id?: unknown; Actor?: { ID?: unknown; Attributes?: unknown }; time?: unknown };
  try {
    raw = JSON.parse(line) as typeof raw;
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  // timeNano is beyond 2^53: read its digits from the text itself.
  const m = /"timeNano"\s*:\s*(\d+)/u.exec(line);
  const nano = m ? BigInt(m[1]!) : typeof raw.time === 'number' ? BigInt(Math.trunc(raw.time)) * 1_000_000_000n : undefined;
  const out: ParsedLine = nano !== undefined ? { nano } : {};
  const type = raw.Type ?? 'container';
  const actionText = typeof raw.Action === 'string' ? raw.Action : typeof raw.status === 'string' ? raw.status : undefined;
  const action = actionText !== undefined ? ACTIONS[actionText] : undefined;
  const id = typeof raw.Actor?.ID === 'string' ? raw.Actor.ID : typeof raw.id === 'string' ? raw.id : undefined;
  if (type !== 'container' || action === undefined || id === undefined || !/^[0-9a-f]{12,64}$/u.test(id)) return out;
  const attributes: Record<string, string> = {};
  const attrs = raw.Actor?.Attributes;
  if (typeof attrs === 'object' && attrs !== null) {
    for (const [k, v] of Object.entries(attrs as Record<string, unknown>)) if (typeof v === 'string') attributes[k] = v;
  }
  out.event = { action, id, attributes, nano: nano ?? 0n };
  return out;
}

/** `since` as the Engine API takes it: seconds.nanoseconds. */
export function formatSince(nano: bigint): string {
  const s = nano / 1_000_000_000n;
  const ns = nano % 1_000_000_000n;
  return `${s}.${ns.toString().padStart(9, '0')}`;
}

/** Nanoseconds since the epoch, now. */
export function nowNano(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/**
 * The events seen lately, to drop those a resumed stream delivers again (`since` is inclusive,
 * and a resume starts a little earlier to catch events stamped out of order). Bounded.
 */
export class RecentEvents {
  private readonly keys = new Set<string>();
  private readonly order: string[] = [];
  constructor(private readonly max = 1024) {}

  /** True the first time an event is seen. */
  fresh(e: ContainerEvent): boolean {
    const key = `${e.id}/${e.action}/${e.nano}`;
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    this.order.push(key);
    if (this.order.length > this.max) this.keys.delete(this.order.shift()!);
    return true;
  }

  get size(): number {
    return this.keys.size;
  }
}

/** How far before the last event seen a resumed stream starts. */
export const RESUME_MARGIN_NS = 2_000_000_000n;

export interface EventStream {
  /** Resolves when the stream ends: with the reason (an error, or the daemon closing it). */
  readonly ended: Promise<string>;
  close(): void;
}

const MAX_LINE = 1 << 20;

/**
 * Subscribe to container events. Resolves once the runtime answered 200 (from then on nothing is
 * missed); rejects when it cannot be reached or refuses.
 */
export function openEventStream(socket: string, opts: { since?: bigint; onLine: (parsed: ParsedLine) => void }): Promise<EventStream> {
  const query = new URLSearchParams({ filters: JSON.stringify({ type: ['container'] }) });
  if (opts.since !== undefined) query.set('since', formatSince(opts.since));
  return new Promise((resolve, reject) => {
    let settled = false;
    let endReason: ((why: string) => void) | undefined;
    const ended = new Promise<string>((r) => { endReason = r; });
    let finished = false;
    const finish = (why: string) => {
      if (finished) return;
      finished = true;
      endReason!(why);
    };
    let req: ClientRequest | undefined = undefined;
    req = request({ path: `/events?${query.toString()}`, method: 'GET', headers: { Host: 'localhost' }, createConnection: () => connectUnix(socket) }, (res) => {
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d: string) => { if (body.length < 4096) body += d; });
        res.on('end', () => {
          settled = true;
          reject(new Error(`the events endpoint answered ${res.statusCode ?? 0}: ${apiMessage(body)}`));
        });
        return;
      }
      settled = true;
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line === '') continue;
          const parsed = parseEventLine(line);
          if (parsed !== undefined) opts.onLine(parsed);
        }
        if (buffer.length > MAX_LINE) {
          req?.destroy();
          finish('an event line longer than 1 MiB');
        }
      });
      res.on('end', () => finish('the daemon closed the stream'));
      res.on('close', () => finish('the stream closed'));
      res.on('error', (err) => finish(err.message));
      resolve({ ended, close: () => { finish('closed'); req?.destroy(); } });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!settled) {
        settled = true;
        reject(err);
      } else finish(err.code ?? err.message);
    });
    req.on('close', () => {
      if (!settled) {
        settled = true;
        reject(new Error('the connection closed before an answer'));
      }
      finish('the connection closed');
    });
    req.end();
  });
}
