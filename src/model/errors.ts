/**
 * Typed errors. The CLI's single top-level catch turns each into one line on
 * stderr and an exit code; nothing else in the program prints errors.
 */

/** Exit codes, documented in docs/classic.md. The classic tool exits 1 on every error. */
export const ExitCode = {
  Ok: 0,
  /** Any failure, as the classic tool does (bad input, guest not found, a step failed). */
  Failure: 1,
  /** Interrupted (SIGINT, SIGTERM, SIGHUP): what the run did was undone. */
  Interrupted: 130,
} as const;

export class PipeworkError extends Error {
  get exitCode(): number {
    return ExitCode.Failure;
  }
  /** A stable word for scripts (--json): usage, invalid-argument, not-found, conflict, ... */
  get reason(): string {
    return 'failure';
  }
  /**
   * What to do about it, in the command line's words ("run 'pipework del …' first"): the end of
   * the message, kept apart so a door whose askers have no command line (CNI) can leave it out.
   */
  declare readonly advice?: string;
  constructor(message: string, options?: { cause?: unknown; advice?: string }) {
    const advice = options?.advice !== undefined ? oneLine(options.advice) : undefined;
    super(`${oneLine(message)}${advice !== undefined ? `; ${advice}` : ''}`, options);
    this.name = new.target.name;
    if (advice !== undefined) this.advice = advice;
  }
}

/** One line, always: a refused value may carry a newline or another control character. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** An error's message without its command-line advice (what a CNI runtime is told). */
export function withoutAdvice(err: Error): string {
  const advice = err instanceof PipeworkError ? err.advice : undefined;
  if (advice === undefined) return err.message;
  const tail = `; ${advice}`;
  return err.message.endsWith(tail) ? err.message.slice(0, -tail.length) : err.message;
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

/** What a failed step was, kept on the error for scripts and front doors. */
export interface FailedStep {
  /** 0-based, in its plan. */
  index: number;
  title: string;
  /** The command that failed (an `ip` line is shown as `ip …`). */
  argv: readonly string[];
  /** Which plan of a run (a batch's "line 12"), when there were several. */
  job?: string;
}

/** A step of a plan failed; the steps before it were undone. */
export class StepFailedError extends PipeworkError {
  override get reason(): string {
    return 'step-failed';
  }
  constructor(
    message: string,
    readonly step: FailedStep | undefined,
    readonly undoFailures: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** 0-based index of the failed step (-1 when no step of a plan failed). */
  get stepIndex(): number {
    return this.step?.index ?? -1;
  }
}

/** The run was interrupted (a signal); what it did was undone. */
export class InterruptedError extends PipeworkError {
  override get reason(): string {
    return 'interrupted';
  }
  override get exitCode(): number {
    return ExitCode.Interrupted;
  }
}

/** Another pipework run holds what this one needs, for longer than it waits. */
export class BusyError extends PipeworkError {
  override get reason(): string {
    return 'busy';
  }
}

/**
 * The same error with `prefix` before its message ("line 12: …"): same class, same fields, the
 * original as its cause.
 */
export function withPrefix<E extends Error>(err: E, prefix: string): E {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as E;
  Object.assign(copy, err);
  Object.defineProperty(copy, 'message', { value: `${prefix}${err.message}`, enumerable: false, writable: true, configurable: true });
  Object.defineProperty(copy, 'stack', { value: `${copy.name}: ${copy.message}`, enumerable: false, writable: true, configurable: true });
  if (copy.cause === undefined) Object.defineProperty(copy, 'cause', { value: err, enumerable: false, writable: true, configurable: true });
  return copy;
}

/** Not allowed: pipework needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN). */
export class PermissionError extends PipeworkError {
  override get reason(): string {
    return 'permission-denied';
  }
}
