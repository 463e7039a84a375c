/**
 * What a record's body holds, and how the session is rebuilt from records.
 *
 * A body is lines of JSON separated by "\n" (JSON.stringify never writes a raw
 * newline, and no UTF-8 sequence contains the byte 0x0A): first the record's
 * head, then one line per outgoing message in the core's own JSON form
 * (`sessionToJSON`: payload and binary properties as base64). Line by line
 * so a session with many messages never has to be one JavaScript string.
 *
 * - A full record (`k: "f"`, only ever first in a log file) holds the whole
 *   session: head { n, k, id, savedAt, rest, cp? } and every message.
 * - A delta record (`k: "d"`) holds what changed since the record before:
 *   head { n, k, savedAt, rest, cp?, del, order? } and the messages added or
 *   changed. `rest` is the session without its messages (small; always whole);
 *   `cp` is the application's checkpoint string (StoredSession.checkpoint), whole.
 *   Applying one: remove `del`; each message line replaces the message with
 *   its `mid` where it stands, or is appended; then, if `order` is present,
 *   the messages take that order (the writer sends it only when the order
 *   differs from what those steps give, e.g. after a session loss sent
 *   messages back to the queue).
 *
 * `n` counts records in a file (full = 0), so a record out of place is seen.
 */
import { sessionFromJSON, sessionToJSON, type OutgoingMessage, type OutgoingMessageJSON, type SessionState, type StoredSession } from "@sansmqtt/core";

const NL = Buffer.from("\n");

/** The session without its messages, as written: SessionJSON minus `outgoing`. */
export type Rest = Record<string, unknown>;

export function restOf(s: SessionState): Rest {
  // As sessionToJSON writes it, without encoding every payload again.
  const { outgoing: _o, ...rest } = s;
  return { ...rest, encoding: "base64" };
}

const EMPTY: Omit<SessionState, "outgoing"> = { format: 1, clientId: "", nextPacketId: 1, nextMid: 1, incomingQos2: [], subscriptions: [] };

/** One message as a line: the core's JSON form of it (so the file reads back through sessionFromJSON). */
export function messageLine(m: OutgoingMessage): { line: Buffer; json: OutgoingMessageJSON } {
  const json = sessionToJSON({ ...EMPTY, outgoing: [m] }).outgoing[0]!;
  return { line: Buffer.from(JSON.stringify(json), "utf8"), json };
}

/** A body's pieces: the head line, then one line per message. */
export function body(head: object, lines: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [Buffer.from(JSON.stringify(head), "utf8")];
  for (const l of lines) out.push(NL, l);
  return out;
}

// ============================================================================
// What the writer remembers of the last save, to write only what changed
// ============================================================================

/** The fields of a saved message that can change, copied (the engine's objects are its own). */
export interface Entry {
  state: OutgoingMessage["state"];
  packetId: number | undefined;
  sent: boolean | undefined;
  /** Delivery attempts: they change on their own when a connection ends. */
  attempts: number | undefined;
  qos: number;
  retain: boolean;
  topic: string;
  /** Compared by reference first: the engine keeps a message's payload as it was published. */
  payload: Uint8Array;
  properties: OutgoingMessage["properties"];
  /** The properties as written, when there are any: a new object with the same content is no change. */
  propertiesText: string | undefined;
  /** The line's size in bytes, for the live size of the session. */
  size: number;
  /** The save that last saw this message (to find those removed). */
  seen: number;
}

export function entryOf(m: OutgoingMessage, json: OutgoingMessageJSON, size: number, seen: number): Entry {
  return {
    state: m.state,
    packetId: m.packetId,
    sent: m.sent,
    attempts: m.attempts,
    qos: m.qos,
    retain: m.retain,
    topic: m.topic,
    payload: m.payload,
    properties: m.properties,
    propertiesText: json.properties === undefined ? undefined : JSON.stringify(json.properties),
    size,
    seen,
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Whether `m` is written as `e` was, apart from its properties (checked by the caller, which may need their JSON). */
export function sameScalars(e: Entry, m: OutgoingMessage): boolean {
  return (
    e.state === m.state &&
    e.packetId === m.packetId &&
    e.sent === m.sent &&
    e.attempts === m.attempts &&
    e.qos === m.qos &&
    e.retain === m.retain &&
    e.topic === m.topic &&
    sameBytes(e.payload, m.payload)
  );
}

// ============================================================================
// Reading: records back into a session
// ============================================================================

/** A reason the file does not decode; the store turns it into ERR_STORE_CORRUPT. */
export class Damage extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function mids(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x))) throw new Damage(`${what} is not a list of message ids`);
  return v as number[];
}

