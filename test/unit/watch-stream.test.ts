// The watcher's event streams: parsing Docker's and Podman's lines (exact timeNano, die/died),
// `since`, dropping duplicates, and a Source against a fake Engine API on a unix socket that
// goes away and comes back (backoff, resume with since, re-list, no duplicate).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '../../src/front/watch/log.js';
import { BACKOFF_MAX_MS, BACKOFF_MIN_MS, Source, nextBackoff, resumeFrom } from '../../src/front/watch/source.js';
import { RESUME_MARGIN_NS, RecentEvents, formatSince, nowNano, openEventStream, parseEventLine, type ContainerEvent } from '../../src/front/watch/stream.js';

const ID = '5baed341e3bb37ef76d923a01c1f8665fdc8ac104e39ee7b44b45c89905162a7';
// As Docker 20.10 and Podman 4.3 wrote them on this project's machines.
const DOCKER_START = `{"status":"start","id":"${ID}","from":"pipework-test-busybox","Type":"container","Action":"start","Actor":{"ID":"${ID}","Attributes":{"image":"pipework-test-busybox","name":"wa-probe2","pipework.eth1":"br-wa0 10.9.0.1/24"}},"scope":"local","time":1796117946,"timeNano":1796117946135935995}`;
const PODMAN_DIE = `{"status":"die","id":"${ID}","from":"localhost/pipework-test-busybox:latest","Type":"container","Action":"die","Actor":{"ID":"${ID}","Attributes":{"containerExitCode":"137","exitCode":"137","image":"localhost/pipework-test-busybox:latest","name":"wa-probe1","pipework.eth1":"br-wa0 10.9.0.1/24","podId":""}},"scope":"local","time":1796117945,"timeNano":1796117945792092342}`;

function event(action: string, nano: bigint, id = ID, type = 'container'): string {
  return JSON.stringify({ Type: type, Action: action, Actor: { ID: id, Attributes: { name: 'c' } }, time: Number(nano / 1_000_000_000n) }).replace(/\}$/u, `,"timeNano":${nano}}`);
}

describe('event lines', () => {
  test('Docker start: id, attributes (labels flattened), exact nanoseconds', () => {
    const p = parseEventLine(DOCKER_START)!;
    assert.equal(p.event?.action, 'start');
    assert.equal(p.event?.id, ID);
    assert.equal(p.event?.attributes['pipework.eth1'], 'br-wa0 10.9.0.1/24');
    assert.equal(p.event?.attributes['name'], 'wa-probe2');
    assert.equal(p.nano, 1796117946135935995n);
    assert.equal(p.event?.nano, 1796117946135935995n);
  });

  test("Podman's die and died are one die; exec_died, kill, create, cleanup are not acted on (their time still counts)", () => {
    assert.equal(parseEventLine(PODMAN_DIE)?.event?.action, 'die');
    assert.equal(parseEventLine(event('died', 5n))?.event?.action, 'die');
    for (const a of ['exec_died', 'kill', 'create', 'cleanup', 'remove', 'destroy', 'stop', 'restart', 'health_status']) {
      const p = parseEventLine(event(a, 7n))!;
      assert.equal(p.event, undefined, a);
      assert.equal(p.nano, 7n, a);
    }
  });

  test('other types, odd ids and junk are skipped', () => {
    assert.equal(parseEventLine(event('start', 1n, ID, 'network'))?.event, undefined);
    assert.equal(parseEventLine(event('start', 1n, 'not-hex'))?.event, undefined);
    assert.equal(parseEventLine('not json'), undefined);
    assert.equal(parseEventLine('null'), undefined);
    // The legacy shape (status/id, time in seconds) still works.
    const legacy = parseEventLine(`{"status":"start","id":"${ID}","time":12}`)!;
    assert.equal(legacy.event?.action, 'start');
    assert.equal(legacy.nano, 12_000_000_000n);
  });

  test('since is seconds.nanoseconds', () => {
    assert.equal(formatSince(1629574695515050000n), '1629574695.515050000');
    assert.equal(formatSince(1629574695000000007n), '1629574695.000000007');
  });

  test('duplicates are dropped; memory is bounded', () => {
    const r = new RecentEvents(4);
    const e = (n: bigint, action: 'start' | 'die' = 'start'): ContainerEvent => ({ action, id: ID, attributes: {}, nano: n });
    assert.equal(r.fresh(e(1n)), true);
    assert.equal(r.fresh(e(1n)), false);
    assert.equal(r.fresh(e(1n, 'die')), true);
    for (let i = 2n; i < 100n; i++) r.fresh(e(i));
    assert.equal(r.size, 4);
  });

  test('resume a little before the newest event, or before the last stream opened; backoff doubles up to its cap', () => {
    assert.equal(resumeFrom(undefined, undefined), undefined);
    assert.equal(resumeFrom(undefined, 10_000_000_000n), 10_000_000_000n - RESUME_MARGIN_NS);
    assert.equal(resumeFrom(20_000_000_000n, 10_000_000_000n), 20_000_000_000n - RESUME_MARGIN_NS);
    assert.equal(resumeFrom(5_000_000_000n, 10_000_000_000n), 10_000_000_000n - RESUME_MARGIN_NS);
    assert.equal(nextBackoff(0), BACKOFF_MIN_MS);
    assert.equal(nextBackoff(BACKOFF_MIN_MS), BACKOFF_MIN_MS * 2);
    assert.equal(nextBackoff(BACKOFF_MAX_MS), BACKOFF_MAX_MS);
  });
});

