/**
 * Session state: everything that must outlive a network connection (and, with
 * a store, a process). It is plain data so a store can persist it as it is.
 */
import { show } from "../codec/bytes.js";
import { encodePacket } from "../codec/client.js";
import type { Packet, Properties, ProtocolVersion, QoS, Subscription } from "../codec/types.js";
import { ErrorCode, LocalProtocolError, MqttError } from "../errors.js";
import { base64Decode, base64Encode } from "./base64.js";

/** An outgoing application message and where it stands. */
export interface OutgoingMessage {
  /** The engine's message id, returned by `publish()`. */
  mid: number;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
  /**
   * "queued": waiting for the flow-control window, no packet id yet.
   * "publish": PUBLISH sent (or due), waiting for PUBACK / PUBREC.
   * "pubrel": PUBREC received, PUBREL sent (or due), waiting for PUBCOMP.
   */
  state: "queued" | "publish" | "pubrel";
  packetId?: number;
  /**
   * Whether a PUBLISH of it was handed out by `pollTransmit`: a resend then sets
   * DUP [MQTT-3.3.1-1], and a QoS 2 server may hold it. False when every
   * attempt was dropped before it left (the connection ended first). Absent
   * (older sessions) counts as true.
   */
  sent?: boolean;
}

/** An incoming QoS 2 message between PUBLISH and PUBREL (the dedup set). */
export interface IncomingQos2 {
  packetId: number;
  /** "delivered": given to the application, PUBREC not sent yet (manual ack). "received": PUBREC sent. */
  state: "delivered" | "received";
}

/** A subscription the server granted. */
export interface SessionSubscription extends Subscription {
  subscriptionIdentifier?: number;
  /** The server lost it and the engine asked again (resubscribeOnSessionLoss); not granted yet. */
  unconfirmed?: boolean;
}

/** A SUBSCRIBE or UNSUBSCRIBE sent (or due) and not acknowledged yet: sent again on the next connection. */
export interface SessionRequest {
  mid: number;
  packetId: number;
  kind: "subscribe" | "unsubscribe";
  /** For "subscribe". */
  subscriptions?: Subscription[];
  /** For "unsubscribe". */
  topicFilters?: string[];
  properties?: Properties;
}

/** The complete session as plain data: `exportSession()` / `importSession()`. */
export interface SessionState {
  readonly format: 1;
  clientId: string;
  nextPacketId: number;
  nextMid: number;
  /** In send order: inflight first (in the order first sent), then the queue. */
  outgoing: OutgoingMessage[];
  incomingQos2: IncomingQos2[];
  subscriptions: SessionSubscription[];
  /**
   * Ids of QoS 2 messages given up after their PUBLISH went out; reserved until
   * the server finishes the exchange or the session ends.
   */
  retiredPacketIds?: number[];
  /**
   * The session ends with its network connection (3.x clean session, MQTT 5
   * session expiry 0): once that connection is over, the next `connect()`
   * starts a new session instead of resuming this one.
   */
  endsWithConnection?: boolean;
  /** SUBSCRIBE / UNSUBSCRIBE requests not acknowledged yet, in the order they were made. */
  requests?: SessionRequest[];
}


// ============================================================================
// Validation: a session is caller input (it comes back from a store)
// ============================================================================

/** Why a session cannot be imported: ERR_ARGUMENT, naming the field. */
function bad(field: string, problem: string): LocalProtocolError {
  return new LocalProtocolError(ErrorCode.InvalidArgument, `session.${field}: ${problem}`, 0x83);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function intIn(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw bad(field, `must be an integer in ${min}..${max}, got ${show(v)}`);
  }
  return v;
}

function arrayOf(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw bad(field, `must be an array, got ${show(v)}`);
  return v;
}

function optionalBoolean(v: unknown, field: string): boolean | undefined {
  if (v !== undefined && typeof v !== "boolean") throw bad(field, `must be a boolean, got ${show(v)}`);
  return v;
}

/** Checks a packet the session would send with the codec's own rules; a refusal names `field`. */
function probe(p: Packet, version: ProtocolVersion, field: string): void {
  try {
    encodePacket(p, version);
  } catch (e) {
    if (e instanceof MqttError) throw bad(field, e.message);
    throw e;
  }
}

/**
 * The largest message id (and nextMid) a session may hold: far below
 * MAX_SAFE_INTEGER, so the mids the engine counts on from there stay exact
 * integers (from MAX_SAFE_INTEGER, `nextMid++` gave the same mid twice).
 */
const MAX_MID = 2 ** 52;

