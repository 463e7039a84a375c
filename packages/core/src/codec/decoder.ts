/**
 * The streaming decoder: bytes arrive in any chunking, a packet comes out only
 * when it is whole.
 *
 * Memory: chunks are kept as they were pushed (no copy, no rescanning). The
 * maximum packet size is checked as soon as the fixed header is complete, before
 * the body is waited for, so a hostile Remaining Length costs nothing. A packet
 * that lies inside one chunk is decoded in place and its payload is a view of
 * that chunk; one that straddles chunks is joined once into a buffer of its size.
 *
 * Errors: `next()` throws RemoteProtocolError; the decoder then stays failed
 * (every later call throws the same error), because MQTT has no way to find the
 * next frame after a broken one.
 */
import { codecError, ErrorCode, type MqttError } from "../errors.js";
import { checkFirstByte, decodeBody, versionName } from "./decode.js";
import type { Packet, ProtocolVersion } from "./types.js";

/** The largest packet MQTT can express: 1 + 4 + 268,435,455 bytes. */
export const MQTT_MAX_PACKET_SIZE = 268_435_460;

export interface DecoderOptions {
  /** Version used for packets other than CONNECT; default 4 (3.1.1). A decoded CONNECT sets it. */
  protocolVersion?: ProtocolVersion;
  /** Largest whole packet (fixed header included) accepted, in bytes; default the MQTT maximum. */
  maximumPacketSize?: number;
}

export class PacketDecoder {
  protocolVersion: ProtocolVersion;
  maximumPacketSize: number;
  private chunks: Uint8Array[] = [];
  /** Offset of the first unread byte in chunks[0]. */
  private head = 0;
  private buffered = 0;
  private failed: MqttError | undefined;

  constructor(options: DecoderOptions = {}) {
    this.protocolVersion = options.protocolVersion ?? 4;
    this.maximumPacketSize = options.maximumPacketSize ?? MQTT_MAX_PACKET_SIZE;
  }

  /** Bytes pushed and not yet consumed by a decoded packet. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The error the decoder failed with, if it did. */
  get error(): MqttError | undefined {
    return this.failed;
  }

  /** Appends received bytes. The decoder keeps views of them: do not reuse `chunk`'s memory. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next whole packet, or undefined when more bytes are needed.
   * Throws RemoteProtocolError for bytes that break the protocol.
   */
  next(): Packet | undefined {
    if (this.failed !== undefined) throw this.failed;
    if (this.buffered === 0) return undefined;
    try {
      return this.step();
    } catch (e) {
      this.failed = e as MqttError;
      throw e;
    }
  }

  private step(): Packet | undefined {
    const first = this.chunks[0]!;
    const head = this.head;
    const b0 = first[head]!;
    checkFirstByte(b0, this.protocolVersion);
    // Remaining Length: 1 to 4 bytes, shortest form [MQTT-1.5.5-1].
    let remaining = 0;
    let mul = 1;
    let i = 1;
    for (;;) {
      if (i >= this.buffered) return undefined;
      const b = head + i < first.length ? first[head + i]! : this.byteAt(i);
      remaining += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 1) throw codecError("remote", ErrorCode.VarintMalformed, "remaining length is not in its shortest form");
        break;
      }
      if (i === 4) throw codecError("remote", ErrorCode.VarintMalformed, "remaining length is longer than 4 bytes");
      mul *= 128;
      i++;
    }
    const headerLen = i + 1;
    const total = headerLen + remaining;
    if (total > this.maximumPacketSize) {
      throw codecError(
        "remote",
        ErrorCode.PacketTooLarge,
        `packet of ${total} bytes exceeds the maximum packet size of ${this.maximumPacketSize}`,
      );
    }
    if (this.buffered < total) return undefined;
    let packet: Packet;
    if (first.length - head >= total) {
      // Fast path: the whole packet is in the first chunk; decode it in place.
      packet = decodeBody(b0, first, head + headerLen, head + total, this.protocolVersion);
      this.buffered -= total;
      if (head + total === first.length) {
        this.chunks.shift();
        this.head = 0;
      } else {
        this.head = head + total;
      }
    } else {
      const frame = this.take(total);
      packet = decodeBody(b0, frame, headerLen, total, this.protocolVersion);
    }
    if (packet.type === "connect") this.protocolVersion = packet.protocolVersion;
    return packet;
  }

  /** The byte at offset `i` past the head, walking the chunk list (i < buffered). */
  private byteAt(i: number): number {
    let off = this.head + i;
    for (const c of this.chunks) {
      if (off < c.length) return c[off]!;
      off -= c.length;
    }
    throw new Error("byteAt past the buffered bytes");
  }

  /** Removes the next n bytes, joined into one new buffer. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const avail = c.length - this.head;
      const want = n - filled;
      if (avail > want) {
        out.set(c.subarray(this.head, this.head + want), filled);
        this.head += want;
        filled = n;
      } else {
        out.set(this.head === 0 ? c : c.subarray(this.head), filled);
        filled += avail;
        this.chunks.shift();
        this.head = 0;
      }
    }
    this.buffered -= n;
    return out;
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
    throw codecError("remote", ErrorCode.LengthMismatch, `incomplete MQTT ${versionName(version)} packet (${bytes.length} bytes)`);
  }
  if (d.bufferedBytes !== 0) {
    throw codecError("remote", ErrorCode.LengthMismatch, `${d.bufferedBytes} byte(s) after the packet`);
  }
  return p;
}
