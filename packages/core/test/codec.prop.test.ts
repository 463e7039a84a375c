/**
 * Property-based tests of the codec (fast-check), for MQTT 3.1, 3.1.1 and 5.0.
 *
 * A failure prints the seed, the counterexample path and a "Replay:" line. Replay
 * it (a path belongs to one property, so select its test with -t) with
 *   FC_SEED=<seed> FC_PATH=<path> pnpm exec vitest run --config ../../vitest.config.ts test/codec.prop.test.ts -t "<test name>"
 * FC_SEED alone reruns every property from that seed; FC_NUM_RUNS=<n> overrides
 * every property's number of runs (e.g. FC_NUM_RUNS=20000 for a soak).
 */
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodePacket, encodePacket, isPropertyAllowed, MQTT_MAX_PACKET_SIZE, PacketDecoder, PROPERTY_TABLE, type Packet, type PacketType, type PropertyContext } from "../src/codec/index.js";
import { ErrorCode, isValidTopicFilter, isValidTopicName, LocalProtocolError, RemoteProtocolError, type Properties, type ProtocolVersion } from "../src/index.js";
import { check } from "./helpers/fc.js";
import {
  arbChunker,
  arbLongBytes,
  arbLongMqttString,
  arbMqttString,
  arbPacket,
  arbPacketOfType,
  arbPacketStream,
  arbProperties,
  arbTopicFilter,
  arbTopicName,
  chunk,
  concatBytes,
  FIELD_MAX_BYTES,
  packetTypesOf,
  splitAt,
  type Chunking,
} from "@sansmqtt/core/testing";

// ---------------------------------------------------------------------------
// Running properties


// Defaults keep this file under ~20 s on a 2-core machine.
const RUNS = {
  roundTripPerType: 200,
  large: 30,
  boundaries: 12,
  mirror: 500,
  stream: 250,
  junkBytes: 1000,
  mutations: 1500,
  encodeJunk: 1000,
  sticky: 250,
  helpers: 300,
  long: 40,
  longHostile: 150,
  longMutations: 60,
  longEncodeJunk: 150,
};

/**
 * Error messages quote at most a short prefix of any value (show() in
 * codec/bytes.ts: 40 characters), never a whole hostile 65,535-byte field.
 */
const MAX_MESSAGE = 300;

const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];

// ---------------------------------------------------------------------------
// Helpers

/** The codec's own error codes (ErrorCode also holds the engine's). */
const CODEC_CODES: ReadonlySet<string> = new Set([
  ErrorCode.PacketTypeInvalid,
  ErrorCode.FixedHeaderFlags,
  ErrorCode.VarintMalformed,
  ErrorCode.PacketTooLarge,
  ErrorCode.LengthMismatch,
  ErrorCode.Utf8Invalid,
  ErrorCode.Utf8Null,
  ErrorCode.QosInvalid,
  ErrorCode.TopicInvalid,
  ErrorCode.TopicFilterInvalid,
  ErrorCode.PacketIdInvalid,
  ErrorCode.PropertyUnknown,
  ErrorCode.PropertyNotAllowed,
  ErrorCode.PropertyDuplicate,
  ErrorCode.PropertyValue,
  ErrorCode.ReasonCodeInvalid,
  ErrorCode.ProtocolInvalid,
  ErrorCode.FlagsInvalid,
  ErrorCode.Empty,
  ErrorCode.SubscriptionOptions,
  ErrorCode.ValueRange,
  ErrorCode.VersionMismatch,
  // Authentication Data without an Authentication Method, an AUTH without its method (MQTT 5.0 3.1.2.11.10, 3.15.2.2.2).
  ErrorCode.AuthInvalid,
  // Topic Alias 0 [MQTT-3.3.2-8].
  ErrorCode.TopicAliasInvalid,
]);
/** Codes the first byte alone can cause (checked before the Remaining Length). */
const FIRST_BYTE_CODES: ReadonlySet<string> = new Set([ErrorCode.PacketTypeInvalid, ErrorCode.FixedHeaderFlags, ErrorCode.QosInvalid]);
/** Reason codes a decode error carries: for a DISCONNECT, or (0x84, 0x85) for the CONNACK refusing a CONNECT. */
const DISCONNECT_REASONS: ReadonlySet<number | undefined> = new Set([0x81, 0x82, 0x84, 0x85, 0x94, 0x95]);

/** A decode error: RemoteProtocolError, a codec code, a reason code a DISCONNECT can carry. */
function expectRemoteError(e: unknown): asserts e is RemoteProtocolError {
  if (!(e instanceof RemoteProtocolError)) throw new Error(`expected a RemoteProtocolError, got ${String(e).slice(0, 200)}`, { cause: e });
  expect(CODEC_CODES.has(e.code), `code ${e.code}`).toBe(true);
  expect(DISCONNECT_REASONS.has(e.reasonCode), `reason code ${String(e.reasonCode)} for ${e.code}`).toBe(true);
  expect(e.message.length, `message of ${e.message.length} characters: ${e.message.slice(0, 100)}`).toBeLessThan(MAX_MESSAGE);
}

/** An encode error: LocalProtocolError with a codec code. */
function expectLocalError(e: unknown): asserts e is LocalProtocolError {
  if (!(e instanceof LocalProtocolError)) throw new Error(`expected a LocalProtocolError, got ${String(e).slice(0, 200)}`, { cause: e });
  expect(CODEC_CODES.has(e.code), `code ${e.code}`).toBe(true);
  expect(e.message.length, `message of ${e.message.length} characters: ${e.message.slice(0, 100)}`).toBeLessThan(MAX_MESSAGE);
}

