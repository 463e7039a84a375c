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
 * The slab is private: what leaves it is a copy (one per `take`, or per 1,024
 * acks), so no chunk the caller holds, transfers to a worker or detaches
 * shares memory with bytes the engine writes later.
 */

/** Bytes per slab for small fixed packets. */
const SLAB_SIZE = 4096;

export class Outbox {
  private chunks: Uint8Array[] = [];
  private readonly slab = new Uint8Array(SLAB_SIZE);
  /** Slab bytes in use (acks not yet part of a chunk). */
  private slabPos = 0;
  private size = 0;

  /** Bytes waiting to be taken. */
  get bytes(): number {
    return this.size;
  }

  /** Appends an encoded packet; the outbox keeps it as it is (no copy). */
  push(chunk: Uint8Array): void {
    this.seal();
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** Appends a four-byte packet `b0 02 id id` (a plain PUBACK/PUBREC/PUBREL/PUBCOMP). */
  pushAck(b0: number, packetId: number): void {
    if (this.slabPos + 4 > SLAB_SIZE) this.seal();
    const s = this.slab;
    const pos = this.slabPos;
    s[pos] = b0;
    s[pos + 1] = 2;
    s[pos + 2] = packetId >> 8;
    s[pos + 3] = packetId & 0xff;
    this.slabPos = pos + 4;
    this.size += 4;
  }

  /** Everything waiting, in order; the outbox is empty afterwards. */
  take(): Uint8Array[] {
    this.seal();
    const c = this.chunks;
    this.chunks = [];
    this.size = 0;
    return c;
  }

  /** Drops everything waiting (the connection is gone). */
  clear(): void {
    this.chunks = [];
    this.slabPos = 0;
    this.size = 0;
  }

  /** Moves the acks in the slab out as one chunk (a copy), so later pushes keep their order. */
  private seal(): void {
    if (this.slabPos > 0) {
      this.chunks.push(this.slab.slice(0, this.slabPos));
      this.slabPos = 0;
    }
  }
}
