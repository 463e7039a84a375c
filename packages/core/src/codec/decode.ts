/**
 * Decoding one complete packet body. Each packet type has one function, found
 * in a table by its type number; all errors are RemoteProtocolError (the bytes
 * came from the peer).
 */
import { codecError, PROTOCOL_ERROR } from "../errors.js";
import { isValidTopicFilter, isValidTopicName } from "../topic.js";
import { hex, pastEnd, Reader, show, view } from "./bytes.js";
import { readProperties } from "./properties.js";
import { decodeUtf8 } from "./utf8.js";
import { isValidReasonCode, isValidV4SubackCode } from "./reason-codes.js";
import { checkConnack, checkSubscription } from "./rules.js";
import { PACKET_TYPES } from "./types.js";
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
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from "./types.js";
import * as RC from "./rc.js";
import * as E from "../codes.js";

/** A packet type's name for messages: "SUBACK". */
function nameOf(type: number): string {
  return PACKET_TYPES[type - 1]!.toUpperCase();
}

/**
 * Checks the first byte of a fixed header: a known packet type for this version,
 * and the reserved flag bits [MQTT-2.1.3-1] (PUBREL, SUBSCRIBE, UNSUBSCRIBE: 0010
 * [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]; AUTH and the rest: 0000
 * [MQTT-3.15.1-1]; PUBLISH: QoS 3 [MQTT-3.3.1-4] and DUP on QoS 0 [MQTT-3.3.1-2]).
 */
export function checkFirstByte(b0: number, version: ProtocolVersion): void {
  const type = b0 >> 4;
  const flags = b0 & 0x0f;
  if (type === 0 || (type === 15 && version !== 5)) {
    throw codecError("remote", E.PacketTypeInvalid, `packet type ${type} is reserved in MQTT ${versionName(version)}`);
  }
  if (type === 3) {
    const qos = (flags >> 1) & 3;
    if (qos === 3) throw codecError("remote", E.QosInvalid, "PUBLISH with QoS 3");
    if (qos === 0 && (flags & 8) !== 0) throw codecError("remote", E.FixedHeaderFlags, "PUBLISH QoS 0 with DUP set");
    return;
  }
  const expected = type === 6 || type === 8 || type === 10 ? 2 : 0;
  if (flags !== expected) throw codecError("remote", E.FixedHeaderFlags, `${nameOf(type)} with header flags ${hex(flags)}`);
}

export function versionName(v: ProtocolVersion): string {
  return v === 3 ? "3.1" : v === 4 ? "3.1.1" : "5.0";
}

/** Decodes the body of one packet type (not PUBLISH, which has its own fast path). */
type BodyDecoder = (r: Reader, version: ProtocolVersion, type: number) => Packet;
/**
 * Body decoders by packet type number. A type without one is a packet the
 * peer may not send (ERR_UNEXPECTED_PACKET): the client's table leaves out
 * the packets only a client sends, so the engine's bundle has no decoder for
 * them (CONNECT, SUBSCRIBE, ...).
 */
export type Decoders = readonly (BodyDecoder | undefined)[];

/** Every packet type. */
export const DECODERS: Decoders = [
  undefined,
  decodeConnect,
  decodeConnack,
  undefined,
  decodeTail,
  decodeTail,
  decodeTail,
  decodeTail,
  decodeSubscribe,
  decodeSuback,
  decodeUnsubscribe,
  decodeSuback,
  decodeEmpty,
  decodeEmpty,
  decodeTail,
  decodeTail,
];

/** What a server sends to a client. */
export const CLIENT_DECODERS: Decoders = [
  undefined,
  undefined,
  decodeConnack,
  undefined,
  decodeTail,
  decodeTail,
  decodeTail,
  decodeTail,
  undefined,
  decodeSuback,
  undefined,
  decodeSuback,
  undefined,
  decodeEmpty,
  decodeTail,
  decodeTail,
];

/**
 * Decodes the body buf[start, end) of a packet whose first byte is `b0` (already
 * checked by checkFirstByte) with `table`. `version` is ignored for CONNECT, which names its own.
 */
export function decodeBody(table: Decoders, b0: number, buf: Uint8Array, start: number, end: number, version: ProtocolVersion, dv?: DataView): Packet {
  const t = b0 >> 4;
  if (t === 3) return decodePublish(b0, buf, start, end, version, dv);
  const f = table[t];
  if (f === undefined) throw codecError("remote", E.UnexpectedPacket, `a server does not send ${nameOf(t)}`);
  return f(new Reader(buf, start, end), version, t);
}