function encodeAll(packets: readonly Packet[], version: ProtocolVersion): Uint8Array {
  return concatBytes(packets.map((p) => encodePacket(p, version)));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Deep equality as toStrictEqual sees it for packets (same prototypes, same own
 * keys, absent is not undefined), but quick on large Uint8Arrays.
 */
function strictEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Uint8Array) return sameBytes(a, b as Uint8Array);
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => strictEqual(x, bb[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return kb.every((k) => Object.hasOwn(ra, k) && strictEqual(ra[k], rb[k]));
}

/** expect(actual).toStrictEqual(expected), without its cost unless they differ (then for its diff). */
function expectEqual(actual: unknown, expected: unknown): void {
  if (strictEqual(actual, expected)) return;
  expect(actual).toStrictEqual(expected);
  throw new Error("values differ (strictEqual) though toStrictEqual finds them equal");
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

type Header = { kind: "incomplete" } | { kind: "malformed" } | { kind: "ok"; total: number };

/** Reference parse of a fixed header's Remaining Length in bytes[start, end): the whole packet's size. */
function parseHeader(bytes: Uint8Array, start: number, end: number): Header {
  let remaining = 0;
  let mul = 1;
  for (let i = 1; i <= 4; i++) {
    if (start + i >= end) return { kind: "incomplete" };
    const b = bytes[start + i]!;
    remaining += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return b === 0 && i > 1 ? { kind: "malformed" } : { kind: "ok", total: 1 + i + remaining };
    mul *= 128;
  }
  return { kind: "malformed" };
}

interface DriveResult {
  packets: Packet[];
  error: RemoteProtocolError | undefined;
}

/**
 * Feeds `chunks` to a PacketDecoder, draining it after each push, and checks
 * every step against a reference parse of the fixed headers: a packet has
 * exactly the size its header declares and at most the maximum; "need more"
 * only when the header or the body is incomplete; ERR_PACKET_TOO_LARGE exactly
 * when a complete header declares more than the maximum; bufferedBytes is what
 * was pushed minus what was consumed; only RemoteProtocolError is thrown, and
 * then again on every later call.
 */
function drive(chunks: readonly Uint8Array[], version: ProtocolVersion, maximumPacketSize?: number): DriveResult {
  const d = new PacketDecoder(maximumPacketSize === undefined ? { protocolVersion: version } : { protocolVersion: version, maximumPacketSize });
  const max = maximumPacketSize ?? MQTT_MAX_PACKET_SIZE;
  const all = concatBytes(chunks);
  let pushed = 0;
  let consumed = 0;
  const packets: Packet[] = [];
  for (const c of chunks) {
    d.push(c);
    pushed += c.length;
    expect(d.bufferedBytes).toBe(pushed - consumed);
    // Every packet consumes at least 2 bytes, so this loop ends; the guard turns a hang into a failure.
    for (let guard = 0; ; guard++) {
      if (guard > pushed) throw new Error("PacketDecoder.next() keeps returning packets without consuming bytes");
      const header = parseHeader(all, consumed, pushed);
      const before = d.bufferedBytes;
      let p: Packet | undefined;
      try {
        p = d.next();
      } catch (e) {
        expectRemoteError(e);
        if (e.code === ErrorCode.PacketTooLarge) {
          expect(header.kind === "ok" && header.total > max, `too large, header ${JSON.stringify(header)}`).toBe(true);
        } else if (header.kind === "ok" && header.total > max) {
          expect(FIRST_BYTE_CODES.has(e.code), `${e.code} instead of ERR_PACKET_TOO_LARGE`).toBe(true);
        } else if (header.kind === "malformed") {
          expect(FIRST_BYTE_CODES.has(e.code) || e.code === ErrorCode.VarintMalformed, e.code).toBe(true);
        }
        expectSticky(d, e);
        return { packets, error: e };
      }
      if (p === undefined) {
        const waiting = header.kind === "incomplete" || (header.kind === "ok" && header.total <= max && header.total > pushed - consumed);
        expect(waiting, `needs more bytes? header ${JSON.stringify(header)}, ${pushed - consumed} buffered`).toBe(true);
        expect(d.bufferedBytes).toBe(before);
        break;
      }
      const size = before - d.bufferedBytes;
      expect(header).toEqual({ kind: "ok", total: size });
      expect(size).toBeLessThanOrEqual(max);
      consumed += size;
      packets.push(p);
    }
  }
  expect(d.bufferedBytes).toBe(pushed - consumed);
  return { packets, error: undefined };
}

/** After an error the decoder is failed for good: the same error, whatever comes next. */
function expectSticky(d: PacketDecoder, e: unknown): void {
  expect(d.error).toBe(e);
  expect(() => d.next()).toThrow(e as Error);
  d.push(new Uint8Array([0xc0, 0x00])); // a PINGREQ would be valid on its own
  let again: unknown;
  try {
    d.next();
  } catch (x) {
    again = x;
  }
  expect(again).toBe(e);
}

// ---------------------------------------------------------------------------
// Arbitraries used only here

/** Byte strings mostly short (fast-check's default size) and now and then up to `maxLength`. */
function anyBytes(maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof({ weight: 3, arbitrary: fc.uint8Array({ maxLength }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength, size: "max" }) });
}

/** Frames with a valid first byte and a correct Remaining Length around random bodies: reaches the body decoders. */
function arbRandomFrames(version: ProtocolVersion): fc.Arbitrary<Uint8Array> {
  const firstBytes = [0x10, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3a, 0x3b, 0x3c, 0x3d, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xa2, 0xb0, 0xc0, 0xd0, 0xe0];
  if (version === 5) firstBytes.push(0xf0);
  const frame = fc
    .tuple(fc.constantFrom(...firstBytes), anyBytes(200))
    .map(([b0, body]) => concatBytes([new Uint8Array([b0, ...varintBytes(body.length)]), body]));
  return fc.array(frame, { minLength: 1, maxLength: 4 }).map(concatBytes);
}

/** Byte strings to feed the decoder: pure noise, valid packets then noise, random bodies in valid frames. */
function arbHostileBytes(version: ProtocolVersion): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    anyBytes(4096),
    fc
      .tuple(arbPacketStream(version, { maxPackets: 3, maxPayloadLength: 300 }), anyBytes(512))
      .map(([ps, junk]) => concatBytes([encodeAll(ps, version), junk])),
    arbRandomFrames(version),
  );
}

type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; value: number }
  | { op: "insert"; at: number; value: number }
  | { op: "delete"; at: number }
  | { op: "truncate"; at: number };

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("insert" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
);

function varintBytes(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

/**
 * Applies `mutations` to a whole frame, or (`reframe`) to its body only and then
 * rebuilds the Remaining Length, so that the body decoders, not the framing, meet them.
 */
function mutateFrame(frame: Uint8Array, mutations: readonly Mutation[], reframe: boolean): Uint8Array {
  if (!reframe) return mutate(frame, mutations);
  let h = 1;
  while ((frame[h]! & 0x80) !== 0) h++;
  const body = mutate(frame.subarray(h + 1), mutations);
  return concatBytes([new Uint8Array([frame[0]!, ...varintBytes(body.length)]), body]);
}

function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Array.from(bytes);
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.op) {
      case "flip":
        b[at] = b[at]! ^ (1 << m.bit);
        break;
      case "set":
        b[at] = m.value;
        break;
      case "insert":
        b.splice(m.at % (b.length + 1), 0, m.value);
        break;
      case "delete":
        b.splice(at, 1);
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
    }
  }
  return new Uint8Array(b);
}

const PACKET_FIELDS = [
  "type",
  "protocolVersion",
  "clean",
  "keepAlive",
  "clientId",
  "will",
  "username",
  "password",
  "properties",
  "sessionPresent",
  "reasonCode",
  "topic",
  "payload",
  "qos",
  "retain",
  "dup",
  "packetId",
  "subscriptions",
  "reasonCodes",
  "topicFilters",
] as const;
const PROPERTY_NAMES = PROPERTY_TABLE.map((s) => s.name);
const ALL_TYPES: PacketType[] = packetTypesOf(5);

