/**
 * fast-check arbitraries for MQTT packets, so the codec (and code built on it)
 * can be fuzzed with valid input.
 *
 * Every packet generated here is valid for its protocol version and follows the
 * decoder's conventions exactly, so `decodePacket(encodePacket(p, v), v)` deep-equals
 * `p`:
 * - fields a version lacks are absent (never `undefined`);
 * - `properties` is absent or holds at least one property (and no empty list);
 * - MQTT 5 subscriptions always carry noLocal / retainAsPublished / retainHandling,
 *   MQTT 3.1 / 3.1.1 ones never; No Local is never set on a shared subscription;
 * - acks, DISCONNECT and AUTH always carry `reasonCode` (0 before MQTT 5);
 *   UNSUBACK `reasonCodes` is `[]` before MQTT 5;
 * - a QoS 0 PUBLISH has no packetId and dup false;
 * - reason codes are the ones valid for their packet (`reasonCodesFor`);
 * - CONNACK sessionPresent only with reason code 0 (never in MQTT 3.1, which lacks it);
 * - a 3.1.1 CONNECT with an empty client id has clean session 1 [MQTT-3.1.3-7];
 *   a 3.1 one has a client id of 1 to 23 characters;
 * - Authentication Data only next to an Authentication Method (MQTT 5.0
 *   3.1.2.11.10), and an AUTH other than the short form (reason 0, nothing
 *   else) always carries its Authentication Method (3.15.2.2.2).
 *
 * Sizes are modest by default (payloads up to 2 KiB, a few properties); see
 * `ArbitraryOptions` to go larger, and its `longFields` for string and binary
 * fields of any length up to their 65,535-byte limit.
 */
import * as fc from "fast-check";
import { VARINT_MAX } from "../codec/bytes.js";
import { PROPERTY_TABLE, type PropertyContext } from "../codec/properties.js";
import { reasonCodesFor } from "../codec/reason-codes.js";
import { PACKET_TYPES } from "../codec/types.js";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketType,
  PingreqPacket,
  PingrespPacket,
  Properties,
  ProtocolVersion,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  UserProperty,
  Will,
} from "../codec/types.js";

/** Size limits of the generated values. Every field is optional. */
export interface ArbitraryOptions {
  /** Largest PUBLISH or will payload, in bytes. Default 2048. */
  maxPayloadLength?: number;
  /** Largest binary field other than a payload (password, correlation data, ...), in bytes. Default 64. */
  maxBinaryLength?: number;
  /** Most code points in a free-form string (client id, user property, reason string, ...). Default 24; at most 16,383. */
  maxStringLength?: number;
  /** Most levels in a topic name or filter. Default 5; at most 64. */
  maxTopicLevels?: number;
  /** Most code points in one topic level. Default 8. */
  maxTopicLevelLength?: number;
  /** Most properties in one property list. Default 4. */
  maxProperties?: number;
  /** Most user properties in one list. Default 3. */
  maxUserProperties?: number;
  /** Most subscription identifiers on one PUBLISH. Default 3. */
  maxSubscriptionIdentifiers?: number;
  /** Most topic filters / reason codes in SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK. Default 4. */
  maxSubscriptions?: number;
  /** Most packets in `arbPacketStream`. Default 8. */
  maxPackets?: number;
  /**
   * Share (0 to 1; default 0) of string and binary fields drawn long: any
   * length up to the field's limit of 65,535 bytes, with lengths at or just
   * under the limit favoured (see `arbLongMqttString`). It applies to every
   * string and binary field but the PUBLISH payload (see `maxPayloadLength`):
   * topic names and filters, client id, user name, password, will topic and
   * payload, and every property (reason string, user property names and
   * values, assigned client identifier, response information, server
   * reference, content type, response topic, correlation data, authentication
   * method and data). The other options then bound only the short draws.
   */
  longFields?: number;
}

interface Limits {
  payload: number;
  binary: number;
  string: number;
  levels: number;
  levelLength: number;
  properties: number;
  userProperties: number;
  subscriptionIdentifiers: number;
  subscriptions: number;
  packets: number;
  long: number;
}

