/**
 * A set of packet identifiers (0..65535) as a bitset: 8 KiB, and the same
 * cost to add, test or remove an id whether 10 or 60,000 are in it.
 */
export class IdSet {
  readonly #bits = new Uint32Array(0x10000 >>> 5);
  #count = 0;

  get size(): number {
    return this.#count;
  }

  has(id: number): boolean {
    return (this.#bits[id >>> 5]! & (1 << (id & 31))) !== 0;
  }

  /** Adds `id`; returns false when it was there already. */
  add(id: number): boolean {
    const w = id >>> 5;
    const bit = 1 << (id & 31);
    const word = this.#bits[w]!;
    if ((word & bit) !== 0) return false;
    this.#bits[w] = word | bit;
    this.#count++;
    return true;
  }

  /** Removes `id`; returns false when it was not there. */
  delete(id: number): boolean {
    const w = id >>> 5;
    const bit = 1 << (id & 31);
    const word = this.#bits[w]!;
    if ((word & bit) === 0) return false;
    this.#bits[w] = word & ~bit;
    this.#count--;
    return true;
  }

  clear(): void {
    if (this.#count === 0) return;
    this.#bits.fill(0);
    this.#count = 0;
  }
}

/** Ids per page of an IdMap. */
const PAGE_BITS = 8;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SIZE - 1;
/** Empty pages an IdMap keeps for reuse. */
const SPARE_PAGES = 4;

/**
 * A map from packet identifier (0..65535) to a non-negative number (the
 * engine's slot for it): a table indexed by id, in pages of 256 ids that
 * exist only while one of their ids is in it. Direct indexing costs the same
 * whether 10 or 60,000 ids are in it, and consecutive ids (packet ids are
 * handed out in sequence) sit side by side in memory; a Map hashes them all
 * over its table, so at tens of thousands of entries each lookup misses the
 * cache. The pages keep the memory to the span of ids in use (1 KiB per 256
 * ids) instead of 256 KiB for every id from the start; a page that empties is
 * kept for reuse, a few at most, so ids moving on allocate nothing.
 */
export class IdMap {
  readonly #pages: (Int32Array | undefined)[] = new Array<Int32Array | undefined>(0x10000 >>> PAGE_BITS).fill(undefined);
  /** Entries per page. */
  readonly #used = new Uint16Array(0x10000 >>> PAGE_BITS);
  readonly #spare: Int32Array[] = [];
  #count = 0;

  get size(): number {
    return this.#count;
  }

  /** The value for `id`, or -1. */
  get(id: number): number {
    const page = this.#pages[id >>> PAGE_BITS];
    return page === undefined ? -1 : page[id & PAGE_MASK]!;
  }

  /** Sets the value (>= 0) for `id`. */
  set(id: number, value: number): void {
    const k = id >>> PAGE_BITS;
    let page = this.#pages[k];
    if (page === undefined) {
      page = this.#spare.pop() ?? new Int32Array(PAGE_SIZE).fill(-1);
      this.#pages[k] = page;
    }
    const i = id & PAGE_MASK;
    if (page[i] === -1) {
      this.#used[k]!++;
      this.#count++;
    }
    page[i] = value;
  }

  /** Removes `id`; returns false when it was not there. */
  delete(id: number): boolean {
    const k = id >>> PAGE_BITS;
    const page = this.#pages[k];
    const i = id & PAGE_MASK;
    if (page === undefined || page[i] === -1) return false;
    page[i] = -1;
    this.#count--;
    if (--this.#used[k]! === 0) {
      // Every entry is -1 again: ready for reuse as it is.
      this.#pages[k] = undefined;
      if (this.#spare.length < SPARE_PAGES) this.#spare.push(page);
    }
    return true;
  }

  clear(): void {
    if (this.#count === 0) return;
    for (let k = 0; k < this.#pages.length; k++) {
      const page = this.#pages[k];
      if (page === undefined) continue;
      this.#pages[k] = undefined;
      if (this.#spare.length < SPARE_PAGES) this.#spare.push(page.fill(-1));
    }
    this.#used.fill(0);
    this.#count = 0;
  }
}
