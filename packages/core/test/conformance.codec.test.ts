/**
 * Conformance: every `codec` row of conformance/mqtt-v5-client.tsv and
 * mqtt-v311-client.tsv, one or more tests each, tagged with the row's ID.
 *
 * IDs are per standard (the same ID can mean different rules in 5.0 and 3.1.1),
 * so the 5.0 rules live under describe("MQTT 5.0") and run with version 5, the
 * 3.1.1 rules under describe("MQTT 3.1.1") with version 4. Where a rule applies
 * to both the encoder and the decoder, the test checks both: the encoder never
 * produces the forbidden form (or refuses the packet with LocalProtocolError),
 * and the decoder refuses it with RemoteProtocolError.
 *
 * Several rows read "the client matches / checks / maps ..." (SUBACK and UNSUBACK
 * correlation). Their codec-level half is tested here: the Packet Identifier and
 * the reason codes reach the caller exactly, in order, one per byte. The other
 * half (matching them to the pending request) belongs to the engine and is
 * tested there (binds = client/both rows).
 */
import { describe, expect, it } from "vitest";
import { decodePacket, encodePacket, type Packet, PacketDecoder } from "../src/codec/index.js";
import { ErrorCode, isValidTopicFilter, isValidTopicName, LocalProtocolError, type ProtocolVersion, RemoteProtocolError } from "../src/index.js";
import { reasonCodesFor } from "../src/codec/reason-codes.js";
import { FIXTURES } from "./fixtures/packets.js";

// ───────────────────────────── helpers ─────────────────────────────

function bytesOf(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}
function hexOf(b: ArrayLike<number>): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}
function hx(n: number): string {
  return n.toString(16).padStart(2, "0");
}
/** A whole frame: first byte, remaining length (shortest varint), body. */
function fr(b0: string, body: string): string {
  let n = bytesOf(body).length;
  const len: string[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(hx(b));
  } while (n > 0);
  return `${b0} ${len.join(" ")} ${body}`.replace(/\s+/g, " ").trim();
}
/** A UTF-8 string field: 2-byte length, then the bytes. */
function s(str: string): string {
  const b = new TextEncoder().encode(str);
  return `${hx(b.length >> 8)} ${hx(b.length & 0xff)} ${hexOf(b)}`.trim();
}
/** A raw string field from hex bytes (for ill-formed UTF-8). */
function rawS(hex: string): string {
  const n = bytesOf(hex).length;
  return `${hx(n >> 8)} ${hx(n & 0xff)} ${hex}`;
}

const enc = (p: Packet, v: ProtocolVersion): string => hexOf(encodePacket(p, v));
/** Hex with single spaces, for comparing against hand-written frames. */
const norm = (hex: string): string => hex.replace(/\s+/g, " ").trim();
const dec = (hex: string, v: ProtocolVersion): Packet => decodePacket(bytesOf(hex), v);

function decodeFails(hex: string, v: ProtocolVersion, code: string, reasonCode?: number): void {
  let err: unknown;
  try {
    decodePacket(bytesOf(hex), v);
  } catch (e) {
    err = e;
  }
  expect(err, `decoding ${hex}`).toBeInstanceOf(RemoteProtocolError);
  expect(err, `decoding ${hex}`).toMatchObject(reasonCode === undefined ? { code } : { code, reasonCode });
}

function encodeFails(p: unknown, v: ProtocolVersion, code: string): void {
  let err: unknown;
  try {
    encodePacket(p as Packet, v);
  } catch (e) {
    err = e;
  }
  expect(err, `encoding ${JSON.stringify(p)}`).toBeInstanceOf(LocalProtocolError);
  expect(err).toMatchObject({ code });
}

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const E = new Uint8Array(0);
const NAME = { 3: "00 06 4d 51 49 73 64 70 03", 4: "00 04 4d 51 54 54 04", 5: "00 04 4d 51 54 54 05" } as const;

/** CONNECT frame: protocol name and level, flags, keep alive 60, then `rest` (properties in v5 included by caller). */
function connectFrame(v: ProtocolVersion, flags: number, rest: string): string {
  return fr("10", `${NAME[v]} ${hx(flags)} 00 3c ${rest}`);
}
/** The v5 property length prefix, or nothing before v5. */
const pl = (v: ProtocolVersion, propsHex = ""): string => (v === 5 ? `${hx(bytesOf(propsHex).length)} ${propsHex}`.trim() : "");

const connect = (v: ProtocolVersion, o: Partial<Extract<Packet, { type: "connect" }>> = {}): Packet => ({
  type: "connect",
  protocolVersion: v,
  clean: true,
  keepAlive: 60,
  clientId: "c",
  ...o,
});
const publish = (o: Partial<Extract<Packet, { type: "publish" }>> = {}): Packet => ({
  type: "publish",
  topic: "t",
  payload: E,
  qos: 0,
  retain: false,
  dup: false,
  ...o,
});
const subscribe = (filters: string[], v: ProtocolVersion, extra: object = {}): Packet => ({
  type: "subscribe",
  packetId: 1,
  subscriptions: filters.map((topicFilter) => ({ topicFilter, qos: 0, ...(v === 5 ? { noLocal: false, retainAsPublished: false, retainHandling: 0 as const } : {}), ...extra })),
});
/** Bytes of a PUBLISH QoS 0 with topic `topicHex` (a string field) for version v. */
const publishFrame = (v: ProtocolVersion, topicField: string, tail = ""): string => fr("30", `${topicField} ${pl(v)} ${tail}`);
const subscribeFrame = (v: ProtocolVersion, filterField: string, opts = "00"): string => fr("82", `00 01 ${pl(v)} ${filterField} ${opts}`);
const unsubscribeFrame = (v: ProtocolVersion, filterField: string): string => fr("a2", `00 01 ${pl(v)} ${filterField}`);

/** Expected fixed-header flags per packet type number [MQTT-2.1.3-1] (PUBLISH varies). */
const FIXED_FLAGS: Record<number, number> = { 1: 0, 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0, 14: 0, 15: 0 };

// ───────────────────────────── shared checks, run per version ─────────────────────────────

function checkUtf8WellFormed(v: ProtocolVersion): void {
  // Decoder: ill-formed UTF-8 in a topic, client id, user name, topic filter.
  for (const bad of ["ff", "c0 af", "ed a0 80", "ed bf bf", "e2 82", "f4 90 80 80", "80"]) {
    decodeFails(publishFrame(v, rawS(`61 ${bad}`)), v, ErrorCode.Utf8Invalid, MALFORMED);
    decodeFails(connectFrame(v, 0x02, `${pl(v)} ${rawS(bad)}`), v, ErrorCode.Utf8Invalid, MALFORMED);
    decodeFails(subscribeFrame(v, rawS(bad)), v, ErrorCode.Utf8Invalid, MALFORMED);
  }
  decodeFails(connectFrame(v, 0x82, `${pl(v)} ${s("c")} ${rawS("ed a0 80")}`), v, ErrorCode.Utf8Invalid);
  // Encoder: lone surrogates have no UTF-8 form.
  for (const bad of ["\uD800", "a\uDBFF", "\uDC00b", "\uDFFF\uD800"]) {
    encodeFails(publish({ topic: bad }), v, ErrorCode.Utf8Invalid);
    encodeFails(connect(v, { clientId: bad }), v, ErrorCode.Utf8Invalid);
    encodeFails(connect(v, { username: bad }), v, ErrorCode.Utf8Invalid);
    encodeFails(subscribe([bad], v), v, ErrorCode.Utf8Invalid);
  }
  // A well-formed pair is fine both ways.
  const p = publish({ topic: "\u{1F600}" });
  expect(enc(p, v)).toBe(publishFrame(v, "00 04 f0 9f 98 80"));
  expect(dec(publishFrame(v, "00 04 f0 9f 98 80"), v)).toStrictEqual(p);
}

function checkUtf8NoNull(v: ProtocolVersion): void {
  decodeFails(publishFrame(v, rawS("61 00")), v, ErrorCode.Utf8Null, MALFORMED);
  decodeFails(connectFrame(v, 0x02, `${pl(v)} ${rawS("00")}`), v, ErrorCode.Utf8Null, MALFORMED);
  decodeFails(connectFrame(v, 0x82, `${pl(v)} ${s("c")} ${rawS("75 00")}`), v, ErrorCode.Utf8Null, MALFORMED);
  decodeFails(subscribeFrame(v, rawS("00")), v, ErrorCode.Utf8Null, MALFORMED);
  encodeFails(connect(v, { clientId: "a\u0000" }), v, ErrorCode.Utf8Null);
  encodeFails(connect(v, { username: "\u0000" }), v, ErrorCode.Utf8Null);
  // In topics the topic rules catch it first [MQTT-4.7.3-2].
  encodeFails(publish({ topic: "a\u0000" }), v, ErrorCode.TopicInvalid);
}

