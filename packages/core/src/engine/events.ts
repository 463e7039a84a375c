/**
 * What the engine tells its caller, pulled one at a time with `pollEvent(now)`.
 * Plain readonly objects tagged by `type`; each has a named type.
 *
 * `mid` is the engine's own message id: `publish`, `subscribe` and
 * `unsubscribe` return it, and the event that ends the request carries it
 * (Paho's `mid`). It counts up for the life of the session and never repeats.
 * `packetId` is the MQTT Packet Identifier on the wire (1..65535, reused once
 * an exchange is over); QoS 0 messages have none.
 */
import type { MqttError, RemoteProtocolError } from "../errors.js";
import type { Properties, QoS } from "../codec/types.js";

/** Why a network connection ended. The session is kept in every case. */
export type CloseReason =
  /** CONNACK refused the connection (MQTT 5 reason code >= 0x80, or a 3.1/3.1.1 return code 1..5). */
  | { readonly kind: "refused"; readonly reasonCode: number; readonly properties?: Properties }
  /** The server broke the protocol; an MQTT 5 DISCONNECT with `reasonCode` is queued. */
  | { readonly kind: "protocol-error"; readonly reasonCode: number; readonly error: RemoteProtocolError }
  /** No CONNACK, or no PINGRESP, in time (reason 0x8D Keep Alive timeout for the latter). */
  | { readonly kind: "timeout"; readonly timer: "connack" | "pingresp"; readonly reasonCode: number }
  /** The server sent DISCONNECT (MQTT 5). */
  | { readonly kind: "server-disconnect"; readonly reasonCode: number; readonly properties?: Properties }
  /** The caller reported the transport gone (`connectionLost`). */
  | { readonly kind: "transport"; readonly reasonCode: number; readonly cause?: unknown }
  /** The caller disconnected; the DISCONNECT is queued. */
  | { readonly kind: "local"; readonly reasonCode: number }
  /**
   * A bug in the engine surfaced while it handled the server's bytes (never a
   * server's fault, never expected): the connection ends with DISCONNECT 0x83
   * (MQTT 5) instead of the error escaping `pollEvent`. Please report it.
   */
  | { readonly kind: "internal-error"; readonly reasonCode: number; readonly error: unknown };

/** The server accepted the connection (CONNACK 0). */
export interface ConnectedEvent {
  readonly type: "connected";
  /** The server resumed the session this engine holds [MQTT-3.2.2-2]; false: it starts a new one. */
  readonly sessionPresent: boolean;
  /** Always 0 (Success); refusals end in `closed` with kind "refused". */
  readonly reasonCode: number;
  /** MQTT 5 CONNACK properties (what `serverLimits` is made of, assigned client id, ...). */
  readonly properties?: Properties;
}

/**
 * An application message from the server. Its `payload` is a view of bytes
 * the caller pushed with `receiveData` (or of the engine's own buffer for a
 * message that arrived in small pieces): the engine owns every chunk it is
 * given, so do not reuse a chunk after pushing it. Copy the payload to keep
 * it past your own reuse of memory.
 * In manual-ack mode, a QoS 1/2 message waits for `ack(now, packetId)`.
 */
export interface MessageEvent {
  readonly type: "message";
  /** The topic name, resolved from a topic alias when the server used one. */
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: QoS;
  readonly retain: boolean;
  /** The server says it may have sent this message before [MQTT-3.3.1-1]. */
  readonly dup: boolean;
  /** QoS 1/2: the packet id to `ack` in manual-ack mode. */
  readonly packetId?: number;
  /** MQTT 5 properties: expiry, content type, response topic, correlation data, user properties, subscription ids, ... */
  readonly properties?: Properties;
}

/**
 * One of our messages is done: QoS 0 when its bytes were handed out by
 * `pollTransmit`, QoS 1 at PUBACK, QoS 2 at PUBCOMP; or it failed
 * (`reasonCode` >= 0x80: the server refused it, or `error` says why the
 * engine gave up: too large for the server, expired, the session was lost
 * (ERR_SESSION_LOST for a QoS 2 message that may have been delivered),
 * `maxSendAttempts` used up (ERR_SEND_ATTEMPTS), the connection ended before
 * a QoS 0 message left).
 */
export interface PublishedEvent {
  readonly type: "published";
  readonly mid: number;
  /** What the caller attached to `publish` (not kept across `exportSession`). */
  readonly token?: unknown;
  readonly qos: QoS;
  readonly reasonCode: number;
  readonly packetId?: number;
  /** MQTT 5 properties of the PUBACK / PUBREC / PUBCOMP. */
  readonly properties?: Properties;
  readonly error?: MqttError;
}

/** A SUBSCRIBE is answered: one reason code per filter (granted QoS, or >= 0x80). */
export interface SubscribedEvent {
  readonly type: "subscribed";
  readonly mid: number;
  readonly packetId: number;
  readonly reasonCodes: readonly number[];
  readonly properties?: Properties;
  /** Set when the engine did not send it (too large, or the server does not support what it asks). */
  readonly error?: MqttError;
}

/** An UNSUBSCRIBE is answered. MQTT 5: one reason code per filter; before MQTT 5, all 0 (success). */
export interface UnsubscribedEvent {
  readonly type: "unsubscribed";
  readonly mid: number;
  readonly packetId: number;
  readonly reasonCodes: readonly number[];
  readonly properties?: Properties;
  readonly error?: MqttError;
}

/** The server's AUTH (MQTT 5 enhanced authentication): answer with `auth()` when it says 0x18. */
export interface AuthEvent {
  readonly type: "auth";
  readonly reasonCode: number;
  readonly properties?: Properties;
}

/** The network connection ended; write what `pollTransmit` still gives, then close the socket. */
export interface ClosedEvent {
  readonly type: "closed";
  readonly reason: CloseReason;
}

export type Event = ConnectedEvent | MessageEvent | PublishedEvent | SubscribedEvent | UnsubscribedEvent | AuthEvent | ClosedEvent;
