/**
 * Packets as plain, readonly-friendly objects tagged by `type`.
 *
 * Conventions:
 * - Fields a protocol version lacks are absent (not `undefined`) in decoded packets.
 * - `properties` (MQTT 5 only) is absent when the packet carries none; encoding treats
 *   absent and `{}` alike and always writes the Property Length [MQTT-2.2.2-1].
 * - Binary fields are `Uint8Array`. Decoded payloads are views into the received
 *   bytes, not copies: do not mutate a chunk after handing it to the decoder.
 */

/** 3 = MQTT 3.1 ("MQIsdp"), 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;

/** A user property: name and value, in order; duplicates are kept. */
export type UserProperty = readonly [name: string, value: string];

/**
 * Every MQTT 5 property. Which ones a packet may carry is in `PROPERTY_TABLE`
 * (properties.ts). Byte-valued flags keep their wire value (0 or 1).
 */
export interface Properties {
  payloadFormatIndicator?: number; // 0x01 byte
  messageExpiryInterval?: number; // 0x02 u32
  contentType?: string; // 0x03
  responseTopic?: string; // 0x08
  correlationData?: Uint8Array; // 0x09
  /** 0x0B. A PUBLISH from the server may carry several; a SUBSCRIBE at most one. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number; // 0x11 u32
  assignedClientIdentifier?: string; // 0x12
  serverKeepAlive?: number; // 0x13 u16
  authenticationMethod?: string; // 0x15
  authenticationData?: Uint8Array; // 0x16
  requestProblemInformation?: number; // 0x17 byte
  willDelayInterval?: number; // 0x18 u32
  requestResponseInformation?: number; // 0x19 byte
  responseInformation?: string; // 0x1A
  serverReference?: string; // 0x1C
  reasonString?: string; // 0x1F
  receiveMaximum?: number; // 0x21 u16
  topicAliasMaximum?: number; // 0x22 u16
  topicAlias?: number; // 0x23 u16
  maximumQoS?: number; // 0x24 byte
  retainAvailable?: number; // 0x25 byte
  userProperties?: UserProperty[]; // 0x26
  maximumPacketSize?: number; // 0x27 u32
  wildcardSubscriptionAvailable?: number; // 0x28 byte
  subscriptionIdentifierAvailable?: number; // 0x29 byte
  sharedSubscriptionAvailable?: number; // 0x2A byte
}

export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 will properties. */
  properties?: Properties;
}

export interface ConnectPacket {
  type: "connect";
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.1, 3.1.1) or Clean Start (5.0). */
  clean: boolean;
  /** Seconds; 0 turns keep alive off. */
  keepAlive: number;
  clientId: string;
  will?: Will;
  username?: string;
  password?: Uint8Array;
  properties?: Properties;
  /**
   * Bridge mode: the protocol level goes out with its top bit set (0x83 for
   * 3.1, 0x84 for 3.1.1, 0x85 for 5.0). Not part of the MQTT standard: it is
   * mosquitto's private extension ("try_private"), also sent by Paho's
   * `enable_bridge_mode()`, that tells a mosquitto broker the client is a
   * bridge: it does not send the bridge its own messages back and keeps
   * their retain flags as published. A broker without the extension refuses
   * such a CONNECT (unacceptable protocol level); mosquitto 2.0 takes it with
   * 3.1 and 3.1.1 only. Decoded: `true` when the bit is set, absent otherwise.
   */
  bridge?: boolean;
}

export interface ConnackPacket {
  type: "connack";
  sessionPresent: boolean;
  /** MQTT 5 reason code, or the 3.1/3.1.1 return code (0..5). */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: "publish";
  /** May be "" in MQTT 5 when `properties.topicAlias` names the topic. */
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present exactly when qos > 0 [MQTT-2.2.1-2]. */
  packetId?: number;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. */
export interface AckPacket<T extends "puback" | "pubrec" | "pubrel" | "pubcomp"> {
  type: T;
  packetId: number;
  /** MQTT 5 reason code; 0 before MQTT 5 (the field is not on the wire). */
  reasonCode: number;
  properties?: Properties;
}
export type PubackPacket = AckPacket<"puback">;
export type PubrecPacket = AckPacket<"pubrec">;
export type PubrelPacket = AckPacket<"pubrel">;
export type PubcompPacket = AckPacket<"pubcomp">;

export interface Subscription {
  topicFilter: string;
  qos: QoS;
  /** MQTT 5 subscription options; absent (and sent as 0) before MQTT 5. */
  noLocal?: boolean;
  retainAsPublished?: boolean;
  /** 0 send retained on subscribe, 1 only for a new subscription, 2 never. */
  retainHandling?: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: "subscribe";
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

export interface SubackPacket {
  type: "suback";
  packetId: number;
  /** One per requested filter, in order: granted QoS or a failure code. */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: "unsubscribe";
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: "unsuback";
  packetId: number;
  /** MQTT 5: one per filter, in order. Empty before MQTT 5 (not on the wire). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: "pingreq";
}
export interface PingrespPacket {
  type: "pingresp";
}

export interface DisconnectPacket {
  type: "disconnect";
  /** MQTT 5 reason code; 0 before MQTT 5. */
  reasonCode: number;
  properties?: Properties;
}

/** MQTT 5 only. */
export interface AuthPacket {
  type: "auth";
  reasonCode: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

export type PacketType = Packet["type"];

/** Every packet type, in the order of their type numbers 1..15. */
export const PACKET_TYPES: readonly PacketType[] = [
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "pingreq",
  "pingresp",
  "disconnect",
  "auth",
];

/** Control packet type numbers (the high nibble of the first byte). */
export const PACKET_TYPE_NUMBER: Readonly<Record<PacketType, number>> = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15,
};