function checkBom(v: ProtocolVersion): void {
  // EF BB BF at the start (where a generic decoder would strip it) and inside.
  const topic = "\uFEFFa/\uFEFF";
  const field = "00 08 ef bb bf 61 2f ef bb bf";
  expect(dec(publishFrame(v, field), v)).toMatchObject({ topic });
  expect((dec(publishFrame(v, field), v) as { topic: string }).topic.length).toBe(4);
  expect(enc(publish({ topic }), v)).toBe(publishFrame(v, field));
  // Client identifier too.
  const c = dec(connectFrame(v, 0x02, `${pl(v)} 00 04 ef bb bf 63`), v);
  expect(c).toMatchObject({ clientId: "\uFEFFc" });
  expect(enc(connect(v, { clientId: "\uFEFFc" }), v)).toBe(connectFrame(v, 0x02, `${pl(v)} 00 04 ef bb bf 63`));
}

function checkReservedFlags(v: ProtocolVersion): void {
  const maxType = v === 5 ? 15 : 14;
  for (let type = 1; type <= maxType; type++) {
    if (type === 3) continue;
    for (let flags = 0; flags < 16; flags++) {
      if (flags === FIXED_FLAGS[type]) continue;
      decodeFails(`${hx((type << 4) | flags)} 00`, v, ErrorCode.FixedHeaderFlags, MALFORMED);
    }
  }
  // The encoder writes exactly the table's flags for every fixture of this version.
  for (const f of FIXTURES.filter((x) => x.version === v && x.packet.type !== "publish")) {
    const b0 = encodePacket(f.packet, v)[0]!;
    expect(b0 & 0x0f, f.name).toBe(FIXED_FLAGS[b0 >> 4]);
  }
  // PUBLISH: every DUP/QoS/RETAIN combination except QoS 3 and DUP on QoS 0 decodes.
  for (let flags = 0; flags < 16; flags++) {
    const qos = (flags >> 1) & 3;
    const frame = fr(hx(0x30 | flags), `00 01 74 ${qos > 0 ? "00 01" : ""} ${pl(v)}`);
    if (qos === 3) decodeFails(frame, v, ErrorCode.QosInvalid, MALFORMED);
    else if (qos === 0 && (flags & 8) !== 0) decodeFails(frame, v, ErrorCode.FixedHeaderFlags, MALFORMED);
    else expect(dec(frame, v)).toMatchObject({ type: "publish", qos, dup: (flags & 8) !== 0, retain: (flags & 1) !== 0 });
  }
}

function checkQos0NoPacketId(v: ProtocolVersion): void {
  encodeFails(publish({ packetId: 1 }), v, ErrorCode.PacketIdInvalid);
  // Encoded: topic, then (v5) property length, then the payload; no identifier.
  expect(enc(publish({ payload: bytesOf("00 01") }), v)).toBe(fr("30", `00 01 74 ${pl(v)} 00 01`));
  // Decoded: the two bytes after the topic are payload, not an identifier.
  const p = dec(fr("30", `00 01 74 ${pl(v)} 00 01`), v);
  expect(p).toStrictEqual(publish({ payload: bytesOf("00 01") }));
  expect("packetId" in p).toBe(false);
}

function checkSubackUnsubackPacketId(v: ProtocolVersion): void {
  // Codec half: the identifier reaches the caller exactly; matching it to the
  // pending SUBSCRIBE / UNSUBSCRIBE is the engine's part.
  for (const id of [1, 0x00ff, 0xbeef, 0xffff]) {
    const idHex = `${hx(id >> 8)} ${hx(id & 0xff)}`;
    expect(dec(fr("90", `${idHex} ${pl(v)} 00`), v)).toMatchObject({ type: "suback", packetId: id });
    expect(dec(fr("b0", `${idHex} ${v === 5 ? "00 00" : ""}`), v)).toMatchObject({ type: "unsuback", packetId: id });
    expect(enc({ type: "suback", packetId: id, reasonCodes: [0] }, v)).toBe(fr("90", `${idHex} ${pl(v)} 00`));
  }
  decodeFails(fr("90", `00 00 ${pl(v)} 00`), v, ErrorCode.PacketIdInvalid);
}

function checkConnectReservedBit(v: ProtocolVersion): void {
  // Encoder: every flag it can set, never bit 0.
  const all = connect(v, {
    will: { topic: "w", payload: E, qos: 2, retain: true },
    username: "u",
    password: bytesOf("70"),
  });
  const flags = encodePacket(all, v)[2 + bytesOf(NAME[v]).length]!;
  expect(flags).toBe(0xf6);
  for (const f of FIXTURES.filter((x) => x.packet.type === "connect")) {
    expect(encodePacket(f.packet, f.version)[2 + bytesOf(NAME[f.version]).length]! & 1, f.name).toBe(0);
  }
  // Decoder: bit 0 set is malformed, whatever else is set.
  decodeFails(connectFrame(v, 0x03, `${pl(v)} ${s("c")}`), v, ErrorCode.FlagsInvalid, MALFORMED);
  decodeFails(connectFrame(v, 0x01, `${pl(v)} ${s("c")}`), v, ErrorCode.FlagsInvalid, MALFORMED);
}

function checkWillFieldsPresent(v: ProtocolVersion): void {
  // Encoder: with a will, its (properties,) topic and payload follow the client id.
  const p = connect(v, { will: { topic: "w", payload: bytesOf("aa"), qos: 0, retain: false } });
  expect(enc(p, v)).toBe(connectFrame(v, 0x06, `${pl(v)} ${s("c")} ${pl(v)} ${s("w")} 00 01 aa`));
  expect(dec(connectFrame(v, 0x06, `${pl(v)} ${s("c")} ${pl(v)} ${s("w")} 00 01 aa`), v)).toStrictEqual(p);
  // Decoder: the will flag without the fields is malformed.
  decodeFails(connectFrame(v, 0x06, `${pl(v)} ${s("c")}`), v, ErrorCode.LengthMismatch);
  decodeFails(connectFrame(v, 0x06, `${pl(v)} ${s("c")} ${pl(v)} ${s("w")}`), v, ErrorCode.LengthMismatch);
  if (v === 5) decodeFails(connectFrame(v, 0x06, `${pl(v)} ${s("c")} 00`), v, ErrorCode.LengthMismatch);
  // Encoder: a will without a topic or payload is refused.
  encodeFails(connect(v, { will: { payload: E, qos: 0, retain: false } as never }), v, ErrorCode.TopicInvalid);
  encodeFails(connect(v, { will: { topic: "w", qos: 0, retain: false } as never }), v, ErrorCode.ValueRange);
}

function checkNoWillQos(v: ProtocolVersion): void {
  for (const flags of [0x08, 0x10, 0x18, 0x0a, 0x1a]) {
    decodeFails(connectFrame(v, flags, `${pl(v)} ${s("c")}`), v, ErrorCode.FlagsInvalid, MALFORMED);
  }
  // Without a will the encoder leaves the will QoS bits 0.
  expect(encodePacket(connect(v), v)[2 + bytesOf(NAME[v]).length]! & 0x18).toBe(0);
}

function checkNoWillRetain(v: ProtocolVersion): void {
  decodeFails(connectFrame(v, 0x20, `${pl(v)} ${s("c")}`), v, ErrorCode.FlagsInvalid, MALFORMED);
  decodeFails(connectFrame(v, 0x22, `${pl(v)} ${s("c")}`), v, ErrorCode.FlagsInvalid, MALFORMED);
  expect(encodePacket(connect(v, { clean: false }), v)[2 + bytesOf(NAME[v]).length]! & 0x20).toBe(0);
}

function checkWillQos3(v: ProtocolVersion): void {
  decodeFails(connectFrame(v, 0x1e, `${pl(v)} ${s("c")} ${pl(v)} ${s("w")} 00 00`), v, ErrorCode.QosInvalid, MALFORMED);
  encodeFails(connect(v, { will: { topic: "w", payload: E, qos: 3 as never, retain: false } }), v, ErrorCode.QosInvalid);
  for (const qos of [0, 1, 2] as const) {
    const p = connect(v, { will: { topic: "w", payload: E, qos, retain: false } });
    expect(dec(enc(p, v), v)).toStrictEqual(p);
  }
}

function checkUsernameFlag(v: ProtocolVersion, present: boolean): void {
  if (present) {
    expect(enc(connect(v, { username: "u" }), v)).toBe(connectFrame(v, 0x82, `${pl(v)} ${s("c")} ${s("u")}`));
    expect(dec(connectFrame(v, 0x82, `${pl(v)} ${s("c")} ${s("u")}`), v)).toMatchObject({ username: "u" });
    decodeFails(connectFrame(v, 0x82, `${pl(v)} ${s("c")}`), v, ErrorCode.LengthMismatch);
  } else {
    expect(enc(connect(v), v)).toBe(connectFrame(v, 0x02, `${pl(v)} ${s("c")}`));
    expect("username" in dec(connectFrame(v, 0x02, `${pl(v)} ${s("c")}`), v)).toBe(false);
    // Flag 0 with a user name after the client id: bytes left over.
    decodeFails(connectFrame(v, 0x02, `${pl(v)} ${s("c")} ${s("u")}`), v, ErrorCode.LengthMismatch);
  }
}

