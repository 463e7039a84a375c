/**
 * Errors, split by who broke the protocol (h11 / rustls style):
 *
 * - `LocalProtocolError`: the caller asked for something the protocol forbids
 *   (encode an invalid packet, publish to a wildcard topic, ...). Thrown
 *   synchronously, before any state changes, so the caller may correct and retry.
 *   Never caused by bytes from the network.
 * - `RemoteProtocolError`: bytes from the peer break the protocol (malformed
 *   packet, forbidden value, oversized frame). The decoder throws it; the engine
 *   turns it into a final `closed` event with the DISCONNECT already queued.
 *
 * Every error carries a stable `code` (listed in `ErrorCode`) and, where one fits,
 * the MQTT 5 reason code a DISCONNECT would carry. Messages may change between
 * versions; codes do not.
 */

import * as E from "./codes.js";

/** Stable error codes. Add new ones at the end (and to codes.ts, which the package itself reads); never rename. */
export const ErrorCode = {
  /** Packet type 0 (reserved), 15 before MQTT 5, or AUTH before MQTT 5. */
  PacketTypeInvalid: "ERR_PACKET_TYPE",
  /** Fixed header flag bits differ from the values the flags table fixes. [MQTT-2.1.3-1] */
  FixedHeaderFlags: "ERR_FIXED_HEADER_FLAGS",
  /** Variable byte integer longer than 4 bytes or not in its shortest form. [MQTT-1.5.5-1] */
  VarintMalformed: "ERR_VARINT",
  /** A packet larger than the maximum packet size. */
  PacketTooLarge: "ERR_PACKET_TOO_LARGE",
  /** A field runs past the end of the packet, or bytes are left over after the last field. */
  LengthMismatch: "ERR_LENGTH",
  /** A string is not well-formed UTF-8 (or holds a surrogate). [MQTT-1.5.4-1] */
  Utf8Invalid: "ERR_UTF8",
  /** A string holds U+0000. [MQTT-1.5.4-2] */
  Utf8Null: "ERR_UTF8_NULL",
  /** QoS 3, or a QoS above what the packet allows. [MQTT-3.3.1-4] */
  QosInvalid: "ERR_QOS",
  /** Invalid topic name: empty, wildcard, over 65,535 bytes. [MQTT-3.3.2-2] [MQTT-4.7.3-1] */
  TopicInvalid: "ERR_TOPIC",
  /** Invalid topic filter: misplaced wildcard, bad shared subscription. [MQTT-4.7.1-1] */
  TopicFilterInvalid: "ERR_TOPIC_FILTER",
  /** Packet identifier 0, missing, or present where the packet has none. [MQTT-2.2.1-2] */
  PacketIdInvalid: "ERR_PACKET_ID",
  /** A property identifier that MQTT 5 does not define. */
  PropertyUnknown: "ERR_PROPERTY_UNKNOWN",
  /** A property that this packet may not carry. */
  PropertyNotAllowed: "ERR_PROPERTY_NOT_ALLOWED",
  /** A single-value property included more than once. */
  PropertyDuplicate: "ERR_PROPERTY_DUPLICATE",
  /** A property value out of its range (receive maximum 0, topic alias 0, ...). */
  PropertyValue: "ERR_PROPERTY_VALUE",
  /** A reason code not valid for this packet (or this protocol version). */
  ReasonCodeInvalid: "ERR_REASON_CODE",
  /** CONNECT protocol name or level that this codec does not speak. [MQTT-3.1.2-1] */
  ProtocolInvalid: "ERR_PROTOCOL",
  /** CONNECT or CONNACK flags that break their rules. [MQTT-3.1.2-3] [MQTT-3.2.2-1] */
  FlagsInvalid: "ERR_FLAGS",
  /** SUBSCRIBE / UNSUBSCRIBE with no topic filter, or SUBACK with the wrong count. [MQTT-3.8.3-2] */
  Empty: "ERR_EMPTY",
  /** Subscription options with reserved bits, retain handling 3, or No Local on a shared subscription. */
  SubscriptionOptions: "ERR_SUBSCRIPTION_OPTIONS",
  /** A number outside the range of its field (keep alive over 65,535, ...). */
  ValueRange: "ERR_VALUE_RANGE",
  /** A field that this protocol version does not have (properties before MQTT 5, ...). */
  VersionMismatch: "ERR_VERSION",

  // Engine: the server broke the protocol.
  /** A packet the server may not send, or not in this state (PUBLISH before CONNACK, ...). */
  UnexpectedPacket: "ERR_UNEXPECTED_PACKET",
  /** A topic alias above our maximum, or one never mapped on this connection. */
  TopicAliasInvalid: "ERR_TOPIC_ALIAS",
  /** More unacknowledged QoS 1/2 PUBLISH than our Receive Maximum allows. */
  ReceiveMaximumExceeded: "ERR_RECEIVE_MAXIMUM",
  /** An acknowledgement that does not match its request (SUBACK count, ack type). */
  AckMismatch: "ERR_ACK_MISMATCH",
  /** CONNACK says a session is present although we asked for a clean one. */
  SessionPresentInvalid: "ERR_SESSION_PRESENT",
  /** AUTH that breaks the enhanced authentication rules (no method, another method). */
  AuthInvalid: "ERR_AUTH",

  // Engine: the caller misused the API (state unchanged).
  /** The command is not allowed in the connection's current state. */
  InvalidState: "ERR_STATE",
  /** The outgoing queue is full (the `maxQueued` option). */
  QueueFull: "ERR_QUEUE_FULL",
  /** The server said it does not support this (QoS above Maximum QoS, retain, wildcards, ...). */
  NotSupported: "ERR_NOT_SUPPORTED",
  /** Every packet identifier is in use. */
  PacketIdsExhausted: "ERR_PACKET_IDS_EXHAUSTED",
  /** An option or argument out of its range. */
  InvalidArgument: "ERR_ARGUMENT",
  /** An outgoing message's Message Expiry Interval passed before it could be sent (MQTT 5). */
  MessageExpired: "ERR_MESSAGE_EXPIRED",
  /**
   * The session was lost (clean start, or CONNACK session present 0) after a
   * QoS 2 message's PUBLISH was sent: the server may or may not have delivered
   * it, and it is not sent again, so it is never delivered twice.
   */
  SessionLost: "ERR_SESSION_LOST",
  /**
   * An outgoing message was given up after `maxSendAttempts` network
   * connections ended between its PUBLISH and the server's PUBACK / PUBREC.
   */
  SendAttemptsExhausted: "ERR_SEND_ATTEMPTS",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** MQTT 5 reason codes an error maps to when it ends a connection. */
export const MALFORMED_PACKET = 0x81;
export const PROTOCOL_ERROR = 0x82;
export const PACKET_TOO_LARGE = 0x95;

/**
 * The reason code each error code maps to when none is given, keyed by the
 * code itself (codes.ts's constants, so each code's string is written once):
 * a lookup by name would keep `ErrorCode` in every bundle.
 */
// prettier-ignore
const DEFAULT_REASONS: Readonly<Record<string, number>> = {
  [E.PacketTypeInvalid]: MALFORMED_PACKET, [E.FixedHeaderFlags]: MALFORMED_PACKET, [E.VarintMalformed]: MALFORMED_PACKET,
  [E.PacketTooLarge]: PACKET_TOO_LARGE, [E.LengthMismatch]: MALFORMED_PACKET, [E.Utf8Invalid]: MALFORMED_PACKET,
  [E.Utf8Null]: MALFORMED_PACKET, [E.QosInvalid]: MALFORMED_PACKET,
  [E.TopicInvalid]: PROTOCOL_ERROR, [E.TopicFilterInvalid]: PROTOCOL_ERROR, [E.PacketIdInvalid]: PROTOCOL_ERROR,
  [E.PropertyUnknown]: MALFORMED_PACKET, [E.PropertyNotAllowed]: MALFORMED_PACKET,
  [E.PropertyDuplicate]: PROTOCOL_ERROR, [E.PropertyValue]: PROTOCOL_ERROR,
  [E.ReasonCodeInvalid]: MALFORMED_PACKET, [E.ProtocolInvalid]: PROTOCOL_ERROR, [E.FlagsInvalid]: MALFORMED_PACKET, [E.Empty]: PROTOCOL_ERROR,
  [E.SubscriptionOptions]: MALFORMED_PACKET, [E.ValueRange]: MALFORMED_PACKET, [E.VersionMismatch]: MALFORMED_PACKET,
  [E.UnexpectedPacket]: PROTOCOL_ERROR, [E.TopicAliasInvalid]: 0x94, [E.ReceiveMaximumExceeded]: 0x93, [E.AckMismatch]: PROTOCOL_ERROR,
  [E.SessionPresentInvalid]: PROTOCOL_ERROR, [E.AuthInvalid]: PROTOCOL_ERROR,
  [E.InvalidState]: 0x83, [E.QueueFull]: 0x97, [E.NotSupported]: 0x83, [E.PacketIdsExhausted]: 0x83, [E.InvalidArgument]: 0x83,
  [E.MessageExpired]: 0x80, [E.SessionLost]: 0x80, [E.SendAttemptsExhausted]: 0x80,
};

/** The reason code an error code maps to when none is given. */
function defaultReason(code: ErrorCode): number | undefined {
  return DEFAULT_REASONS[code];
}

/** Base of every error this package raises on purpose. Anything else is a bug. */
export class MqttError extends Error {
  readonly code: string;
  /** The MQTT 5 reason code that fits, when one does (0x81, 0x82, 0x95, ...). */
  readonly reasonCode: number | undefined;
  constructor(code: string, message: string, reasonCode?: number) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.reasonCode = reasonCode;
  }
}

/** The caller broke the protocol or misused the API. State is unchanged. */
export class LocalProtocolError extends MqttError {}

/** The peer broke the protocol. */
export class RemoteProtocolError extends MqttError {}

/** Who is blamed for a codec rule: the peer when decoding, the caller when encoding. */
export type Blame = "remote" | "local";

/** Builds the error for a codec rule, blamed on whoever supplied the bytes or the packet. */
export function codecError(blame: Blame, code: ErrorCode, message: string, reasonCode?: number): MqttError {
  const rc = reasonCode ?? defaultReason(code);
  return blame === "remote" ? new RemoteProtocolError(code, message, rc) : new LocalProtocolError(code, message, rc);
}
