/**
 * Where a client keeps its session between runs of the program (Paho keeps
 * it in memory only, so a restart loses QoS 1/2 messages in flight). The core
 * does no IO: this file only states the contract a store implements, the
 * error every store raises, the in-memory store (the default), and SerialStore,
 * the ordering and group commit every store that does IO builds on.
 *
 * A client saves after each turn of its loop, and before bytes that carry a
 * change of the session go out (`MqttConnection.transmitNeedsSave`), so every
 * change that no-loss or exactly-once depends on is durable before the packet
 * that covers it is sent; saves made while one is being written are combined
 * (group commit), the last one wins.
 */
import type { SessionState } from "./engine/session.js";

/** What a store keeps: the engine's session and when it was taken. */
export interface StoredSession {
  /** The engine's session, as `exportSession` gives it (plain data). */
  readonly session: SessionState;
  /**
   * Wall-clock time of the export, in milliseconds since the epoch. The
   * engine's clock is monotonic and does not survive the process: message
   * expiry across a restart counts from this.
   */
  readonly savedAt: number;
  /**
   * The application's own progress (a source offset, the last message number
   * it handled ...), saved in the same write as the session: after a crash the
   * store holds both as they were at one instant, so an application that
   * records what it published or processed here neither repeats nor skips
   * anything. Opaque to the store; keep it small (it is written whole with
   * every save).
   */
  readonly checkpoint?: string;
}

export interface SessionStore {
  /** The last session saved, or undefined when there is none. Rejects with a StoreError when the stored data is damaged or unreadable. */
  load(): Promise<StoredSession | undefined>;
  /** Makes `stored` the stored session; it is durable when the promise resolves. */
  save(stored: StoredSession): Promise<void>;
  /** Forgets the stored session (durably). */
  clear(): Promise<void>;
  /** Releases what the store holds open; later calls reject. */
  close(): Promise<void>;
}

/** Stable store error codes. Add new ones at the end; never rename. */
export const StoreErrorCode = {
  /** The stored data does not decode or fails its checksum (tampered, or written by something else). */
  Corrupt: "ERR_STORE_CORRUPT",
  /** The file system failed (permissions, disk full, ...); `cause` says how. */
  Io: "ERR_STORE_IO",
  /** Another process holds the store. */
  Locked: "ERR_STORE_LOCKED",
  /** The store was closed. */
  Closed: "ERR_STORE_CLOSED",
} as const;

export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

export class StoreError extends Error {
  override readonly name = "StoreError";
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.code = code;
  }
}

/** The host's structuredClone (every runtime the core targets has it), typed here without DOM or Node types. */
const clone = <T>(value: T): T => (globalThis as unknown as { structuredClone<V>(v: V): V }).structuredClone(value);

/**
 * The default store: the session lives as long as the program; it keeps a deep
 * copy (structuredClone), so later changes to the saved object do not reach it.
 */
export class MemoryStore implements SessionStore {
  #stored: StoredSession | undefined;
  #closed = false;

  load(): Promise<StoredSession | undefined> {
    if (this.#closed) return closed();
    return Promise.resolve(this.#stored === undefined ? undefined : clone(this.#stored));
  }

  save(stored: StoredSession): Promise<void> {
    if (this.#closed) return closed();
    this.#stored = clone(stored);
    return Promise.resolve();
  }

  clear(): Promise<void> {
    if (this.#closed) return closed();
    this.#stored = undefined;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

interface Batch {
  stored: StoredSession;
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

/**
 * What every store that does IO needs in front of it, written once: its
 * operations run one at a time in call order; saves made while one waits to be
 * written are combined into that write (group commit: the last one wins, and
 * every caller's promise settles with the write); a store that is closed
 * refuses everything but `close`; what `save` is given is checked first.
 *
 * A store extends it and does the IO in `read`, `write`, `erase` and
 * `release`, each of which runs alone.
 */
export abstract class SerialStore implements SessionStore {
  /** The store's class name, for messages ("FileStore.save: ..."). */
  readonly #name: string;
  #closed = false;
  #tail: Promise<unknown> = Promise.resolve();
  /** The saves waiting for the next write; later saves join it until that write starts. */
  #batch: Batch | undefined;

  constructor(name: string) {
    this.#name = name;
  }

  /** Reads the stored session (undefined when there is none). */
  protected abstract read(): Promise<StoredSession | undefined>;
  /** Makes `stored` durable. */
  protected abstract write(stored: StoredSession): Promise<void>;
  /** Forgets the stored session durably. */
  protected abstract erase(): Promise<void>;
  /** Lets go of what the store holds open (files, locks, databases); runs once, after everything before it. */
  protected abstract release(): Promise<void>;

  load(): Promise<StoredSession | undefined> {
    if (this.#closed) return closed();
    return this.#run(() => this.read());
  }

  save(stored: StoredSession): Promise<void> {
    if (this.#closed) return closed();
    const problem = storedProblem(stored);
    if (problem !== undefined) return Promise.reject(new TypeError(`${this.#name}.save: ${problem}`));
    return new Promise<void>((resolve, reject) => {
      if (this.#batch !== undefined) {
        // Group commit: the write not started yet takes this session instead.
        this.#batch.stored = stored;
        this.#batch.waiters.push({ resolve, reject });
        return;
      }
      const batch: Batch = { stored, waiters: [{ resolve, reject }] };
      this.#batch = batch;
      this.#run(() => {
        // From here on, saves form the next batch.
        if (this.#batch === batch) this.#batch = undefined;
        return this.write(batch.stored);
      }).then(
        () => batch.waiters.forEach((w) => w.resolve()),
        (e: unknown) => batch.waiters.forEach((w) => w.reject(e)),
      );
    });
  }

  clear(): Promise<void> {
    if (this.#closed) return closed();
    // A save made after clear() must not join a batch written before it.
    this.#batch = undefined;
    return this.#run(() => this.erase());
  }

  close(): Promise<void> {
    if (this.#closed) return this.#tail.then(() => undefined);
    this.#closed = true;
    this.#batch = undefined;
    return this.#run(() => this.release());
  }

  #run<T>(op: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(op);
    this.#tail = p.catch(() => undefined);
    return p;
  }
}

function closed(): Promise<never> {
  return Promise.reject(new StoreError(StoreErrorCode.Closed, "the store is closed"));
}

/** What is wrong with what `save` was given, or undefined. */
function storedProblem(stored: StoredSession): string | undefined {
  if (typeof stored !== "object" || stored === null || typeof stored.session !== "object" || stored.session === null || !Array.isArray(stored.session.outgoing)) {
    return "stored must be { session, savedAt } with session from exportSession";
  }
  if (typeof stored.savedAt !== "number" || !Number.isFinite(stored.savedAt)) return "savedAt must be a finite number";
  if (stored.checkpoint !== undefined && typeof stored.checkpoint !== "string") return "checkpoint must be a string when given";
  return undefined;
}