function decodeEmpty(r: Reader, _v: ProtocolVersion, t: number): Packet {
  r.done(nameOf(t));
  return { type: PACKET_TYPES[t - 1] as "pingreq" | "pingresp" };
}

function packetId(r: Reader): number {
  const id = r.u16("packet identifier");
  if (id === 0) throw zeroId();
  return id;
}

function zeroId(): Error {
  return codecError("remote", E.PacketIdInvalid, "packet identifier 0 [MQTT-2.2.1-3]");
}

/** A reason code valid for packet type `t` in MQTT 5 (3.1.1 SUBACK return codes otherwise). */
function reasonCode(r: Reader, t: number, v: ProtocolVersion = 5): number {
  const c = r.u8("reason code");
  const type = PACKET_TYPES[t - 1] as Parameters<typeof isValidReasonCode>[0];
  if (v === 5 ? !isValidReasonCode(type, c) : !isValidV4SubackCode(c)) {
    throw codecError("remote", E.ReasonCodeInvalid, `${hex(c)} is not a ${nameOf(t)} reason code`);
  }
  return c;
}

/** The property list of a packet of type `t`: undefined when empty. */
function readProps(r: Reader, t: number): Properties | undefined {
  return readProperties(r, PACKET_TYPES[t - 1] as Parameters<typeof readProperties>[1]);
}

/** `p` with `props` when there are any. */
function withProps<P extends Packet>(p: P, props: Properties | undefined): P {
  if (props !== undefined) (p as { properties?: Properties }).properties = props;
  return p;
}

function decodeConnect(r: Reader): ConnectPacket {
  // [MQTT-3.1.2-1] protocol name "MQTT" (3.1: "MQIsdp"), then the level,
  // whose top bit is bridge mode (mosquitto's extension, see ConnectPacket.bridge).
  const name = r.str("protocol name");
  const byte = r.u8("protocol level");
  const level = byte & 0x7f;
  if (!((name === "MQTT" && (level === 4 || level === 5)) || (name === "MQIsdp" && level === 3))) {
    throw codecError("remote", E.ProtocolInvalid, `unsupported protocol ${show(name)} level ${byte}`, 0x84);
  }
  const version = level as ProtocolVersion;
  const flags = r.u8("connect flags");
  if ((flags & 1) !== 0) throw codecError("remote", E.FlagsInvalid, "CONNECT reserved flag is set [MQTT-3.1.2-3]");
  const willFlag = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 3;
  const willRetain = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (!willFlag && (willQos !== 0 || willRetain)) {
    throw codecError("remote", E.FlagsInvalid, "will QoS or retain set without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13]");
  }
  if (willQos === 3) throw codecError("remote", E.QosInvalid, "will QoS 3 [MQTT-3.1.2-12]");
  if (version !== 5 && hasPassword && !hasUsername) {
    throw codecError("remote", E.FlagsInvalid, "password flag without user name flag [MQTT-3.1.2-22]");
  }
  const keepAlive = r.u16("keep alive");
  const properties = version === 5 ? readProperties(r, "connect") : undefined;
  // Payload order [MQTT-3.1.3-1]: client id, will properties, will topic, will payload, user name, password.
  const clientId = r.str("client id");
  const clean = (flags & 0x02) !== 0;
  const idProblem = clientIdProblem(clientId, clean, version);
  if (idProblem !== undefined) throw codecError("remote", E.ValueRange, idProblem, CLIENT_ID_NOT_VALID);
  const p: ConnectPacket = { type: "connect", protocolVersion: version, clean, keepAlive, clientId };
  if (willFlag) {
    const willProps = version === 5 ? readProperties(r, "will") : undefined;
    const topic = r.str("will topic");
    if (!isValidTopicName(topic)) throw codecError("remote", E.TopicInvalid, `will topic ${show(topic)} is not a valid topic name`);
    const payload = r.bin("will payload");
    const will: Will = { topic, payload, qos: willQos as QoS, retain: willRetain };
    if (willProps !== undefined) will.properties = willProps;
    p.will = will;
  }
  if (hasUsername) p.username = r.str("user name");
  if (hasPassword) p.password = r.bin("password");
  if (properties !== undefined) p.properties = properties;
  if (byte !== level) p.bridge = true;
  r.done("CONNECT");
  return p;
}

