// Per-container work: in order for one container, side by side for different ones, coalesced
// (a die drops the starts waiting and stops the one running), stopped on shutdown; and the bound
// on engine runs at once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IdleCollector } from '../../src/front/watch/idle.js';
import { KeyedQueue, Slots, type Task } from '../../src/front/watch/queue.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('KeyedQueue', () => {
  test('one container in order; another never waits behind it', async () => {
    const log: string[] = [];
    const gates = new Map<string, () => void>();
    const q = new KeyedQueue<number>(async (key, task) => {
      log.push(`begin ${key}${task.data}`);
      const g = deferred();
      gates.set(`${key}${task.data}`, g.resolve);
      await g.promise;
      log.push(`end ${key}${task.data}`);
    }, (k, e) => assert.fail(`${k}: ${String(e)}`));
    q.push('a', { kind: 'start', data: 1 });
    q.push('a', { kind: 'die', data: 2 });
    q.push('b', { kind: 'start', data: 1 });
    await tick();
    // b runs while a's first task still does; a's die waits for it.
    assert.deepEqual(log, ['begin a1', 'begin b1']);
    assert.deepEqual(q.pendingOf('a'), ['die']);
    gates.get('b1')!();
    await tick();
    assert.deepEqual(log, ['begin a1', 'begin b1', 'end b1']);
    gates.get('a1')!();
    await tick();
    assert.deepEqual(log.slice(3), ['end a1', 'begin a2']);
    gates.get('a2')!();
    await q.idle();
    assert.equal(q.size, 0);
  });

  test('a die stops the running start, drops waiting starts, and is kept once', async () => {
    const seen: string[] = [];
    let aborted: string | undefined;
    const first = deferred();
    const q = new KeyedQueue<string>(async (_key, task: Task<string>, signal) => {
      seen.push(`${task.kind}:${task.data}`);
      if (task.data === 's1') {
        signal.addEventListener('abort', () => { aborted = String(signal.reason); first.resolve(); });
        await first.promise;
      }
    }, (k, e) => assert.fail(`${k}: ${String(e)}`));
    q.push('c', { kind: 'start', data: 's1' });
    await tick();
    q.push('c', { kind: 'start', data: 's2' });
    q.push('c', { kind: 'start', data: 's3' }); // the same start as s2, which keeps waiting
    assert.deepEqual(q.pendingOf('c'), ['start']);
    q.push('c', { kind: 'die', data: 'd1' });
    q.push('c', { kind: 'die', data: 'd2' });
    assert.deepEqual(q.pendingOf('c'), ['die']);
    q.push('c', { kind: 'start', data: 's4' });
    assert.deepEqual(q.pendingOf('c'), ['die', 'start']);
    await q.idle();
    assert.equal(aborted, 'the container died');
    assert.deepEqual(seen, ['start:s1', 'die:d2', 'start:s4']);
  });

  test('a worker that throws is reported and the container goes on', async () => {
    const crashes: string[] = [];
    const ran: string[] = [];
    const q = new KeyedQueue<string>((_k, t) => {
      ran.push(t.data);
      return t.data === 'boom' ? Promise.reject(new Error('boom')) : Promise.resolve();
    }, (k, e) => crashes.push(`${k}: ${(e as Error).message}`));
    q.push('x', { kind: 'start', data: 'boom' });
    q.push('x', { kind: 'die', data: 'after' });
    await q.idle();
    assert.deepEqual(ran, ['boom', 'after']);
    assert.deepEqual(crashes, ['x: boom']);
  });

  test('stop: what waits is dropped, what runs is stopped, nothing new is taken', async () => {
    const ran: string[] = [];
    let reason: unknown;
    const q = new KeyedQueue<string>(async (_k, t, signal) => {
      ran.push(t.data);
      await new Promise<void>((r) => signal.addEventListener('abort', () => { reason = signal.reason; r(); }));
    }, () => undefined);
    q.push('a', { kind: 'start', data: 'a1' });
    q.push('a', { kind: 'die', data: 'a2' }); // aborts a1 (a die), keeps waiting
    q.push('b', { kind: 'start', data: 'b1' });
    await tick();
    q.stop('SIGTERM');
    q.push('c', { kind: 'start', data: 'c1' });
    await q.idle();
    assert.equal(reason, 'SIGTERM');
    assert.ok(!ran.includes('c1'));
    assert.equal(q.size, 0);
  });

  test('idle with nothing to do resolves at once', async () => {
    await new KeyedQueue<number>(() => Promise.resolve(), () => undefined).idle();
  });

  test('memory: thousands of start/die cycles leave no lane behind', async () => {
    const q = new KeyedQueue<number>(() => Promise.resolve(), () => undefined);
    for (let i = 0; i < 5_000; i++) {
      q.push(`c${i % 50}`, { kind: 'start', data: i });
      q.push(`c${i % 50}`, { kind: 'die', data: i });
    }
    await q.idle();
    assert.equal(q.size, 0);
  });
});

describe('Slots', () => {
  test('at most N at once, the rest in order', async () => {
    const slots = new Slots(2);
    let now = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4, 5].map((n) => slots.use(async () => {
      now++;
      peak = Math.max(peak, now);
      await tick();
      order.push(n);
      now--;
    })));
    assert.equal(peak, 2);
    assert.deepEqual(order.slice(2), [3, 4, 5]);
    assert.equal(slots.busy, 0);
  });

  test('a failure frees its slot', async () => {
    const slots = new Slots(1);
    await assert.rejects(slots.use(() => Promise.reject(new Error('x'))), /x/u);
    assert.equal(await slots.use(() => Promise.resolve(7)), 7);
  });
});

describe('IdleCollector', () => {
  test('one full collection once idle after work; none while busy; none without work', async () => {
    let busy = true;
    const c = new IdleCollector(() => !busy, 30);
    c.touch();
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(c.collections, 0, 'busy: not now');
    busy = false;
    c.touch();
    c.touch(); // debounced: one collection for a burst of work
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(c.collections, 1);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(c.collections, 1, 'no work since: no collection');
    c.touch();
    c.stop();
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(c.collections, 1, 'stopped');
  });
});
