/**
 * The streaming decoder: bytes arrive in any chunking, a packet comes out only
 * when it is whole.
 *
 * Work is linear in the bytes pushed, whatever the chunking and however often
 * `next()` is called: every byte is copied at most a few times (into the
 * decoder's own buffer, when that grows, and once more when a packet that
 * straddles chunks is joined), and no call walks the whole buffer.
 *
 * Memory: a chunk of COPY_BELOW bytes or more is kept as it was pushed (no
 * copy); smaller ones are copied into one growable buffer of the decoder's own,
 * so the decoder holds at most about twice the bytes buffered (plus a small
 * object per large chunk), not an object per byte as when every one-byte push
 * was kept. The first chunk pushed into an empty decoder is kept as it is,
 * whatever its size: most chunks hold whole packets, which are then decoded in
 * place with no copy. The maximum packet size is checked as soon as the fixed
 * header is complete, before the body is waited for, so a hostile Remaining
 * Length costs nothing (nothing is allocated from it).
 *
 * Views: a packet that lies inside one buffered segment (a pushed chunk, or the
 * decoder's own buffer) is decoded in place and its payload is a view of it;
 * one that straddles segments is joined once into a buffer of its size. The
 * decoder's own buffer is append-only and never reused: a byte a returned
 * packet can see is never written again, so a payload handed out earlier never
 * changes when more bytes are pushed.
 *
 * Errors: `next()` throws RemoteProtocolError; the decoder then stays failed
 * (every later call throws the same error), because MQTT has no way to find the
 * next frame after a broken one.
 */
import { codecError, type MqttError } from "../errors.js";
import { readVarint, view } from "./bytes.js";
import { checkFirstByte, decodeBody, DECODERS, type Decoders, versionName } from "./decode.js";
import type { Packet, ProtocolVersion } from "./types.js";
import * as E from "../codes.js";

/** The largest packet MQTT can express: 1 + 4 + 268,435,455 bytes. */
export const MQTT_MAX_PACKET_SIZE = 268_435_460;

/**
 * Chunks shorter than this are copied into the decoder's own buffer; longer
 * ones are kept as views. A kept chunk costs one small object (about 100 bytes
 * with its slot), so at 1 KiB and more that is under a tenth of its bytes.
 */
const COPY_BELOW = 1024;
/** Smallest capacity of the decoder's own buffer. */
const OWN_MIN = 256;
/** Consumed slots at the front of the segment list before it is compacted. */
const COMPACT_AFTER = 64;

export interface DecoderOptions {
  /** Version used for packets other than CONNECT; default 4 (3.1.1). A decoded CONNECT sets it. */
  protocolVersion?: ProtocolVersion;
  /** Largest whole packet (fixed header included) accepted, in bytes; default the MQTT maximum. */
  maximumPacketSize?: number;
}

/**
 * The streaming machinery over a table of body decoders: PacketDecoder has
 * every packet type, the client engine's decoder (client.ts) only what a
 * server sends.
 */
export class FrameDecoder {
  protocolVersion: ProtocolVersion;
  maximumPacketSize: number;
  /**
   * Buffered segments, oldest first, from segs[first] on; each is non-empty.
   * A queue with a moving front (not Array#shift, which is linear in the
   * length): consumed slots are cleared and compacted away now and then.
   */
  #segs: (Uint8Array | undefined)[] = [];
  #first = 0;
  /** Offset of the first unread byte in segs[first]. */
  #head = 0;
  #buffered = 0;
  /**
   * The decoder's own buffer, while it is the last segment and open for
   * appends: bytes [0, ownLen) are written, the rest is free capacity.
   */
  #own: Uint8Array | undefined;
  #ownLen = 0;
  /** Whether the last segment's view still lacks bytes appended to `own`. */
  #ownStale = false;
  #failed: MqttError | undefined;
  /** A DataView of the segment last decoded in place (the topic cache compares through it). */
  #dvOf: Uint8Array | undefined;
  #dv: DataView | undefined;

