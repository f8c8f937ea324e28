// A CRI client for the tests: unary gRPC calls over HTTP/2 (node:http2) on containerd's unix
// socket, carrying the runtime.v1 messages of proto.ts. gRPC framing: each message is a flag
// byte (0: not compressed), its length (4 bytes, big-endian) and the message; the call's outcome
// is the `grpc-status` (and `grpc-message`) of the trailers, or of the headers when the server
// answers with trailers only.
import { connect as h2connect, constants, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import {
  decodeListPodSandboxResponse, decodePodSandboxStatusResponse, decodeRunPodSandboxResponse, decodeStatusResponse, decodeVersionResponse,
  listPodSandboxRequest, podSandboxStatusRequest, runPodSandboxRequest, sandboxIdRequest, SERVICE, statusRequest, versionRequest,
  type PodSandbox, type PodSandboxConfig, type PodSandboxFilter, type PodSandboxStatusResponse, type StatusResponse, type VersionResponse,
} from './proto.js';

/** gRPC status codes by number (the ones worth a name here). */
export const GRPC = { OK: 0, CANCELLED: 1, UNKNOWN: 2, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, INTERNAL: 13, UNAVAILABLE: 14 } as const;

/** A call that ended with a gRPC status other than OK (code 14, UNAVAILABLE, when the connection broke). */
export class CriError extends Error {
  override name = 'CriError';
  constructor(
    readonly method: string,
    readonly code: number,
    readonly detail: string,
  ) {
    super(`${method}: gRPC status ${code}: ${detail}`);
  }
}

/** Frame one message. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The messages in a response body (a unary call has one). */
export function grpcUnframe(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 5 > body.length) throw new Error(`truncated gRPC frame header at byte ${at}`);
    if (body.readUInt8(at) !== 0) throw new Error('compressed gRPC message (none was asked for)');
    const len = body.readUInt32BE(at + 1);
    if (at + 5 + len > body.length) throw new Error(`truncated gRPC message at byte ${at}: ${len} bytes announced`);
    out.push(body.subarray(at + 5, at + 5 + len));
    at += 5 + len;
  }
  return out;
}

/** grpc-message is percent-encoded. */
function grpcMessage(v: unknown): string {
  const s = Array.isArray(v) ? String(v[0]) : typeof v === 'string' ? v : '';
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export interface CallOptions {
  /** Give up after this many ms (and tell the server, grpc-timeout). Default 60 000. */
  timeoutMs?: number;
}

export class CriClient {
  private session: ClientHttp2Session | undefined;

  constructor(readonly socket: string) {}

  private open(): ClientHttp2Session {
    if (this.session !== undefined && !this.session.closed && !this.session.destroyed) return this.session;
    const s = h2connect('http://localhost', { createConnection: () => netConnect(this.socket) });
    // A broken connection fails the calls on it (each stream gets its own error); nothing to do here.
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.session === s) this.session = undefined;
    });
    this.session = s;
    return s;
  }

  /** One unary call: `request` (an encoded message) → the encoded response message. */
  call(method: string, request: Buffer, o: CallOptions = {}): Promise<Buffer> {
    const timeoutMs = o.timeoutMs ?? 60_000;
    return new Promise<Buffer>((resolve, reject) => {
      let session: ClientHttp2Session;
      try {
        session = this.open();
      } catch (e) {
        reject(new CriError(method, GRPC.UNAVAILABLE, e instanceof Error ? e.message : String(e)));
        return;
      }
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: `/${SERVICE}/${method}`,
        [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
      });
      const chunks: Buffer[] = [];
      let status: number | undefined;
      let detail = '';
      let settled = false;
      const finish = (f: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        f();
      };
      const timer = setTimeout(() => {
        finish(() => reject(new CriError(method, GRPC.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`)));
        stream.close(constants.NGHTTP2_CANCEL);
      }, timeoutMs);
      const takeStatus = (h: Record<string, unknown>): void => {
        if (h['grpc-status'] !== undefined) {
          status = Number(h['grpc-status']);
          detail = grpcMessage(h['grpc-message']);
        }
      };
      stream.on('response', (headers: Record<string, unknown>) => {
        const code = Number(headers[constants.HTTP2_HEADER_STATUS]);
        if (code !== 200) detail = `HTTP status ${code}`;
        takeStatus(headers);
      });
      stream.on('trailers', (trailers: Record<string, unknown>) => takeStatus(trailers));
      stream.on('data', (b: Buffer) => chunks.push(b));
      stream.on('error', (e: Error) => finish(() => reject(new CriError(method, GRPC.UNAVAILABLE, e.message))));
      stream.on('close', () => {
        finish(() => {
          if (status === undefined) {
            reject(new CriError(method, GRPC.UNAVAILABLE, detail !== '' ? detail : 'the stream closed without a gRPC status'));
          } else if (status !== GRPC.OK) {
            reject(new CriError(method, status, detail));
          } else {
            try {
              const messages = grpcUnframe(Buffer.concat(chunks));
              resolve(messages[0] ?? Buffer.alloc(0));
            } catch (e) {
              reject(new CriError(method, GRPC.INTERNAL, e instanceof Error ? e.message : String(e)));
            }
          }
        });
      });
      stream.end(grpcFrame(request));
    });
  }

  async version(o?: CallOptions): Promise<VersionResponse> {
    return decodeVersionResponse(await this.call('Version', versionRequest(), o));
  }

  async status(verbose = false, o?: CallOptions): Promise<StatusResponse> {
    return decodeStatusResponse(await this.call('Status', statusRequest(verbose), o));
  }

  /** The sandbox's id. */
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler?: string, o?: CallOptions): Promise<string> {
    return decodeRunPodSandboxResponse(await this.call('RunPodSandbox', runPodSandboxRequest(config, runtimeHandler), o));
  }

  async stopPodSandbox(id: string, o?: CallOptions): Promise<void> {
    await this.call('StopPodSandbox', sandboxIdRequest(id), o);
  }

  async removePodSandbox(id: string, o?: CallOptions): Promise<void> {
    await this.call('RemovePodSandbox', sandboxIdRequest(id), o);
  }

  async podSandboxStatus(id: string, verbose = false, o?: CallOptions): Promise<PodSandboxStatusResponse> {
    return decodePodSandboxStatusResponse(await this.call('PodSandboxStatus', podSandboxStatusRequest(id, verbose), o));
  }

  async listPodSandbox(filter?: PodSandboxFilter, o?: CallOptions): Promise<PodSandbox[]> {
    return decodeListPodSandboxResponse(await this.call('ListPodSandbox', listPodSandboxRequest(filter), o));
  }

  close(): void {
    const s = this.session;
    this.session = undefined;
    s?.close();
  }

  /** Drop the connection at once (its calls fail); the next call connects again. */
  destroy(): void {
    const s = this.session;
    this.session = undefined;
    s?.destroy();
  }
}

/**
 * The sandbox's network namespace path, from containerd's verbose status: its `info` key holds
 * JSON whose `runtimeSpec.linux.namespaces` has the `network` entry with the path.
 */
export function netnsPathOf(r: PodSandboxStatusResponse): string {
  const text = r.info['info'];
  if (text === undefined) throw new Error('no verbose info in the PodSandboxStatus answer (ask with verbose)');
  const info = JSON.parse(text) as { runtimeSpec?: { linux?: { namespaces?: { type?: string; path?: string }[] } } };
  const path = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
  if (path === undefined || path === '') throw new Error(`no network namespace path in the verbose info: ${text.slice(0, 300)}`);
  return path;
}