function checkPasswordFlag(v: ProtocolVersion, present: boolean): void {
  if (present) {
    const p = connect(v, { username: "u", password: bytesOf("01 02") });
    expect(enc(p, v)).toBe(connectFrame(v, 0xc2, `${pl(v)} ${s("c")} ${s("u")} 00 02 01 02`));
    expect(dec(enc(p, v), v)).toStrictEqual(p);
    decodeFails(connectFrame(v, 0xc2, `${pl(v)} ${s("c")} ${s("u")}`), v, ErrorCode.LengthMismatch);
  } else {
    const p = connect(v, { username: "u" });
    expect(enc(p, v)).toBe(connectFrame(v, 0x82, `${pl(v)} ${s("c")} ${s("u")}`));
    expect("password" in dec(enc(p, v), v)).toBe(false);
    decodeFails(connectFrame(v, 0x82, `${pl(v)} ${s("c")} ${s("u")} 00 01 70`), v, ErrorCode.LengthMismatch);
  }
}

function checkPayloadOrder(v: ProtocolVersion): void {
  const p = connect(v, {
    will: { topic: "WT", payload: bytesOf("aa bb"), qos: 1, retain: false, ...(v === 5 ? { properties: { contentType: "CT" } } : {}) },
    username: "UN",
    password: bytesOf("cc dd"),
    clientId: "ID",
  });
  const willProps = v === 5 ? `05 03 ${s("CT")}` : "";
  const expected = connectFrame(v, 0xce, `${pl(v)} ${s("ID")} ${willProps} ${s("WT")} 00 02 aa bb ${s("UN")} 00 02 cc dd`);
  expect(enc(p, v)).toBe(norm(expected));
  expect(dec(expected, v)).toStrictEqual(p);
}

function checkClientIdFirst(v: ProtocolVersion): void {
  // Always present, even empty, right after the variable header.
  expect(enc(connect(v, { clientId: "" }), v)).toBe(connectFrame(v, 0x02, `${pl(v)} 00 00`));
  expect(dec(connectFrame(v, 0x02, `${pl(v)} 00 00`), v)).toMatchObject({ clientId: "" });
  decodeFails(connectFrame(v, 0x02, pl(v)), v, ErrorCode.LengthMismatch);
  encodeFails(connect(v, { clientId: undefined as never }), v, ErrorCode.ValueRange);
  // First: with a user name, the first string is still the client id.
  expect(dec(connectFrame(v, 0x82, `${pl(v)} ${s("first")} ${s("second")}`), v)).toMatchObject({ clientId: "first", username: "second" });
}

/** A string field of CONNECT is UTF-8: multibyte round trip, ill-formed refused both ways. */
function checkConnectStringUtf8(v: ProtocolVersion, field: "clientId" | "willTopic" | "username"): void {
  const text = "\u00FC\u20AC\u{1F600}";
  const build = (str: string): Packet =>
    field === "clientId"
      ? connect(v, { clientId: str })
      : field === "username"
        ? connect(v, { username: str })
        : connect(v, { will: { topic: str, payload: E, qos: 0, retain: false } });
  const p = build(text);
  const bytes = encodePacket(p, v);
  expect(hexOf(bytes)).toContain("00 09 c3 bc e2 82 ac f0 9f 98 80");
  expect(decodePacket(bytes, v)).toStrictEqual(p);
  encodeFails(build("x\uD800"), v, ErrorCode.Utf8Invalid);
  const bad = rawS("c3 28");
  const frame =
    field === "clientId"
      ? connectFrame(v, 0x02, `${pl(v)} ${bad}`)
      : field === "username"
        ? connectFrame(v, 0x82, `${pl(v)} ${s("c")} ${bad}`)
        : connectFrame(v, 0x06, `${pl(v)} ${s("c")} ${pl(v)} ${bad} 00 00`);
  decodeFails(frame, v, ErrorCode.Utf8Invalid, MALFORMED);
}

function checkDup0OnQos0(v: ProtocolVersion): void {
  decodeFails(fr("38", `00 01 74 ${pl(v)}`), v, ErrorCode.FixedHeaderFlags, MALFORMED);
  decodeFails(fr("39", `00 01 74 ${pl(v)}`), v, ErrorCode.FixedHeaderFlags, MALFORMED);
  encodeFails(publish({ dup: true }), v, ErrorCode.FixedHeaderFlags);
  expect(encodePacket(publish({ retain: true }), v)[0]! & 0x08).toBe(0);
  expect(encodePacket(publish({ qos: 1, packetId: 1, dup: true }), v)[0]).toBe(0x3a);
}

function checkQos3(v: ProtocolVersion): void {
  decodeFails(fr("36", `00 01 74 00 01 ${pl(v)}`), v, ErrorCode.QosInvalid, MALFORMED);
  decodeFails(fr("3f", `00 01 74 00 01 ${pl(v)}`), v, ErrorCode.QosInvalid, MALFORMED);
  encodeFails(publish({ qos: 3 as never, packetId: 1 }), v, ErrorCode.QosInvalid);
}

function checkTopicNameFirstUtf8(v: ProtocolVersion): void {
  const p = publish({ topic: "\u00E4/\u20AC", qos: 1, packetId: 0x0a0b, payload: bytesOf("ff") });
  // Topic Name first, then the identifier, (properties,) payload.
  expect(enc(p, v)).toBe(fr("32", `00 06 c3 a4 2f e2 82 ac 0a 0b ${pl(v)} ff`));
  expect(dec(fr("32", `00 06 c3 a4 2f e2 82 ac 0a 0b ${pl(v)} ff`), v)).toStrictEqual(p);
  decodeFails(publishFrame(v, rawS("c3")), v, ErrorCode.Utf8Invalid, MALFORMED);
  encodeFails(publish({ topic: "a/\uDC00" }), v, ErrorCode.Utf8Invalid);
}

function checkTopicNoWildcards(v: ProtocolVersion): void {
  for (const t of ["+", "#", "a/+", "a/#", "a+", "sport/tennis/#", "+/b"]) {
    decodeFails(publishFrame(v, s(t)), v, ErrorCode.TopicInvalid, PROTOCOL_ERROR);
    encodeFails(publish({ topic: t }), v, ErrorCode.TopicInvalid);
    expect(isValidTopicName(t), t).toBe(false);
  }
  // Also the will topic.
  decodeFails(connectFrame(v, 0x06, `${pl(v)} ${s("c")} ${pl(v)} ${s("w/#")} 00 00`), v, ErrorCode.TopicInvalid);
  encodeFails(connect(v, { will: { topic: "w/+", payload: E, qos: 0, retain: false } }), v, ErrorCode.TopicInvalid);
}

function checkPubrelFlags(v: ProtocolVersion): void {
  expect(enc({ type: "pubrel", packetId: 1, reasonCode: 0 }, v)).toBe("62 02 00 01");
  for (let f = 0; f < 16; f++) if (f !== 2) decodeFails(`${hx(0x60 | f)} 02 00 01`, v, ErrorCode.FixedHeaderFlags, MALFORMED);
  expect(dec("62 02 00 01", v)).toStrictEqual({ type: "pubrel", packetId: 1, reasonCode: 0 });
}

function checkSubscribeFlags(v: ProtocolVersion): void {
  expect(encodePacket(subscribe(["t"], v), v)[0]).toBe(0x82);
  for (let f = 0; f < 16; f++) if (f !== 2) decodeFails(fr(hx(0x80 | f), `00 01 ${pl(v)} ${s("t")} 00`), v, ErrorCode.FixedHeaderFlags, MALFORMED);
}

function checkUnsubscribeFlags(v: ProtocolVersion): void {
  expect(encodePacket({ type: "unsubscribe", packetId: 1, topicFilters: ["t"] }, v)[0]).toBe(0xa2);
  for (let f = 0; f < 16; f++) if (f !== 2) decodeFails(fr(hx(0xa0 | f), `00 01 ${pl(v)} ${s("t")}`), v, ErrorCode.FixedHeaderFlags, MALFORMED);
}

