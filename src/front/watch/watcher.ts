/**
 * The watcher: runtime events → per-container work → the engine. A start inspects the container,
 * reads what it asks for (asks.ts), checks who may ask (policy.ts) and plumbs every interface in
 * one `attachSpecs` run (all or none); a die stops what the container left running (DHCP clients)
 * and cleans what it left on the host (`cleanStale`: OVS rows, NICs given back). Each run has its
 * own RunContext, stopped by the container's death or by the watcher's.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { attachSpecs, type AttachOutcome } from '../../engine/attach.js';
import { failPointFromEnv, newRun, type FailPoint, type RunContext } from '../../engine/context.js';
import { cleanStale, findLeftovers } from '../../engine/remove.js';
import type { Runner } from '../../exec/runner.js';
import { pokeSupervisor } from '../../dhcp/supervisor.js';
import { NotOwnNetnsError } from '../../guest/exclusive.js';
import { PipeworkError } from '../../model/errors.js';
import { decodeRecord, recordAddresses } from '../../model/record.js';
import type { AttachSpec } from '../../model/attach-spec.js';
import { classicSpec } from '../classic/spec.js';
import { ImageCache, RuntimeDownError, inspectContainer, listRunning } from './api.js';
import { LABEL_PREFIX, asksForPipework, readAsks, type Ask, type Problem } from './asks.js';
import type { LogEntry, Logger } from './log.js';
import type { Runtime, WatchOptions } from './options.js';
import { narrowSpec } from './narrow.js';
import { policyOf, refuseRequest, refuseSpec, type Policy } from './policy.js';
import { IdleCollector } from './idle.js';
import { KeyedQueue, Slots, type Task } from './queue.js';
import { Source, type SourceInfo } from './source.js';
import { nowNano, type ContainerEvent } from './stream.js';

const WATCH_OWNER = { kind: 'watch' } as const;
/** Engine runs at once (the host's own changes are serialized by the engine's host lock anyway). */
const CONCURRENCY = 8;
/** Runtime API calls at once (a re-list on a busy host inspects every running container). */
const API_CONCURRENCY = 16;
/** How long a die waits for the kernel to tear the container's namespace down. */
const GONE_TIMEOUT_MS = 5_000;

type LogBase = Pick<LogEntry, 'runtime' | 'container' | 'id' | 'trigger'>;
/** A label or variable not acted on: malformed (`invalid`), or not this watcher's to serve. */
type Refusal = Problem & { invalid: boolean };

interface Job {
  source: SourceInfo;
  trigger: 'start' | 'die' | 'list' | 'sweep';
  event?: ContainerEvent;
  /** A die of a container this watcher did not plumb: its name, from the event. */
  name?: string;
}

/** What this watcher plumbed in a running container: what to wait for and clean when it dies. */
interface Plumbed {
  name: string;
  /** Host ends of veth pairs: gone once the namespace is. */
  hostEnds: string[];
  /** NICs moved in (--direct-phys): back on the host once the namespace is gone. */
  nics: { nsInode: number; guestIf: string }[];
  dhcp: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A NIC carrying this guest interface's record is back on the host. */
function nicBack(nic: { nsInode: number; guestIf: string }): boolean {
  let names: string[];
  try {
    names = readdirSync('/sys/class/net');
  } catch {
    return true;
  }
  return names.some((n) => {
    try {
      const r = decodeRecord(readFileSync(`/sys/class/net/${n}/ifalias`, 'utf8').trim());
      return r?.role === 'guest' && r.nsInode === nic.nsInode && r.guestIf === nic.guestIf;
    } catch {
      return false;
    }
  });
}

export class Watcher {
  private readonly stopping = new AbortController();
  private readonly queue: KeyedQueue<Job>;
  private readonly slots = new Slots(CONCURRENCY);
  private readonly apiSlots = new Slots(API_CONCURRENCY);
  private readonly plumbed = new Map<string, Plumbed>();
  private readonly images = new ImageCache();
  private readonly policy: Policy;
  private readonly sources: Source[];
  /** A full GC once the work has stopped for a while: memory stays flat over thousands of containers. */
  private readonly collector: IdleCollector;
  /** PIPEWORK_FAIL_STEP, the engine's test hook: make a step of every container's run fail. */
  private readonly failAt: FailPoint | undefined = failPointFromEnv();
  /** Containers that could not be plumbed (--once exits 1). */
  failures = 0;