function decodeConnack(r: Reader, version: ProtocolVersion, t: number): ConnackPacket {
  const flags = r.u8("connack flags");
  // MQTT 3.1 has no session present flag: its first byte is "reserved values,
  // not used" (MQTT V3.1, 3.2 CONNACK), with no rule on what it holds. So it is
  // ignored (a 3.1 CONNACK never has a session present) rather than checked:
  // a server that leaves junk in a byte 3.1 never gave a meaning breaks
  // nothing. 3.1.1 and 5.0 fix bits 7-1 at 0 [MQTT-3.2.2-1].
  if (version !== 3 && (flags & 0xfe) !== 0) throw codecError("remote", E.FlagsInvalid, "CONNACK reserved flags set [MQTT-3.2.2-1]");
  const reasonCode = r.u8("connack reason code");
  const sessionPresent = version !== 3 && flags === 1;
  if (version === 5 && reasonCode === 1 && r.remaining === 0) {
    // A server that speaks only 3.1 / 3.1.1 answers an MQTT 5 CONNECT in its
    // own version: return code 1, unacceptable protocol level, with no
    // property length (3.1.1 [MQTT-3.1.2-2]). That is the refusal MQTT 5 lets
    // a server give a version it does not support, 0x84 Unsupported Protocol
    // Version ([MQTT-3.1.2-2] in MQTT 5), and it is read as one, as Paho and
    // mosquitto's bridge do. Only this exact packet: any other v5 CONNACK
    // without a property length, or with 0x01, stays malformed.
    checkConnack(reasonCode, sessionPresent, 4, "remote");
    return { type: "connack", sessionPresent, reasonCode: RC.UnsupportedProtocolVersion };
  }
  checkConnack(reasonCode, sessionPresent, version, "remote");
  const p: ConnackPacket = { type: "connack", sessionPresent, reasonCode };
  if (version === 5) withProps(p, readProps(r, t));
  r.done("CONNACK");
  return p;
}

/*
 * Recently seen topic names, direct-mapped by a cheap hash of their bytes.
 * Real streams repeat topics (topic aliases exist for that reason), and a hit
 * skips UTF-8 decoding and topic validation. A hit compares every byte, so it
 * is exactly a topic decoded and validated before. Bounded and allocation-free:
 * 256 slots of at most 128 bytes in one 32 KiB table.
 *
 * One table for every decoder in the process: it is a memo of a pure function
 * (bytes to a valid topic name), so what one connection's topics leave in it
 * cannot change what another decodes (test/codec.cache.test.ts), and it holds
 * copies of bytes, never a chunk, so a chunk the caller later transfers,
 * detaches or reuses cannot reach it. Per decoder it would cost 32 KiB each.
 */
const TOPIC_SLOTS = 256;
const TOPIC_MAX_CACHED = 128;
const slotBytes = new Uint8Array(TOPIC_SLOTS * TOPIC_MAX_CACHED);
/** Length of the topic in each slot; 0 = empty (topic names are never empty). */
const slotLength = new Uint8Array(TOPIC_SLOTS);
const slotTopic: string[] = new Array<string>(TOPIC_SLOTS).fill("");
const slotMisses = new Uint8Array(TOPIC_SLOTS);

const slotView = new DataView(slotBytes.buffer);

/**
 * Whether buf[start, start + n) holds the bytes cached at table offset `at`;
 * four at a time when the caller has a DataView of `buf` (the streaming
 * decoder keeps one per chunk it decodes in place).
 */
function sameBytes(at: number, buf: Uint8Array, dv: DataView | undefined, start: number, n: number): boolean {
  let i = 0;
  if (dv !== undefined) for (; i + 4 <= n; i += 4) if (slotView.getUint32(at + i) !== dv.getUint32(start + i)) return false;
  for (; i < n; i++) if (slotBytes[at + i] !== buf[start + i]) return false;
  return true;
}

/** The valid topic name in buf[start, start + n), n > 0, through the cache. */
function topicAt(buf: Uint8Array, dv: DataView | undefined, start: number, n: number): string {
  const cacheable = n <= TOPIC_MAX_CACHED;
  let slot = 0;
  if (cacheable) {
    slot = (n * 31 + buf[start]! * 7 + buf[start + (n >> 1)]! * 3 + buf[start + n - 1]!) & (TOPIC_SLOTS - 1);
    if (slotLength[slot] === n && sameBytes(slot * TOPIC_MAX_CACHED, buf, dv, start, n)) return slotTopic[slot]!;
  }
  const topic = decodeUtf8(buf, start, start + n, "remote", "topic name");
  if (!isValidTopicName(topic)) {
    throw codecError("remote", E.TopicInvalid, `${show(topic)} is not a valid topic name [MQTT-3.3.2-2]`);
  }
  // A slot changes hands on its second miss in a row, so topics seen once do
  // not churn the cache.
  if (cacheable && (slotLength[slot] === 0 || ++slotMisses[slot]! >= 2)) {
    slotBytes.set(view(buf, start, n), slot * TOPIC_MAX_CACHED); // a copy: no chunk stays reachable
    slotLength[slot] = n;
    slotTopic[slot] = topic;
    slotMisses[slot] = 0;
  }
  return topic;
}

