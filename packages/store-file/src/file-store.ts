/**
 * FileStore: a SessionStore in one directory per client id. The session is an
 * append-only log file ("log") of checksummed records: a full record, then a
 * delta per save. A save is one write and one fsync; when the log grows past
 * a bound it is replaced by a new file holding one full record (written to
 * "log.tmp", fsynced, renamed over "log", directory fsynced), so a crash at any
 * point leaves either the old log or the new one. See README.md.
 */
import { createHash } from "node:crypto";
import { mkdir, open, rename, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { SerialStore, StoreError, StoreErrorCode, type OutgoingMessage, type StoredSession } from "@sansmqtt/core";
import { frame, MAGIC, readRecord } from "./frame.js";
import { ioError, readIfThere, removeIfThere, syncDirectory } from "./fs.js";
import { releaseLock, takeLock } from "./lock.js";
import { body, Damage, entryOf, messageLine, Replay, restOf, sameScalars, type Entry } from "./records.js";

export interface FileStoreOptions {
  /**
   * The log is compacted (rewritten as one full record) when it would grow
   * past max(compactFactor × the session's size, compactMinBytes).
   * Default 4 MiB: below it, compacting often would cost more than it saves.
   */
  compactMinBytes?: number;
  /** Default 2. At least 1.5. */
  compactFactor?: number;
  /**
   * false: no fsync at all, so nothing survives a power loss or an OS crash
   * (a killed process still loses nothing that was written). For tests and
   * benchmarks. Default true.
   */
  durable?: boolean;
  /** Called after each fsync ("file": the log; "directory": a rename, create or removal made durable). */
  onSync?: (what: "file" | "directory") => void;
}

/** Counters, for tests and monitoring. */
export interface FileStoreStats {
  /** Size of the log file as this store wrote it (0 before the first save). */
  logBytes: number;
  /** Size of the last saved session as a full record would write it. */
  sessionBytes: number;
  /** Records written (full and delta). */
  records: number;
  /** Full records written (first save after open or clear, compaction, recovery from a failed write). */
  fullRecords: number;
  /** Writes (each followed by one fsync when durable). */
  writes: number;
}

/**
 * The directory name for a client id: a readable prefix (letters, digits,
 * "_" "-" "." kept, at most 40 characters) and 128 bits of SHA-256 over the
 * id's UTF-16 code units (every JavaScript string, even one with a lone
 * surrogate that UTF-8 cannot encode, hashes as itself). The log also records
 * the client id and a load checks it.
 */
export function clientDirectoryName(clientId: string): string {
  const readable = clientId.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 40);
  const hash = createHash("sha256").update(Buffer.from(clientId, "utf16le")).digest("hex").slice(0, 32);
  return `c_${readable}_${hash}`;
}

/** The open log and what it holds, so the next save writes only what changed. */
interface Log {
  fh: FileHandle;
  /** Bytes in the file: where the next record goes. */
  size: number;
  /** Records in the file (the next record's `n`). */
  records: number;
  /** The last saved messages by mid, in the saved order. */
  entries: Map<number, Entry>;
  /** Size of the last saved session as a full record (head + message lines). */
  sessionBytes: number;
  messageBytes: number;
}

const LOG = "log";
const TMP = "log.tmp";

export class FileStore extends SerialStore {
  /** The client's directory: the files "log" (the session), "log.tmp" (a compaction under way) and "lock". */
  readonly path: string;
  readonly clientId: string;
  readonly #compactMin: number;
  readonly #compactFactor: number;
  readonly #durable: boolean;
  readonly #onSync: ((what: "file" | "directory") => void) | undefined;

  /** The lock file, once taken. */
  #lock: string | undefined;
  /** undefined: the next save writes a new log with a full record (none open yet, or the last write failed). */
  #log: Log | undefined;
  /** Counts the saves, to find the messages a save no longer has. */
  #generation = 0;
  #stats: FileStoreStats = { logBytes: 0, sessionBytes: 0, records: 0, fullRecords: 0, writes: 0 };

  constructor(directory: string, clientId: string, options: FileStoreOptions = {}) {
    super("FileStore");
    if (typeof directory !== "string" || directory === "") throw new TypeError("FileStore: directory must be a non-empty string");
    if (typeof clientId !== "string") throw new TypeError("FileStore: clientId must be a string");
    const { compactMinBytes = 4 * 1024 * 1024, compactFactor = 2, durable = true, onSync } = options;
    if (!Number.isSafeInteger(compactMinBytes) || compactMinBytes < 0) throw new TypeError("FileStore: compactMinBytes must be a non-negative integer");
    // Below 1.5 a log would be compacted at nearly every save once the session stops shrinking.
    if (typeof compactFactor !== "number" || !(compactFactor >= 1.5)) throw new TypeError("FileStore: compactFactor must be at least 1.5");
    this.path = join(resolve(directory), clientDirectoryName(clientId));
    this.clientId = clientId;
    this.#compactMin = compactMinBytes;
    this.#compactFactor = compactFactor;
    this.#durable = durable;
    this.#onSync = onSync;
  }