/** Rebuilds a session record by record (records are given in file order). */
export class Replay {
  #messages = new Map<number, unknown>();
  #rest: Rest | undefined;
  #savedAt = 0;
  #checkpoint: string | undefined;
  #n = -1;

  readonly #clientId: string;
  constructor(clientId: string) {
    this.#clientId = clientId;
  }

  apply(body: Buffer): void {
    const lines = splitLines(body);
    const head = parse(lines[0]!, "record head");
    if (!isObject(head)) throw new Damage("a record head is not an object");
    if (head.n !== this.#n + 1) throw new Damage(`record ${String(head.n)} found where record ${this.#n + 1} belongs`);
    this.#n++;
    if (typeof head.savedAt !== "number" || !Number.isFinite(head.savedAt)) throw new Damage("a record has no savedAt");
    if (!isObject(head.rest) || head.rest.format !== 1) throw new Damage("a record's session is not format 1");
    if (this.#n === 0) {
      if (head.k !== "f") throw new Damage("the log does not start with a full record");
      if (head.id !== this.#clientId) throw new Damage(`the log belongs to client id ${JSON.stringify(head.id)}, not ${JSON.stringify(this.#clientId)}`);
    } else {
      if (head.k !== "d") throw new Damage(`record ${this.#n} is not a delta record`);
      for (const mid of mids(head.del, "del")) {
        if (!this.#messages.delete(mid)) throw new Damage(`record ${this.#n} removes message ${mid}, which is not there`);
      }
    }
    if (head.cp !== undefined && typeof head.cp !== "string") throw new Damage(`record ${this.#n}'s checkpoint is not a string`);
    this.#rest = head.rest;
    this.#savedAt = head.savedAt;
    // Each record carries the checkpoint of its save whole: absent means none.
    this.#checkpoint = head.cp as string | undefined;
    for (let i = 1; i < lines.length; i++) {
      const m = parse(lines[i]!, "message");
      if (!isObject(m) || !Number.isSafeInteger(m.mid)) throw new Damage(`record ${this.#n} holds a message without a message id`);
      this.#messages.set(m.mid as number, m);
    }
    if (head.order !== undefined) {
      const order = mids(head.order, "order");
      if (order.length !== this.#messages.size) throw new Damage(`record ${this.#n}'s order does not list every message`);
      const reordered = new Map<number, unknown>();
      for (const mid of order) {
        const m = this.#messages.get(mid);
        if (m === undefined || reordered.has(mid)) throw new Damage(`record ${this.#n}'s order does not list every message once`);
        reordered.set(mid, m);
      }
      this.#messages = reordered;
    }
  }

  result(): StoredSession {
    if (this.#rest === undefined) throw new Damage("the log holds no record");
    let session: SessionState;
    try {
      session = sessionFromJSON({ ...this.#rest, outgoing: [...this.#messages.values()] });
    } catch (e) {
      throw new Damage(`the session does not decode: ${e instanceof Error ? e.message : String(e)}`);
    }
    return this.#checkpoint === undefined ? { session, savedAt: this.#savedAt } : { session, savedAt: this.#savedAt, checkpoint: this.#checkpoint };
  }
}

function splitLines(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const nl = body.indexOf(10, at);
    if (nl < 0) break;
    out.push(body.subarray(at, nl));
    at = nl + 1;
  }
  out.push(body.subarray(at));
  return out;
}

function parse(line: Buffer, what: string): unknown {
  try {
    return JSON.parse(line.toString("utf8"));
  } catch {
    throw new Damage(`a ${what} is not JSON`);
  }
}
