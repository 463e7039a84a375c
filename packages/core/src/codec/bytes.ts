/**
 * A cursor over one complete packet body (Reader) and an exact-size output
 * buffer (Writer). Every read is bounds-checked against the end of the packet,
 * so a length field that lies can only produce ERR_LENGTH, never a read past it.
 */
import { codecError, ErrorCode, type Blame, type MqttError } from "../errors.js";
import { decodeUtf8, writeUtf8 } from "./utf8.js";
import * as E from "../codes.js";

/**
 * A plain Uint8Array view of buf[start, start + n). Not `subarray`: on a Node
 * buffer that goes through the species constructor and costs several times more.
 */
export function view(buf: Uint8Array, start: number, n: number): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + start, n);
}

export class Reader {
  readonly buf: Uint8Array;
  pos: number;
  end: number;
  constructor(
    buf: Uint8Array,
    pos: number,
    end: number,
  ) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (this.end - this.pos < n) throw pastEnd(what);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  u32(what: string): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  /** Variable Byte Integer, shortest form only [MQTT-1.5.5-1]. */
  varint(what: string): number {
    const r = readVarint(this.buf, this.pos, this.end, what);
    if (r < 0) throw pastEnd(what);
    this.pos += r & 7;
    return r >>> 3;
  }

  str(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const start = this.pos;
    this.pos = start + n;
    return decodeUtf8(this.buf, start, start + n, "remote", what);
  }

  /** Binary data with a two-byte length; a view, not a copy. */
  bin(what: string): Uint8Array {
    const n = this.u16(what);
    this.need(n, what);
    const start = this.pos;
    this.pos = start + n;
    return view(this.buf, start, n);
  }

  done(what: string): void {
    if (this.pos !== this.end) {
      throw codecError("remote", E.LengthMismatch, `${this.end - this.pos} unexpected byte(s) after ${what}`);
    }
  }
}

/** A field that runs past the end of its packet (ERR_LENGTH). */
export function pastEnd(what: string): MqttError {
  return codecError("remote", E.LengthMismatch, `${what} runs past the end of the packet`);
}

/**
 * The one Variable Byte Integer reader (Remaining Length, Property Length,
 * property identifiers and values): reads buf[pos, end) and returns
 * value * 8 + the number of bytes it took (1..4), or -1 when `end` comes before
 * its last byte. Throws RemoteProtocolError for a fifth byte or a form that is
 * not the shortest [MQTT-1.5.5-1].
 */
export function readVarint(buf: Uint8Array, pos: number, end: number, what: string): number {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) return -1;
    const b = buf[pos + i]!;
    value += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) throw codecError("remote", E.VarintMalformed, `${what} is not in its shortest form`);
      return value * 8 + i + 1;
    }
    mul *= 128;
  }
  throw codecError("remote", E.VarintMalformed, `${what} is longer than 4 bytes`);
}

/** Size in bytes of a Variable Byte Integer. */
export function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : 4;
}

export const VARINT_MAX = 268_435_455;

/*
 * Output buffers up to SLAB_MAX_PIECE bytes are carved from a slab, as Node's
 * buffer pool does: a view of an existing ArrayBuffer costs a few tens of
 * nanoseconds, a new ArrayBuffer several hundred (plus its zero fill). A slab
 * piece costs about the same per byte as a buffer of its own at the piece
 * limit, so crossing the limit is no cliff. Each packet gets its own bytes,
 * never handed out twice; a slab lives as long as any packet cut from it.
 *
 * The slab is the only state the encoder keeps between calls, and no result
 * depends on it: it only decides where a packet's bytes live. A caller who
 * transfers a packet's buffer to a worker (postMessage with a transfer list,
 * structuredClone with `transfer`) detaches the slab; the next packet then
 * starts a new one (a detached ArrayBuffer has byteLength 0).
 */
const SLAB_SIZE = 64 * 1024;
export const SLAB_MAX_PIECE = 8 * 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;

/** A zero-filled Uint8Array of `size` bytes of its own. */
export function alloc(size: number): Uint8Array {
  if (size > SLAB_MAX_PIECE) return new Uint8Array(size);
  if (slabUsed + size > SLAB_SIZE || slab.byteLength === 0) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, size);
  slabUsed += (size + 7) & ~7; // keep pieces 8-byte aligned
  return out;
}

/**
 * A cursor writing into a buffer of the right size. It measures nothing in
 * advance: a string is written, then its length goes in front of it; a
 * property list reserves one byte for its length and moves over when the
 * length takes more (see properties.ts). It checks nothing either: what it
 * writes was checked before.
 */
export class Writer {
  readonly buf: Uint8Array;
  pos: number;
  constructor(
    buf: Uint8Array,
    pos: number,
  ) {
    this.buf = buf;
    this.pos = pos;
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    const b = this.buf;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v & 0xff;
  }
  u32(v: number): void {
    const b = this.buf;
    b[this.pos++] = v >>> 24;
    b[this.pos++] = (v >>> 16) & 0xff;
    b[this.pos++] = (v >>> 8) & 0xff;
    b[this.pos++] = v & 0xff;
  }
  varint(v: number): void {
    do {
      let byte = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) byte |= 0x80;
      this.buf[this.pos++] = byte;
    } while (v > 0);
  }
  /** A string with its two-byte length (a valid MQTT string, checked before). */
  str(s: string): void {
    const b = this.buf;
    const at = this.pos;
    const len = writeUtf8(b, at + 2, s);
    b[at] = len >>> 8;
    b[at + 1] = len & 0xff;
    this.pos = at + 2 + len;
  }
  bin(b: Uint8Array): void {
    this.u16(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** How many characters of a string an error message quotes at most. */
export const SHOW_MAX_CHARS = 40;

/**
 * A value for an error message, from a caller or from the network. Never
 * throws, whatever the value (String() throws on a symbol in a template, a
 * null-prototype object, ...), and quotes at most SHOW_MAX_CHARS characters of
 * a string (with its length when cut), so a hostile 65,535-byte string never
 * ends up whole in a message, a log line or a DISCONNECT reason string.
 */
export function show(v: unknown): string {
  switch (typeof v) {
    case "string":
      return v.length <= SHOW_MAX_CHARS
        ? JSON.stringify(v)
        : `${JSON.stringify(v.slice(0, SHOW_MAX_CHARS))}... (${v.length} characters)`;
    case "bigint":
      return `${v}n`;
    case "symbol":
      return "a symbol";
    case "function":
      return "a function";
    case "object":
      return v === null ? "null" : Array.isArray(v) ? "an array" : v instanceof Uint8Array ? "a Uint8Array" : "an object";
    default:
      return String(v);
  }
}

/** The message for a value of the wrong kind: "keep alive must be an integer in 0..65535, got -1". */
export function mustBe(what: string, expected: string, v: unknown): string {
  return `${what} must be ${expected}, got ${show(v)}`;
}

/** A byte or a small number in hex for messages: 0x8f. */
export function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

/** Range checks for numbers the caller hands to the encoder. */
export function checkInt(v: unknown, max: number, what: string, min = 0, blame: Blame = "local", code: ErrorCode = E.ValueRange): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw codecError(blame, code, mustBe(what, `an integer in ${min}..${max}`, v));
  return v;
}
