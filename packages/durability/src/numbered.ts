/**
 * The numbered messages the durability tests send: message k (0 <= k < total)
 * carries the text of k, at QoS 1 when k is even and QoS 2 when k is odd, so
 * the two levels interleave through every fault.
 */
export const qosOf = (k: number): 1 | 2 => (k % 2 === 0 ? 1 : 2);

/** Which numbers arrived and how many arrived again, per QoS. Kept as a checkpoint string by the subscriber. */
export class Tally {
  readonly seen: Uint8Array;
  /** Arrivals of a number already seen, by QoS (index 1 and 2). */
  readonly again = [0, 0, 0];
  distinct = 0;

  constructor(readonly total: number) {
    this.seen = new Uint8Array(Math.ceil(total / 8));
  }

  /** Counts one arrival of number k; returns false when k was seen before. */
  add(k: number): boolean {
    if (!Number.isInteger(k) || k < 0 || k >= this.total) throw new Error(`not a message number: ${k}`);
    const bit = 1 << (k & 7);
    if ((this.seen[k >> 3]! & bit) !== 0) {
      this.again[qosOf(k)]!++;
      return false;
    }
    this.seen[k >> 3]! |= bit;
    this.distinct++;
    return true;
  }

  has(k: number): boolean {
    return (this.seen[k >> 3]! & (1 << (k & 7))) !== 0;
  }

  /** The numbers of one QoS that never arrived. */
  missing(qos: 1 | 2): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.total; k++) if (qosOf(k) === qos && !this.has(k)) out.push(k);
    return out;
  }

  encode(): string {
    return JSON.stringify({ total: this.total, seen: Buffer.from(this.seen).toString("base64"), again: this.again, distinct: this.distinct });
  }

  static decode(text: string): Tally {
    const j = JSON.parse(text) as { total: number; seen: string; again: number[]; distinct: number };
    const t = new Tally(j.total);
    t.seen.set(Buffer.from(j.seen, "base64"));
    t.again.splice(0, 3, ...j.again);
    t.distinct = j.distinct;
    return t;
  }
}

/** A child's settings, passed as one JSON argument. */
export interface ChildConfig {
  host: string;
  port: number;
  /** The FileStore directory. */
  dir: string;
  clientId: string;
  topic: string;
  total: number;
  protocol: 4 | 5;
  /** Publisher: at most this many messages published and not yet acknowledged. */
  window?: number;
}
