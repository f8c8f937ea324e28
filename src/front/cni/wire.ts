/**
 * How the plugin launcher hands a request to the resident daemon over its unix socket, and gets
 * the answer back. Binary, length-prefixed (big-endian u32), one request per connection:
 *   request:  "PWC1" envLen env(KEY=VALUE\0…) stdinLen stdin
 *   response: "PWC1" exitCode stdoutLen stdout stderrLen stderr
 * The C launcher (launcher.ts) speaks the same. Pure.
 */
export const MAGIC = Buffer.from('PWC1', 'latin1');
/** A request larger than this is refused (configurations are kilobytes). */
export const MAX_FIELD = 16 * 1024 * 1024;

export interface WireRequest {
  env: Record<string, string>;
  stdin: string;
}

export interface WireResponse {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
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
  const env = encodeEnv(r.env);
  const stdin = Buffer.from(r.stdin, 'utf8');
  return Buffer.concat([MAGIC, u32(env.length), env, u32(stdin.length), stdin]);
}

export function encodeResponse(r: WireResponse): Buffer {
  const out = Buffer.from(r.stdout, 'utf8');
  const err = Buffer.from(r.stderr, 'utf8');
  return Buffer.concat([MAGIC, u32(r.exitCode), u32(out.length), out, u32(err.length), err]);
}

export class WireError extends Error {}

/** A reader of length-prefixed fields over a growing buffer: undefined until complete. */
function fields(buf: Buffer, count: number, firstIsNumber: boolean): { values: (Buffer | number)[]; end: number } | undefined {
  if (buf.length < MAGIC.length) return undefined;
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new WireError('not a pipework CNI request (bad magic)');
  let at = MAGIC.length;
  const values: (Buffer | number)[] = [];
  if (firstIsNumber) {
    if (buf.length < at + 4) return undefined;
    values.push(buf.readUInt32BE(at));
    at += 4;
  }
  for (let i = 0; i < count; i++) {
    if (buf.length < at + 4) return undefined;
    const len = buf.readUInt32BE(at);
    if (len > MAX_FIELD) throw new WireError(`a field of ${len} bytes is too large`);
    if (buf.length < at + 4 + len) return undefined;
    values.push(buf.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return { values, end: at };
}

/** A complete request in `buf`, or undefined when more is to come. */
export function decodeRequest(buf: Buffer): WireRequest | undefined {
  const f = fields(buf, 2, false);
  if (!f) return undefined;
  const [env, stdin] = f.values as Buffer[];
  return { env: decodeEnv(env!), stdin: stdin!.toString('utf8') };
}

export function decodeResponse(buf: Buffer): WireResponse | undefined {
  const f = fields(buf, 2, true);
  if (!f) return undefined;
  const [code, out, err] = f.values as [number, Buffer, Buffer];
  return { exitCode: code, stdout: out.toString('utf8'), stderr: err.toString('utf8') };
}
