/**
 * IndexedDbStore: a SessionStore in a browser's (or a worker's) IndexedDB.
 * One object store, "sessions", holds one record per client id (the key):
 * `{ format: 1, clientId, savedAt, checkpoint?, session }` with the session in
 * the core's JSON form (sessionToJSON: payloads and binary properties as
 * base64), so a load checks it again (sessionFromJSON) and devtools show it
 * as text. A save is one readwrite transaction with durability "strict",
 * resolved on the transaction's `complete`. See README.md.
 *
 * No Node built-ins, and nothing runs at import: the IndexedDB factory and
 * the Web Locks API are looked up by the constructor and the first operation.
 * The public types are declared here (IDBFactoryLike) so that the .d.ts files
 * need no DOM lib in a consumer's tsconfig; inside, the DOM's types are used.
 */
import { SerialStore, sessionFromJSON, sessionToJSON, StoreError, StoreErrorCode, type SessionJSON, type StoredSession } from "@sansmqtt/core";

/**
 * The part of an IndexedDB factory the store uses: the browser's or a
 * worker's `indexedDB` (an IDBFactory) fits, and so does fake-indexeddb's.
 * Declared structurally so that these types need no DOM lib.
 */
export interface IDBFactoryLike {
  open(name: string, version?: number): object;
}

export interface IndexedDbStoreOptions {
  /** The IndexedDB database; default "sansmqtt". Stores of several client ids share one database (one record each). */
  databaseName?: string;
  /** The IndexedDB factory; default `globalThis.indexedDB`. For tests (fake-indexeddb) and for hosts without a global one. */
  indexedDB?: IDBFactoryLike;
}

/** What the "sessions" object store holds under a client id: plain, JSON-safe data. */
export interface SessionRecord {
  /** 1. A load refuses any other (a later version's record) with ERR_STORE_CORRUPT. */
  format: 1;
  /** The store's client id (also the key); checked on load. */
  clientId: string;
  /** StoredSession.savedAt. */
  savedAt: number;
  /** StoredSession.checkpoint, when the save had one. */
  checkpoint?: string;
  /** The session in the core's JSON form (sessionToJSON). */
  session: SessionJSON;
}

/** The database's version: 1 created the "sessions" object store. */
export const DATABASE_VERSION = 1;
/** The object store's name. */
export const OBJECT_STORE = "sessions";
const FORMAT = 1;
const OPTION_NAMES = ["databaseName", "indexedDB"];

/** The part of the Web Locks API the store uses (navigator.locks). */
interface LockManagerLike {
  request(name: string, options: { mode: "exclusive"; ifAvailable: true }, callback: (lock: unknown) => Promise<void> | undefined): Promise<unknown>;
}

export class IndexedDbStore extends SerialStore {
  readonly clientId: string;
  readonly databaseName: string;
  /** The Web Locks name this store holds while open (when navigator.locks exists). */
  readonly lockName: string;
  readonly #factory: IDBFactory;

  /** The open connection; undefined: the next operation opens one. */
  #db: IDBDatabase | undefined;
  /** Ends the lock's callback, which lets the lock go; undefined: no lock held. */
  #release: (() => void) | undefined;
  /** true once the lock is held, or once it is known that there is no Locks API to take one from. */
  #ready = false;

  constructor(clientId: string, options: IndexedDbStoreOptions = {}) {
    super("IndexedDbStore");
    if (typeof clientId !== "string") throw new TypeError("IndexedDbStore: clientId must be a string");
    if (typeof options !== "object" || options === null) throw new TypeError("IndexedDbStore: options must be an object");
    for (const name of Object.keys(options)) {
      if (!OPTION_NAMES.includes(name)) throw new TypeError(`IndexedDbStore: unknown option "${name}" (known: ${OPTION_NAMES.join(", ")})`);
    }
    const { databaseName = "sansmqtt", indexedDB } = options;
    if (typeof databaseName !== "string" || databaseName === "") throw new TypeError("IndexedDbStore: databaseName must be a non-empty string");
    const factory = indexedDB ?? (globalThis as { indexedDB?: IDBFactoryLike }).indexedDB;
    if (factory === undefined || factory === null) {
      throw new StoreError(StoreErrorCode.Io, "IndexedDbStore: there is no IndexedDB here (globalThis.indexedDB is undefined); pass options.indexedDB");
    }
    if (typeof factory !== "object" || typeof factory.open !== "function") throw new TypeError("IndexedDbStore: indexedDB must be an IDBFactory");
    this.clientId = clientId;
    this.databaseName = databaseName;
    this.lockName = `@sansmqtt/store-indexeddb ${JSON.stringify([databaseName, clientId])}`;
    this.#factory = factory as IDBFactory;
  }