function checkFilterUtf8(v: ProtocolVersion, kind: "subscribe" | "unsubscribe"): void {
  const frame = kind === "subscribe" ? (f: string) => subscribeFrame(v, f) : (f: string) => unsubscribeFrame(v, f);
  const packet = (f: string): Packet => (kind === "subscribe" ? subscribe([f], v) : { type: "unsubscribe", packetId: 1, topicFilters: [f] });
  const p = packet("\u00FC/+/\u{1F600}");
  expect(enc(p, v)).toBe(frame("00 09 c3 bc 2f 2b 2f f0 9f 98 80"));
  expect(dec(frame("00 09 c3 bc 2f 2b 2f f0 9f 98 80"), v)).toStrictEqual(p);
  decodeFails(frame(rawS("2b 2f ff")), v, ErrorCode.Utf8Invalid, MALFORMED);
  decodeFails(frame(rawS("ed a0 80")), v, ErrorCode.Utf8Invalid, MALFORMED);
  encodeFails(packet("a/\uD800"), v, ErrorCode.Utf8Invalid);
}

function checkSubscribeNotEmpty(v: ProtocolVersion): void {
  decodeFails(fr("82", `00 01 ${pl(v)}`), v, ErrorCode.Empty, PROTOCOL_ERROR);
  encodeFails({ type: "subscribe", packetId: 1, subscriptions: [] }, v, ErrorCode.Empty);
  // A filter always travels with its options byte.
  decodeFails(fr("82", `00 01 ${pl(v)} ${s("t")}`), v, ErrorCode.LengthMismatch);
  expect(enc(subscribe(["t"], v), v)).toBe(fr("82", `00 01 ${pl(v)} ${s("t")} 00`));
}

function checkUnsubscribeNotEmpty(v: ProtocolVersion): void {
  decodeFails(fr("a2", `00 01 ${pl(v)}`), v, ErrorCode.Empty, PROTOCOL_ERROR);
  encodeFails({ type: "unsubscribe", packetId: 1, topicFilters: [] }, v, ErrorCode.Empty);
}

function checkSubackCodesInOrder(v: ProtocolVersion): void {
  // Codec half: one code per byte, in wire order, as many as there are bytes.
  // Comparing the count with the SUBSCRIBE's filters is the engine's part.
  const codes = v === 5 ? [0x02, 0x00, 0x8f, 0x01, 0xa2] : [0x02, 0x00, 0x80, 0x01];
  const body = `00 07 ${pl(v)} ${codes.map(hx).join(" ")}`;
  const p = dec(fr("90", body), v);
  expect(p).toStrictEqual({ type: "suback", packetId: 7, reasonCodes: codes });
  expect(enc({ type: "suback", packetId: 7, reasonCodes: codes }, v)).toBe(fr("90", body));
  for (let n = 1; n <= 5; n++) {
    const some = Array.from({ length: n }, (_, i) => i % 3);
    expect(dec(fr("90", `00 01 ${pl(v)} ${some.map(hx).join(" ")}`), v)).toMatchObject({ reasonCodes: some });
  }
}

function checkTopicFilterWildcards(v: ProtocolVersion, which: "#" | "+"): void {
  const good = which === "#" ? ["#", "a/#", "a/b/#", "/#", "+/#"] : ["+", "a/+", "+/b", "a/+/c", "+/+", "/+", "+/#"];
  const bad = which === "#" ? ["a#", "a/#/b", "#/a", "a/b#", "##", "a/#/"] : ["a+", "+a", "a/+b", "a/b+/c", "++", "a/++"];
  for (const f of good) {
    expect(isValidTopicFilter(f), f).toBe(true);
    expect(dec(enc(subscribe([f], v), v), v)).toStrictEqual(subscribe([f], v));
  }
  for (const f of bad) {
    expect(isValidTopicFilter(f), f).toBe(false);
    decodeFails(subscribeFrame(v, s(f)), v, ErrorCode.TopicFilterInvalid, PROTOCOL_ERROR);
    decodeFails(unsubscribeFrame(v, s(f)), v, ErrorCode.TopicFilterInvalid, PROTOCOL_ERROR);
    encodeFails(subscribe([f], v), v, ErrorCode.TopicFilterInvalid);
    encodeFails({ type: "unsubscribe", packetId: 1, topicFilters: [f] }, v, ErrorCode.TopicFilterInvalid);
  }
}

function checkWildcardsOnlyInFilters(v: ProtocolVersion): void {
  for (const w of ["+", "#", "a/+/b", "a/#"]) {
    expect(isValidTopicFilter(w)).toBe(true);
    expect(isValidTopicName(w)).toBe(false);
    expect(dec(enc(subscribe([w], v), v), v)).toStrictEqual(subscribe([w], v));
    encodeFails(publish({ topic: w }), v, ErrorCode.TopicInvalid);
    decodeFails(publishFrame(v, s(w)), v, ErrorCode.TopicInvalid);
  }
}

function checkAtLeastOneChar(v: ProtocolVersion): void {
  expect(isValidTopicName("")).toBe(false);
  expect(isValidTopicFilter("")).toBe(false);
  decodeFails(publishFrame(v, "00 00"), v, ErrorCode.TopicInvalid, PROTOCOL_ERROR);
  encodeFails(publish({ topic: "" }), v, ErrorCode.TopicInvalid);
  decodeFails(subscribeFrame(v, "00 00"), v, ErrorCode.TopicFilterInvalid);
  encodeFails(subscribe([""], v), v, ErrorCode.TopicFilterInvalid);
  decodeFails(unsubscribeFrame(v, "00 00"), v, ErrorCode.TopicFilterInvalid);
  encodeFails({ type: "unsubscribe", packetId: 1, topicFilters: [""] }, v, ErrorCode.TopicFilterInvalid);
  // One character is enough, even "/".
  expect(dec(publishFrame(v, s("/")), v)).toMatchObject({ topic: "/" });
}

function checkNoNullInTopics(v: ProtocolVersion): void {
  expect(isValidTopicName("a\u0000b")).toBe(false);
  expect(isValidTopicFilter("a/\u0000")).toBe(false);
  decodeFails(publishFrame(v, rawS("61 00 62")), v, ErrorCode.Utf8Null);
  decodeFails(subscribeFrame(v, rawS("61 2f 00")), v, ErrorCode.Utf8Null);
  encodeFails(publish({ topic: "a\u0000b" }), v, ErrorCode.TopicInvalid);
  encodeFails(subscribe(["a/\u0000"], v), v, ErrorCode.TopicFilterInvalid);
  encodeFails({ type: "unsubscribe", packetId: 1, topicFilters: ["\u0000"] }, v, ErrorCode.TopicFilterInvalid);
}

function checkMaxLength(v: ProtocolVersion): void {
  const max = "a".repeat(65_535);
  const over = "a".repeat(65_536);
  const euroMax = "\u20AC".repeat(21_845); // 65,535 bytes
  const euroOver = "\u20AC".repeat(21_846); // 65,538 bytes, 21,846 UTF-16 units
  expect(isValidTopicName(max)).toBe(true);
  expect(isValidTopicName(over)).toBe(false);
  expect(isValidTopicName(euroMax)).toBe(true);
  expect(isValidTopicName(euroOver)).toBe(false);
  expect(isValidTopicFilter(max)).toBe(true);
  expect(isValidTopicFilter(over)).toBe(false);
  expect(isValidTopicFilter(euroOver)).toBe(false);
  const p = publish({ topic: euroMax });
  const bytes = encodePacket(p, v);
  expect(hexOf(bytes.subarray(bytes.length - 65_535 - 2 - (v === 5 ? 1 : 0), bytes.length - 65_535 - (v === 5 ? 1 : 0)))).toBe("ff ff");
  expect(decodePacket(bytes, v)).toStrictEqual(p);
  encodeFails(publish({ topic: over }), v, ErrorCode.TopicInvalid);
  encodeFails(publish({ topic: euroOver }), v, ErrorCode.TopicInvalid);
  encodeFails(subscribe([over], v), v, ErrorCode.TopicFilterInvalid);
  encodeFails({ type: "unsubscribe", packetId: 1, topicFilters: [euroOver] }, v, ErrorCode.TopicFilterInvalid);
  expect(dec(enc(subscribe([max], v), v), v)).toStrictEqual(subscribe([max], v));
  // On the wire the 2-byte length cannot say more than 65,535: a longer claim is cut short.
  decodeFails(fr("30", "ff ff 61"), v, ErrorCode.LengthMismatch);
}

// ───────────────────────────── MQTT 5.0 ─────────────────────────────

