// The practical ceiling for a JS MQTT decoder: read each fixed header (type
// byte + variable-length Remaining Length), make a Uint8Array view of the
// frame, and nothing else. It handles frames straddling chunk boundaries
// the way a real decoder must (copying only the straddling frame).

export interface FrameTally {
  frames: number;
  bytes: number;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Total frame length (fixed header + Remaining Length) of the frame at `off`,
 * -1 if `buf` ends before the Remaining Length does. Throws on a malformed header.
 */
function frameLength(buf: Uint8Array, off: number): number {
  const len = buf.length;
  if (off + 2 > len) return -1;
  if (buf[off]! >>> 4 === 0) throw new Error(`framer: packet type 0 at offset ${off}`);
  let i = off + 1;
  let remaining = 0;
  let mul = 1;
  for (;;) {
    if (i >= len) return -1;
    const b = buf[i++]!;
    remaining += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) break;
    mul *= 128;
    if (mul > 128 * 128 * 128) throw new Error(`framer: Remaining Length over 4 bytes at offset ${off}`);
  }
  return i - off + remaining;
}

export class Framer {
  private rest: Uint8Array | undefined;

  /** Frames every complete packet in `chunk` (plus what is left from before); counts into `t`. */
  push(chunk: Uint8Array, t: FrameTally): void {
    const buf = chunk;
    let off = 0;
    const rest = this.rest;
    if (rest !== undefined) {
      // Slow path, once per chunk at most: finish the frame that straddles.
      const head = rest.length >= 5 ? rest : concat(rest, chunk.subarray(0, 5 - rest.length));
      const total = frameLength(head, 0);
      if (total === -1 || rest.length + chunk.length < total) {
        this.rest = concat(rest, chunk);
        return;
      }
      const frame = concat(rest, chunk.subarray(0, total - rest.length));
      t.frames++;
      t.bytes += frame.length;
      off = total - rest.length;
      this.rest = undefined;
    }
    const len = buf.length;
    // Fast path: the fixed-header loop, inlined.
    while (off + 2 <= len) {
      if (buf[off]! >>> 4 === 0) throw new Error(`framer: packet type 0 at offset ${off}`);
      let i = off + 1;
      let b = buf[i++]!;
      let remaining = b & 0x7f;
      if (b & 0x80) {
        let mul = 128;
        for (;;) {
          if (i >= len) {
            remaining = -1;
            break;
          }
          b = buf[i++]!;
          remaining += (b & 0x7f) * mul;
          if ((b & 0x80) === 0) break;
          mul *= 128;
          if (mul > 128 * 128 * 128) throw new Error(`framer: Remaining Length over 4 bytes at offset ${off}`);
        }
        if (remaining === -1) break;
      }
      const end = i + remaining;
      if (end > len) break;
      // The cheapest view a JS decoder can make (Buffer#subarray goes through
      // the species constructor and costs several times more).
      const frame = new Uint8Array(buf.buffer, buf.byteOffset + off, end - off);
      t.frames++;
      t.bytes += frame.length;
      off = end;
    }
    if (off < len) this.rest = buf.subarray(off);
  }

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.rest === undefined;
  }
}