function limits(o: ArbitraryOptions = {}): Limits {
  const levels = Math.max(1, Math.min(o.maxTopicLevels ?? 5, 64));
  return {
    payload: Math.max(0, o.maxPayloadLength ?? 2048),
    binary: Math.max(0, Math.min(o.maxBinaryLength ?? 64, 0xffff)),
    string: Math.max(0, Math.min(o.maxStringLength ?? 24, 16_383)),
    levels,
    // Keeps any topic (levels of up to 4 bytes per code point, separators, a
    // share prefix) under the 65,535-byte limit of a string.
    levelLength: Math.max(0, Math.min(o.maxTopicLevelLength ?? 8, Math.floor(14_000 / levels))),
    properties: Math.max(1, o.maxProperties ?? 4),
    userProperties: Math.max(1, o.maxUserProperties ?? 3),
    subscriptionIdentifiers: Math.max(1, o.maxSubscriptionIdentifiers ?? 3),
    subscriptions: Math.max(1, o.maxSubscriptions ?? 4),
    packets: Math.max(0, o.maxPackets ?? 8),
    long: Math.max(0, Math.min(o.longFields ?? 0, 1)),
  };
}

/** `short`, or now and then (`l.long` of the draws) `long()`; just `short` when long fields are off. */
function orLong<T>(l: Limits, short: fc.Arbitrary<T>, long: () => fc.Arbitrary<T>): fc.Arbitrary<T> {
  if (l.long <= 0) return short; // the arbitraries of before, draw for draw
  if (l.long >= 1) return long();
  const w = Math.min(999, Math.max(1, Math.round(l.long * 1000)));
  return fc.oneof({ weight: 1000 - w, arbitrary: short }, { weight: w, arbitrary: long() });
}

/**
 * Lengths mostly small (fast-check's default size, which caps a length near 10
 * whatever its maximum) and now and then anywhere up to the maximum.
 */
function spread<T>(make: (size: "max" | undefined) => fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 3, arbitrary: make(undefined) }, { weight: 1, arbitrary: make("max") });
}

function bytes(maxLength: number): fc.Arbitrary<Uint8Array> {
  return spread((size) => fc.uint8Array({ maxLength, size }));
}

function arrayOf<T>(item: fc.Arbitrary<T>, minLength: number, maxLength: number): fc.Arbitrary<T[]> {
  return spread((size) => fc.array(item, { minLength, maxLength, size }));
}

// ---------------------------------------------------------------------------
// Strings and topics

/**
 * One Unicode scalar value valid in an MQTT string: anything but U+0000 and the
 * surrogates. Mostly printable ASCII, with control characters, 2-, 3- and 4-byte
 * UTF-8 forms, noncharacters and U+FEFF (BYTE ORDER MARK, kept as is [MQTT-1.5.4-3]).
 */
const mqttCodePoint: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.integer({ min: 0x01, max: 0x7f }) },
    { weight: 3, arbitrary: fc.integer({ min: 0x80, max: 0x7ff }) },
    { weight: 3, arbitrary: fc.integer({ min: 0x800, max: 0xd7ff }) },
    { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0xffff }) },
    { weight: 1, arbitrary: fc.constantFrom(0xfeff, 0xfffe, 0xffff, 0xfffd, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000) },
    { weight: 3, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }) },
  )
  .map((cp) => String.fromCodePoint(cp));

function codePointsWithout(excluded: string): fc.Arbitrary<string> {
  return mqttCodePoint.filter((c) => !excluded.includes(c));
}

export interface MqttStringOptions {
  /** Fewest code points. Default 0. */
  minLength?: number;
  /** Most code points. Default 24; at most 16,383 (so the UTF-8 form fits 65,535 bytes). */
  maxLength?: number;
}

/**
 * A valid MQTT UTF-8 string [MQTT-1.5.4-1] [MQTT-1.5.4-2]: any code points but
 * U+0000 and lone surrogates, including U+FEFF, multibyte and astral characters.
 * `maxLength` counts code points, not UTF-16 units.
 */
export function arbMqttString(options: MqttStringOptions = {}): fc.Arbitrary<string> {
  const maxLength = Math.max(0, Math.min(options.maxLength ?? 24, 16_383));
  const minLength = Math.max(0, Math.min(options.minLength ?? 0, maxLength));
  return spread((size) => fc.string({ unit: mqttCodePoint, minLength, maxLength, size }));
}

// ---------------------------------------------------------------------------
// Long fields: any length up to the 65,535-byte limit

/** The most bytes a string or binary field holds: its length is two bytes (1.5.4, 1.5.6). */
export const FIELD_MAX_BYTES = 0xffff;

export interface LongFieldOptions {
  /** Fewest bytes. Default 0. */
  minBytes?: number;
  /**
   * Most bytes. Default 65,535, the limit of a field. Past it (up to 16 MiB)
   * for negative tests: the codec must refuse such a value, not write it.
   */
  maxBytes?: number;
}

/**
 * A byte length in [min, max], biased to the top: exactly `max` or just under
 * it as often as anywhere in the range, and the lengths where one length byte
 * turns into two (255/256) or a Variable Byte Integer grows (16,383/16,384).
 */