/**
 * PUBLISH, the hottest packet, read straight from the buffer (a Reader only
 * for MQTT 5 properties): topic name [MQTT-3.3.2-1] [MQTT-3.3.2-2], packet
 * identifier when QoS > 0, properties (MQTT 5), and the rest is the payload (a
 * view). An empty topic name is allowed only with a topic alias (MQTT 5,
 * 3.3.2.3.4) [MQTT-4.7.3-1].
 */
function decodePublish(b0: number, buf: Uint8Array, start: number, end: number, version: ProtocolVersion, dv: DataView | undefined): PublishPacket {
  if (end - start < 2) throw pastEnd("topic name");
  const n = (buf[start]! << 8) | buf[start + 1]!;
  let pos = start + 2 + n;
  if (pos > end) throw pastEnd("topic name");
  if (n === 0 && version !== 5) throw emptyTopic();
  const topic = n === 0 ? "" : topicAt(buf, dv, start + 2, n);
  const qos = ((b0 >> 1) & 3) as QoS;
  const retain = (b0 & 1) !== 0;
  let id = 0;
  if (qos !== 0) {
    if (end - pos < 2) throw pastEnd("packet identifier");
    id = (buf[pos]! << 8) | buf[pos + 1]!;
    if (id === 0) throw zeroId();
    pos += 2;
  }
  if (version !== 5) {
    if (qos === 0) return { type: "publish", topic, payload: view(buf, pos, end - pos), qos, retain, dup: false };
    return { type: "publish", topic, payload: view(buf, pos, end - pos), qos, retain, dup: (b0 & 8) !== 0, packetId: id };
  }
  const r = new Reader(buf, pos, end);
  const properties = readProperties(r, "publish");
  if (n === 0 && properties?.topicAlias === undefined) throw emptyTopic();
  pos = r.pos;
  const p: PublishPacket =
    qos === 0
      ? { type: "publish", topic, payload: view(buf, pos, end - pos), qos, retain, dup: false }
      : { type: "publish", topic, payload: view(buf, pos, end - pos), qos, retain, dup: (b0 & 8) !== 0, packetId: id };
  if (properties !== undefined) p.properties = properties;
  return p;
}

function emptyTopic(): Error {
  return codecError("remote", E.TopicInvalid, "PUBLISH with an empty topic name [MQTT-4.7.3-1]");
}

/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP (with a packet identifier), DISCONNECT and
 * AUTH (without): in MQTT 5 an optional reason code, then optional
 * properties. AUTH may only leave out the whole variable header (Remaining
 * Length 0, 3.15.2): after its reason code the Property Length always follows.
 */
function decodeTail(r: Reader, version: ProtocolVersion, t: number): Packet {
  const type = PACKET_TYPES[t - 1] as "puback" | "disconnect" | "auth";
  const p = (t < 8 ? { type, packetId: packetId(r), reasonCode: 0 } : { type, reasonCode: 0 }) as AckPacket<"puback"> | DisconnectPacket | AuthPacket;
  if (version === 5 && r.remaining > 0) {
    p.reasonCode = reasonCode(r, t);
    if (r.remaining > 0 || t === 15) withProps(p, readProps(r, t));
    // With a variable header, AUTH needs its Authentication Method: "It is a
    // Protocol Error to omit the Authentication Method" (3.15.2.2.2).
    if (t === 15 && p.properties?.authenticationMethod === undefined) {
      throw codecError("remote", E.AuthInvalid, "AUTH without an authentication method (3.15.2.2.2)", PROTOCOL_ERROR);
    }
  }
  r.done(nameOf(t));
  return p;
}

/** A topic filter of SUBSCRIBE or UNSUBSCRIBE. */
function topicFilter(r: Reader, version: ProtocolVersion): string {
  const f = r.str("topic filter");
  if (!isValidTopicFilter(f, version)) throw codecError("remote", E.TopicFilterInvalid, `${show(f)} is not a valid topic filter`);
  return f;
}

