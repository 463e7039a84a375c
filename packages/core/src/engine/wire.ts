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
