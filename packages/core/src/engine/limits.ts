/**
 * What the server allows, from its CONNACK [MQTT-3.2.2-*], with the spec's
 * defaults where it said nothing, and the checks of an outgoing packet
 * against them. Per network connection: a new CONNACK replaces them all.
 */
import { checkPacket } from "../codec/client.js";
import { MQTT_MAX_PACKET_SIZE } from "../codec/decoder.js";
import type { DisconnectPacket, Properties, ProtocolVersion, QoS, Subscription } from "../codec/types.js";
import { type LocalProtocolError } from "../errors.js";
import { isSharedSubscription } from "../topic.js";
import { misuse, remote } from "./errors.js";
import * as RC from "../codec/rc.js";
import * as E from "../codes.js";

/** What the server announced in CONNACK, with the spec's defaults where it said nothing. */
export interface ServerLimits {
  receiveMaximum: number;
  maximumQoS: QoS;
  retainAvailable: boolean;
  maximumPacketSize: number;
  topicAliasMaximum: number;
  wildcardSubscriptionAvailable: boolean;
  subscriptionIdentifierAvailable: boolean;
  sharedSubscriptionAvailable: boolean;
  /** The keep alive in force (seconds): the server's if it sent one [MQTT-3.1.2-21], else ours. */
  keepAlive: number;
}

/**
 * The smallest server Maximum Packet Size the engine works with: a PUBACK /
 * PUBREC / PUBREL / PUBCOMP with a reason code and no properties (5 bytes).
 */
export const MIN_SERVER_PACKET_SIZE = 5;

/** Before any CONNACK: the spec's defaults, and our own keep alive. */
export function defaultLimits(keepAlive: number): ServerLimits {
  return {
    receiveMaximum: 65535,
    maximumQoS: 2,
    retainAvailable: true,
    maximumPacketSize: MQTT_MAX_PACKET_SIZE,
    topicAliasMaximum: 0,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifierAvailable: true,
    sharedSubscriptionAvailable: true,
    keepAlive,
  };
}

/**
 * The limits in force on the current (or last) network connection: the
 * spec's defaults and our keep alive from `connect()` on, what the CONNACK
 * announced once it came.
 */
export class Limits {
  current: ServerLimits;

  /** `keepAlive`: ours (seconds), in force unless the server sends its own. */
  readonly #keepAlive: number;
  constructor(keepAlive: number) {
    this.#keepAlive = keepAlive;
    
    this.current = defaultLimits(keepAlive);
  }