/** Reads `item` until the end of the packet; none at all is ERR_EMPTY [MQTT-3.8.3-2] [MQTT-3.10.3-2]. */
function listOf<T>(r: Reader, t: number, item: () => T): T[] {
  const out: T[] = [];
  while (r.remaining > 0) out.push(item());
  if (out.length === 0) throw codecError("remote", E.Empty, `${nameOf(t)} with an empty payload`);
  return out;
}

function decodeSubscribe(r: Reader, version: ProtocolVersion, t: number): SubscribePacket {
  const id = packetId(r);
  const props = version === 5 ? readProps(r, t) : undefined;
  const subscriptions = listOf(r, t, (): Subscription => {
    const topicFilter_ = topicFilter(r, version);
    const o = r.u8("subscription options");
    // Reserved bits: 7-2 before MQTT 5 [MQTT-3-8.3-4], 7-6 in MQTT 5 [MQTT-3.8.3-5] (QoS 3 is reported first).
    if ((o & (version === 5 ? 0xc0 : 0xfc)) !== 0 && (o & 3) !== 3) {
      throw codecError("remote", E.SubscriptionOptions, `subscription options ${hex(o)} have reserved bits set`);
    }
    const qos = (o & 3) as QoS;
    const noLocal = (o & 4) !== 0;
    const retainAsPublished = (o & 8) !== 0;
    const retainHandling = (o >> 4) & 3;
    checkSubscription(topicFilter_, qos, noLocal, retainAsPublished, retainHandling, version, "remote");
    return version === 5
      ? { topicFilter: topicFilter_, qos, noLocal, retainAsPublished, retainHandling: retainHandling as 0 | 1 | 2 }
      : { topicFilter: topicFilter_, qos };
  });
  return withProps<SubscribePacket>({ type: "subscribe", packetId: id, subscriptions }, props);
}

function decodeUnsubscribe(r: Reader, version: ProtocolVersion, t: number): UnsubscribePacket {
  const id = packetId(r);
  const props = version === 5 ? readProps(r, t) : undefined;
  return withProps<UnsubscribePacket>({ type: "unsubscribe", packetId: id, topicFilters: listOf(r, t, () => topicFilter(r, version)) }, props);
}

/** SUBACK and UNSUBACK (MQTT 5: one reason code per filter; 3.x UNSUBACK: none). */
function decodeSuback(r: Reader, version: ProtocolVersion, t: number): SubackPacket | UnsubackPacket {
  const type = PACKET_TYPES[t - 1] as "suback" | "unsuback";
  const id = packetId(r);
  if (t === 11 && version !== 5) {
    r.done("UNSUBACK");
    return { type, packetId: id, reasonCodes: [] };
  }
  const props = version === 5 ? readProps(r, t) : undefined;
  return withProps<SubackPacket | UnsubackPacket>({ type, packetId: id, reasonCodes: listOf(r, t, () => reasonCode(r, t, version)) }, props);
}

/** The MQTT 5 reason code for a client identifier the server does not accept (3.1 / 3.1.1: return code 2). */
export const CLIENT_ID_NOT_VALID = 0x85;

/**
 * Why `clientId` may not be sent in a CONNECT of `version`, or undefined when
 * it may (the encoder and the decoder apply the same rules):
 * - 3.1.1: a zero-length ClientId only with CleanSession 1 [MQTT-3.1.3-7]
 *   (a server answers return code 2, identifier rejected [MQTT-3.1.3-8]);
 * - 3.1: "between 1 and 23 characters long" (MQTT V3.1, 3.1 CONNECT, Payload);
 *   3.1 servers reject an empty or a longer one with CONNACK return code 2
 *   (identifier rejected). Characters are counted as code points.
 * - 5.0: any (an empty one asks the server to assign one, 3.1.3.1).
 */
export function clientIdProblem(clientId: string, clean: boolean, version: ProtocolVersion): string | undefined {
  if (version === 4) {
    return clientId === "" && !clean ? "an empty client identifier needs clean session 1 in MQTT 3.1.1 [MQTT-3.1.3-7]" : undefined;
  }
  if (version === 3) {
    if (clientId === "") return "MQTT 3.1 needs a client identifier of 1 to 23 characters, got an empty one";
    if (clientId.length > 23) {
      const n = codePoints(clientId);
      if (n > 23) return `MQTT 3.1 needs a client identifier of 1 to 23 characters, got ${n}`;
    }
  }
  return undefined;
}

/** Code points in `s` (a low surrogate after a high one is the same code point). */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0) n++;
    else {
      const prev = s.charCodeAt(i - 1);
      if (prev < 0xd800 || prev > 0xdbff) n++;
    }
  }
  return n;
}
