/**
 * The codec as the client engine uses it: it encodes only what a client
 * sends (CONNECT, PUBLISH, the acks, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
 * DISCONNECT, AUTH) and decodes only what a server sends (CONNACK, PUBLISH,
 * the acks, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH). The same rows as
 * `@sansmqtt/core/codec` (encode.ts, decode.ts), so the two cannot disagree;
 * what the engine never needs stays out of its bundle. A packet of another
 * type is refused: ERR_PACKET_TYPE when encoding, ERR_UNEXPECTED_PACKET when
 * a server sends it. The functions have the names and signatures of
 * encode.ts's, so a module switches by its import path alone.
 */
import { alloc } from "./bytes.js";
import { CLIENT_DECODERS } from "./decode.js";
import { type DecoderOptions, FrameDecoder } from "./decoder.js";
import { CHUNKED_PAYLOAD_MIN, checkWith, CLIENT_ENCODERS, sizeWith, writeWith } from "./encode.js";

export { CHUNKED_PAYLOAD_MIN };
import type { Packet, ProtocolVersion } from "./types.js";

/** `checkPacket` (encode.ts) for the packets a client sends. */
export function checkPacket(packet: Packet, version: ProtocolVersion): number {
  return checkWith(CLIENT_ENCODERS, packet, version);
}

/** `packetSize` (encode.ts) for the packets a client sends. */
export function packetSize(packet: Packet, version: ProtocolVersion): number {
  return sizeWith(CLIENT_ENCODERS, packet, version);
}

/** `writePacket` (encode.ts) for the packets a client sends. */
export function writePacket(packet: Packet, version: ProtocolVersion, size: number = packetSize(packet, version)): Uint8Array {
  const buf = alloc(size);
  writeWith(CLIENT_ENCODERS, packet, version, size, buf, 0, size);
  return buf;
}

/** `writePacketInto` (encode.ts) for the packets a client sends. */
export function writePacketInto(packet: Packet, version: ProtocolVersion, size: number, buf: Uint8Array, offset: number, withPayload = true): void {
  const n = !withPayload && packet.type === "publish" ? size - packet.payload.length : size;
  writeWith(CLIENT_ENCODERS, packet, version, size, buf, offset, n);
}

/** `writePacketChunks` (encode.ts) for the packets a client sends. */
export function writePacketChunks(packet: Packet, version: ProtocolVersion, size: number = packetSize(packet, version)): Uint8Array[] {
  if (packet.type !== "publish" || packet.payload.length < CHUNKED_PAYLOAD_MIN) return [writePacket(packet, version, size)];
  const n = size - packet.payload.length;
  const head = alloc(n);
  writeWith(CLIENT_ENCODERS, packet, version, size, head, 0, n);
  return [head, packet.payload];
}

/** `encodePacket` (encode.ts) for the packets a client sends. */
export function encodePacket(packet: Packet, version: ProtocolVersion): Uint8Array {
  return writePacket(packet, version, checkPacket(packet, version));
}

/** The streaming decoder of the packets a server sends to a client. */
export class ClientDecoder extends FrameDecoder {
  constructor(options: DecoderOptions = {}) {
    super(options, CLIENT_DECODERS);
  }
}
