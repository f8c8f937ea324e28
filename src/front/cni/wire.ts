/**
 * How the plugin launcher hands a request to the resident daemon over its unix socket, and gets
 * the answer back. Binary, big-endian u32 lengths, one request per connection:
 *
 *   launcher → daemon   "PWC1" flags envLen env(KEY=VALUE\0…) stdinLen stdin
 *                       (flags bit 0: the launcher runs delegates for the daemon)
 *   daemon → launcher   'X' argc (len arg)… envLen env stdinLen stdin timeoutMs   run this delegate
 *                       'D' argc (len arg)… envLen env             start this, do not wait (an ARP announcement)
 *                       'R' exitCode stdoutLen stdout stderrLen stderr            the answer; done
 *   launcher → daemon   'Y' exitCode signal timedOut stdoutLen stdout stderrLen stderr
 *                       'E' errno messageLen message                             it could not start
 *
 * exitCode 0xffffffff: killed by `signal`. The C launcher (native/cni-launcher.c) speaks the same;
 * test/unit/cni-launcher.test.ts runs it against these encoders and decoders. Pure.
 */
export const MAGIC = Buffer.from('PWC1', 'latin1');
/** A request larger than this is refused (configurations are kilobytes). */
export const MAX_FIELD = 16 * 1024 * 1024;
export const RUNS_DELEGATES = 1;

export interface WireRequest {
  env: Record<string, string>;
  stdin: string;
  /** The launcher runs delegates (IPAM plugins) when the daemon asks. */
  runsDelegates: boolean;
}

