/**
 * MQTT 5 properties (spec 2.2.2.2, table 2-4): identifier, wire type, the packets
 * that may carry each, and the value rules. One table drives decode, encode and
 * validation, so they cannot disagree.
 */
import { type Blame, codecError, type MqttError, PROTOCOL_ERROR } from "../errors.js";
import { checkInt, hex, mustBe, type Reader, show, type Writer, varintSize, VARINT_MAX } from "./bytes.js";
import { isValidTopicName } from "../topic.js";
import type { Properties, UserProperty } from "./types.js";
import { utf8Length } from "./utf8.js";
import * as E from "../codes.js";

/** Where a property list stands: a packet type, or the will properties of CONNECT. */
export type PropertyContext =
  | "connect"
  | "connack"
  | "publish"
  | "puback"
  | "pubrec"
  | "pubrel"
  | "pubcomp"
  | "subscribe"
  | "suback"
  | "unsubscribe"
  | "unsuback"
  | "disconnect"
  | "auth"
  | "will";

type Kind = "byte" | "u16" | "u32" | "varint" | "str" | "bin" | "pair";

interface PropertySpec {
  readonly id: number;
  readonly name: keyof Properties;
  readonly kind: Kind;
  readonly contexts: readonly PropertyContext[];
  /** Allowed values of a byte property. */
  readonly values?: readonly number[];
  /** 0 is a Protocol Error for this property. */
  readonly nonZero?: boolean;
  /** Must be a valid topic name (Response Topic [MQTT-3.3.2-14]). */
  readonly topic?: boolean;
  /**
   * The packets in which the property may appear more than once. A property
   * with this column is a list in `Properties` (one entry per occurrence),
   * wherever it appears; elsewhere it is one value.
   */
  readonly repeated?: readonly PropertyContext[];
}

/** Where a property may stand, as bits (the order of PropertyContext). */
const CONTEXTS: readonly PropertyContext[] = [
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "disconnect",
  "auth",
  "will",
];
const CONNECT = 1 << 0;
const CONNACK = 1 << 1;
const PUBLISH = 1 << 2;
const ACKS = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6);
const SUBSCRIBE = 1 << 7;
const SUBACK = 1 << 8;
const UNSUBSCRIBE = 1 << 9;
const UNSUBACK = 1 << 10;
const DISCONNECT = 1 << 11;
const AUTH = 1 << 12;
const WILL = 1 << 13;
const MESSAGE = PUBLISH | WILL;
const ALL = (1 << 14) - 1;

/** Value rules, as bits: a byte of 0 or 1; 0 is a Protocol Error; a valid topic name. */
const BOOL = 1;
const NON_ZERO = 2;
const TOPIC = 4;

/** One property: identifier, name, wire type, where it may stand, its value rules, where it may repeat. */
interface Entry {
  readonly id: number;
  readonly name: keyof Properties;
  readonly kind: Kind;
  readonly mask: number;
  readonly rules: number;
  /** The contexts where it may appear more than once, as bits; 0 for a property that is never a list. */
  readonly repeatMask: number;
}

function row(id: number, name: keyof Properties, kind: Kind, mask: number, rules = 0, repeatMask = 0): Entry {
  return { id, name, kind, mask, rules, repeatMask };
}

