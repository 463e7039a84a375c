/**
 * Encoding: a pure function of the packet. Every packet is measured (and
 * validated) first, then written once into a buffer of its exact size. An
 * invalid packet is a LocalProtocolError thrown to the caller; nothing else
 * changes, so it never poisons a connection.
 */
import { codecError, ErrorCode, PROTOCOL_ERROR } from "../errors.js";
import { CLIENT_ID_NOT_VALID, clientIdProblem } from "./decode.js";
import { isSharedSubscription, isValidTopicFilter, isValidTopicName } from "../topic.js";
import { alloc, checkInt, show, varintSize, VARINT_MAX, Writer } from "./bytes.js";
import { type PropertyContext, propertiesSize, writeProperties } from "./properties.js";
import { isValidReasonCode, isValidV4SubackCode } from "./reason-codes.js";
import type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from "./types.js";
import { utf8Length } from "./utf8.js";

/**
 * Encodes `packet` for protocol `version` (CONNECT uses its own
 * `protocolVersion`). Throws LocalProtocolError, with a stable code, when the
 * packet breaks a rule of the protocol; returns the complete frame otherwise.
 */
export function encodePacket(packet: Packet, version: ProtocolVersion): Uint8Array {
  if (version !== 3 && version !== 4 && version !== 5) {
    throw codecError("local", ErrorCode.ProtocolInvalid, `unknown protocol version ${show(version)}`);
  }
  if (typeof packet !== "object" || packet === null) {
    throw codecError("local", ErrorCode.PacketTypeInvalid, `a packet must be an object, got ${show(packet)}`);
  }
  switch (packet.type) {
    case "connect":
      return encodeConnect(packet);
    case "connack":
      return encodeConnack(packet, version);
    case "publish":
      return encodePublish(packet, version);
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return encodeAck(packet, version);
    case "subscribe":
      return encodeSubscribe(packet, version);
    case "suback":
      return encodeSuback(packet, version);
    case "unsubscribe":
      return encodeUnsubscribe(packet, version);
    case "unsuback":
      return encodeUnsuback(packet, version);
    case "pingreq":
      noProperties(packet as { properties?: unknown }, "PINGREQ");
      return new Uint8Array([0xc0, 0]);
    case "pingresp":
      noProperties(packet as { properties?: unknown }, "PINGRESP");
      return new Uint8Array([0xd0, 0]);
    case "disconnect":
      return encodeDisconnect(packet, version);
    case "auth":
      return encodeAuth(packet, version);
    default:
      throw codecError("local", ErrorCode.PacketTypeInvalid, `unknown packet type ${show((packet as { type: unknown }).type)}`);
  }
}

/** A writer holding the fixed header of a packet whose body is `body` bytes. */
function frame(b0: number, body: number): Writer {
  if (body > VARINT_MAX) throw codecError("local", ErrorCode.PacketTooLarge, `packet body of ${body} bytes exceeds the MQTT maximum`);
  const w = new Writer(1 + varintSize(body) + body);
  w.u8(b0);
  w.varint(body);
  return w;
}

function str(s: unknown, what: string): number {
  if (typeof s !== "string") throw codecError("local", ErrorCode.ValueRange, `${what} must be a string`);
  const n = utf8Length(s, "local", what);
  if (n > 0xffff) throw codecError("local", ErrorCode.ValueRange, `${what} is longer than 65,535 bytes`);
  return n;
}

