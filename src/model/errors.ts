/**
 * Typed errors. The CLI's single top-level catch turns each into one line on
 * stderr and an exit code; nothing else in the program prints errors.
 */

/** Exit codes, documented in the README. The classic tool exits 1 on every error. */
export const ExitCode = {
  Ok: 0,
  /** Any failure, as the classic tool does (bad input, guest not found, a step failed). */
  Failure: 1,
} as const;

export class PipeworkError extends Error {
  readonly exitCode: number = ExitCode.Failure;
  /** A stable word for scripts (--json) — usage, invalid-argument, not-found, conflict, … */
  get reason(): string {
    return 'failure';
  }
  constructor(message: string, options?: { cause?: unknown }) {
    // One line, always: a refused value may carry a newline or another control character.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    super(message.replace(/[\u0000-\u001f\u007f\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), options);
    this.name = new.target.name;
  }
}

/** The command line is malformed; `showSyntax` asks the CLI to print the syntax lines. */
export class UsageError extends PipeworkError {
  override get reason(): string {
    return 'usage';
  }
  constructor(message: string, readonly showSyntax = false) {
    super(message);
  }
}

/** A value on the command line is invalid (address, MAC, name, VLAN...). */
export class InvalidArgumentError extends PipeworkError {
  override get reason(): string {
    return 'invalid-argument';
  }
}

/** The guest (container, PID, netns) or the host interface cannot be found. */
export class NotFoundError extends PipeworkError {
  override get reason(): string {
    return 'not-found';
  }
}

/** What the command asks for conflicts with what exists (a link that is up, a taken name). */
export class ConflictError extends PipeworkError {
  override get reason(): string {
    return 'conflict';
  }
}

/** The machine lacks something the command needs (a program, a kernel feature, a daemon). */
export class UnsupportedError extends PipeworkError {
  override get reason(): string {
    return 'unsupported';
  }
}

/** A spawned program failed. Carries everything needed to explain it. */
export class CommandError extends PipeworkError {
  override get reason(): string {
    return 'command-failed';
  }
  constructor(
    message: string,
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly signal: string | null,
    readonly stderr: string,
    readonly durationMs: number,
    readonly timedOut: boolean,
    readonly where: string,
  ) {
    super(message);
  }
}

/** A step of a plan failed; the steps before it were undone. */
export class StepFailedError extends PipeworkError {
  override get reason(): string {
    return 'step-failed';
  }
  constructor(
    message: string,
    readonly stepIndex: number,
    readonly undoFailures: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
