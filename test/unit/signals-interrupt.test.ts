// A program the group's signal reached between its fork and its own process group dies of that
// signal: for the run, that is the interrupt (exit 130), not a failed command (exit 1). Seen in
// CI as "ip -json … failed in the guest: exit SIGHUP" while a run read its facts.
// (Its own file: the run's signal handlers stay for the rest of the process.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, ExitCode, InterruptedError } from '../../src/model/errors.js';
import { asInterrupt, interruptible } from '../../src/front/signals.js';

const killed = (signal: string | null, code: number | null = null) =>
  new CommandError('ip -json -batch - failed in the guest: exit SIGHUP', ['ip', '-json', '-batch', '-'], code, signal, '', 1, false, 'the guest');

void test('before the run is interrupted a killed program is a failure; after, it is the interrupt', () => {
  const before = killed('SIGHUP');
  assert.equal(asInterrupt(before), before, 'no run aborted yet: left as it is');
  const { signal } = interruptible(() => undefined);
  process.emit('SIGHUP', 'SIGHUP');
  assert.equal(signal.aborted, true);
  const err = asInterrupt(killed('SIGHUP'));
  assert.ok(err instanceof InterruptedError);
  assert.equal(err.exitCode, ExitCode.Interrupted);
  assert.match(err.message, /^interrupted by SIGHUP \(ip -json/u);
  const failed = killed(null, 1);
  assert.equal(asInterrupt(failed), failed, 'a program that exited with a code failed on its own');
  const other = new Error('not a command');
  assert.equal(asInterrupt(other), other);
});