  /** A new network connection: the defaults until its CONNACK. */
  reset(): void {
    this.current = defaultLimits(this.#keepAlive);
  }

  /**
   * An accepting CONNACK's limits replace the defaults. A Maximum Packet Size
   * under MIN_SERVER_PACKET_SIZE is a RemoteProtocolError: acks have a fixed
   * size, and under it the client could not answer a QoS 1/2 message or
   * report a failure without breaking [MQTT-3.2.2-15]. Such a connection
   * cannot work, so it ends, visibly; that limit is in force first, so the
   * DISCONNECT that ends it keeps it too (sendTrimmed leaves its reason string out).
   */
  onConnack(props: Properties | undefined): void {
    const maxSize = props?.maximumPacketSize;
    if (maxSize !== undefined && maxSize < MIN_SERVER_PACKET_SIZE) {
      this.current.maximumPacketSize = maxSize;
      throw remote(E.PropertyValue, `a Maximum Packet Size of ${maxSize} is too small for the acks a client must send (${MIN_SERVER_PACKET_SIZE} bytes)`, RC.ProtocolError);
    }
    this.current = limitsFromConnack(props, this.#keepAlive);
  }
}

/** The limits a CONNACK announces; the server's keep alive replaces ours [MQTT-3.1.2-21] [MQTT-3.2.2-21]. */
export function limitsFromConnack(props: Properties | undefined, keepAlive: number): ServerLimits {
  const l = defaultLimits(keepAlive);
  if (props === undefined) return l;
  if (props.receiveMaximum !== undefined) l.receiveMaximum = props.receiveMaximum;
  if (props.maximumQoS !== undefined) l.maximumQoS = props.maximumQoS as QoS;
  if (props.retainAvailable !== undefined) l.retainAvailable = props.retainAvailable === 1;
  if (props.maximumPacketSize !== undefined) l.maximumPacketSize = props.maximumPacketSize;
  if (props.topicAliasMaximum !== undefined) l.topicAliasMaximum = props.topicAliasMaximum;
  if (props.wildcardSubscriptionAvailable !== undefined) l.wildcardSubscriptionAvailable = props.wildcardSubscriptionAvailable === 1;
  if (props.subscriptionIdentifierAvailable !== undefined) l.subscriptionIdentifierAvailable = props.subscriptionIdentifierAvailable === 1;
  if (props.sharedSubscriptionAvailable !== undefined) l.sharedSubscriptionAvailable = props.sharedSubscriptionAvailable === 1;
  if (props.serverKeepAlive !== undefined) l.keepAlive = props.serverKeepAlive;
  return l;
}

/** A packet over the server's Maximum Packet Size [MQTT-3.2.2-15]: ERR_PACKET_TOO_LARGE, 0x95. */
export function overServerMax(what: string, size: number, max: number): LocalProtocolError {
  return misuse(E.PacketTooLarge, `${what} of ${size} bytes is over the server's maximum packet size ${max} [MQTT-3.2.2-15]`, RC.PacketTooLarge);
}

/** Something the server said it does not support: ERR_NOT_SUPPORTED with its reason code. */
function unsupported(what: string, reasonCode: number): LocalProtocolError {
  return misuse(E.NotSupported, `the server does not support ${what}`, reasonCode);
}

/** Why the server cannot take this PUBLISH, if it cannot (a new message or a resend alike). */
export function publishRefusal(l: ServerLimits, qos: QoS, retain: boolean, size: number, props: Properties | undefined): LocalProtocolError | undefined {
  if (qos > l.maximumQoS) return misuse(E.NotSupported, `the server's maximum QoS is ${l.maximumQoS} [MQTT-3.2.2-11]`, RC.QoSNotSupported);
  if (retain && !l.retainAvailable) {
    return unsupported("retained messages [MQTT-3.2.2-14]", RC.RetainNotSupported);
  }
  if (size > l.maximumPacketSize) return overServerMax("PUBLISH", size, l.maximumPacketSize);
  const alias = props?.topicAlias;
  if (alias !== undefined && alias > l.topicAliasMaximum) {
    return misuse(E.TopicAliasInvalid, `topic alias ${alias} is over the server's maximum ${l.topicAliasMaximum} [MQTT-3.2.2-17]`, RC.TopicAliasInvalid);
  }
  return undefined;
}

/**
 * Why the server cannot take this DISCONNECT, if it cannot: what sendTrimmed
 * cannot leave out (the reason code, a session expiry) is over its Maximum
 * Packet Size [MQTT-3.2.2-15]. `p` has passed checkPacket.
 */
export function disconnectRefusal(l: ServerLimits, p: DisconnectPacket, version: ProtocolVersion): LocalProtocolError | undefined {
  if (p.properties === undefined) return undefined;
  const { reasonString: _r, userProperties: _u, ...kept } = p.properties;
  const size = checkPacket({ ...p, properties: kept }, version);
  const max = l.maximumPacketSize;
  if (size > max) return overServerMax("DISCONNECT", size, max);
  return undefined;
}

/** A refused SUBSCRIBE: the error, and the reason code each filter gets. */
export interface SubscribeRefusal {
  error: LocalProtocolError;
  codeFor: (filter: string) => number;
}

/**
 * Why the server cannot take a SUBSCRIBE, if it cannot: wildcards,
 * shared subscriptions or subscription identifiers it said it does not
 * support (MQTT 5 3.2.2.3.11 to 3.2.2.3.13).
 */
export function subscribeRefusal(l: ServerLimits, subs: readonly Subscription[], properties: Properties | undefined): SubscribeRefusal | undefined {
  if (!l.subscriptionIdentifierAvailable && properties?.subscriptionIdentifiers !== undefined) {
    const error = unsupported("subscription identifiers", RC.SubscriptionIdentifiersNotSupported);
    return { error, codeFor: () => RC.SubscriptionIdentifiersNotSupported };
  }
  const wildcard = (f: string): boolean => !l.wildcardSubscriptionAvailable && /[+#]/.test(f);
  const shared = (f: string): boolean => !l.sharedSubscriptionAvailable && isSharedSubscription(f);
  const codeFor = (f: string): number =>
    shared(f) ? RC.SharedSubscriptionsNotSupported : wildcard(f) ? RC.WildcardSubscriptionsNotSupported : RC.UnspecifiedError;
  for (const s of subs) {
    if (shared(s.topicFilter)) {
      return { error: unsupported("shared subscriptions", RC.SharedSubscriptionsNotSupported), codeFor };
    }
    if (wildcard(s.topicFilter)) {
      return { error: unsupported("wildcard subscriptions", RC.WildcardSubscriptionsNotSupported), codeFor };
    }
  }
  return undefined;
}
