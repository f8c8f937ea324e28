// One undo journal for a run of several stages (src/engine/journal.ts): what every stage did —
// the executor's plans and work done outside it (a container started) — is undone by one
// rollback when any later stage fails or is interrupted, newest first, with one message; a stage
// the engine tries again keeps the earlier ones; plans are counted across stages for
// PIPEWORK_FAIL_STEP.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { newRun, type RunContext } from '../../src/engine/context.js';
import { StaleFactsError, execute, type Job } from '../../src/engine/executor.js';
import { Journal } from '../../src/engine/journal.js';
import type { Action, Plan, Step } from '../../src/model/plan.js';
import { openNetns, type NetnsHandle } from '../../src/exec/netns.js';
import { InterruptedError, PipeworkError, StepFailedError } from '../../src/model/errors.js';
import { FakeRunner, assertRejects, batchFailure, type FakeAnswer } from './fakes.js';

const del = (name: string): Action => ({ kind: 'ip', place: 'host', args: ['link', 'del', 'dev', name] });
/** A host step making `name` (a name no machine running the tests has), undone by deleting it. */
const make = (name: string): Step => ({ title: `make ${name}`, action: { kind: 'ip', place: 'host', args: ['link', 'add', 'name', name, 'type', 'dummy'] }, undo: [del(name)] });
const plan = (...steps: Step[]): Plan => ({ guestLabel: 'the host', outcome: 'created', warnings: [], steps });

/** A run with a journal, its runner logging every batch (and `log` every task undo) in order. */
function setup(answer: (input: string) => FakeAnswer = () => ({ code: 0 }), failAt?: { job: number; step: number }) {
  const log: string[] = [];
  const runner = new FakeRunner((c) => {
    log.push(...(c.input ?? '').split('\n').filter((l) => l !== ''));
    return answer(c.input ?? '');
  });
  const journal = new Journal();
  const ctx: RunContext = { ...newRun({ runner, ...(failAt && { failAt }) }), journal };
  const host: NetnsHandle = openNetns('/proc/self/ns/net', 'the host');
  const job = (p: Plan): Job => ({ plan: p, ns: host });
  return { log, ctx, journal, job, close: () => { journal.close(); host.close(); } };
}

void describe('one journal across the stages of a run', () => {
  void test('a failure in a later stage undoes every stage, newest first, and says so once', async () => {
    const { log, ctx, journal, job, close } = setup((input) => (input.includes('pwjb1') ? batchFailure(2) : { code: 0 }));
    try {
      journal.stage('the networks it made');
      await execute([job(plan(make('pwja0')))], ctx);
      journal.stage('the containers it started');
      journal.did({ title: 'start container c1', undo: () => Promise.resolve(void log.push('stop container c1')) });
      journal.stage('the links it plumbed');
      const err = await assertRejects(execute([job(plan(make('pwjb0'), make('pwjb1')))], ctx), StepFailedError,
        'step 2 of 2 (make pwjb1) failed', 'everything the run did was undone (the networks it made, the containers it started, the links it plumbed)');
      assert.equal(err.message.split('undone').length, 2, `one note: ${err.message}`);
      assert.deepEqual(log, [
        'link add name pwja0 type dummy',
        'link add name pwjb0 type dummy', 'link add name pwjb1 type dummy',
        'link del dev pwjb0', 'stop container c1', 'link del dev pwja0',
      ]);
      assert.ok(journal.empty, 'nothing is left to undo');
    } finally {
      close();
    }
  });

  void test('a failure outside the executor (a container that would not start) undoes the stages before it', async () => {
    const { log, ctx, journal, job, close } = setup();
    try {
      journal.stage('the networks it made');
      await execute([job(plan(make('pwja0')))], ctx);
      journal.stage('the containers it started');
      const err = await journal.abort(new PipeworkError('docker could not start container c2'), ctx);
      assert.ok(err instanceof PipeworkError);
      assert.equal((err as Error).message, 'docker could not start container c2; everything the run did was undone (the networks it made)');
      assert.deepEqual(log.slice(-1), ['link del dev pwja0']);
      const again = new PipeworkError('nothing was done');
      assert.equal(await journal.abort(again, ctx), again, 'an empty journal leaves the error as it is');
      assert.equal(again.message, 'nothing was done');
    } finally {
      close();
    }
  });

  void test('an interrupt between stages keeps its class (exit 130); what cannot be undone is named; a failed undo too', async () => {
    const { ctx, journal, job, close } = setup();
    try {
      journal.stage('what it removed');
      journal.did({ title: 'remove container old1' });
      await execute([job(plan(make('pwja0')))], ctx);
      journal.did({ title: 'start container c1', undo: () => Promise.reject(new Error('docker is gone')) });
      const err = await journal.abort(new InterruptedError('interrupted by SIGINT while starting containers'), ctx);
      assert.ok(err instanceof InterruptedError);
      assert.equal(err.exitCode, 130);
      assert.match(err.message, /^interrupted by SIGINT while starting containers; undoing what the run did \(what it removed\) also failed: start container c1: docker is gone; and what cannot be undone: remove container old1$/u);
    } finally {
      close();
    }
  });

  void test('plans are counted across stages: PIPEWORK_FAIL_STEP=2:1 is the first step of the second stage\'s plan', async () => {
    const { log, ctx, journal, job, close } = setup(undefined, { job: 1, step: 0 });
    try {
      // Plan 1 has nothing to do, and still counts (a topology's plan 1 is its netns and networks).
      await execute([job(plan())], ctx);
      assert.equal(journal.planCount, 1);
      await assertRejects(execute([job(plan(make('pwjb0')))], ctx), StepFailedError, 'injected failure (PIPEWORK_FAIL_STEP)');
      assert.deepEqual(log, []);
    } finally {
      close();
    }
  });

  void test('a stage the engine tries again (stale facts) keeps the stages before it', async () => {
    const { log, ctx, journal, job, close } = setup();
    try {
      await execute([job(plan(make('pwja0')))], ctx);
      const stale: Step = { ...make('pwjb0'), requires: ['pwj-no-such-bridge'] };
      await assertRejects(execute([job(plan(stale))], ctx), StaleFactsError);
      assert.ok(!journal.empty, 'the first stage is still in the journal');
      assert.ok(!log.includes('link del dev pwja0'));
      // A failure the caller will retry (retryable) keeps them too; one it will not, undoes them.
      const failing = setup((input) => (input.includes('pwjc0') ? batchFailure(1) : { code: 0 }));
      try {
        await execute([failing.job(plan(make('pwja1')))], failing.ctx);
        await assertRejects(execute([failing.job(plan(make('pwjc0')))], failing.ctx, { retryable: () => true }), StepFailedError);
        assert.ok(!failing.journal.empty);
        await assertRejects(execute([failing.job(plan(make('pwjc0')))], failing.ctx, { retryable: () => false }), StepFailedError, 'everything the run did was undone');
        assert.ok(failing.journal.empty);
        assert.equal(failing.log.at(-1), 'link del dev pwja1');
      } finally {
        failing.close();
      }
    } finally {
      close();
    }
  });
});
