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
 */
import { codecError, ErrorCode, PROTOCOL_ERROR } from "../errors.js";
import { CLIENT_ID_NOT_VALID, clientIdProblem } from "./decode.js";
import { isValidTopicFilter, isValidTopicName } from "../topic.js";
import { alloc, checkInt, show, SLAB_MAX_PIECE, varintSize, VARINT_MAX, Writer } from "./bytes.js";
import { type PropertyContext, propertiesSize, writeProperties } from "./properties.js";
import { isValidReasonCode, isValidV4SubackCode } from "./reason-codes.js";
import { checkConnack, checkSubscription, subscriptionOptionsByte } from "./rules.js";
import type {
  AckPacket,
  ConnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from "./types.js";
import { utf8Length, writeUtf8 } from "./utf8.js";

/**
 * Encodes `packet` for protocol `version` (CONNECT uses its own
 * `protocolVersion`). Throws LocalProtocolError, with a stable code, when the
 * packet breaks a rule of the protocol; returns the complete frame otherwise.
 */
export function encodePacket(packet: Packet, version: ProtocolVersion): Uint8Array {
  const size = checkPacket(packet, version);
  const buf = alloc(size);
  writeBody(packet, version, size, buf, 0, size);
  return buf;
}

/**
 * Checks `packet` against every rule `encodePacket` enforces, for protocol
 * `version`, and returns its exact encoded size in bytes (fixed header
 * included). Throws LocalProtocolError as `encodePacket` does.
 */
export function checkPacket(packet: Packet, version: ProtocolVersion): number {
  if (version !== 3 && version !== 4 && version !== 5) {
    throw codecError("local", ErrorCode.ProtocolInvalid, `unknown protocol version ${show(version)}`);
  }
  if (typeof packet !== "object" || packet === null) {
    throw codecError("local", ErrorCode.PacketTypeInvalid, `a packet must be an object, got ${show(packet)}`);
  }
  return measure(packet, version, true);
}

/**
 * The encoded size of a packet whose every field passed `checkPacket` (this
 * packet, or one built from checked parts: a checked PUBLISH with a topic
 * alias in place of its topic, without a property, ...). Checks nothing: what
 * it returns for an unchecked packet means nothing.
 */
export function packetSize(packet: Packet, version: ProtocolVersion): number {
  return measure(packet, version, false);
}

/**
 * Writes a checked packet (see `packetSize`) into bytes of its own: no rule
 * is applied and nothing throws. `size` is its size, from `checkPacket` or
 * `packetSize`, when the caller has it.
 */
export function writePacket(packet: Packet, version: ProtocolVersion, size: number = packetSize(packet, version)): Uint8Array {
  const buf = alloc(size);
  writeBody(packet, version, size, buf, 0, size);
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
  writeBody(packet, version, size, buf, offset, n);
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
  writeBody(packet, version, size, head, 0, n);
  return [head, packet.payload];
}

// ---------------------------------------------------------------------------
// Measuring: every rule, and the size. With `check` false, only the size.

function measure(packet: Packet, version: ProtocolVersion, check: boolean): number {
  switch (packet.type) {
    case "connect":
      return sizeConnect(packet, check);
    case "connack": {
      if (check) {
        const rc = checkInt(packet.reasonCode, 0xff, "reason code");
        checkConnack(rc, Boolean(packet.sessionPresent), version, "local");
        // MQTT 3.1's CONNACK has no session present flag (its first byte is unused).
        if (packet.sessionPresent && version === 3) throw codecError("local", ErrorCode.VersionMismatch, "session present needs MQTT 3.1.1 or later");
      }
      return frame(2 + withLength(props(packet.properties, "connack", version, check), version));
    }
    case "publish":
      return sizePublish(packet, version, check);
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      if (check) pid(packet.packetId);
      return sizeTail(packet.type, 2, check ? checkInt(packet.reasonCode ?? 0, 0xff, "reason code") : (packet.reasonCode ?? 0), packet.properties, version, check);
    case "subscribe":
      return sizeSubscribe(packet, version, check);
    case "suback":
      return sizeSuback(packet, version, check);
    case "unsubscribe":
      return sizeUnsubscribe(packet, version, check);
    case "unsuback":
      return sizeUnsuback(packet, version, check);
    case "pingreq":
    case "pingresp":
      if (check) noProperties(packet as { properties?: unknown }, packet.type.toUpperCase());
      return 2;
    case "disconnect":
      return sizeTail("disconnect", 0, check ? checkInt(packet.reasonCode ?? 0, 0xff, "reason code") : (packet.reasonCode ?? 0), packet.properties, version, check);
    case "auth": {
      if (check && version !== 5) throw codecError("local", ErrorCode.VersionMismatch, "AUTH needs MQTT 5");
      const size = sizeTail("auth", 0, check ? checkInt(packet.reasonCode ?? 0, 0xff, "reason code") : (packet.reasonCode ?? 0), packet.properties, version, check);
      // Only the short form (success, no properties: Remaining Length 0) goes
      // without the Authentication Method; "It is a Protocol Error to omit the
      // Authentication Method" otherwise (3.15.2.2.2).
      if (check && size > 2 && packet.properties?.authenticationMethod === undefined) {
        throw codecError("local", ErrorCode.AuthInvalid, "AUTH without an authentication method (3.15.2.2.2)", PROTOCOL_ERROR);
      }
      return size;
    }
    default:
      throw codecError("local", ErrorCode.PacketTypeInvalid, `unknown packet type ${show((packet as { type: unknown }).type)}`);
  }
}

/** The size of a whole packet whose body is `body` bytes. */
function frame(body: number): number {
  if (body > VARINT_MAX) throw codecError("local", ErrorCode.PacketTooLarge, `packet body of ${body} bytes exceeds the MQTT maximum`);
  return 1 + varintSize(body) + body;
}

/** The Remaining Length of a packet of `size` bytes (the inverse of `frame`). */
function remainingOf(size: number): number {
  return size <= 129 ? size - 2 : size <= 16_386 ? size - 3 : size <= 2_097_155 ? size - 4 : size - 5;
}

/** Byte length of a string field (checked: a string of valid UTF-8, at most 65,535 bytes). */
function str(s: unknown, what: string, check: boolean): number {
  if (check && typeof s !== "string") throw codecError("local", ErrorCode.ValueRange, `${what} must be a string`);
  const n = utf8Length(s as string, "local", what);
  if (check && n > 0xffff) throw codecError("local", ErrorCode.ValueRange, `${what} is longer than 65,535 bytes`);
  return n;
}

function bin(b: unknown, what: string, check: boolean): number {
  if (check) {
    if (!(b instanceof Uint8Array)) throw codecError("local", ErrorCode.ValueRange, `${what} must be a Uint8Array`);
    if (b.length > 0xffff) throw codecError("local", ErrorCode.ValueRange, `${what} is longer than 65,535 bytes`);
  }
  return (b as Uint8Array).length;
}

function qosOf(q: unknown, what: string): number {
  if (q !== 0 && q !== 1 && q !== 2) throw codecError("local", ErrorCode.QosInvalid, `${what} must be 0, 1 or 2, got ${show(q)}`);
  return q;
}

function pid(id: unknown): number {
  if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw codecError("local", ErrorCode.PacketIdInvalid, `packet identifier must be an integer in 1..65535, got ${show(id)}`);
  }
  return id;
}