  protected async read(): Promise<StoredSession | undefined> {
    const value = await this.#transact("readonly", (store) => store.get(this.clientId), "read");
    if (value === undefined) return undefined;
    return decodeRecord(value, this.clientId, this.#where());
  }

  protected async write(stored: StoredSession): Promise<void> {
    // Encoded when written, not when saved: of a group commit only the last is encoded.
    const record = this.#record(stored);
    await this.#transact("readwrite", (store) => store.put(record, this.clientId), "write");
  }

  protected async erase(): Promise<void> {
    await this.#transact("readwrite", (store) => store.delete(this.clientId), "delete");
  }

  protected async release(): Promise<void> {
    this.#dropDatabase();
    const release = this.#release;
    this.#release = undefined;
    this.#ready = false;
    release?.();
  }

  // ==== internals ====

  #where(): string {
    return `IndexedDB ${JSON.stringify(this.databaseName)}, ${OBJECT_STORE}[${JSON.stringify(this.clientId)}]`;
  }

  #record(stored: StoredSession): SessionRecord {
    const record: SessionRecord = { format: FORMAT, clientId: this.clientId, savedAt: stored.savedAt, session: sessionToJSON(stored.session) };
    if (stored.checkpoint !== undefined) record.checkpoint = stored.checkpoint;
    return record;
  }

  /**
   * One transaction on the object store, settled on its `complete` (with the
   * request's result) or its `abort` (with its error). A readwrite one asks
   * for durability "strict": the browser flushes it to disk before
   * `complete`. A browser that does not know the option ignores it.
   */
  async #transact(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest, what: string): Promise<unknown> {
    await this.#takeLock();
    const db = await this.#database();
    try {
      return await new Promise<unknown>((resolve, reject) => {
        const tx = mode === "readwrite" ? db.transaction(OBJECT_STORE, mode, { durability: "strict" }) : db.transaction(OBJECT_STORE, mode);
        let request: IDBRequest;
        try {
          request = work(tx.objectStore(OBJECT_STORE));
        } catch (e) {
          // A request refused at once (DataError, ...): nothing was written.
          try {
            tx.abort();
          } catch {
            // already finished
          }
          reject(e);
          return;
        }
        tx.oncomplete = () => resolve(request.result);
        // A failed request aborts the transaction (its error is the transaction's error).
        tx.onabort = () => reject(tx.error ?? request.error ?? new DOMException("the transaction was aborted", "AbortError"));
      });
    } catch (e) {
      // The connection may be what failed (closed under us, ...): the next operation opens a new one.
      this.#dropDatabase();
      throw new StoreError(StoreErrorCode.Io, `${this.#where()}: cannot ${what}: ${describe(e)}`, { cause: e });
    }
  }

  /** The open connection, opened (and the object store created) when there is none. */
  #database(): Promise<IDBDatabase> {
    if (this.#db !== undefined) return Promise.resolve(this.#db);
    const name = this.databaseName;
    const fail = (e: unknown) => new StoreError(StoreErrorCode.Io, `cannot open the IndexedDB database ${JSON.stringify(name)}: ${describe(e)}`, { cause: e });
    return new Promise<IDBDatabase>((resolve, reject) => {
      let request: IDBOpenDBRequest;
      try {
        request = this.#factory.open(name, DATABASE_VERSION);
      } catch (e) {
        // SecurityError (an opaque origin, storage disabled), TypeError ...
        reject(fail(e));
        return;
      }
      let settled = false;
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(OBJECT_STORE)) db.createObjectStore(OBJECT_STORE);
      };
      request.onsuccess = () => {
        const db = request.result;
        if (settled) {
          // Given up on (blocked): let it go.
          db.close();
          return;
        }
        settled = true;
        // Another connection wants a newer version (another tab, a later release): let it, and open again next time.
        db.onversionchange = () => {
          db.close();
          if (this.#db === db) this.#db = undefined;
        };
        // Closed by the browser (storage cleared, ...): open again next time.
        db.onclose = () => {
          if (this.#db === db) this.#db = undefined;
        };
        this.#db = db;
        resolve(db);
      };
      request.onerror = () => {
        if (settled) return;
        settled = true;
        // VersionError (a later version made the database), QuotaExceededError, UnknownError ...
        reject(fail(request.error));
      };
      request.onblocked = () => {
        if (settled) return;
        settled = true;
        reject(fail(new DOMException("blocked: another connection to the database (another tab) does not let it be upgraded", "BlockedError")));
      };
    });
  }

  #dropDatabase(): void {
    const db = this.#db;
    this.#db = undefined;
    db?.close();
  }

  /**
   * The Web Locks lock on this database and client id, held until close():
   * one store in the whole origin (all its tabs and workers) uses a client
   * id's record. ERR_STORE_LOCKED when another holds it (tried again at the
   * next call). Without a Locks API (Node, old browsers) nothing is locked.
   */
  async #takeLock(): Promise<void> {
    if (this.#ready) return;
    const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
    if (locks === undefined || locks === null) {
      this.#ready = true;
      return;
    }
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let granted: boolean;
    try {
      granted = await new Promise<boolean>((resolve, reject) => {
        locks
          .request(this.lockName, { mode: "exclusive", ifAvailable: true }, (lock) => {
            if (lock === null) {
              resolve(false);
              return undefined;
            }
            resolve(true);
            return held;
          })
          .then(
            () => this.#lost(release),
            (e: unknown) => {
              reject(e);
              this.#lost(release);
            },
          );
      });
    } catch (e) {
      throw new StoreError(StoreErrorCode.Io, `cannot take the lock ${JSON.stringify(this.lockName)}: ${describe(e)}`, { cause: e });
    }
    if (!granted) {
      throw new StoreError(StoreErrorCode.Locked, `another store (in this or another tab or worker) uses client id ${JSON.stringify(this.clientId)} in ${this.#where()}`);
    }
    this.#release = release;
    this.#ready = true;
  }

  /** The lock's request ended: released by close(), or taken away (another holder's `steal`). */
  #lost(release: () => void): void {
    if (this.#release !== release) return;
    this.#release = undefined;
    // Taken away: the next operation asks for it again (and gets ERR_STORE_LOCKED while the other holds it).
    this.#ready = false;
  }
}

