/**
 * MQTT 5 properties (spec 2.2.2.2, table 2-4): identifier, wire type, the packets
 * that may carry each, and the value rules. One table drives decode, encode and
 * validation, so they cannot disagree.
 */
import { type Blame, codecError, ErrorCode, type MqttError, PROTOCOL_ERROR } from "../errors.js";
import { type Reader, show, type Writer, varintSize, VARINT_MAX } from "./bytes.js";
import { isValidTopicName } from "../topic.js";
import type { Properties, UserProperty } from "./types.js";
import { utf8Length } from "./utf8.js";

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

const ACKS: readonly PropertyContext[] = ["puback", "pubrec", "pubrel", "pubcomp"];
const BOOL = [0, 1] as const;
const USER_PROPERTY_CONTEXTS: readonly PropertyContext[] = [
  "connect",
  "connack",
  "publish",
  "will",
  ...ACKS,
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "disconnect",
  "auth",
];

export const PROPERTY_TABLE: readonly PropertySpec[] = [
  { id: 0x01, name: "payloadFormatIndicator", kind: "byte", contexts: ["publish", "will"], values: BOOL },
  { id: 0x02, name: "messageExpiryInterval", kind: "u32", contexts: ["publish", "will"] },
  { id: 0x03, name: "contentType", kind: "str", contexts: ["publish", "will"] },
  { id: 0x08, name: "responseTopic", kind: "str", contexts: ["publish", "will"], topic: true },
  { id: 0x09, name: "correlationData", kind: "bin", contexts: ["publish", "will"] },
    // Several in a PUBLISH to the client (3.3.2.3.8), at most one in SUBSCRIBE (3.8.2.1.2).
  { id: 0x0b, name: "subscriptionIdentifiers", kind: "varint", contexts: ["publish", "subscribe"], nonZero: true, repeated: ["publish"] },
  { id: 0x11, name: "sessionExpiryInterval", kind: "u32", contexts: ["connect", "connack", "disconnect"] },
  { id: 0x12, name: "assignedClientIdentifier", kind: "str", contexts: ["connack"] },
  { id: 0x13, name: "serverKeepAlive", kind: "u16", contexts: ["connack"] },
  { id: 0x15, name: "authenticationMethod", kind: "str", contexts: ["connect", "connack", "auth"] },
  { id: 0x16, name: "authenticationData", kind: "bin", contexts: ["connect", "connack", "auth"] },
  { id: 0x17, name: "requestProblemInformation", kind: "byte", contexts: ["connect"], values: BOOL },
  { id: 0x18, name: "willDelayInterval", kind: "u32", contexts: ["will"] },
  { id: 0x19, name: "requestResponseInformation", kind: "byte", contexts: ["connect"], values: BOOL },
  { id: 0x1a, name: "responseInformation", kind: "str", contexts: ["connack"] },
  { id: 0x1c, name: "serverReference", kind: "str", contexts: ["connack", "disconnect"] },
  {
    id: 0x1f,
    name: "reasonString",
    kind: "str",
    contexts: ["connack", ...ACKS, "suback", "unsuback", "disconnect", "auth"],
  },
  { id: 0x21, name: "receiveMaximum", kind: "u16", contexts: ["connect", "connack"], nonZero: true },
  { id: 0x22, name: "topicAliasMaximum", kind: "u16", contexts: ["connect", "connack"] },
  { id: 0x23, name: "topicAlias", kind: "u16", contexts: ["publish"], nonZero: true },
  { id: 0x24, name: "maximumQoS", kind: "byte", contexts: ["connack"], values: BOOL },
  { id: 0x25, name: "retainAvailable", kind: "byte", contexts: ["connack"], values: BOOL },
  // "allowed to appear multiple times" wherever it may appear (2.2.2.2, table 2-4).
  { id: 0x26, name: "userProperties", kind: "pair", contexts: USER_PROPERTY_CONTEXTS, repeated: USER_PROPERTY_CONTEXTS },
  { id: 0x27, name: "maximumPacketSize", kind: "u32", contexts: ["connect", "connack"], nonZero: true },
  { id: 0x28, name: "wildcardSubscriptionAvailable", kind: "byte", contexts: ["connack"], values: BOOL },
  { id: 0x29, name: "subscriptionIdentifierAvailable", kind: "byte", contexts: ["connack"], values: BOOL },
  { id: 0x2a, name: "sharedSubscriptionAvailable", kind: "byte", contexts: ["connack"], values: BOOL },
];

const CONTEXT_BIT: Readonly<Record<PropertyContext, number>> = {
  connect: 1 << 0,
  connack: 1 << 1,
  publish: 1 << 2,
  puback: 1 << 3,
  pubrec: 1 << 4,
  pubrel: 1 << 5,
  pubcomp: 1 << 6,
  subscribe: 1 << 7,
  suback: 1 << 8,
  unsubscribe: 1 << 9,
  unsuback: 1 << 10,
  disconnect: 1 << 11,
  auth: 1 << 12,
  will: 1 << 13,
};

interface Entry extends PropertySpec {
  readonly mask: number;
  /** The contexts of `repeated`, as bits; 0 for a property that is never a list. */
  readonly repeatMask: number;
  readonly list: boolean;
}
const BY_ID: (Entry | undefined)[] = [];
const BY_NAME = new Map<string, Entry>();
for (const spec of PROPERTY_TABLE) {
  let mask = 0;
  for (const c of spec.contexts) mask |= CONTEXT_BIT[c];
  let repeatMask = 0;
  for (const c of spec.repeated ?? []) repeatMask |= CONTEXT_BIT[c];
  const e: Entry = { ...spec, mask, repeatMask, list: spec.repeated !== undefined };
  BY_ID[spec.id] = e;
  BY_NAME.set(spec.name, e);
}

