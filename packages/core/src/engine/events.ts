/**
 * What the engine tells its caller, pulled one at a time with `pollEvent()`.
 * Plain readonly objects tagged by `type`.
 */
import type { MqttError, RemoteProtocolError } from "../errors.js";
import type { ConnackPacket, Properties, PublishPacket, QoS } from "../codec/types.js";
import type { TimerName } from "./timers.js";

/** Why a network connection ended. The session is kept in every case. */
export type CloseReason =
  /** CONNACK refused the connection (v5 reason code >= 0x80, or a 3.1.1 return code). */
  | { readonly kind: "refused"; readonly reasonCode: number; readonly connack: ConnackPacket }
  /** The server broke the protocol; a v5 DISCONNECT with `reasonCode` is queued. */
  | { readonly kind: "protocol-error"; readonly reasonCode: number; readonly error: RemoteProtocolError }
  /** No CONNACK, or no PINGRESP, in time (reason 0x8D Keep Alive timeout for the latter). */
  | { readonly kind: "timeout"; readonly timer: Exclude<TimerName, "keepalive">; readonly reasonCode: number }
  /** The server sent DISCONNECT. */
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

export type Event =
  | { readonly type: "connected"; readonly sessionPresent: boolean; readonly connack: ConnackPacket }
  /** An application message. In manual-ack mode, QoS 1/2 messages wait for `ack(packetId)`. */
  | { readonly type: "message"; readonly message: PublishPacket }
  /**
   * An outgoing message is done: QoS 0 handed to the output, QoS 1 PUBACK, QoS 2
   * PUBCOMP (or a PUBACK/PUBREC failure, reason >= 0x80). `error` is set when the
   * engine gave up on it (e.g. over the server's maximum packet size).
   */
  | {
      readonly type: "published";
      readonly mid: number;
      readonly qos: QoS;
      readonly reasonCode: number;
      readonly packetId?: number;
      readonly properties?: Properties;
      readonly error?: MqttError;
    }
  | {
      readonly type: "subscribed";
      readonly mid: number;
      readonly packetId: number;
      readonly reasonCodes: readonly number[];
      readonly properties?: Properties;
    }
  | {
      readonly type: "unsubscribed";
      readonly mid: number;
      readonly packetId: number;
      /** MQTT 5: one per filter; before MQTT 5, all 0 (success). */
      readonly reasonCodes: readonly number[];
      readonly properties?: Properties;
    }
  /** The server's AUTH (v5 enhanced authentication): answer with `auth()` when it says 0x18. */
  | { readonly type: "auth"; readonly reasonCode: number; readonly properties?: Properties }
  /** The network connection ended; close the socket once `dataToSend` is flushed. */
  | { readonly type: "closed"; readonly reason: CloseReason };
