/**
 * The codec as the client engine uses it: it encodes only what a client
 * sends (CONNECT, PUBLISH, the acks, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
 * DISCONNECT, AUTH) and decodes only what a server sends (CONNACK, PUBLISH,
 * the acks, SUBACK, UNSUBACK, PINGRESP, DISCONNECT, AUTH). The same rows as
 * `@sansmqtt/core/codec` (encode.ts, decode.ts), so the two cannot disagree;
 * what the engine never needs stays out of its bundle. A packet of another
 * type is refused: ERR_PACKET_TYPE when encoding, ERR_UNEXPECTED_PACKET when
 * a server sends it.
 */
import { alloc } from "./bytes.js";
import { CLIENT_DECODERS } from "./decode.js";
import { type DecoderOptions, FrameDecoder } from "./decoder.js";
import { checkWith, CLIENT_ENCODERS, sizeWith, writeWith } from "./encode.js";
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
