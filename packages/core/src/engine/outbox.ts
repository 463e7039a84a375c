/**
 * The bytes the engine has produced and the caller has not taken yet
 * (`pollTransmit`), in order.
 *
 * How output is bounded: everything here was caused either by the caller's
 * own commands (PUBLISH, SUBSCRIBE, ... each refused or queued under its
 * limits) or by a packet the caller fed in, which produces at most one small
 * answer (PUBACK, PUBREC, PUBCOMP, PINGREQ, DISCONNECT). A caller that pulls
 * events but never takes the output can therefore grow it only by feeding
 * more input; `bytes` says how much waits, so a loop can stop reading while
 * its writes back up. The fixed four-byte acks, the one answer a server can
 * make us repeat without bound, are copied into a shared slab instead of one
 * array each: 200,000 of them hold about 800 KB, not tens of MB.
 *
 * The ack slab is private: what leaves it is a copy (one per `take`, or per
 * 1,024 acks), so no chunk the caller holds, transfers to a worker or
 * detaches shares memory with acks the engine writes later.
 *
 * PUBLISH packets (up to the codec's slab piece) are written straight into a
 * run buffer, one after the other, and `take` hands out the run written
 * since the last one as one chunk, a view: no array per packet, so thousands
 * of messages published before a `take` leave nothing behind for the
 * collector to copy. The run buffer follows the codec's slab rules (whose
 * pieces held these packets before): bytes are never handed out twice nor
 * written after they are handed out, a buffer lives as long as any chunk cut
 * from it, and a buffer found detached (its chunk transferred to a worker)
 * is replaced.
 */
import { writePacketInto } from "../codec/client.js";
import type { Packet, ProtocolVersion } from "../codec/types.js";

/** Bytes per slab for small fixed packets. */
const SLAB_SIZE = 4096;
/** Bytes per run buffer for PUBLISH packets (each at most the codec's slab piece, 8 KiB). */
const RUN_SIZE = 64 * 1024;
const NO_BYTES = new Uint8Array(0);

export class Outbox {
  #chunks: Uint8Array[] = [];
  readonly #slab = new Uint8Array(SLAB_SIZE);
  /** Slab bytes in use (acks not yet part of a chunk). */
  #slabPos = 0;
  #size = 0;
  /** The run buffer: [runStart, runPos) written and not yet part of a chunk. */
  #run = NO_BYTES;
  #runStart = 0;
  #runPos = 0;
  /** What waits includes a change of the session that a store must hold before it is sent (see `takenNeedsSave`). */
  #needsSave = false;
  #tookNeedsSave = false;

  /** Bytes waiting to be taken. */
  get bytes(): number {
    return this.#size;
  }

  /**
   * Whether the bytes the last `take` gave out carry a change of the session
   * that a session store must hold before they are sent: a QoS 2 PUBLISH (its
   * packet id, which the server will hold), PUBREL, an acknowledgement of a
   * received message (the application has handled it), SUBSCRIBE or
   * UNSUBSCRIBE. A QoS 0/1 PUBLISH, PINGREQ, DISCONNECT or AUTH carry none: if
   * the state behind a QoS 1 PUBLISH is lost, the message only goes again
   * (at least once), and the server holds nothing for its packet id.
   */
  get takenNeedsSave(): boolean {
    return this.#tookNeedsSave;
  }

  /**
   * Appends an encoded packet; the outbox keeps it as it is (no copy).
   * `needsSave` false only for packets that carry no session change (see `takenNeedsSave`).
   */
  push(chunk: Uint8Array, needsSave = true): void {
    if (needsSave) this.#needsSave = true;
    this.#seal();
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }

  /**
   * Appends a checked packet of `size` bytes, written straight into the run
   * buffer (see `writePacketInto`); with `withPayload` false, a PUBLISH up to
   * its payload, which the caller pushes next. At most RUN_SIZE bytes.
   */
  write(packet: Packet, version: ProtocolVersion, size: number, withPayload = true): void {
    if (packet.type !== "publish" || packet.qos === 2) this.#needsSave = true;
    this.#sealAcks();
    const n = withPayload || packet.type !== "publish" ? size : size - packet.payload.length;
    let pos = this.#runPos;
    if (pos + n > this.#run.length || this.#run.byteLength === 0) {
      this.#sealRun();
      this.#run = new Uint8Array(RUN_SIZE);
      this.#runStart = pos = 0;
    }
    writePacketInto(packet, version, size, this.#run, pos, withPayload);
    this.#runPos = pos + n;
    this.#size += n;
  }

  /** Appends a four-byte packet `b0 02 id id` (a plain PUBACK/PUBREC/PUBREL/PUBCOMP). */
  pushAck(b0: number, packetId: number): void {
    this.#needsSave = true;
    this.#sealRun();
    if (this.#slabPos + 4 > SLAB_SIZE) this.#sealAcks();
    const s = this.#slab;
    const pos = this.#slabPos;
    s[pos] = b0;
    s[pos + 1] = 2;
    s[pos + 2] = packetId >> 8;
    s[pos + 3] = packetId & 0xff;
    this.#slabPos = pos + 4;
    this.#size += 4;
  }

  /** Everything waiting, in order; the outbox is empty afterwards. */
  take(): Uint8Array[] {
    this.#seal();
    const c = this.#chunks;
    this.#chunks = [];
    this.#size = 0;
    this.#tookNeedsSave = this.#needsSave;
    this.#needsSave = false;
    return c;
  }

  /** Drops everything waiting (the connection is gone). */
  clear(): void {
    this.#chunks = [];
    this.#needsSave = false;
    this.#slabPos = 0;
    // Never handed out: the run's next packet may take these bytes again.
    this.#runPos = this.#runStart;
    this.#size = 0;
  }

  /** Ends the open run or slab as a chunk, so later pushes keep their order. */
  #seal(): void {
    this.#sealAcks();
    this.#sealRun();
  }

  /** Moves the acks in the slab out as one chunk (a copy). */
  #sealAcks(): void {
    if (this.#slabPos > 0) {
      this.#chunks.push(this.#slab.slice(0, this.#slabPos));
      this.#slabPos = 0;
    }
  }

  /** Moves the run written since the last chunk out as one chunk (a view, never written again). */
  #sealRun(): void {
    if (this.#runPos > this.#runStart) {
      if (this.#run.byteLength !== 0) this.#chunks.push(this.#run.subarray(this.#runStart, this.#runPos));
      // Else the buffer was detached under these bytes (a chunk cut from it
      // was transferred while they waited): they went with it, as the codec
      // slab's pieces would have.
      else this.#size -= this.#runPos - this.#runStart;
      this.#runStart = this.#runPos;
    }
  }
}
