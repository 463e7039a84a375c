/**
 * Packet identifiers 1..65535 for the client's own PUBLISH, SUBSCRIBE and
 * UNSUBSCRIBE, never reused while in use [MQTT-2.2.1-3]: a cursor that moves
 * on from the last one given, skipping ids in use.
 */
import { IdSet } from "./id-set.js";

export class PacketIds {
  /** Where the next search starts (session state: it survives a restart). */
  next = 1;
  readonly #used = new IdSet();

  get inUse(): number {
    return this.#used.size;
  }

  has(id: number): boolean {
    return this.#used.has(id);
  }

  /** A free id, or undefined when all 65,535 are in use. */
  allocate(): number | undefined {
    if (this.#used.size >= 0xffff) return undefined;
    let id = this.next;
    while (!this.#used.add(id)) id = id === 0xffff ? 1 : id + 1;
    this.next = id === 0xffff ? 1 : id + 1;
    return id;
  }

  /** Marks an id in use (restoring a session). */
  claim(id: number): void {
    this.#used.add(id);
  }

  release(id: number): void {
    this.#used.delete(id);
  }

  clear(): void {
    this.#used.clear();
  }
}