function longLength(min: number, max: number): fc.Arbitrary<number> {
  const marks = [255, 256, 16_383, 16_384, 32_767, 32_768, 65_534, 65_535, 65_536].filter((n) => n >= min && n <= max);
  const arbs: fc.WeightedArbitrary<number>[] = [
    { weight: 3, arbitrary: fc.constant(max) },
    { weight: 3, arbitrary: fc.integer({ min: Math.max(min, max - 16), max }) },
    { weight: 3, arbitrary: fc.integer({ min, max }) },
  ];
  if (marks.length > 0) arbs.push({ weight: 1, arbitrary: fc.constantFrom(...marks) });
  return fc.oneof(...arbs);
}

function limitsOf(o: LongFieldOptions): [number, number] {
  const max = Math.max(0, Math.min(Math.trunc(o.maxBytes ?? FIELD_MAX_BYTES), 1 << 24));
  return [Math.max(0, Math.min(Math.trunc(o.minBytes ?? 0), max)), max];
}

function utf8Bytes(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/**
 * A string of exactly `bytes` UTF-8 bytes: `seed` repeated, ASCII `pad`, then
 * `tail` (distinct characters at the very end, where a decoder that stops
 * early would miss them). Cheap for any length, unlike drawing every character.
 */
function fillString(bytes: number, seed: string, tail: string, pad: string): string {
  const tb = utf8Bytes(tail);
  if (tb > bytes) return pad.repeat(bytes);
  let budget = bytes - tb;
  let body = "";
  const sb = utf8Bytes(seed);
  if (sb > 0) {
    const k = Math.floor(budget / sb);
    body = seed.repeat(k);
    budget -= k * sb;
  }
  return body + pad.repeat(budget) + tail;
}

function longStringOf(unit: fc.Arbitrary<string>, min: number, max: number): fc.Arbitrary<string> {
  return fc
    .tuple(longLength(min, max), fc.string({ unit, maxLength: 12 }), fc.string({ unit, maxLength: 4 }))
    .map(([n, seed, tail]) => fillString(n, seed, tail, "a"));
}

/**
 * A valid MQTT string [MQTT-1.5.4-1] [MQTT-1.5.4-2] of any byte length up to
 * 65,535 (or `maxBytes`), near the limit as often as not: exactly 65,535 bytes,
 * just under, anywhere below. Its characters are as varied as arbMqttString's
 * (multibyte, astral, U+FEFF), repeated to the length.
 */
export function arbLongMqttString(options: LongFieldOptions = {}): fc.Arbitrary<string> {
  const [min, max] = limitsOf(options);
  return longStringOf(mqttCodePoint, min, max);
}

/** Binary data of any length up to 65,535 bytes (or `maxBytes`), biased to the limit as arbLongMqttString. */
export function arbLongBytes(options: LongFieldOptions = {}): fc.Arbitrary<Uint8Array> {
  const [min, max] = limitsOf(options);
  return fc.tuple(longLength(min, max), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.uint8Array({ maxLength: 4 })).map(([n, seed, tail]) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = seed[i % seed.length]!;
    if (tail.length <= n) out.set(tail, n - tail.length);
    return out;
  });
}

/** A valid topic name of 1 to `max` bytes, biased to `max`; '/' (empty levels too) included. */
function longTopicName(min: number, max: number): fc.Arbitrary<string> {
  const unit = fc.oneof({ weight: 6, arbitrary: codePointsWithout("+#") }, { weight: 1, arbitrary: fc.constant("/") });
  return longStringOf(unit, Math.max(1, min), Math.max(1, max));
}

/**
 * A valid topic filter of up to `max` bytes, biased to `max`: a long name,
 * with '+' as its first level and '#' as its last now and then.
 */
function longPlainFilter(max: number): fc.Arbitrary<string> {
  return fc
    .tuple(fc.boolean(), fc.boolean())
    .chain(([plus, hash]) =>
      longTopicName(1, Math.max(1, max - (plus ? 2 : 0) - (hash ? 2 : 0))).map((b) => `${plus ? "+/" : ""}${b}${hash ? "/#" : ""}`),
    )
    .filter((f) => !f.startsWith("$share/"));
}

/** A shared subscription "$share/{ShareName}/{filter}" of up to 65,535 bytes, one of its parts long. */
function longSharedFilter(): fc.Arbitrary<string> {
  const shareUnit = codePointsWithout("/+#");
  return fc.oneof(
    // A long ShareName, a short filter.
    longStringOf(shareUnit, 1, FIELD_MAX_BYTES - 9).map((name) => `$share/${name}/t`),
    // A short ShareName, a long filter.
    fc.tuple(fc.constantFrom("g", "group", "ü"), longPlainFilter(FIELD_MAX_BYTES - 14)).map(([name, f]) => `$share/${name}/${f}`),
  );
}

