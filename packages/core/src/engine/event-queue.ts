/**
 * The events the engine has produced and the caller has not pulled yet
 * (`pollEvent`), in order. Every part reports through `push`; the array is
 * read from a moving head and dropped once drained, so pulling costs no
 * shift of the rest.
 */
import type { Event } from "./events.js";

export class EventQueue {
  #events: Event[] = [];
  #head = 0;

  /** Whether events wait to be pulled. */
  get pending(): boolean {
    return this.#head < this.#events.length;
  }

  push(e: Event): void {
    this.#events.push(e);
  }

  /** The oldest event not pulled yet, or undefined. */
  next(): Event | undefined {
    if (this.#head >= this.#events.length) return undefined;
    const e = this.#events[this.#head++]!;
    if (this.#head === this.#events.length) {
      this.#events = [];
      this.#head = 0;
    }
    return e;
  }
}