  constructor(private readonly options: WatchOptions, sources: SourceInfo[], private readonly logger: Logger, private readonly runner?: Runner) {
    this.policy = policyOf(options);
    this.collector = new IdleCollector(() => this.queue.size === 0);
    this.queue = new KeyedQueue<Job>((key, task, signal) => this.work(key, task, signal).finally(() => this.collector.touch()), (key, err) => {
      this.logger.log({ action: 'watch', result: 'error', message: `internal error on ${key}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
    });
    this.sources = sources.map((info) => new Source(info, {
      onEvent: (src, e) => this.onEvent(src, e),
      onConnected: (src) => this.reconcile(src),
    }, logger));
  }

  /** Follow every source until stop(). */
  async run(): Promise<void> {
    await Promise.all(this.sources.map((s) => s.run(this.stopping.signal)));
    await this.queue.idle();
  }

  /**
   * --once: reconcile what each reachable runtime runs now, wait for it, and say whether a
   * runtime named on the command line could not be asked.
   */
  async once(): Promise<void> {
    let reached = 0;
    for (const s of this.sources) {
      try {
        await this.reconcile(s.info);
        reached++;
      } catch (err) {
        if (!(err instanceof RuntimeDownError)) throw err;
        if (s.info.explicit) {
          this.failures++;
          this.logger.log({ action: 'connect', result: 'unreachable', runtime: s.info.runtime, message: `cannot reach ${s.info.runtime} at ${s.info.socket}: ${err.message}` });
        } else {
          this.logger.log({ action: 'connect', result: 'absent', runtime: s.info.runtime, message: `no ${s.info.runtime} at ${s.info.socket}; skipped` });
        }
      }
    }
    if (reached === 0 && this.failures === 0) {
      this.failures++;
      this.logger.log({ action: 'watch', result: 'error', message: 'no container engine answered: nothing to reconcile' });
    }
    await this.queue.idle();
  }

  /** SIGTERM: take nothing new, stop (undo) what runs, let the cleanups in flight finish. */
  stop(reason: string): Promise<void> {
    this.stopping.abort(reason);
    this.collector.stop();
    this.queue.stop(reason);
    return this.queue.idle();
  }

  /** SIGHUP: list every connected runtime's containers again. */
  relist(): void {
    for (const s of this.sources) if (s.connected) this.reconcile(s.info).catch((err: unknown) => {
      this.logger.log({ action: 'connect', result: 'error', runtime: s.info.runtime, message: `listing its containers failed: ${messageOf(err)}` });
    });
  }

  private key(runtime: Runtime, id: string): string {
    return `${runtime}/${id}`;
  }

  private onEvent(source: SourceInfo, e: ContainerEvent): void {
    const key = this.key(source.runtime, e.id);
    // Every die is queued: it stops a start still running for that container (one asking only
    // through its environment shows nothing in the event), and is dropped at once if none was.
    if (e.action === 'start') this.queue.push(key, { kind: 'start', data: { source, trigger: 'start', event: e } });
    else this.queue.push(key, { kind: 'die', data: { source, trigger: 'die', event: e, ...(e.attributes['name'] !== undefined && { name: e.attributes['name'] }) } });
  }

  /** On (re)connect: plumb what runs (idempotent), clean up after what died meanwhile. */
  private async reconcile(source: SourceInfo): Promise<void> {
    const running = await listRunning(source.runtime, source.socket);
    const ids = new Set(running);
    for (const id of running) this.queue.push(this.key(source.runtime, id), { kind: 'start', data: { source, trigger: 'list' } });
    for (const key of this.plumbed.keys()) {
      const [runtime, id] = key.split('/') as [Runtime, string];
      if (runtime === source.runtime && !ids.has(id)) this.queue.push(key, { kind: 'die', data: { source, trigger: 'list' } });
    }
    // What this watcher's containers left while no watcher ran (a row whose device is gone).
    this.queue.push('sweep', { kind: 'die', data: { source, trigger: 'sweep' } });
  }

  private async work(key: string, task: Task<Job>, signal: AbortSignal): Promise<void> {
    const job = task.data;
    if (job.trigger === 'sweep') return this.sweep();
    const id = key.slice(key.indexOf('/') + 1);
    if (task.kind === 'start') return this.plumb(key, id, job, signal);
    return this.clean(key, id, job, signal);
  }

  /** What a started container asks for, read and judged; undefined: nothing for pipework (or gone). */
  private async read(id: string, job: Job): Promise<{ base: LogBase; name: string; asks: Ask[]; refused: Refusal[] } | undefined> {
    const { runtime, socket } = job.source;
    let inspected;
    try {
      inspected = await this.apiSlots.use(() => inspectContainer(runtime, socket, id));
    } catch (err) {
      // Its stream broke too: the re-list after reconnecting plumbs it.
      if (err instanceof RuntimeDownError) return undefined;
      if (!(err instanceof PipeworkError)) throw err;
      this.failures++;
      this.logger.log({ action: 'attach', result: 'failed', runtime, id: id.slice(0, 12), trigger: job.trigger, message: `cannot inspect the container: ${err.message}` });
      return undefined;
    }
    // Gone already (its die follows), or nothing for pipework.
    if (inspected === undefined || !inspected.running || !asksForPipework(inspected.view.labels, inspected.view.env)) return undefined;
    const base: LogBase = { runtime, container: inspected.view.name, id: id.slice(0, 12), trigger: job.trigger };
    let image;
    const imageId = inspected.imageId;
    if (imageId !== undefined) {
      try {
        image = await this.apiSlots.use(() => this.images.get(runtime, socket, imageId));
      } catch {
        image = undefined; // then nothing can be told to come from it: trusted only with --trust-image-labels
      }
    }
    const { asks, problems, inherited } = readAsks({ ...inspected.view, ...(image !== undefined && { image }) }, this.options.trustImageLabels);
    for (const p of inherited) {
      this.logger.log({ ...base, action: 'ignore', result: 'inherited', source: p.source, text: p.text, message: `${p.why} (--trust-image-labels acts on image labels)` });
    }
    const refused: Refusal[] = problems.map((p) => ({ ...p, invalid: true }));
    for (const a of asks) {
      const why = refuseRequest(a.request, this.policy);
      if (why !== undefined) refused.push({ source: a.source, text: a.text, why, invalid: false });
    }
    if (asks.length === 0 && refused.length === 0) return undefined;
    return { base, name: inspected.view.name, asks, refused };
  }

  /** The asks as attach specs, as the classic heuristics read this host; judged again once resolved. */
  private async specsOf(asks: Ask[], ctx: RunContext, refused: Refusal[]): Promise<AttachSpec[]> {
    const specs: AttachSpec[] = [];
    for (const a of asks) {
      try {
        const spec = narrowSpec(await classicSpec(a.request, ctx, WATCH_OWNER), this.options.dhcpImage !== undefined ? { dhcpImage: this.options.dhcpImage } : {});
        const why = refuseSpec(spec, this.policy);
        if (why !== undefined) refused.push({ source: a.source, text: a.text, why, invalid: false });
        specs.push(spec);
      } catch (err) {
        if (!(err instanceof PipeworkError)) throw err;
        refused.push({ source: a.source, text: a.text, why: err.message, invalid: true });
      }
    }
    return specs;
  }

  /** A start: every interface the container asks for, in one run of the engine (all or none). */
  private async plumb(key: string, id: string, job: Job, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const queuedMs = job.event !== undefined ? Number(nowNano() - job.event.nano) / 1e6 : undefined;
    const read = await this.read(id, job);
    if (read === undefined) return;
    const { base, asks, refused } = read;
    await this.slots.use(async () => {
      const ctx = newRun({
        signal, purpose: `watch: start of ${read.name}`, onWait: (line) => this.logger.log({ ...base, action: 'wait', result: 'waiting', message: line }),
        ...(this.runner && { runner: this.runner }), ...(this.failAt && { failAt: this.failAt }),
      });
      const specs = refused.length === 0 ? await this.specsOf(asks, ctx, refused) : [];
      if (refused.length > 0) {
        this.failures++;
        for (const r of refused) this.logger.log({ ...base, action: 'refuse', result: r.invalid ? 'invalid' : 'refused', source: r.source, text: r.text, message: r.why });
        return;
      }
      let outcomes: AttachOutcome[];
      try {
        outcomes = await attachSpecs(specs, ctx, { labels: asks.map((a) => a.source) });
      } catch (err) {
        if (!(err instanceof PipeworkError)) throw err;
        if (err instanceof NotOwnNetnsError) {
          // Not the container's namespace alone: refused before anything was changed.
          this.failures++;
          const why = err.cause instanceof NotOwnNetnsError ? err.cause : err;
          this.logger.log({ ...base, action: 'refuse', result: 'refused', source: asks.map((a) => a.source).join(', '), message: why.message });
          return;
        }
        // Stopped by the container's death or the watcher's: the engine undid it, as it does a
        // failure, and its message says what was undone (only what the kernel shows gone).
        const interrupted = signal.aborted;
        if (!interrupted) this.failures++;
        this.logger.log({
          ...base, action: 'attach', result: interrupted ? 'undone' : 'failed', interface: specs.map((s) => s.guestIf).join(', '),
          durationMs: performance.now() - started,
          message: interrupted ? `${String(signal.reason ?? 'interrupted')}: ${err.message}` : err.message,
        });
        return;
      }
      this.plumbed.set(key, {
        name: read.name,
        hostEnds: outcomes.flatMap((o) => (o.record.localIf !== undefined ? [o.record.localIf] : [])),
        nics: outcomes.filter((o) => o.record.hostKind === 'phys').map((o) => ({ nsInode: o.guest.nsInode, guestIf: o.spec.guestIf })),
        dhcp: specs.some((s) => s.addressing.kind === 'dhcp'),
      });
      const durationMs = performance.now() - started;
      const sinceEventMs = job.event !== undefined ? Number(nowNano() - job.event.nano) / 1e6 : undefined;
      for (const [k, o] of outcomes.entries()) {
        this.logger.log({
          ...base, action: 'attach', result: o.outcome, interface: o.spec.guestIf, source: asks[k]!.source,
          hostIf: o.record.hostIf, addresses: recordAddresses(o.record), durationMs,
          ...(sinceEventMs !== undefined && { sinceEventMs, queuedMs }),
          ...(o.warnings.length > 0 && { message: o.warnings.join('; ') }),
        });
      }
    });
  }

  /** Wait (bounded) until the dead container's namespace is torn down: its host ends gone, its NICs back. */
  private async waitGone(p: Plumbed, signal: AbortSignal): Promise<string[]> {
    const deadline = Date.now() + GONE_TIMEOUT_MS;
    for (;;) {
      const left = [
        ...p.hostEnds.filter((n) => existsSync(`/sys/class/net/${n}`)),
        ...p.nics.filter((n) => !nicBack(n)).map((n) => `${n.guestIf} (not back yet)`),
      ];
      if (left.length === 0 || Date.now() >= deadline || signal.aborted) return left;
      await sleep(20);
    }
  }

  private async clean(key: string, _id: string, job: Job, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const { runtime } = job.source;
    const p = this.plumbed.get(key);
    this.plumbed.delete(key);
    // Not plumbed by this watcher: only a container that carries pipework labels may have left
    // something (plumbed by a watcher before this one).
    const labelled = job.event !== undefined && Object.keys(job.event.attributes).some((k) => k.startsWith(LABEL_PREFIX));
    const name = p?.name ?? (labelled ? job.name : undefined);
    if (name === undefined) return;
    const base = { runtime, container: name, id: key.slice(key.indexOf('/') + 1, key.indexOf('/') + 13), trigger: job.trigger };
    // A staying DHCP client keeps the namespace alive: the supervisor stops it (now, not at its next look).
    if (p?.dhcp === true) await pokeSupervisor();
    const left = p !== undefined ? await this.waitGone(p, signal) : [];
    await this.slots.use(async () => {
      let outcome;
      try {
        outcome = await cleanStale({ kind: runtime, name }, newRun(this.runner ? { runner: this.runner } : {}));
      } catch (err) {
        if (!(err instanceof PipeworkError)) throw err;
        this.logger.log({ ...base, action: 'clean', result: 'failed', durationMs: performance.now() - started, message: err.message });
        return;
      }
      const removed = [
        ...outcome.leftovers.map((x) => x.what),
        ...outcome.resolvConfs.map((x) => x.path),
      ];
      const kept = left.length > 0 ? `; still there after ${GONE_TIMEOUT_MS / 1000} s, left alone: ${left.join(', ')}` : '';
      if (p === undefined && removed.length === 0) return;
      this.logger.log({
        ...base, action: 'clean', result: removed.length > 0 ? 'removed' : 'nothing', durationMs: performance.now() - started,
        ...((removed.length > 0 || kept !== '') && { message: `removed ${removed.length > 0 ? removed.join(', ') : 'nothing'}${kept}` }),
      });
    });
  }

  /** Rows this watcher's containers left behind (the device is gone), from before it ran. */
  private async sweep(): Promise<void> {
    const runner = this.runner ?? newRun().runner;
    const mine = (await findLeftovers({ runner })).filter((l) => !l.live && l.owner === 'watch');
    const names = new Set(mine.map((l) => (l.ids?.['pipework.containername'] ?? '').replace(/^\//u, '')).filter((n) => n !== ''));
    for (const name of names) {
      await this.slots.use(async () => {
        const started = performance.now();
        try {
          const outcome = await cleanStale({ kind: 'docker', name }, newRun(this.runner ? { runner: this.runner } : {}));
          if (outcome.leftovers.length > 0) {
            this.logger.log({ action: 'clean', result: 'removed', container: name, trigger: 'sweep', durationMs: performance.now() - started, message: `removed ${outcome.leftovers.map((x) => x.what).join(', ')}` });
          }
        } catch (err) {
          if (!(err instanceof PipeworkError)) throw err;
          this.logger.log({ action: 'clean', result: 'failed', container: name, trigger: 'sweep', message: err.message });
        }
      });
    }
  }
}
