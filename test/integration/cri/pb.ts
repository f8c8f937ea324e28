// The Protocol Buffers wire format, as much of it as the CRI messages of the tests use: varints
// (uint32/int32/int64/bool/enums), length-delimited fields (strings, bytes, nested messages, map
// entries) and the two fixed widths, which are only skipped. Proto3 rules: a scalar equal to its
// default (0, false, "") is not written; a field that is absent reads as its default.

/** A malformed or truncated message. */
export class ProtoError extends Error {
  override name = 'ProtoError';
}

/** Wire types: 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit (3 and 4, groups, are refused). */
export type WireType = 0 | 1 | 2 | 5;

const MAX_FIELD = 2 ** 29 - 1;
const U64 = (1n << 64n) - 1n;

/** A varint's bytes: `n` as an unsigned 64-bit value (a negative number is its two's complement). */
export function varint(n: number | bigint): Buffer {
  let v = typeof n === 'bigint' ? n : BigInt(Math.trunc(n));
  if (v < 0n) v &= U64;
  if (v > U64) throw new ProtoError(`varint out of range: ${String(n)}`);
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return Buffer.from(out);
}

function tag(field: number, wire: WireType): Buffer {
  if (!Number.isInteger(field) || field < 1 || field > MAX_FIELD) throw new ProtoError(`bad field number ${field}`);
  return varint(field * 8 + wire);
}

/** Builds one message, field by field, in the order written. */
export class Writer {
  private readonly parts: Buffer[] = [];

  /** uint32, uint64, enums; int64 (negative ones as ten bytes). Skipped when 0. */
  uint(field: number, n: number | bigint | undefined): this {
    if (n === undefined || n === 0 || n === 0n) return this;
    this.parts.push(tag(field, 0), varint(n));
    return this;
  }

  /** int32: a negative value is sign-extended to 64 bits, as protobuf does. */
  int32(field: number, n: number | undefined): this {
    if (n !== undefined && (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31)) throw new ProtoError(`int32 out of range: ${n}`);
    return this.uint(field, n);
  }

  bool(field: number, b: boolean | undefined): this {
    return b === true ? this.uint(field, 1) : this;
  }

  bytes(field: number, b: Buffer | undefined): this {
    if (b === undefined || b.length === 0) return this;
    this.parts.push(tag(field, 2), varint(b.length), b);
    return this;
  }

  string(field: number, s: string | undefined): this {
    return s === undefined ? this : this.bytes(field, Buffer.from(s, 'utf8'));
  }

  /** A nested message; written even when empty (presence matters for messages). */
  message(field: number, m: Writer | Buffer | undefined): this {
    if (m === undefined) return this;
    const b = m instanceof Writer ? m.finish() : m;
    this.parts.push(tag(field, 2), varint(b.length), b);
    return this;
  }

  /** A map<string, string>: one entry message (key = 1, value = 2) per pair, in key order. */
  map(field: number, m: Record<string, string> | undefined): this {
    for (const [k, v] of Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      this.message(field, new Writer().string(1, k).string(2, v));
    }
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** One field as read: a varint's value, or a length-delimited or fixed field's bytes. */
export type Value = { wire: 0; n: bigint } | { wire: 1 | 2 | 5; bytes: Buffer };

function readVarint(buf: Buffer, at: number): [bigint, number] {
  let v = 0n;
  for (let i = 0; i < 10; i++) {
    const b = buf[at + i];
    if (b === undefined) throw new ProtoError(`truncated varint at byte ${at}`);
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) {
      if (v > U64) throw new ProtoError(`varint longer than 64 bits at byte ${at}`);
      return [v, at + i + 1];
    }
  }
  throw new ProtoError(`varint longer than 10 bytes at byte ${at}`);
}

/** A decoded message: its fields by number, each with every occurrence in order. */
export class Message {
  readonly fields = new Map<number, Value[]>();

  constructor(buf: Buffer = Buffer.alloc(0)) {
    let at = 0;
    while (at < buf.length) {
      const [key, next] = readVarint(buf, at);
      at = next;
      const field = Number(key >> 3n);
      const wire = Number(key & 7n);
      if (field < 1 || field > MAX_FIELD) throw new ProtoError(`bad field number ${field}`);
      let value: Value;
      if (wire === 0) {
        const [n, after] = readVarint(buf, at);
        at = after;
        value = { wire: 0, n };
      } else if (wire === 1 || wire === 5 || wire === 2) {
        let len = wire === 1 ? 8 : 4;
        if (wire === 2) {
          const [l, after] = readVarint(buf, at);
          if (l > BigInt(buf.length)) throw new ProtoError(`field ${field}: length ${l} beyond the message`);
          len = Number(l);
          at = after;
        }
        if (at + len > buf.length) throw new ProtoError(`field ${field}: truncated (${len} bytes wanted, ${buf.length - at} left)`);
        value = { wire, bytes: buf.subarray(at, at + len) };
        at += len;
      } else {
        throw new ProtoError(`field ${field}: unsupported wire type ${wire}`);
      }
      const list = this.fields.get(field);
      if (list) list.push(value);
      else this.fields.set(field, [value]);
    }
  }

  private all(field: number, wire: 0 | 2): Value[] {
    const list = this.fields.get(field) ?? [];
    for (const v of list) if (v.wire !== wire) throw new ProtoError(`field ${field}: wire type ${v.wire}, expected ${wire}`);
    return list;
  }

  /** The last occurrence wins for a scalar, as in protobuf. */
  private lastVarint(field: number): bigint {
    const list = this.all(field, 0);
    const v = list[list.length - 1];
    return v?.wire === 0 ? v.n : 0n;
  }

  /** uint32 / enum / uint64 within 2^53. */
  uint(field: number): number {
    const n = this.lastVarint(field);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtoError(`field ${field}: ${n} does not fit a number (use int64)`);
    return Number(n);
  }

  /** int32: the low 32 bits, signed. */
  int32(field: number): number {
    return Number(BigInt.asIntN(32, this.lastVarint(field)));
  }

  /** int64, signed. */
  int64(field: number): bigint {
    return BigInt.asIntN(64, this.lastVarint(field));
  }

  bool(field: number): boolean {
    return this.lastVarint(field) !== 0n;
  }

  bytesList(field: number): Buffer[] {
    return this.all(field, 2).map((v) => (v.wire === 2 ? v.bytes : Buffer.alloc(0)));
  }

  string(field: number): string {
    const list = this.bytesList(field);
    return list.length === 0 ? '' : list[list.length - 1]!.toString('utf8');
  }

  strings(field: number): string[] {
    return this.bytesList(field).map((b) => b.toString('utf8'));
  }

  /** A nested message, or undefined when absent. */
  message(field: number): Message | undefined {
    const list = this.bytesList(field);
    return list.length === 0 ? undefined : new Message(list[list.length - 1]);
  }

  messages(field: number): Message[] {
    return this.bytesList(field).map((b) => new Message(b));
  }

  /** A map<string, string>. */
  map(field: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.messages(field)) out[e.string(1)] = e.string(2);
    return out;
  }
}