describe("MQTT 5.0", () => {
  const v = 5;

  it("[MQTT-1.5.4-1] strings are well-formed UTF-8 without surrogates, both ways", () => checkUtf8WellFormed(v));

  it("[MQTT-1.5.4-2] strings never carry U+0000, both ways", () => {
    checkUtf8NoNull(v);
    decodeFails(fr("40", `00 01 00 ${pl(v, `1f ${rawS("00")}`)}`), v, ErrorCode.Utf8Null, MALFORMED);
    encodeFails(publish({ properties: { contentType: "a\u0000" } }), v, ErrorCode.Utf8Null);
  });

  it("[MQTT-1.5.4-3] EF BB BF is kept as U+FEFF, never stripped", () => {
    checkBom(v);
    const p = publish({ properties: { userProperties: [["\uFEFF", "\uFEFFv"]] } });
    expect(enc(p, v)).toBe(fr("30", `00 01 74 ${pl(v, "26 00 03 ef bb bf 00 04 ef bb bf 76")}`));
    expect(dec(enc(p, v), v)).toStrictEqual(p);
  });

  it("[MQTT-1.5.5-1] Variable Byte Integers use the shortest form: longer forms are malformed, the encoder writes the shortest", () => {
    // Remaining Length.
    for (const h of ["c0 80 00", "c0 80 80 00", "c0 80 80 80 00", "30 83 00 00 01 74", "30 ff ff ff ff 7f"]) {
      decodeFails(h, v, ErrorCode.VarintMalformed, MALFORMED);
    }
    // Property Length, property identifier, subscription identifier.
    decodeFails(fr("30", "00 01 74 80 00"), v, ErrorCode.VarintMalformed, MALFORMED);
    decodeFails(fr("30", "00 01 74 83 00 23 00 01"), v, ErrorCode.VarintMalformed, MALFORMED);
    decodeFails(fr("30", "00 01 74 04 a3 00 00 01"), v, ErrorCode.VarintMalformed, MALFORMED);
    decodeFails(fr("30", "00 01 74 03 0b 81 00"), v, ErrorCode.VarintMalformed, MALFORMED);
    // The encoder: 127 in one byte, 128 in two, for a property length and a subscription identifier.
    const rs = (n: number) => encodePacket({ type: "puback", packetId: 1, reasonCode: 0x10, properties: { reasonString: "r".repeat(n) } }, v);
    expect(hexOf(rs(124).subarray(0, 7))).toBe("40 83 01 00 01 10 7f"); // property length 127, remaining 131
    expect(hexOf(rs(125).subarray(0, 8))).toBe("40 85 01 00 01 10 80 01"); // property length 128, remaining 133
    expect(enc(publish({ properties: { subscriptionIdentifiers: [127, 128, 16_383, 16_384, 268_435_455] } }), v)).toBe(
      fr("30", `00 01 74 ${pl(v, "0b 7f 0b 80 01 0b ff 7f 0b 80 80 01 0b ff ff ff 7f")}`),
    );
  });

  it("[MQTT-1.5.7-1] both the name and the value of a user property follow the UTF-8 rules", () => {
    const up = (name: string, value: string) => pl(v, `26 ${name} ${value}`);
    decodeFails(fr("30", `00 01 74 ${up(rawS("ff"), s("v"))}`), v, ErrorCode.Utf8Invalid, MALFORMED);
    decodeFails(fr("30", `00 01 74 ${up(s("n"), rawS("ed b0 80"))}`), v, ErrorCode.Utf8Invalid, MALFORMED);
    decodeFails(fr("30", `00 01 74 ${up(rawS("00"), s("v"))}`), v, ErrorCode.Utf8Null, MALFORMED);
    decodeFails(fr("30", `00 01 74 ${up(s("n"), rawS("76 00"))}`), v, ErrorCode.Utf8Null, MALFORMED);
    for (const [n, val, code] of [
      ["\uD800", "v", ErrorCode.Utf8Invalid],
      ["n", "\uDFFF", ErrorCode.Utf8Invalid],
      ["\u0000", "v", ErrorCode.Utf8Null],
      ["n", "v\u0000", ErrorCode.Utf8Null],
    ] as const) {
      encodeFails(publish({ properties: { userProperties: [[n, val]] } }), v, code);
      encodeFails({ type: "disconnect", reasonCode: 0, properties: { userProperties: [[n, val]] } }, v, code);
    }
    const ok = publish({ properties: { userProperties: [["\u00FC", "\u{1F600}"]] } });
    expect(dec(enc(ok, v), v)).toStrictEqual(ok);
  });

  it("[MQTT-2.1.3-1] reserved fixed-header flags carry exactly the table's values", () => checkReservedFlags(v));

  it("[MQTT-2.2.1-2] a QoS 0 PUBLISH has no Packet Identifier", () => checkQos0NoPacketId(v));

  it("[MQTT-2.2.1-6] SUBACK and UNSUBACK carry the request's Packet Identifier to the caller", () => checkSubackUnsubackPacketId(v));

  it("[MQTT-2.2.2-1] a packet with no properties still encodes a Property Length of 0", () => {
    expect(enc(connect(v), v)).toBe(connectFrame(v, 0x02, `00 ${s("c")}`));
    expect(enc(connect(v, { properties: {} }), v)).toBe(connectFrame(v, 0x02, `00 ${s("c")}`));
    expect(enc(connect(v, { will: { topic: "w", payload: E, qos: 0, retain: false } }), v)).toBe(connectFrame(v, 0x06, `00 ${s("c")} 00 ${s("w")} 00 00`));
    expect(enc({ type: "connack", sessionPresent: false, reasonCode: 0 }, v)).toBe("20 03 00 00 00");
    expect(enc(publish(), v)).toBe("30 04 00 01 74 00");
    expect(enc(publish({ properties: {} }), v)).toBe("30 04 00 01 74 00");
    expect(enc(subscribe(["t"], v), v)).toBe("82 07 00 01 00 00 01 74 00");
    expect(enc({ type: "suback", packetId: 1, reasonCodes: [0] }, v)).toBe("90 04 00 01 00 00");
    expect(enc({ type: "unsubscribe", packetId: 1, topicFilters: ["t"] }, v)).toBe("a2 06 00 01 00 00 01 74");
    expect(enc({ type: "unsuback", packetId: 1, reasonCodes: [0] }, v)).toBe("b0 04 00 01 00 00");
    // (An AUTH with a reason code always has properties: its Authentication Method, 3.15.2.2.2.)
    // The decoder requires it where the packet has no shorter form.
    decodeFails("20 02 00 00", v, ErrorCode.LengthMismatch, MALFORMED);
    decodeFails("30 03 00 01 74", v, ErrorCode.LengthMismatch, MALFORMED);
    decodeFails(connectFrame(v, 0x02, s("c")), v, ErrorCode.LengthMismatch, MALFORMED);
    decodeFails("f0 01 18", v, ErrorCode.LengthMismatch, MALFORMED);
    // (Acks and DISCONNECT may stop before it: 3.4.2.2.1, 3.14.2.2.1; see the fixtures.)
  });

  it("[MQTT-3.1.2-1] the CONNECT protocol name is the UTF-8 string \"MQTT\"", () => {
    expect(enc(connect(v), v).startsWith("10 0e 00 04 4d 51 54 54 05")).toBe(true);
    expect(dec(enc(connect(v), v), v)).toMatchObject({ protocolVersion: 5 });
    for (const name of ["MQTX", "mqtt", "MQIsdp", "MQT", "MQTTT"]) {
      decodeFails(fr("10", `${s(name)} 05 02 00 3c 00 ${s("c")}`), v, ErrorCode.ProtocolInvalid, 0x84);
    }
  });

  it("[MQTT-3.1.2-3] the CONNECT reserved flag is sent as 0 and rejected as malformed when 1", () => checkConnectReservedBit(v));

  it("[MQTT-3.1.2-9] Will Flag 1 brings Will Properties, Will Topic and Will Payload", () => {
    checkWillFieldsPresent(v);
    const p = connect(v, { will: { topic: "w", payload: E, qos: 0, retain: false, properties: { willDelayInterval: 5 } } });
    expect(enc(p, v)).toBe(connectFrame(v, 0x06, `00 ${s("c")} 05 18 00 00 00 05 ${s("w")} 00 00`));
  });

  it("[MQTT-3.1.2-11] Will Flag 0 requires the Will QoS bits to be 0", () => checkNoWillQos(v));

  it("[MQTT-3.1.2-12] with Will Flag 1 the Will QoS is 0, 1 or 2; 3 is malformed", () => checkWillQos3(v));

  it("[MQTT-3.1.2-13] Will Flag 0 requires Will Retain 0", () => checkNoWillRetain(v));

  it("[MQTT-3.1.2-16] User Name Flag 0: no User Name in the payload", () => checkUsernameFlag(v, false));

  it("[MQTT-3.1.2-17] User Name Flag 1: a User Name in the payload", () => checkUsernameFlag(v, true));

  it("[MQTT-3.1.2-18] Password Flag 0: no Password in the payload", () => {
    checkPasswordFlag(v, false);
    // 5.0 allows a password without a user name; flag 0 still means none.
    expect("password" in dec(connectFrame(v, 0x02, `00 ${s("c")}`), v)).toBe(false);
  });

  it("[MQTT-3.1.2-19] Password Flag 1: a Password in the payload (with or without a user name in 5.0)", () => {
    checkPasswordFlag(v, true);
    const p = connect(v, { password: bytesOf("70") });
    expect(enc(p, v)).toBe(connectFrame(v, 0x42, `00 ${s("c")} 00 01 70`));
    expect(dec(enc(p, v), v)).toStrictEqual(p);
    decodeFails(connectFrame(v, 0x42, `00 ${s("c")}`), v, ErrorCode.LengthMismatch);
  });

  it("[MQTT-3.1.3-1] CONNECT payload order: Client Identifier, Will Properties, Will Topic, Will Payload, User Name, Password", () => checkPayloadOrder(v));

  it("[MQTT-3.1.3-3] the Client Identifier is always present and first in the payload", () => checkClientIdFirst(v));

  it("[MQTT-3.1.3-4] the Client Identifier is a UTF-8 string", () => checkConnectStringUtf8(v, "clientId"));

  it("[MQTT-3.1.3-11] the Will Topic is a UTF-8 string", () => checkConnectStringUtf8(v, "willTopic"));

  it("[MQTT-3.1.3-12] the User Name is a UTF-8 string", () => checkConnectStringUtf8(v, "username"));

  it("[MQTT-3.2.2-1] CONNACK acknowledge flags bits 7-1 are reserved 0; the decoder rejects others", () => {
    for (let bit = 1; bit < 8; bit++) decodeFails(`20 03 ${hx(1 << bit)} 00 00`, v, ErrorCode.FlagsInvalid, MALFORMED);
    decodeFails("20 03 ff 00 00", v, ErrorCode.FlagsInvalid);
    expect(enc({ type: "connack", sessionPresent: true, reasonCode: 0 }, v)).toBe("20 03 01 00 00");
    expect(dec("20 03 01 00 00", v)).toStrictEqual({ type: "connack", sessionPresent: true, reasonCode: 0 });
  });

  it("[MQTT-3.3.1-2] DUP is 0 on every QoS 0 PUBLISH", () => checkDup0OnQos0(v));

  it("[MQTT-3.3.1-4] PUBLISH QoS 3 is malformed", () => checkQos3(v));

  it("[MQTT-3.3.2-1] the Topic Name is the first variable-header field and a UTF-8 string", () => checkTopicNameFirstUtf8(v));

  it("[MQTT-3.3.2-2] a PUBLISH Topic Name has no wildcard", () => checkTopicNoWildcards(v));

  it("[MQTT-3.3.2-13] the Response Topic is a UTF-8 string", () => {
    const p = publish({ properties: { responseTopic: "r/\u00FC" } });
    expect(enc(p, v)).toBe(fr("30", `00 01 74 ${pl(v, "08 00 04 72 2f c3 bc")}`));
    expect(dec(enc(p, v), v)).toStrictEqual(p);
    decodeFails(fr("30", `00 01 74 ${pl(v, `08 ${rawS("72 ff")}`)}`), v, ErrorCode.Utf8Invalid, MALFORMED);
    encodeFails(publish({ properties: { responseTopic: "r/\uD800" } }), v, ErrorCode.Utf8Invalid);
  });

  it("[MQTT-3.3.2-14] the Response Topic has no wildcard", () => {
    for (const t of ["r/#", "+", "r/+/x"]) {
      decodeFails(fr("30", `00 01 74 ${pl(v, `08 ${s(t)}`)}`), v, ErrorCode.TopicInvalid, PROTOCOL_ERROR);
      encodeFails(publish({ properties: { responseTopic: t } }), v, ErrorCode.TopicInvalid);
      encodeFails(connect(v, { will: { topic: "w", payload: E, qos: 0, retain: false, properties: { responseTopic: t } } }), v, ErrorCode.TopicInvalid);
    }
  });

  it("[MQTT-3.3.2-19] the Content Type is a UTF-8 string", () => {
    const p = publish({ properties: { contentType: "text/\u00E9" } });
    expect(enc(p, v)).toBe(fr("30", `00 01 74 ${pl(v, "03 00 07 74 65 78 74 2f c3 a9")}`));
    expect(dec(enc(p, v), v)).toStrictEqual(p);
    decodeFails(fr("30", `00 01 74 ${pl(v, `03 ${rawS("e0 80 80")}`)}`), v, ErrorCode.Utf8Invalid, MALFORMED);
    encodeFails(publish({ properties: { contentType: "\uDBFF" } }), v, ErrorCode.Utf8Invalid);
  });

  it("[MQTT-3.6.1-1] PUBREL fixed-header flags are 0010", () => {
    checkPubrelFlags(v);
    expect(enc({ type: "pubrel", packetId: 1, reasonCode: 0x92 }, v)).toBe("62 03 00 01 92");
  });

  it("[MQTT-3.8.1-1] SUBSCRIBE fixed-header flags are 0010", () => checkSubscribeFlags(v));

  it("[MQTT-3.8.3-1] each SUBSCRIBE Topic Filter is a UTF-8 string", () => checkFilterUtf8(v, "subscribe"));

  it("[MQTT-3.8.3-2] a SUBSCRIBE carries at least one Topic Filter with its options", () => checkSubscribeNotEmpty(v));

  it("[MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error", () => {
    decodeFails(subscribeFrame(v, s("$share/g/t"), "04"), v, ErrorCode.SubscriptionOptions, PROTOCOL_ERROR);
    decodeFails(subscribeFrame(v, s("$share/g/#"), "3e"), v, ErrorCode.SubscriptionOptions);
    encodeFails(subscribe(["$share/g/t"], v, { noLocal: true }), v, ErrorCode.SubscriptionOptions);
    // Without No Local the shared subscription is fine; No Local on a plain filter too.
    expect(dec(enc(subscribe(["$share/g/t"], v), v), v)).toStrictEqual(subscribe(["$share/g/t"], v));
    expect(dec(enc(subscribe(["t"], v, { noLocal: true }), v), v)).toStrictEqual(subscribe(["t"], v, { noLocal: true }));
  });

  it("[MQTT-3.8.3-5] Subscription Options reserved bits 6-7 are sent as 0 and rejected as malformed", () => {
    for (const qos of [0, 1, 2] as const) {
      for (const noLocal of [false, true]) {
        for (const retainAsPublished of [false, true]) {
          for (const retainHandling of [0, 1, 2] as const) {
            const out = encodePacket(
              { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "t", qos, noLocal, retainAsPublished, retainHandling }] },
              v,
            );
            const o = out[out.length - 1]!;
            expect(o & 0xc0).toBe(0);
            expect(o).toBe(qos | (noLocal ? 4 : 0) | (retainAsPublished ? 8 : 0) | (retainHandling << 4));
          }
        }
      }
    }
    for (const o of ["40", "80", "c0", "41", "ae"]) decodeFails(subscribeFrame(v, s("t"), o), v, ErrorCode.SubscriptionOptions, MALFORMED);
  });

  it("[MQTT-3.8.4-2] a SUBACK carries the SUBSCRIBE's Packet Identifier to the caller", () => {
    const s1 = encodePacket({ type: "subscribe", packetId: 0x1234, subscriptions: [{ topicFilter: "t", qos: 1 }] }, v);
    expect(hexOf(s1.subarray(2, 4))).toBe("12 34");
    expect(dec(fr("90", "12 34 00 01"), v)).toStrictEqual({ type: "suback", packetId: 0x1234, reasonCodes: [1] });
    decodeFails(fr("90", "00 00 00 01"), v, ErrorCode.PacketIdInvalid);
    // Matching it to the pending SUBSCRIBE is the engine's part.
  });

  it("[MQTT-3.8.4-6] SUBACK reason codes decode one per byte, in order (count check: engine)", () => checkSubackCodesInOrder(v));

  it("[MQTT-3.8.4-7] each SUBACK reason code is a granted QoS or a failure code", () => {
    const valid = reasonCodesFor("suback");
    expect(valid).toEqual([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]);
    for (let c = 0; c < 256; c++) {
      const frame = fr("90", `00 01 00 ${hx(c)}`);
      if (valid.includes(c)) {
        expect(dec(frame, v)).toMatchObject({ reasonCodes: [c] });
        expect(enc({ type: "suback", packetId: 1, reasonCodes: [c] }, v)).toBe(frame);
      } else {
        decodeFails(frame, v, ErrorCode.ReasonCodeInvalid, MALFORMED);
        encodeFails({ type: "suback", packetId: 1, reasonCodes: [c] }, v, ErrorCode.ReasonCodeInvalid);
      }
    }
  });

  it("[MQTT-3.9.3-1] SUBACK reason codes keep the SUBSCRIBE filter order", () => {
    const codes = [0x01, 0x9e, 0x00, 0x02];
    expect(dec(fr("90", `00 01 00 ${codes.map(hx).join(" ")}`), v)).toMatchObject({ reasonCodes: codes });
    expect(enc({ type: "suback", packetId: 1, reasonCodes: codes }, v).endsWith(codes.map(hx).join(" "))).toBe(true);
  });

  it("[MQTT-3.10.1-1] UNSUBSCRIBE fixed-header flags are 0010", () => checkUnsubscribeFlags(v));

  it("[MQTT-3.10.3-1] each UNSUBSCRIBE Topic Filter is a UTF-8 string", () => checkFilterUtf8(v, "unsubscribe"));

  it("[MQTT-3.10.3-2] an UNSUBSCRIBE carries at least one Topic Filter", () => checkUnsubscribeNotEmpty(v));

  it("[MQTT-3.10.4-5] an UNSUBACK carries the UNSUBSCRIBE's Packet Identifier to the caller", () => {
    const u = encodePacket({ type: "unsubscribe", packetId: 0xabcd, topicFilters: ["t"] }, v);
    expect(hexOf(u.subarray(2, 4))).toBe("ab cd");
    expect(dec(fr("b0", "ab cd 00 00"), v)).toStrictEqual({ type: "unsuback", packetId: 0xabcd, reasonCodes: [0] });
    decodeFails(fr("b0", "00 00 00 00"), v, ErrorCode.PacketIdInvalid);
    // Matching it to the pending UNSUBSCRIBE is the engine's part.
  });

  it("[MQTT-3.11.3-1] UNSUBACK reason codes keep the UNSUBSCRIBE filter order", () => {
    const codes = [0x11, 0x00, 0x87, 0x8f, 0x91, 0x80, 0x83];
    const frame = fr("b0", `00 05 00 ${codes.map(hx).join(" ")}`);
    expect(dec(frame, v)).toStrictEqual({ type: "unsuback", packetId: 5, reasonCodes: codes });
    expect(enc({ type: "unsuback", packetId: 5, reasonCodes: codes }, v)).toBe(frame);
  });

  it("[MQTT-3.15.1-1] AUTH fixed-header flags are all 0", () => {
    for (let f = 1; f < 16; f++) decodeFails(`${hx(0xf0 | f)} 00`, v, ErrorCode.FixedHeaderFlags, MALFORMED);
    expect(encodePacket({ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: "m" } }, v)[0]).toBe(0xf0);
    expect(dec("f0 00", v)).toStrictEqual({ type: "auth", reasonCode: 0 });
  });

  it("[MQTT-4.7.0-1] wildcards may appear in Topic Filters, never in Topic Names", () => checkWildcardsOnlyInFilters(v));

  it("[MQTT-4.7.1-1] '#' stands alone or after '/', and is the last character", () => checkTopicFilterWildcards(v, "#"));

  it("[MQTT-4.7.1-2] '+' occupies a whole level", () => checkTopicFilterWildcards(v, "+"));

  it("[MQTT-4.7.3-1] Topic Names and Topic Filters are at least one character long", () => {
    checkAtLeastOneChar(v);
    // The topic alias case is the one exception (3.3.2.3.4).
    expect(dec(enc(publish({ topic: "", properties: { topicAlias: 1 } }), v), v)).toMatchObject({ topic: "" });
  });

  it("[MQTT-4.7.3-2] Topic Names and Topic Filters never contain U+0000", () => checkNoNullInTopics(v));

  it("[MQTT-4.7.3-3] Topic Names and Topic Filters encode to at most 65,535 bytes", () => checkMaxLength(v));

  it("[MQTT-4.8.2-1] a shared subscription is \"$share/\" and a ShareName of one or more characters", () => {
    for (const f of ["$share//t", "$share/", "$share//"]) {
      expect(isValidTopicFilter(f), f).toBe(false);
      decodeFails(subscribeFrame(v, s(f)), v, ErrorCode.TopicFilterInvalid, PROTOCOL_ERROR);
      encodeFails(subscribe([f], v), v, ErrorCode.TopicFilterInvalid);
    }
    for (const f of ["$share/g/t", "$share/group-1/a/+/#", "$share/\u00FC/#"]) {
      expect(isValidTopicFilter(f), f).toBe(true);
      expect(dec(enc(subscribe([f], v), v), v)).toStrictEqual(subscribe([f], v));
    }
  });

  it("[MQTT-4.8.2-2] the ShareName has no '/', '+' or '#' and is followed by '/' and a Topic Filter", () => {
    for (const f of ["$share/g", "$share/g/", "$share/+/t", "$share/#/t", "$share/a+b/t", "$share/g#/t", "$share/g/a#", "$share/g/a/#/b"]) {
      expect(isValidTopicFilter(f), f).toBe(false);
      decodeFails(subscribeFrame(v, s(f)), v, ErrorCode.TopicFilterInvalid, PROTOCOL_ERROR);
      decodeFails(unsubscribeFrame(v, s(f)), v, ErrorCode.TopicFilterInvalid, PROTOCOL_ERROR);
      encodeFails(subscribe([f], v), v, ErrorCode.TopicFilterInvalid);
      encodeFails({ type: "unsubscribe", packetId: 1, topicFilters: [f] }, v, ErrorCode.TopicFilterInvalid);
    }
    // '/' ends the ShareName: "$share/g/h/t" is share "g", filter "h/t".
    expect(isValidTopicFilter("$share/g/h/t")).toBe(true);
  });
});