/** Values that are wrong in many places: out of range, wrong type, invalid strings and topics. */
const arbWrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    -1,
    0,
    1,
    2,
    3,
    4,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    0xffff,
    0x10000,
    0xffff_ffff,
    0x1_0000_0000,
    268_435_455,
    268_435_456,
    "",
    "a",
    "a/+",
    "a/#/b",
    "#",
    "+",
    "a\u0000b",
    "\ud800",
    "a\udc00b",
    "\udbff\ud800",
    "\ufeff",
    "$share/g",
    "$share//a",
    "$share/g/",
    "$share/+/a",
    true,
    false,
    null,
    undefined,
    [],
    [0],
    [1, 2],
    [["a", "b"]],
    [["a"]],
    [["a", 1]],
    [null],
    {},
    { topicFilter: "a", qos: 0 },
    { topicFilter: "$share/g/a", qos: 0, noLocal: true },
    { topicFilter: "a", qos: 1, retainHandling: 3 },
    { reasonString: "x" },
    { topicAlias: 0 },
    { subscriptionIdentifiers: [1, 2] },
    { userProperties: [["a", "\ud800"]] },
    new Uint8Array(0),
    new Uint8Array(3),
    new Uint16Array(2),
  ),
  fc.anything({ maxDepth: 2, withTypedArray: true, withBigInt: true, withNullPrototype: true, withBoxedValues: true, withDate: true }),
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.integer({ min: -2, max: 0x1_0000_0001 }),
  fc.uint8Array({ maxLength: 8 }),
);

type Corruption =
  | { where: "packet"; field: string; value: unknown; remove: boolean }
  | { where: "properties"; field: string; value: unknown; remove: boolean }
  | { where: "will"; field: string; value: unknown; remove: boolean }
  | { where: "subscription"; index: number; field: string; value: unknown; remove: boolean };

const arbField = (names: readonly string[]) => fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...names) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) });
const arbCorruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ where: fc.constant("packet" as const), field: arbField(PACKET_FIELDS), value: arbWrongValue, remove: fc.boolean() }),
  fc.record({ where: fc.constant("properties" as const), field: arbField(PROPERTY_NAMES), value: arbWrongValue, remove: fc.boolean() }),
  fc.record({ where: fc.constant("will" as const), field: arbField(["topic", "payload", "qos", "retain", "properties"]), value: arbWrongValue, remove: fc.boolean() }),
  fc.record({
    where: fc.constant("subscription" as const),
    index: fc.nat({ max: 3 }),
    field: arbField(["topicFilter", "qos", "noLocal", "retainAsPublished", "retainHandling"]),
    value: arbWrongValue,
    remove: fc.boolean(),
  }),
);

function setOrRemove(o: Record<string, unknown>, field: string, value: unknown, remove: boolean): Record<string, unknown> {
  const copy = { ...o };
  if (remove) delete copy[field];
  else copy[field] = value;
  return copy;
}

/** A copy of `packet` with one field (at the top, in its properties, will or a subscription) replaced or removed. */
function corrupt(packet: Packet, c: Corruption): unknown {
  const p = { ...packet } as Record<string, unknown>;
  switch (c.where) {
    case "packet":
      return setOrRemove(p, c.field, c.value, c.remove);
    case "properties":
      p.properties = setOrRemove((p.properties ?? {}) as Record<string, unknown>, c.field, c.value, c.remove);
      return p;
    case "will":
      if (p.will === undefined) return setOrRemove(p, "will", c.value, c.remove);
      p.will = setOrRemove(p.will as Record<string, unknown>, c.field, c.value, c.remove);
      return p;
    case "subscription": {
      const subs = p.subscriptions;
      if (!Array.isArray(subs) || subs.length === 0) return setOrRemove(p, "subscriptions", c.value, c.remove);
      const copy = [...(subs as Record<string, unknown>[])];
      const i = c.index % copy.length;
      copy[i] = setOrRemove(copy[i]!, c.field, c.value, c.remove);
      p.subscriptions = copy;
      return p;
    }
  }
}

// ---------------------------------------------------------------------------
// Long fields: hostile bytes inside 65,535-byte strings, long junk for the encoder

/** The character a long string field is made of in the hostile-byte tests; no other field holds it. */
const MARK = "Q";

/**
 * Byte sequences put into a long string (replacing as many bytes, so the frame
 * stays well formed): U+0000, wildcards, a separator, bytes UTF-8 never has, an
 * overlong NUL, an encoded surrogate, a cut sequence, a BOM, a code point past
 * U+10FFFF.
 */
