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
}

const ACKS: readonly PropertyContext[] = ["puback", "pubrec", "pubrel", "pubcomp"];
const BOOL = [0, 1] as const;

export const PROPERTY_TABLE: readonly PropertySpec[] = [
  { id: 0x01, name: "payloadFormatIndicator", kind: "byte", contexts: ["publish", "will"], values: BOOL },
  { id: 0x02, name: "messageExpiryInterval", kind: "u32", contexts: ["publish", "will"] },
  { id: 0x03, name: "contentType", kind: "str", contexts: ["publish", "will"] },
  { id: 0x08, name: "responseTopic", kind: "str", contexts: ["publish", "will"], topic: true },
  { id: 0x09, name: "correlationData", kind: "bin", contexts: ["publish", "will"] },
  { id: 0x0b, name: "subscriptionIdentifiers", kind: "varint", contexts: ["publish", "subscribe"], nonZero: true },
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
  {
    id: 0x26,
    name: "userProperties",
    kind: "pair",
    contexts: [
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
    ],
  },
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
}
const BY_ID: (Entry | undefined)[] = [];
const BY_NAME = new Map<string, Entry>();
for (const spec of PROPERTY_TABLE) {
  let mask = 0;
  for (const c of spec.contexts) mask |= CONTEXT_BIT[c];
  const e: Entry = { ...spec, mask };
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

function checkValue(e: Entry, v: number, blame: Blame, context: PropertyContext): void {
  if (e.values !== undefined && !e.values.includes(v)) {
    throw codecError(blame, ErrorCode.PropertyValue, `${e.name} must be one of ${e.values.join(", ")}, got ${v}`);
  }
  if (e.nonZero === true && v === 0) {
    // Topic alias 0 is a Topic Alias error (0x94), like every other invalid alias [MQTT-3.3.2-8].
    if (e.id === 0x23) throw codecError(blame, ErrorCode.TopicAliasInvalid, "topicAlias must not be 0 [MQTT-3.3.2-8]", 0x94);
    throw codecError(blame, ErrorCode.PropertyValue, `${e.name} must not be 0`);
  }
  if (e.id === 0x0b && context === "subscribe" && v > VARINT_MAX) {
    throw codecError(blame, ErrorCode.PropertyValue, `${e.name} out of range`);
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
    const multi = e.kind === "pair" || (e.id === 0x0b && context === "publish");
    if (!multi && p[e.name] !== undefined) {
      throw codecError("remote", ErrorCode.PropertyDuplicate, `${e.name} included more than once`);
    }
    switch (e.kind) {
      case "byte":
      case "u16":
      case "u32":
      case "varint": {
        const v =
          e.kind === "byte" ? r.u8(e.name) : e.kind === "u16" ? r.u16(e.name) : e.kind === "u32" ? r.u32(e.name) : r.varint(e.name);
        checkValue(e, v, "remote", context);
        if (e.id === 0x0b) {
          const list = p[e.name] as number[] | undefined;
          if (list === undefined) p[e.name] = [v];
          else list.push(v);
        } else {
          p[e.name] = v;
        }
        break;
      }
      case "str": {
        const s = r.str(e.name);
        if (e.topic === true && !isValidTopicName(s)) {
          throw codecError("remote", ErrorCode.TopicInvalid, `${e.name} is not a valid topic name`);
        }
        p[e.name] = s;
        break;
      }
      case "bin":
        p[e.name] = r.bin(e.name);
        break;
      case "pair": {
        const name = r.str("user property name");
        const value = r.str("user property value");
        const list = props.userProperties;
        if (list === undefined) props.userProperties = [[name, value]];
        else list.push([name, value]);
        break;
      }
    }
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
 * Validates `props` for `context` and returns the size of the property list
 * (without its length prefix). Unknown names, values out of range, properties
 * not allowed here are the caller's error.
 */
export function propertiesSize(props: Properties | undefined, context: PropertyContext): number {
  if (props === undefined) return 0;
  if (typeof props !== "object" || props === null) throw codecError("local", ErrorCode.PropertyValue, "properties must be an object");
  const bit = CONTEXT_BIT[context];
  let size = 0;
  for (const name in props) {
    const v = (props as Record<string, unknown>)[name];
    if (v === undefined) continue;
    const e = BY_NAME.get(name);
    if (e === undefined) throw codecError("local", ErrorCode.PropertyUnknown, `unknown property ${show(name)}`);
    if ((e.mask & bit) === 0) throw codecError("local", ErrorCode.PropertyNotAllowed, `${name} is not allowed in ${context}`);
    switch (e.kind) {
      case "byte":
        size += 2;
        checkNumber(e, v, 0xff, context);
        break;
      case "u16":
        size += 3;
        checkNumber(e, v, 0xffff, context);
        break;
      case "u32":
        size += 5;
        checkNumber(e, v, 0xffffffff, context);
        break;
      case "varint": {
        // Subscription identifiers: a list; a SUBSCRIBE carries at most one.
        if (!Array.isArray(v)) throw codecError("local", ErrorCode.PropertyValue, `${name} must be an array of numbers`);
        if (context !== "publish" && v.length > 1) {
          throw codecError("local", ErrorCode.PropertyDuplicate, `${context} carries at most one ${name}`);
        }
        for (const n of v as unknown[]) {
          checkNumber(e, n, VARINT_MAX, context);
          size += 1 + varintSize(n as number);
        }
        break;
      }
      case "str": {
        if (typeof v !== "string") throw codecError("local", ErrorCode.PropertyValue, `${name} must be a string`);
        if (e.topic === true && !isValidTopicName(v)) {
          throw codecError("local", ErrorCode.TopicInvalid, `${name} is not a valid topic name`);
        }
        size += 3 + checkedStrLen(v, name);
        break;
      }
      case "bin":
        if (!(v instanceof Uint8Array)) throw codecError("local", ErrorCode.PropertyValue, `${name} must be a Uint8Array`);
        if (v.length > 0xffff) throw codecError("local", ErrorCode.ValueRange, `${name} is longer than 65,535 bytes`);
        size += 3 + v.length;
        break;
      case "pair":
        if (!Array.isArray(v)) throw codecError("local", ErrorCode.PropertyValue, `${name} must be an array of pairs`);
        for (const pair of v as unknown[]) {
          if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
            throw codecError("local", ErrorCode.PropertyValue, `${name} entries must be [name, value] string pairs`);
          }
          size += 5 + checkedStrLen(pair[0], "user property name") + checkedStrLen(pair[1], "user property value");
        }
        break;
    }
  }
  const named = props as { authenticationData?: unknown; authenticationMethod?: unknown };
  if (named.authenticationData !== undefined && named.authenticationMethod === undefined) throw dataWithoutMethod("local");
  return size;
}

function checkedStrLen(s: string, what: string): number {
  const n = utf8Length(s, "local", what);
  if (n > 0xffff) throw codecError("local", ErrorCode.ValueRange, `${what} is longer than 65,535 bytes`);
  return n;
}

function checkNumber(e: Entry, v: unknown, max: number, context: PropertyContext): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw codecError("local", ErrorCode.PropertyValue, `${e.name} must be an integer in 0..${max}, got ${show(v)}`);
  }
  checkValue(e, v, "local", context);
}

/** Writes the Property Length and the properties; `size` comes from propertiesSize. */
export function writeProperties(w: Writer, props: Properties | undefined, size: number): void {
  w.varint(size);
  if (props === undefined || size === 0) return;
  for (const name in props) {
    const v = (props as Record<string, unknown>)[name];
    if (v === undefined) continue;
    const e = BY_NAME.get(name)!;
    switch (e.kind) {
      case "byte":
        w.u8(e.id);
        w.u8(v as number);
        break;
      case "u16":
        w.u8(e.id);
        w.u16(v as number);
        break;
      case "u32":
        w.u8(e.id);
        w.u32(v as number);
        break;
      case "varint":
        for (const n of v as number[]) {
          w.u8(e.id);
          w.varint(n);
        }
        break;
      case "str": {
        w.u8(e.id);
        const s = v as string;
        w.str(s, utf8Length(s, "local", name));
        break;
      }
      case "bin":
        w.u8(e.id);
        w.bin(v as Uint8Array);
        break;
      case "pair":
        for (const [k, val] of v as UserProperty[]) {
          w.u8(e.id);
          w.str(k, utf8Length(k, "local", "user property name"));
          w.str(val, utf8Length(val, "local", "user property value"));
        }
        break;
    }
  }
}