function bin(b: unknown, what: string): number {
  if (!(b instanceof Uint8Array)) throw codecError("local", ErrorCode.ValueRange, `${what} must be a Uint8Array`);
  if (b.length > 0xffff) throw codecError("local", ErrorCode.ValueRange, `${what} is longer than 65,535 bytes`);
  return b.length;
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
 * Validates a property list and returns its size without the length prefix.
 * Properties exist only in MQTT 5; before it, any property is the caller's error.
 */
function props(p: Properties | undefined, context: PropertyContext, version: ProtocolVersion): number {
  if (version !== 5) {
    if (p !== undefined && (typeof p !== "object" || p === null || Object.values(p).some((v) => v !== undefined))) {
      throw codecError("local", ErrorCode.VersionMismatch, `properties need MQTT 5 (${context})`);
    }
    return 0;
  }
  return propertiesSize(p, context);
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

function encodeConnect(p: ConnectPacket): Uint8Array {
  const v = p.protocolVersion;
  if (v !== 3 && v !== 4 && v !== 5) throw codecError("local", ErrorCode.ProtocolInvalid, `unknown protocol version ${show(v)}`);
  checkInt(p.keepAlive, 0xffff, "keep alive");
  // [MQTT-3.1.2-1] "MQTT" (3.1: "MQIsdp"), then the level.
  let size = (v === 3 ? 8 : 6) + 1 + 1 + 2;
  const propsSize = props(p.properties, "connect", v);
  size += withLength(propsSize, v);
  const idLen = str(p.clientId, "client identifier");
  size += 2 + idLen;
  const idProblem = clientIdProblem(p.clientId, Boolean(p.clean), v);
  if (idProblem !== undefined) throw codecError("local", ErrorCode.ValueRange, idProblem, CLIENT_ID_NOT_VALID);
  let flags = p.clean ? 0x02 : 0;
  let willTopicLen = 0;
  let willPropsSize = 0;
  const will = p.will;
  if (will !== undefined) {
    if (typeof will !== "object" || will === null) throw codecError("local", ErrorCode.ValueRange, "will must be an object");
    if (!isValidTopicName(will.topic)) throw codecError("local", ErrorCode.TopicInvalid, "will topic is not a valid topic name");
    willTopicLen = str(will.topic, "will topic");
    const q = qosOf(will.qos, "will QoS");
    willPropsSize = props(will.properties, "will", v);
    size += withLength(willPropsSize, v) + 2 + willTopicLen + 2 + bin(will.payload, "will payload");
    flags |= 0x04 | (q << 3) | (will.retain ? 0x20 : 0);
  }
  let userLen = 0;
  if (p.username !== undefined) {
    userLen = str(p.username, "user name");
    size += 2 + userLen;
    flags |= 0x80;
  }
  if (p.password !== undefined) {
    if (v !== 5 && p.username === undefined) {
      throw codecError("local", ErrorCode.FlagsInvalid, "a password needs a user name before MQTT 5 [MQTT-3.1.2-22]");
    }
    size += 2 + bin(p.password, "password");
    flags |= 0x40;
  }
  const w = frame(0x10, size);
  if (v === 3) w.str("MQIsdp", 6);
  else w.str("MQTT", 4);
  w.u8(v);
  w.u8(flags);
  w.u16(p.keepAlive);
  if (v === 5) writeProperties(w, p.properties, propsSize);
  w.str(p.clientId, idLen);
  if (will !== undefined) {
    if (v === 5) writeProperties(w, will.properties, willPropsSize);
    w.str(will.topic, willTopicLen);
    w.bin(will.payload);
  }
  if (p.username !== undefined) w.str(p.username, userLen);
  if (p.password !== undefined) w.bin(p.password);
  return w.buf;
}

function encodeConnack(p: ConnackPacket, v: ProtocolVersion): Uint8Array {
  const rc = checkInt(p.reasonCode, 0xff, "reason code");
  if (v === 5 ? !isValidReasonCode("connack", rc) : rc > 5) {
    throw codecError("local", ErrorCode.ReasonCodeInvalid, `${rc} is not a CONNACK ${v === 5 ? "reason" : "return"} code`);
  }
  if (p.sessionPresent && rc !== 0) {
    throw codecError("local", ErrorCode.FlagsInvalid, "a refused CONNACK cannot have session present [MQTT-3.2.2-6]");
  }
  // MQTT 3.1's CONNACK has no session present flag (its first byte is unused).
  if (p.sessionPresent && v === 3) throw codecError("local", ErrorCode.VersionMismatch, "session present needs MQTT 3.1.1 or later");
  const ps = props(p.properties, "connack", v);
  const w = frame(0x20, 2 + withLength(ps, v));
  w.u8(p.sessionPresent ? 1 : 0);
  w.u8(rc);
  if (v === 5) writeProperties(w, p.properties, ps);
  return w.buf;
}

function encodePublish(p: PublishPacket, v: ProtocolVersion): Uint8Array {
  const qos = qosOf(p.qos, "QoS");
  const topic = p.topic;
  // Fast path: a topic encoded before (or a plain ASCII one) is valid as it is.
  const ascii = asciiTopic(topic);
  const cached = typeof ascii === "number" ? undefined : ascii;
  let topicLen = typeof ascii === "number" ? ascii : ascii.length;
  if (topicLen < 0) {
    const aliased = v === 5 && topic === "" && p.properties?.topicAlias !== undefined;
    if (!aliased && !isValidTopicName(topic)) {
      throw codecError("local", ErrorCode.TopicInvalid, `${show(topic)} is not a valid topic name [MQTT-3.3.2-2]`);
    }
    topicLen = str(topic, "topic name");
  }
  let size = 2 + topicLen;
  if (qos === 0) {
    if (p.packetId !== undefined) throw codecError("local", ErrorCode.PacketIdInvalid, "a QoS 0 PUBLISH has no packet identifier [MQTT-2.2.1-2]");
    if (p.dup) throw codecError("local", ErrorCode.FixedHeaderFlags, "DUP must be 0 on a QoS 0 PUBLISH [MQTT-3.3.1-2]");
  } else {
    pid(p.packetId);
    size += 2;
  }
  const payload = p.payload;
  if (!(payload instanceof Uint8Array)) throw codecError("local", ErrorCode.ValueRange, "payload must be a Uint8Array");
  const ps = props(p.properties, "publish", v);
  size += withLength(ps, v) + payload.length;
  const w = frame(0x30 | (p.dup ? 8 : 0) | (qos << 1) | (p.retain ? 1 : 0), size);
  if (cached !== undefined) {
    w.u16(topicLen);
    w.raw(cached);
  } else {
    w.str(topic, topicLen);
  }
  if (qos !== 0) w.u16(p.packetId!);
  if (v === 5) writeProperties(w, p.properties, ps);
  w.raw(payload);
  return w.buf;
}

/*
 * The bytes of recently published ASCII topic names. Publishers repeat topics,
 * and a hit skips validation and the per-character copy. Bounded: at most 256
 * topics of at most 256 bytes. A miss costs no allocation while the cache is
 * full; after 4,096 such misses the working set has moved on and it starts over.
 */
const topicBytes = new Map<string, Uint8Array>();
const TOPIC_CACHE_ENTRIES = 256;
const TOPIC_CACHE_MAX_LEN = 256;
let missesWhileFull = 0;

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
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0 || c >= 0x80 || c === 0x23 /* # */ || c === 0x2b /* + */) return -1;
  }
  if (n > TOPIC_CACHE_MAX_LEN) return n;
  if (topicBytes.size >= TOPIC_CACHE_ENTRIES) {
    if (++missesWhileFull < 16 * TOPIC_CACHE_ENTRIES) return n;
    topicBytes.clear();
    missesWhileFull = 0;
  }
  const bytes = alloc(n);
  for (let i = 0; i < n; i++) bytes[i] = topic.charCodeAt(i);
  topicBytes.set(topic, bytes);
  return bytes;
}

