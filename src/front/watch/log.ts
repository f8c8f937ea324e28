/**
 * The watcher's log: one line per action. For people, on stderr; with --json, one JSON object per
 * line on stdout (time, runtime, container, id, interface, action, result, durationMs, …).
 */
import type { Runtime } from './options.js';

export type LogAction =
  /** The watcher itself: start, stop. */
  | 'watch'
  /** A runtime's event stream: connected, lost, unreachable. */
  | 'connect'
  /** A container's interfaces plumbed (or not). */
  | 'attach'
  /** A label or variable refused (policy) or malformed: the container is left alone. */
  | 'refuse'
  /** A label or variable inherited from the image, not trusted. */
  | 'ignore'
  /** What a dead container left on the host, cleaned. */
  | 'clean'
  /** A run waits for another pipework run (named) to let go of what it needs. */
  | 'wait';

export interface LogEntry {
  action: LogAction;
  result: string;
  runtime?: Runtime;
  container?: string;
  id?: string;
  /** The guest interface(s). */
  interface?: string;
  /** label pipework.eth1 / variable pipework_cmd. */
  source?: string;
  /** The label's or variable's value. */
  text?: string;
  hostIf?: string;
  addresses?: string[];
  durationMs?: number;
  /** From the runtime's event (its timestamp) to done: the interface up with its address. */
  sinceEventMs?: number;
  /** From the runtime's event to the start of the work on it (reading and waiting in line). */
  queuedMs?: number;
  /** What started it: start, die, list (the containers running when the watcher connected). */
  trigger?: string;
  message?: string;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** The line for people. Pure. */
export function humanLine(e: LogEntry): string {
  const name = e.container ?? e.id;
  const who = name !== undefined ? `${e.runtime ?? ''} ${name}: `.trimStart() : '';
  const took = e.durationMs !== undefined ? ` in ${Math.round(e.durationMs)} ms` : '';
  const why = e.message !== undefined ? `: ${e.message}` : '';
  switch (e.action) {
    case 'attach': {
      const what = `${e.interface ?? 'interfaces'}${e.hostIf !== undefined ? ` on ${e.hostIf}` : ''}${e.addresses && e.addresses.length > 0 ? ` (${e.addresses.join(', ')})` : ''}`;
      return `${who}${what}: ${e.result}${took}${why}`;
    }
    case 'refuse':
      return `${who}${e.source ?? 'label'}${e.text !== undefined ? ` ${JSON.stringify(e.text)}` : ''} ${e.result === 'invalid' ? 'is malformed' : 'is refused'}${why}; the container is left alone`;
    case 'ignore':
      return `${who}${e.source ?? 'label'} ${JSON.stringify(e.text ?? '')} is ignored${why}`;
    case 'clean':
      return `${who}${e.result === 'nothing' ? 'died; nothing of it was left on the host' : `died; ${e.message ?? e.result}`}${took}`;
    case 'connect':
    case 'watch':
    case 'wait':
      return `${who}${e.message ?? e.result}`;
  }
}

export interface Logger {
  log(entry: LogEntry): void;
}

export function makeLogger(json: boolean, write: (line: string, json: boolean) => void = defaultWrite): Logger {
  return {
    log(entry) {
      if (json) {
        const out: Record<string, unknown> = { time: new Date().toISOString(), ...entry };
        if (entry.durationMs !== undefined) out['durationMs'] = round(entry.durationMs);
        if (entry.sinceEventMs !== undefined) out['sinceEventMs'] = round(entry.sinceEventMs);
        if (entry.queuedMs !== undefined) out['queuedMs'] = round(entry.queuedMs);
        write(JSON.stringify(out), true);
      } else {
        write(`pipework watch: ${humanLine(entry)}`, false);
      }
    },
  };
}

function defaultWrite(line: string, json: boolean): void {
  (json ? process.stdout : process.stderr).write(`${line}\n`);
}
