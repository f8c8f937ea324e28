// Locks between runs (src/engine/lock.ts over src/exec/lock.ts): flock files in a private
// directory, holders that say who they are, waits that name them, the limit, interrupts, and the
// directory checks that keep a local user out. The suite runs twice in CI: with the native addon
// and with PIPEWORK_SYS_ADDON=none (flock(1) on the same open file).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquire, RECORD_AFTER_MS, type Held } from '../../src/engine/lock.js';
import { holderText, holdersDir, lockDir, lockFileName, readHolder } from '../../src/exec/lock.js';
import { readStat } from '../../src/exec/proc.js';
import { privateDirProblem } from '../../src/exec/private-dir.js';
import { BusyError, InterruptedError, PermissionError } from '../../src/model/errors.js';
import { assertRejects } from './fakes.js';

const key = (name: string) => `unit/${name}`;
/** The holder records there are now (none before the first is written). */
const records = (): string[] => (existsSync(holdersDir()) ? readdirSync(holdersDir()) : []);
const opts = (extra: Partial<Parameters<typeof acquire>[1]> = {}) => ({ timeoutMs: 1000, what: (k: string) => k, purpose: 'unit test', ...extra });

void describe('locks between runs', () => {
  void test('held until released; another taker waits, then gets it; the file goes with the last holder', async () => {
    const first = await acquire([key('a')], opts());
    let second: Held | undefined;
    const waiting = acquire([key('a')], opts({ timeoutMs: 3000 })).then((h) => { second = h; });
    const taken = (): Held | undefined => second;
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(taken(), undefined, 'still held');
    first.release();
    await waiting;
    const now = taken();
    assert.ok(now);
    now.release();
    now.release(); // twice is fine
    assert.equal(existsSync(join(lockDir(), lockFileName(key('a')))), false);
  });

  void test('the holder says who it is; a waiter names it, once, and a BusyError names it too', async () => {
    const held = await acquire([key('b')], opts({ purpose: 'attach netns:web eth1' }));
    try {
      await new Promise((r) => setTimeout(r, RECORD_AFTER_MS + 50));
      const h = readHolder(key('b'));
      assert.equal(h?.pid, process.pid);
      assert.equal(holderText(h), `pipework (pid ${process.pid}, attach netns:web eth1)`);
      const lines: string[] = [];
      await assertRejects(acquire([key('c'), key('b')], opts({ timeoutMs: 900, what: () => 'interface eth1 of that guest', onWait: (l) => lines.push(l) })), BusyError,
        `pipework (pid ${process.pid}, attach netns:web eth1) is still working on interface eth1 of that guest after 1 s`);
      assert.deepEqual(lines, [`waiting for pipework (pid ${process.pid}, attach netns:web eth1) on interface eth1 of that guest`]);
      // What it had taken meanwhile (c) was let go.
      (await acquire([key('c')], opts({ timeoutMs: 50 }))).release();
    } finally {
      held.release();
    }
  });

  void test('interrupted while it waits: InterruptedError naming the holder', async () => {
    const held = await acquire([key('d')], opts({ purpose: 'topology apply demo' }));
    const controller = new AbortController();
    setTimeout(() => controller.abort('SIGINT'), RECORD_AFTER_MS + 50);
    try {
      await assertRejects(acquire([key('d')], opts({ timeoutMs: 5000, what: () => "the host's links", signal: controller.signal })), InterruptedError,
        `interrupted while waiting for pipework (pid ${process.pid}, topology apply demo) on the host's links`);
    } finally {
      held.release();
    }
  });

  void test('a patient taker (undoing) ignores the signal and the limit, and gets the lock in the end', async () => {
    const held = await acquire([key('p')], opts());
    const controller = new AbortController();
    controller.abort('SIGINT');
    setTimeout(() => held.release(), 300);
    const got = await acquire([key('p')], opts({ timeoutMs: 50, signal: controller.signal, patient: true }));
    got.release();
  });

  void test('the same key twice is taken once; keys become file names that are never paths', async () => {
    (await acquire([key('e'), key('e')], opts({ timeoutMs: 200 }))).release();
    for (const k of ['if/123/eth1', 'cni/net/../../etc/x/eth0', '../x', '.hidden', 'a'.repeat(300)]) {
      const f = lockFileName(k);
      assert.ok(!f.includes('/') && !f.startsWith('.') && f.length <= 160, f);
    }
    assert.notEqual(lockFileName('a'.repeat(300)), lockFileName(`${'a'.repeat(299)}b`));
  });

  void test('lock files stay empty; a taking held past RECORD_AFTER_MS says, in one record, the run and every key it holds; it goes with the locks', async () => {
    // Let go at once: nothing written at all.
    (await acquire([key('r0')], opts({ purpose: 'a quick run' }))).release();
    await new Promise((r) => setTimeout(r, RECORD_AFTER_MS + 50));
    assert.deepEqual(records(), [], 'a quick taking writes no record');
    const held = await acquire([key('r1'), { key: key('r2'), shared: true }, key('r3')], opts({ purpose: 'topology destroy lab' }));
    let recordName: string;
    try {
      assert.deepEqual(records(), [], 'not yet');
      await new Promise((r) => setTimeout(r, RECORD_AFTER_MS + 50));
      for (const k of ['r1', 'r2', 'r3']) assert.equal(statSync(join(lockDir(), lockFileName(key(k)))).size, 0, `${k}: no data block per lock`);
      const now = records();
      assert.equal(now.length, 1, now.join(' '));
      recordName = now[0]!;
      assert.deepEqual(JSON.parse(readFileSync(join(holdersDir(), recordName), 'utf8')), {
        pid: process.pid, start: readStat(process.pid)?.start, what: 'topology destroy lab', keys: [key('r1'), key('r2'), key('r3')],
      });
      for (const k of ['r1', 'r2', 'r3']) assert.equal(readHolder(key(k))?.what, 'topology destroy lab', k);
    } finally {
      held.release();
    }
    assert.deepEqual(records(), [], 'the record went with the locks');
    assert.equal(readHolder(key('r1')), undefined);
  });

  void test('a run that must wait says what it holds first, so whoever waits on that names it', async () => {
    const blocker = await acquire([key('w2')], opts({ purpose: 'the blocker' }));
    const waiting = acquire([key('w1'), key('w2')], opts({ purpose: 'the middle run', timeoutMs: 3000 }));
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(readHolder(key('w1'))?.what, 'the middle run', 'w1 is held while w2 is awaited');
      assert.equal(readHolder(key('w2'))?.what, 'the blocker');
    } finally {
      blocker.release();
      (await waiting).release();
    }
  });

  void test('what is found in the records directory is read, not trusted: another start time, junk, links and huge files name no holder', async () => {
    const held = await acquire([key('h1')], opts({ purpose: 'the real holder' }));
    await new Promise((r) => setTimeout(r, RECORD_AFTER_MS + 50));
    const dir = holdersDir();
    const start = readStat(process.pid)?.start ?? '0';
    const planted = {
      // This very process, with another start time: a reused PID, not a holder (and swept).
      stale: `${process.pid}-1-1.json`,
      junk: `${process.pid}-${start}-900.json`,
      link: `${process.pid}-${start}-901.json`,
      huge: `${process.pid}-${start}-902.json`,
      badKeys: `${process.pid}-${start}-903.json`,
      otherName: 'notes.json',
    };
    try {
      writeFileSync(join(dir, planted.stale), JSON.stringify({ pid: process.pid, start: '1', what: 'a dead run', keys: [key('h2')] }));
      writeFileSync(join(dir, planted.junk), '{"pid": 1, "start": ');
      const target = join(mkdtempSync(join(tmpdir(), 'pw-unit-holder-')), 'elsewhere.json');
      writeFileSync(target, JSON.stringify({ pid: process.pid, start, what: 'through a link', keys: [key('h2')] }));
      symlinkSync(target, join(dir, planted.link));
      writeFileSync(join(dir, planted.huge), JSON.stringify({ pid: process.pid, start, what: 'x'.repeat(5 << 20), keys: [key('h2')] }));
      writeFileSync(join(dir, planted.badKeys), JSON.stringify({ pid: process.pid, start, what: 'bad keys', keys: [key('h2'), 7] }));
      writeFileSync(join(dir, planted.otherName), JSON.stringify({ pid: process.pid, start, what: 'not a record name', keys: [key('h2')] }));
      assert.equal(readHolder(key('h2')), undefined);
      assert.equal(readHolder(key('h1'))?.what, 'the real holder');
      const left = readdirSync(dir);
      assert.ok(!left.includes(planted.stale), 'a dead run\'s record is swept');
      for (const n of [planted.junk, planted.link, planted.huge, planted.badKeys, planted.otherName]) assert.ok(left.includes(n), `${n} is left as found`);
      assert.equal(readFileSync(target, 'utf8').includes('through a link'), true, 'the link\'s target is untouched');
    } finally {
      held.release();
      for (const n of Object.values(planted)) {
        try {
          rmSync(join(dir, n), { force: true });
        } catch {
          // gone
        }
      }
    }
  });

  void test('a holder that is gone is not named; neither is what it wrote, unless still alive', () => {
    assert.equal(holderText(undefined), 'another pipework run');
    assert.equal(readHolder(key('never-taken')), undefined);
  });
});

