/**
 * One CNI request → what goes on stdout and the exit status. The same function serves the
 * plugin run by a runtime and the resident daemon the plugin hands requests to. Every failure
 * becomes the spec's error object with a code; nothing but the result or that object is printed.
 */
import { processRunner, spawnDetached, type Runner } from '../../exec/runner.js';
import {
  BusyError, CommandError, ConflictError, InterruptedError, InvalidArgumentError, NotFoundError, PermissionError,
  PipeworkError, StepFailedError, UnsupportedError, UsageError, withoutAdvice,
} from '../../model/errors.js';
import { parseNetConf, peekVersion } from './config.js';
import { loadOperatorFile } from './operator.js';
import {
  Code, CniError, SPEC_VERSION, errorJson, isSupportedVersion, parseParams, versionAtLeast, versionJson, type RawRequest,
} from './protocol.js';
import type { Request } from './request.js';
import { Trace } from './trace.js';

export interface Response {
  exitCode: number;
  stdout: string;
}

export interface HandleOptions {
  runner?: Runner;
  /** How delegates (IPAM plugins) are run (default: `runner`); the daemon has its launcher run them. */
  delegates?: Runner;
  /** How a program is started without waiting for it (default: spawned from this process). */
  detach?: (argv: string[]) => void;
  signal?: AbortSignal;
  /** Where logs go (stderr of the plugin; relayed by the daemon). */
  log: (line: string) => void;
  /** Phase timings, logged at the end (PIPEWORK_CNI_TRACE=1); `start` is the first phase's origin. */
  trace?: { enabled: boolean; start?: number };
}

/**
 * An engine error → the spec's code (ours from 100 up where the spec has none). Its message
 * without the command line's advice: a runtime has no `pipework del` to run.
 */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  if (err instanceof PipeworkError) {
    const msg = withoutAdvice(err);
    if (err instanceof InterruptedError || err instanceof BusyError) return new CniError(Code.TryAgainLater, msg);
    if (err instanceof InvalidArgumentError || err instanceof UsageError) return new CniError(Code.InvalidConfig, msg);
    if (err instanceof ConflictError) return new CniError(Code.Conflict, msg);
    if (err instanceof NotFoundError) return new CniError(Code.HostNotFound, msg);
    if (err instanceof UnsupportedError || err instanceof PermissionError) return new CniError(Code.HostUnsupported, msg);
    if (err instanceof StepFailedError || err instanceof CommandError) return new CniError(Code.StepFailed, msg);
    return new CniError(Code.Internal, msg);
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return new CniError(Code.Internal, `internal error: ${e.message}`);
}

export async function handle(raw: RawRequest, options: HandleOptions): Promise<Response> {
  const trace = new Trace(options.trace?.enabled === true, options.trace?.start);
  trace.mark('start');
  try {
    return await dispatch(raw, options, trace);
  } finally {
    if (trace.enabled) options.log(trace.line());
  }
}

async function dispatch(raw: RawRequest, options: HandleOptions, trace: Trace): Promise<Response> {
  const stdinVersion = peekVersion(raw.stdin);
  let version = isSupportedVersion(stdinVersion) ? stdinVersion : SPEC_VERSION;
  try {
    const params = parseParams(raw.env);
    if (params.command === 'VERSION') return { exitCode: 0, stdout: versionJson(stdinVersion) };
    const lenient = params.command === 'DEL' || params.command === 'GC';
    const conf = parseNetConf(raw.stdin, params, { lenient, operator: () => loadOperatorFile() });
    version = conf.cniVersion;
    const since = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' } as Partial<Record<string, string>>;
    const min = since[params.command];
    if (min !== undefined && !versionAtLeast(conf.cniVersion, min)) {
      throw new CniError(Code.IncompatibleVersion, `config version does not allow ${params.command}`, `${params.command} needs cniVersion ${min} or later; the config is ${conf.cniVersion}`);
    }
    const req: Request = {
      raw, params, conf, runner: options.runner ?? processRunner, delegates: options.delegates ?? options.runner ?? processRunner, signal: options.signal ?? new AbortController().signal, log: options.log, trace,
      detach: options.detach ?? ((argv) => spawnDetached(argv)),
    };
    trace.mark('parse');
    switch (params.command) {
      case 'ADD':
        return { exitCode: 0, stdout: await (await import('./add.js')).add(req) };
      case 'DEL':
        await (await import('./del.js')).del(req);
        return { exitCode: 0, stdout: '' };
      case 'CHECK':
        await (await import('./check.js')).check(req);
        return { exitCode: 0, stdout: '' };
      case 'GC':
        await (await import('./gc.js')).gc(req);
        return { exitCode: 0, stdout: '' };
      case 'STATUS':
        await (await import('./status.js')).status(req);
        return { exitCode: 0, stdout: '' };
    }
  } catch (err) {
    let e = toCniError(err);
    // A request stopped by a signal (or by its plugin going away) failed because of that.
    if (options.signal?.aborted === true && e.code !== Code.TryAgainLater) {
      const why = typeof options.signal.reason === 'string' ? options.signal.reason : 'a signal';
      e = new CniError(Code.TryAgainLater, `interrupted by ${why}: ${e.message}`, 'what the request did was undone; try again');
    }
    options.log(`pipework: ${e.message}${e.details !== '' ? ` (${e.details})` : ''}`);
    if (e.code === Code.Internal && err instanceof Error && !(err instanceof PipeworkError) && !(err instanceof CniError)) options.log(err.stack ?? '');
    return { exitCode: 1, stdout: errorJson(e, version) };
  }
}
