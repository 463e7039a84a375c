/**
 * MQTT 5 reason codes (spec 2.4, table 2-6) with the packets each may appear in,
 * and the MQTT 3.1 / 3.1.1 CONNACK return codes.
 */
import type { PacketType } from "./types.js";

export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

type ReasonPacket = Extract<PacketType, "connack" | "puback" | "pubrec" | "pubrel" | "pubcomp" | "suback" | "unsuback" | "disconnect" | "auth">;

/*
 * Which packets may carry each reason code (table 2-6), as bits: validation
 * needs only these few numbers, so the names (for messages and tools) are a
 * table of their own that a bundle without `reasonCodeName` leaves out.
 */
const CONNACK = 1;
const PUBACK = 2;
const PUBREC = 4;
const PUBREL = 8;
const PUBCOMP = 16;
const SUBACK = 32;
const UNSUBACK = 64;
const DISCONNECT = 128;
const AUTH = 256;
const BIT: Readonly<Record<ReasonPacket, number>> = {
  connack: CONNACK,
  puback: PUBACK,
  pubrec: PUBREC,
  pubrel: PUBREL,
  pubcomp: PUBCOMP,
  suback: SUBACK,
  unsuback: UNSUBACK,
  disconnect: DISCONNECT,
  auth: AUTH,
};
/** The usual failures of CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK and DISCONNECT. */
const FAILURE = CONNACK | PUBACK | PUBREC | SUBACK | UNSUBACK | DISCONNECT;
const CONNACK_DISCONNECT = CONNACK | DISCONNECT;

/** Code → the packets it is valid in (0x00 is valid in all of them). */
const PACKETS: Readonly<Record<number, number>> = {
  0x00: CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBACK | UNSUBACK | DISCONNECT | AUTH,
  0x01: SUBACK,
  0x02: SUBACK,
  0x04: DISCONNECT,
  0x10: PUBACK | PUBREC,
  0x11: UNSUBACK,
  0x18: AUTH,
  0x19: AUTH,
  0x80: FAILURE,
  0x81: CONNACK_DISCONNECT,
  0x82: CONNACK_DISCONNECT,
  0x83: FAILURE,
  0x84: CONNACK,
  0x85: CONNACK,
  0x86: CONNACK,
  0x87: FAILURE,
  0x88: CONNACK,
  0x89: CONNACK_DISCONNECT,
  0x8a: CONNACK,
  0x8b: DISCONNECT,
  0x8c: CONNACK_DISCONNECT,
  0x8d: DISCONNECT,
  0x8e: DISCONNECT,
  0x8f: SUBACK | UNSUBACK | DISCONNECT,
  0x90: CONNACK | PUBACK | PUBREC | DISCONNECT,
  0x91: PUBACK | PUBREC | SUBACK | UNSUBACK,
  0x92: PUBREL | PUBCOMP,
  0x93: DISCONNECT,
  0x94: DISCONNECT,
  0x95: CONNACK_DISCONNECT,
  0x96: DISCONNECT,
  0x97: CONNACK | PUBACK | PUBREC | SUBACK | DISCONNECT,
  0x98: DISCONNECT,
  0x99: CONNACK | PUBACK | PUBREC | DISCONNECT,
  0x9a: CONNACK_DISCONNECT,
  0x9b: CONNACK_DISCONNECT,
  0x9c: CONNACK_DISCONNECT,
  0x9d: CONNACK_DISCONNECT,
  0x9e: SUBACK | DISCONNECT,
  0x9f: CONNACK_DISCONNECT,
  0xa0: DISCONNECT,
  0xa1: SUBACK | DISCONNECT,
  0xa2: SUBACK | DISCONNECT,
};

/** Whether `code` is a valid MQTT 5 reason code for `packet`. */
export function isValidReasonCode(packet: ReasonPacket, code: number): boolean {
  return typeof code === "number" && ((PACKETS[code] ?? 0) & BIT[packet]) !== 0;
}

/** The MQTT 5 reason codes valid in `packet`, ascending. */
export function reasonCodesFor(packet: ReasonPacket): number[] {
  return Object.keys(PACKETS)
    .map(Number)
    .filter((c) => isValidReasonCode(packet, c))
    .sort((a, b) => a - b);
}

/** The spec's names of the reason codes above 0x00. */
const NAMES: Readonly<Record<number, string>> = {
  0x01: "Granted QoS 1",
  0x02: "Granted QoS 2",
  0x04: "Disconnect with Will Message",
  0x10: "No matching subscribers",
  0x11: "No subscription existed",
  0x18: "Continue authentication",
  0x19: "Re-authenticate",
  0x80: "Unspecified error",
  0x81: "Malformed Packet",
  0x82: "Protocol Error",
  0x83: "Implementation specific error",
  0x84: "Unsupported Protocol Version",
  0x85: "Client Identifier not valid",
  0x86: "Bad User Name or Password",
  0x87: "Not authorized",
  0x88: "Server unavailable",
  0x89: "Server busy",
  0x8a: "Banned",
  0x8b: "Server shutting down",
  0x8c: "Bad authentication method",
  0x8d: "Keep Alive timeout",
  0x8e: "Session taken over",
  0x8f: "Topic Filter invalid",
  0x90: "Topic Name invalid",
  0x91: "Packet Identifier in use",
  0x92: "Packet Identifier not found",
  0x93: "Receive Maximum exceeded",
  0x94: "Topic Alias invalid",
  0x95: "Packet too large",
  0x96: "Message rate too high",
  0x97: "Quota exceeded",
  0x98: "Administrative action",
  0x99: "Payload format invalid",
  0x9a: "Retain not supported",
  0x9b: "QoS not supported",
  0x9c: "Use another server",
  0x9d: "Server moved",
  0x9e: "Shared Subscriptions not supported",
  0x9f: "Connection rate exceeded",
  0xa0: "Maximum connect time",
  0xa1: "Subscription Identifiers not supported",
  0xa2: "Wildcard Subscriptions not supported",
};

/** The spec's name of a reason code ("Packet too large"), in the context of `packet` for 0x00. */
export function reasonCodeName(code: number, packet: ReasonPacket = "disconnect"): string {
  if (code === 0) return packet === "suback" ? "Granted QoS 0" : packet === "disconnect" ? "Normal disconnection" : "Success";
  return NAMES[code] ?? `Unknown reason code 0x${code.toString(16).padStart(2, "0")}`;
}

/** MQTT 3.1 / 3.1.1 CONNACK return codes. */
export const ConnackReturnCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5,
} as const;

const V3_CONNACK_NAMES = [
  "Connection Accepted",
  "Connection Refused, unacceptable protocol version",
  "Connection Refused, identifier rejected",
  "Connection Refused, Server unavailable",
  "Connection Refused, bad user name or password",
  "Connection Refused, not authorized",
];

export function connackReturnCodeName(code: number): string {
  return V3_CONNACK_NAMES[code] ?? `Unknown return code ${code}`;
}

/** MQTT 3.1.1 SUBACK return codes [MQTT-3.9.3-2]. */
export function isValidV4SubackCode(code: number): boolean {
  return code === 0 || code === 1 || code === 2 || code === 0x80;
}
