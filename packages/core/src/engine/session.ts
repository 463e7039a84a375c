/**
 * Session state: everything that must outlive a network connection (and, with
 * a store, a process). It is plain data so a store can persist it as it is.
 */
import { mustBe, show } from "../codec/bytes.js";
import { encodePacket } from "../codec/client.js";
import type { Packet, Properties, ProtocolVersion, QoS, Subscription } from "../codec/types.js";
import { LocalProtocolError, MqttError } from "../errors.js";
import { base64Decode, base64Encode } from "./base64.js";
import { PUBLISH_SUBSCRIPTION_ID } from "./errors.js";
import * as E from "../codes.js";

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
  /**
   * Delivery attempts used (the `maxSendAttempts` option): network connections
   * on which a PUBLISH of it was handed out by `pollTransmit` and that ended
   * before its PUBACK / PUBREC came. An export counts the connection in use
   * as ended (a session read back from a store goes on a new connection). It
   * stays with the message when a lost session sends it again as new.
   * Absent: 0 (written only when above 0).
   */
  attempts?: number;
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
  return new LocalProtocolError(E.InvalidArgument, `session.${field}: ${problem}`, 0x83);
}

/** A field of the wrong kind: "session.outgoing[0].qos: must be 0, 1 or 2, got 3". */
function wrong(field: string, expected: string, v: unknown): LocalProtocolError {
  return bad(field, mustBe("", expected, v).slice(1));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function objectAt(v: unknown, field: string): Record<string, unknown> {
  if (!isObject(v)) throw wrong(field, "an object", v);
  return v;
}

/** Optional MQTT 5 properties: an object when present (the codec checks what is in it). */
function propertiesAt(v: unknown, field: string): Properties | undefined {
  return v === undefined ? undefined : (objectAt(v, field) as Properties);
}

/** One of a few allowed values (a QoS, a state). */
function oneOf<T>(v: unknown, field: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw wrong(field, allowed.map((a) => JSON.stringify(a)).join(" or "), v);
  return v as T;
}

const QOS: readonly QoS[] = [0, 1, 2];

function intIn(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw wrong(field, `an integer in ${min}..${max}`, v);
  return v;
}

function arrayOf(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw wrong(field, "an array", v);
  return v;
}

function typed<T>(v: unknown, field: string, type: "string" | "boolean"): T {
  if (typeof v !== type) throw wrong(field, `a ${type}`, v);
  return v as T;
}

function optionalBoolean(v: unknown, field: string): boolean | undefined {
  return v === undefined ? undefined : typed<boolean>(v, field, "boolean");
}

/** Checks a packet the session would send with the codec's own rules; a refusal names `field`. */
function probe(p: Packet, props: Properties | undefined, version: ProtocolVersion, field: string): void {
  if (props !== undefined) (p as { properties?: Properties }).properties = props;
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
  if (!isObject(input)) throw bad("", mustBe("a session", "an object", input));
  const s = input;
  if (s.format !== 1) throw bad("format", `unknown session format ${show(s.format)}`);
  const clientId = typed<string>(s.clientId, "clientId", "string");
  probe({ type: "connect", protocolVersion: 5, clean: true, keepAlive: 0, clientId }, undefined, 5, "clientId");
  const nextPacketId = intIn(s.nextPacketId, "nextPacketId", 1, 0xffff);
  const nextMid = intIn(s.nextMid, "nextMid", 1, MAX_MID);
  const mids = new Set<number>();
  const ids = new Set<number>();
  /** A value not used twice in `set`. */
  const unique = (set: Set<number>, n: number, field: string, what: string): number => {
    if (set.has(n)) throw bad(field, `${what} ${n} is used twice`);
    set.add(n);
    return n;
  };
  const claimId = (id: unknown, field: string): number => unique(ids, intIn(id, field, 1, 0xffff), field, "packet identifier");
  const claimMid = (mid: unknown, field: string): number => {
    const n = intIn(mid, field, 1, MAX_MID);
    if (n >= nextMid) throw bad(field, `message id ${n} is not below nextMid ${nextMid}`);
    return unique(mids, n, field, "message id");
  };

  const outgoing = arrayOf(s.outgoing, "outgoing").map((raw, i): OutgoingMessage => {
    const f = `outgoing[${i}]`;
    const o = objectAt(raw, f);
    const mid = claimMid(o.mid, `${f}.mid`);
    const state = oneOf(o.state, `${f}.state`, ["queued", "publish", "pubrel"] as const);
    const topic = typed<string>(o.topic, `${f}.topic`, "string");
    if (!(o.payload instanceof Uint8Array)) throw wrong(`${f}.payload`, "a Uint8Array", o.payload);
    const qos = oneOf(o.qos, `${f}.qos`, QOS);
    const retain = typed<boolean>(o.retain, `${f}.retain`, "boolean");
    const properties = propertiesAt(o.properties, `${f}.properties`);
    const sent = optionalBoolean(o.sent, `${f}.sent`);
    const attempts = o.attempts === undefined ? 0 : intIn(o.attempts, `${f}.attempts`, 0, Number.MAX_SAFE_INTEGER);
    const m: OutgoingMessage = { mid, topic, payload: o.payload, qos, retain, state };
    if (properties !== undefined) m.properties = properties;
    if (attempts > 0) m.attempts = attempts;
    if (state === "queued") {
      if (o.packetId !== undefined) throw bad(`${f}.packetId`, "a queued message has no packet identifier yet");
    } else {
      if (qos === 0) throw bad(`${f}.state`, `a QoS 0 message is never "${state}"`);
      if (state === "pubrel" && qos !== 2) throw bad(`${f}.state`, `only a QoS 2 message is ever "pubrel"`);
      m.packetId = claimId(o.packetId, `${f}.packetId`);
      if (sent !== undefined) m.sent = sent;
    }
    if (properties?.subscriptionIdentifiers !== undefined) {
      throw bad(`${f}.properties`, PUBLISH_SUBSCRIPTION_ID);
    }
    const p: Packet = { type: "publish", topic, payload: m.payload, qos, retain, dup: false };
    if (qos > 0) p.packetId = m.packetId ?? 1;
    probe(p, properties, version, f);
    return m;
  });
  // The most an engine can hold: `maxQueued` messages the application queued
  // plus up to 65,535 that had packet ids and went back to the queue when a
  // session was lost. More than that is not a session this engine wrote.
  if (outgoing.length > maxQueued + 0xffff) {
    throw bad("outgoing", `${outgoing.length} messages are more than an engine with maxQueued ${maxQueued} can hold (${maxQueued + 0xffff})`);
  }

  const retired = arrayOf(s.retiredPacketIds ?? [], "retiredPacketIds").map((id, i) => claimId(id, `retiredPacketIds[${i}]`));

  const requests = arrayOf(s.requests ?? [], "requests").map((raw, i): SessionRequest => {
    const f = `requests[${i}]`;
    const o = objectAt(raw, f);
    const mid = claimMid(o.mid, `${f}.mid`);
    const packetId = claimId(o.packetId, `${f}.packetId`);
    const props = propertiesAt(o.properties, `${f}.properties`);
    const kind = oneOf(o.kind, `${f}.kind`, ["subscribe", "unsubscribe"] as const);
    const r: SessionRequest = { mid, packetId, kind };
    if (kind === "subscribe") {
      const subscriptions = arrayOf(o.subscriptions, `${f}.subscriptions`).map((x, j) => subscription(x, `${f}.subscriptions[${j}]`));
      r.subscriptions = subscriptions;
      probe({ type: "subscribe", packetId, subscriptions }, props, version, f);
    } else {
      const topicFilters = arrayOf(o.topicFilters, `${f}.topicFilters`).map((x, j) => typed<string>(x, `${f}.topicFilters[${j}]`, "string"));
      r.topicFilters = topicFilters;
      probe({ type: "unsubscribe", packetId, topicFilters }, props, version, f);
    }
    if (props !== undefined) r.properties = props;
    return r;
  });

  const seenIn = new Set<number>();
  const incomingQos2 = arrayOf(s.incomingQos2, "incomingQos2").map((raw, i): IncomingQos2 => {
    const f = `incomingQos2[${i}]`;
    const o = objectAt(raw, f);
    const packetId = unique(seenIn, intIn(o.packetId, `${f}.packetId`, 1, 0xffff), `${f}.packetId`, "packet identifier");
    return { packetId, state: oneOf(o.state, `${f}.state`, ["delivered", "received"] as const) };
  });

  const filters = new Set<string>();
  const subscriptions = arrayOf(s.subscriptions, "subscriptions").map((raw, i): SessionSubscription => {
    const f = `subscriptions[${i}]`;
    const sub: SessionSubscription = subscription(raw, f);
    const r = raw as Record<string, unknown>;
    if (filters.has(sub.topicFilter)) throw bad(`${f}.topicFilter`, `${show(sub.topicFilter)} appears twice`);
    filters.add(sub.topicFilter);
    const plain: Subscription = { ...sub };
    let props: Properties | undefined;
    if (r.subscriptionIdentifier !== undefined) {
      if (version !== 5) throw bad(`${f}.subscriptionIdentifier`, "subscription identifiers need MQTT 5");
      sub.subscriptionIdentifier = intIn(r.subscriptionIdentifier, `${f}.subscriptionIdentifier`, 1, 268_435_455);
      props = { subscriptionIdentifiers: [sub.subscriptionIdentifier] };
    }
    const unconfirmed = optionalBoolean(r.unconfirmed, `${f}.unconfirmed`);
    if (unconfirmed !== undefined) sub.unconfirmed = unconfirmed;
    probe({ type: "subscribe", packetId: 1, subscriptions: [plain] }, props, version, f);
    return sub;
  });

  const endsWithConnection = optionalBoolean(s.endsWithConnection, "endsWithConnection");
  const out: SessionState = {
    format: 1,
    clientId,
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
  const o = objectAt(raw, f);
  const sub: Subscription = { topicFilter: typed<string>(o.topicFilter, `${f}.topicFilter`, "string"), qos: oneOf(o.qos, `${f}.qos`, QOS) };
  const noLocal = optionalBoolean(o.noLocal, `${f}.noLocal`);
  const rap = optionalBoolean(o.retainAsPublished, `${f}.retainAsPublished`);
  if (noLocal !== undefined) sub.noLocal = noLocal;
  if (rap !== undefined) sub.retainAsPublished = rap;
  if (o.retainHandling !== undefined) sub.retainHandling = oneOf(o.retainHandling, `${f}.retainHandling`, [0, 1, 2] as const);
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
  const { correlationData, authenticationData, ...rest } = objectAt(p, field) as PropertiesJSON;
  const out: Properties = { ...(rest as Properties) };
  if (correlationData !== undefined) out.correlationData = fromBase64(correlationData, `${field}.correlationData`);
  if (authenticationData !== undefined) out.authenticationData = fromBase64(authenticationData, `${field}.authenticationData`);
  return out;
}

function fromBase64(v: unknown, field: string): Uint8Array {
  const bytes = typeof v === "string" ? base64Decode(v) : undefined;
  if (bytes === undefined) throw wrong(field, "base64 text", v);
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
  if (!isObject(value)) throw bad("", mustBe("a session", "an object", value));
  oneOf(value.encoding, "encoding", ["base64"]);
  const { encoding: _e, outgoing, ...rest } = value;
  const messages = arrayOf(outgoing, "outgoing").map((raw, i) => {
    const f = `outgoing[${i}]`;
    const { payload, properties, ...fields } = objectAt(raw, f);
    const m = { ...fields, payload: fromBase64(payload, `${f}.payload`) } as unknown as OutgoingMessage;
    if (properties !== undefined) m.properties = propertiesFromJSON(properties, `${f}.properties`);
    return m;
  });
  return { ...(rest as unknown as SessionState), outgoing: messages };
}