export interface TopicOptions {
  /** Most levels. Default 5; at most 64. */
  maxLevels?: number;
  /** Most code points in one level. Default 8. */
  maxLevelLength?: number;
  /** Share (0 to 1; default 0) of topics drawn long, up to 65,535 bytes (as `ArbitraryOptions.longFields`). */
  longFields?: number;
}

function topicLimits(o: TopicOptions): Limits {
  return limits({
    ...(o.maxLevels !== undefined ? { maxTopicLevels: o.maxLevels } : {}),
    ...(o.maxLevelLength !== undefined ? { maxTopicLevelLength: o.maxLevelLength } : {}),
    ...(o.longFields !== undefined ? { longFields: o.longFields } : {}),
  });
}

/** One topic level without wildcards or separators (may be empty). */
function topicLevel(l: Limits): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: spread((size) => fc.string({ unit: codePointsWithout("/+#"), maxLength: l.levelLength, size })) },
    { weight: 1, arbitrary: fc.constantFrom("", "a", "sensors", "temp", "$SYS", "\u{feff}", "é", "温度", "🏠", " ") },
  );
}

function topicNameOf(l: Limits): fc.Arbitrary<string> {
  const short = arrayOf(topicLevel(l), 1, l.levels)
    .map((levels) => levels.join("/"))
    .map((t) => (t.length === 0 ? "/" : t));
  return orLong(l, short, () => longTopicName(1, FIELD_MAX_BYTES));
}

/**
 * A valid topic name: at least one character, no wildcard, no U+0000, within
 * 65,535 bytes; empty levels ("a//b", "/a", "a/") and "$" topics included.
 */
export function arbTopicName(options: TopicOptions = {}): fc.Arbitrary<string> {
  return topicNameOf(topicLimits(options));
}

export interface TopicFilterOptions extends TopicOptions {
  /** Also generate shared subscriptions ("$share/name/filter"). Default true. */
  shared?: boolean;
}

function plainFilterOf(l: Limits): fc.Arbitrary<string> {
  const level = fc.oneof({ weight: 3, arbitrary: topicLevel(l) }, { weight: 1, arbitrary: fc.constant("+") });
  return fc
    .tuple(arrayOf(level, 0, l.levels), fc.boolean())
    .map(([levels, hash]) => {
      const f = hash ? [...levels, "#"].join("/") : levels.join("/");
      return f.length === 0 ? "#" : f;
    })
    .filter((f) => !f.startsWith("$share/"));
}

function sharedFilterOf(l: Limits): fc.Arbitrary<string> {
  const shareName = fc.oneof(
    { weight: 3, arbitrary: spread((size) => fc.string({ unit: codePointsWithout("/+#"), minLength: 1, maxLength: Math.max(1, l.levelLength), size })) },
    { weight: 1, arbitrary: fc.constantFrom("g", "group", "$share", "ü") },
  );
  return fc.tuple(shareName, plainFilterOf(l)).map(([name, f]) => `$share/${name}/${f}`);
}

/**
 * A valid topic filter: '+' filling whole levels, '#' alone or last, and (unless
 * `shared: false`) shared subscriptions "$share/{ShareName}/{filter}".
 */
export function arbTopicFilter(options: TopicFilterOptions = {}): fc.Arbitrary<string> {
  return arbTopicFilterOf(topicLimits(options), options.shared !== false);
}

// ---------------------------------------------------------------------------
// Properties

type PropertySpec = (typeof PROPERTY_TABLE)[number];

export interface PropertiesOptions extends ArbitraryOptions {
  /** Fewest properties. Default 0, so `{}` is possible; packets use 1 (absent or non-empty). */
  minProperties?: number;
}

function propertyValue(spec: PropertySpec, context: PropertyContext, l: Limits): fc.Arbitrary<unknown> {
  const min = spec.nonZero === true ? 1 : 0;
  switch (spec.kind) {
    case "byte":
      return spec.values !== undefined ? fc.constantFrom(...spec.values) : fc.integer({ min, max: 0xff });
    case "u16":
      return fc.integer({ min, max: 0xffff });
    case "u32":
      return fc.integer({ min, max: 0xffff_ffff });
    case "varint": {
      // Subscription identifiers: a list; several only on a PUBLISH.
      const n = context === "publish" ? l.subscriptionIdentifiers : 1;
      return arrayOf(fc.integer({ min: Math.max(min, 1), max: VARINT_MAX }), 1, n);
    }
    case "str":
      return spec.topic === true ? topicNameOf(l) : stringOf(l);
    case "bin":
      return binaryOf(l, l.binary);
    case "pair":
      return arrayOf(
        fc.tuple(stringOf(l), stringOf(l)).map(([k, v]): UserProperty => [k, v]),
        1,
        l.userProperties,
      );
  }
}