const HOSTILE_BYTES: readonly (readonly number[])[] = [
  [0x00],
  [0x23],
  [0x2b],
  [0x2f],
  [0xff],
  [0xc0, 0x80],
  [0xed, 0xa0, 0x80],
  [0xc3],
  [0xef, 0xbb, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
];

/** `frame` with `hostile` written over the run of `n` MARK bytes, at `where` (0..1) along it. */
function withHostileBytes(frame: Uint8Array, n: number, where: number, hostile: readonly number[]): Uint8Array {
  const mark = MARK.charCodeAt(0);
  let start = -1;
  for (let i = 0, run = 0; i < frame.length; i++) {
    run = frame[i] === mark ? run + 1 : 0;
    if (run === n) {
      start = i - n + 1;
      break;
    }
  }
  if (start < 0) throw new Error(`no run of ${n} ${MARK} in the frame`);
  const out = frame.slice();
  const at = start + Math.min(n - hostile.length, Math.floor(where * (n - hostile.length + 1)));
  out.set(hostile, at);
  return out;
}

interface StringSlot {
  name: string;
  packet: (s: string) => Packet;
  /** Bytes the slot adds around the string in the same field. */
  room?: number;
}

/** Every string field of `version`'s packets, as a packet carrying `s` there (and only short lowercase strings elsewhere). */
function longStringSlots(version: ProtocolVersion): StringSlot[] {
  const E = new Uint8Array([1, 2]);
  const conn = (o: object): Packet => ({ type: "connect", protocolVersion: version, clean: true, keepAlive: 10, clientId: "c", ...o }) as Packet;
  const sub = (f: string): Packet => ({
    type: "subscribe",
    packetId: 1,
    subscriptions: [version === 5 ? { topicFilter: f, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 } : { topicFilter: f, qos: 1 }],
  });
  const slots: StringSlot[] = [
    { name: "PUBLISH topic", packet: (s) => ({ type: "publish", topic: s, payload: E, qos: 1, retain: false, dup: false, packetId: 7 }) },
    { name: "will topic", packet: (s) => conn({ will: { topic: s, payload: E, qos: 0, retain: false } }) },
    { name: "user name", packet: (s) => conn({ username: s }) },
    { name: "SUBSCRIBE topic filter", packet: (s) => sub(s) },
    { name: "SUBSCRIBE topic filter ending in /#", packet: (s) => sub(`a/${s}/#`), room: 4 },
    { name: "UNSUBSCRIBE topic filter", packet: (s) => ({ type: "unsubscribe", packetId: 1, topicFilters: ["a", s] }) },
  ];
  if (version !== 3) slots.push({ name: "client identifier", packet: (s) => conn({ clientId: s }) });
  if (version !== 5) return slots;
  const withProps = (p: object, properties: Properties): Packet => ({ ...p, properties }) as Packet;
  const puback = { type: "puback", packetId: 1, reasonCode: 0x10 };
  const connack = { type: "connack", sessionPresent: false, reasonCode: 0 };
  const pub = { type: "publish", topic: "t", payload: E, qos: 0, retain: false, dup: false };
  const auth = { type: "auth", reasonCode: 0x18 };
  slots.push(
    { name: "PUBACK reason string", packet: (s) => withProps(puback, { reasonString: s }) },
    { name: "CONNACK reason string", packet: (s) => withProps(connack, { reasonString: s }) },
    { name: "SUBACK reason string", packet: (s) => withProps({ type: "suback", packetId: 1, reasonCodes: [0] }, { reasonString: s }) },
    { name: "UNSUBACK reason string", packet: (s) => withProps({ type: "unsuback", packetId: 1, reasonCodes: [0] }, { reasonString: s }) },
    { name: "DISCONNECT reason string", packet: (s) => withProps({ type: "disconnect", reasonCode: 0x80 }, { reasonString: s }) },
    { name: "AUTH reason string", packet: (s) => withProps(auth, { authenticationMethod: "m", reasonString: s }) },
    { name: "user property name", packet: (s) => withProps(pub, { userProperties: [["k", "v"], [s, "v"]] }) },
    { name: "user property value", packet: (s) => withProps(connack, { userProperties: [["k", s]] }) },
    { name: "assigned client identifier", packet: (s) => withProps(connack, { assignedClientIdentifier: s }) },
    { name: "response information", packet: (s) => withProps(connack, { responseInformation: s }) },
    { name: "CONNACK server reference", packet: (s) => withProps(connack, { serverReference: s }) },
    { name: "DISCONNECT server reference", packet: (s) => withProps({ type: "disconnect", reasonCode: 0x9c }, { serverReference: s }) },
    { name: "content type", packet: (s) => withProps(pub, { contentType: s }) },
    { name: "response topic", packet: (s) => withProps(pub, { responseTopic: s }) },
    { name: "will response topic", packet: (s) => conn({ will: { topic: "w", payload: E, qos: 0, retain: false, properties: { responseTopic: s } } }) },
    { name: "CONNACK authentication method", packet: (s) => withProps(connack, { authenticationMethod: s, authenticationData: E }) },
    { name: "AUTH authentication method", packet: (s) => withProps(auth, { authenticationMethod: s }) },
  );
  return slots;
}

/** A long string: over the 65,535-byte limit, long and valid, or long with a character no MQTT string may hold. */
const arbLongJunkString: fc.Arbitrary<string> = fc.oneof(
  arbLongMqttString({ minBytes: FIELD_MAX_BYTES + 1, maxBytes: FIELD_MAX_BYTES + 5000 }),
  arbLongMqttString({ minBytes: FIELD_MAX_BYTES - 5000 }),
  fc
    .tuple(arbLongMqttString({ minBytes: 1000 }), fc.constantFrom("\u0000", "\ud800", "\udc00", "#", "+", "a/#/b"), fc.double({ min: 0, max: 1, noNaN: true }))
    .map(([s, bad, at]) => {
      const i = Math.floor(at * s.length);
      return s.slice(0, i) + bad + s.slice(i);
    }),
);
/** Binary data over the limit, or at most at it. */
const arbLongJunkBinary: fc.Arbitrary<Uint8Array> = fc.oneof(arbLongBytes({ minBytes: FIELD_MAX_BYTES + 1, maxBytes: FIELD_MAX_BYTES + 5000 }), arbLongBytes());

const STRING_PROPERTIES = PROPERTY_TABLE.filter((s) => s.kind === "str").map((s) => s.name);
const BINARY_PROPERTIES = PROPERTY_TABLE.filter((s) => s.kind === "bin").map((s) => s.name);

/** A field of a valid packet (at the top, in its properties, will or a subscription) replaced by a long value of its type. */
const arbLongCorruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ where: fc.constant("packet" as const), field: fc.constantFrom("topic", "clientId", "username"), value: arbLongJunkString, remove: fc.constant(false) }),
  fc.record({ where: fc.constant("packet" as const), field: fc.constantFrom("password", "payload"), value: arbLongJunkBinary, remove: fc.constant(false) }),
  fc.record({ where: fc.constant("packet" as const), field: fc.constant("topicFilters"), value: arbLongJunkString.map((s) => ["a", s]), remove: fc.constant(false) }),
  fc.record({ where: fc.constant("properties" as const), field: fc.constantFrom(...STRING_PROPERTIES), value: arbLongJunkString, remove: fc.constant(false) }),
  fc.record({ where: fc.constant("properties" as const), field: fc.constantFrom(...BINARY_PROPERTIES), value: arbLongJunkBinary, remove: fc.constant(false) }),
  fc.record({
    where: fc.constant("properties" as const),
    field: fc.constant("userProperties"),
    value: fc.tuple(arbLongJunkString, fc.boolean()).map(([s, asName]) => (asName ? [[s, "v"]] : [["k", s]])),
    remove: fc.constant(false),
  }),
  fc.record({ where: fc.constant("will" as const), field: fc.constant("topic"), value: arbLongJunkString, remove: fc.constant(false) }),
  fc.record({ where: fc.constant("will" as const), field: fc.constant("payload"), value: arbLongJunkBinary, remove: fc.constant(false) }),
  fc.record({ where: fc.constant("subscription" as const), index: fc.nat({ max: 3 }), field: fc.constant("topicFilter"), value: arbLongJunkString, remove: fc.constant(false) }),
);

/** Packet-shaped junk: a known (or unknown) type and random fields of random values. */
const arbShapedJunk: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.oneof({ weight: 6, arbitrary: fc.constantFrom<unknown>(...ALL_TYPES) }, { weight: 1, arbitrary: arbWrongValue }),
    fc.dictionary(fc.constantFrom(...PACKET_FIELDS.filter((f) => f !== "type")), arbWrongValue, { maxKeys: 8, noNullPrototype: true }),
  )
  .map(([type, fields]) => ({ ...fields, type }));

