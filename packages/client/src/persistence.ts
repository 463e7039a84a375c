/**
 * Saving the session to the application's SessionStore.
 *
 * The rule that makes a stored session worth having: every change that
 * no-loss or exactly-once depends on is durable before the packet that covers
 * it leaves (a QoS 2 PUBLISH with its new packet id, PUBREL, a PUBACK or
 * PUBREC after the callback ran ...: the engine's `transmitNeedsSave`). The
 * loop asks for a save between taking those bytes from the engine and
 * writing them (ExternalLoop's `commit`), and they wait for it. Changes that
 * send nothing (a PUBACK received, a checkpoint) or only a QoS 0/1 PUBLISH
 * (which a crash can only make go again) are saved soon after, holding nothing.
 *
 * One save runs at a time; requests made while it runs share the next one
 * (group commit), which exports the session when it starts, so it holds
 * everything done before it.
 */
import type { SessionStore, StoredSession } from "@sansmqtt/core";
import { host } from "./types.js";

interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class SessionSaver {
  /** Waiters for the next save (the one that has not started yet). */
  #next: Waiter[] | undefined;
  #running = false;
  /** Saves written, for tests and logs. */
  saves = 0;

  readonly #store: SessionStore;
  readonly #snapshot: () => StoredSession;
  readonly #onError: (e: unknown) => void;
  constructor(
    store: SessionStore,
    /** What to save, taken when the save starts. */
    snapshot: () => StoredSession,
    /** Every failed save, once (waiters get the error too). */
    onError: (e: unknown) => void,
  ) {
    this.#store = store;
    this.#snapshot = snapshot;
    this.#onError = onError;
  }

  /** Resolves once a save that started after this call is durable; rejects with the store's error. */
  request(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.schedule();
      this.#next!.push({ resolve, reject });
    });
  }

  /** A save soon, for a change that holds nothing back (nobody waits for it). */
  schedule(): void {
    if (this.#next !== undefined) return;
    this.#next = [];
    if (!this.#running) host.queueMicrotask(() => void this.#run());
  }

  /** Whether a save is written or waits to be. */
  get busy(): boolean {
    return this.#running || this.#next !== undefined;
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#next !== undefined) {
        const waiters = this.#next;
        this.#next = undefined;
        let failure: { error: unknown } | undefined;
        try {
          await this.#store.save(this.#snapshot());
          this.saves++;
        } catch (e) {
          failure = { error: e };
          this.#onError(e);
        }
        for (const w of waiters) {
          if (failure === undefined) w.resolve();
          else w.reject(failure.error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
