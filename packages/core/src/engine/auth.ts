/**
 * MQTT 5 enhanced authentication (4.12): the method named in CONNECT, the
 * exchange while connecting, and re-authentication once connected, which
 * only the client starts (4.12.1). Owns whether a re-authentication is in
 * progress; `reset` at every connect.
 */
import type { AuthPacket, Properties } from "../codec/types.js";
import type { AuthEvent } from "./events.js";
import { misuse, remote } from "./errors.js";
import * as RC from "../codec/rc.js";
import * as E from "../codes.js";

export class EnhancedAuth {
  /** We sent AUTH 0x19 and the server has not finished the re-authentication. */
  #reauthenticating = false;

  /** `method`: the CONNECT's Authentication Method, if it named one. */
  readonly #method: string | undefined;
  constructor(method: string | undefined) {
    this.#method = method;
  }

  reset(): void {
    this.#reauthenticating = false;
  }

  /**
   * The AUTH packet for the caller's `auth()`: 0x18 continues an exchange the
   * server started [MQTT-4.12.0-3], 0x19 re-authenticates when connected. The
   * method is the CONNECT's, filled in when left out [MQTT-4.12.0-5]. Throws
   * LocalProtocolError; `sent` records it once it went out.
   */
  request(state: "connecting" | "connected" | "other", options: { reasonCode: number; properties?: Properties }): AuthPacket {
    const method = this.#method;
    if (method === undefined) throw misuse(E.AuthInvalid, "AUTH needs an authentication method in CONNECT [MQTT-4.12.0-7]");
    const given = options.properties?.authenticationMethod;
    if (given !== undefined && given !== method) {
      throw misuse(E.AuthInvalid, "AUTH must use the CONNECT's authentication method [MQTT-4.12.1-1]");
    }
    const rc = options.reasonCode;
    const ok =
      (state === "connecting" && rc === RC.ContinueAuthentication) ||
      (state === "connected" && (rc === RC.ContinueAuthentication || rc === RC.ReAuthenticate));
    if (!ok) throw misuse(E.InvalidState, `AUTH 0x${rc.toString(16)} is not allowed while ${state}`);
    return { type: "auth", reasonCode: rc, properties: { ...options.properties, authenticationMethod: method } };
  }

  sent(p: AuthPacket): void {
    if (p.reasonCode === RC.ReAuthenticate) this.#reauthenticating = true;
  }

  /** The server's AUTH: the event for the caller, or RemoteProtocolError. */
  onAuth(p: AuthPacket, connected: boolean): AuthEvent {
    if (this.#method === undefined) throw remote(E.AuthInvalid, "AUTH from the server although CONNECT named no authentication method");
    if (p.properties?.authenticationMethod !== this.#method) {
      throw remote(E.AuthInvalid, "AUTH with another authentication method [MQTT-4.12.0-5]");
    }
    if (p.reasonCode === RC.ReAuthenticate || (p.reasonCode === 0 && !connected)) {
      throw remote(E.AuthInvalid, `AUTH reason 0x${p.reasonCode.toString(16)} from the server${connected ? "" : " before CONNACK"}`);
    }
    // Once connected, only the client starts a re-authentication (4.12.1).
    if (connected && !this.#reauthenticating) throw remote(E.AuthInvalid, "AUTH from the server without a re-authentication in progress");
    if (p.reasonCode === 0) this.#reauthenticating = false;
    return p.properties ? { type: "auth", reasonCode: p.reasonCode, properties: p.properties } : { type: "auth", reasonCode: p.reasonCode };
  }

  /** A CONNACK must name the CONNECT's method, or none when it named none [MQTT-4.12.0-5]. */
  checkConnack(props: Properties | undefined): void {
    if (props?.authenticationMethod !== this.#method) {
      throw remote(E.AuthInvalid, "CONNACK authentication method differs from CONNECT's [MQTT-4.12.0-5]");
    }
  }
}