/**
 * The size of a property list without its length prefix, validated with
 * `check`. Properties exist only in MQTT 5; before it, any property is the
 * caller's error.
 */
function props(p: Properties | undefined, context: PropertyContext, version: ProtocolVersion, check: boolean): number {
  if (version !== 5) {
    if (check && p !== undefined && (typeof p !== "object" || p === null || Object.values(p).some((v) => v !== undefined))) {
      throw codecError("local", ErrorCode.VersionMismatch, `properties need MQTT 5 (${context})`);
    }
    return 0;
  }
  return propertiesSize(p, context, check);
}

/**
 * PINGREQ and PINGRESP have no variable header in any version (3.12, 3.13), so
 * properties on one are the caller's mistake, refused rather than dropped.
 * An absent or empty `properties` carries nothing and passes, as elsewhere.
 */
function noProperties(packet: { properties?: unknown }, name: string): void {
  const p = packet.properties;
  if (p !== undefined && (typeof p !== "object" || p === null || Object.values(p).some((v) => v !== undefined))) {
    throw codecError("local", ErrorCode.PropertyNotAllowed, `${name} carries no properties`);
  }
}

/** Bytes a property list of `n` bytes takes with its length prefix in `version`. */
function withLength(n: number, version: ProtocolVersion): number {
  return version === 5 ? varintSize(n) + n : 0;
}

