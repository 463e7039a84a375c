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

// [code, name, packets]; 0x00 has a name per packet.
const TABLE: ReadonlyArray<readonly [number, string, readonly ReasonPacket[]]> = [
  [0x01, "Granted QoS 1", ["suback"]],
  [0x02, "Granted QoS 2", ["suback"]],
  [0x04, "Disconnect with Will Message", ["disconnect"]],
  [0x10, "No matching subscribers", ["puback", "pubrec"]],
  [0x11, "No subscription existed", ["unsuback"]],
  [0x18, "Continue authentication", ["auth"]],
  [0x19, "Re-authenticate", ["auth"]],
  [0x80, "Unspecified error", ["connack", "puback", "pubrec", "suback", "unsuback", "disconnect"]],
  [0x81, "Malformed Packet", ["connack", "disconnect"]],
  [0x82, "Protocol Error", ["connack", "disconnect"]],
  [0x83, "Implementation specific error", ["connack", "puback", "pubrec", "suback", "unsuback", "disconnect"]],
  [0x84, "Unsupported Protocol Version", ["connack"]],
  [0x85, "Client Identifier not valid", ["connack"]],
  [0x86, "Bad User Name or Password", ["connack"]],
  [0x87, "Not authorized", ["connack", "puback", "pubrec", "suback", "unsuback", "disconnect"]],
  [0x88, "Server unavailable", ["connack"]],
  [0x89, "Server busy", ["connack", "disconnect"]],
  [0x8a, "Banned", ["connack"]],
  [0x8b, "Server shutting down", ["disconnect"]],
  [0x8c, "Bad authentication method", ["connack", "disconnect"]],
  [0x8d, "Keep Alive timeout", ["disconnect"]],
  [0x8e, "Session taken over", ["disconnect"]],
  [0x8f, "Topic Filter invalid", ["suback", "unsuback", "disconnect"]],
  [0x90, "Topic Name invalid", ["connack", "puback", "pubrec", "disconnect"]],
  [0x91, "Packet Identifier in use", ["puback", "pubrec", "suback", "unsuback"]],
  [0x92, "Packet Identifier not found", ["pubrel", "pubcomp"]],
  [0x93, "Receive Maximum exceeded", ["disconnect"]],
  [0x94, "Topic Alias invalid", ["disconnect"]],
  [0x95, "Packet too large", ["connack", "disconnect"]],
  [0x96, "Message rate too high", ["disconnect"]],
  [0x97, "Quota exceeded", ["connack", "puback", "pubrec", "suback", "disconnect"]],
  [0x98, "Administrative action", ["disconnect"]],
  [0x99, "Payload format invalid", ["connack", "puback", "pubrec", "disconnect"]],
  [0x9a, "Retain not supported", ["connack", "disconnect"]],
  [0x9b, "QoS not supported", ["connack", "disconnect"]],
  [0x9c, "Use another server", ["connack", "disconnect"]],
  [0x9d, "Server moved", ["connack", "disconnect"]],
  [0x9e, "Shared Subscriptions not supported", ["suback", "disconnect"]],
  [0x9f, "Connection rate exceeded", ["connack", "disconnect"]],
  [0xa0, "Maximum connect time", ["disconnect"]],
  [0xa1, "Subscription Identifiers not supported", ["suback", "disconnect"]],
  [0xa2, "Wildcard Subscriptions not supported", ["suback", "disconnect"]],
];

const SUCCESS_NAME: Readonly<Record<ReasonPacket, string>> = {
  connack: "Success",
  puback: "Success",
  pubrec: "Success",
  pubrel: "Success",
  pubcomp: "Success",
  suback: "Granted QoS 0",
  unsuback: "Success",
  disconnect: "Normal disconnection",
  auth: "Success",
};

const NAMES = new Map<number, string>(TABLE.map(([c, n]) => [c, n]));
const VALID: Readonly<Record<ReasonPacket, ReadonlySet<number>>> = (() => {
  const out = {} as Record<ReasonPacket, Set<number>>;
  for (const p of Object.keys(SUCCESS_NAME) as ReasonPacket[]) out[p] = new Set([0]);
  for (const [code, , packets] of TABLE) for (const p of packets) out[p].add(code);
  return out;
})();

/** Whether `code` is a valid MQTT 5 reason code for `packet`. */
export function isValidReasonCode(packet: ReasonPacket, code: number): boolean {
  return VALID[packet].has(code);
}

/** The MQTT 5 reason codes valid in `packet`, ascending. */
export function reasonCodesFor(packet: ReasonPacket): number[] {
  return [...VALID[packet]].sort((a, b) => a - b);
}

/** The spec's name of a reason code ("Packet too large"), in the context of `packet` for 0x00. */
export function reasonCodeName(code: number, packet: ReasonPacket = "disconnect"): string {
  if (code === 0) return SUCCESS_NAME[packet];
  return NAMES.get(code) ?? `Unknown reason code 0x${code.toString(16).padStart(2, "0")}`;
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