const ACK_B0 = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;

function encodeAck(p: AckPacket<"puback" | "pubrec" | "pubrel" | "pubcomp">, v: ProtocolVersion): Uint8Array {
  const id = pid(p.packetId);
  const rc = checkInt(p.reasonCode ?? 0, 0xff, "reason code");
  return encodeTail(ACK_B0[p.type], p.type, id, rc, p.properties, v);
}

/**
 * The variable headers that end with an optional reason code and optional
 * properties (acks, DISCONNECT, AUTH), in their shortest form: the reason code
 * is left out when it is 0 and there are no properties.
 */
function encodeTail(
  b0: number,
  context: "puback" | "pubrec" | "pubrel" | "pubcomp" | "disconnect" | "auth",
  id: number | undefined,
  rc: number,
  properties: Properties | undefined,
  v: ProtocolVersion,
): Uint8Array {
  const head = id === undefined ? 0 : 2;
  if (v !== 5) {
    if (rc !== 0) throw codecError("local", ErrorCode.VersionMismatch, `${context} reason codes need MQTT 5`);
    props(properties, context, v);
    const w = frame(b0, head);
    if (id !== undefined) w.u16(id);
    return w.buf;
  }
  if (!isValidReasonCode(context, rc)) {
    throw codecError("local", ErrorCode.ReasonCodeInvalid, `0x${rc.toString(16)} is not a ${context.toUpperCase()} reason code`);
  }
  const inner = propertiesSize(properties, context);
  // Acks and DISCONNECT may stop after the reason code (3.4.2.2.1, 3.14.2.2.1); AUTH
  // may only drop the whole variable header, so after its reason code the
  // Property Length always follows (3.15.2).
  const withProps = inner > 0 || (context === "auth" && rc !== 0);
  const size = withProps ? head + 1 + varintSize(inner) + inner : rc !== 0 ? head + 1 : head;
  const w = frame(b0, size);
  if (id !== undefined) w.u16(id);
  if (size > head) w.u8(rc);
  if (withProps) writeProperties(w, properties, inner);
  return w.buf;
}