void describe('private directories: where a local user cannot plant a lock or a socket', () => {
  void test('a lock directory others can write, or reached through one, is refused and nothing is made there', async () => {
    const base = mkdtempSync(join(tmpdir(), 'pw-unit-private-'));
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const real = join(base, 'real');
    mkdirSync(real, { mode: 0o700 });
    // A link to a private directory, planted where anyone could have planted it.
    symlinkSync(real, join(open, 'via-link'));
    assert.match(privateDirProblem(open) ?? '', /open is writable by its group and others/u);
    assert.match(privateDirProblem(join(open, 'via-link', 'locks')) ?? '', /open is writable by its group and others/u);
    assert.equal(privateDirProblem(join(real, 'locks')), undefined, 'a private directory (to be made in one) is fine');
    const saved = process.env['PIPEWORK_RUN_DIR'];
    try {
      for (const dir of [join(open, 'run'), join(open, 'via-link', 'run')]) {
        process.env['PIPEWORK_RUN_DIR'] = dir;
        await assertRejects(acquire([key('f')], opts()), PermissionError, 'refusing to keep pipework\'s locks and sockets under');
      }
      assert.deepEqual(readdirSync(open), ['via-link'], 'nothing was made there');
      assert.deepEqual(readdirSync(real), []);
    } finally {
      process.env['PIPEWORK_RUN_DIR'] = saved;
    }
  });
});