  stats(): FileStoreStats {
    return { ...this.#stats };
  }

  protected async read(): Promise<StoredSession | undefined> {
    await this.#ready();
    let file: Buffer | undefined;
    try {
      file = await readIfThere(join(this.path, LOG));
    } catch (e) {
      throw ioError(`cannot read ${join(this.path, LOG)}`, e);
    }
    if (file === undefined) return undefined;
    return decode(file, this.clientId, join(this.path, LOG));
  }

  protected async write(stored: StoredSession): Promise<void> {
    await this.#ready();
    await this.#write(stored);
  }

  protected async erase(): Promise<void> {
    await this.#ready();
    await this.#dropLog();
    try {
      await removeIfThere(join(this.path, TMP));
      const removed = await removeIfThere(join(this.path, LOG));
      if (removed) await this.#syncDirectory(this.path);
    } catch (e) {
      throw ioError(`cannot remove the session in ${this.path}`, e);
    }
  }

  protected async release(): Promise<void> {
    await this.#dropLog();
    if (this.#lock !== undefined) {
      const lock = this.#lock;
      this.#lock = undefined;
      await releaseLock(lock);
    }
  }

  // ==== internals ====

  /** The directory exists (durably) and the lock is ours. A failure is retried by the next operation. */
  async #ready(): Promise<void> {
    if (this.#lock !== undefined) return;
    let created: string | undefined;
    try {
      created = await mkdir(this.path, { recursive: true });
      if (created !== undefined) {
        // Each directory made is an entry in its parent: make those durable, innermost first.
        for (let d = this.path; d !== dirname(created); d = dirname(d)) await this.#syncDirectory(dirname(d));
      }
    } catch (e) {
      throw ioError(`cannot create ${this.path}`, e);
    }
    this.#lock = await takeLock(this.path);
  }

  async #syncDirectory(path: string): Promise<void> {
    if (!this.#durable) return;
    await syncDirectory(path);
    this.#onSync?.("directory");
  }

  async #syncFile(fh: FileHandle, full: boolean): Promise<void> {
    if (!this.#durable) return;
    // Appending changes the size, which fdatasync also makes durable; a new file gets a full fsync.
    if (full) await fh.sync();
    else await fh.datasync();
    this.#onSync?.("file");
  }

  async #dropLog(): Promise<void> {
    const log = this.#log;
    this.#log = undefined;
    if (log !== undefined) await log.fh.close().catch(() => undefined);
  }

  async #write(stored: StoredSession): Promise<void> {
    const log = this.#log;
    const generation = ++this.#generation;
    const session = stored.session;
    const rest = restOf(session);
    if (log === undefined) return this.#writeFull(stored, rest, generation);
    let record: Buffer;
    try {
      record = this.#delta(log, stored, rest, generation);
    } catch (e) {
      // The remembered messages may be half updated: start over from a full record.
      await this.#dropLog();
      throw e;
    }
    const bound = Math.max(this.#compactFactor * log.sessionBytes, this.#compactMin);
    if (log.size + record.length > bound) return this.#writeFull(stored, rest, generation);
    try {
      await writeAll(log.fh, record, log.size);
      this.#stats.writes++;
      await this.#syncFile(log.fh, false);
    } catch (e) {
      // The file may end in part of this record now; the next save writes a new log.
      await this.#dropLog();
      throw ioError(`cannot append to ${join(this.path, LOG)}`, e);
    }
    log.size += record.length;
    log.records++;
    this.#stats.records++;
    this.#stats.logBytes = log.size;
    this.#stats.sessionBytes = log.sessionBytes;
  }