// ───────────────────────────── MQTT 3.1.1 ─────────────────────────────

describe("MQTT 3.1.1", () => {
  const v = 4;

  it("[MQTT-1.5.3-1] strings are well-formed UTF-8 without surrogates; ill-formed input is refused", () => checkUtf8WellFormed(v));

  it("[MQTT-1.5.3-2] strings never contain U+0000; a received one is refused", () => checkUtf8NoNull(v));

  it("[MQTT-1.5.3-3] EF BB BF is kept as U+FEFF, never stripped", () => checkBom(v));

  it("[MQTT-2.2.2-1] reserved fixed-header flags carry exactly the table's values", () => checkReservedFlags(v));

  it("[MQTT-2.3.1-1] SUBSCRIBE, UNSUBSCRIBE and QoS>0 PUBLISH carry a non-zero Packet Identifier", () => {
    decodeFails(fr("32", "00 01 74 00 00"), v, ErrorCode.PacketIdInvalid, PROTOCOL_ERROR);
    decodeFails(fr("34", "00 01 74 00 00"), v, ErrorCode.PacketIdInvalid);
    decodeFails(fr("82", "00 00 00 01 74 00"), v, ErrorCode.PacketIdInvalid);
    decodeFails(fr("a2", "00 00 00 01 74"), v, ErrorCode.PacketIdInvalid);
    for (const id of [0, undefined, 65_536, -1, 1.5]) {
      encodeFails(publish({ qos: 1, packetId: id as never }), v, ErrorCode.PacketIdInvalid);
      encodeFails(publish({ qos: 2, packetId: id as never }), v, ErrorCode.PacketIdInvalid);
      encodeFails({ type: "subscribe", packetId: id, subscriptions: [{ topicFilter: "t", qos: 0 }] }, v, ErrorCode.PacketIdInvalid);
      encodeFails({ type: "unsubscribe", packetId: id, topicFilters: ["t"] }, v, ErrorCode.PacketIdInvalid);
    }
    expect(enc(publish({ qos: 1, packetId: 1 }), v)).toBe("32 05 00 01 74 00 01");
    expect(enc(publish({ qos: 2, packetId: 65_535 }), v)).toBe("34 05 00 01 74 ff ff");
  });

  it("[MQTT-2.3.1-5] a QoS 0 PUBLISH has no Packet Identifier", () => checkQos0NoPacketId(v));

  it("[MQTT-2.3.1-7] SUBACK and UNSUBACK carry the request's Packet Identifier to the caller", () => checkSubackUnsubackPacketId(v));

  it("[MQTT-3.1.2-3] the CONNECT reserved flag is sent as 0 and refused when 1", () => checkConnectReservedBit(v));

  it("[MQTT-3.1.2-9] Will Flag 1 brings the Will Topic and Will Message fields", () => checkWillFieldsPresent(v));

  it("[MQTT-3.1.2-11] Will Flag 0: Will QoS and Will Retain 0, no Will Topic or Will Message", () => {
    checkNoWillQos(v);
    checkNoWillRetain(v);
    // No will fields: with the flag 0, will topic and message bytes are left over.
    decodeFails(connectFrame(v, 0x02, `${s("c")} ${s("w")} 00 00`), v, ErrorCode.LengthMismatch);
    expect(enc(connect(v), v)).toBe(connectFrame(v, 0x02, s("c")));
  });

  it("[MQTT-3.1.2-13] Will Flag 0 requires the Will QoS bits to be 0", () => checkNoWillQos(v));

  it("[MQTT-3.1.2-14] with Will Flag 1 the Will QoS is 0, 1 or 2, never 3", () => checkWillQos3(v));

  it("[MQTT-3.1.2-15] Will Flag 0 requires Will Retain 0", () => checkNoWillRetain(v));

  it("[MQTT-3.1.2-18] User Name Flag 0: no user name in the payload", () => checkUsernameFlag(v, false));

  it("[MQTT-3.1.2-19] User Name Flag 1: a user name in the payload", () => checkUsernameFlag(v, true));

  it("[MQTT-3.1.2-20] Password Flag 0: no password in the payload", () => checkPasswordFlag(v, false));

  it("[MQTT-3.1.2-21] Password Flag 1: a password in the payload", () => checkPasswordFlag(v, true));

  it("[MQTT-3.1.2-22] the Password Flag may be 1 only with the User Name Flag 1", () => {
    decodeFails(connectFrame(v, 0x42, `${s("c")} 00 01 70`), v, ErrorCode.FlagsInvalid, MALFORMED);
    encodeFails(connect(v, { password: bytesOf("70") }), v, ErrorCode.FlagsInvalid);
    // Same rule in 3.1.
    decodeFails(connectFrame(3, 0x42, `${s("c")} 00 01 70`), 3, ErrorCode.FlagsInvalid);
    encodeFails(connect(3, { password: bytesOf("70") }), 3, ErrorCode.FlagsInvalid);
    expect(dec(enc(connect(v, { username: "u", password: bytesOf("70") }), v), v)).toMatchObject({ username: "u" });
  });

  it("[MQTT-3.1.3-1] CONNECT payload order: Client Identifier, Will Topic, Will Message, User Name, Password", () => {
    checkPayloadOrder(v);
    checkPayloadOrder(3);
  });

  it("[MQTT-3.1.3-3] the ClientId is always present and first in the payload", () => checkClientIdFirst(v));

  it("[MQTT-3.1.3-4] the ClientId is a UTF-8 string", () => checkConnectStringUtf8(v, "clientId"));

  it("[MQTT-3.1.3-10] the Will Topic is a UTF-8 string", () => checkConnectStringUtf8(v, "willTopic"));

  it("[MQTT-3.1.3-11] the User Name is a UTF-8 string", () => checkConnectStringUtf8(v, "username"));

  it("[MQTT-3.3.1-2] DUP is 0 on every QoS 0 PUBLISH", () => checkDup0OnQos0(v));

  it("[MQTT-3.3.1-4] PUBLISH never has QoS 3; a received one is refused", () => checkQos3(v));

  it("[MQTT-3.3.2-1] the Topic Name is the first variable-header field and a UTF-8 string", () => checkTopicNameFirstUtf8(v));

  it("[MQTT-3.3.2-2] a PUBLISH Topic Name has no wildcard", () => checkTopicNoWildcards(v));

  it("[MQTT-3.6.1-1] PUBREL fixed-header flags are 0010", () => checkPubrelFlags(v));

  it("[MQTT-3.8.1-1] SUBSCRIBE fixed-header flags are 0010", () => checkSubscribeFlags(v));

  it("[MQTT-3.8.3-1] each SUBSCRIBE Topic Filter is a UTF-8 string", () => checkFilterUtf8(v, "subscribe"));

  it("[MQTT-3.8.3-3] a SUBSCRIBE holds at least one Topic Filter/QoS pair", () => checkSubscribeNotEmpty(v));

  it("[MQTT-3-8.3-4] the requested QoS byte keeps bits 7-2 at 0 and QoS in 0..2", () => {
    for (let o = 4; o < 256; o += 4) decodeFails(subscribeFrame(v, s("t"), hx(o)), v, ErrorCode.SubscriptionOptions, MALFORMED);
    decodeFails(subscribeFrame(v, s("t"), "03"), v, ErrorCode.QosInvalid, MALFORMED);
    encodeFails(subscribe(["t"], v, { qos: 3 }), v, ErrorCode.QosInvalid);
    encodeFails(subscribe(["t"], v, { noLocal: true }), v, ErrorCode.VersionMismatch);
    encodeFails(subscribe(["t"], v, { retainAsPublished: true }), v, ErrorCode.VersionMismatch);
    encodeFails(subscribe(["t"], v, { retainHandling: 2 }), v, ErrorCode.VersionMismatch);
    for (const qos of [0, 1, 2] as const) {
      expect(enc({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "t", qos }] }, v)).toBe(subscribeFrame(v, s("t"), hx(qos)));
    }
  });

  it("[MQTT-3.8.4-2] a SUBACK carries the SUBSCRIBE's Packet Identifier to the caller", () => {
    const s1 = encodePacket({ type: "subscribe", packetId: 0x4321, subscriptions: [{ topicFilter: "t", qos: 1 }] }, v);
    expect(hexOf(s1.subarray(2, 4))).toBe("43 21");
    expect(dec("90 03 43 21 01", v)).toStrictEqual({ type: "suback", packetId: 0x4321, reasonCodes: [1] });
    decodeFails("90 03 00 00 01", v, ErrorCode.PacketIdInvalid);
  });

  it("[MQTT-3.8.4-5] one SUBACK return code per filter, decoded one per byte (count check: engine)", () => checkSubackCodesInOrder(v));

  it("[MQTT-3.9.3-1] SUBACK return codes keep the SUBSCRIBE filter order", () => {
    expect(dec("90 06 00 01 02 80 00 01", v)).toMatchObject({ reasonCodes: [2, 0x80, 0, 1] });
    expect(enc({ type: "suback", packetId: 1, reasonCodes: [2, 0x80, 0, 1] }, v)).toBe("90 06 00 01 02 80 00 01");
  });

  it("[MQTT-3.9.3-2] SUBACK return codes are only 0x00, 0x01, 0x02 or 0x80", () => {
    for (let c = 0; c < 256; c++) {
      const frame = `90 03 00 01 ${hx(c)}`;
      if ([0, 1, 2, 0x80].includes(c)) {
        expect(dec(frame, v)).toMatchObject({ reasonCodes: [c] });
        expect(enc({ type: "suback", packetId: 1, reasonCodes: [c] }, v)).toBe(frame);
      } else {
        decodeFails(frame, v, ErrorCode.ReasonCodeInvalid, MALFORMED);
        encodeFails({ type: "suback", packetId: 1, reasonCodes: [c] }, v, ErrorCode.ReasonCodeInvalid);
      }
    }
  });

  it("[MQTT-3.10.1-1] UNSUBSCRIBE fixed-header flags are 0010", () => checkUnsubscribeFlags(v));

  it("[MQTT-3.10.3-1] UNSUBSCRIBE Topic Filters are UTF-8 strings back to back", () => {
    checkFilterUtf8(v, "unsubscribe");
    const p: Packet = { type: "unsubscribe", packetId: 2, topicFilters: ["a", "b/+", "#"] };
    expect(enc(p, v)).toBe(fr("a2", `00 02 ${s("a")} ${s("b/+")} ${s("#")}`));
    expect(dec(enc(p, v), v)).toStrictEqual(p);
  });

  it("[MQTT-3.10.3-2] an UNSUBSCRIBE holds at least one Topic Filter", () => checkUnsubscribeNotEmpty(v));

  it("[MQTT-3.10.4-4] an UNSUBACK carries the UNSUBSCRIBE's Packet Identifier to the caller", () => {
    const u = encodePacket({ type: "unsubscribe", packetId: 0x0102, topicFilters: ["t"] }, v);
    expect(hexOf(u.subarray(2, 4))).toBe("01 02");
    expect(dec("b0 02 01 02", v)).toStrictEqual({ type: "unsuback", packetId: 0x0102, reasonCodes: [] });
    decodeFails("b0 02 00 00", v, ErrorCode.PacketIdInvalid);
  });

  it("[MQTT-4.7.1-1] wildcards may appear in Topic Filters, never in Topic Names", () => checkWildcardsOnlyInFilters(v));

  it("[MQTT-4.7.1-2] '#' stands alone or after '/', and is the last character", () => checkTopicFilterWildcards(v, "#"));

  it("[MQTT-4.7.1-3] '+' occupies a whole level", () => checkTopicFilterWildcards(v, "+"));

  it("[MQTT-4.7.3-1] Topic Names and Topic Filters are at least one character long", () => checkAtLeastOneChar(v));

  it("[MQTT-4.7.3-2] Topic Names and Topic Filters never contain U+0000", () => checkNoNullInTopics(v));

  it("[MQTT-4.7.3-3] Topic Names and Topic Filters encode to at most 65,535 bytes", () => checkMaxLength(v));
});

describe("streaming decoder agrees with decodePacket on the conformance frames", () => {
  it("decodes a v5 SUBSCRIBE with every option split byte by byte", () => {
    const p = subscribe(["$share/g/a/+"], 5, { qos: 2, retainAsPublished: true, retainHandling: 2 });
    const bytes = encodePacket(p, 5);
    const d = new PacketDecoder({ protocolVersion: 5 });
    for (const b of bytes) d.push(Uint8Array.of(b));
    expect(d.next()).toStrictEqual(p);
  });
});
