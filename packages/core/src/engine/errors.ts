/**
 * The engine's two kinds of error, built one way: who broke the protocol
 * (the caller: LocalProtocolError; the server: RemoteProtocolError), a stable
 * code, and the reason code that fits (the code's default when not given).
 */
import { codecError, type ErrorCode, type LocalProtocolError, type RemoteProtocolError } from "../errors.js";

/** The caller misused the API: thrown by the command, before anything changes. */
export function misuse(code: ErrorCode, message: string, reasonCode?: number): LocalProtocolError {
  return codecError("local", code, message, reasonCode) as LocalProtocolError;
}

/** The server broke the protocol: the connection ends with this error. */
export function remote(code: ErrorCode, message: string, reasonCode?: number): RemoteProtocolError {
  return codecError("remote", code, message, reasonCode) as RemoteProtocolError;
}

/**
 * Why a PUBLISH the client would send is refused when it carries a
 * subscription identifier [MQTT-3.3.4-6] (the codec allows one: a server's
 * PUBLISH may carry it); publish and an imported session say it alike.
 */
export const PUBLISH_SUBSCRIPTION_ID = "a client PUBLISH never carries a subscription identifier [MQTT-3.3.4-6]";
