// The packets each benchmark row encodes and decodes, built once, in the shape
// each library wants: ours (`type`, `packetId`, user properties as pairs) and
// mqtt-packet's (`cmd`, `messageId`, user properties as an object).

import type { encodePacket } from "@sansmqtt/core";
import type { Packet as TheirPacket } from "mqtt-packet";

export type OurPacket = Parameters<typeof encodePacket>[0];
export type OurVersion = Parameters<typeof encodePacket>[1];
export type { TheirPacket };

export interface Row {
  /** Short id, used in BENCH_ONLY and the targets. */
  id: string;
  /** Row label for the tables: short (a table row fits 120 columns); details go in `note`. */
  label: string;
  version: OurVersion;
  /** The same packets, in the same order, in each library's shape. */
  ours: OurPacket[];
  theirs: TheirPacket[];
  /** Which benchmarks the row takes part in; default both. */
  ops?: readonly ("parse" | "generate")[];
  /** Parse: the chunk size the stream is cut into, in bytes; default BENCH_CHUNK_KIB. */
  chunkSize?: number;
  /** A footnote for the label (rows with the same note share it). */
  note?: string;
  /**
   * The threshold this row sits beside, e.g. "slab ≤ 1,024 B": the two rows of
   * a threshold (adjacent in `rows()`) are measured in the same rounds.
   */
  threshold?: string;
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

function publish311(size: number, id: string, label: string): Row {
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
function publish311ManyTopics(count: number, id: string): Row {
  const body = payload(16, 5);
  const topics = Array.from({ length: count }, (_, i) => `sensors/building-${i % 97}/floor-${i}/temperature`);
  return {
    id,
    label: `[caches: 256 topics] ${count.toLocaleString("en-US")} topics, 16 B`,
    version: 4,
    ours: topics.map((topic) => ({ type: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    theirs: topics.map((topic) => ({ cmd: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    note: NOTE_TOPIC_COUNT,
    threshold: "caches: 256 topics",
  };
}

function publishV5(): Row {
  const body = payload(16, 2);
  return {
    id: "v5",
    label: "5.0 QoS1 PUBLISH, 16 B payload, 4 properties",
    note: "5.0 QoS1 PUBLISH, 16 B payload, properties: message expiry, content type, 2 user properties.",
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
    label: "5.0 mixed stream, all 15 types (17 packets)",
    note: "5.0 mixed stream: one of every MQTT 5 packet type, PUBLISH at QoS 0, 1 and 2 (17 packets), as a session sees them.",
    version: 5,
    ours,
    theirs,
  };
}

// ---- rows on both sides of each size threshold of the codec ----
//
// The thresholds in packages/core/src/codec when these rows were written:
// - bytes.ts SLAB_MAX_PIECE = 1,024: the encoder carves outputs of up to
//   1,024 bytes (the whole packet) from a shared 16 KiB slab; larger ones get
//   an ArrayBuffer each.
// - decode.ts TOPIC_SLOTS = 256, TOPIC_MAX_CACHED = 128; encode.ts
//   TOPIC_CACHE_ENTRIES = 256, TOPIC_CACHE_MAX_LEN = 256: the topic caches
//   hold 256 topics, of at most 128 bytes (decoder) or 256 bytes (encoder).
// - utf8.ts: decodeUtf8 builds strings of up to 24 bytes by hand, longer ones
//   through TextDecoder (reached on a topic-cache miss, and for every string
//   property).
// - decoder.ts COPY_BELOW = 1,024: a pushed chunk under 1,024 bytes is copied
//   into the decoder's own buffer (when bytes are already buffered), a longer
//   one kept as a view.
// Not given rows: decoder.ts OWN_MIN (256, the own buffer's smallest capacity,
// no change of path) and COMPACT_AFTER (64, segment-list bookkeeping,
// amortized), the 16 KiB slab size itself (a new slab every 16 KiB whatever
// the packet size).

const NOTE_SLAB =
  "[slab ≤ 1,024 B]: our encoder carves a packet of up to 1,024 B (whole packet, bytes.ts SLAB_MAX_PIECE) from a " +
  "shared 16 KiB slab, a larger one gets its own ArrayBuffer. 3.1.1 QoS0 PUBLISH, 38 B topic, payload 981 / 982 B.";
const NOTE_TOPIC_COUNT =
  "[caches: 256 topics]: both topic caches hold 256 topics (decode.ts TOPIC_SLOTS, direct-mapped; encode.ts " +
  "TOPIC_CACHE_ENTRIES). 256 distinct topics in turn fit (less the decoder's slot collisions); 4,096 miss.";
const NOTE_DECODER_TOPIC =
  "[decoder topic cache ≤ 128 B]: our decoder caches topics of up to 128 B (decode.ts TOPIC_MAX_CACHED). " +
  "One topic, 3.1.1 QoS0 PUBLISH, 16 B payload. Parse only: the encoder's limit is 256 B.";
const NOTE_ENCODER_TOPIC =
  "[encoder topic cache ≤ 256 B]: our encoder caches the bytes of ASCII topics of up to 256 B " +
  "(encode.ts TOPIC_CACHE_MAX_LEN). One topic, 3.1.1 QoS0 PUBLISH, 16 B payload. Generate only.";
const NOTE_UTF8 =
  "[UTF-8 by hand ≤ 24 B]: our decoder builds strings of up to 24 B by hand, longer ones with TextDecoder (utf8.ts). " +
  "4,096 distinct ASCII topics of 24 / 25 B in turn (so topic-cache misses reach it), 16 B payload. Parse only.";
const NOTE_CHUNK =
  "[chunks < 1,024 B copied]: our decoder copies a pushed chunk under 1,024 B into its own buffer when bytes are " +
  "already buffered, and keeps a longer one as a view (decoder.ts COPY_BELOW). The 16 B row's stream. Parse only.";

/** A valid topic name of exactly `length` ASCII bytes. */
function topicOfLength(length: number): string {
  const head = "sensors/";
  return head + "x".repeat(length - head.length);
}

/** 3.1.1 QoS0 PUBLISH of one topic and one payload (fresh objects, shared by both shapes). */
function publishRow(id: string, label: string, topic: string, payloadSize: number, extra: Partial<Row>): Row {
  const body = payload(payloadSize, 6);
  return {
    id,
    label,
    version: 4,
    ours: [{ type: "publish", topic, payload: body, qos: 0, retain: false, dup: false }],
    theirs: [{ cmd: "publish", topic, payload: body, qos: 0, retain: false, dup: false }],
    ...extra,
  };
}

/** A QoS0 PUBLISH (38-byte topic) whose whole packet is `packetBytes` long. */
function publishOfPacketSize(packetBytes: number, id: string): Row {
  // 1 (type) + 2 (Remaining Length, 128..16,383) + 2 + 38 (topic) + payload.
  const size = packetBytes - 1 - 2 - 2 - TOPIC.length;
  const row = publish311(size, id, `[slab ≤ 1,024 B] ${packetBytes.toLocaleString("en-US")} B packet`);
  row.note = NOTE_SLAB;
  row.threshold = "slab ≤ 1,024 B";
  return row;
}

/** `count` distinct ASCII topics of exactly `length` bytes, differing at both ends (the decoder's hash reads them). */
function publishManyTopicsOfLength(length: number, count: number, id: string): Row {
  const body = payload(16, 7);
  const topics = Array.from({ length: count }, (_, i) => {
    const tag = i.toString(36).padStart(3, "0");
    return `${tag}/${"s".repeat(length - 2 * tag.length - 2)}/${tag}`;
  });
  return {
    id,
    label: `[UTF-8 by hand ≤ 24 B] ${count.toLocaleString("en-US")} topics of ${length} B`,
    version: 4,
    ours: topics.map((topic) => ({ type: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    theirs: topics.map((topic) => ({ cmd: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    ops: ["parse"],
    note: NOTE_UTF8,
    threshold: "UTF-8 by hand ≤ 24 B",
  };
}

export function rows(): Row[] {
  const p16 = publish311(16, "p16", "3.1.1 QoS0 PUBLISH, 16 B payload");
  return [
    p16,
    publish311(1024, "p1k", "3.1.1 QoS0 PUBLISH, 1 KiB payload"),
    publish311(64 * 1024, "p64k", "3.1.1 QoS0 PUBLISH, 64 KiB payload"),
    publishV5(),
    mixedV5(),
    publishOfPacketSize(1024, "slab1024"),
    publishOfPacketSize(1025, "slab1025"),
    publish311ManyTopics(256, "topics256"),
    publish311ManyTopics(4096, "p16many"), // the honest worst case: every packet takes the uncached path
    publishRow("dtopic128", "[decoder topic cache ≤ 128 B] 128 B topic", topicOfLength(128), 16, {
      ops: ["parse"],
      note: NOTE_DECODER_TOPIC,
      threshold: "decoder topic cache ≤ 128 B",
    }),
    publishRow("dtopic129", "[decoder topic cache ≤ 128 B] 129 B topic", topicOfLength(129), 16, {
      ops: ["parse"],
      note: NOTE_DECODER_TOPIC,
      threshold: "decoder topic cache ≤ 128 B",
    }),
    publishRow("etopic256", "[encoder topic cache ≤ 256 B] 256 B topic", topicOfLength(256), 16, {
      ops: ["generate"],
      note: NOTE_ENCODER_TOPIC,
      threshold: "encoder topic cache ≤ 256 B",
    }),
    publishRow("etopic257", "[encoder topic cache ≤ 256 B] 257 B topic", topicOfLength(257), 16, {
      ops: ["generate"],
      note: NOTE_ENCODER_TOPIC,
      threshold: "encoder topic cache ≤ 256 B",
    }),
    publishManyTopicsOfLength(24, 4096, "utf8-24"),
    publishManyTopicsOfLength(25, 4096, "utf8-25"),
    {
      ...p16,
      id: "chunk1023",
      label: "[chunks < 1,024 B copied] 1,023 B chunks",
      ops: ["parse"],
      chunkSize: 1023,
      note: NOTE_CHUNK,
      threshold: "chunks < 1,024 B copied",
    },
    {
      ...p16,
      id: "chunk1024",
      label: "[chunks < 1,024 B copied] 1,024 B chunks",
      ops: ["parse"],
      chunkSize: 1024,
      note: NOTE_CHUNK,
      threshold: "chunks < 1,024 B copied",
    },
  ];
}
