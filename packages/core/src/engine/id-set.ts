/**
 * A set of packet identifiers (0..65535) as a bitset: 8 KiB, and the same
 * cost to add, test or remove an id whether 10 or 60,000 are in it.
 */
export class IdSet {
  private readonly bits = new Uint32Array(0x10000 >>> 5);
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    return (this.bits[id >>> 5]! & (1 << (id & 31))) !== 0;
  }

  /** Adds `id`; returns false when it was there already. */
  add(id: number): boolean {
    const w = id >>> 5;
    const bit = 1 << (id & 31);
    const word = this.bits[w]!;
    if ((word & bit) !== 0) return false;
    this.bits[w] = word | bit;
    this.count++;
    return true;
  }

  /** Removes `id`; returns false when it was not there. */
  delete(id: number): boolean {
    const w = id >>> 5;
    const bit = 1 << (id & 31);
    const word = this.bits[w]!;
    if ((word & bit) === 0) return false;
    this.bits[w] = word & ~bit;
    this.count--;
    return true;
  }

  clear(): void {
    if (this.count === 0) return;
    this.bits.fill(0);
    this.count = 0;
  }
}
