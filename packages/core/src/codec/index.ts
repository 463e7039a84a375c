/**
 * @sansmqtt/core/codec: every MQTT 3.1 / 3.1.1 / 5.0 packet both ways, for
 * code that works with packets rather than with a session (brokers, proxies,
 * tools, fuzzers). The client engine is the package's root export.
 *
 * - `encodePacket(packet, version)`: validates and writes (LocalProtocolError).
 * - `checkPacket` then `writePacket` (or `writePacketChunks`): validate once,
 *   write a checked packet later, cheaply and without failing.
 * - `PacketDecoder`: any chunking in, whole packets out (RemoteProtocolError).
 */
export * from "./types.js";
export { encodePacket, checkPacket, packetSize, writePacket, writePacketInto, writePacketChunks, CHUNKED_PAYLOAD_MIN } from "./encode.js";
export { PacketDecoder, decodePacket, MQTT_MAX_PACKET_SIZE, type DecoderOptions } from "./decoder.js";
export { PROPERTY_TABLE, isPropertyAllowed, type PropertyContext } from "./properties.js";