function sizeConnect(p: ConnectPacket, check: boolean): number {
  const v = p.protocolVersion;
  if (check) {
    if (v !== 3 && v !== 4 && v !== 5) throw codecError("local", ErrorCode.ProtocolInvalid, `unknown protocol version ${show(v)}`);
    checkInt(p.keepAlive, 0xffff, "keep alive");
  }
  // [MQTT-3.1.2-1] "MQTT" (3.1: "MQIsdp"), then the level, flags, keep alive.
  let size = (v === 3 ? 8 : 6) + 1 + 1 + 2;
  size += withLength(props(p.properties, "connect", v, check), v);
  size += 2 + str(p.clientId, "client identifier", check);
  if (check) {
    const idProblem = clientIdProblem(p.clientId, Boolean(p.clean), v);
    if (idProblem !== undefined) throw codecError("local", ErrorCode.ValueRange, idProblem, CLIENT_ID_NOT_VALID);
  }
  const will = p.will;
  if (will !== undefined) {
    if (check) {
      if (typeof will !== "object" || will === null) throw codecError("local", ErrorCode.ValueRange, "will must be an object");
      if (!isValidTopicName(will.topic)) throw codecError("local", ErrorCode.TopicInvalid, "will topic is not a valid topic name");
    }
    const topicLen = str(will.topic, "will topic", check);
    if (check) qosOf(will.qos, "will QoS");
    size += withLength(props(will.properties, "will", v, check), v) + 2 + topicLen + 2 + bin(will.payload, "will payload", check);
  }
  if (p.username !== undefined) size += 2 + str(p.username, "user name", check);
  if (p.password !== undefined) {
    if (check && v !== 5 && p.username === undefined) {
      throw codecError("local", ErrorCode.FlagsInvalid, "a password needs a user name before MQTT 5 [MQTT-3.1.2-22]");
    }
    size += 2 + bin(p.password, "password", check);
  }
  return frame(size);
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
        throw codecError("local", ErrorCode.TopicInvalid, `${show(topic)} is not a valid topic name [MQTT-3.3.2-2]`);
      }
    }
    topicLen = str(topic, "topic name", check);
  }
  let size = 2 + topicLen;
  if (qos === 0) {
    if (check) {
      if (p.packetId !== undefined) throw codecError("local", ErrorCode.PacketIdInvalid, "a QoS 0 PUBLISH has no packet identifier [MQTT-2.2.1-2]");
      if (p.dup) throw codecError("local", ErrorCode.FixedHeaderFlags, "DUP must be 0 on a QoS 0 PUBLISH [MQTT-3.3.1-2]");
    }
  } else {
    if (check) pid(p.packetId);
    size += 2;
  }
  const payload = p.payload;
  if (check && !(payload instanceof Uint8Array)) throw codecError("local", ErrorCode.ValueRange, "payload must be a Uint8Array");
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
      if (rc !== 0) throw codecError("local", ErrorCode.VersionMismatch, `${context} reason codes need MQTT 5`);
      props(properties, context, v, check);
    }
    return 2 + head;
  }
  if (check && !isValidReasonCode(context, rc)) {
    throw codecError("local", ErrorCode.ReasonCodeInvalid, `0x${rc.toString(16)} is not a ${context.toUpperCase()} reason code`);
  }
  const inner = propertiesSize(properties, context, check);
  // Acks and DISCONNECT may stop after the reason code (3.4.2.2.1, 3.14.2.2.1); AUTH
  // may only drop the whole variable header, so after its reason code the
  // Property Length always follows (3.15.2).
  const withProps = inner > 0 || (context === "auth" && rc !== 0);
  return frame(withProps ? head + 1 + varintSize(inner) + inner : rc !== 0 ? head + 1 : head);
}

