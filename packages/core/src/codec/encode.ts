/**
 * Encoding, in two steps that can be taken apart:
 *
 * - `checkPacket` applies every rule of the protocol to a packet and returns
 *   its exact size in bytes; an invalid packet is a LocalProtocolError, and
 *   nothing else changes, so it never poisons a connection.
 * - `writePacket` (and `writePacketInto`, `writePacketChunks`) writes a packet
 *   already checked. It applies no rule and cannot fail.
 *
 * `encodePacket` is the two in a row. A caller that checks a packet once (the
 * engine, when a command is given) can write it later, as often as needed, at
 * the cost of the copy alone. Every rule is in the measuring functions below
 * (and in properties.ts, rules.ts); the writers only lay out bytes.
 *
 * A packet keeps its size when only its packet identifier, DUP flag or the
 * value of a fixed-size property (message expiry, ...) changes, so the size
 * `checkPacket` returned still holds for it; `packetSize` measures any other
 * change of a checked packet (a topic alias in place of its topic, ...)
 * without checking it again.
 *
 * Each packet type is a row of a table (measure, write, first byte). The
 * functions exported here use every row; the client engine uses the rows of
 * the packets a client sends (client.ts), so a bundle of the engine leaves the
 * server's packets (CONNACK, SUBACK, UNSUBACK, PINGRESP) out.
 */
