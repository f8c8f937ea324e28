/**
 * `node build/bench/watch.js` (as root, after `npm run build`): what `pipework watch` costs, side
 * by side in one run, on the machine's dockerd.
 *
 *   watcher      `pipework watch --json --allow br-wab`: N labelled containers (default 50) are
 *                started at once; for each, from its `start` event (the daemon's timestamp) to the
 *                interface up with its address — as the watcher reports it (`sinceEventMs`: taken
 *                once the engine has run `ip addr add` and `ip link set up` in the container), and
 *                as this script sees it (the moment its log line arrives here; an upper bound)
 *   per event    the fork's way: a loop reading the same events that runs one `pipework` process
 *                per start, one after the other (dreamcat4/pipework's `docker events | while read`)
 *   memory       the watcher's RSS after the first 50 start/die cycles and after BENCH_CYCLES
 *                (default 1000): containers started, plumbed, killed and cleaned, 10 at a time
 *
 * The watcher runs with the NODE_OPTIONS of contrib/pipework-watch.service (as it is deployed;
 * BENCH_NODE_OPTIONS= overrides, e.g. empty for Node's defaults).
 *
 * Every container is checked afterwards: eth1 there, with its address. Targets (issue 14):
 * median ≤ 30 ms and p95 ≤ 100 ms with 50 started at once; all 50 plumbed within 3 s of the
 * last start; RSS after 1000 cycles within 10% of after the first 50.
 *
 * Everything it makes is named wa-b…: containers wa-b-NNN, bridge br-wab, image wa-bench-busybox;
 * it is removed at the end, on Ctrl-C, and (left over from a killed run) at the start.
 * Environment: BENCH_N (containers started at once), BENCH_CYCLES, BENCH_LANES, BENCH_NODE_OPTIONS,
 * BENCH_ONLY=latency|memory (one of the two parts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PIPEWORK = join(ROOT, 'bin/pipework');
const SOCK = '/var/run/docker.sock';
const BRIDGE = 'br-wab';
const PREFIX = 'wa-b-';
const IMAGE = 'wa-bench-busybox:latest';
const N = Number(process.env['BENCH_N'] ?? 50);
const CYCLES = Number(process.env['BENCH_CYCLES'] ?? 1000);
const LANES = Number(process.env['BENCH_LANES'] ?? 10);
/** The watcher runs with the Node options of its systemd unit, as it is deployed (BENCH_NODE_OPTIONS overrides). */
const UNIT_NODE_OPTIONS = /^Environment=NODE_OPTIONS=(.*)$/mu.exec(readFileSync(join(ROOT, 'contrib/pipework-watch.service'), 'utf8'))?.[1] ?? '';
const NODE_OPTIONS = process.env['BENCH_NODE_OPTIONS'] ?? UNIT_NODE_OPTIONS;

const log = (msg: string): void => { process.stderr.write(`bench: ${msg}\n`); };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const nowNano = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;

