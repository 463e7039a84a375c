// The packets each benchmark row encodes and decodes, built once, in the shape
// each library wants: ours (`type`, `packetId`, user properties as pairs) and
// mqtt-packet's (`cmd`, `messageId`, user properties as an object).

import type { encodePacket } from "@sansmqtt/core";
import type { Packet as TheirPacket } from "mqtt-packet";

export type OurPacket = Parameters<typeof encodePacket>[0];
export type OurVersion = Parameters<typeof encodePacket>[1];
export type { TheirPacket };

export interface Row {
  /** Short id, used in the targets. */
  id: "p16" | "p16many" | "p1k" | "p64k" | "v5" | "mixed";
  /** Row label for the table. */
  label: string;
  version: OurVersion;
  /** The same packets, in the same order, in each library's shape. */
  ours: OurPacket[];
  theirs: TheirPacket[];
}

const TOPIC = "sensors/building-7/floor-3/temperature";

/** Deterministic, non-trivial payload bytes (a Buffer, so both libraries take it as is). */
function payload(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function publish311(size: number, id: Row["id"], label: string): Row {
  const body = payload(size);
  return {
    id,
    label,
    version: 4,
    ours: [{ type: "publish", topic: TOPIC, payload: body, qos: 0, retain: false, dup: false }],
    theirs: [{ cmd: "publish", topic: TOPIC, payload: body, qos: 0, retain: false, dup: false }],
  };
}

/**
 * The 16 B row with 4,096 distinct topics in turn: more than the codec's topic
 * caches hold (256 each way), so every packet takes the uncached path. The
 * honest worst case beside the single-topic rows.
 */
function publish311ManyTopics(): Row {
  const body = payload(16, 5);
  const topics = Array.from({ length: 4096 }, (_, i) => `sensors/building-${i % 97}/floor-${i}/temperature`);
  return {
    id: "p16many",
    label: "3.1.1 QoS0 PUBLISH, 16 B payload, 4,096 distinct topics (caches miss)",
    version: 4,
    ours: topics.map((topic) => ({ type: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    theirs: topics.map((topic) => ({ cmd: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
  };
}

function publishV5(): Row {
  const body = payload(16, 2);
  return {
    id: "v5",
    label: "5.0 QoS1 PUBLISH, 16 B payload + expiry, content type, 2 user props",
    version: 5,
    ours: [
      {
        type: "publish",
        topic: TOPIC,
        payload: body,
        qos: 1,
        retain: false,
        dup: false,
        packetId: 4242,
        properties: {
          messageExpiryInterval: 3600,
          contentType: "application/json",
          userProperties: [
            ["source", "bench"],
            ["unit", "celsius"],
          ],
        },
      },
    ],
    theirs: [
      {
        cmd: "publish",
        topic: TOPIC,
        payload: body,
        qos: 1,
        retain: false,
        dup: false,
        messageId: 4242,
        properties: {
          messageExpiryInterval: 3600,
          contentType: "application/json",
          userProperties: { source: "bench", unit: "celsius" },
        },
      },
    ],
  };
}

/** One of every MQTT 5 packet type (publish at QoS 0, 1 and 2), as a session might see them. */
function mixedV5(): Row {
  const small = payload(16, 3);
  const password = Buffer.from("correct horse battery staple");
  const authData = payload(32, 4);
  const willPayload = Buffer.from("offline");
  const ours: OurPacket[] = [
    {
      type: "connect",
      protocolVersion: 5,
      clean: true,
      keepAlive: 60,
      clientId: "bench-client-0001",
      username: "bench",
      password,
      will: {
        topic: "clients/bench-client-0001/status",
        payload: willPayload,
        qos: 1,
        retain: true,
        properties: { willDelayInterval: 10 },
      },
      properties: { sessionExpiryInterval: 300, receiveMaximum: 100 },
    },
    {
      type: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { topicAliasMaximum: 10, maximumPacketSize: 1048576 },
    },
    { type: "publish", topic: TOPIC, payload: small, qos: 0, retain: false, dup: false },
    {
      type: "publish",
      topic: TOPIC,
      payload: small,
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
      properties: { messageExpiryInterval: 60, contentType: "application/octet-stream" },
    },
    { type: "publish", topic: TOPIC, payload: small, qos: 2, retain: true, dup: false, packetId: 2 },
    { type: "puback", packetId: 1, reasonCode: 0 },
    { type: "pubrec", packetId: 2, reasonCode: 0x10 },
    { type: "pubrel", packetId: 2, reasonCode: 0 },
    { type: "pubcomp", packetId: 2, reasonCode: 0 },
    {
      type: "subscribe",
      packetId: 3,
      subscriptions: [
        { topicFilter: "sensors/+/floor-3/#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: "alerts/#", qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 1 },
      ],
    },
    { type: "suback", packetId: 3, reasonCodes: [1, 2] },
    { type: "unsubscribe", packetId: 4, topicFilters: ["sensors/+/floor-3/#", "alerts/#"] },
    { type: "unsuback", packetId: 4, reasonCodes: [0, 0x11] },
    { type: "pingreq" },
    { type: "pingresp" },
    { type: "disconnect", reasonCode: 0 },
    {
      type: "auth",
      reasonCode: 0x18,
      properties: { authenticationMethod: "SCRAM-SHA-256", authenticationData: authData },
    },
  ];
  const theirs: TheirPacket[] = [
    {
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 5,
      clean: true,
      keepalive: 60,
      clientId: "bench-client-0001",
      username: "bench",
      password,
      will: {
        topic: "clients/bench-client-0001/status",
        payload: willPayload,
        qos: 1,
        retain: true,
        properties: { willDelayInterval: 10 },
      },
      properties: { sessionExpiryInterval: 300, receiveMaximum: 100 },
    },
    {
      cmd: "connack",
      sessionPresent: false,
      reasonCode: 0,
      properties: { topicAliasMaximum: 10, maximumPacketSize: 1048576 },
    },
    { cmd: "publish", topic: TOPIC, payload: small, qos: 0, retain: false, dup: false },
    {
      cmd: "publish",
      topic: TOPIC,
      payload: small,
      qos: 1,
      retain: false,
      dup: false,
      messageId: 1,
      properties: { messageExpiryInterval: 60, contentType: "application/octet-stream" },
    },
    { cmd: "publish", topic: TOPIC, payload: small, qos: 2, retain: true, dup: false, messageId: 2 },
    { cmd: "puback", messageId: 1, reasonCode: 0 },
    { cmd: "pubrec", messageId: 2, reasonCode: 0x10 },
    { cmd: "pubrel", messageId: 2, reasonCode: 0 },
    { cmd: "pubcomp", messageId: 2, reasonCode: 0 },
    {
      cmd: "subscribe",
      messageId: 3,
      subscriptions: [
        { topic: "sensors/+/floor-3/#", qos: 1, nl: false, rap: false, rh: 0 },
        { topic: "alerts/#", qos: 2, nl: true, rap: true, rh: 1 },
      ],
    },
    { cmd: "suback", messageId: 3, granted: [1, 2] },
    { cmd: "unsubscribe", messageId: 4, unsubscriptions: ["sensors/+/floor-3/#", "alerts/#"] },
    { cmd: "unsuback", messageId: 4, granted: [0, 0x11] },
    { cmd: "pingreq" },
    { cmd: "pingresp" },
    { cmd: "disconnect", reasonCode: 0 },
    {
      cmd: "auth",
      reasonCode: 0x18,
      properties: { authenticationMethod: "SCRAM-SHA-256", authenticationData: authData },
    },
  ];
  return {
    id: "mixed",
    label: "5.0 mixed stream, all 15 packet types (17 packets)",
    version: 5,
    ours,
    theirs,
  };
}

export function rows(): Row[] {
  return [
    publish311(16, "p16", "3.1.1 QoS0 PUBLISH, 16 B payload"),
    publish311ManyTopics(),
    publish311(1024, "p1k", "3.1.1 QoS0 PUBLISH, 1 KiB payload"),
    publish311(64 * 1024, "p64k", "3.1.1 QoS0 PUBLISH, 64 KiB payload"),
    publishV5(),
    mixedV5(),
  ];
}