/** encodePacket on anything: a LocalProtocolError, or bytes that decode. */
function expectEncodeJunk(packet: unknown, version: ProtocolVersion): void {
  let bytes: Uint8Array;
  try {
    bytes = encodePacket(packet as Packet, version);
  } catch (e) {
    expectLocalError(e);
    return;
  }
  let decoded: Packet;
  try {
    decoded = decodePacket(bytes, version);
  } catch (e) {
    throw new Error(`encodePacket accepted a packet whose bytes do not decode: ${hex(bytes)}`, { cause: e });
  }
  // What was accepted re-encodes to the same bytes.
  const again = encodePacket(decoded, version);
  expect(sameBytes(again, bytes), `${hex(again)} != ${hex(bytes)}`).toBe(true);
}

// ---------------------------------------------------------------------------
// Properties

describe.each(VERSIONS)("codec properties, MQTT level %i", (version) => {
  describe("a. round trip: decode(encode(p)) deep-equals p", () => {
    it.each(packetTypesOf(version))("%s", (type) => {
      check(
        fc.property(arbPacketOfType(type, version), (p) => {
          const bytes = encodePacket(p, version);
          expectEqual(decodePacket(bytes, version), p);
        }),
        RUNS.roundTripPerType,
      );
    });

    it("larger packets (payloads up to 64 KiB, long strings, many properties)", () => {
      // Strings past 4,096 bytes leave decodeUtf8's ASCII fast path; payloads past 16 KiB need a 3-byte Remaining Length.
      const big = { maxPayloadLength: 65_536, maxStringLength: 6000, maxBinaryLength: 5000, maxProperties: 30, maxUserProperties: 20, maxSubscriptions: 40 };
      check(
        fc.property(arbPacket(version, big), (p) => {
          expectEqual(decodePacket(encodePacket(p, version), version), p);
        }),
        RUNS.large,
      );
    });
  });

  it("a. Remaining Length at its 1/2/3/4-byte boundaries, in any chunking", () => {
    // PUBLISH QoS 0 to "t": 3 bytes of topic (+1 property length in v5) before the payload.
    const overhead = version === 5 ? 4 : 3;
    const remaining = [0x7f, 0x80, 0x3fff, 0x4000, 0x1f_ffff, 0x20_0000];
    check(
      fc.property(fc.constantFrom(...remaining), arbChunker({ maxCuts: 6 }), (n, chunking) => {
        const p: Packet = { type: "publish", topic: "t", payload: new Uint8Array(n - overhead).fill(0x61), qos: 0, retain: false, dup: false };
        const bytes = encodePacket(p, version);
        expect(bytes.length - n).toBe(1 + (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : 4));
        // Cut inside the fixed header too, not only byte by byte (too slow for 2 MiB).
        const c: Chunking = chunking.kind === "bytes" ? { kind: "cuts", cuts: [1, 2, 3, 4, 5] } : chunking;
        const { packets, error } = drive(chunk(bytes, c), version);
        expect(error).toBeUndefined();
        expectEqual(packets, [p]);
      }),
      RUNS.boundaries,
    );
  });

  it("b. mirror: encode(decode(encode(p))) is encode(p), byte for byte", () => {
    check(
      fc.property(arbPacket(version), (p) => {
        const bytes = encodePacket(p, version);
        const again = encodePacket(decodePacket(bytes, version), version);
        expect(sameBytes(again, bytes), `${hex(again)} != ${hex(bytes)}`).toBe(true);
      }),
      RUNS.mirror,
    );
  });

  it("c. a packet stream in any chunking decodes to the same packets, 0 bytes left", () => {
    check(
      fc.property(arbPacketStream(version), arbChunker(), (packets, chunking) => {
        const bytes = encodeAll(packets, version);
        const { packets: out, error } = drive(chunk(bytes, chunking), version);
        expect(error).toBeUndefined();
        expectEqual(out, packets);
      }),
      RUNS.stream,
    );
  });

  it("c. (maximum packet size) packets up to the maximum pass, the first larger one fails", () => {
    check(
      fc.property(arbPacketStream(version, { maxPayloadLength: 400 }), arbChunker(), fc.integer({ min: 2, max: 600 }), (packets, chunking, max) => {
        const frames = packets.map((p) => encodePacket(p, version));
        const firstTooLarge = frames.findIndex((f) => f.length > max);
        const { packets: out, error } = drive(chunk(concatBytes(frames), chunking), version, max);
        if (firstTooLarge < 0) {
          expect(error).toBeUndefined();
          expectEqual(out, packets);
        } else {
          expect(error?.code).toBe(ErrorCode.PacketTooLarge);
          expect(error?.reasonCode).toBe(0x95);
          expectEqual(out, packets.slice(0, firstTooLarge));
        }
      }),
      RUNS.stream,
    );
  });

  it("d. arbitrary bytes in any chunking: packets or RemoteProtocolError, never a hang or another error", () => {
    check(
      fc.property(arbHostileBytes(version), arbChunker(), fc.option(fc.integer({ min: 2, max: 512 }), { nil: undefined }), (bytes, chunking, max) => {
        const { packets } = drive(chunk(bytes, chunking), version, max);
        // Whatever decoded is a valid packet: it encodes again (a CONNECT sets the version of what follows).
        let v = version;
        for (const p of packets) {
          if (p.type === "connect") v = p.protocolVersion;
          expectEqual(decodePacket(encodePacket(p, v), v), p);
        }
      }),
      RUNS.junkBytes,
    );
  });

  it("e. mutated packets: decode to a packet that re-encodes, or a RemoteProtocolError", () => {
    check(
      fc.property(arbPacket(version, { maxPayloadLength: 64 }), fc.array(arbMutation, { minLength: 1, maxLength: 4 }), fc.boolean(), arbChunker(), (p, mutations, reframe, chunking) => {
        const bytes = mutateFrame(encodePacket(p, version), mutations, reframe);
        // The streaming decoder, in any chunking, agrees with decodePacket.
        const streamed = drive(chunk(bytes, chunking), version);
        let decoded: Packet;
        try {
          decoded = decodePacket(bytes, version);
        } catch (e) {
          expectRemoteError(e);
          if (streamed.packets.length === 0 && streamed.error !== undefined) {
            expect(streamed.error.code).toBe(e.code);
          } else {
            // Bytes missing (the stream waits) or left over (the stream goes on to the next packet).
            expect(e.code).toBe(ErrorCode.LengthMismatch);
          }
          return;
        }
        expect(streamed.error).toBeUndefined();
        expectEqual(streamed.packets, [decoded]);
        // The decoder accepts only what the encoder can produce: re-encode and decode again.
        const again = encodePacket(decoded, version);
        expectEqual(decodePacket(again, version), decoded);
      }),
      RUNS.mutations,
    );
  });

  describe("f. encode of junk: LocalProtocolError, or bytes that decode", () => {
    it("fc.anything()", () => {
      check(
        fc.property(fc.anything({ withTypedArray: true, withBigInt: true, withNullPrototype: true, withBoxedValues: true, withDate: true, withMap: true, withSet: true }), (junk) => {
          expectEncodeJunk(junk, version);
        }),
        RUNS.encodeJunk,
      );
    });

    it("packet-shaped objects with random fields", () => {
      check(
        fc.property(arbShapedJunk, (junk) => expectEncodeJunk(junk, version)),
        RUNS.encodeJunk,
      );
    });

    it("valid packets with one to three fields made wrong", () => {
      // Valid packets of every version: properties in a v3/v4 packet, v5 options on a v4 subscription, ...
      const anyVersionPacket = fc.oneof(arbPacket(version, { maxPayloadLength: 32 }), arbPacket(5, { maxPayloadLength: 32 }));
      check(
        fc.property(anyVersionPacket, fc.array(arbCorruption, { minLength: 1, maxLength: 3 }), (p, corruptions) => {
          let junk: unknown = p;
          for (const c of corruptions) junk = corrupt(junk as Packet, c);
          expectEncodeJunk(junk, version);
        }),
        RUNS.encodeJunk,
      );
    });
  });

  it("f. properties a packet may not carry: ERR_PROPERTY_NOT_ALLOWED (MQTT 5), ERR_VERSION (before)", () => {
    const contexts = [...new Set(PROPERTY_TABLE.flatMap((s) => s.contexts))] as PropertyContext[];
    const foreign = fc.constantFrom(...contexts).chain((c) => arbProperties(c, { minProperties: 1 }));
    const withProps = arbPacket(version).filter((p) => p.type !== "pingreq" && p.type !== "pingresp");
    check(
      fc.property(withProps, foreign, fc.boolean(), (p, extra, inWill) => {
        const target = inWill && p.type === "connect" && p.will !== undefined ? "will" : p.type;
        const packet: Packet =
          target === "will" && p.type === "connect" && p.will !== undefined
            ? { ...p, will: { ...p.will, properties: { ...p.will.properties, ...extra } } }
            : ({ ...p, properties: { ...(p as { properties?: Properties }).properties, ...extra } } as Packet);
        const disallowed = Object.keys(extra).filter((k) => !isPropertyAllowed(k as keyof Properties, target as PropertyContext));
        let bytes: Uint8Array;
        try {
          bytes = encodePacket(packet, version);
        } catch (e) {
          expectLocalError(e);
          if (version !== 5) expect(e.code).toBe(ErrorCode.VersionMismatch);
          else if (disallowed.length > 0) expect([ErrorCode.PropertyNotAllowed, ErrorCode.PropertyDuplicate]).toContain(e.code);
          return;
        }
        expect(version).toBe(5);
        expectEqual(disallowed, []);
        decodePacket(bytes, version);
      }),
      RUNS.encodeJunk,
    );
  });

  describe("h. long fields: every string and binary field up to its 65,535-byte limit", () => {
    it("round trip and any chunking hold with long fields", () => {
      const long = { longFields: 0.5, maxPayloadLength: 256, maxProperties: 6, maxUserProperties: 3, maxSubscriptions: 3 };
      check(
        fc.property(arbPacket(version, long), arbChunker({ maxCuts: 8 }), (p, chunking) => {
          const bytes = encodePacket(p, version);
          expectEqual(decodePacket(bytes, version), p);
          // One byte per push has its own test (codec.decoder.test.ts); here, cuts anywhere.
          const c: Chunking = chunking.kind === "bytes" ? { kind: "cuts", cuts: [1, 2, 3, 100, 65_537, 70_001] } : chunking;
          const { packets, error } = drive(chunk(bytes, c), version);
          expect(error).toBeUndefined();
          expectEqual(packets, [p]);
        }),
        RUNS.long,
      );
    });

    it("a hostile byte in a long string field: a packet that re-encodes, or RemoteProtocolError with a short message", () => {
      const slots = longStringSlots(version);
      check(
        fc.property(
          fc.constantFrom(...slots),
          fc.oneof({ weight: 3, arbitrary: fc.constant(FIELD_MAX_BYTES) }, { weight: 2, arbitrary: fc.integer({ min: 300, max: FIELD_MAX_BYTES }) }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.constantFrom(...HOSTILE_BYTES),
          arbChunker({ maxCuts: 4 }),
          (slot, len, where, hostile, chunking) => {
            const n = Math.min(len, FIELD_MAX_BYTES - (slot.room ?? 0));
            const bytes = withHostileBytes(encodePacket(slot.packet(MARK.repeat(n)), version), n, where, hostile);
            let decoded: Packet;
            try {
              decoded = decodePacket(bytes, version);
            } catch (e) {
              expectRemoteError(e);
              expect(e.message.includes(MARK.repeat(41)), `the message quotes the string whole: ${e.message.slice(0, 80)}`).toBe(false);
              const streamed = drive(chunk(bytes, chunking.kind === "bytes" ? { kind: "whole" } : chunking), version);
              expect(streamed.error?.code).toBe(e.code);
              return;
            }
            // Some bytes are fine where they land ('#' in a reason string, ...): then it is a packet like any other.
            expectEqual(decodePacket(encodePacket(decoded, version), version), decoded);
          },
        ),
        RUNS.longHostile,
      );
    });

    it("mutated packets with long fields: decode to a packet that re-encodes, or RemoteProtocolError with a short message", () => {
      const long = { longFields: 1, maxPayloadLength: 16, maxProperties: 3, maxUserProperties: 2, maxSubscriptions: 2 };
      // Mostly bytes that break a string somewhere in it: U+0000, wildcards, bytes UTF-8 never has.
      const mutation = fc.oneof(
        { weight: 3, arbitrary: fc.record({ op: fc.constant("set" as const), at: fc.nat(), value: fc.constantFrom(...HOSTILE_BYTES.map((h) => h[0]!)) }) },
        { weight: 1, arbitrary: arbMutation },
      );
      check(
        fc.property(arbPacket(version, long), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), (p, mutations, reframe) => {
          const bytes = mutateFrame(encodePacket(p, version), mutations, reframe);
          let decoded: Packet;
          try {
            decoded = decodePacket(bytes, version);
          } catch (e) {
            expectRemoteError(e);
            return;
          }
          expectEqual(decodePacket(encodePacket(decoded, version), version), decoded);
        }),
        RUNS.longMutations,
      );
    });

    it("encode of long junk (over 65,535 bytes, or long and invalid) in any field: LocalProtocolError with a short message, or bytes that decode", () => {
      const anyVersionPacket = fc.oneof(arbPacket(version, { maxPayloadLength: 16 }), arbPacket(5, { maxPayloadLength: 16 }));
      check(
        fc.property(anyVersionPacket, fc.array(arbLongCorruption, { minLength: 1, maxLength: 2 }), (p, corruptions) => {
          let junk: unknown = p;
          for (const c of corruptions) junk = corrupt(junk as Packet, c);
          expectEncodeJunk(junk, version);
        }),
        RUNS.longEncodeJunk,
      );
    });
  });

  it("g. after an error the decoder keeps throwing the same error", () => {
    const bad = fc.constantFrom(
      [0x00, 0x00], // reserved packet type
      [0xc1, 0x00], // PINGREQ with flags
      [0x36, 0x00], // PUBLISH QoS 3
      [0x30, 0x80, 0x80, 0x80, 0x80, 0x01], // Remaining Length of 5 bytes
      [0x30, 0x80, 0x00], // Remaining Length not in its shortest form
      [0x40, 0x02, 0x00, 0x00], // PUBACK with packet identifier 0
      [0xe0, 0x01, 0xff], // DISCONNECT with 1 byte too many (v3/v4) or reason 0xff (v5)
    );
    check(
      fc.property(arbPacketStream(version, { maxPackets: 3 }), bad, fc.uint8Array({ maxLength: 64 }), arbChunker(), (packets, badFrame, tail, chunking) => {
        const bytes = concatBytes([encodeAll(packets, version), new Uint8Array(badFrame), tail]);
        const { packets: out, error } = drive(chunk(bytes, chunking), version);
        expect(error).toBeInstanceOf(RemoteProtocolError);
        expectEqual(out, packets);
      }),
      RUNS.sticky,
    );
  });
});