/**
 * Checks the whole session before anything is changed: types and ranges,
 * every message, subscription and request as the codec would encode it for
 * `version` (so MQTT 5 properties do not enter a 3.1.1 engine), packet ids
 * unique among the messages in flight, the ids given up and the requests,
 * message ids below `nextMid`, and no more messages than an engine with this
 * `maxQueued` can hold.
 * Returns a copy the engine can own (payloads are shared, not copied).
 * Throws LocalProtocolError ERR_ARGUMENT naming the first bad field.
 */
export function validateSession(input: unknown, version: ProtocolVersion, maxQueued: number): SessionState {
  if (!isObject(input)) throw bad("", `a session must be an object, got ${show(input)}`);
  const s = input;
  if (s.format !== 1) throw bad("format", `unknown session format ${show(s.format)}`);
  if (typeof s.clientId !== "string") throw bad("clientId", `must be a string, got ${show(s.clientId)}`);
  probe({ type: "connect", protocolVersion: 5, clean: true, keepAlive: 0, clientId: s.clientId }, 5, "clientId");
  const nextPacketId = intIn(s.nextPacketId, "nextPacketId", 1, 0xffff);
  const nextMid = intIn(s.nextMid, "nextMid", 1, MAX_MID);
  const mids = new Set<number>();
  const ids = new Set<number>();
  const claimId = (id: unknown, field: string): number => {
    const n = intIn(id, field, 1, 0xffff);
    if (ids.has(n)) throw bad(field, `packet identifier ${n} is used twice`);
    ids.add(n);
    return n;
  };
  const claimMid = (mid: unknown, field: string): number => {
    const n = intIn(mid, field, 1, MAX_MID);
    if (n >= nextMid) throw bad(field, `message id ${n} is not below nextMid ${nextMid}`);
    if (mids.has(n)) throw bad(field, `message id ${n} is used twice`);
    mids.add(n);
    return n;
  };

  const outgoing: OutgoingMessage[] = [];
  arrayOf(s.outgoing, "outgoing").forEach((raw, i) => {
    const f = `outgoing[${i}]`;
    if (!isObject(raw)) throw bad(f, `must be an object, got ${show(raw)}`);
    const mid = claimMid(raw.mid, `${f}.mid`);
    const state = raw.state;
    if (state !== "queued" && state !== "publish" && state !== "pubrel") {
      throw bad(`${f}.state`, `must be "queued", "publish" or "pubrel", got ${show(state)}`);
    }
    if (typeof raw.topic !== "string") throw bad(`${f}.topic`, `must be a string, got ${show(raw.topic)}`);
    if (!(raw.payload instanceof Uint8Array)) throw bad(`${f}.payload`, `must be a Uint8Array, got ${show(raw.payload)}`);
    if (raw.qos !== 0 && raw.qos !== 1 && raw.qos !== 2) throw bad(`${f}.qos`, `must be 0, 1 or 2, got ${show(raw.qos)}`);
    if (typeof raw.retain !== "boolean") throw bad(`${f}.retain`, `must be a boolean, got ${show(raw.retain)}`);
    if (raw.properties !== undefined && !isObject(raw.properties)) throw bad(`${f}.properties`, `must be an object, got ${show(raw.properties)}`);
    const sent = optionalBoolean(raw.sent, `${f}.sent`);
    const m: OutgoingMessage = { mid, topic: raw.topic, payload: raw.payload, qos: raw.qos, retain: raw.retain, state };
    if (raw.properties !== undefined) m.properties = raw.properties as Properties;
    if (state === "queued") {
      if (raw.packetId !== undefined) throw bad(`${f}.packetId`, "a queued message has no packet identifier yet");
    } else {
      if (m.qos === 0) throw bad(`${f}.state`, `a QoS 0 message is never "${state}"`);
      if (state === "pubrel" && m.qos !== 2) throw bad(`${f}.state`, `only a QoS 2 message is ever "pubrel"`);
      m.packetId = claimId(raw.packetId, `${f}.packetId`);
      if (sent !== undefined) m.sent = sent;
    }
    if (m.properties?.subscriptionIdentifiers !== undefined) {
      throw bad(`${f}.properties`, "a client PUBLISH never carries a subscription identifier [MQTT-3.3.4-6]");
    }
    const p: Packet = { type: "publish", topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: false };
    if (m.qos > 0) p.packetId = m.packetId ?? 1;
    if (m.properties !== undefined) p.properties = m.properties;
    probe(p, version, f);
    outgoing.push(m);
  });
  // The most an engine can hold: `maxQueued` messages the application queued
  // plus up to 65,535 that had packet ids and went back to the queue when a
  // session was lost. More than that is not a session this engine wrote.
  if (outgoing.length > maxQueued + 0xffff) {
    throw bad("outgoing", `${outgoing.length} messages exceed what an engine with maxQueued ${maxQueued} can hold (${maxQueued + 0xffff})`);
  }

  const retired = arrayOf(s.retiredPacketIds ?? [], "retiredPacketIds").map((id, i) => claimId(id, `retiredPacketIds[${i}]`));

  const requests: SessionRequest[] = arrayOf(s.requests ?? [], "requests").map((raw, i) => {
    const f = `requests[${i}]`;
    if (!isObject(raw)) throw bad(f, `must be an object, got ${show(raw)}`);
    const mid = claimMid(raw.mid, `${f}.mid`);
    const packetId = claimId(raw.packetId, `${f}.packetId`);
    if (raw.properties !== undefined && !isObject(raw.properties)) throw bad(`${f}.properties`, `must be an object, got ${show(raw.properties)}`);
    const props = raw.properties as Properties | undefined;
    const r: SessionRequest = { mid, packetId, kind: "subscribe" };
    if (raw.kind === "subscribe") {
      const subs = arrayOf(raw.subscriptions, `${f}.subscriptions`).map((x, j) => subscription(x, `${f}.subscriptions[${j}]`));
      r.subscriptions = subs;
      probe({ type: "subscribe", packetId, subscriptions: subs, ...(props ? { properties: props } : {}) }, version, f);
    } else if (raw.kind === "unsubscribe") {
      r.kind = "unsubscribe";
      const filters = arrayOf(raw.topicFilters, `${f}.topicFilters`).map((x, j) => {
        if (typeof x !== "string") throw bad(`${f}.topicFilters[${j}]`, `must be a string, got ${show(x)}`);
        return x;
      });
      r.topicFilters = filters;
      probe({ type: "unsubscribe", packetId, topicFilters: filters, ...(props ? { properties: props } : {}) }, version, f);
    } else {
      throw bad(`${f}.kind`, `must be "subscribe" or "unsubscribe", got ${show(raw.kind)}`);
    }
    if (props !== undefined) r.properties = props;
    return r;
  });

  const seenIn = new Set<number>();
  const incomingQos2 = arrayOf(s.incomingQos2, "incomingQos2").map((raw, i): IncomingQos2 => {
    const f = `incomingQos2[${i}]`;
    if (!isObject(raw)) throw bad(f, `must be an object, got ${show(raw)}`);
    const packetId = intIn(raw.packetId, `${f}.packetId`, 1, 0xffff);
    if (seenIn.has(packetId)) throw bad(`${f}.packetId`, `packet identifier ${packetId} is used twice`);
    seenIn.add(packetId);
    if (raw.state !== "delivered" && raw.state !== "received") {
      throw bad(`${f}.state`, `must be "delivered" or "received", got ${show(raw.state)}`);
    }
    return { packetId, state: raw.state };
  });

  const filters = new Set<string>();
  const subscriptions = arrayOf(s.subscriptions, "subscriptions").map((raw, i): SessionSubscription => {
    const f = `subscriptions[${i}]`;
    const sub: SessionSubscription = subscription(raw, f);
    const r = raw as Record<string, unknown>;
    if (filters.has(sub.topicFilter)) throw bad(`${f}.topicFilter`, `${show(sub.topicFilter)} appears twice`);
    filters.add(sub.topicFilter);
    let props: Properties | undefined;
    if (r.subscriptionIdentifier !== undefined) {
      if (version !== 5) throw bad(`${f}.subscriptionIdentifier`, "subscription identifiers need MQTT 5");
      sub.subscriptionIdentifier = intIn(r.subscriptionIdentifier, `${f}.subscriptionIdentifier`, 1, 268_435_455);
      props = { subscriptionIdentifiers: [sub.subscriptionIdentifier] };
    }
    const unconfirmed = optionalBoolean(r.unconfirmed, `${f}.unconfirmed`);
    if (unconfirmed !== undefined) sub.unconfirmed = unconfirmed;
    const { subscriptionIdentifier: _s, unconfirmed: _u, ...plain } = sub;
    probe({ type: "subscribe", packetId: 1, subscriptions: [plain], ...(props ? { properties: props } : {}) }, version, f);
    return sub;
  });

  const endsWithConnection = optionalBoolean(s.endsWithConnection, "endsWithConnection");
  const out: SessionState = {
    format: 1,
    clientId: s.clientId,
    nextPacketId,
    nextMid,
    outgoing,
    incomingQos2,
    subscriptions,
    retiredPacketIds: retired,
    requests,
  };
  if (endsWithConnection !== undefined) out.endsWithConnection = endsWithConnection;
  return out;
}