export interface WireResponse {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecRequest {
  argv: string[];
  env: Record<string, string>;
  stdin: string;
  timeoutMs: number;
}

export type ExecReply =
  | { kind: 'done'; code: number | null; signal: number; timedOut: boolean; stdout: string; stderr: string }
  | { kind: 'failed'; errno: number; message: string };

export class WireError extends Error {}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function field(b: Buffer | string): Buffer[] {
  const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  return [u32(buf.length), buf];
}

export function encodeEnv(env: Record<string, string>): Buffer {
  return Buffer.from(Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

export function decodeEnv(block: Buffer): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of block.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

export function encodeRequest(r: WireRequest): Buffer {
  return Buffer.concat([MAGIC, u32(r.runsDelegates ? RUNS_DELEGATES : 0), ...field(encodeEnv(r.env)), ...field(r.stdin)]);
}

export function encodeResponse(r: WireResponse): Buffer {
  return Buffer.concat([Buffer.from('R'), u32(r.exitCode), ...field(r.stdout), ...field(r.stderr)]);
}

export function encodeExec(x: ExecRequest): Buffer {
  return Buffer.concat([Buffer.from('X'), u32(x.argv.length), ...x.argv.flatMap((a) => field(a)), ...field(encodeEnv(x.env)), ...field(x.stdin), u32(x.timeoutMs)]);
}

export function encodeDetach(argv: string[], env: Record<string, string>): Buffer {
  return Buffer.concat([Buffer.from('D'), u32(argv.length), ...argv.flatMap((a) => field(a)), ...field(encodeEnv(env))]);
}

export function encodeExecReply(r: ExecReply): Buffer {
  if (r.kind === 'failed') return Buffer.concat([Buffer.from('E'), u32(r.errno), ...field(r.message)]);
  return Buffer.concat([Buffer.from('Y'), u32(r.code ?? 0xffffffff), u32(r.signal), u32(r.timedOut ? 1 : 0), ...field(r.stdout), ...field(r.stderr)]);
}

/** Reads u32s and length-prefixed fields from the front of a buffer; undefined until complete. */
class Reader {
  at = 0;
  constructor(private readonly buf: Buffer) {}

  u32(): number | undefined {
    if (this.buf.length < this.at + 4) return undefined;
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  field(): Buffer | undefined {
    const len = this.u32();
    if (len === undefined) return undefined;
    if (len > MAX_FIELD) throw new WireError(`a field of ${len} bytes is too large`);
    if (this.buf.length < this.at + len) return undefined;
    const v = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return v;
  }
}

/** A complete request at the front of `buf` (and its length), or undefined when more is to come. */
export function decodeRequest(buf: Buffer): (WireRequest & { length: number }) | undefined {
  if (buf.length < MAGIC.length) return undefined;
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new WireError('not a pipework CNI request (bad magic)');
  const r = new Reader(buf);
  r.at = MAGIC.length;
  const flags = r.u32();
  const env = flags === undefined ? undefined : r.field();
  const stdin = env === undefined ? undefined : r.field();
  if (flags === undefined || env === undefined || stdin === undefined) return undefined;
  return { env: decodeEnv(env), stdin: stdin.toString('utf8'), runsDelegates: (flags & RUNS_DELEGATES) !== 0, length: r.at };
}

/** What the launcher reads: a delegate to run, or the answer. */
export type DaemonFrame =
  | { kind: 'exec'; exec: ExecRequest }
  | { kind: 'detach'; argv: string[]; env: Record<string, string> }
  | { kind: 'response'; response: WireResponse };

export function decodeDaemonFrame(buf: Buffer): (DaemonFrame & { length: number }) | undefined {
  if (buf.length < 1) return undefined;
  const r = new Reader(buf);
  r.at = 1;
  const type = String.fromCharCode(buf[0]!);
  if (type === 'R') {
    const code = r.u32();
    const out = code === undefined ? undefined : r.field();
    const err = out === undefined ? undefined : r.field();
    if (code === undefined || out === undefined || err === undefined) return undefined;
    return { kind: 'response', response: { exitCode: code, stdout: out.toString('utf8'), stderr: err.toString('utf8') }, length: r.at };
  }
  if (type === 'X' || type === 'D') {
    const argc = r.u32();
    if (argc === undefined) return undefined;
    const argv: string[] = [];
    for (let i = 0; i < argc; i++) {
      const a = r.field();
      if (a === undefined) return undefined;
      argv.push(a.toString('utf8'));
    }
    const env = r.field();
    if (type === 'D') return env === undefined ? undefined : { kind: 'detach', argv, env: decodeEnv(env), length: r.at };
    const stdin = env === undefined ? undefined : r.field();
    const timeout = stdin === undefined ? undefined : r.u32();
    if (env === undefined || stdin === undefined || timeout === undefined) return undefined;
    return { kind: 'exec', exec: { argv, env: decodeEnv(env), stdin: stdin.toString('utf8'), timeoutMs: timeout }, length: r.at };
  }
  throw new WireError(`unknown frame type ${JSON.stringify(type)}`);
}

/** What the daemon reads after the request: a delegate's outcome. */
export function decodeExecReply(buf: Buffer): (ExecReply & { length: number }) | undefined {
  if (buf.length < 1) return undefined;
  const r = new Reader(buf);
  r.at = 1;
  const type = String.fromCharCode(buf[0]!);
  if (type === 'E') {
    const errno = r.u32();
    const msg = errno === undefined ? undefined : r.field();
    if (errno === undefined || msg === undefined) return undefined;
    return { kind: 'failed', errno, message: msg.toString('utf8'), length: r.at };
  }
  if (type === 'Y') {
    const code = r.u32();
    const signal = code === undefined ? undefined : r.u32();
    const timedOut = signal === undefined ? undefined : r.u32();
    const out = timedOut === undefined ? undefined : r.field();
    const err = out === undefined ? undefined : r.field();
    if (code === undefined || signal === undefined || timedOut === undefined || out === undefined || err === undefined) return undefined;
    return { kind: 'done', code: code === 0xffffffff ? null : code, signal, timedOut: timedOut === 1, stdout: out.toString('utf8'), stderr: err.toString('utf8'), length: r.at };
  }
  throw new WireError(`unknown frame type ${JSON.stringify(type)}`);
}
