/**
 * Growable storage for the engine's per-message bookkeeping that costs the
 * same per entry at 100 entries as at 60,000. A plain array grown by `push`
 * to tens of thousands of entries is re-allocated in V8's large-object space
 * at every growth step, and a fresh connection grows it again from empty:
 * measured at ~0.08 µs per entry at 60,000, against ~0.003 µs per entry for
 * the two structures here (packages/bench engine:scale).
 */

/** A list of small non-negative integers (slot numbers) in an Int32Array, doubled when full. */
export class IntList {
  a = new Int32Array(16);
  n = 0;

  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.n * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }

  /** Drops the first `k` entries. */
  shift(k: number): void {
    this.a.copyWithin(0, k, this.n);
    this.n -= k;
  }
}

/** Entries per page of a Column: 1,024 references are 8 KiB, well under V8's large-object threshold. */
const PAGE_BITS = 10;
const PAGE_MASK = (1 << PAGE_BITS) - 1;

/**
 * A column of references indexed by slot, in pages of 1,024 allocated when a
 * slot in them is first given a value other than undefined: no page is ever
 * copied, none is large, and a column that stays undefined (properties and
 * tokens, mostly) allocates nothing. Unset entries read as undefined.
 */
export class Column<T> {
  readonly #pages: ((T | undefined)[] | undefined)[] = [];

  get(s: number): T | undefined {
    return this.#pages[s >>> PAGE_BITS]?.[s & PAGE_MASK];
  }

  set(s: number, v: T | undefined): void {
    const k = s >>> PAGE_BITS;
    let page = this.#pages[k];
    if (page === undefined) {
      if (v === undefined) return;
      while (this.#pages.length <= k) this.#pages.push(undefined);
      this.#pages[k] = page = new Array<T | undefined>(PAGE_MASK + 1);
    }
    page[s & PAGE_MASK] = v;
  }
}