/** A subscription's own fields (the codec checks their values). */
function subscription(raw: unknown, f: string): Subscription {
  if (!isObject(raw)) throw bad(f, `must be an object, got ${show(raw)}`);
  if (typeof raw.topicFilter !== "string") throw bad(`${f}.topicFilter`, `must be a string, got ${show(raw.topicFilter)}`);
  if (raw.qos !== 0 && raw.qos !== 1 && raw.qos !== 2) throw bad(`${f}.qos`, `must be 0, 1 or 2, got ${show(raw.qos)}`);
  const sub: Subscription = { topicFilter: raw.topicFilter, qos: raw.qos };
  const noLocal = optionalBoolean(raw.noLocal, `${f}.noLocal`);
  const rap = optionalBoolean(raw.retainAsPublished, `${f}.retainAsPublished`);
  if (noLocal !== undefined) sub.noLocal = noLocal;
  if (rap !== undefined) sub.retainAsPublished = rap;
  if (raw.retainHandling !== undefined) {
    if (raw.retainHandling !== 0 && raw.retainHandling !== 1 && raw.retainHandling !== 2) {
      throw bad(`${f}.retainHandling`, `must be 0, 1 or 2, got ${show(raw.retainHandling)}`);
    }
    sub.retainHandling = raw.retainHandling;
  }
  return sub;
}