/** A free-form string field: up to `l.string` code points, or long (up to 65,535 bytes). */
function stringOf(l: Limits): fc.Arbitrary<string> {
  return orLong(l, arbMqttString({ maxLength: l.string }), () => arbLongMqttString());
}

/** A binary field: up to `max` bytes, or long (up to 65,535 bytes). */
function binaryOf(l: Limits, max: number): fc.Arbitrary<Uint8Array> {
  return orLong(l, bytes(Math.min(max, FIELD_MAX_BYTES)), () => arbLongBytes());
}

/**
 * Picks the properties of a list: with Authentication Data, the Authentication
 * Method too (MQTT 5.0 3.1.2.11.10); in an AUTH, always the method
 * (3.15.2.2.2). Keeps to `maxLength` by swapping the method in when full.
 */
function withAuthMethod(picked: PropertySpec[], context: PropertyContext, maxLength: number): PropertySpec[] {
  const method = PROPERTY_TABLE.find((s) => s.name === "authenticationMethod")!;
  if (!method.contexts.includes(context) || picked.includes(method)) return picked;
  const dataAt = picked.findIndex((s) => s.name === "authenticationData");
  if (context !== "auth" && dataAt < 0) return picked;
  if (picked.length < maxLength) return [...picked, method];
  const out = [...picked];
  out[dataAt >= 0 ? dataAt : 0] = method;
  return out;
}

/**
 * Valid MQTT 5 properties for `context`, driven by PROPERTY_TABLE: only the
 * properties allowed there, each at most once (user properties and a PUBLISH's
 * subscription identifiers as non-empty lists), values within their rules, in a
 * random order. Authentication Data comes with an Authentication Method, and
 * the properties of an AUTH always hold the method (so never `{}`).
 */
export function arbProperties(context: PropertyContext, options: PropertiesOptions = {}): fc.Arbitrary<Properties> {
  const l = limits(options);
  const specs = PROPERTY_TABLE.filter((s) => s.contexts.includes(context));
  const maxLength = Math.min(l.properties, specs.length);
  const minLength = Math.max(0, Math.min(options.minProperties ?? 0, maxLength));
  return fc.shuffledSubarray([...specs], { minLength, maxLength }).chain((picked) => {
    const chosen = withAuthMethod(picked, context, Math.max(1, maxLength));
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    for (const s of chosen) model[s.name] = propertyValue(s, context, l);
    return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<Properties>;
  });
}

/** MQTT 5: absent or a non-empty property list. Before MQTT 5: always absent. */
function optionalProperties(version: ProtocolVersion, context: PropertyContext, l: Limits): fc.Arbitrary<Properties | undefined> {
  if (version !== 5) return fc.constant(undefined);
  return fc.option(arbProperties(context, propertiesOptions(l, 1)), { nil: undefined, freq: 2 });
}

function propertiesOptions(l: Limits, minProperties: number): PropertiesOptions {
  return {
    minProperties,
    maxProperties: l.properties,
    maxUserProperties: l.userProperties,
    maxStringLength: l.string,
    maxBinaryLength: l.binary,
    maxSubscriptionIdentifiers: l.subscriptionIdentifiers,
    maxTopicLevels: l.levels,
    maxTopicLevelLength: l.levelLength,
    longFields: l.long,
  };
}

/** fc.record with a plain Object prototype (fast-check 4 also makes null-prototype records by default). */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

function withProperties<P extends { properties?: Properties }>(p: P, properties: Properties | undefined): P {
  if (properties !== undefined) p.properties = properties;
  return p;
}

// ---------------------------------------------------------------------------
// Small values

export function arbQoS(): fc.Arbitrary<QoS> {
  return fc.constantFrom<QoS>(0, 1, 2);
}

/** A packet identifier, 1..65535 [MQTT-2.2.1-3]. */
export function arbPacketId(): fc.Arbitrary<number> {
  return fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 0xffff }) }, { weight: 1, arbitrary: fc.constantFrom(1, 0xffff) });
}

export function arbProtocolVersion(): fc.Arbitrary<ProtocolVersion> {
  return fc.constantFrom<ProtocolVersion>(3, 4, 5);
}

type ReasonPacket = Parameters<typeof reasonCodesFor>[0];

