/**
 * A run: one front door's request through the engine. It carries what the run may be asked to
 * stop by (an AbortSignal), how programs are started (a Runner a test can replace), and the
 * caches of what was read — so a long-lived process (the watcher) runs many, each fresh.
 */
import type { IpBackend } from '../exec/ip.js';
import { processRunner, type Runner } from '../exec/runner.js';
import { HostLinkCache } from '../host/links.js';
import type { OvsFacts, OvsPortRow } from '../host/ovs-facts.js';
import type { DockerIndex } from '../guest/docker-index.js';
import type { Journal } from './journal.js';
import type { HeldKeys } from './lock.js';

/** Test hook: make a step fail, to prove rollback everywhere (PIPEWORK_FAIL_STEP). */
export interface FailPoint {
  /** 0-based index of the plan among those of the run (the line of a batch). */
  job: number;
  /** 0-based step index in that plan. */
  step: number;
}

export interface RunContext {
  runner: Runner;
  /** How ip lines reach the kernel (the in-process netlink prototype only with the real runner). */
  ip: IpBackend;
  /** Aborted: start nothing new, let what runs finish (or stop what may be stopped), undo. */
  signal: AbortSignal;
  dryRun: boolean;
  failAt?: FailPoint;
  /** Called as plans finish (a batch's progress on a terminal). */
  onProgress?: (done: number, total: number) => void;
  /** How many guest processes run at once. */
  concurrency: number;
  cache: RunCache;
  /** What this run does, as another run waiting on its locks reads it ("attach netns:a eth1"). */
  purpose: string;
  /** Told when the run has to wait for another one (a line for stderr or a log). */
  onWait?: (line: string) => void;
  /**
   * The front door calls this once the run's changes are made for good: from then on a signal
   * no longer aborts it (src/front/signals.ts).
   */
  commit: () => void;
  /** The locks this run holds, so none of them stops it again (src/engine/lock.ts). */
  held: HeldKeys;
  /** A run of several stages: one undo journal for all of them (src/engine/journal.ts). */
  journal?: Journal;
}

export interface RunCache {
  hostLinks: HostLinkCache;
  /** Which programs are installed (src/exec/programs.ts). */
  programs: Map<string, boolean>;
  ovs?: Promise<OvsFacts>;
  /** Open vSwitch's port rows, read once a run. */
  ovsPorts?: Promise<Map<string, OvsPortRow>>;
  dockerIndex?: Promise<DockerIndex | undefined>;
}

export interface RunOptions {
  runner?: Runner;
  ip?: IpBackend;
  signal?: AbortSignal;
  dryRun?: boolean;
  failAt?: FailPoint;
  onProgress?: (done: number, total: number) => void;
  concurrency?: number;
  purpose?: string;
  onWait?: (line: string) => void;
  commit?: () => void;
}

function sayOnce(say: (line: string) => void): (line: string) => void {
  const said = new Set<string>();
  return (line) => {
    if (said.has(line)) return;
    said.add(line);
    say(line);
  };
}

/** How a run's ip lines go to the kernel: in-process (PIPEWORK_NETLINK=1) only with the real runner (tests' fakes see the lines). */
export function ipBackendFor(runner: Runner): IpBackend {
  return runner === processRunner && process.env['PIPEWORK_NETLINK'] === '1' ? 'netlink' : 'iproute2';
}

export function newRun(options: RunOptions = {}): RunContext {
  return {
    runner: options.runner ?? processRunner,
    ip: options.ip ?? ipBackendFor(options.runner ?? processRunner),
    signal: options.signal ?? new AbortController().signal,
    dryRun: options.dryRun ?? false,
    ...(options.failAt && { failAt: options.failAt }),
    ...(options.onProgress && { onProgress: options.onProgress }),
    concurrency: options.concurrency ?? 8,
    purpose: options.purpose ?? 'a pipework run',
    // Said once a run for each holder and thing (a run takes its host locks again at each wave).
    ...(options.onWait && { onWait: sayOnce(options.onWait) }),
    commit: options.commit ?? (() => undefined),
    held: new Map(),
    cache: { hostLinks: new HostLinkCache(), programs: new Map() },
  };
}

/**
 * PIPEWORK_FAIL_STEP=N makes step N (1-based) of the first plan fail; =K:N step N of the K-th
 * plan of a run (a batch's K-th line, counted from 1).
 */
export function failPointFromEnv(env: NodeJS.ProcessEnv = process.env): FailPoint | undefined {
  const v = env['PIPEWORK_FAIL_STEP'];
  const m = v === undefined ? null : /^(?:(\d+):)?(\d+)$/u.exec(v);
  if (!m) return undefined;
  const job = m[1] === undefined ? 1 : Number(m[1]);
  const step = Number(m[2]);
  return job >= 1 && step >= 1 ? { job: job - 1, step: step - 1 } : undefined;
}
