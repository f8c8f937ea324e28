/**
 * Ctrl-C (or SIGTERM/SIGHUP) during a run must not leave half a plumbing behind: once
 * watched, a signal only marks the run interrupted; the plan executor sees it before its
 * next step and undoes what was done (a child in the terminal's process group gets the
 * signal too and fails its step, which also leads to the undo).
 */
let interruptedBy: NodeJS.Signals | undefined;

export function watchInterrupts(): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (interruptedBy !== undefined) process.exit(130); // a second signal: give up now
      interruptedBy = sig;
    });
  }
}

export function interruption(): NodeJS.Signals | undefined {
  return interruptedBy;
}
