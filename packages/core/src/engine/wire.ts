/**
 * Putting packets in the output.
 */
import { encodePacket } from "../codec/client.js";
import type { Packet, ProtocolVersion } from "../codec/types.js";
import type { Outbox } from "./outbox.js";

type TrimmablePacket = Extract<Packet, { type: "puback" | "pubrec" | "pubrel" | "pubcomp" | "disconnect" | "auth" }>;

/**
 * Sends an ack, DISCONNECT or AUTH, leaving out the reason string and then
 * the user properties when they would make it larger than the server's
 * maximum packet size [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.14.2-3] [MQTT-3.14.2-4].
 */
export function sendTrimmed(out: Outbox, version: ProtocolVersion, max: number, p: TrimmablePacket): void {
  let bytes = encodePacket(p, version);
  if (bytes.length > max && p.properties !== undefined) {
    const { reasonString: _r, ...rest } = p.properties;
    bytes = encodePacket({ ...p, properties: rest }, version);
    if (bytes.length > max) {
      const { userProperties: _u, ...bare } = rest;
      bytes = encodePacket({ ...p, properties: bare }, version);
    }
  }
  // DISCONNECT and AUTH change nothing a session store keeps; an ack does.
  out.push(bytes, p.type !== "disconnect" && p.type !== "auth");
}

/** The longest reason string the engine puts in a DISCONNECT it sends on an error. */
const REASON_STRING_MAX = 160;

/**
 * The MQTT 5 DISCONNECT that ends a connection on an error (nothing before
 * MQTT 5), its reason string a short, clean version of `message` (at most
 * REASON_STRING_MAX characters, no control characters or surrogates: an
 * emoji becomes "??"), so it always encodes; sendTrimmed drops the string if
 * the server's limit is smaller.
 */
export function sendErrorDisconnect(out: Outbox, version: ProtocolVersion, max: number, reasonCode: number, message: string): void {
  if (version !== 5) return;
  const reasonString = message.slice(0, REASON_STRING_MAX).replace(/[\u0000-\u001f\u007f\ud800-\udfff]/g, "?");
  sendTrimmed(out, version, max, { type: "disconnect", reasonCode, properties: { reasonString } });
}