const ENTRIES: readonly Entry[] = [
  /*#__PURE__*/ row(0x01, "payloadFormatIndicator", "byte", MESSAGE, BOOL),
  /*#__PURE__*/ row(0x02, "messageExpiryInterval", "u32", MESSAGE),
  /*#__PURE__*/ row(0x03, "contentType", "str", MESSAGE),
  /*#__PURE__*/ row(0x08, "responseTopic", "str", MESSAGE, TOPIC),
  /*#__PURE__*/ row(0x09, "correlationData", "bin", MESSAGE),
  // Several in a PUBLISH to the client (3.3.2.3.8), at most one in SUBSCRIBE (3.8.2.1.2).
  /*#__PURE__*/ row(0x0b, "subscriptionIdentifiers", "varint", PUBLISH | SUBSCRIBE, NON_ZERO, PUBLISH),
  /*#__PURE__*/ row(0x11, "sessionExpiryInterval", "u32", CONNECT | CONNACK | DISCONNECT),
  /*#__PURE__*/ row(0x12, "assignedClientIdentifier", "str", CONNACK),
  /*#__PURE__*/ row(0x13, "serverKeepAlive", "u16", CONNACK),
  /*#__PURE__*/ row(0x15, "authenticationMethod", "str", CONNECT | CONNACK | AUTH),
  /*#__PURE__*/ row(0x16, "authenticationData", "bin", CONNECT | CONNACK | AUTH),
  /*#__PURE__*/ row(0x17, "requestProblemInformation", "byte", CONNECT, BOOL),
  /*#__PURE__*/ row(0x18, "willDelayInterval", "u32", WILL),
  /*#__PURE__*/ row(0x19, "requestResponseInformation", "byte", CONNECT, BOOL),
  /*#__PURE__*/ row(0x1a, "responseInformation", "str", CONNACK),
  /*#__PURE__*/ row(0x1c, "serverReference", "str", CONNACK | DISCONNECT),
  /*#__PURE__*/ row(0x1f, "reasonString", "str", CONNACK | ACKS | SUBACK | UNSUBACK | DISCONNECT | AUTH),
  /*#__PURE__*/ row(0x21, "receiveMaximum", "u16", CONNECT | CONNACK, NON_ZERO),
  /*#__PURE__*/ row(0x22, "topicAliasMaximum", "u16", CONNECT | CONNACK),
  /*#__PURE__*/ row(0x23, "topicAlias", "u16", PUBLISH, NON_ZERO),
  /*#__PURE__*/ row(0x24, "maximumQoS", "byte", CONNACK, BOOL),
  /*#__PURE__*/ row(0x25, "retainAvailable", "byte", CONNACK, BOOL),
  // "allowed to appear multiple times" wherever it may appear (2.2.2.2, table 2-4).
  /*#__PURE__*/ row(0x26, "userProperties", "pair", ALL, 0, ALL),
  /*#__PURE__*/ row(0x27, "maximumPacketSize", "u32", CONNECT | CONNACK, NON_ZERO),
  /*#__PURE__*/ row(0x28, "wildcardSubscriptionAvailable", "byte", CONNACK, BOOL),
  /*#__PURE__*/ row(0x29, "subscriptionIdentifierAvailable", "byte", CONNACK, BOOL),
  /*#__PURE__*/ row(0x2a, "sharedSubscriptionAvailable", "byte", CONNACK, BOOL),
];

function contextsOf(mask: number): PropertyContext[] {
  return CONTEXTS.filter((_, i) => (mask & (1 << i)) !== 0);
}

/** The table for tools and tests, in the shape of the spec's table 2-4 (built from the rows above). */
export const PROPERTY_TABLE: readonly PropertySpec[] = /*#__PURE__*/ ENTRIES.map((e) => {
  const spec: { -readonly [K in keyof PropertySpec]: PropertySpec[K] } = { id: e.id, name: e.name, kind: e.kind, contexts: contextsOf(e.mask) };
  if ((e.rules & BOOL) !== 0) spec.values = [0, 1];
  if ((e.rules & NON_ZERO) !== 0) spec.nonZero = true;
  if ((e.rules & TOPIC) !== 0) spec.topic = true;
  if (e.repeatMask !== 0) spec.repeated = contextsOf(e.repeatMask);
  return spec;
});

/** A context's bit. */
function bitOf(context: PropertyContext): number {
  return 1 << CONTEXTS.indexOf(context);
}

/** The entries by identifier and by name. */
const BY_ID: readonly (Entry | undefined)[] = /*#__PURE__*/ ENTRIES.reduce<(Entry | undefined)[]>((a, e) => ((a[e.id] = e), a), []);
const BY_NAME: ReadonlyMap<string, Entry> = /*#__PURE__*/ new Map(/*#__PURE__*/ ENTRIES.map((e) => [e.name, e]));

/** The property's spec by name, for tools and tests. */
export function propertySpec(name: keyof Properties): PropertySpec {
  return PROPERTY_TABLE.find((s) => s.name === name)!;
}

/** Whether `name` may appear in `context`. */
export function isPropertyAllowed(name: keyof Properties, context: PropertyContext): boolean {
  const e = BY_NAME.get(name);
  return e !== undefined && (e.mask & bitOf(context)) !== 0;
}

function checkValue(e: Entry, v: number, blame: Blame): void {
  if ((e.rules & BOOL) !== 0 && v !== 0 && v !== 1) throw codecError(blame, E.PropertyValue, mustBe(e.name, "0 or 1", v));
  if ((e.rules & NON_ZERO) !== 0 && v === 0) {
    // Topic alias 0 is a Topic Alias error (0x94), like every other invalid alias [MQTT-3.3.2-8].
    if (e.id === 0x23) throw codecError(blame, E.TopicAliasInvalid, "topicAlias must not be 0 [MQTT-3.3.2-8]", 0x94);
    throw codecError(blame, E.PropertyValue, `${e.name} must not be 0`);
  }
}