// --- the Engine API -------------------------------------------------------------------------------
function api(method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const req = request({
      socketPath: SOCK, path, method, headers: {
        Host: 'localhost', ...(payload && { 'Content-Type': Buffer.isBuffer(body) ? 'application/x-tar' : 'application/json', 'Content-Length': payload.length }),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: text }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

async function apiOk(method: string, path: string, body?: unknown): Promise<string> {
  const r = await api(method, path, body);
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.body.trim()}`);
  return r.body;
}

/** The daemon's start events, read by this script itself (its own clock for "seen"). */
function followStarts(onStart: (id: string, nano: bigint) => void): { close(): void; ready: Promise<void> } {
  let ready!: () => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  const q = new URLSearchParams({ filters: JSON.stringify({ type: ['container'], event: ['start'] }) });
  const req = request({ socketPath: SOCK, path: `/events?${q.toString()}`, headers: { Host: 'localhost' } }, (res) => {
    ready();
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const id = /"ID":"([0-9a-f]{64})"/u.exec(line)?.[1];
        const nano = /"timeNano":(\d+)/u.exec(line)?.[1];
        if (id !== undefined && nano !== undefined) onStart(id, BigInt(nano));
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return { close: () => req.destroy(), ready: readyP };
}

// --- programs ---------------------------------------------------------------------------------
function run(argv: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e) => resolvePromise({ code: 127, stdout, stderr: e.message }));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ensureImage(): Promise<void> {
  if ((await api('GET', `/images/${encodeURIComponent(IMAGE)}/json`)).status === 200) return;
  log(`importing ${IMAGE} from busybox-static`);
  const dir = mkdtempSync('/tmp/wa-bench-');
  try {
    const root = join(dir, 'root');
    for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    chmodSync(join(root, 'bin/busybox'), 0o755);
    const inst = await run(['chroot', root, '/bin/busybox', '--install', '-s']);
    if (inst.code !== 0) throw new Error(`busybox --install: ${inst.stderr}`);
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
    const tar = join(dir, 'rootfs.tar');
    if ((await run(['tar', '-C', root, '-cf', tar, '.'])).code !== 0) throw new Error('tar failed');
    const [repo, tag] = IMAGE.split(':') as [string, string];
    const body = await apiOk('POST', `/images/create?${new URLSearchParams({ fromSrc: '-', repo, tag }).toString()}`, readFileSync(tar));
    if (/"error"/u.test(body)) throw new Error(`import: ${body}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function create(name: string, labels: Record<string, string>): Promise<string> {
  await api('DELETE', `/containers/${name}?force=true`);
  const body = await apiOk('POST', `/containers/create?name=${name}`, { Image: IMAGE, Cmd: ['sleep', '3600'], Labels: labels, HostConfig: { NetworkMode: 'none' } });
  return (JSON.parse(body) as { Id: string }).Id;
}

async function pidOf(id: string): Promise<number> {
  const c = JSON.parse(await apiOk('GET', `/containers/${id}/json`)) as { State: { Pid: number } };
  return c.State.Pid;
}

async function addressOf(pid: number): Promise<string | undefined> {
  const r = await run(['nsenter', '-t', String(pid), '-n', 'ip', '-j', '-4', 'addr', 'show', 'dev', 'eth1']);
  if (r.code !== 0) return undefined;
  const [l] = JSON.parse(r.stdout) as { operstate: string; addr_info: { local: string; prefixlen: number }[] }[];
  return l && l.addr_info[0] ? `${l.addr_info[0].local}/${l.addr_info[0].prefixlen}` : undefined;
}

async function removeAll(): Promise<void> {
  const list = JSON.parse(await apiOk('GET', '/containers/json?all=1')) as { Id: string; Names: string[] }[];
  const ours = list.filter((c) => c.Names.some((n) => n.startsWith(`/${PREFIX}`)));
  for (let i = 0; i < ours.length; i += 10) await Promise.all(ours.slice(i, i + 10).map((c) => api('DELETE', `/containers/${c.Id}?force=true`)));
  if (existsSync(`/sys/class/net/${BRIDGE}`)) await run(['ip', 'link', 'del', BRIDGE]);
}

// --- the watcher --------------------------------------------------------------------------------
interface Line { action: string; result: string; container?: string; id?: string; trigger?: string; sinceEventMs?: number; queuedMs?: number; durationMs?: number; seen: bigint }

class Watch {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  private waiters: (() => void)[] = [];
  constructor(env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [PIPEWORK, 'watch', '--json', '--allow', BRIDGE, '--docker', SOCK], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS, ...env },
    });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const seen = nowNano();
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push({ ...(JSON.parse(text) as Omit<Line, 'seen'>), seen });
        } catch {
          log(`watcher: ${text}`);
        }
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  async until(what: string, cond: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      if (this.child.exitCode !== null) throw new Error('the watcher exited');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  count(pred: (l: Line) => boolean): number {
    return this.lines.filter(pred).length;
  }

  rssKb(field = 'VmRSS'): number {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'mu').exec(readFileSync(`/proc/${this.child.pid!}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise((r) => this.child.on('exit', r));
    this.child.kill('SIGTERM');
    await gone;
  }
}

// --- statistics -------------------------------------------------------------------------------
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');

interface Row { scenario: string; samples: number[]; allAfterLast: number; queued?: number[]; work?: number[]; startSpan?: number }

// --- scenarios --------------------------------------------------------------------------------
/** N labelled containers started at once under the watcher. */
async function burst(w: Watch, round: number): Promise<{ reported: Row; observed: Row }> {
  const starts = new Map<string, bigint>();
  const stream = followStarts((id, nano) => { if (!starts.has(id)) starts.set(id, nano); });
  await stream.ready;
  const ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push(await create(`${PREFIX}${round}${String(i).padStart(3, '0')}`, { 'pipework.eth1': `${BRIDGE} 10.248.${round}.${i + 1}/16` }));
  const from = w.lines.length;
  log(`starting ${N} labelled containers at once`);
  await Promise.all(ids.map((id) => apiOk('POST', `/containers/${id}/start`)));
  const mine = (l: Line) => l.action === 'attach' && l.trigger === 'start' && ids.some((id) => id.startsWith(l.id ?? '-'));
  await w.until(`${N} containers plumbed`, () => w.lines.slice(from).filter(mine).length >= N, 120_000);
  stream.close();
  const done = w.lines.slice(from).filter(mine);
  const failed = w.lines.slice(from).filter((l) => l.action === 'attach' && l.result !== 'created');
  if (failed.length > 0) throw new Error(`not created: ${JSON.stringify(failed)}`);
  const eventOf = (l: Line) => starts.get(ids.find((id) => id.startsWith(l.id!))!)!;
  const ours = [...starts.entries()].filter(([id]) => ids.includes(id)).map(([, n]) => n);
  const lastStart = ours.reduce((m, n) => (n > m ? n : m), 0n);
  const firstStart = ours.reduce((m, n) => (n < m ? n : m), lastStart);
  const reported = done.map((l) => l.sinceEventMs!);
  const observed = done.map((l) => Number(l.seen - eventOf(l)) / 1e6);
  const lastDoneReported = done.reduce((m, l) => Math.max(m, Number(eventOf(l) - lastStart) / 1e6 + l.sinceEventMs!), 0);
  const lastDoneObserved = done.reduce((m, l) => Math.max(m, Number(l.seen - lastStart) / 1e6), 0);
  // Every one has its address.
  for (const [i, id] of ids.entries()) {
    const a = await addressOf(await pidOf(id));
    if (a !== `10.248.${round}.${i + 1}/16`) throw new Error(`${id.slice(0, 12)}: eth1 has ${a ?? 'no address'}`);
  }
  log('every container has eth1 with its address');
  const from2 = w.lines.length;
  await Promise.all(ids.map((id) => api('POST', `/containers/${id}/kill`)));
  await w.until('their cleanups', () => w.lines.slice(from2).filter((l) => l.action === 'clean').length >= N, 60_000);
  await Promise.all(ids.map((id) => api('DELETE', `/containers/${id}?force=true`)));
  return {
    reported: {
      scenario: 'watcher (its own report)', samples: reported, allAfterLast: lastDoneReported, queued: done.map((l) => l.queuedMs!), work: done.map((l) => l.durationMs!),
      startSpan: Number(lastStart - firstStart) / 1e6,
    },
    observed: { scenario: 'watcher (its log line seen here)', samples: observed, allAfterLast: lastDoneObserved },
  };
}

/** One labelled container at a time (each started once the one before is plumbed): no burst. */
async function oneByOne(w: Watch, count: number): Promise<Row> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = await create(`${PREFIX}s${String(i).padStart(3, '0')}`, { 'pipework.eth1': `${BRIDGE} 10.248.150.${i + 1}/16` });
    const from = w.lines.length;
    await apiOk('POST', `/containers/${id}/start`);
    const mine = (l: Line) => l.action === 'attach' && l.id === id.slice(0, 12);
    await w.until(`${id.slice(0, 12)} plumbed`, () => w.lines.slice(from).some(mine), 30_000);
    const line = w.lines.slice(from).find(mine)!;
    if (line.result !== 'created') throw new Error(`one by one: ${JSON.stringify(line)}`);
    samples.push(line.sinceEventMs!);
    await api('DELETE', `/containers/${id}?force=true`);
    await sleep(100);
  }
  return { scenario: 'watcher, one container at a time (its own report)', samples, allAfterLast: NaN };
}

/** The fork's loop: one pipework process per start event, one after the other. */
async function perEvent(): Promise<Row> {
  const ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push(await create(`${PREFIX}p${String(i).padStart(3, '0')}`, {}));
  const queue: { id: string; nano: bigint }[] = [];
  let wake: (() => void) | undefined;
  let lastStart = 0n;
  const stream = followStarts((id, nano) => {
    if (!ids.includes(id)) return;
    if (nano > lastStart) lastStart = nano;
    queue.push({ id, nano });
    wake?.();
  });
  await stream.ready;
  const samples: number[] = [];
  let lastDone = 0n;
  const loop = (async () => {
    while (samples.length < N) {
      const next = queue.shift();
      if (!next) {
        await new Promise<void>((r) => { wake = r; });
        continue;
      }
      const i = ids.indexOf(next.id);
      const r = await run([process.execPath, PIPEWORK, BRIDGE, '-i', 'eth1', `docker:${next.id}`, `10.248.200.${i + 1}/16`]);
      if (r.code !== 0) throw new Error(`pipework: ${r.stderr}`);
      const t = nowNano();
      lastDone = t;
      samples.push(Number(t - next.nano) / 1e6);
    }
  })();
  log(`starting ${N} containers at once for the per-event loop`);
  await Promise.all(ids.map((id) => apiOk('POST', `/containers/${id}/start`)));
  await loop;
  stream.close();
  for (const [i, id] of ids.entries()) {
    const a = await addressOf(await pidOf(id));
    if (a !== `10.248.200.${i + 1}/16`) throw new Error(`${id.slice(0, 12)}: eth1 has ${a ?? 'no address'}`);
  }
  await Promise.all(ids.map((id) => api('DELETE', `/containers/${id}?force=true`)));
  return { scenario: 'one `pipework` process per event (serial loop)', samples, allAfterLast: Number(lastDone - lastStart) / 1e6 };
}

/**
 * The watcher's RSS once it has settled: idle (nothing to do) for a while, sampled every second,
 * the median of the last five samples. V8 collects and gives memory back when a process goes
 * idle, so two readings taken this way compare what is kept, not where the GC happened to be.
 */
async function settledRss(w: Watch): Promise<{ rss: number; anon: number; file: number }> {
  const samples: { rss: number; anon: number; file: number }[] = [];
  for (let i = 0; i < SETTLE_S; i++) {
    await sleep(1000);
    samples.push({ rss: w.rssKb(), anon: w.rssKb('RssAnon'), file: w.rssKb('RssFile') });
  }
  const last = samples.slice(-5);
  return { rss: quantile(last.map((x) => x.rss), 0.5), anon: quantile(last.map((x) => x.anon), 0.5), file: quantile(last.map((x) => x.file), 0.5) };
}
const SETTLE_S = 10;

/** Start/die cycles, LANES containers at a time; the settled RSS after the first 50 and after all. */
async function cycles(w: Watch): Promise<{ after50: number; afterAll: number; peak: number; cycles: number; seconds: number; detail: string }> {
  const ids: string[] = [];
  for (let i = 0; i < LANES; i++) ids.push(await create(`${PREFIX}m${String(i).padStart(3, '0')}`, { 'pipework.eth1': `${BRIDGE} 10.248.100.${i + 1}/16` }));
  let done = 0;
  let peak = 0;
  const t0 = performance.now();
  const short = (id: string) => id.slice(0, 12);
  const runTo = (target: number) => Promise.all(ids.map(async (id) => {
    const attached = (l: Line) => l.id === short(id) && l.action === 'attach';
    const cleaned = (l: Line) => l.id === short(id) && l.action === 'clean';
    while (done < target) {
      const a = w.count(attached);
      const c = w.count(cleaned);
      await apiOk('POST', `/containers/${id}/start`);
      await w.until(`${short(id)} plumbed`, () => w.count(attached) > a, 60_000);
      await apiOk('POST', `/containers/${id}/kill`);
      await w.until(`${short(id)} cleaned`, () => w.count(cleaned) > c, 60_000);
      // Stopped (exited) before the next start.
      for (let k = 0; k < 200; k++) {
        const st = JSON.parse(await apiOk('GET', `/containers/${id}/json`)) as { State: { Running: boolean } };
        if (!st.State.Running) break;
        await sleep(10);
      }
      done++;
      peak = Math.max(peak, w.rssKb());
      if (done % 100 === 0) log(`${done} cycles, watcher RSS ${w.rssKb()} kB`);
    }
  }));
  await runTo(50);
  const first = await settledRss(w);
  log(`after ${done} cycles, settled RSS ${first.rss} kB`);
  await runTo(CYCLES);
  const seconds = (performance.now() - t0) / 1000 - SETTLE_S;
  const last = await settledRss(w);
  log(`after ${done} cycles, settled RSS ${last.rss} kB`);
  const mib = (kb: number) => (kb / 1024).toFixed(1);
  const detail = `Of the settled RSS, anonymous memory (heap, malloc) ${mib(first.anon)} → ${mib(last.anon)} MiB, file-backed (the node binary and libraries paged in) ${mib(first.file)} → ${mib(last.file)} MiB.`;
  const after50 = first.rss;
  const afterAll = last.rss;
  const failed = w.lines.filter((l) => l.action === 'attach' && l.result !== 'created' && l.result !== 'unchanged');
  if (failed.length > 0) throw new Error(`attach results: ${JSON.stringify(failed.slice(0, 3))}`);
  await Promise.all(ids.map((id) => api('DELETE', `/containers/${id}?force=true`)));
  return { after50, afterAll, peak: Math.max(peak, afterAll), cycles: done, seconds, detail };
}

type Memory = Awaited<ReturnType<typeof cycles>>;

async function latencyPhase(w: Watch): Promise<Row[]> {
  // A first burst creates the bridge and warms the watcher up; the second is measured.
  await burst(w, 1);
  const b = await burst(w, 2);
  const rows = [b.reported, b.observed];
  log('20 containers one at a time');
  rows.push(await oneByOne(w, 20));
  return rows;
}

function report(rows: Row[], mem: Memory | undefined): string {
  const env = process.env['NODE_EXTRA_CA_CERTS'] !== undefined ? 'set (it costs every Node start ~40 ms here: only the per-event loop starts Node per event)' : 'not set';
  const out: string[] = [];
  out.push(`## pipework watch — ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}, Node ${process.version}, NODE_EXTRA_CA_CERTS ${env}`, '');
  out.push(`The watcher runs with NODE_OPTIONS=${NODE_OPTIONS === '' ? '(none)' : NODE_OPTIONS}${NODE_OPTIONS === UNIT_NODE_OPTIONS ? ', as contrib/pipework-watch.service runs it' : ''}.`, '');
  const targets: string[] = [];
  const r0 = rows[0];
  if (r0 !== undefined) {
    out.push(`From the \`start\` event (the daemon's timestamp) to eth1 up with its address, ${N} labelled containers started at once:`, '');
    out.push('| scenario | containers | median ms | p95 ms | max ms | all done after the last start, ms |', '|---|---:|---:|---:|---:|---:|');
    for (const r of rows) out.push(`| ${r.scenario} | ${r.samples.length} | ${fmt(quantile(r.samples, 0.5))} | ${fmt(quantile(r.samples, 0.95))} | ${fmt(Math.max(...r.samples))} | ${fmt(r.allAfterLast)} |`);
    if (r0.queued && r0.work) out.push('', `Of which (watcher, medians): from the event to the work beginning (the stream read, the line of work ahead) ${fmt(quantile(r0.queued, 0.5))} ms (p95 ${fmt(quantile(r0.queued, 0.95))}); the work itself (inspect, specs, the engine's run) ${fmt(quantile(r0.work, 0.5))} ms (p95 ${fmt(quantile(r0.work, 0.95))}). The daemon took ${fmt(r0.startSpan ?? NaN)} ms from the first of the ${N} start events to the last.`);
    targets.push(`- median ≤ 30 ms: ${fmt(quantile(r0.samples, 0.5))} ms — ${quantile(r0.samples, 0.5) <= 30 ? 'met' : 'NOT met'}`);
    targets.push(`- p95 ≤ 100 ms: ${fmt(quantile(r0.samples, 0.95))} ms — ${quantile(r0.samples, 0.95) <= 100 ? 'met' : 'NOT met'}`);
    targets.push(`- all ${N} within 3 s of the last start: ${fmt(r0.allAfterLast)} ms — ${r0.allAfterLast <= 3000 ? 'met' : 'NOT met'}`);
  }
  if (mem !== undefined) {
    const change = ((mem.afterAll - mem.after50) / mem.after50) * 100;
    out.push('', `Memory over ${mem.cycles} start/die cycles (${LANES} containers at a time, ${mem.seconds.toFixed(0)} s). Settled RSS: idle for ${SETTLE_S} s after the cycles, the median of the last 5 one-second samples; the peak is the highest seen while cycling.`, '');
    out.push('| watcher RSS after 50 cycles | after all | change | peak |', '|---:|---:|---:|---:|');
    out.push(`| ${(mem.after50 / 1024).toFixed(1)} MiB | ${(mem.afterAll / 1024).toFixed(1)} MiB | ${change >= 0 ? '+' : ''}${change.toFixed(1)}% | ${(mem.peak / 1024).toFixed(1)} MiB |`);
    out.push('', mem.detail);
    targets.push(`- RSS after ${mem.cycles} cycles within 10% of after 50: ${change >= 0 ? '+' : ''}${change.toFixed(1)}% — ${Math.abs(change) <= 10 ? 'met' : 'NOT met'}`);
  }
  out.push('', 'Targets:', '', ...targets);
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  if (!existsSync(PIPEWORK)) throw new Error(`${PIPEWORK} missing: npm run build`);
  const only = process.env['BENCH_ONLY'];
  if (only !== undefined && only !== 'latency' && only !== 'memory') throw new Error('BENCH_ONLY is latency or memory');
  const cancel = () => {
    void removeAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', cancel);
  process.on('SIGTERM', cancel);
  await removeAll();
  await ensureImage();
  const w = new Watch();
  let rows: Row[] = [];
  let mem: Memory | undefined;
  try {
    await w.until('the watcher to connect', () => w.lines.some((l) => l.action === 'connect' && l.result === 'connected'), 20_000);
    if (only !== 'memory') rows = await latencyPhase(w);
    if (only !== 'latency') {
      log(`${CYCLES} start/die cycles, ${LANES} containers at a time`);
      mem = await cycles(w);
    }
  } finally {
    await w.stop();
  }
  if (only !== 'memory') {
    // The in-process netlink prototype (no ip process per step), when its addon is built.
    if (existsSync(join(ROOT, 'native/build/Release/pipework_netlink.node'))) {
      const nl = new Watch({ PIPEWORK_NETLINK: '1' });
      try {
        await nl.until('the watcher to connect', () => nl.lines.some((l) => l.action === 'connect' && l.result === 'connected'), 20_000);
        await burst(nl, 3);
        const b = await burst(nl, 4);
        rows.push({ ...b.reported, scenario: 'watcher, PIPEWORK_NETLINK=1 (prototype; its own report)' });
      } finally {
        await nl.stop();
      }
    } else {
      log('the netlink addon is not built (npm run build:native): no PIPEWORK_NETLINK=1 row');
    }
    rows.push(await perEvent());
  }
  await removeAll();
  process.stdout.write(report(rows, mem));
}

main().catch(async (err: unknown) => {
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await removeAll().catch(() => undefined);
  process.exit(1);
});