/** A fake Engine API serving /events; `onEvents` writes what a test wants. */
class FakeRuntime {
  server: Server | undefined;
  queries: URLSearchParams[] = [];
  streams: ServerResponse[] = [];
  constructor(readonly socket: string, readonly onEvents: (res: ServerResponse, q: URLSearchParams) => void) {}

  start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/events') {
        res.writeHead(404).end('{"message":"no"}');
        return;
      }
      this.queries.push(url.searchParams);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders(); // as Docker and Podman do, before any event
      this.streams.push(res);
      this.onEvents(res, url.searchParams);
    });
    return new Promise((r) => this.server!.listen(this.socket, r));
  }

  /** Like a daemon that goes away: every connection cut. */
  async stop(): Promise<void> {
    for (const s of this.streams.splice(0)) s.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

async function until(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('streams against a fake engine', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'wa-unit-stream-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('lines split across writes, several in one write; the filter and no since on a first stream', async () => {
    const socket = join(dir, 'a.sock');
    const fake = new FakeRuntime(socket, (res) => {
      const two = `${event('start', 10n)}\n${event('die', 11n)}\n`;
      res.write(two.slice(0, 25));
      setTimeout(() => res.write(two.slice(25)), 20);
    });
    await fake.start();
    const got: bigint[] = [];
    const stream = await openEventStream(socket, { onLine: (p) => { if (p.event) got.push(p.event.nano); } });
    await until('two events', () => got.length === 2);
    assert.deepEqual(got, [10n, 11n]);
    assert.equal(fake.queries[0]!.get('since'), null);
    assert.deepEqual(JSON.parse(fake.queries[0]!.get('filters')!), { type: ['container'] });
    stream.close();
    assert.equal(await stream.ended, 'closed');
    await fake.stop();
  });

  test('a refusal or no daemon rejects', async () => {
    await assert.rejects(openEventStream(join(dir, 'none.sock'), { onLine: () => undefined }), /ENOENT/u);
  });

  test('a Source: the daemon goes away and comes back → reconnect with backoff, resume with since, re-list, no duplicate', async () => {
    const socket = join(dir, 'b.sock');
    // Event times after the stream opened, as a daemon stamps them.
    const base = nowNano() + 60_000_000_000n;
    let round = 0;
    const onEvents = (res: ServerResponse, q: URLSearchParams) => {
      round++;
      if (round === 1) {
        res.write(`${event('start', base)}\n${event('die', base + 1n)}\n`);
      } else {
        // A resumed stream delivers again what is at or after `since` (inclusive), then something new.
        const since = q.get('since');
        if (since !== null) res.write(`${event('die', base + 1n)}\n`);
        res.write(`${event('start', base + 5n)}\n`);
      }
    };
    let fake = new FakeRuntime(socket, onEvents);
    await fake.start();
    const events: string[] = [];
    const connects: boolean[] = [];
    const logs: LogEntry[] = [];
    const src = new Source({ runtime: 'docker', socket, explicit: true }, {
      onEvent: (_s, e) => events.push(`${e.action}@${e.nano - base}`),
      onConnected: (_s, reconnect) => { connects.push(reconnect); return Promise.resolve(); },
    }, { log: (e) => logs.push(e) });
    const controller = new AbortController();
    const running = src.run(controller.signal);
    // A failed assertion must not leave the Source running (the test would never end).
    try {
      await until('the first events', () => events.length === 2);
      assert.deepEqual(connects, [false]);
      const queries = fake.queries;
      await fake.stop();
      await until('the loss is noticed', () => logs.some((l) => l.result === 'lost'));
      // Down for a while: attempts fail (and are reported once), then it is back.
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(logs.filter((l) => l.result === 'unreachable').length, 1);
      fake = new FakeRuntime(socket, onEvents);
      await fake.start();
      await until('the resumed stream', () => events.length === 3, 10_000);
      assert.deepEqual(events, ['start@0', 'die@1', 'start@5']);
      assert.deepEqual(connects, [false, true]);
      assert.equal(queries[0]!.get('since'), null);
      assert.equal(fake.queries[0]!.get('since'), formatSince(base + 1n - RESUME_MARGIN_NS));
      assert.ok(logs.some((l) => l.result === 'reconnected'));
    } finally {
      controller.abort();
      await running;
      await fake.stop();
    }
  });

  test('a Source whose re-list fails drops the stream and tries again', async () => {
    const socket = join(dir, 'c.sock');
    const fake = new FakeRuntime(socket, () => undefined);
    await fake.start();
    let calls = 0;
    const logs: LogEntry[] = [];
    const src = new Source({ runtime: 'podman', socket, explicit: false }, {
      onEvent: () => undefined,
      onConnected: () => (++calls === 1 ? Promise.reject(new Error('HTTP 500')) : Promise.resolve()),
    }, { log: (e) => logs.push(e) });
    const controller = new AbortController();
    const running = src.run(controller.signal);
    try {
      await until('a second connect', () => calls === 2);
      assert.ok(logs.some((l) => l.result === 'lost' && /listing its containers failed: HTTP 500/u.test(l.message ?? '')));
    } finally {
      controller.abort();
      await running;
      await fake.stop();
    }
  });
  test('a daemon that drops every stream at once is tried less and less often (no re-list storm)', async () => {
    const socket = join(dir, 'd.sock');
    const fake = new FakeRuntime(socket, (res) => setTimeout(() => res.destroy(), 5));
    await fake.start();
    const times: number[] = [];
    const src = new Source({ runtime: 'docker', socket, explicit: true }, {
      onEvent: () => undefined,
      onConnected: () => { times.push(performance.now()); return Promise.resolve(); },
    }, { log: () => undefined });
    const controller = new AbortController();
    const running = src.run(controller.signal);
    try {
      await until('four connects', () => times.length >= 4, 10_000);
      const gaps = times.slice(1).map((t, k) => t - times[k]!);
      // 500, 1000, 2000 ms (each at least about the backoff), never a tight loop.
      assert.ok(gaps[0]! >= 400, `gaps ${gaps.map(Math.round).join(', ')}`);
      assert.ok(gaps[2]! > gaps[0]! * 2, `gaps ${gaps.map(Math.round).join(', ')}`);
    } finally {
      controller.abort();
      await running;
      await fake.stop();
    }
  });
});