function encodeSubscribe(p: SubscribePacket, v: ProtocolVersion): Uint8Array {
  const id = pid(p.packetId);
  const subs = p.subscriptions;
  if (!Array.isArray(subs) || subs.length === 0) {
    throw codecError("local", ErrorCode.Empty, "SUBSCRIBE needs at least one topic filter [MQTT-3.8.3-2]");
  }
  const ps = props(p.properties, "subscribe", v);
  if (v === 5 && (p.properties?.subscriptionIdentifiers?.length ?? 0) > 1) {
    throw codecError("local", ErrorCode.PropertyDuplicate, "SUBSCRIBE carries at most one subscription identifier");
  }
  let size = 2 + withLength(ps, v);
  const lens: number[] = [];
  const opts: number[] = [];
  for (const s of subs) {
    if (typeof s !== "object" || s === null) throw codecError("local", ErrorCode.ValueRange, "a subscription must be an object");
    if (!isValidTopicFilter(s.topicFilter, v)) {
      throw codecError("local", ErrorCode.TopicFilterInvalid, `${show(s.topicFilter)} is not a valid topic filter`);
    }
    const n = str(s.topicFilter, "topic filter");
    lens.push(n);
    size += 3 + n;
    let o = qosOf(s.qos, "subscription QoS");
    if (v !== 5) {
      if (s.noLocal === true || s.retainAsPublished === true || (s.retainHandling ?? 0) !== 0) {
        throw codecError("local", ErrorCode.VersionMismatch, "No Local, Retain As Published and Retain Handling need MQTT 5");
      }
    } else {
      const rh = s.retainHandling ?? 0;
      if (rh !== 0 && rh !== 1 && rh !== 2) throw codecError("local", ErrorCode.SubscriptionOptions, `retain handling must be 0, 1 or 2`);
      if (s.noLocal === true && isSharedSubscription(s.topicFilter)) {
        throw codecError("local", ErrorCode.SubscriptionOptions, "No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]");
      }
      o |= (s.noLocal === true ? 4 : 0) | (s.retainAsPublished === true ? 8 : 0) | (rh << 4);
    }
    opts.push(o);
  }
  const w = frame(0x82, size);
  w.u16(id);
  if (v === 5) writeProperties(w, p.properties, ps);
  for (let i = 0; i < subs.length; i++) {
    w.str(subs[i]!.topicFilter, lens[i]!);
    w.u8(opts[i]!);
  }
  return w.buf;
}

