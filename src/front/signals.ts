/**
 * SIGINT, SIGTERM and SIGHUP for the whole life of a pipework process: never the default action
 * that would end it at an unknown point of a run. bin/pipework catches them from its first line
 * (before the bundle loads) and keeps them here; then each command says what they mean for it:
 *
 * - a run that changes the host (`interruptible`): the first signal aborts it — it starts nothing
 *   new, lets what runs finish and undoes what it did (exit 130); a second one gives up at once.
 *   Once the run has committed (`commit()`), a signal no longer changes anything: the run ends as
 *   it would have, saying the signal came late;
 * - a command that changes nothing (help, ls, --wait, route/rule/tc): the default action, as if
 *   pipework had never caught it (a signal that came early is delivered again now);
 * - the watcher and the CNI plugin handle their own (`takeEarly` hands over what came early).
 */
import { CommandError, ExitCode, InterruptedError } from '../model/errors.js';
import { endChildren } from '../exec/runner.js';

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** What bin/pipework keeps until a command takes over (see its first lines). */
interface Early {
  signals: StopSignal[];
  stop(): void;
}

/** Stop keeping signals early; what came meanwhile. */
export function takeEarly(): StopSignal[] {
  const early = (globalThis as { __pipeworkEarlySignals?: Early }).__pipeworkEarlySignals;
  if (early === undefined) return [];
  delete (globalThis as { __pipeworkEarlySignals?: Early }).__pipeworkEarlySignals;
  early.stop();
  return early.signals;
}

/** A command that changes nothing: signals do what they would by default. */
export function defaultSignals(): void {
  const pending = takeEarly();
  if (pending[0] !== undefined) process.kill(process.pid, pending[0]);
}

/**
 * Give up at once: end the programs the run waits for (they run in groups of their own, out of a
 * terminal's reach) and leave with `code`. A signal meanwhile leaves without waiting.
 */
export function giveUp(code: number): void {
  if (givingUp) process.exit(code);
  givingUp = true;
  void endChildren().finally(() => process.exit(code));
}
let givingUp = false;

/** The run of this process that signals abort, once one started (interruptible). */
let current: AbortSignal | undefined;

/**
 * A program the interrupting signal reached too — sent to the group between the program's fork and
 * its move to a group of its own — failed by it: that is the interrupt (exit 130), not a failure.
 * (The executor says so for its steps; this is for what a run reads before and after them.)
 */
export function asInterrupt(err: unknown): unknown {
  if (current?.aborted !== true || !(err instanceof CommandError) || err.signal === null) return err;
  const why = typeof current.reason === 'string' ? current.reason : 'a signal';
  return new InterruptedError(`interrupted by ${why} (${err.message})`, { cause: err });
}

export interface Interrupts {
  /** Aborted by the first signal before the run commits. */
  signal: AbortSignal;
  /** The run's changes are made and stay: signals from now on only get a note. */
  commit: () => void;
}

/** A run that changes the host (see the top of this file). */
export function interruptible(onLate: (line: string) => void = (l) => process.stderr.write(`pipework: ${l}\n`)): Interrupts {
  const controller = new AbortController();
  current = controller.signal;
  let committed = false;
  let noted = false;
  const on = (sig: StopSignal) => {
    if (committed) {
      if (!noted) onLate(`${sig} came after the changes were made: they stay`);
      noted = true;
      return;
    }
    // A second signal gives up at once (what runs may be left half-undone; the next run of the
    // same front door finds it by its marks).
    if (controller.signal.aborted) {
      giveUp(ExitCode.Interrupted);
      return;
    }
    controller.abort(sig);
  };
  for (const sig of STOP_SIGNALS) process.on(sig, on);
  for (const sig of takeEarly()) on(sig);
  return { signal: controller.signal, commit: () => { committed = true; } };
}

/**
 * Leave now, with the run's code. Left to end by itself, Node closes its signal handlers before
 * the process is gone, and a signal then (a group SIGTERM as the run ends) would kill it with the
 * default action after everything was done. (Output to a pipe, a file or a terminal is written
 * synchronously on Linux: nothing is lost.) Writing the code cache needs Node's own ending.
 */
export function leave(code: number): void {
  process.exitCode = code;
  if (process.env['PIPEWORK_WRITE_CODE_CACHE'] !== '1') process.exit(code);
}
