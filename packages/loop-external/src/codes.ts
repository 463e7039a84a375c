/**
 * Paho's MQTT_ERR_* result codes (paho.mqtt.client.MQTTErrorCode), with the
 * same names and numbers, so code ported from Paho compares results the way it
 * did. Our own typed errors (`MqttError.code`, `TransportError.code`) say more;
 * `resultOf` maps them onto these.
 */
import { ErrorCode, MqttError, TransportError, TransportErrorCode, type CloseReason } from "@sansmqtt/core";

export const MQTT_ERR_AGAIN = -1;
export const MQTT_ERR_SUCCESS = 0;
export const MQTT_ERR_NOMEM = 1;
export const MQTT_ERR_PROTOCOL = 2;
export const MQTT_ERR_INVAL = 3;
export const MQTT_ERR_NO_CONN = 4;
export const MQTT_ERR_CONN_REFUSED = 5;
export const MQTT_ERR_NOT_FOUND = 6;
export const MQTT_ERR_CONN_LOST = 7;
export const MQTT_ERR_TLS = 8;
export const MQTT_ERR_PAYLOAD_SIZE = 9;
export const MQTT_ERR_NOT_SUPPORTED = 10;
export const MQTT_ERR_AUTH = 11;
export const MQTT_ERR_ACL_DENIED = 12;
export const MQTT_ERR_UNKNOWN = 13;
export const MQTT_ERR_ERRNO = 14;
export const MQTT_ERR_QUEUE_SIZE = 15;
export const MQTT_ERR_KEEPALIVE = 16;

/** One of Paho's MQTT_ERR_* numbers. */
export type MqttErrorCode =
  | typeof MQTT_ERR_AGAIN
  | typeof MQTT_ERR_SUCCESS
  | typeof MQTT_ERR_NOMEM
  | typeof MQTT_ERR_PROTOCOL
  | typeof MQTT_ERR_INVAL
  | typeof MQTT_ERR_NO_CONN
  | typeof MQTT_ERR_CONN_REFUSED
  | typeof MQTT_ERR_NOT_FOUND
  | typeof MQTT_ERR_CONN_LOST
  | typeof MQTT_ERR_TLS
  | typeof MQTT_ERR_PAYLOAD_SIZE
  | typeof MQTT_ERR_NOT_SUPPORTED
  | typeof MQTT_ERR_AUTH
  | typeof MQTT_ERR_ACL_DENIED
  | typeof MQTT_ERR_UNKNOWN
  | typeof MQTT_ERR_ERRNO
  | typeof MQTT_ERR_QUEUE_SIZE
  | typeof MQTT_ERR_KEEPALIVE;

const TEXT: Record<number, string> = {
  [MQTT_ERR_AGAIN]: "Try again later.",
  [MQTT_ERR_SUCCESS]: "No error.",
  [MQTT_ERR_NOMEM]: "Out of memory.",
  [MQTT_ERR_PROTOCOL]: "The broker broke the MQTT protocol, or we were asked to.",
  [MQTT_ERR_INVAL]: "Invalid arguments.",
  [MQTT_ERR_NO_CONN]: "Not connected.",
  [MQTT_ERR_CONN_REFUSED]: "The broker refused the connection.",
  [MQTT_ERR_NOT_FOUND]: "Not found.",
  [MQTT_ERR_CONN_LOST]: "The connection was lost.",
  [MQTT_ERR_TLS]: "TLS failed.",
  [MQTT_ERR_PAYLOAD_SIZE]: "The packet is larger than allowed.",
  [MQTT_ERR_NOT_SUPPORTED]: "The broker does not support this.",
  [MQTT_ERR_AUTH]: "Authentication failed.",
  [MQTT_ERR_ACL_DENIED]: "Not authorized.",
  [MQTT_ERR_UNKNOWN]: "Unknown error.",
  [MQTT_ERR_ERRNO]: "A system call failed.",
  [MQTT_ERR_QUEUE_SIZE]: "The outgoing queue is full.",
  [MQTT_ERR_KEEPALIVE]: "No traffic within the keep alive interval.",
};

/** A short English text for a result code (Paho's `error_string`). */
export function errorString(rc: number): string {
  return TEXT[rc] ?? "Unknown error.";
}

const TLS_CODES: ReadonlySet<string> = new Set([
  TransportErrorCode.TlsUnknownCa,
  TransportErrorCode.TlsHostname,
  TransportErrorCode.TlsCertExpired,
  TransportErrorCode.TlsCertInvalid,
  TransportErrorCode.TlsCertRequired,
  TransportErrorCode.TlsHandshake,
  TransportErrorCode.TlsHandshakeTimeout,
]);

/**
 * The Paho result code for one of our errors: a command's `MqttError`, a
 * `TransportError`, or anything else (MQTT_ERR_UNKNOWN).
 */
export function resultOfError(error: unknown): MqttErrorCode {
  if (error instanceof TransportError) {
    if (TLS_CODES.has(error.code)) return MQTT_ERR_TLS;
    if (error.code === TransportErrorCode.Refused) return MQTT_ERR_CONN_REFUSED;
    if (error.code === TransportErrorCode.Config) return MQTT_ERR_INVAL;
    return MQTT_ERR_CONN_LOST;
  }
  if (error instanceof MqttError) {
    switch (error.code) {
      case ErrorCode.QueueFull:
        return MQTT_ERR_QUEUE_SIZE;
      case ErrorCode.PacketTooLarge:
        return MQTT_ERR_PAYLOAD_SIZE;
      case ErrorCode.NotSupported:
        return MQTT_ERR_NOT_SUPPORTED;
      case ErrorCode.InvalidState:
        return MQTT_ERR_NO_CONN;
      case ErrorCode.PacketIdsExhausted:
        return MQTT_ERR_NOMEM;
      default:
        // Every other command error is an argument the protocol forbids.
        return MQTT_ERR_INVAL;
    }
  }
  return MQTT_ERR_UNKNOWN;
}

/** The Paho result code a loop call returns for the way a connection ended. */
export function resultOfClose(reason: CloseReason): MqttErrorCode {
  switch (reason.kind) {
    case "local":
      return MQTT_ERR_SUCCESS;
    case "refused":
      // Paho's loop_read returns CONN_REFUSED for every refusing CONNACK, bad credentials included.
      return MQTT_ERR_CONN_REFUSED;
    case "protocol-error":
      return MQTT_ERR_PROTOCOL;
    case "timeout":
      return MQTT_ERR_KEEPALIVE;
    case "server-disconnect":
      return MQTT_ERR_CONN_LOST;
    case "transport":
      return reason.cause === undefined ? MQTT_ERR_CONN_LOST : resultOfError(reason.cause);
    case "internal-error":
      return MQTT_ERR_UNKNOWN;
  }
}