/**
 * Reads a Property Length and the properties after it; returns undefined when
 * there are none. Enforces: known identifier, allowed in `context`, a single
 * value property at most once, value rules [MQTT-1.5.7-1] [MQTT-3.3.2-14].
 */
export function readProperties(r: Reader, context: PropertyContext): Properties | undefined {
  const len = r.varint("property length");
  if (len === 0) return undefined;
  r.need(len, "properties");
  const end = r.pos + len;
  const outerEnd = r.end;
  r.end = end; // a property that overruns the list is malformed, not a read into the payload
  const bit = bitOf(context);
  const props: Properties = {};
  const p = props as Record<string, unknown>;
  while (r.pos < end) {
    const id = r.varint("property identifier");
    const e = BY_ID[id];
    if (e === undefined) throw codecError("remote", E.PropertyUnknown, `unknown property ${hex(id)}`);
    if ((e.mask & bit) === 0) throw notAllowed("remote", e.name, context);
    const prev = p[e.name];
    if (prev !== undefined && (e.repeatMask & bit) === 0) {
      throw codecError("remote", E.PropertyDuplicate, `${context} has ${e.name} twice`);
    }
    let v: unknown;
    switch (e.kind) {
      case "byte":
        v = r.u8(e.name);
        checkValue(e, v as number, "remote");
        break;
      case "u16":
        v = r.u16(e.name);
        checkValue(e, v as number, "remote");
        break;
      case "u32":
        v = r.u32(e.name);
        checkValue(e, v as number, "remote");
        break;
      case "varint":
        v = r.varint(e.name);
        checkValue(e, v as number, "remote");
        break;
      case "str":
        v = r.str(e.name);
        if ((e.rules & TOPIC) !== 0 && !isValidTopicName(v as string)) throw notTopic("remote", e.name, v);
        break;
      case "bin":
        v = r.bin(e.name);
        break;
      case "pair":
        v = [r.str("user property name"), r.str("user property value")] as UserProperty;
        break;
    }
    if (e.repeatMask === 0) p[e.name] = v;
    else if (prev === undefined) p[e.name] = [v];
    else (prev as unknown[]).push(v);
  }
  r.end = outerEnd;
  if (props.authenticationData !== undefined && props.authenticationMethod === undefined) throw dataWithoutMethod("remote");
  return props;
}

/**
 * "It is a Protocol Error to include Authentication Data if there is no
 * Authentication Method" (MQTT 5.0 3.1.2.11.10, CONNECT). CONNACK (3.2.2.3.18)
 * and AUTH (3.15.2.2.3) define their data by the method just the same, and an
 * AUTH needs the method anyway (3.15.2.2.2), so the rule holds in all three.
 */
function notAllowed(blame: Blame, name: string, context: PropertyContext): MqttError {
  return codecError(blame, E.PropertyNotAllowed, `${name} is not allowed in ${context}`);
}

function notTopic(blame: Blame, name: string, v: unknown): MqttError {
  return codecError(blame, E.TopicInvalid, `${name} ${show(v)} is not a valid topic name`);
}

/** A string or binary value over 65,535 bytes (ERR_VALUE_RANGE). */
export function tooLong(what: string): MqttError {
  return codecError("local", E.ValueRange, `${what} is over 65535 bytes`);
}

function dataWithoutMethod(blame: Blame): MqttError {
  return codecError(blame, E.AuthInvalid, "authentication data without an authentication method", PROTOCOL_ERROR);
}

/**
 * The size of the property list `props` for `context` (without its length
 * prefix). With `check`, it first validates every property: unknown names,
 * values out of range, properties not allowed here are the caller's error
 * (LocalProtocolError). Without, `props` was checked before and nothing throws.
 */