// ============================================================================
// JSON: a session as a store writes it
// ============================================================================

/** MQTT 5 properties with their binary values as base64 text. */
export type PropertiesJSON = Omit<Properties, "correlationData" | "authenticationData"> & {
  correlationData?: string;
  authenticationData?: string;
};

/** An outgoing message with its payload (and binary properties) as base64 text. */
export type OutgoingMessageJSON = Omit<OutgoingMessage, "payload" | "properties"> & {
  payload: string;
  properties?: PropertiesJSON;
};

/**
 * A session as JSON-safe data: `JSON.stringify(sessionToJSON(s))` writes it,
 * `sessionFromJSON(JSON.parse(text))` reads it back. Binary fields (payloads,
 * correlation data) are base64 (RFC 4648, with padding); everything else is
 * as in SessionState.
 */
export type SessionJSON = Omit<SessionState, "outgoing"> & {
  readonly encoding: "base64";
  outgoing: OutgoingMessageJSON[];
};

function propertiesToJSON(p: Properties): PropertiesJSON {
  const { correlationData, authenticationData, ...rest } = p;
  const out: PropertiesJSON = { ...rest };
  if (correlationData !== undefined) out.correlationData = base64Encode(correlationData);
  if (authenticationData !== undefined) out.authenticationData = base64Encode(authenticationData);
  return out;
}

function propertiesFromJSON(p: unknown, field: string): Properties {
  if (!isObject(p)) throw bad(field, `must be an object, got ${show(p)}`);
  const { correlationData, authenticationData, ...rest } = p as PropertiesJSON;
  const out: Properties = { ...(rest as Properties) };
  if (correlationData !== undefined) out.correlationData = fromBase64(correlationData, `${field}.correlationData`);
  if (authenticationData !== undefined) out.authenticationData = fromBase64(authenticationData, `${field}.authenticationData`);
  return out;
}

function fromBase64(v: unknown, field: string): Uint8Array {
  if (typeof v !== "string") throw bad(field, `must be base64 text, got ${show(v)}`);
  const bytes = base64Decode(v);
  if (bytes === undefined) throw bad(field, `is not valid base64 (${show(v)})`);
  return bytes;
}

/** The session as JSON-safe data (see SessionJSON). */
export function sessionToJSON(s: SessionState): SessionJSON {
  return {
    ...s,
    encoding: "base64",
    outgoing: s.outgoing.map((m) => {
      const { payload, properties, ...rest } = m;
      const j: OutgoingMessageJSON = { ...rest, payload: base64Encode(payload) };
      if (properties !== undefined) j.properties = propertiesToJSON(properties);
      return j;
    }),
  };
}

/**
 * Reads `sessionToJSON`'s data back (after `JSON.parse`). Checks the encoding
 * and the base64 fields; `importSession` checks everything else. Throws
 * LocalProtocolError ERR_ARGUMENT naming the field.
 */
export function sessionFromJSON(value: unknown): SessionState {
  if (!isObject(value)) throw bad("", `a session must be an object, got ${show(value)}`);
  if (value.encoding !== "base64") throw bad("encoding", `must be "base64", got ${show(value.encoding)}`);
  const { encoding: _e, outgoing, ...rest } = value;
  const messages = arrayOf(outgoing, "outgoing").map((raw, i) => {
    const f = `outgoing[${i}]`;
    if (!isObject(raw)) throw bad(f, `must be an object, got ${show(raw)}`);
    const { payload, properties, ...fields } = raw;
    const m = { ...fields, payload: fromBase64(payload, `${f}.payload`) } as unknown as OutgoingMessage;
    if (properties !== undefined) m.properties = propertiesFromJSON(properties, `${f}.properties`);
    return m;
  });
  return { ...(rest as unknown as SessionState), outgoing: messages };
}