/** A reason code valid for `packet` in `version` (MQTT 5 table 2-6; 0 when the version has none). */
export function arbReasonCode(packet: ReasonPacket, version: ProtocolVersion): fc.Arbitrary<number> {
  if (version === 5) return fc.constantFrom(...reasonCodesFor(packet));
  switch (packet) {
    case "connack":
      return fc.integer({ min: 0, max: 5 }); // 3.1 / 3.1.1 return codes
    case "suback":
      return version === 4 ? fc.constantFrom(0, 1, 2, 0x80) : fc.constantFrom(0, 1, 2); // 0x80 is new in 3.1.1
    default:
      return fc.constant(0);
  }
}

// ---------------------------------------------------------------------------
// Packets

function arbWill(version: ProtocolVersion, l: Limits): fc.Arbitrary<Will> {
  return record({
    topic: topicNameOf(l),
    // A will payload is binary data: 65,535 bytes at most, unlike a PUBLISH payload.
    payload: binaryOf(l, l.payload),
    qos: arbQoS(),
    retain: fc.boolean(),
    properties: optionalProperties(version, "will", l),
  }).map(({ properties, ...w }) => withProperties<Will>(w, properties));
}

export function arbConnect(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<ConnectPacket> {
  const l = limits(options);
  // MQTT 3.1: a client identifier of 1 to 23 characters.
  const clientId = version === 3 ? arbMqttString({ minLength: 1, maxLength: 23 }) : stringOf(l);
  return record({
    clean: fc.boolean(),
    keepAlive: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 60, 0xffff)),
    clientId,
    will: fc.option(arbWill(version, l), { nil: undefined }),
    username: fc.option(stringOf(l), { nil: undefined }),
    password: fc.option(binaryOf(l, l.binary), { nil: undefined }),
    properties: optionalProperties(version, "connect", l),
    // mosquitto's bridge mode (ConnectPacket.bridge), now and then.
    bridge: fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  }).map((r) => {
    // 3.1.1: an empty client id only with clean session 1 [MQTT-3.1.3-7].
    const clean = r.clean || (version === 4 && r.clientId === "");
    const p: ConnectPacket = { type: "connect", protocolVersion: version, clean, keepAlive: r.keepAlive, clientId: r.clientId };
    if (r.will !== undefined) p.will = r.will;
    if (r.username !== undefined) p.username = r.username;
    // Before MQTT 5 a password needs a user name [MQTT-3.1.2-22].
    if (r.password !== undefined && (version === 5 || r.username !== undefined)) p.password = r.password;
    if (r.bridge) p.bridge = true;
    return withProperties(p, r.properties);
  });
}