  /** The delta record for `stored` against the last save; updates what the log remembers. */
  #delta(log: Log, stored: StoredSession, rest: object, generation: number): Buffer {
    const entries = log.entries;
    const lines: Buffer[] = [];
    let messageBytes = log.messageBytes;
    for (const m of stored.session.outgoing) {
      const mid = checkMid(m);
      const e = entries.get(mid);
      if (e !== undefined && e.seen === generation) throw new TypeError(`FileStore.save: message id ${mid} appears twice`);
      if (e !== undefined && sameScalars(e, m)) {
        if (e.properties === m.properties) {
          e.seen = generation;
          continue;
        }
        const { line, json } = messageLine(m);
        const text = json.properties === undefined ? undefined : JSON.stringify(json.properties);
        e.properties = m.properties;
        e.seen = generation;
        if (text === e.propertiesText) continue;
        lines.push(line);
        messageBytes += line.length - e.size;
        Object.assign(e, entryOf(m, json, line.length, generation));
        continue;
      }
      const { line, json } = messageLine(m);
      lines.push(line);
      if (e !== undefined) {
        messageBytes += line.length - e.size;
        Object.assign(e, entryOf(m, json, line.length, generation));
      } else {
        messageBytes += line.length;
        entries.set(mid, entryOf(m, json, line.length, generation));
      }
    }
    const del: number[] = [];
    for (const [mid, e] of entries) {
      if (e.seen !== generation) {
        del.push(mid);
        messageBytes -= e.size;
      }
    }
    for (const mid of del) entries.delete(mid);
    // Replay gives: changed messages where they were, new ones at the end. Anything else needs the order spelled out.
    let order: number[] | undefined;
    let i = 0;
    const outgoing = stored.session.outgoing;
    for (const mid of entries.keys()) {
      if (outgoing[i++]!.mid !== mid) {
        order = outgoing.map((m) => m.mid);
        const reordered = new Map<number, Entry>();
        for (const id of order) reordered.set(id, entries.get(id)!);
        log.entries = reordered;
        break;
      }
    }
    const head: Record<string, unknown> = { n: log.records, k: "d", savedAt: stored.savedAt, rest, del };
    if (stored.checkpoint !== undefined) head.cp = stored.checkpoint;
    if (order !== undefined) head.order = order;
    const pieces = body(head, lines);
    log.messageBytes = messageBytes;
    log.sessionBytes = messageBytes + outgoing.length + Buffer.byteLength(JSON.stringify(rest)) + (stored.checkpoint === undefined ? 0 : Buffer.byteLength(JSON.stringify(stored.checkpoint))) + 64;
    return frame(pieces, false);
  }

  /** A new log holding `stored` as one full record, in place of the old one (atomic rename). */
  async #writeFull(stored: StoredSession, rest: object, generation: number): Promise<void> {
    const entries = new Map<number, Entry>();
    const lines: Buffer[] = [];
    let messageBytes = 0;
    for (const m of stored.session.outgoing) {
      const mid = checkMid(m);
      if (entries.has(mid)) throw new TypeError(`FileStore.save: message id ${mid} appears twice`);
      const { line, json } = messageLine(m);
      lines.push(line);
      messageBytes += line.length;
      entries.set(mid, entryOf(m, json, line.length, generation));
    }
    const head: Record<string, unknown> = { n: 0, k: "f", id: this.clientId, savedAt: stored.savedAt, rest };
    if (stored.checkpoint !== undefined) head.cp = stored.checkpoint;
    const pieces = body(head, lines);
    const record = frame(pieces, true);
    await this.#dropLog();
    const tmp = join(this.path, TMP);
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmp, "w");
      await writeAll(fh, record, 0);
      this.#stats.writes++;
      await this.#syncFile(fh, true);
      await rename(tmp, join(this.path, LOG));
      await this.#syncDirectory(this.path);
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await removeIfThere(tmp).catch(() => undefined);
      throw ioError(`cannot write ${join(this.path, LOG)}`, e);
    }
    // The handle now names "log": later deltas append through it.
    this.#log = {
      fh,
      size: record.length,
      records: 1,
      entries,
      messageBytes,
      sessionBytes: record.length,
    };
    this.#stats.records++;
    this.#stats.fullRecords++;
    this.#stats.logBytes = record.length;
    this.#stats.sessionBytes = record.length;
  }
}

function checkMid(m: OutgoingMessage): number {
  if (typeof m !== "object" || m === null || !Number.isSafeInteger(m.mid)) {
    throw new TypeError("FileStore.save: every outgoing message needs an integer mid");
  }
  return m.mid;
}

/** One write call; a short write (rare on a regular file) is continued, not ignored. */
async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
    done += bytesWritten;
  }
}

/** The session in a log file: its records applied in order; a torn last record is left out. */
export function decode(file: Buffer, clientId: string, path: string): StoredSession {
  const corrupt = (why: string) => new StoreError(StoreErrorCode.Corrupt, `${path}: ${why}`);
  if (file.length < MAGIC.length || !file.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw corrupt("not a sansmqtt session log (or a later format)");
  }
  const replay = new Replay(clientId);
  let at = MAGIC.length;
  let records = 0;
  while (at < file.length) {
    const r = readRecord(file, at);
    if (r.kind === "torn") {
      // The first record is written whole before the file gets its name: it is never torn.
      if (records === 0) throw corrupt("the first record is cut short");
      break;
    }
    if (r.kind === "corrupt") throw corrupt(r.why);
    try {
      replay.apply(r.body);
    } catch (e) {
      if (e instanceof Damage) throw corrupt(e.message);
      throw e;
    }
    records++;
    at = r.end;
  }
  try {
    return replay.result();
  } catch (e) {
    if (e instanceof Damage) throw corrupt(e.message);
    throw e;
  }
}