// ---------------------------------------------------------------------------
// Regressions: counterexamples the properties found

describe("regressions", () => {
  // encodePacket threw TypeError (or a TypeError from String()/JSON.stringify on the
  // value in its error message) instead of LocalProtocolError on these.
  const nullProto = Object.create(null) as object;
  const cases: [string, unknown, ProtocolVersion][] = [
    ["undefined", undefined, 3],
    ["null", null, 4],
    ["type holding a bigint", { type: { "": 0n } }, 5],
    ["type array holding a bigint", { type: [{ "": 0n }] }, 3],
    ["packetId a null-prototype object", { type: "unsubscribe", packetId: nullProto }, 4],
    ["qos a null-prototype object", { type: "publish", topic: "a", payload: new Uint8Array(0), qos: nullProto, retain: false, dup: false }, 4],
    ["will not an object", { type: "connect", protocolVersion: 3, clean: false, keepAlive: 0, clientId: "\ufeff", will: "" }, 3],
    ["will null", { type: "connect", protocolVersion: 5, clean: false, keepAlive: 0, clientId: "", will: null }, 5],
    ["topic null", { type: "publish", topic: null, payload: new Uint8Array(0), qos: 0, retain: false, dup: false }, 4],
    ["subscription without topicFilter", { type: "subscribe", packetId: 1, subscriptions: [{ qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 5],
    ["subscription null", { type: "subscribe", packetId: 1, subscriptions: [null] }, 4],
    ["unsubscribe filter undefined", { type: "unsubscribe", packetId: 1, topicFilters: [undefined] }, 4],
    ["suback without reasonCodes", { type: "suback", packetId: 1 }, 4],
    ["unsuback without reasonCodes (v4)", { type: "unsuback", packetId: 1 }, 4],
    ["unsuback without reasonCodes (v5)", { type: "unsuback", packetId: 1 }, 5],
    ["properties null (v4)", { type: "disconnect", reasonCode: 0, properties: null }, 4],
    // Was silently taken as "no properties" in MQTT 5 while v3/v4 threw TypeError; now both reject it.
    ["properties null (v5)", { type: "puback", packetId: 1, reasonCode: 0, properties: null }, 5],
    ["property value a null-prototype object", { type: "connack", sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: nullProto } }, 5],
  ];
  it.each(cases)("encodePacket(%s) throws LocalProtocolError", (_name, junk, version) => {
    let thrown: unknown;
    try {
      encodePacket(junk as Packet, version);
    } catch (e) {
      thrown = e;
    }
    expectLocalError(thrown);
  });

  it("topic validators answer false, not TypeError, for non-strings", () => {
    for (const v of [undefined, null, 1, 1n, {}, [], Symbol("s")]) {
      expect(isValidTopicName(v as string)).toBe(false);
      expect(isValidTopicFilter(v as string)).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------
// The arbitraries themselves

function isWellFormedMqttString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = s.charCodeAt(i + 1);
      if (!(n >= 0xdc00 && n <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

describe("@sansmqtt/core/testing arbitraries", () => {
  it("arbMqttString: no U+0000, no lone surrogate; BOM, 2-byte, 3-byte and astral characters all occur", () => {
    check(
      fc.property(arbMqttString({ maxLength: 64 }), (s) => {
        expect(isWellFormedMqttString(s)).toBe(true);
        expect([...s].length).toBeLessThanOrEqual(64);
      }),
      RUNS.helpers,
    );
    const sample = fc.sample(arbMqttString({ minLength: 8, maxLength: 32 }), { numRuns: 500, seed: 42 }).join("");
    expect(sample).toContain("\ufeff");
    expect(/[\u0080-\u07ff]/.test(sample)).toBe(true);
    expect(/[\u0800-\uffff]/.test(sample)).toBe(true);
    expect(/[\u{10000}-\u{10ffff}]/u.test(sample)).toBe(true);
  });

  it("arbTopicName and arbTopicFilter are valid; shared subscriptions occur, and only when asked", () => {
    check(
      fc.property(arbTopicName(), arbTopicFilter(), arbTopicFilter({ shared: false }), (name, filter, plain) => {
        expect(isValidTopicName(name)).toBe(true);
        expect(isValidTopicFilter(filter)).toBe(true);
        expect(isValidTopicFilter(plain)).toBe(true);
        expect(plain.startsWith("$share/")).toBe(false);
      }),
      RUNS.helpers,
    );
    expect(fc.sample(arbTopicFilter(), { numRuns: 200, seed: 7 }).some((f) => f.startsWith("$share/"))).toBe(true);
  });

  it("arbProperties: only properties allowed in the context, with their values in range", () => {
    const contexts = [...new Set(PROPERTY_TABLE.flatMap((s) => s.contexts))] as PropertyContext[];
    check(
      fc.property(
        fc.constantFrom(...contexts).chain((c) => fc.tuple(fc.constant(c), arbProperties(c))),
        ([context, props]: [PropertyContext, Properties]) => {
          for (const name of Object.keys(props) as (keyof Properties)[]) expect(isPropertyAllowed(name, context), `${name} in ${context}`).toBe(true);
          // A packet of that context carries them; will properties ride in a v5 CONNECT.
          const packet = packetWith(context, props);
          if (packet !== undefined) expect(decodePacket(encodePacket(packet, 5), 5).type).toBe(packet.type);
        },
      ),
      RUNS.helpers,
    );
  });

  it("longFields: every string and binary field reaches its 65,535-byte limit, and values over it occur for negative tests", () => {
    const longest = new Map<string, number>();
    const note = (key: string, n: number): void => {
      longest.set(key, Math.max(longest.get(key) ?? 0, n));
    };
    const walk = (v: unknown, key: string): void => {
      if (typeof v === "string") note(key, Buffer.byteLength(v, "utf8"));
      else if (v instanceof Uint8Array) note(key, v.length);
      else if (key.endsWith("userProperties")) for (const [k, x] of v as [string, string][]) (walk(k, `${key}.name`), walk(x, `${key}.value`));
      else if (Array.isArray(v)) for (const x of v) walk(x, key);
      else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) walk(x, `${key}.${k}`);
    };
    // Packets for the fields outside properties; every property of every context, all at once, for the rest.
    const options = { longFields: 1, maxProperties: 1, maxUserProperties: 2, maxSubscriptions: 2, maxPayloadLength: 8 };
    for (const v of [4, 5] as const) {
      for (const type of ["connect", "publish", "subscribe", "unsubscribe"] as const) {
        for (const p of fc.sample(arbPacketOfType(type, v, options), { numRuns: 60, seed: 11 })) {
          walk({ ...p, properties: undefined }, p.type);
          if (p.type === "publish" && p.topic !== "") expect(isValidTopicName(p.topic)).toBe(true);
        }
      }
    }
    const contexts = [...new Set(PROPERTY_TABLE.flatMap((x) => x.contexts))] as PropertyContext[];
    for (const c of contexts) {
      const all = { longFields: 1, minProperties: 40, maxProperties: 40, maxUserProperties: 2 };
      for (const props of fc.sample(arbProperties(c, all), { numRuns: 40, seed: 12 })) walk(props, `${c === "will" ? "connect.will" : c}.properties`);
    }
    const wanted = [
      "publish.topic",
      "connect.clientId",
      "connect.username",
      "connect.password",
      "connect.will.topic",
      "connect.will.payload",
      "subscribe.subscriptions.topicFilter",
      "unsubscribe.topicFilters",
      "connect.properties.authenticationMethod",
      "connect.properties.authenticationData",
      "connect.will.properties.contentType",
      "connect.will.properties.responseTopic",
      "connect.will.properties.correlationData",
      "connack.properties.reasonString",
      "connack.properties.assignedClientIdentifier",
      "connack.properties.responseInformation",
      "connack.properties.serverReference",
      "connack.properties.authenticationMethod",
      "connack.properties.authenticationData",
      "connack.properties.userProperties.name",
      "connack.properties.userProperties.value",
      "publish.properties.contentType",
      "publish.properties.responseTopic",
      "publish.properties.correlationData",
      "publish.properties.userProperties.name",
      "puback.properties.reasonString",
      "disconnect.properties.reasonString",
      "disconnect.properties.serverReference",
      "auth.properties.authenticationMethod",
      "auth.properties.authenticationData",
      "auth.properties.reasonString",
    ];
    const short = wanted.filter((k) => longest.get(k) !== FIELD_MAX_BYTES).map((k) => `${k}: ${longest.get(k) ?? "never"}`);
    expect(short, "fields that never reached 65,535 bytes").toEqual([]);
    // And past the limit, for the tests that expect a refusal.
    const over = fc.sample(arbLongMqttString({ minBytes: FIELD_MAX_BYTES + 1, maxBytes: FIELD_MAX_BYTES + 10 }), { numRuns: 20, seed: 3 });
    for (const x of over) expect(Buffer.byteLength(x, "utf8")).toBeGreaterThan(FIELD_MAX_BYTES);
  });

  it("arbPacket covers every packet type of the version (AUTH only in MQTT 5)", () => {
    for (const v of VERSIONS) {
      const types = new Set(fc.sample(arbPacket(v), { numRuns: 600, seed: 1 }).map((p) => p.type));
      expectEqual([...types].sort(), [...packetTypesOf(v)].sort());
    }
  });

  it("the test's strictEqual is as strict as toStrictEqual", () => {
    const u = (...b: number[]) => new Uint8Array(b);
    expect(strictEqual({ a: u(1, 2), b: [["x", "y"]] }, { a: u(1, 2).subarray(0), b: [["x", "y"]] })).toBe(true);
    expect(strictEqual(new Uint8Array([9, 1, 2]).subarray(1), u(1, 2))).toBe(true);
    expect(strictEqual({ a: 1, b: undefined }, { a: 1 })).toBe(false);
    expect(strictEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(strictEqual(Object.assign(Object.create(null) as object, { a: 1 }), { a: 1 })).toBe(false);
    expect(strictEqual(u(1, 2), u(1, 3))).toBe(false);
    expect(strictEqual(u(1, 2), new Uint16Array([1, 2]))).toBe(false);
    expect(strictEqual([1, 2], [1, 2, 3])).toBe(false);
    expect(strictEqual({ qos: 1 }, { qos: "1" })).toBe(false);
  });

  it("chunk and splitAt keep every byte, in order", () => {
    check(
      fc.property(fc.uint8Array({ maxLength: 300 }), arbChunker(), fc.array(fc.integer({ min: -5, max: 400 })), (bytes, chunking, offsets) => {
        const chunks: Chunking = chunking;
        expectEqual(concatBytes(chunk(bytes, chunks)), bytes);
        expectEqual(concatBytes(splitAt(bytes, offsets)), bytes);
        expect(splitAt(bytes, offsets)).toHaveLength(offsets.length + 1);
      }),
      RUNS.helpers,
    );
  });
});

/** A minimal valid MQTT 5 packet carrying `props` in `context`, or undefined for a context with no simple packet. */
function packetWith(context: PropertyContext, props: Properties): Packet | undefined {
  const properties = Object.keys(props).length > 0 ? { properties: props } : {};
  switch (context) {
    case "connect":
      return { type: "connect", protocolVersion: 5, clean: true, keepAlive: 0, clientId: "", ...properties };
    case "will":
      return { type: "connect", protocolVersion: 5, clean: true, keepAlive: 0, clientId: "", will: { topic: "t", payload: new Uint8Array(0), qos: 0, retain: false, ...properties } };
    case "connack":
      return { type: "connack", sessionPresent: false, reasonCode: 0, ...properties };
    case "publish":
      return { type: "publish", topic: "t", payload: new Uint8Array(0), qos: 0, retain: false, dup: false, ...properties };
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return { type: context, packetId: 1, reasonCode: 0, ...properties };
    case "subscribe":
      return { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }], ...properties };
    case "suback":
      return { type: "suback", packetId: 1, reasonCodes: [0], ...properties };
    case "unsubscribe":
      return { type: "unsubscribe", packetId: 1, topicFilters: ["a"], ...properties };
    case "unsuback":
      return { type: "unsuback", packetId: 1, reasonCodes: [0], ...properties };
    case "disconnect":
      return { type: "disconnect", reasonCode: 0, ...properties };
    case "auth":
      return { type: "auth", reasonCode: 0, ...properties };
  }
}