function encodeSuback(p: SubackPacket, v: ProtocolVersion): Uint8Array {
  const id = pid(p.packetId);
  if (!Array.isArray(p.reasonCodes) || p.reasonCodes.length === 0) {
    throw codecError("local", ErrorCode.Empty, "SUBACK needs a reason code per filter");
  }
  for (const c of p.reasonCodes) {
    if (v === 5 ? !isValidReasonCode("suback", c) : !isValidV4SubackCode(c)) {
      throw codecError("local", ErrorCode.ReasonCodeInvalid, `${show(c)} is not a SUBACK reason code`);
    }
  }
  const ps = props(p.properties, "suback", v);
  const w = frame(0x90, 2 + withLength(ps, v) + p.reasonCodes.length);
  w.u16(id);
  if (v === 5) writeProperties(w, p.properties, ps);
  for (const c of p.reasonCodes) w.u8(c);
  return w.buf;
}

function encodeUnsubscribe(p: UnsubscribePacket, v: ProtocolVersion): Uint8Array {
  const id = pid(p.packetId);
  if (!Array.isArray(p.topicFilters) || p.topicFilters.length === 0) {
    throw codecError("local", ErrorCode.Empty, "UNSUBSCRIBE needs at least one topic filter [MQTT-3.10.3-2]");
  }
  const ps = props(p.properties, "unsubscribe", v);
  let size = 2 + withLength(ps, v);
  const lens = p.topicFilters.map((f) => {
    if (!isValidTopicFilter(f, v)) throw codecError("local", ErrorCode.TopicFilterInvalid, `${show(f)} is not a valid topic filter`);
    const n = str(f, "topic filter");
    size += 2 + n;
    return n;
  });
  const w = frame(0xa2, size);
  w.u16(id);
  if (v === 5) writeProperties(w, p.properties, ps);
  p.topicFilters.forEach((f, i) => w.str(f, lens[i]!));
  return w.buf;
}

function encodeUnsuback(p: UnsubackPacket, v: ProtocolVersion): Uint8Array {
  const id = pid(p.packetId);
  if (!Array.isArray(p.reasonCodes)) throw codecError("local", ErrorCode.ValueRange, "UNSUBACK reasonCodes must be an array");
  if (v !== 5) {
    if (p.reasonCodes.length !== 0) throw codecError("local", ErrorCode.VersionMismatch, "UNSUBACK reason codes need MQTT 5");
    props(p.properties, "unsuback", v);
    const w = frame(0xb0, 2);
    w.u16(id);
    return w.buf;
  }
  if (p.reasonCodes.length === 0) throw codecError("local", ErrorCode.Empty, "UNSUBACK needs a reason code per filter");
  for (const c of p.reasonCodes) {
    if (!isValidReasonCode("unsuback", c)) throw codecError("local", ErrorCode.ReasonCodeInvalid, `${show(c)} is not an UNSUBACK reason code`);
  }
  const ps = props(p.properties, "unsuback", v);
  const w = frame(0xb0, 2 + withLength(ps, 5) + p.reasonCodes.length);
  w.u16(id);
  writeProperties(w, p.properties, ps);
  for (const c of p.reasonCodes) w.u8(c);
  return w.buf;
}

function encodeDisconnect(p: DisconnectPacket, v: ProtocolVersion): Uint8Array {
  return encodeTail(0xe0, "disconnect", undefined, checkInt(p.reasonCode ?? 0, 0xff, "reason code"), p.properties, v);
}

function encodeAuth(p: AuthPacket, v: ProtocolVersion): Uint8Array {
  if (v !== 5) throw codecError("local", ErrorCode.VersionMismatch, "AUTH needs MQTT 5");
  const bytes = encodeTail(0xf0, "auth", undefined, checkInt(p.reasonCode ?? 0, 0xff, "reason code"), p.properties, v);
  // Only the short form (success, no properties: Remaining Length 0) goes
  // without the Authentication Method; "It is a Protocol Error to omit the
  // Authentication Method" otherwise (3.15.2.2.2).
  if (bytes.length > 2 /* a variable header was written */ && p.properties?.authenticationMethod === undefined) {
    throw codecError("local", ErrorCode.AuthInvalid, "AUTH without an authentication method (3.15.2.2.2)", PROTOCOL_ERROR);
  }
  return bytes;
}