/** The property's spec by name, for tools and tests. */
export function propertySpec(name: keyof Properties): PropertySpec {
  return BY_NAME.get(name)!;
}

/** Whether `name` may appear in `context`. */
export function isPropertyAllowed(name: keyof Properties, context: PropertyContext): boolean {
  const e = BY_NAME.get(name);
  return e !== undefined && (e.mask & CONTEXT_BIT[context]) !== 0;
}

function hex(id: number): string {
  return `0x${id.toString(16).padStart(2, "0")}`;
}

function checkValue(e: Entry, v: number, blame: Blame): void {
  if (e.values !== undefined && !e.values.includes(v)) {
    throw codecError(blame, ErrorCode.PropertyValue, `${e.name} must be one of ${e.values.join(", ")}, got ${v}`);
  }
  if (e.nonZero === true && v === 0) {
    // Topic alias 0 is a Topic Alias error (0x94), like every other invalid alias [MQTT-3.3.2-8].
    if (e.id === 0x23) throw codecError(blame, ErrorCode.TopicAliasInvalid, "topicAlias must not be 0 [MQTT-3.3.2-8]", 0x94);
    throw codecError(blame, ErrorCode.PropertyValue, `${e.name} must not be 0`);
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
  const bit = CONTEXT_BIT[context];
  const props: Properties = {};
  const p = props as Record<string, unknown>;
  while (r.pos < end) {
    const id = r.varint("property identifier");
    const e = BY_ID[id];
    if (e === undefined) throw codecError("remote", ErrorCode.PropertyUnknown, `unknown property identifier ${hex(id)}`);
    if ((e.mask & bit) === 0) {
      throw codecError("remote", ErrorCode.PropertyNotAllowed, `${e.name} (${hex(id)}) is not allowed in ${context}`);
    }
    const prev = p[e.name];
    if (prev !== undefined && (e.repeatMask & bit) === 0) {
      throw codecError("remote", ErrorCode.PropertyDuplicate, `${e.name} included more than once`);
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
        if (e.topic === true && !isValidTopicName(v as string)) {
          throw codecError("remote", ErrorCode.TopicInvalid, `${e.name} is not a valid topic name`);
        }
        break;
      case "bin":
        v = r.bin(e.name);
        break;
      case "pair":
        v = [r.str("user property name"), r.str("user property value")] as UserProperty;
        break;
    }
    if (!e.list) p[e.name] = v;
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
function dataWithoutMethod(blame: Blame): MqttError {
  return codecError(blame, ErrorCode.AuthInvalid, "authentication data without an authentication method", PROTOCOL_ERROR);
}

/**
 * The size of the property list `props` for `context` (without its length
 * prefix). With `check`, it first validates every property: unknown names,
 * values out of range, properties not allowed here are the caller's error
 * (LocalProtocolError). Without, `props` was checked before and nothing throws.
 */
export function propertiesSize(props: Properties | undefined, context: PropertyContext, check: boolean): number {
  if (props === undefined) return 0;
  if (check && (typeof props !== "object" || props === null)) throw codecError("local", ErrorCode.PropertyValue, "properties must be an object");
  const bit = CONTEXT_BIT[context];
  let size = 0;
  for (const name in props) {
    const v = (props as Record<string, unknown>)[name];
    if (v === undefined) continue;
    const e = BY_NAME.get(name);
    if (check) {
      if (e === undefined) throw codecError("local", ErrorCode.PropertyUnknown, `unknown property ${show(name)}`);
      if ((e.mask & bit) === 0) throw codecError("local", ErrorCode.PropertyNotAllowed, `${name} is not allowed in ${context}`);
    }
    if (!e!.list) {
      size += 1 + valueSize(e!, v, check);
      continue;
    }
    if (check) {
      if (!Array.isArray(v)) throw codecError("local", ErrorCode.PropertyValue, `${name} must be an array`);
      if (v.length > 1 && (e!.repeatMask & bit) === 0) {
        throw codecError("local", ErrorCode.PropertyDuplicate, `${context} carries at most one ${name}`);
      }
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
        if (typeof v !== "string") throw codecError("local", ErrorCode.PropertyValue, `${e.name} must be a string`);
        if (e.topic === true && !isValidTopicName(v)) throw codecError("local", ErrorCode.TopicInvalid, `${e.name} is not a valid topic name`);
      }
      return 2 + strLen(v as string, e.name);
    case "bin":
      if (check) {
        if (!(v instanceof Uint8Array)) throw codecError("local", ErrorCode.PropertyValue, `${e.name} must be a Uint8Array`);
        if (v.length > 0xffff) throw codecError("local", ErrorCode.ValueRange, `${e.name} is longer than 65,535 bytes`);
      }
      return 2 + (v as Uint8Array).length;
    case "pair": {
      if (check && (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== "string" || typeof v[1] !== "string")) {
        throw codecError("local", ErrorCode.PropertyValue, `${e.name} entries must be [name, value] string pairs`);
      }
      const pair = v as UserProperty;
      return 4 + strLen(pair[0], "user property name") + strLen(pair[1], "user property value");
    }
  }
}

/** Byte length of a string property (valid UTF-8 and at most 65,535 bytes, or LocalProtocolError). */
function strLen(s: string, what: string): number {
  const n = utf8Length(s, "local", what);
  if (n > 0xffff) throw codecError("local", ErrorCode.ValueRange, `${what} is longer than 65,535 bytes`);
  return n;
}

function checkNumber(e: Entry, v: unknown, max: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw codecError("local", ErrorCode.PropertyValue, `${e.name} must be an integer in 0..${max}, got ${show(v)}`);
  }
  checkValue(e, v, "local");
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
      if (!e.list) writeValue(w, e, v);
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