function describe(e: unknown): string {
  if (e instanceof Error || (typeof e === "object" && e !== null && "message" in e)) {
    const { name, message } = e as { name?: unknown; message?: unknown };
    return typeof name === "string" && name !== "" ? `${name}: ${String(message)}` : String(message);
  }
  return String(e);
}

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : typeof v === "number" || typeof v === "boolean" ? String(v) : typeof v;
}

/** A stored record back as a StoredSession, checked: ERR_STORE_CORRUPT with the reason when it is not what a save writes. */
function decodeRecord(value: unknown, clientId: string, where: string): StoredSession {
  const corrupt = (why: string, cause?: unknown) => new StoreError(StoreErrorCode.Corrupt, `${where}: ${why}`, cause === undefined ? {} : { cause });
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw corrupt(`the record is ${show(value)}, not a session record`);
  const r = value as Record<string, unknown>;
  if (r.format !== FORMAT) throw corrupt(`record format ${show(r.format)} is not known (this version reads format ${FORMAT}; a later version wrote it?)`);
  if (r.clientId !== clientId) throw corrupt(`the record is client id ${show(r.clientId)}'s, not ${JSON.stringify(clientId)}'s`);
  if (typeof r.savedAt !== "number" || !Number.isFinite(r.savedAt)) throw corrupt(`savedAt is ${show(r.savedAt)}, not a finite number`);
  if (r.checkpoint !== undefined && typeof r.checkpoint !== "string") throw corrupt(`checkpoint is ${show(r.checkpoint)}, not a string`);
  let session: StoredSession["session"];
  try {
    session = sessionFromJSON(r.session);
  } catch (e) {
    throw corrupt(`the session does not decode: ${describe(e)}`, e);
  }
  return r.checkpoint === undefined ? { session, savedAt: r.savedAt } : { session, savedAt: r.savedAt, checkpoint: r.checkpoint };
}