export function propertiesSize(props: Properties | undefined, context: PropertyContext, check: boolean): number {
  if (props === undefined) return 0;
  if (check && (typeof props !== "object" || props === null)) throw codecError("local", E.PropertyValue, "properties must be an object");
  const bit = bitOf(context);
  let size = 0;
  for (const name in props) {
    const v = (props as Record<string, unknown>)[name];
    if (v === undefined) continue;
    const e = BY_NAME.get(name);
    if (check) {
      if (e === undefined) throw codecError("local", E.PropertyUnknown, `unknown property ${show(name)}`);
      if ((e.mask & bit) === 0) throw notAllowed("local", name, context);
    }
    if (e!.repeatMask === 0) {
      size += 1 + valueSize(e!, v, check);
      continue;
    }
    if (check) {
      if (!Array.isArray(v)) throw codecError("local", E.PropertyValue, mustBe(name, "an array", v));
      if (v.length > 1 && (e!.repeatMask & bit) === 0) throw codecError("local", E.PropertyDuplicate, `${context} has at most one ${name}`);
    }
    for (const item of v as unknown[]) size += 1 + valueSize(e!, item, check);
  }
  if (check) {
    const named = props as { authenticationData?: unknown; authenticationMethod?: unknown };
    if (named.authenticationData !== undefined && named.authenticationMethod === undefined) throw dataWithoutMethod("local");
  }
  return size;
}

/** Size of one value of property `e` (without its identifier), validated first with `check`. */
function valueSize(e: Entry, v: unknown, check: boolean): number {
  switch (e.kind) {
    case "byte":
      if (check) checkNumber(e, v, 0xff);
      return 1;
    case "u16":
      if (check) checkNumber(e, v, 0xffff);
      return 2;
    case "u32":
      if (check) checkNumber(e, v, 0xffffffff);
      return 4;
    case "varint":
      if (check) checkNumber(e, v, VARINT_MAX);
      return varintSize(v as number);
    case "str":
      if (check) {
        if (typeof v !== "string") throw codecError("local", E.PropertyValue, mustBe(e.name, "a string", v));
        if ((e.rules & TOPIC) !== 0 && !isValidTopicName(v)) throw notTopic("local", e.name, v);
      }
      return 2 + strLen(v as string, e.name);
    case "bin":
      if (check) {
        if (!(v instanceof Uint8Array)) throw codecError("local", E.PropertyValue, mustBe(e.name, "a Uint8Array", v));
        if (v.length > 0xffff) throw tooLong(e.name);
      }
      return 2 + (v as Uint8Array).length;
    case "pair": {
      if (check && (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== "string" || typeof v[1] !== "string")) {
        throw codecError("local", E.PropertyValue, mustBe("a user property", "[name, value] strings", v));
      }
      const pair = v as UserProperty;
      return 4 + strLen(pair[0], "user property name") + strLen(pair[1], "user property value");
    }
  }
}

/** Byte length of a string property (valid UTF-8 and at most 65,535 bytes, or LocalProtocolError). */
function strLen(s: string, what: string): number {
  const n = utf8Length(s, "local", what);
  if (n > 0xffff) throw tooLong(what);
  return n;
}

function checkNumber(e: Entry, v: unknown, max: number): void {
  checkValue(e, checkInt(v, max, e.name, 0, "local", E.PropertyValue), "local");
}

/**
 * Writes the Property Length and the properties (checked before). One byte is
 * kept for the length; a list of 128 bytes or more moves over to make room
 * for a longer one (the buffer is sized for the whole packet, so it has it).
 */
export function writeProperties(w: Writer, props: Properties | undefined): void {
  const lenAt = w.pos;
  w.pos = lenAt + 1;
  if (props !== undefined) {
    for (const name in props) {
      const v = (props as Record<string, unknown>)[name];
      if (v === undefined) continue;
      const e = BY_NAME.get(name)!;
      if (e.repeatMask === 0) writeValue(w, e, v);
      else for (const item of v as unknown[]) writeValue(w, e, item);
    }
  }
  const len = w.pos - lenAt - 1;
  if (len < 0x80) {
    w.buf[lenAt] = len;
    return;
  }
  const k = varintSize(len);
  w.buf.copyWithin(lenAt + k, lenAt + 1, w.pos);
  w.pos = lenAt;
  w.varint(len);
  w.pos += len;
}

function writeValue(w: Writer, e: Entry, v: unknown): void {
  w.u8(e.id);
  switch (e.kind) {
    case "byte":
      w.u8(v as number);
      break;
    case "u16":
      w.u16(v as number);
      break;
    case "u32":
      w.u32(v as number);
      break;
    case "varint":
      w.varint(v as number);
      break;
    case "str":
      w.str(v as string);
      break;
    case "bin":
      w.bin(v as Uint8Array);
      break;
    case "pair":
      w.str((v as UserProperty)[0]);
      w.str((v as UserProperty)[1]);
      break;
  }
}