function sizeSubscribe(p: SubscribePacket, v: ProtocolVersion, check: boolean): number {
  if (check) pid(p.packetId);
  const subs = p.subscriptions;
  if (check && (!Array.isArray(subs) || subs.length === 0)) {
    throw codecError("local", ErrorCode.Empty, "SUBSCRIBE needs at least one topic filter [MQTT-3.8.3-2]");
  }
  let size = 2 + withLength(props(p.properties, "subscribe", v, check), v);
  for (const s of subs) {
    if (check) {
      if (typeof s !== "object" || s === null) throw codecError("local", ErrorCode.ValueRange, "a subscription must be an object");
      if (!isValidTopicFilter(s.topicFilter, v)) {
        throw codecError("local", ErrorCode.TopicFilterInvalid, `${show(s.topicFilter)} is not a valid topic filter`);
      }
    }
    size += 3 + str(s.topicFilter, "topic filter", check);
    if (check) checkSubscription(s.topicFilter, s.qos, s.noLocal === true, s.retainAsPublished === true, s.retainHandling ?? 0, v, "local");
  }
  return frame(size);
}

function sizeSuback(p: SubackPacket, v: ProtocolVersion, check: boolean): number {
  if (check) {
    pid(p.packetId);
    if (!Array.isArray(p.reasonCodes) || p.reasonCodes.length === 0) {
      throw codecError("local", ErrorCode.Empty, "SUBACK needs a reason code per filter");
    }
    for (const c of p.reasonCodes) {
      if (v === 5 ? !isValidReasonCode("suback", c) : !isValidV4SubackCode(c)) {
        throw codecError("local", ErrorCode.ReasonCodeInvalid, `${show(c)} is not a SUBACK reason code`);
      }
    }
  }
  return frame(2 + withLength(props(p.properties, "suback", v, check), v) + p.reasonCodes.length);
}

function sizeUnsubscribe(p: UnsubscribePacket, v: ProtocolVersion, check: boolean): number {
  if (check) {
    pid(p.packetId);
    if (!Array.isArray(p.topicFilters) || p.topicFilters.length === 0) {
      throw codecError("local", ErrorCode.Empty, "UNSUBSCRIBE needs at least one topic filter [MQTT-3.10.3-2]");
    }
  }
  let size = 2 + withLength(props(p.properties, "unsubscribe", v, check), v);
  for (const f of p.topicFilters) {
    if (check && !isValidTopicFilter(f, v)) throw codecError("local", ErrorCode.TopicFilterInvalid, `${show(f)} is not a valid topic filter`);
    size += 2 + str(f, "topic filter", check);
  }
  return frame(size);
}

function sizeUnsuback(p: UnsubackPacket, v: ProtocolVersion, check: boolean): number {
  if (check) {
    pid(p.packetId);
    if (!Array.isArray(p.reasonCodes)) throw codecError("local", ErrorCode.ValueRange, "UNSUBACK reasonCodes must be an array");
  }
  if (v !== 5) {
    if (check) {
      if (p.reasonCodes.length !== 0) throw codecError("local", ErrorCode.VersionMismatch, "UNSUBACK reason codes need MQTT 5");
      props(p.properties, "unsuback", v, check);
    }
    return 4;
  }
  if (check) {
    if (p.reasonCodes.length === 0) throw codecError("local", ErrorCode.Empty, "UNSUBACK needs a reason code per filter");
    for (const c of p.reasonCodes) {
      if (!isValidReasonCode("unsuback", c)) throw codecError("local", ErrorCode.ReasonCodeInvalid, `${show(c)} is not an UNSUBACK reason code`);
    }
  }
  return frame(2 + withLength(props(p.properties, "unsuback", v, check), 5) + p.reasonCodes.length);
}