export function arbConnack(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<ConnackPacket> {
  const l = limits(options);
  return record({
    sessionPresent: fc.boolean(),
    reasonCode: arbReasonCode("connack", version),
    properties: optionalProperties(version, "connack", l),
  }).map((r) =>
    withProperties<ConnackPacket>(
      // A refusal has no session [MQTT-3.2.2-6]; MQTT 3.1 has no session present flag.
      { type: "connack", sessionPresent: r.sessionPresent && r.reasonCode === 0 && version !== 3, reasonCode: r.reasonCode },
      r.properties,
    ),
  );
}

export function arbPublish(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<PublishPacket> {
  const l = limits(options);
  const props = optionalProperties(version, "publish", l);
  // MQTT 5: an empty topic name with a Topic Alias [MQTT-3.3.2-1] (3.3.2.3.4).
  const topicAndProps: fc.Arbitrary<[string, Properties | undefined]> =
    version === 5
      ? fc.oneof(
          { weight: 4, arbitrary: fc.tuple(topicNameOf(l), props) },
          {
            weight: 1,
            arbitrary: fc
              .tuple(fc.integer({ min: 1, max: 0xffff }), props)
              .map(([topicAlias, p]): [string, Properties] => ["", { ...p, topicAlias }]),
          },
        )
      : fc.tuple(topicNameOf(l), props);
  return record({
    topicAndProps,
    payload: bytes(l.payload),
    qos: arbQoS(),
    retain: fc.boolean(),
    dup: fc.boolean(),
    packetId: arbPacketId(),
  }).map(({ topicAndProps: [topic, properties], payload, qos, retain, dup, packetId }) => {
    const p: PublishPacket =
      qos === 0
        ? { type: "publish", topic, payload, qos, retain, dup: false }
        : { type: "publish", topic, payload, qos, retain, dup, packetId };
    return withProperties(p, properties);
  });
}

type AckType = "puback" | "pubrec" | "pubrel" | "pubcomp";
type AckOf<T extends AckType> = T extends "puback"
  ? PubackPacket
  : T extends "pubrec"
    ? PubrecPacket
    : T extends "pubrel"
      ? PubrelPacket
      : PubcompPacket;

function arbAck<T extends AckType>(type: T, version: ProtocolVersion, options: ArbitraryOptions): fc.Arbitrary<AckOf<T>> {
  const l = limits(options);
  return record({ packetId: arbPacketId(), reasonCode: arbReasonCode(type, version), properties: optionalProperties(version, type, l) })
    .map((r) => withProperties({ type, packetId: r.packetId, reasonCode: r.reasonCode } as AckOf<T>, r.properties));
}

export function arbPuback(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<PubackPacket> {
  return arbAck("puback", version, options);
}
export function arbPubrec(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<PubrecPacket> {
  return arbAck("pubrec", version, options);
}
export function arbPubrel(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<PubrelPacket> {
  return arbAck("pubrel", version, options);
}
export function arbPubcomp(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<PubcompPacket> {
  return arbAck("pubcomp", version, options);
}

/** One subscription: MQTT 5 options always present, absent before; no No Local on a shared subscription [MQTT-3.8.3-4]. */
export function arbSubscription(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<Subscription> {
  const l = limits(options);
  const topicFilter = arbTopicFilterOf(l, true);
  if (version !== 5) return record({ topicFilter, qos: arbQoS() });
  return record({
    topicFilter,
    qos: arbQoS(),
    noLocal: fc.boolean(),
    retainAsPublished: fc.boolean(),
    retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
  }).map((s) => (s.noLocal && s.topicFilter.startsWith("$share/") ? { ...s, noLocal: false } : s));
}

function arbTopicFilterOf(l: Limits, shared: boolean): fc.Arbitrary<string> {
  const short = shared ? fc.oneof({ weight: 4, arbitrary: plainFilterOf(l) }, { weight: 1, arbitrary: sharedFilterOf(l) }) : plainFilterOf(l);
  return orLong(l, short, () => (shared ? fc.oneof({ weight: 3, arbitrary: longPlainFilter(FIELD_MAX_BYTES) }, { weight: 1, arbitrary: longSharedFilter() }) : longPlainFilter(FIELD_MAX_BYTES)));
}

export function arbSubscribe(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<SubscribePacket> {
  const l = limits(options);
  return record({
    packetId: arbPacketId(),
    subscriptions: arrayOf(arbSubscription(version, options), 1, l.subscriptions),
    properties: optionalProperties(version, "subscribe", l),
  }).map((r) => withProperties<SubscribePacket>({ type: "subscribe", packetId: r.packetId, subscriptions: r.subscriptions }, r.properties));
}

export function arbSuback(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<SubackPacket> {
  const l = limits(options);
  return record({
    packetId: arbPacketId(),
    reasonCodes: arrayOf(arbReasonCode("suback", version), 1, l.subscriptions),
    properties: optionalProperties(version, "suback", l),
  }).map((r) => withProperties<SubackPacket>({ type: "suback", packetId: r.packetId, reasonCodes: r.reasonCodes }, r.properties));
}

export function arbUnsubscribe(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<UnsubscribePacket> {
  const l = limits(options);
  return record({
    packetId: arbPacketId(),
    topicFilters: arrayOf(arbTopicFilterOf(l, true), 1, l.subscriptions),
    properties: optionalProperties(version, "unsubscribe", l),
  }).map((r) => withProperties<UnsubscribePacket>({ type: "unsubscribe", packetId: r.packetId, topicFilters: r.topicFilters }, r.properties));
}

export function arbUnsuback(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<UnsubackPacket> {
  const l = limits(options);
  return record({
    packetId: arbPacketId(),
    // One reason code per filter in MQTT 5; none on the wire before.
    reasonCodes:
      version === 5
        ? arrayOf(arbReasonCode("unsuback", 5), 1, l.subscriptions)
        : fc.constant(null).map((): number[] => []),
    properties: optionalProperties(version, "unsuback", l),
  }).map((r) => withProperties<UnsubackPacket>({ type: "unsuback", packetId: r.packetId, reasonCodes: r.reasonCodes }, r.properties));
}

export function arbPingreq(_version?: ProtocolVersion): fc.Arbitrary<PingreqPacket> {
  return fc.constant(null).map((): PingreqPacket => ({ type: "pingreq" }));
}

export function arbPingresp(_version?: ProtocolVersion): fc.Arbitrary<PingrespPacket> {
  return fc.constant(null).map((): PingrespPacket => ({ type: "pingresp" }));
}

export function arbDisconnect(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<DisconnectPacket> {
  const l = limits(options);
  return record({ reasonCode: arbReasonCode("disconnect", version), properties: optionalProperties(version, "disconnect", l) })
    .map((r) => withProperties<DisconnectPacket>({ type: "disconnect", reasonCode: r.reasonCode }, r.properties));
}

/**
 * AUTH exists only in MQTT 5. Either the short form (reason 0, no properties)
 * or a reason code with properties that hold the Authentication Method
 * (3.15.2.2.2).
 */
export function arbAuth(_version: 5 = 5, options: ArbitraryOptions = {}): fc.Arbitrary<AuthPacket> {
  const l = limits(options);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(null).map((): AuthPacket => ({ type: "auth", reasonCode: 0 })) },
    {
      weight: 4,
      arbitrary: record({ reasonCode: arbReasonCode("auth", 5), properties: arbProperties("auth", propertiesOptions(l, 1)) })
        .map((r): AuthPacket => ({ type: "auth", reasonCode: r.reasonCode, properties: r.properties })),
    },
  );
}

/** The packet types of `version`, in type-number order (AUTH only in MQTT 5). */
export function packetTypesOf(version: ProtocolVersion): PacketType[] {
  return version === 5 ? [...PACKET_TYPES] : PACKET_TYPES.filter((t) => t !== "auth");
}

/** A valid packet of `type` for `version`. Throws RangeError for AUTH before MQTT 5. */
export function arbPacketOfType(type: PacketType, version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<Packet> {
  switch (type) {
    case "connect":
      return arbConnect(version, options);
    case "connack":
      return arbConnack(version, options);
    case "publish":
      return arbPublish(version, options);
    case "puback":
      return arbPuback(version, options);
    case "pubrec":
      return arbPubrec(version, options);
    case "pubrel":
      return arbPubrel(version, options);
    case "pubcomp":
      return arbPubcomp(version, options);
    case "subscribe":
      return arbSubscribe(version, options);
    case "suback":
      return arbSuback(version, options);
    case "unsubscribe":
      return arbUnsubscribe(version, options);
    case "unsuback":
      return arbUnsuback(version, options);
    case "pingreq":
      return arbPingreq(version);
    case "pingresp":
      return arbPingresp(version);
    case "disconnect":
      return arbDisconnect(version, options);
    case "auth":
      if (version !== 5) throw new RangeError("AUTH exists only in MQTT 5");
      return arbAuth(5, options);
  }
}

/** Any valid packet of any type for `version` (AUTH only in MQTT 5), each type equally likely. */
export function arbPacket(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<Packet> {
  return fc.oneof(...packetTypesOf(version).map((t) => arbPacketOfType(t, version, options)));
}

/** A sequence of valid packets for `version` (0 to `maxPackets`, default 8). */
export function arbPacketStream(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<Packet[]> {
  return arrayOf(arbPacket(version, options), 0, limits(options).packets);
}

// ---------------------------------------------------------------------------
// Chunking

/**
 * How to cut a byte string into chunks, independent of its length: in one piece,
 * byte by byte, or at `cuts` (each taken modulo length + 1; repeats give empty chunks).
 */
export type Chunking = { readonly kind: "whole" } | { readonly kind: "bytes" } | { readonly kind: "cuts"; readonly cuts: readonly number[] };

/** A Chunking, to apply with `chunk(bytes, chunking)` once the bytes are known. */
export function arbChunker(options: { maxCuts?: number } = {}): fc.Arbitrary<Chunking> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Chunking>({ kind: "whole" }) },
    { weight: 1, arbitrary: fc.constant<Chunking>({ kind: "bytes" }) },
    {
      weight: 6,
      arbitrary: fc
        .array(fc.nat(), { minLength: 1, maxLength: options.maxCuts ?? 16 })
        .map((cuts): Chunking => ({ kind: "cuts", cuts })),
    },
  );
}

/** Splits `bytes` as `chunking` says. The chunks are views of `bytes`. */
export function chunk(bytes: Uint8Array, chunking: Chunking): Uint8Array[] {
  switch (chunking.kind) {
    case "whole":
      return [bytes];
    case "bytes": {
      const out: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
      return out;
    }
    case "cuts":
      return splitAt(
        bytes,
        chunking.cuts.map((c) => c % (bytes.length + 1)),
      );
  }
}

/** Splits `bytes` at `offsets` (any order, clamped to 0..length; repeated offsets give empty chunks). Views, not copies. */
export function splitAt(bytes: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const sorted = offsets.map((o) => Math.max(0, Math.min(bytes.length, Math.trunc(o)))).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const o of sorted) {
    out.push(bytes.subarray(start, o));
    start = o;
  }
  out.push(bytes.subarray(start));
  return out;
}

/** `bytes` split at arbitrary offsets: whole, byte by byte, or at random cuts (empty chunks included). */
export function arbChunking(bytes: Uint8Array, options: { maxCuts?: number } = {}): fc.Arbitrary<Uint8Array[]> {
  return arbChunker(options).map((c) => chunk(bytes, c));
}

/** The chunks joined back into one byte string. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}