import { codecError, PROTOCOL_ERROR } from "../errors.js";
import { CLIENT_ID_NOT_VALID, clientIdProblem } from "./decode.js";
import { isValidTopicFilter, isValidTopicName } from "../topic.js";
import { alloc, checkInt, hex, mustBe, show, SLAB_MAX_PIECE, varintSize, VARINT_MAX, Writer } from "./bytes.js";
import { type PropertyContext, propertiesSize, tooLong, writeProperties } from "./properties.js";
import { isValidReasonCode, isValidV4SubackCode } from "./reason-codes.js";
import { checkConnack, checkSubscription, subscriptionOptionsByte } from "./rules.js";
import type {
  AckPacket,
  ConnackPacket,
  ConnectPacket,
  Packet,
  PacketType,
  Properties,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from "./types.js";
import { utf8Length, writeUtf8 } from "./utf8.js";
import * as E from "../codes.js";

// ---------------------------------------------------------------------------
// The tables

/** Measures (with `check`: checks first) a packet of one type; returns its whole size. */
type Measure<P> = (p: P, v: ProtocolVersion, check: boolean) => number;
/** Writes the body of a checked packet after its fixed header; `full` false stops a PUBLISH before its payload. */
type Write<P> = (w: Writer, p: P, v: ProtocolVersion, remaining: number, full: boolean, b0: number) => void;
type Row<P> = readonly [measure: Measure<P>, write: Write<P>, b0: number];
/** Packet types and their rows; a type without a row is refused (ERR_PACKET_TYPE). */
export type Encoders = { readonly [T in PacketType]?: Row<Extract<Packet, { type: T }>> };

function rowOf(table: Encoders, packet: Packet): Row<Packet> {
  const t = packet.type;
  if (typeof t !== "string" || !Object.hasOwn(table, t)) throw codecError("local", E.PacketTypeInvalid, `can't encode packet type ${show(t)}`);
  return table[t] as Row<Packet>;
}

/** checkPacket over `table`. */
export function checkWith(table: Encoders, packet: Packet, version: ProtocolVersion): number {
  checkVersion(version);
  if (typeof packet !== "object" || packet === null) throw codecError("local", E.PacketTypeInvalid, mustBe("a packet", "an object", packet));
  return rowOf(table, packet)[0](packet, version, true);
}

/** A protocol version this codec speaks: 3, 4 or 5 (ERR_PROTOCOL otherwise). */
function checkVersion(v: unknown): void {
  if (v !== 3 && v !== 4 && v !== 5) throw codecError("local", E.ProtocolInvalid, `unknown protocol version ${show(v)}`);
}

/** packetSize over `table`. */
export function sizeWith(table: Encoders, packet: Packet, version: ProtocolVersion): number {
  return rowOf(table, packet)[0](packet, version, false);
}

/** Writes the first `n` bytes of the checked packet of `size` bytes at buf[offset]. */
export function writeWith(table: Encoders, packet: Packet, version: ProtocolVersion, size: number, buf: Uint8Array, offset: number, n: number): void {
  const row = rowOf(table, packet);
  const w = new Writer(buf, offset);
  const remaining = remainingOf(size);
  const p = packet as PublishPacket;
  w.u8(p.type === "publish" ? 0x30 | (p.dup ? 8 : 0) | (p.qos << 1) | (p.retain ? 1 : 0) : row[2]);
  w.varint(remaining);
  row[1](w, packet, version, remaining, n === size, row[2]);
}

/** The packets a client sends. */
export const CLIENT_ENCODERS: Encoders = {
  connect: [sizeConnect, writeConnect, 0x10],
  publish: [sizePublish, writePublish, 0x30],
  puback: [sizeAck, writeTail, 0x40],
  pubrec: [sizeAck, writeTail, 0x50],
  pubrel: [sizeAck, writeTail, 0x62],
  pubcomp: [sizeAck, writeTail, 0x70],
  subscribe: [sizeSubscribe, writeSubscribe, 0x82],
  unsubscribe: [sizeUnsubscribe, writeUnsubscribe, 0xa2],
  pingreq: [sizePing, writeNothing, 0xc0],
  disconnect: [sizeDisconnect, writeTail, 0xe0],
  auth: [sizeAuth, writeTail, 0xf0],
};

/** Every packet type. */
const ENCODERS: Encoders = /*#__PURE__*/ Object.assign(
  {
    connack: [sizeConnack, writeConnack, 0x20],
    suback: [sizeSuback, writeSuback, 0x90],
    unsuback: [sizeUnsuback, writeUnsuback, 0xb0],
    pingresp: [sizePing, writeNothing, 0xd0],
  } satisfies Encoders,
  CLIENT_ENCODERS,
);

// ---------------------------------------------------------------------------
// The public functions, over every packet type

/**
 * Encodes `packet` for protocol `version` (CONNECT uses its own
 * `protocolVersion`). Throws LocalProtocolError, with a stable code, when the
 * packet breaks a rule of the protocol; returns the complete frame otherwise.
 */
export function encodePacket(packet: Packet, version: ProtocolVersion): Uint8Array {
  return writePacket(packet, version, checkPacket(packet, version));
}

/**
 * Checks `packet` against every rule `encodePacket` enforces, for protocol
 * `version`, and returns its exact encoded size in bytes (fixed header
 * included). Throws LocalProtocolError as `encodePacket` does.
 */
export function checkPacket(packet: Packet, version: ProtocolVersion): number {
  return checkWith(ENCODERS, packet, version);
}

/**
 * The encoded size of a packet whose every field passed `checkPacket` (this
 * packet, or one built from checked parts: a checked PUBLISH with a topic
 * alias in place of its topic, without a property, ...). Checks nothing: what
 * it returns for an unchecked packet means nothing.
 */
export function packetSize(packet: Packet, version: ProtocolVersion): number {
  return sizeWith(ENCODERS, packet, version);
}

/**
 * Writes a checked packet (see `packetSize`) into bytes of its own: no rule
 * is applied and nothing throws. `size` is its size, from `checkPacket` or
 * `packetSize`, when the caller has it.
 */
export function writePacket(packet: Packet, version: ProtocolVersion, size: number = packetSize(packet, version)): Uint8Array {
  const buf = alloc(size);
  writeWith(ENCODERS, packet, version, size, buf, 0, size);
  return buf;
}

/**
 * Writes a checked packet of `size` bytes into buf[offset, offset + size);
 * with `withPayload` false, a PUBLISH stops before its payload (the caller
 * sends the payload after it), so size - payload.length bytes are written.
 */
export function writePacketInto(
  packet: Packet,
  version: ProtocolVersion,
  size: number,
  buf: Uint8Array,
  offset: number,
  withPayload = true,
): void {
  const n = !withPayload && packet.type === "publish" ? size - packet.payload.length : size;
  writeWith(ENCODERS, packet, version, size, buf, offset, n);
}

/**
 * Payloads of at least this many bytes are not copied by `writePacketChunks`:
 * from here a copy costs more than handing the bytes out as a chunk of their own.
 */
export const CHUNKED_PAYLOAD_MIN = SLAB_MAX_PIECE;

/**
 * Writes a checked packet as the chunks to send, in order: one chunk, or for
 * a PUBLISH with a payload of CHUNKED_PAYLOAD_MIN bytes or more, the bytes up
 * to the payload and then the payload itself (the caller's array, not a copy).
 */
export function writePacketChunks(packet: Packet, version: ProtocolVersion, size: number = packetSize(packet, version)): Uint8Array[] {
  if (packet.type !== "publish" || packet.payload.length < CHUNKED_PAYLOAD_MIN) return [writePacket(packet, version, size)];
  const n = size - packet.payload.length;
  const head = alloc(n);
  writeWith(ENCODERS, packet, version, size, head, 0, n);
  return [head, packet.payload];
}

// ---------------------------------------------------------------------------
// Measuring: every rule, and the size. With `check` false, only the size.

/** The size of a whole packet whose body is `body` bytes. */
function frame(body: number): number {
  if (body > VARINT_MAX) throw codecError("local", E.PacketTooLarge, `packet body of ${body} bytes is over the MQTT maximum`);
  return 1 + varintSize(body) + body;
}

/** The Remaining Length of a packet of `size` bytes (the inverse of `frame`). */
function remainingOf(size: number): number {
  return size <= 129 ? size - 2 : size <= 16_386 ? size - 3 : size <= 2_097_155 ? size - 4 : size - 5;
}

/** Byte length of a string field (checked: a string of valid UTF-8, at most 65,535 bytes). */
function str(s: unknown, what: string, check: boolean): number {
  if (check && typeof s !== "string") throw codecError("local", E.ValueRange, mustBe(what, "a string", s));
  const n = utf8Length(s as string, "local", what);
  if (check && n > 0xffff) throw tooLong(what);
  return n;
}

function bin(b: unknown, what: string, check: boolean): number {
  if (check) {
    if (!(b instanceof Uint8Array)) throw codecError("local", E.ValueRange, mustBe(what, "a Uint8Array", b));
    if (b.length > 0xffff) throw tooLong(what);
  }
  return (b as Uint8Array).length;
}

function qosOf(q: unknown, what: string): number {
  if (q !== 0 && q !== 1 && q !== 2) throw codecError("local", E.QosInvalid, mustBe(what, "0, 1 or 2", q));
  return q;
}

function pid(id: unknown): number {
  return checkInt(id, 0xffff, "packet identifier", 1, "local", E.PacketIdInvalid);
}

function rcOf(rc: unknown, check: boolean): number {
  return check ? checkInt(rc ?? 0, 0xff, "reason code") : ((rc as number | undefined) ?? 0);
}

/** Whether a property list holds anything. */
function hasAny(p: unknown): boolean {
  return p !== undefined && (typeof p !== "object" || p === null || Object.values(p).some((v) => v !== undefined));
}

/**
 * The size of a property list without its length prefix, validated with
 * `check`. Properties exist only in MQTT 5; before it, any property is the
 * caller's error.
 */
function props(p: Properties | undefined, context: PropertyContext, version: ProtocolVersion, check: boolean): number {
  if (version !== 5) {
    if (check && hasAny(p)) throw codecError("local", E.VersionMismatch, `${context} properties need MQTT 5`);
    return 0;
  }
  return propertiesSize(p, context, check);
}

/** Bytes a property list of `n` bytes takes with its length prefix in `version`. */
function withLength(n: number, version: ProtocolVersion): number {
  return version === 5 ? varintSize(n) + n : 0;
}

/**
 * PINGREQ and PINGRESP have no variable header in any version (3.12, 3.13), so
 * properties on one are the caller's mistake, refused rather than dropped.
 * An absent or empty `properties` carries nothing and passes, as elsewhere.
 */
function sizePing(p: { type: string; properties?: unknown }, _v: ProtocolVersion, check: boolean): number {
  if (check && hasAny(p.properties)) throw codecError("local", E.PropertyNotAllowed, `${p.type} has no properties`);
  return 2;
}

function sizeConnect(p: ConnectPacket, _version: ProtocolVersion, check: boolean): number {
  const v = p.protocolVersion;
  if (check) {
    checkVersion(v);
    checkInt(p.keepAlive, 0xffff, "keep alive");
  }
  // [MQTT-3.1.2-1] "MQTT" (3.1: "MQIsdp"), then the level, flags, keep alive.
  let size = (v === 3 ? 8 : 6) + 1 + 1 + 2;
  size += withLength(props(p.properties, "connect", v, check), v);
  size += 2 + str(p.clientId, "client id", check);
  if (check) {
    const idProblem = clientIdProblem(p.clientId, Boolean(p.clean), v);
    if (idProblem !== undefined) throw codecError("local", E.ValueRange, idProblem, CLIENT_ID_NOT_VALID);
  }
  const will = p.will;
  if (will !== undefined) {
    if (check) {
      if (typeof will !== "object" || will === null) throw codecError("local", E.ValueRange, mustBe("will", "an object", will));
      if (!isValidTopicName(will.topic)) throw codecError("local", E.TopicInvalid, `will topic ${show(will.topic)} is not a valid topic name`);
    }
    const topicLen = str(will.topic, "will topic", check);
    if (check) qosOf(will.qos, "will QoS");
    size += withLength(props(will.properties, "will", v, check), v) + 2 + topicLen + 2 + bin(will.payload, "will payload", check);
  }
  if (p.username !== undefined) size += 2 + str(p.username, "user name", check);
  if (p.password !== undefined) {
    if (check && v !== 5 && p.username === undefined) {
      throw codecError("local", E.FlagsInvalid, "a password needs a user name before MQTT 5 [MQTT-3.1.2-22]");
    }
    size += 2 + bin(p.password, "password", check);
  }
  return frame(size);
}

function sizeConnack(p: ConnackPacket, version: ProtocolVersion, check: boolean): number {
  if (check) {
    const rc = checkInt(p.reasonCode, 0xff, "reason code");
    checkConnack(rc, Boolean(p.sessionPresent), version, "local");
    // MQTT 3.1's CONNACK has no session present flag (its first byte is unused).
    if (p.sessionPresent && version === 3) throw codecError("local", E.VersionMismatch, "session present needs MQTT 3.1.1 or later");
  }
  return frame(2 + withLength(props(p.properties, "connack", version, check), version));
}

function sizePublish(p: PublishPacket, v: ProtocolVersion, check: boolean): number {
  const qos = check ? qosOf(p.qos, "QoS") : p.qos;
  const topic = p.topic;
  // Fast path: a plain ASCII topic name is valid as it is.
  const ascii = asciiTopic(topic);
  let topicLen = typeof ascii === "number" ? ascii : ascii.length;
  if (topicLen < 0) {
    if (check) {
      const aliased = v === 5 && topic === "" && p.properties?.topicAlias !== undefined;
      if (!aliased && !isValidTopicName(topic)) {
        throw codecError("local", E.TopicInvalid, `${show(topic)} is not a valid topic name [MQTT-3.3.2-2]`);
      }
    }
    topicLen = str(topic, "topic name", check);
  }
  let size = 2 + topicLen;
  if (qos === 0) {
    if (check) {
      if (p.packetId !== undefined) throw codecError("local", E.PacketIdInvalid, "a QoS 0 PUBLISH has no packet identifier [MQTT-2.2.1-2]");
      if (p.dup) throw codecError("local", E.FixedHeaderFlags, "DUP must be 0 on a QoS 0 PUBLISH [MQTT-3.3.1-2]");
    }
  } else {
    if (check) pid(p.packetId);
    size += 2;
  }
  const payload = p.payload;
  if (check && !(payload instanceof Uint8Array)) throw codecError("local", E.ValueRange, mustBe("payload", "a Uint8Array", payload));
  return frame(size + withLength(props(p.properties, "publish", v, check), v) + payload.length);
}

/*
 * The bytes of recently published ASCII topic names. Publishers repeat
 * topics, and a hit skips the topic's checks and its per-character copy. A
 * memo of a pure function (an ASCII string's bytes), so it cannot change a
 * result: its bytes live in buffers of its own, which no output ever shares
 * (they are copied into the packet), so a caller who transfers or detaches an
 * output cannot reach them. Bounded: at most 256 topics of at most 256 bytes.
 * A miss costs no allocation while the cache is full; after 4,096 such misses
 * the working set has moved on and it starts over.
 */
const topicBytes = new Map<string, Uint8Array>();
const TOPIC_CACHE_ENTRIES = 256;
const TOPIC_CACHE_MAX_LEN = 256;
let missesWhileFull = 0;
let cacheSlab = new Uint8Array(0);
let cacheSlabUsed = 0;

/** Characters that keep a topic name off the ASCII fast path: U+0000, wildcards, non-ASCII. */
const NOT_PLAIN_ASCII = /[\u0000#+\u0080-\uffff]/;

/**
 * For a non-empty ASCII topic name without wildcards or U+0000 (valid, one
 * byte per character): its cached bytes, or its length when not cached.
 * Otherwise -1, and the caller takes the general path.
 */
function asciiTopic(topic: unknown): Uint8Array | number {
  if (typeof topic !== "string") return -1;
  const hit = topicBytes.get(topic);
  if (hit !== undefined) return hit;
  const n = topic.length;
  if (n === 0 || n > 0xffff) return -1;
  if (n <= 32) {
    for (let i = 0; i < n; i++) {
      const c = topic.charCodeAt(i);
      if (c === 0 || c >= 0x80 || c === 0x23 /* # */ || c === 0x2b /* + */) return -1;
    }
  } else if (NOT_PLAIN_ASCII.test(topic)) {
    return -1;
  }
  if (n > TOPIC_CACHE_MAX_LEN) return n;
  if (topicBytes.size >= TOPIC_CACHE_ENTRIES) {
    if (++missesWhileFull < 16 * TOPIC_CACHE_ENTRIES) return n;
    topicBytes.clear();
    missesWhileFull = 0;
  }
  if (cacheSlabUsed + n > cacheSlab.length) {
    cacheSlab = new Uint8Array(16 * 1024);
    cacheSlabUsed = 0;
  }
  const bytes = cacheSlab.subarray(cacheSlabUsed, cacheSlabUsed + n);
  cacheSlabUsed += n;
  writeUtf8(bytes, 0, topic);
  topicBytes.set(topic, bytes);
  return bytes;
}

type TailContext = "puback" | "pubrec" | "pubrel" | "pubcomp" | "disconnect" | "auth";

/**
 * The variable headers that end with an optional reason code and optional
 * properties (acks, DISCONNECT, AUTH), in their shortest form: the reason code
 * is left out when it is 0 and there are no properties. `head` is 2 with a
 * packet identifier, 0 without.
 */
function sizeTail(context: TailContext, head: number, rc: number, properties: Properties | undefined, v: ProtocolVersion, check: boolean): number {
  if (v !== 5) {
    if (check) {
      if (rc !== 0) throw codecError("local", E.VersionMismatch, `${context} reason codes need MQTT 5`);
      props(properties, context, v, check);
    }
    return 2 + head;
  }
  if (check && !isValidReasonCode(context, rc)) throw codecError("local", E.ReasonCodeInvalid, `${hex(rc)} is not a ${context} reason code`);
  const inner = propertiesSize(properties, context, check);
  // Acks and DISCONNECT may stop after the reason code (3.4.2.2.1, 3.14.2.2.1); AUTH
  // may only drop the whole variable header, so after its reason code the
  // Property Length always follows (3.15.2).
  const withProps = inner > 0 || (context === "auth" && rc !== 0);
  return frame(withProps ? head + 1 + varintSize(inner) + inner : rc !== 0 ? head + 1 : head);
}

function sizeAck(p: AckPacket<"puback" | "pubrec" | "pubrel" | "pubcomp">, v: ProtocolVersion, check: boolean): number {
  if (check) pid(p.packetId);
  return sizeTail(p.type, 2, rcOf(p.reasonCode, check), p.properties, v, check);
}

function sizeDisconnect(p: Extract<Packet, { type: "disconnect" }>, v: ProtocolVersion, check: boolean): number {
  return sizeTail("disconnect", 0, rcOf(p.reasonCode, check), p.properties, v, check);
}

function sizeAuth(p: Extract<Packet, { type: "auth" }>, v: ProtocolVersion, check: boolean): number {
  if (check && v !== 5) throw codecError("local", E.VersionMismatch, "AUTH needs MQTT 5");
  const size = sizeTail("auth", 0, rcOf(p.reasonCode, check), p.properties, v, check);
  // Only the short form (success, no properties: Remaining Length 0) goes
  // without the Authentication Method; "It is a Protocol Error to omit the
  // Authentication Method" otherwise (3.15.2.2.2).
  if (check && size > 2 && p.properties?.authenticationMethod === undefined) {
    throw codecError("local", E.AuthInvalid, "AUTH needs an authentication method (3.15.2.2.2)", PROTOCOL_ERROR);
  }
  return size;
}

/** The packet identifier and the property list of SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK (5.0), checked. */
function idAndProps(p: { packetId: number; properties?: Properties }, context: PropertyContext, v: ProtocolVersion, check: boolean): number {
  if (check) pid(p.packetId);
  return 2 + withLength(props(p.properties, context, v, check), v);
}

/** A non-empty array (anything else: ERR_EMPTY). */
function listOf(a: unknown, what: string, check: boolean): unknown[] {
  if (check && (!Array.isArray(a) || a.length === 0)) throw codecError("local", E.Empty, mustBe(what, "a non-empty array", a));
  return a as unknown[];
}

function filterLen(f: unknown, v: ProtocolVersion, check: boolean): number {
  if (check && !isValidTopicFilter(f as string, v)) throw codecError("local", E.TopicFilterInvalid, `${show(f)} is not a valid topic filter`);
  return 2 + str(f, "topic filter", check);
}

function sizeSubscribe(p: SubscribePacket, v: ProtocolVersion, check: boolean): number {
  let size = idAndProps(p, "subscribe", v, check);
  // [MQTT-3.8.3-2] at least one topic filter.
  for (const s of listOf(p.subscriptions, "subscriptions", check) as SubscribePacket["subscriptions"]) {
    if (check && (typeof s !== "object" || s === null)) throw codecError("local", E.ValueRange, mustBe("a subscription", "an object", s));
    size += 1 + filterLen(s.topicFilter, v, check);
    if (check) checkSubscription(s.topicFilter, s.qos, s.noLocal === true, s.retainAsPublished === true, s.retainHandling ?? 0, v, "local");
  }
  return frame(size);
}

function sizeUnsubscribe(p: UnsubscribePacket, v: ProtocolVersion, check: boolean): number {
  let size = idAndProps(p, "unsubscribe", v, check);
  // [MQTT-3.10.3-2] at least one topic filter.
  for (const f of listOf(p.topicFilters, "topicFilters", check)) size += filterLen(f, v, check);
  return frame(size);
}

function sizeSuback(p: SubackPacket, v: ProtocolVersion, check: boolean): number {
  const size = idAndProps(p, "suback", v, check);
  for (const c of listOf(p.reasonCodes, "reasonCodes", check)) {
    if (check && (v === 5 ? !isValidReasonCode("suback", c as number) : !isValidV4SubackCode(c as number))) {
      throw codecError("local", E.ReasonCodeInvalid, `${show(c)} is not a suback reason code`);
    }
  }
  return frame(size + p.reasonCodes.length);
}

function sizeUnsuback(p: UnsubackPacket, v: ProtocolVersion, check: boolean): number {
  if (check && !Array.isArray(p.reasonCodes)) throw codecError("local", E.ValueRange, mustBe("reasonCodes", "an array", p.reasonCodes));
  if (v !== 5) {
    if (check && p.reasonCodes.length !== 0) throw codecError("local", E.VersionMismatch, "unsuback reason codes need MQTT 5");
    idAndProps(p, "unsuback", v, check);
    return 4;
  }
  const size = idAndProps(p, "unsuback", v, check);
  for (const c of listOf(p.reasonCodes, "reasonCodes", check)) {
    if (check && !isValidReasonCode("unsuback", c as number)) throw codecError("local", E.ReasonCodeInvalid, `${show(c)} is not an unsuback reason code`);
  }
  return frame(size + p.reasonCodes.length);
}

// ---------------------------------------------------------------------------
// Writing a checked packet's body (the fixed header is written): no rule, nothing thrown.

function writeNothing(): void {}

function writeConnect(w: Writer, p: ConnectPacket): void {
  const v = p.protocolVersion;
  const will = p.will;
  let flags = p.clean ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.username !== undefined) flags |= 0x80;
  if (p.password !== undefined) flags |= 0x40;
  w.str(v === 3 ? "MQIsdp" : "MQTT");
  // Bridge mode sets the level's top bit (mosquitto's extension, see ConnectPacket.bridge).
  w.u8(p.bridge ? 0x80 | v : v);
  w.u8(flags);
  w.u16(p.keepAlive);
  if (v === 5) writeProperties(w, p.properties);
  w.str(p.clientId);
  if (will !== undefined) {
    if (v === 5) writeProperties(w, will.properties);
    w.str(will.topic);
    w.bin(will.payload);
  }
  if (p.username !== undefined) w.str(p.username);
  if (p.password !== undefined) w.bin(p.password);
}

function writeConnack(w: Writer, p: ConnackPacket, version: ProtocolVersion): void {
  w.u8(p.sessionPresent ? 1 : 0);
  w.u8(p.reasonCode);
  if (version === 5) writeProperties(w, p.properties);
}

function writePublish(w: Writer, p: PublishPacket, version: ProtocolVersion, _remaining: number, full: boolean): void {
  const cached = topicBytes.get(p.topic);
  if (cached !== undefined) {
    w.u16(cached.length);
    w.raw(cached);
  } else {
    w.str(p.topic);
  }
  if (p.qos !== 0) w.u16(p.packetId!);
  if (version === 5) writeProperties(w, p.properties);
  if (full) w.raw(p.payload);
}

/** The packet identifier and (5.0) the properties. */
function writeIdAndProps(w: Writer, p: { packetId: number; properties?: Properties }, version: ProtocolVersion): void {
  w.u16(p.packetId);
  if (version === 5) writeProperties(w, p.properties);
}

function writeSubscribe(w: Writer, p: SubscribePacket, version: ProtocolVersion): void {
  writeIdAndProps(w, p, version);
  for (const s of p.subscriptions) {
    w.str(s.topicFilter);
    w.u8(subscriptionOptionsByte(s.qos, s.noLocal === true, s.retainAsPublished === true, s.retainHandling ?? 0));
  }
}

function writeSuback(w: Writer, p: SubackPacket, version: ProtocolVersion): void {
  writeIdAndProps(w, p, version);
  for (const c of p.reasonCodes) w.u8(c);
}

function writeUnsubscribe(w: Writer, p: UnsubscribePacket, version: ProtocolVersion): void {
  writeIdAndProps(w, p, version);
  for (const f of p.topicFilters) w.str(f);
}

function writeUnsuback(w: Writer, p: UnsubackPacket, version: ProtocolVersion): void {
  w.u16(p.packetId);
  if (version === 5) {
    writeProperties(w, p.properties);
    for (const c of p.reasonCodes) w.u8(c);
  }
}

/**
 * An ack, DISCONNECT or AUTH (see sizeTail). Its shape follows from its
 * Remaining Length: the packet identifier (acks) alone, one more byte for the
 * reason code, or the reason code and the property list.
 */
function writeTail(
  w: Writer,
  p: { packetId?: number; reasonCode?: number; properties?: Properties },
  _v: ProtocolVersion,
  remaining: number,
  _full: boolean,
  b0: number,
): void {
  // Acks (0x40..0x70) have a packet identifier; DISCONNECT and AUTH do not.
  const head = b0 < 0x80 ? 2 : 0;
  if (head !== 0) w.u16(p.packetId!);
  if (remaining > head) w.u8(p.reasonCode ?? 0);
  if (remaining > head + 1) writeProperties(w, p.properties);
}