  readonly #decoders: Decoders;
  constructor(
    options: DecoderOptions,
    decoders: Decoders,
  ) {
    this.#decoders = decoders;
    
    this.protocolVersion = options.protocolVersion ?? 4;
    this.maximumPacketSize = options.maximumPacketSize ?? MQTT_MAX_PACKET_SIZE;
  }

  /**
   * How many bytes are buffered: pushed and not yet consumed by a decoded
   * packet. The decoder's memory is proportional to it (see above); a caller
   * that bounds it (by pulling with `next()`) bounds the decoder's memory.
   */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** The error the decoder failed with, if it did. */
  get error(): MqttError | undefined {
    return this.#failed;
  }

  /**
   * Appends received bytes. The decoder may keep a view of `chunk` (and decoded
   * payloads may be views of it): do not reuse `chunk`'s memory.
   */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    this.#buffered += n;
    if (this.#own !== undefined) {
      if (n < COPY_BELOW) {
        this.#append(chunk, n);
        return;
      }
      this.#closeOwn();
    } else if (n < COPY_BELOW && this.#first < this.#segs.length) {
      // A small chunk behind buffered bytes: start an own buffer for it and the ones after.
      const own = new Uint8Array(Math.max(OWN_MIN, 2 * n));
      own.set(chunk);
      this.#own = own;
      this.#ownLen = n;
      this.#segs.push(view(own, 0, n));
      return;
    }
    this.#segs.push(chunk);
  }

  /**
   * The next whole packet, or undefined when more bytes are needed.
   * Throws RemoteProtocolError for bytes that break the protocol.
   */
  next(): Packet | undefined {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#buffered === 0) return undefined;
    if (this.#ownStale) this.#syncOwn();
    try {
      return this.#step();
    } catch (e) {
      this.#failed = e as MqttError;
      throw e;
    }
  }

  #step(): Packet | undefined {
    const first = this.#segs[this.#first]!;
    const head = this.#head;
    const b0 = first[head]!;
    checkFirstByte(b0, this.protocolVersion);
    // Remaining Length: 1 to 4 bytes, shortest form [MQTT-1.5.5-1]. Read in
    // place; only a header cut across chunks is joined first (5 bytes at most).
    let r = readVarint(first, head + 1, first.length, "remaining length");
    if (r < 0) {
      if (this.#buffered <= first.length - head) return undefined;
      const n = Math.min(this.#buffered, 5);
      const joined = new Uint8Array(n);
      for (let i = 0; i < n; i++) joined[i] = head + i < first.length ? first[head + i]! : this.#byteAt(i);
      r = readVarint(joined, 1, n, "remaining length");
      if (r < 0) return undefined;
    }
    const remaining = r >>> 3; // at most 268,435,455 * 8 + 4 < 2^31
    const headerLen = 1 + (r & 7);
    const total = headerLen + remaining;
    if (total > this.maximumPacketSize) {
      throw codecError("remote", E.PacketTooLarge, `packet of ${total} bytes is over the maximum packet size ${this.maximumPacketSize}`);
    }
    if (this.#buffered < total) return undefined;
    let packet: Packet;
    if (first.length - head >= total) {
      // Fast path: the whole packet is in the first segment; decode it in place.
      if (this.#dvOf !== first) {
        this.#dvOf = first;
        this.#dv = new DataView(first.buffer, first.byteOffset, first.byteLength);
      }
      packet = decodeBody(this.#decoders, b0, first, head + headerLen, head + total, this.protocolVersion, this.#dv);
      this.#buffered -= total;
      if (head + total === first.length) this.#dropFirst();
      else this.#head = head + total;
    } else {
      const frame = this.#take(total);
      packet = decodeBody(this.#decoders, b0, frame, headerLen, total, this.protocolVersion);
    }
    if (packet.type === "connect") this.protocolVersion = packet.protocolVersion;
    return packet;
  }

  /**
   * The byte at offset `i` past the head (i < buffered, i <= 4). Segments are
   * never empty, so this looks at i + 1 segments at most, never the whole list.
   */
  #byteAt(i: number): number {
    let off = this.#head + i;
    for (let k = this.#first; ; k++) {
      const c = this.#segs[k]!;
      if (off < c.length) return c[off]!;
      off -= c.length;
    }
  }

  /** Removes the next n bytes (n <= buffered), joined into one new buffer. */
  #take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#segs[this.#first]!;
      const avail = c.length - this.#head;
      const want = n - filled;
      if (avail > want) {
        out.set(view(c, this.#head, want), filled);
        this.#head += want;
        filled = n;
      } else {
        out.set(this.#head === 0 ? c : view(c, this.#head, avail), filled);
        filled += avail;
        this.#dropFirst();
      }
    }
    this.#buffered -= n;
    return out;
  }

  /** Forgets the first segment, wholly consumed. Amortized constant time. */
  #dropFirst(): void {
    if (this.#own !== undefined && this.#first === this.#segs.length - 1) {
      // The own buffer is drained. It is not reused: a returned packet may hold a view of it.
      this.#own = undefined;
      this.#ownLen = 0;
    }
    this.#segs[this.#first] = undefined;
    this.#first++;
    this.#head = 0;
    if (this.#first === this.#segs.length) {
      this.#segs.length = 0;
      this.#first = 0;
    } else if (this.#first >= COMPACT_AFTER && this.#first * 2 >= this.#segs.length) {
      this.#segs.splice(0, this.#first);
      this.#first = 0;
    }
  }

  /** Copies a small chunk to the end of the own buffer (the last segment), growing it when full. */
  #append(chunk: Uint8Array, n: number): void {
    let own = this.#own!;
    if (this.#ownLen + n > own.length) {
      // Move the unconsumed bytes to a buffer twice their size (with the chunk):
      // each byte is moved O(1) times on average. The old buffer is left as it
      // is, for the packets that may hold views of it.
      const last = this.#segs.length - 1;
      const start = last === this.#first ? this.#head : 0;
      const live = this.#ownLen - start;
      const grown = new Uint8Array(Math.max(OWN_MIN, 2 * (live + n)));
      grown.set(view(own, start, live));
      own = grown;
      this.#own = grown;
      this.#ownLen = live;
      if (last === this.#first) this.#head = 0;
    }
    if (n === 1) own[this.#ownLen] = chunk[0]!;
    else own.set(chunk, this.#ownLen);
    this.#ownLen += n;
    this.#ownStale = true;
  }

  /** Makes the last segment's view cover every byte appended to the own buffer. */
  #syncOwn(): void {
    this.#segs[this.#segs.length - 1] = view(this.#own!, 0, this.#ownLen);
    this.#ownStale = false;
  }

  /** Ends appends to the own buffer (a large chunk goes after it). */
  #closeOwn(): void {
    if (this.#ownStale) this.#syncOwn();
    this.#own = undefined;
    this.#ownLen = 0;
  }
}

/** The streaming decoder for every packet type. */
export class PacketDecoder extends FrameDecoder {
  constructor(options: DecoderOptions = {}) {
    super(options, DECODERS);
  }
}

/**
 * Decodes exactly one complete packet from `bytes` (no bytes missing, none
 * left over). Throws RemoteProtocolError otherwise.
 */
export function decodePacket(bytes: Uint8Array, version: ProtocolVersion, options: { maximumPacketSize?: number } = {}): Packet {
  const d = new PacketDecoder({ protocolVersion: version, ...options });
  d.push(bytes);
  const p = d.next();
  if (p === undefined) {
    throw codecError("remote", E.LengthMismatch, `incomplete MQTT ${versionName(version)} packet (${bytes.length} bytes)`);
  }
  if (d.bufferedBytes !== 0) {
    throw codecError("remote", E.LengthMismatch, `${d.bufferedBytes} byte(s) after the packet`);
  }
  return p;
}
