/**
 * Every validation rule of the codec, both ways:
 * - malformed bytes → RemoteProtocolError with a stable `code` and the MQTT 5
 *   reason code a DISCONNECT would carry;
 * - invalid packets handed to the encoder → LocalProtocolError with its `code`.
 * Plus the streaming decoder's own rules: oversized frames rejected from the
 * fixed header alone, non-shortest varints, and staying failed after an error.
 */
import { describe, expect, it } from "vitest";
import { decodePacket, encodePacket, type Packet, PacketDecoder } from "../src/codec/index.js";
import { ClientDecoder } from "../src/codec/client.js";
import { ErrorCode, LocalProtocolError, MqttError, type ProtocolVersion, RemoteProtocolError } from "../src/index.js";

/** "30 02 00 00" → bytes. */
export function h(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`bad hex ${s}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function hexOf(s: string): string {
  return Array.from(new TextEncoder().encode(s), (b) => b.toString(16).padStart(2, "0")).join(" ");
}

const MALFORMED = 0x81;
const PROTOCOL = 0x82;
const UNSUPPORTED_VERSION = 0x84;
const TOO_LARGE = 0x95;
const CLIENT_ID_NOT_VALID = 0x85;

interface DecodeCase {
  name: string;
  version: ProtocolVersion;
  hex: string;
  code: string;
  reasonCode: number;
}

const MQTT = "00 04 4d 51 54 54";
const MQISDP = "00 06 4d 51 49 73 64 70";

// prettier-ignore
const DECODE_CASES: DecodeCase[] = [
  // ── packet type and fixed header flags [MQTT-2.1.3-1] ──
  { name: "packet type 0 (reserved)", version: 4, hex: "00 00", code: ErrorCode.PacketTypeInvalid, reasonCode: MALFORMED },
  { name: "packet type 15 in 3.1.1", version: 4, hex: "f0 00", code: ErrorCode.PacketTypeInvalid, reasonCode: MALFORMED },
  { name: "packet type 15 in 3.1", version: 3, hex: "f0 00", code: ErrorCode.PacketTypeInvalid, reasonCode: MALFORMED },
  ...([
    ["CONNECT", "11"], ["CONNACK", "28"], ["PUBACK", "42"], ["PUBREC", "51"], ["PUBREL", "60"], ["PUBREL", "63"],
    ["PUBREL", "6a"], ["PUBCOMP", "7f"], ["SUBSCRIBE", "80"], ["SUBSCRIBE", "8a"], ["SUBACK", "92"],
    ["UNSUBSCRIBE", "a0"], ["UNSUBSCRIBE", "a3"], ["UNSUBACK", "b4"], ["PINGREQ", "c1"], ["PINGRESP", "d8"],
    ["DISCONNECT", "e2"], ["AUTH", "f1"], ["AUTH", "f8"],
  ] as const).map(([t, b0]): DecodeCase => ({
    name: `${t} with first byte 0x${b0}`, version: 5, hex: `${b0} 00`, code: ErrorCode.FixedHeaderFlags, reasonCode: MALFORMED,
  })),
  { name: "DISCONNECT flags in 3.1.1", version: 4, hex: "e1 00", code: ErrorCode.FixedHeaderFlags, reasonCode: MALFORMED },
  { name: "PUBLISH QoS 3", version: 4, hex: "36 05 00 01 74 00 01", code: ErrorCode.QosInvalid, reasonCode: MALFORMED },
  { name: "PUBLISH QoS 3 (5.0)", version: 5, hex: "37 06 00 01 74 00 01 00", code: ErrorCode.QosInvalid, reasonCode: MALFORMED },
  { name: "PUBLISH QoS 0 with DUP", version: 4, hex: "38 03 00 01 74", code: ErrorCode.FixedHeaderFlags, reasonCode: MALFORMED },

  // ── remaining length [MQTT-1.5.5-1] ──
  { name: "remaining length of 5 bytes", version: 4, hex: "30 ff ff ff ff 01", code: ErrorCode.VarintMalformed, reasonCode: MALFORMED },
  { name: "remaining length 0 in 2 bytes", version: 4, hex: "c0 80 00", code: ErrorCode.VarintMalformed, reasonCode: MALFORMED },
  { name: "remaining length 3 in 2 bytes", version: 4, hex: "30 83 00 00 01 74", code: ErrorCode.VarintMalformed, reasonCode: MALFORMED },
  { name: "remaining length 0 in 4 bytes", version: 4, hex: "c0 80 80 80 00", code: ErrorCode.VarintMalformed, reasonCode: MALFORMED },

  // ── lengths: fields past the end, bytes left over ──
  { name: "PINGREQ with a body", version: 4, hex: "c0 01 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "PINGRESP with a body", version: 5, hex: "d0 01 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "DISCONNECT with a body in 3.1.1", version: 4, hex: "e0 01 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "DISCONNECT with bytes after the properties", version: 5, hex: "e0 03 00 00 ff", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "PUBACK of 3 bytes in 3.1.1", version: 4, hex: "40 03 00 01 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "PUBACK of 1 byte", version: 5, hex: "40 01 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "PUBREL with bytes after the properties", version: 5, hex: "62 05 00 01 00 00 ff", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNACK of 3 bytes in 3.1.1", version: 4, hex: "20 03 00 00 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNACK without Property Length in 5.0", version: 5, hex: "20 02 00 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNACK of 1 byte", version: 4, hex: "20 01 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "UNSUBACK with reason codes in 3.1.1", version: 4, hex: "b0 03 00 01 00", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "PUBLISH topic length past the end", version: 4, hex: "30 03 00 05 61", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "PUBLISH QoS 1 without packet identifier", version: 4, hex: "32 03 00 01 74", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "PUBLISH without Property Length in 5.0", version: 5, hex: "30 03 00 01 74", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNECT cut before the flags", version: 4, hex: `10 07 ${MQTT} 04`, code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNECT without client identifier", version: 4, hex: `10 0a ${MQTT} 04 02 00 3c`, code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNECT with a byte left over", version: 4, hex: `10 0e ${MQTT} 04 02 00 3c 00 01 63 ff`, code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNECT with the will flag and no will fields", version: 4, hex: `10 0d ${MQTT} 04 06 00 3c 00 01 63`, code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNECT with the user name flag and no user name", version: 4, hex: `10 0d ${MQTT} 04 82 00 3c 00 01 63`, code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "CONNECT with the password flag and no password", version: 5, hex: `10 0e ${MQTT} 05 42 00 3c 00 00 01 63`, code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "Property Length past the end of the packet", version: 5, hex: "40 04 00 01 00 05", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "property overrunning its property list", version: 5, hex: "30 07 00 01 74 02 23 00 03", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "AUTH with a reason code and no Property Length", version: 5, hex: "f0 01 18", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },
  { name: "binary property length past its list", version: 5, hex: "30 08 00 01 74 04 09 00 05 01", code: ErrorCode.LengthMismatch, reasonCode: MALFORMED },

  // ── UTF-8 [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.7-1] ──
  { name: "topic with byte 0xFF", version: 4, hex: "30 04 00 02 61 ff", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "topic with an encoded surrogate U+D800", version: 4, hex: "30 05 00 03 ed a0 80", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "topic with an encoded surrogate U+DFFF", version: 5, hex: "30 06 00 03 ed bf bf 00", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "topic with an overlong '/'", version: 4, hex: "30 04 00 02 c0 af", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "topic with a cut multibyte sequence", version: 4, hex: "30 04 00 02 e2 82", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "topic above U+10FFFF", version: 4, hex: "30 06 00 04 f4 90 80 80", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "topic with U+0000", version: 4, hex: "30 04 00 02 61 00", code: ErrorCode.Utf8Null, reasonCode: MALFORMED },
  { name: "client identifier with U+0000", version: 4, hex: `10 0e ${MQTT} 04 02 00 3c 00 02 63 00`, code: ErrorCode.Utf8Null, reasonCode: MALFORMED },
  { name: "client identifier with byte 0xFE", version: 3, hex: `10 0f ${MQISDP} 03 02 00 3c 00 01 fe`, code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "user name with an encoded surrogate", version: 4, hex: `10 12 ${MQTT} 04 82 00 3c 00 01 63 00 03 ed a0 80`, code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "will topic with byte 0xFF", version: 4, hex: `10 12 ${MQTT} 04 06 00 3c 00 01 63 00 01 ff 00 00`, code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "user property name with byte 0xFF", version: 5, hex: "30 0b 00 01 74 07 26 00 01 ff 00 01 76", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "user property value with byte 0xFF", version: 5, hex: "30 0b 00 01 74 07 26 00 01 6b 00 01 ff", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "user property name with U+0000", version: 5, hex: "30 0b 00 01 74 07 26 00 01 00 00 01 76", code: ErrorCode.Utf8Null, reasonCode: MALFORMED },
  { name: "user property value with U+0000", version: 5, hex: "30 0b 00 01 74 07 26 00 01 6b 00 01 00", code: ErrorCode.Utf8Null, reasonCode: MALFORMED },
  { name: "content type with byte 0xC0", version: 5, hex: "30 08 00 01 74 04 03 00 01 c0", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "reason string with U+0000", version: 5, hex: "40 08 00 01 00 04 1f 00 01 00", code: ErrorCode.Utf8Null, reasonCode: MALFORMED },
  { name: "SUBSCRIBE topic filter with byte 0xFF", version: 4, hex: "82 06 00 01 00 01 ff 00", code: ErrorCode.Utf8Invalid, reasonCode: MALFORMED },
  { name: "UNSUBSCRIBE topic filter with U+0000", version: 4, hex: "a2 05 00 01 00 01 00", code: ErrorCode.Utf8Null, reasonCode: MALFORMED },

  // ── topic names [MQTT-3.3.2-2] [MQTT-4.7.3-1] ──
  { name: "PUBLISH topic with '+'", version: 4, hex: "30 05 00 03 61 2f 2b", code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },
  { name: "PUBLISH topic '#'", version: 5, hex: "30 04 00 01 23 00", code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },
  { name: "PUBLISH empty topic in 3.1.1", version: 4, hex: "30 02 00 00", code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },
  { name: "PUBLISH empty topic without topic alias", version: 5, hex: "30 03 00 00 00", code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },
  { name: "PUBLISH empty topic with properties but no topic alias", version: 5, hex: "30 05 00 00 02 01 01", code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },
  { name: "will topic '#'", version: 4, hex: `10 12 ${MQTT} 04 06 00 3c 00 01 63 00 01 23 00 00`, code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },
  { name: "empty will topic", version: 5, hex: `10 12 ${MQTT} 05 06 00 3c 00 00 01 63 00 00 00 00 00`, code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },
  { name: "response topic with '#'", version: 5, hex: "30 08 00 01 74 04 08 00 01 23", code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },
  { name: "will response topic with '+'", version: 5, hex: `10 17 ${MQTT} 05 06 00 3c 00 00 01 63 04 08 00 01 2b 00 01 77 00 00`, code: ErrorCode.TopicInvalid, reasonCode: PROTOCOL },

  // ── topic filters [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1] [MQTT-4.8.2-2] ──
  { name: "SUBSCRIBE filter 'a/#/b'", version: 4, hex: "82 0a 00 01 00 05 61 2f 23 2f 62 00", code: ErrorCode.TopicFilterInvalid, reasonCode: PROTOCOL },
  { name: "SUBSCRIBE filter 'a+'", version: 4, hex: "82 07 00 01 00 02 61 2b 00", code: ErrorCode.TopicFilterInvalid, reasonCode: PROTOCOL },
  { name: "SUBSCRIBE empty filter", version: 4, hex: "82 05 00 01 00 00 00", code: ErrorCode.TopicFilterInvalid, reasonCode: PROTOCOL },
  { name: "SUBSCRIBE '$share/g' without a filter", version: 5, hex: `82 0e 00 01 00 00 08 ${hexOf("$share/g")} 00`, code: ErrorCode.TopicFilterInvalid, reasonCode: PROTOCOL },
  { name: "SUBSCRIBE '$share//a' (empty share name)", version: 5, hex: `82 0f 00 01 00 00 09 ${hexOf("$share//a")} 00`, code: ErrorCode.TopicFilterInvalid, reasonCode: PROTOCOL },
  { name: "SUBSCRIBE '$share/+/a' (wildcard share name)", version: 5, hex: `82 10 00 01 00 00 0a ${hexOf("$share/+/a")} 00`, code: ErrorCode.TopicFilterInvalid, reasonCode: PROTOCOL },
  { name: "UNSUBSCRIBE filter 'a#'", version: 4, hex: "a2 06 00 01 00 02 61 23", code: ErrorCode.TopicFilterInvalid, reasonCode: PROTOCOL },
  { name: "UNSUBSCRIBE empty filter", version: 5, hex: "a2 05 00 01 00 00 00", code: ErrorCode.TopicFilterInvalid, reasonCode: PROTOCOL },

  // ── packet identifiers [MQTT-2.2.1-3] / 3.1.1 [MQTT-2.3.1-1] ──
  { name: "PUBLISH QoS 1 with packet identifier 0", version: 4, hex: "32 05 00 01 74 00 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "PUBLISH QoS 2 with packet identifier 0", version: 5, hex: "34 06 00 01 74 00 00 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "PUBACK with packet identifier 0", version: 4, hex: "40 02 00 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "PUBREC with packet identifier 0", version: 5, hex: "50 02 00 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "PUBREL with packet identifier 0", version: 4, hex: "62 02 00 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "PUBCOMP with packet identifier 0", version: 3, hex: "70 02 00 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "SUBSCRIBE with packet identifier 0", version: 4, hex: "82 06 00 00 00 01 74 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "SUBACK with packet identifier 0", version: 4, hex: "90 03 00 00 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "UNSUBSCRIBE with packet identifier 0", version: 4, hex: "a2 05 00 00 00 01 74", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },
  { name: "UNSUBACK with packet identifier 0", version: 5, hex: "b0 04 00 00 00 00", code: ErrorCode.PacketIdInvalid, reasonCode: PROTOCOL },

  // ── properties (5.0, 2.2.2.2) ──
  { name: "unknown property 0x05", version: 5, hex: "30 06 00 01 74 02 05 00", code: ErrorCode.PropertyUnknown, reasonCode: MALFORMED },
  { name: "unknown property 128 (two-byte identifier)", version: 5, hex: "30 07 00 01 74 03 80 01 00", code: ErrorCode.PropertyUnknown, reasonCode: MALFORMED },
  { name: "property identifier not in its shortest form", version: 5, hex: "30 07 00 01 74 03 81 00 00", code: ErrorCode.VarintMalformed, reasonCode: MALFORMED },
  { name: "Property Length not in its shortest form", version: 5, hex: "30 05 00 01 74 80 00", code: ErrorCode.VarintMalformed, reasonCode: MALFORMED },
  { name: "Property Length longer than 4 bytes", version: 5, hex: "30 08 00 01 74 80 80 80 80 00", code: ErrorCode.VarintMalformed, reasonCode: MALFORMED },
  { name: "subscription identifier not in its shortest form", version: 5, hex: "30 07 00 01 74 03 0b 80 00", code: ErrorCode.VarintMalformed, reasonCode: MALFORMED },
  { name: "topic alias in CONNACK", version: 5, hex: "20 06 00 00 03 23 00 01", code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "session expiry interval in PUBLISH", version: 5, hex: "30 09 00 01 74 05 11 00 00 00 00", code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "reason string in PUBLISH", version: 5, hex: "30 08 00 01 74 04 1f 00 01 78", code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "will delay interval in CONNECT properties", version: 5, hex: `10 13 ${MQTT} 05 02 00 3c 05 18 00 00 00 00 00 01 63`, code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "session expiry interval in will properties", version: 5, hex: `10 19 ${MQTT} 05 06 00 3c 00 00 01 63 05 11 00 00 00 00 00 01 77 00 00`, code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "subscription identifier in SUBACK", version: 5, hex: "90 06 00 01 02 0b 01 00", code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "authentication method in DISCONNECT", version: 5, hex: "e0 06 00 04 15 00 01 4d", code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "server reference in AUTH", version: 5, hex: "f0 06 18 04 1c 00 01 73", code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "topic alias in PUBACK", version: 5, hex: "40 07 00 01 00 03 23 00 01", code: ErrorCode.PropertyNotAllowed, reasonCode: MALFORMED },
  { name: "content type twice", version: 5, hex: "30 0c 00 01 74 08 03 00 01 78 03 00 01 79", code: ErrorCode.PropertyDuplicate, reasonCode: PROTOCOL },
  { name: "topic alias twice", version: 5, hex: "30 0a 00 01 74 06 23 00 01 23 00 02", code: ErrorCode.PropertyDuplicate, reasonCode: PROTOCOL },
  { name: "receive maximum twice in CONNACK", version: 5, hex: "20 09 00 00 06 21 00 01 21 00 02", code: ErrorCode.PropertyDuplicate, reasonCode: PROTOCOL },
  { name: "reason string twice in DISCONNECT", version: 5, hex: "e0 0a 80 08 1f 00 01 61 1f 00 01 62", code: ErrorCode.PropertyDuplicate, reasonCode: PROTOCOL },
  { name: "two subscription identifiers in SUBSCRIBE", version: 5, hex: "82 0b 00 01 04 0b 01 0b 02 00 01 74 00", code: ErrorCode.PropertyDuplicate, reasonCode: PROTOCOL },
  { name: "receive maximum 0", version: 5, hex: "20 06 00 00 03 21 00 00", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "maximum packet size 0", version: 5, hex: "20 08 00 00 05 27 00 00 00 00", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "topic alias 0 (0x94 Topic Alias invalid)", version: 5, hex: "30 07 00 01 74 03 23 00 00", code: ErrorCode.TopicAliasInvalid, reasonCode: 0x94 },
  { name: "subscription identifier 0 in PUBLISH", version: 5, hex: "30 06 00 01 74 02 0b 00", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "subscription identifier 0 in SUBSCRIBE", version: 5, hex: "82 08 00 01 02 0b 00 00 01 74 00", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "maximum QoS 2", version: 5, hex: "20 05 00 00 02 24 02", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "retain available 2", version: 5, hex: "20 05 00 00 02 25 02", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "wildcard subscription available 2", version: 5, hex: "20 05 00 00 02 28 02", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "subscription identifiers available 2", version: 5, hex: "20 05 00 00 02 29 02", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "shared subscription available 2", version: 5, hex: "20 05 00 00 02 2a 02", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "payload format indicator 2", version: 5, hex: "30 06 00 01 74 02 01 02", code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "request problem information 2", version: 5, hex: `10 10 ${MQTT} 05 02 00 3c 02 17 02 00 01 63`, code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },
  { name: "request response information 2", version: 5, hex: `10 10 ${MQTT} 05 02 00 3c 02 19 02 00 01 63`, code: ErrorCode.PropertyValue, reasonCode: PROTOCOL },

  // ── reason codes ──
  { name: "CONNACK return code 6 in 3.1.1", version: 4, hex: "20 02 00 06", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "CONNACK return code 0x80 in 3.1", version: 3, hex: "20 02 00 80", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "CONNACK reason code 0x01", version: 5, hex: "20 03 00 01 00", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "CONNACK reason code 0x8b (DISCONNECT only)", version: 5, hex: "20 03 00 8b 00", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "PUBACK reason code 0x92", version: 5, hex: "40 03 00 01 92", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "PUBREC reason code 0x04", version: 5, hex: "50 03 00 01 04", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "PUBREL reason code 0x10", version: 5, hex: "62 03 00 01 10", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "PUBCOMP reason code 0x80", version: 5, hex: "70 03 00 01 80", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "SUBACK return code 0x03 in 3.1.1", version: 4, hex: "90 03 00 01 03", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "SUBACK return code 0x81 in 3.1.1", version: 4, hex: "90 03 00 01 81", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "SUBACK reason code 0x03", version: 5, hex: "90 04 00 01 00 03", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "SUBACK reason code 0x11", version: 5, hex: "90 04 00 01 00 11", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "UNSUBACK reason code 0x01", version: 5, hex: "b0 04 00 01 00 01", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "DISCONNECT reason code 0x01", version: 5, hex: "e0 01 01", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },
  { name: "AUTH reason code 0x01", version: 5, hex: "f0 02 01 00", code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED },

  // ── CONNECT protocol name and level [MQTT-3.1.2-1] ──
  { name: "CONNECT 'MQTT' level 3", version: 4, hex: `10 0d ${MQTT} 03 02 00 3c 00 01 63`, code: ErrorCode.ProtocolInvalid, reasonCode: UNSUPPORTED_VERSION },
  { name: "CONNECT 'MQTT' level 6", version: 5, hex: `10 0d ${MQTT} 06 02 00 3c 00 01 63`, code: ErrorCode.ProtocolInvalid, reasonCode: UNSUPPORTED_VERSION },
  { name: "CONNECT 'MQIsdp' level 4", version: 4, hex: `10 0f ${MQISDP} 04 02 00 3c 00 01 63`, code: ErrorCode.ProtocolInvalid, reasonCode: UNSUPPORTED_VERSION },
  // Bridge mode (the level's top bit, mosquitto's extension) on a level the name does not have.
  { name: "CONNECT 'MQTT' level 0x83 (bridge bit on 3)", version: 4, hex: `10 0d ${MQTT} 83 02 00 3c 00 01 63`, code: ErrorCode.ProtocolInvalid, reasonCode: UNSUPPORTED_VERSION },
  { name: "CONNECT 'MQTT' level 0x86 (bridge bit on 6)", version: 5, hex: `10 0d ${MQTT} 86 02 00 3c 00 01 63`, code: ErrorCode.ProtocolInvalid, reasonCode: UNSUPPORTED_VERSION },
  { name: "CONNECT 'MQIsdp' level 0x84 (bridge bit on 4)", version: 4, hex: `10 0f ${MQISDP} 84 02 00 3c 00 01 63`, code: ErrorCode.ProtocolInvalid, reasonCode: UNSUPPORTED_VERSION },
  { name: "CONNECT 'MQTX' level 4", version: 4, hex: "10 0d 00 04 4d 51 54 58 04 02 00 3c 00 01 63", code: ErrorCode.ProtocolInvalid, reasonCode: UNSUPPORTED_VERSION },
  { name: "CONNECT 'mqtt' level 5", version: 5, hex: "10 0e 00 04 6d 71 74 74 05 02 00 3c 00 00 01 63", code: ErrorCode.ProtocolInvalid, reasonCode: UNSUPPORTED_VERSION },

  // ── CONNECT and CONNACK flags ──
  { name: "CONNECT reserved flag set (3.1.1)", version: 4, hex: `10 0d ${MQTT} 04 03 00 3c 00 01 63`, code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNECT reserved flag set (5.0)", version: 5, hex: `10 0e ${MQTT} 05 03 00 3c 00 00 01 63`, code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNECT reserved flag set (3.1)", version: 3, hex: `10 0f ${MQISDP} 03 01 00 3c 00 01 63`, code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNECT will QoS 1 without the will flag", version: 4, hex: `10 0d ${MQTT} 04 0a 00 3c 00 01 63`, code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNECT will QoS 2 without the will flag", version: 5, hex: `10 0e ${MQTT} 05 12 00 3c 00 00 01 63`, code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNECT will retain without the will flag", version: 4, hex: `10 0d ${MQTT} 04 22 00 3c 00 01 63`, code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNECT password without user name (3.1.1)", version: 4, hex: `10 10 ${MQTT} 04 42 00 3c 00 01 63 00 01 70`, code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNECT password without user name (3.1)", version: 3, hex: `10 12 ${MQISDP} 03 42 00 3c 00 01 63 00 01 70`, code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNECT will QoS 3", version: 4, hex: `10 12 ${MQTT} 04 1e 00 3c 00 01 63 00 01 77 00 00`, code: ErrorCode.QosInvalid, reasonCode: MALFORMED },
  { name: "CONNECT will QoS 3 (5.0)", version: 5, hex: `10 14 ${MQTT} 05 1c 00 3c 00 00 01 63 00 00 01 77 00 00`, code: ErrorCode.QosInvalid, reasonCode: MALFORMED },
  { name: "CONNACK flags 0x02", version: 4, hex: "20 02 02 00", code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNACK flags 0x80", version: 5, hex: "20 03 80 00 00", code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNACK session present with return code 5", version: 4, hex: "20 02 01 05", code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },
  { name: "CONNACK session present with reason code 0x80", version: 5, hex: "20 03 01 80 00", code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED },

  // ── empty lists [MQTT-3.8.3-2] [MQTT-3.10.3-2] ──
  { name: "SUBSCRIBE without a filter (3.1.1)", version: 4, hex: "82 02 00 01", code: ErrorCode.Empty, reasonCode: PROTOCOL },
  { name: "SUBSCRIBE without a filter (5.0)", version: 5, hex: "82 03 00 01 00", code: ErrorCode.Empty, reasonCode: PROTOCOL },
  { name: "UNSUBSCRIBE without a filter (3.1.1)", version: 4, hex: "a2 02 00 01", code: ErrorCode.Empty, reasonCode: PROTOCOL },
  { name: "UNSUBSCRIBE without a filter (5.0)", version: 5, hex: "a2 03 00 01 00", code: ErrorCode.Empty, reasonCode: PROTOCOL },
  { name: "SUBACK without a return code (3.1.1)", version: 4, hex: "90 02 00 01", code: ErrorCode.Empty, reasonCode: PROTOCOL },
  { name: "SUBACK without a reason code (5.0)", version: 5, hex: "90 03 00 01 00", code: ErrorCode.Empty, reasonCode: PROTOCOL },
  { name: "UNSUBACK without a reason code (5.0)", version: 5, hex: "b0 03 00 01 00", code: ErrorCode.Empty, reasonCode: PROTOCOL },

  // ── subscription options [MQTT-3-8.3-4] [MQTT-3.8.3-5] [MQTT-3.8.3-4] ──
  { name: "requested QoS byte with bit 2 set (3.1.1)", version: 4, hex: "82 06 00 01 00 01 74 04", code: ErrorCode.SubscriptionOptions, reasonCode: MALFORMED },
  { name: "requested QoS byte with bit 7 set (3.1)", version: 3, hex: "82 06 00 01 00 01 74 80", code: ErrorCode.SubscriptionOptions, reasonCode: MALFORMED },
  { name: "requested QoS 3 (3.1.1)", version: 4, hex: "82 06 00 01 00 01 74 03", code: ErrorCode.QosInvalid, reasonCode: MALFORMED },
  { name: "maximum QoS 3 in subscription options (5.0)", version: 5, hex: "82 07 00 01 00 00 01 74 03", code: ErrorCode.QosInvalid, reasonCode: PROTOCOL },
  { name: "subscription options reserved bit 6", version: 5, hex: "82 07 00 01 00 00 01 74 40", code: ErrorCode.SubscriptionOptions, reasonCode: MALFORMED },
  { name: "subscription options reserved bit 7", version: 5, hex: "82 07 00 01 00 00 01 74 81", code: ErrorCode.SubscriptionOptions, reasonCode: MALFORMED },
  { name: "retain handling 3", version: 5, hex: "82 07 00 01 00 00 01 74 30", code: ErrorCode.SubscriptionOptions, reasonCode: PROTOCOL },
  { name: "No Local on a shared subscription", version: 5, hex: `82 10 00 01 00 00 0a ${hexOf("$share/g/t")} 04`, code: ErrorCode.SubscriptionOptions, reasonCode: PROTOCOL },

  // ── enhanced authentication (MQTT 5.0 3.1.2.11.10, 3.15.2.2.2) ──
  { name: "CONNECT authentication data without a method", version: 5, hex: `10 12 ${MQTT} 05 02 00 3c 04 16 00 01 aa 00 01 63`, code: ErrorCode.AuthInvalid, reasonCode: PROTOCOL },
  { name: "CONNACK authentication data without a method", version: 5, hex: "20 07 00 00 04 16 00 01 aa", code: ErrorCode.AuthInvalid, reasonCode: PROTOCOL },
  { name: "AUTH authentication data without a method", version: 5, hex: "f0 06 18 04 16 00 01 aa", code: ErrorCode.AuthInvalid, reasonCode: PROTOCOL },
  { name: "AUTH continue authentication without properties", version: 5, hex: "f0 02 18 00", code: ErrorCode.AuthInvalid, reasonCode: PROTOCOL },
  { name: "AUTH success with a property length of 0", version: 5, hex: "f0 02 00 00", code: ErrorCode.AuthInvalid, reasonCode: PROTOCOL },
  { name: "AUTH re-authenticate with a reason string and no method", version: 5, hex: "f0 06 19 04 1f 00 01 78", code: ErrorCode.AuthInvalid, reasonCode: PROTOCOL },

  // ── client identifier [MQTT-3.1.3-7]; MQTT 3.1: 1 to 23 characters ──
  { name: "CONNECT empty client identifier with clean session 0 (3.1.1)", version: 4, hex: `10 0c ${MQTT} 04 00 00 3c 00 00`, code: ErrorCode.ValueRange, reasonCode: CLIENT_ID_NOT_VALID },
  { name: "CONNECT empty client identifier (3.1)", version: 3, hex: `10 0e ${MQISDP} 03 02 00 3c 00 00`, code: ErrorCode.ValueRange, reasonCode: CLIENT_ID_NOT_VALID },
  { name: "CONNECT client identifier of 24 characters (3.1)", version: 3, hex: `10 26 ${MQISDP} 03 02 00 3c 00 18 ${"61 ".repeat(24)}`, code: ErrorCode.ValueRange, reasonCode: CLIENT_ID_NOT_VALID },
];

function decodeError(bytes: Uint8Array, version: ProtocolVersion, maximumPacketSize?: number): unknown {
  try {
    const p = decodePacket(bytes, version, maximumPacketSize === undefined ? {} : { maximumPacketSize });
    return new Error(`decoded without an error: ${JSON.stringify(p)}`);
  } catch (e) {
    return e;
  }
}

describe("decoding malformed bytes", () => {
  it("has unique case names", () => {
    const names = DECODE_CASES.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(DECODE_CASES.map((c) => [c.name, c] as [string, DecodeCase]))("%s", (_n, c) => {
    const err = decodeError(h(c.hex), c.version);
    expect(err).toBeInstanceOf(RemoteProtocolError);
    expect(err).toBeInstanceOf(MqttError);
    expect(err).not.toBeInstanceOf(LocalProtocolError);
    expect(err).toMatchObject({ code: c.code, reasonCode: c.reasonCode, name: "RemoteProtocolError" });
  });

  it.each(DECODE_CASES.map((c) => [c.name, c] as [string, DecodeCase]))("%s: the streaming decoder fails the same way, fed byte by byte", (_n, c) => {
    const bytes = h(c.hex);
    const d = new PacketDecoder({ protocolVersion: c.version });
    let err: unknown;
    try {
      for (let i = 0; i < bytes.length && err === undefined; i++) {
        d.push(bytes.subarray(i, i + 1));
        d.next();
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RemoteProtocolError);
    expect(err).toMatchObject({ code: c.code, reasonCode: c.reasonCode });
  });
});

// ───────────────────────────── encoding invalid packets ─────────────────────────────

interface EncodeCase {
  name: string;
  version: ProtocolVersion;
  packet: unknown;
  code: string;
}

const conn = (v: ProtocolVersion, o: object = {}) => ({ type: "connect", protocolVersion: v, clean: true, keepAlive: 60, clientId: "c", ...o });
const will = (o: object = {}) => ({ topic: "w", payload: new Uint8Array(0), qos: 0, retain: false, ...o });
const pub = (o: object = {}) => ({ type: "publish", topic: "t", payload: new Uint8Array(0), qos: 0, retain: false, dup: false, ...o });
const pprops = (properties: object) => pub({ properties });
const sub = (s: object[], o: object = {}) => ({ type: "subscribe", packetId: 1, subscriptions: s, ...o });
const s5 = (o: object = {}) => ({ topicFilter: "t", qos: 0, ...o });
const LONG = "a".repeat(65_536);
/** Looks like a Uint8Array of 256 MB without allocating it. */
const HUGE = Object.create(Uint8Array.prototype, { length: { value: 268_435_456 } }) as Uint8Array;

// prettier-ignore
const ENCODE_CASES: EncodeCase[] = [
  { name: "unknown protocol version argument", version: 6 as ProtocolVersion, packet: { type: "pingreq" }, code: ErrorCode.ProtocolInvalid },
  { name: "unknown packet type", version: 4, packet: { type: "bogus" }, code: ErrorCode.PacketTypeInvalid },

  // CONNECT
  { name: "CONNECT protocol version 6", version: 5, packet: conn(6 as ProtocolVersion), code: ErrorCode.ProtocolInvalid },
  { name: "CONNECT keep alive 65536", version: 4, packet: conn(4, { keepAlive: 65_536 }), code: ErrorCode.ValueRange },
  { name: "CONNECT keep alive -1", version: 4, packet: conn(4, { keepAlive: -1 }), code: ErrorCode.ValueRange },
  { name: "CONNECT keep alive 1.5", version: 5, packet: conn(5, { keepAlive: 1.5 }), code: ErrorCode.ValueRange },
  { name: "CONNECT client identifier missing", version: 4, packet: conn(4, { clientId: undefined }), code: ErrorCode.ValueRange },
  { name: "CONNECT client identifier not a string", version: 4, packet: conn(4, { clientId: 42 }), code: ErrorCode.ValueRange },
  { name: "CONNECT client identifier with U+0000", version: 4, packet: conn(4, { clientId: "a\0" }), code: ErrorCode.Utf8Null },
  { name: "CONNECT client identifier with a lone high surrogate", version: 5, packet: conn(5, { clientId: "a\uD800" }), code: ErrorCode.Utf8Invalid },
  { name: "CONNECT client identifier with a lone low surrogate", version: 3, packet: conn(3, { clientId: "\uDC00a" }), code: ErrorCode.Utf8Invalid },
  { name: "CONNECT client identifier over 65,535 bytes", version: 4, packet: conn(4, { clientId: LONG }), code: ErrorCode.ValueRange },
  { name: "CONNECT will topic '#'", version: 4, packet: conn(4, { will: will({ topic: "#" }) }), code: ErrorCode.TopicInvalid },
  { name: "CONNECT will topic empty", version: 5, packet: conn(5, { will: will({ topic: "" }) }), code: ErrorCode.TopicInvalid },
  { name: "CONNECT will topic with a lone surrogate", version: 4, packet: conn(4, { will: will({ topic: "\uD83D" }) }), code: ErrorCode.Utf8Invalid },
  { name: "CONNECT will QoS 3", version: 4, packet: conn(4, { will: will({ qos: 3 }) }), code: ErrorCode.QosInvalid },
  { name: "CONNECT will payload not a Uint8Array", version: 4, packet: conn(4, { will: will({ payload: "bye" }) }), code: ErrorCode.ValueRange },
  { name: "CONNECT will payload over 65,535 bytes", version: 5, packet: conn(5, { will: will({ payload: new Uint8Array(65_536) }) }), code: ErrorCode.ValueRange },
  { name: "CONNECT will properties in 3.1.1", version: 4, packet: conn(4, { will: will({ properties: { willDelayInterval: 1 } }) }), code: ErrorCode.VersionMismatch },
  { name: "CONNECT session expiry in will properties", version: 5, packet: conn(5, { will: will({ properties: { sessionExpiryInterval: 1 } }) }), code: ErrorCode.PropertyNotAllowed },
  { name: "CONNECT will response topic with '+'", version: 5, packet: conn(5, { will: will({ properties: { responseTopic: "a/+" } }) }), code: ErrorCode.TopicInvalid },
  { name: "CONNECT properties in 3.1.1", version: 4, packet: conn(4, { properties: { sessionExpiryInterval: 1 } }), code: ErrorCode.VersionMismatch },
  { name: "CONNECT properties in 3.1", version: 3, packet: conn(3, { properties: { userProperties: [["a", "b"]] } }), code: ErrorCode.VersionMismatch },
  { name: "CONNECT topic alias property", version: 5, packet: conn(5, { properties: { topicAlias: 1 } }), code: ErrorCode.PropertyNotAllowed },
  { name: "CONNECT unknown property", version: 5, packet: conn(5, { properties: { bogus: 1 } }), code: ErrorCode.PropertyUnknown },
  { name: "CONNECT receive maximum 0", version: 5, packet: conn(5, { properties: { receiveMaximum: 0 } }), code: ErrorCode.PropertyValue },
  { name: "CONNECT receive maximum 65536", version: 5, packet: conn(5, { properties: { receiveMaximum: 65_536 } }), code: ErrorCode.PropertyValue },
  { name: "CONNECT maximum packet size 0", version: 5, packet: conn(5, { properties: { maximumPacketSize: 0 } }), code: ErrorCode.PropertyValue },
  { name: "CONNECT session expiry 2^32", version: 5, packet: conn(5, { properties: { sessionExpiryInterval: 2 ** 32 } }), code: ErrorCode.PropertyValue },
  { name: "CONNECT request problem information 2", version: 5, packet: conn(5, { properties: { requestProblemInformation: 2 } }), code: ErrorCode.PropertyValue },
  { name: "CONNECT request response information true", version: 5, packet: conn(5, { properties: { requestResponseInformation: true } }), code: ErrorCode.PropertyValue },
  { name: "CONNECT authentication method not a string", version: 5, packet: conn(5, { properties: { authenticationMethod: 1 } }), code: ErrorCode.PropertyValue },
  { name: "CONNECT authentication data not a Uint8Array", version: 5, packet: conn(5, { properties: { authenticationData: "x" } }), code: ErrorCode.PropertyValue },
  { name: "CONNECT password without user name (3.1.1)", version: 4, packet: conn(4, { password: new Uint8Array(1) }), code: ErrorCode.FlagsInvalid },
  { name: "CONNECT password without user name (3.1)", version: 3, packet: conn(3, { password: new Uint8Array(1) }), code: ErrorCode.FlagsInvalid },
  { name: "CONNECT user name not a string", version: 4, packet: conn(4, { username: 7 }), code: ErrorCode.ValueRange },
  { name: "CONNECT user name with a lone surrogate", version: 5, packet: conn(5, { username: "\uDFFF" }), code: ErrorCode.Utf8Invalid },
  { name: "CONNECT user name with U+0000", version: 4, packet: conn(4, { username: "\0" }), code: ErrorCode.Utf8Null },
  { name: "CONNECT password not a Uint8Array", version: 5, packet: conn(5, { password: "pw" }), code: ErrorCode.ValueRange },

  // CONNACK
  { name: "CONNACK return code 6 (3.1.1)", version: 4, packet: { type: "connack", sessionPresent: false, reasonCode: 6 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "CONNACK return code 0x80 (3.1)", version: 3, packet: { type: "connack", sessionPresent: false, reasonCode: 0x80 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "CONNACK reason code 0x01 (5.0)", version: 5, packet: { type: "connack", sessionPresent: false, reasonCode: 0x01 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "CONNACK reason code 0x04 (5.0)", version: 5, packet: { type: "connack", sessionPresent: false, reasonCode: 0x04 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "CONNACK reason code 256", version: 5, packet: { type: "connack", sessionPresent: false, reasonCode: 256 }, code: ErrorCode.ValueRange },
  { name: "CONNACK session present with a refusal (3.1.1)", version: 4, packet: { type: "connack", sessionPresent: true, reasonCode: 1 }, code: ErrorCode.FlagsInvalid },
  { name: "CONNACK session present with a refusal (5.0)", version: 5, packet: { type: "connack", sessionPresent: true, reasonCode: 0x87 }, code: ErrorCode.FlagsInvalid },
  { name: "CONNACK properties in 3.1.1", version: 4, packet: { type: "connack", sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 1 } }, code: ErrorCode.VersionMismatch },
  { name: "CONNACK topic alias property", version: 5, packet: { type: "connack", sessionPresent: false, reasonCode: 0, properties: { topicAlias: 1 } }, code: ErrorCode.PropertyNotAllowed },
  { name: "CONNACK maximum QoS 2", version: 5, packet: { type: "connack", sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 2 } }, code: ErrorCode.PropertyValue },
  { name: "CONNACK retain available 2", version: 5, packet: { type: "connack", sessionPresent: false, reasonCode: 0, properties: { retainAvailable: 2 } }, code: ErrorCode.PropertyValue },

  // PUBLISH
  { name: "PUBLISH QoS 3", version: 4, packet: pub({ qos: 3, packetId: 1 }), code: ErrorCode.QosInvalid },
  { name: "PUBLISH topic 'a/+'", version: 4, packet: pub({ topic: "a/+" }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH topic '#'", version: 5, packet: pub({ topic: "#" }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH empty topic (3.1.1)", version: 4, packet: pub({ topic: "" }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH empty topic and a topic alias (3.1.1)", version: 4, packet: pub({ topic: "", properties: { topicAlias: 1 } }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH empty topic without topic alias (5.0)", version: 5, packet: pub({ topic: "" }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH empty topic with properties but no topic alias", version: 5, packet: pub({ topic: "", properties: { contentType: "x" } }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH topic with U+0000", version: 4, packet: pub({ topic: "a\0" }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH topic over 65,535 bytes", version: 4, packet: pub({ topic: LONG }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH topic with a lone surrogate", version: 4, packet: pub({ topic: "a/\uD800" }), code: ErrorCode.Utf8Invalid },
  { name: "PUBLISH QoS 0 with a packet identifier", version: 4, packet: pub({ packetId: 1 }), code: ErrorCode.PacketIdInvalid },
  { name: "PUBLISH QoS 0 with DUP", version: 5, packet: pub({ dup: true }), code: ErrorCode.FixedHeaderFlags },
  { name: "PUBLISH QoS 1 without a packet identifier", version: 4, packet: pub({ qos: 1 }), code: ErrorCode.PacketIdInvalid },
  { name: "PUBLISH QoS 2 with packet identifier 0", version: 5, packet: pub({ qos: 2, packetId: 0 }), code: ErrorCode.PacketIdInvalid },
  { name: "PUBLISH packet identifier 65536", version: 4, packet: pub({ qos: 1, packetId: 65_536 }), code: ErrorCode.PacketIdInvalid },
  { name: "PUBLISH packet identifier 1.5", version: 4, packet: pub({ qos: 1, packetId: 1.5 }), code: ErrorCode.PacketIdInvalid },
  { name: "PUBLISH payload not a Uint8Array", version: 4, packet: pub({ payload: "x" }), code: ErrorCode.ValueRange },
  { name: "PUBLISH larger than the MQTT maximum", version: 4, packet: pub({ payload: HUGE }), code: ErrorCode.PacketTooLarge },
  { name: "PUBLISH properties in 3.1.1", version: 4, packet: pprops({ messageExpiryInterval: 1 }), code: ErrorCode.VersionMismatch },
  { name: "PUBLISH topic alias 0", version: 5, packet: pprops({ topicAlias: 0 }), code: ErrorCode.TopicAliasInvalid },
  { name: "PUBLISH topic alias 65536", version: 5, packet: pprops({ topicAlias: 65_536 }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH response topic with '#'", version: 5, packet: pprops({ responseTopic: "r/#" }), code: ErrorCode.TopicInvalid },
  { name: "PUBLISH response topic with a lone surrogate", version: 5, packet: pprops({ responseTopic: "r/\uDC00" }), code: ErrorCode.Utf8Invalid },
  { name: "PUBLISH content type with U+0000", version: 5, packet: pprops({ contentType: "text\0" }), code: ErrorCode.Utf8Null },
  { name: "PUBLISH content type not a string", version: 5, packet: pprops({ contentType: 7 }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH content type over 65,535 bytes", version: 5, packet: pprops({ contentType: LONG }), code: ErrorCode.ValueRange },
  { name: "PUBLISH payload format indicator 2", version: 5, packet: pprops({ payloadFormatIndicator: 2 }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH message expiry -1", version: 5, packet: pprops({ messageExpiryInterval: -1 }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH correlation data not a Uint8Array", version: 5, packet: pprops({ correlationData: "id" }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH correlation data over 65,535 bytes", version: 5, packet: pprops({ correlationData: new Uint8Array(65_536) }), code: ErrorCode.ValueRange },
  { name: "PUBLISH user properties not an array", version: 5, packet: pprops({ userProperties: { a: "b" } }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH user property without a value", version: 5, packet: pprops({ userProperties: [["a"]] }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH user property value not a string", version: 5, packet: pprops({ userProperties: [["a", 1]] }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH user property name with U+0000", version: 5, packet: pprops({ userProperties: [["a\0", "b"]] }), code: ErrorCode.Utf8Null },
  { name: "PUBLISH user property value with a lone surrogate", version: 5, packet: pprops({ userProperties: [["a", "\uD800"]] }), code: ErrorCode.Utf8Invalid },
  { name: "PUBLISH user property name over 65,535 bytes", version: 5, packet: pprops({ userProperties: [[LONG, "b"]] }), code: ErrorCode.ValueRange },
  { name: "PUBLISH subscription identifiers not an array", version: 5, packet: pprops({ subscriptionIdentifiers: 5 }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH subscription identifier 0", version: 5, packet: pprops({ subscriptionIdentifiers: [0] }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH subscription identifier 268,435,456", version: 5, packet: pprops({ subscriptionIdentifiers: [268_435_456] }), code: ErrorCode.PropertyValue },
  { name: "PUBLISH session expiry property", version: 5, packet: pprops({ sessionExpiryInterval: 1 }), code: ErrorCode.PropertyNotAllowed },
  { name: "PUBLISH will delay property", version: 5, packet: pprops({ willDelayInterval: 1 }), code: ErrorCode.PropertyNotAllowed },
  { name: "PUBLISH reason string property", version: 5, packet: pprops({ reasonString: "x" }), code: ErrorCode.PropertyNotAllowed },

  // PUBACK, PUBREC, PUBREL, PUBCOMP
  { name: "PUBACK packet identifier 0", version: 4, packet: { type: "puback", packetId: 0, reasonCode: 0 }, code: ErrorCode.PacketIdInvalid },
  { name: "PUBREC without packet identifier", version: 5, packet: { type: "pubrec", reasonCode: 0 }, code: ErrorCode.PacketIdInvalid },
  { name: "PUBREL packet identifier 65536", version: 4, packet: { type: "pubrel", packetId: 65_536, reasonCode: 0 }, code: ErrorCode.PacketIdInvalid },
  { name: "PUBACK reason code in 3.1.1", version: 4, packet: { type: "puback", packetId: 1, reasonCode: 0x10 }, code: ErrorCode.VersionMismatch },
  { name: "PUBCOMP properties in 3.1.1", version: 4, packet: { type: "pubcomp", packetId: 1, reasonCode: 0, properties: { reasonString: "x" } }, code: ErrorCode.VersionMismatch },
  { name: "PUBACK reason code 0x92", version: 5, packet: { type: "puback", packetId: 1, reasonCode: 0x92 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "PUBREC reason code 0x04", version: 5, packet: { type: "pubrec", packetId: 1, reasonCode: 0x04 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "PUBREL reason code 0x10", version: 5, packet: { type: "pubrel", packetId: 1, reasonCode: 0x10 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "PUBCOMP reason code 0x80", version: 5, packet: { type: "pubcomp", packetId: 1, reasonCode: 0x80 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "PUBACK reason code 256", version: 5, packet: { type: "puback", packetId: 1, reasonCode: 256 }, code: ErrorCode.ValueRange },
  { name: "PUBACK topic alias property", version: 5, packet: { type: "puback", packetId: 1, reasonCode: 0, properties: { topicAlias: 1 } }, code: ErrorCode.PropertyNotAllowed },

  // SUBSCRIBE
  { name: "SUBSCRIBE without subscriptions", version: 4, packet: sub([]), code: ErrorCode.Empty },
  { name: "SUBSCRIBE subscriptions missing", version: 5, packet: { type: "subscribe", packetId: 1 }, code: ErrorCode.Empty },
  { name: "SUBSCRIBE packet identifier 0", version: 4, packet: sub([s5()], { packetId: 0 }), code: ErrorCode.PacketIdInvalid },
  { name: "SUBSCRIBE filter 'a/#/b'", version: 4, packet: sub([s5({ topicFilter: "a/#/b" })]), code: ErrorCode.TopicFilterInvalid },
  { name: "SUBSCRIBE filter 'a+'", version: 5, packet: sub([s5({ topicFilter: "a+" })]), code: ErrorCode.TopicFilterInvalid },
  { name: "SUBSCRIBE empty filter", version: 4, packet: sub([s5({ topicFilter: "" })]), code: ErrorCode.TopicFilterInvalid },
  { name: "SUBSCRIBE filter with U+0000", version: 4, packet: sub([s5({ topicFilter: "a\0" })]), code: ErrorCode.TopicFilterInvalid },
  { name: "SUBSCRIBE filter '$share/g'", version: 5, packet: sub([s5({ topicFilter: "$share/g" })]), code: ErrorCode.TopicFilterInvalid },
  { name: "SUBSCRIBE filter with a lone surrogate", version: 4, packet: sub([s5({ topicFilter: "a/\uD800" })]), code: ErrorCode.Utf8Invalid },
  { name: "SUBSCRIBE QoS 3", version: 4, packet: sub([s5({ qos: 3 })]), code: ErrorCode.QosInvalid },
  { name: "SUBSCRIBE No Local in 3.1.1", version: 4, packet: sub([s5({ noLocal: true })]), code: ErrorCode.VersionMismatch },
  { name: "SUBSCRIBE Retain As Published in 3.1.1", version: 4, packet: sub([s5({ retainAsPublished: true })]), code: ErrorCode.VersionMismatch },
  { name: "SUBSCRIBE Retain Handling in 3.1", version: 3, packet: sub([s5({ retainHandling: 1 })]), code: ErrorCode.VersionMismatch },
  { name: "SUBSCRIBE retain handling 3", version: 5, packet: sub([s5({ retainHandling: 3 })]), code: ErrorCode.SubscriptionOptions },
  { name: "SUBSCRIBE No Local on a shared subscription", version: 5, packet: sub([s5({ topicFilter: "$share/g/t", noLocal: true })]), code: ErrorCode.SubscriptionOptions },
  { name: "SUBSCRIBE two subscription identifiers", version: 5, packet: sub([s5()], { properties: { subscriptionIdentifiers: [1, 2] } }), code: ErrorCode.PropertyDuplicate },
  { name: "SUBSCRIBE subscription identifier 0", version: 5, packet: sub([s5()], { properties: { subscriptionIdentifiers: [0] } }), code: ErrorCode.PropertyValue },
  { name: "SUBSCRIBE properties in 3.1.1", version: 4, packet: sub([s5()], { properties: { subscriptionIdentifiers: [1] } }), code: ErrorCode.VersionMismatch },
  { name: "SUBSCRIBE reason string property", version: 5, packet: sub([s5()], { properties: { reasonString: "x" } }), code: ErrorCode.PropertyNotAllowed },

  // SUBACK
  { name: "SUBACK without reason codes", version: 4, packet: { type: "suback", packetId: 1, reasonCodes: [] }, code: ErrorCode.Empty },
  { name: "SUBACK packet identifier 0", version: 5, packet: { type: "suback", packetId: 0, reasonCodes: [0] }, code: ErrorCode.PacketIdInvalid },
  { name: "SUBACK return code 3 (3.1.1)", version: 4, packet: { type: "suback", packetId: 1, reasonCodes: [3] }, code: ErrorCode.ReasonCodeInvalid },
  { name: "SUBACK return code 0x87 (3.1.1)", version: 4, packet: { type: "suback", packetId: 1, reasonCodes: [0x87] }, code: ErrorCode.ReasonCodeInvalid },
  { name: "SUBACK reason code 0x11 (5.0)", version: 5, packet: { type: "suback", packetId: 1, reasonCodes: [0, 0x11] }, code: ErrorCode.ReasonCodeInvalid },
  { name: "SUBACK properties in 3.1.1", version: 4, packet: { type: "suback", packetId: 1, reasonCodes: [0], properties: { reasonString: "x" } }, code: ErrorCode.VersionMismatch },

  // UNSUBSCRIBE / UNSUBACK
  { name: "UNSUBSCRIBE without filters", version: 4, packet: { type: "unsubscribe", packetId: 1, topicFilters: [] }, code: ErrorCode.Empty },
  { name: "UNSUBSCRIBE filters missing", version: 5, packet: { type: "unsubscribe", packetId: 1 }, code: ErrorCode.Empty },
  { name: "UNSUBSCRIBE packet identifier 0", version: 4, packet: { type: "unsubscribe", packetId: 0, topicFilters: ["t"] }, code: ErrorCode.PacketIdInvalid },
  { name: "UNSUBSCRIBE filter 'a+'", version: 4, packet: { type: "unsubscribe", packetId: 1, topicFilters: ["a+"] }, code: ErrorCode.TopicFilterInvalid },
  { name: "UNSUBSCRIBE filter with a lone surrogate", version: 5, packet: { type: "unsubscribe", packetId: 1, topicFilters: ["\uDC00"] }, code: ErrorCode.Utf8Invalid },
  { name: "UNSUBACK reason codes in 3.1.1", version: 4, packet: { type: "unsuback", packetId: 1, reasonCodes: [0] }, code: ErrorCode.VersionMismatch },
  { name: "UNSUBACK properties in 3.1.1", version: 4, packet: { type: "unsuback", packetId: 1, reasonCodes: [], properties: { reasonString: "x" } }, code: ErrorCode.VersionMismatch },
  { name: "UNSUBACK without reason codes (5.0)", version: 5, packet: { type: "unsuback", packetId: 1, reasonCodes: [] }, code: ErrorCode.Empty },
  { name: "UNSUBACK reason code 0x01", version: 5, packet: { type: "unsuback", packetId: 1, reasonCodes: [0x01] }, code: ErrorCode.ReasonCodeInvalid },

  // DISCONNECT / AUTH
  { name: "DISCONNECT reason code in 3.1.1", version: 4, packet: { type: "disconnect", reasonCode: 4 }, code: ErrorCode.VersionMismatch },
  { name: "DISCONNECT properties in 3.1.1", version: 4, packet: { type: "disconnect", reasonCode: 0, properties: { reasonString: "x" } }, code: ErrorCode.VersionMismatch },
  { name: "DISCONNECT reason code 0x01", version: 5, packet: { type: "disconnect", reasonCode: 0x01 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "DISCONNECT topic alias property", version: 5, packet: { type: "disconnect", reasonCode: 0, properties: { topicAlias: 1 } }, code: ErrorCode.PropertyNotAllowed },
  { name: "DISCONNECT server reference not a string", version: 5, packet: { type: "disconnect", reasonCode: 0x9c, properties: { serverReference: 1 } }, code: ErrorCode.PropertyValue },
  { name: "AUTH in 3.1.1", version: 4, packet: { type: "auth", reasonCode: 0 }, code: ErrorCode.VersionMismatch },
  { name: "AUTH in 3.1", version: 3, packet: { type: "auth", reasonCode: 0x18 }, code: ErrorCode.VersionMismatch },
  { name: "AUTH reason code 0x01", version: 5, packet: { type: "auth", reasonCode: 0x01 }, code: ErrorCode.ReasonCodeInvalid },
  { name: "AUTH session expiry property", version: 5, packet: { type: "auth", reasonCode: 0x18, properties: { sessionExpiryInterval: 1 } }, code: ErrorCode.PropertyNotAllowed },

  // Enhanced authentication (MQTT 5.0 3.1.2.11.10, 3.15.2.2.2)
  { name: "CONNECT authentication data without a method", version: 5, packet: conn(5, { properties: { authenticationData: new Uint8Array([1]) } }), code: ErrorCode.AuthInvalid },
  { name: "CONNACK authentication data without a method", version: 5, packet: { type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationData: new Uint8Array([1]) } }, code: ErrorCode.AuthInvalid },
  { name: "AUTH authentication data without a method", version: 5, packet: { type: "auth", reasonCode: 0x18, properties: { authenticationData: new Uint8Array([1]) } }, code: ErrorCode.AuthInvalid },
  { name: "AUTH continue authentication without properties", version: 5, packet: { type: "auth", reasonCode: 0x18 }, code: ErrorCode.AuthInvalid },
  { name: "AUTH re-authenticate with a reason string and no method", version: 5, packet: { type: "auth", reasonCode: 0x19, properties: { reasonString: "x" } }, code: ErrorCode.AuthInvalid },
  { name: "AUTH success with a user property and no method", version: 5, packet: { type: "auth", reasonCode: 0, properties: { userProperties: [["a", "b"]] } }, code: ErrorCode.AuthInvalid },

  // Client identifier [MQTT-3.1.3-7]; MQTT 3.1: 1 to 23 characters
  { name: "CONNECT empty client identifier with clean session 0 (3.1.1)", version: 4, packet: conn(4, { clientId: "", clean: false }), code: ErrorCode.ValueRange },
  { name: "CONNECT empty client identifier (3.1)", version: 3, packet: conn(3, { clientId: "" }), code: ErrorCode.ValueRange },
  { name: "CONNECT client identifier of 24 characters (3.1)", version: 3, packet: conn(3, { clientId: "a".repeat(24) }), code: ErrorCode.ValueRange },
  { name: "CONNECT client identifier of 24 astral characters (3.1)", version: 3, packet: conn(3, { clientId: "\u{1F600}".repeat(24) }), code: ErrorCode.ValueRange },

  // MQTT 3.1 CONNACK has no session present flag
  { name: "CONNACK session present (3.1)", version: 3, packet: { type: "connack", sessionPresent: true, reasonCode: 0 }, code: ErrorCode.VersionMismatch },

  // PINGREQ and PINGRESP carry no properties, in any version
  ...([3, 4, 5] as const).flatMap((v): EncodeCase[] => [
    { name: `PINGREQ with properties (level ${v})`, version: v, packet: { type: "pingreq", properties: { reasonString: "x" } }, code: ErrorCode.PropertyNotAllowed },
    { name: `PINGRESP with properties (level ${v})`, version: v, packet: { type: "pingresp", properties: { userProperties: [["a", "b"]] } }, code: ErrorCode.PropertyNotAllowed },
    { name: `PINGREQ with properties null (level ${v})`, version: v, packet: { type: "pingreq", properties: null }, code: ErrorCode.PropertyNotAllowed },
  ]),
];

describe("encoding invalid packets", () => {
  it("has unique case names", () => {
    const names = ENCODE_CASES.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(ENCODE_CASES.map((c) => [c.name, c] as [string, EncodeCase]))("%s", (_n, c) => {
    let err: unknown;
    try {
      encodePacket(c.packet as Packet, c.version);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LocalProtocolError);
    expect(err).not.toBeInstanceOf(RemoteProtocolError);
    expect(err).toMatchObject({ code: c.code, name: "LocalProtocolError" });
  });
});

// ───────────────────────────── the streaming decoder's own rules ─────────────────────────────

describe("PacketDecoder", () => {
  it("rejects an oversized packet from its fixed header alone", () => {
    // 200 MB = 209,715,200 = 0x00 + 0x00*128 + 0x00*128^2 + 100*128^3 → 80 80 80 64.
    const d = new PacketDecoder({ protocolVersion: 4, maximumPacketSize: 1024 });
    d.push(h("30 80 80 80"));
    expect(d.next()).toBeUndefined(); // remaining length not complete yet
    d.push(h("64"));
    let err: unknown;
    try {
      d.next();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RemoteProtocolError);
    expect(err).toMatchObject({ code: ErrorCode.PacketTooLarge, reasonCode: TOO_LARGE });
    expect(d.bufferedBytes).toBe(5);
  });

  it("accepts a packet of exactly the maximum size and rejects one byte more", () => {
    const pkt = h("30 03 00 01 74"); // 5 bytes
    const ok = new PacketDecoder({ maximumPacketSize: 5 });
    ok.push(pkt);
    expect(ok.next()).toMatchObject({ type: "publish", topic: "t" });
    const tooBig = new PacketDecoder({ maximumPacketSize: 4 });
    tooBig.push(pkt);
    expect(() => tooBig.next()).toThrow(expect.objectContaining({ code: ErrorCode.PacketTooLarge, reasonCode: TOO_LARGE }));
    expect(decodeError(pkt, 4, 4)).toMatchObject({ code: ErrorCode.PacketTooLarge });
  });

  it("waits for the body of the largest packet MQTT can express without failing", () => {
    const d = new PacketDecoder({ protocolVersion: 4 });
    d.push(h("30 ff ff ff 7f 00 01 74"));
    expect(d.next()).toBeUndefined();
    expect(d.bufferedBytes).toBe(8);
  });

  it("stays failed after an error, throwing the same error", () => {
    const d = new PacketDecoder({ protocolVersion: 4 });
    d.push(h("36 00")); // PUBLISH QoS 3
    let first: unknown;
    try {
      d.next();
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(RemoteProtocolError);
    expect(d.error).toBe(first);
    d.push(h("c0 00")); // a valid PINGREQ after it changes nothing
    expect(() => d.next()).toThrow(first as Error);
    let again: unknown;
    try {
      d.next();
    } catch (e) {
      again = e;
    }
    expect(again).toBe(first);
  });

  it("stays failed after a body error too, even with valid packets queued behind it", () => {
    const d = new PacketDecoder({ protocolVersion: 4 });
    d.push(h("c0 00 30 02 00 00 c0 00")); // PINGREQ, PUBLISH with empty topic, PINGREQ
    expect(d.next()).toEqual({ type: "pingreq" });
    expect(() => d.next()).toThrow(expect.objectContaining({ code: ErrorCode.TopicInvalid }));
    expect(() => d.next()).toThrow(expect.objectContaining({ code: ErrorCode.TopicInvalid }));
  });

  it("returns undefined with nothing buffered and ignores empty chunks", () => {
    const d = new PacketDecoder();
    expect(d.next()).toBeUndefined();
    d.push(new Uint8Array(0));
    expect(d.bufferedBytes).toBe(0);
    expect(d.next()).toBeUndefined();
  });

  it("decodePacket rejects a cut packet and bytes after the packet", () => {
    expect(decodeError(h("30 03 00 01"), 4)).toMatchObject({ code: ErrorCode.LengthMismatch });
    expect(decodeError(h("c0 00 c0"), 4)).toMatchObject({ code: ErrorCode.LengthMismatch });
    expect(decodeError(h(""), 4)).toMatchObject({ code: ErrorCode.LengthMismatch });
  });
});

describe("non-shortest variable byte integers are rejected [MQTT-1.5.5-1]", () => {
  // Every value v with a shorter form, written in each longer form.
  const longer = (v: number, bytes: number): string => {
    const out: number[] = [];
    let x = v;
    for (let i = 0; i < bytes; i++) {
      let b = x % 128;
      x = Math.floor(x / 128);
      if (i < bytes - 1) b |= 0x80;
      out.push(b);
    }
    return out.map((b) => b.toString(16).padStart(2, "0")).join(" ");
  };

  it.each([
    [0, 2],
    [0, 3],
    [0, 4],
    [3, 2],
    [127, 2],
    [127, 4],
    [128, 3],
    [16_383, 3],
    [16_384, 4],
  ])("remaining length %i in %i bytes", (v, n) => {
    const body = "00 ".repeat(v); // never reached: the header is rejected first
    const err = decodeError(h(`c0 ${longer(v, n)} ${body}`), 4);
    expect(err).toBeInstanceOf(RemoteProtocolError);
    expect(err).toMatchObject({ code: ErrorCode.VarintMalformed, reasonCode: MALFORMED });
  });

  it.each([
    [0, 2],
    [0, 4],
    [3, 2],
    [127, 3],
  ])("property length %i in %i bytes", (v, n) => {
    // PUBACK: packet id, reason code, property length, then v bytes of properties.
    const props = "26 00 00 00 00 ".repeat(Math.ceil(v / 5)).trim().split(" ").slice(0, v).join(" ");
    const body = `00 01 00 ${longer(v, n)} ${props}`.trim();
    const len = h(body).length;
    const err = decodeError(h(`40 ${len.toString(16).padStart(2, "0")} ${body}`), 5);
    expect(err).toMatchObject({ code: ErrorCode.VarintMalformed, reasonCode: MALFORMED });
  });

  it("accepts the shortest forms at every size boundary", () => {
    expect(decodePacket(h("c0 00"), 4)).toEqual({ type: "pingreq" }); // 0 in one byte
    // A PUBLISH with topic "t" and v - 3 payload bytes, so the remaining length is v.
    for (const [v, n] of [
      [3, 1],
      [127, 1],
      [128, 2],
      [16_383, 2],
      [16_384, 3],
    ] as const) {
      const bytes = h(`30 ${longer(v, n)} 00 01 74 ${"00 ".repeat(v - 3)}`);
      const p = decodePacket(bytes, 4);
      expect(p).toMatchObject({ type: "publish", topic: "t" });
      expect((p as { payload: Uint8Array }).payload.length).toBe(v - 3);
    }
  });

  it("encodes remaining lengths in their shortest form at every size boundary", () => {
    const cases: [number, string][] = [
      [127, "7f"],
      [128, "80 01"],
      [16_383, "ff 7f"],
      [16_384, "80 80 01"],
      [2_097_151, "ff ff 7f"],
      [2_097_152, "80 80 80 01"],
    ];
    for (const [rl, varint] of cases) {
      const payload = new Uint8Array(rl - 3);
      const out = encodePacket({ type: "publish", topic: "t", payload, qos: 0, retain: false, dup: false }, 4);
      const header = h(`30 ${varint}`);
      expect(Array.from(out.subarray(0, header.length))).toEqual(Array.from(header));
      expect(out.length).toBe(header.length + rl);
    }
  });
});

// ───────────────────── client identifier, authentication, version rules ─────────────────────

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return new Error("did not throw");
}

const hexBytes = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

describe("client identifier, enhanced authentication and version rules, both ways", () => {
  it("[MQTT-3.1.3-7] [MQTT-3.1.3-8] a 3.1.1 CONNECT with an empty client id needs clean session 1: refused both ways with clean 0", () => {
    const bytes = "10 0c 00 04 4d 51 54 54 04 00 00 3c 00 00";
    expect(thrown(() => encodePacket(conn(4, { clientId: "", clean: false }) as Packet, 4))).toMatchObject({
      name: "LocalProtocolError",
      code: ErrorCode.ValueRange,
      reasonCode: CLIENT_ID_NOT_VALID,
    });
    // A server decoding it answers return code 2, identifier rejected [MQTT-3.1.3-8]: 0x85 in MQTT 5 terms.
    expect(decodeError(h(bytes), 4)).toMatchObject({ name: "RemoteProtocolError", code: ErrorCode.ValueRange, reasonCode: CLIENT_ID_NOT_VALID });
    // With clean session 1 it is fine, and MQTT 5 allows it with Clean Start 0 too (3.1.3.1).
    const clean = encodePacket(conn(4, { clientId: "" }) as Packet, 4);
    expect(hexBytes(clean)).toBe("10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00");
    expect(decodePacket(clean, 4)).toMatchObject({ clientId: "", clean: true });
    const v5 = conn(5, { clientId: "", clean: false }) as Packet;
    expect(decodePacket(encodePacket(v5, 5), 5)).toStrictEqual(v5);
  });

  it("MQTT 3.1: a client identifier of 1 to 23 characters (code points), refused otherwise both ways", () => {
    for (const id of ["a", "a".repeat(23), "é".repeat(23), "\u{1F600}".repeat(23), "\uFEFF".repeat(23)]) {
      const p = conn(3, { clientId: id }) as Packet;
      expect(decodePacket(encodePacket(p, 3), 3)).toStrictEqual(p);
    }
    for (const id of ["", "a".repeat(24), "é".repeat(24), "\u{1F600}".repeat(24), "a".repeat(65_535)]) {
      const err = thrown(() => encodePacket(conn(3, { clientId: id }) as Packet, 3));
      expect(err).toMatchObject({ name: "LocalProtocolError", code: ErrorCode.ValueRange, reasonCode: CLIENT_ID_NOT_VALID });
      expect((err as Error).message.length).toBeLessThan(300);
      // The same client id in a 3.1 CONNECT's bytes does not decode.
      const idBytes = new TextEncoder().encode(id);
      const frame = encodeV3Connect(new Uint8Array([idBytes.length >> 8, idBytes.length & 0xff, ...idBytes]));
      expect(decodeError(frame, 3)).toMatchObject({ name: "RemoteProtocolError", code: ErrorCode.ValueRange, reasonCode: CLIENT_ID_NOT_VALID });
    }
  });

  it("MQTT 3.1 CONNACK has no session present flag: its first byte is ignored on decode, session present refused on encode", () => {
    for (const b of ["00", "01", "fe", "ff"]) {
      expect(decodePacket(h(`20 02 ${b} 00`), 3)).toStrictEqual({ type: "connack", sessionPresent: false, reasonCode: 0 });
    }
    expect(decodePacket(h("20 02 01 05"), 3)).toStrictEqual({ type: "connack", sessionPresent: false, reasonCode: 5 });
    // 3.1.1 reads the flag (and checks the reserved bits, [MQTT-3.2.2-1]).
    expect(decodePacket(h("20 02 01 00"), 4)).toStrictEqual({ type: "connack", sessionPresent: true, reasonCode: 0 });
    expect(thrown(() => encodePacket({ type: "connack", sessionPresent: true, reasonCode: 0 }, 3))).toMatchObject({ code: ErrorCode.VersionMismatch });
    expect(hexBytes(encodePacket({ type: "connack", sessionPresent: false, reasonCode: 0 }, 3))).toBe("20 02 00 00");
  });

  it("[MQTT-3.1.2-2] MQTT 5.0 reads a 3.1.1 server's refusal of the version, 20 02 00 01, as CONNACK 0x84 Unsupported Protocol Version; nothing else without a property length", () => {
    const refusal = { type: "connack", sessionPresent: false, reasonCode: 0x84 };
    expect(decodePacket(h("20 02 00 01"), 5)).toStrictEqual(refusal);
    // The client's decoder (the engine's) reads it the same way.
    const d = new ClientDecoder({ protocolVersion: 5 });
    d.push(h("20 02 00 01"));
    expect(d.next()).toStrictEqual(refusal);
    // What a v5 server would send for it.
    expect(hexBytes(encodePacket(refusal as Packet, 5))).toBe("20 03 00 84 00");
    // Before MQTT 5 it is return code 1, as it always was.
    for (const v of [3, 4] as const) expect(decodePacket(h("20 02 00 01"), v)).toStrictEqual({ type: "connack", sessionPresent: false, reasonCode: 1 });
    // Session present or reserved flags with it, other return codes, 0x01 with a property length: malformed, as before.
    expect(decodeError(h("20 02 01 01"), 5)).toMatchObject({ code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED });
    expect(decodeError(h("20 02 02 01"), 5)).toMatchObject({ code: ErrorCode.FlagsInvalid, reasonCode: MALFORMED });
    for (const rc of ["00", "02", "03", "04", "05"]) expect(decodeError(h(`20 02 00 ${rc}`), 5)).toMatchObject({ name: "RemoteProtocolError", reasonCode: MALFORMED });
    expect(decodeError(h("20 03 00 01 00"), 5)).toMatchObject({ code: ErrorCode.ReasonCodeInvalid, reasonCode: MALFORMED });
  });

  it("MQTT 5.0 3.1.2.11.10, 3.15.2.2.2: Authentication Data only with an Authentication Method; an AUTH with a variable header names its method", () => {
    const data = new Uint8Array([0xaa]);
    const ok: Packet[] = [
      conn(5, { properties: { authenticationMethod: "M", authenticationData: data } }) as Packet,
      { type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: "M", authenticationData: data } },
      { type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "M", authenticationData: data } },
      { type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "M" } },
      { type: "auth", reasonCode: 0 },
    ];
    for (const p of ok) expect(decodePacket(encodePacket(p, 5), 5)).toStrictEqual(p);
    expect(hexBytes(encodePacket({ type: "auth", reasonCode: 0 }, 5))).toBe("f0 00");
    // The refusals, both ways, are in the tables above; here the reason code a DISCONNECT would carry.
    expect(decodeError(h("f0 02 18 00"), 5)).toMatchObject({ code: ErrorCode.AuthInvalid, reasonCode: PROTOCOL });
    expect(thrown(() => encodePacket({ type: "auth", reasonCode: 0x18 }, 5))).toMatchObject({ name: "LocalProtocolError", code: ErrorCode.AuthInvalid });
  });

  it("PINGREQ and PINGRESP take an absent or empty properties field, and refuse one that carries anything", () => {
    for (const v of [3, 4, 5] as const) {
      expect(hexBytes(encodePacket({ type: "pingreq" }, v))).toBe("c0 00");
      expect(hexBytes(encodePacket({ type: "pingreq", properties: {} } as Packet, v))).toBe("c0 00");
      expect(hexBytes(encodePacket({ type: "pingresp", properties: { reasonString: undefined } } as Packet, v))).toBe("d0 00");
      expect(thrown(() => encodePacket({ type: "pingresp", properties: { reasonString: "x" } } as Packet, v))).toMatchObject({
        name: "LocalProtocolError",
        code: ErrorCode.PropertyNotAllowed,
      });
    }
  });

  it("error messages quote at most 40 characters of a hostile string, never the whole field", () => {
    const long = "a".repeat(65_530);
    // A 65,535-byte topic with '#' at its end: refused, and the message stays short.
    const topic = new TextEncoder().encode(`${long}/#`);
    const body = new Uint8Array([topic.length >> 8, topic.length & 0xff, ...topic]);
    const frame = new Uint8Array([0x30, ...remainingLength(body.length), ...body]);
    const e = decodeError(frame, 4) as Error;
    expect(e).toMatchObject({ code: ErrorCode.TopicInvalid });
    expect(e.message.length).toBeLessThan(300);
    expect(e.message).not.toContain("a".repeat(41));
    // The encoder quotes a caller's values just as briefly.
    const junk: unknown[] = [
      { type: "publish", topic: `${long}#`, payload: new Uint8Array(0), qos: 0, retain: false, dup: false },
      { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: `${long}#x`, qos: 0 }] },
      { type: "suback", packetId: 1, reasonCodes: [long] },
      { type: "unsuback", packetId: 1, reasonCodes: [long] },
      { type: "connack", sessionPresent: false, reasonCode: 0, properties: { [long]: 1 } },
      { type: long },
      conn(3, { clientId: long }),
    ];
    for (const p of junk) {
      const err = thrown(() => encodePacket(p as Packet, 5)) as Error;
      expect(err).toBeInstanceOf(LocalProtocolError);
      expect(err.message.length).toBeLessThan(300);
      expect(err.message).not.toContain("a".repeat(41));
    }
  });
});

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

/** A 3.1 CONNECT (clean session 1, keep alive 60) whose payload is `payload` (the client id with its length). */
function encodeV3Connect(payload: Uint8Array): Uint8Array {
  const body = new Uint8Array([...h(`${MQISDP} 03 02 00 3c`), ...payload]);
  return new Uint8Array([0x10, ...remainingLength(body.length), ...body]);
}

describe("codec/rc.ts", () => {
  it("holds the same values as ReasonCode under the same names", async () => {
    const RC = await import("../src/codec/rc.js");
    const { ReasonCode } = await import("../src/codec/reason-codes.js");
    const entries = Object.entries(RC);
    expect(entries.length).toBeGreaterThan(0);
    for (const [name, value] of entries) expect([name, value]).toEqual([name, (ReasonCode as Record<string, number>)[name]]);
  });
});

describe("codes.ts", () => {
  it("holds every ErrorCode under the same name", async () => {
    const E = await import("../src/codes.js");
    expect(Object.keys(E).sort()).toEqual(Object.keys(ErrorCode).sort());
    for (const [name, value] of Object.entries(ErrorCode)) expect([name, (E as Record<string, string>)[name]]).toEqual([name, value]);
  });
});