// ---------------------------------------------------------------------------
// Writing: a checked packet of `size` bytes, laid out; no rule, nothing thrown.

const ACK_B0 = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;

/** Writes the first `n` bytes of the checked packet of `size` bytes at buf[offset]. */
function writeBody(packet: Packet, version: ProtocolVersion, size: number, buf: Uint8Array, offset: number, n: number): void {
  const w = new Writer(buf, offset);
  const remaining = remainingOf(size);
  switch (packet.type) {
    case "connect":
      writeConnect(w, packet, remaining);
      return;
    case "connack":
      w.u8(0x20);
      w.varint(remaining);
      w.u8(packet.sessionPresent ? 1 : 0);
      w.u8(packet.reasonCode);
      if (version === 5) writeProperties(w, packet.properties);
      return;
    case "publish": {
      const p = packet;
      w.u8(0x30 | (p.dup ? 8 : 0) | (p.qos << 1) | (p.retain ? 1 : 0));
      w.varint(remaining);
      const cached = topicBytes.get(p.topic);
      if (cached !== undefined) {
        w.u16(cached.length);
        w.raw(cached);
      } else {
        w.str(p.topic);
      }
      if (p.qos !== 0) w.u16(p.packetId!);
      if (version === 5) writeProperties(w, p.properties);
      if (n === size) w.raw(p.payload);
      return;
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      writeTail(w, ACK_B0[packet.type], remaining, 2, packet.packetId, packet.reasonCode ?? 0, packet.properties);
      return;
    case "subscribe": {
      w.u8(0x82);
      w.varint(remaining);
      w.u16(packet.packetId);
      if (version === 5) writeProperties(w, packet.properties);
      for (const s of packet.subscriptions) {
        w.str(s.topicFilter);
        w.u8(subscriptionOptionsByte(s.qos, s.noLocal === true, s.retainAsPublished === true, s.retainHandling ?? 0));
      }
      return;
    }
    case "suback":
      w.u8(0x90);
      w.varint(remaining);
      w.u16(packet.packetId);
      if (version === 5) writeProperties(w, packet.properties);
      for (const c of packet.reasonCodes) w.u8(c);
      return;
    case "unsubscribe":
      w.u8(0xa2);
      w.varint(remaining);
      w.u16(packet.packetId);
      if (version === 5) writeProperties(w, packet.properties);
      for (const f of packet.topicFilters) w.str(f);
      return;
    case "unsuback":
      w.u8(0xb0);
      w.varint(remaining);
      w.u16(packet.packetId);
      if (version === 5) {
        writeProperties(w, packet.properties);
        for (const c of packet.reasonCodes) w.u8(c);
      }
      return;
    case "pingreq":
      w.u8(0xc0);
      w.u8(0);
      return;
    case "pingresp":
      w.u8(0xd0);
      w.u8(0);
      return;
    case "disconnect":
      writeTail(w, 0xe0, remaining, 0, 0, packet.reasonCode ?? 0, packet.properties);
      return;
    case "auth":
      writeTail(w, 0xf0, remaining, 0, 0, packet.reasonCode ?? 0, packet.properties);
      return;
  }
}

function writeConnect(w: Writer, p: ConnectPacket, remaining: number): void {
  const v = p.protocolVersion;
  const will = p.will;
  let flags = p.clean ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.username !== undefined) flags |= 0x80;
  if (p.password !== undefined) flags |= 0x40;
  w.u8(0x10);
  w.varint(remaining);
  w.str(v === 3 ? "MQIsdp" : "MQTT");
  w.u8(v);
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

/**
 * An ack, DISCONNECT or AUTH (see sizeTail). Its shape follows from its
 * Remaining Length: `head` bytes alone, one more for the reason code, or the
 * reason code and the property list.
 */
function writeTail(w: Writer, b0: number, remaining: number, head: number, id: number, rc: number, properties: Properties | undefined): void {
  w.u8(b0);
  w.varint(remaining);
  if (head !== 0) w.u16(id);
  if (remaining > head) w.u8(rc);
  if (remaining > head + 1) writeProperties(w, properties);
}
