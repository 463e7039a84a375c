// The packets each benchmark row encodes and decodes, built once, in the shape
// each library wants: ours (`type`, `packetId`, user properties as pairs) and
// mqtt-packet's (`cmd`, `messageId`, user properties as an object).

import type { encodePacket } from "@sansmqtt/core/codec";
import type { Packet as TheirPacket } from "mqtt-packet";
import { readThresholds, type Thresholds } from "./thresholds.js";

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
// The thresholds, read from packages/core/src/codec (thresholds.ts), with
// their values when these rows were written:
// - bytes.ts SLAB_MAX_PIECE (1,024): the encoder carves outputs of up to that
//   many bytes (the whole packet) from a shared slab; larger ones get an
//   ArrayBuffer each.
// - decode.ts TOPIC_SLOTS (256), TOPIC_MAX_CACHED (128); encode.ts
//   TOPIC_CACHE_ENTRIES (256), TOPIC_CACHE_MAX_LEN (256): the topic caches
//   hold that many topics, of at most that many bytes.
// - utf8.ts decodeUtf8 (24): strings of up to 24 bytes are built by hand,
//   longer ones through TextDecoder (reached on a topic-cache miss, and for
//   every string property).
// - decoder.ts COPY_BELOW (1,024): a pushed chunk shorter than that is copied
//   into the decoder's own buffer (when bytes are already buffered), a longer
//   one kept as a view.
// Not given rows: decoder.ts OWN_MIN (256, the own buffer's smallest capacity,
// no change of path) and COMPACT_AFTER (64, segment-list bookkeeping,
// amortized), the slab size itself (a new slab whenever one is used up,
// whatever the packet size).

const n = (x: number): string => x.toLocaleString("en-US");
const B = (x: number): string => `${n(x)} B`;

/** A valid topic name of exactly `length` ASCII bytes (length >= 9). */
function topicOfLength(length: number): string {
  const head = "sensors/";
  return head + "x".repeat(length - head.length);
}

/** 3.1.1 QoS0 PUBLISH of one topic and one payload. */
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

/** Payload size of a 3.1.1 QoS0 PUBLISH on TOPIC whose whole packet is `packetBytes` long. */
function payloadForPacket(packetBytes: number): number {
  // packet = 1 (type) + Remaining Length's own bytes + 2 + topic + payload.
  for (let lenBytes = 1; lenBytes <= 4; lenBytes++) {
    const body = packetBytes - 1 - lenBytes;
    const fits = body < 2 ** (7 * lenBytes) && (lenBytes === 1 || body >= 2 ** (7 * (lenBytes - 1)));
    if (fits) return body - 2 - TOPIC.length;
  }
  throw new Error(`no 3.1.1 PUBLISH is exactly ${packetBytes} bytes long`);
}

/** `count` distinct topics (the p16many scheme), 16 B payload. */
function manyTopics(count: number, id: string, label: string, extra: Partial<Row>): Row {
  const body = payload(16, 5);
  const topics = Array.from({ length: count }, (_, i) => `sensors/building-${i % 97}/floor-${i}/temperature`);
  return {
    id,
    label,
    version: 4,
    ours: topics.map((topic) => ({ type: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    theirs: topics.map((topic) => ({ cmd: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    ...extra,
  };
}

/** `count` distinct ASCII topics of exactly `length` bytes, differing at both ends (the decoder's hash reads them). */
function manyTopicsOfLength(length: number, count: number, id: string, label: string, extra: Partial<Row>): Row {
  const body = payload(16, 7);
  const topics = Array.from({ length: count }, (_, i) => {
    const tag = i.toString(36).padStart(3, "0");
    return `${tag}/${"s".repeat(length - 2 * tag.length - 2)}/${tag}`;
  });
  return {
    id,
    label,
    version: 4,
    ours: topics.map((topic) => ({ type: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    theirs: topics.map((topic) => ({ cmd: "publish", topic, payload: body, qos: 0, retain: false, dup: false })),
    ...extra,
  };
}

function thresholdRows(p16: Row, t: Thresholds): Row[] {
  const out: Row[] = [];

  // The slab: packets of exactly the limit and one byte more.
  {
    const max = t.slabMaxPiece.value;
    const name = `slab ≤ ${B(max)}`;
    const note =
      `[${name}]: our encoder carves a packet of up to ${B(max)} (the whole packet; ${t.slabMaxPiece.where}) from a ` +
      `shared slab, a larger one gets its own ArrayBuffer. 3.1.1 QoS0 PUBLISH, ${TOPIC.length} B topic, ` +
      `payload ${n(payloadForPacket(max))} / ${n(payloadForPacket(max + 1))} B.`;
    for (const size of [max, max + 1]) {
      const row = publish311(payloadForPacket(size), `slab${size}`, `[${name}] ${B(size)} packet`);
      out.push({ ...row, note, threshold: name });
    }
  }

  // Topic caches, by count: as many topics as the cache holds, then 16 times as many (always missing).
  const counts = (entries: number, ops: Row["ops"], who: string, where: string, id: string): void => {
    const name = `${who}: ${n(entries)} topics`;
    const far = Math.max(4096, 16 * entries);
    const note =
      `[${name}]: ${who === "caches" ? "both topic caches hold" : `our ${who} holds`} ${n(entries)} topics (${where}). ` +
      `${n(entries)} distinct topics in turn fit (less the decoder's collisions: it is direct-mapped); ` +
      `${n(far)} miss: every packet takes the uncached path, the honest worst case.`;
    const extra = { note, threshold: name, ...(ops !== undefined ? { ops } : {}) };
    out.push(manyTopics(entries, `topics${entries}${id}`, `[${name}] ${n(entries)} topics, 16 B`, extra));
    // Keeps the id "p16many" for the 4,096-topic row where there is one row for both directions.
    out.push(manyTopics(far, id === "" && far === 4096 ? "p16many" : `topics${far}${id}`, `[${name}] ${n(far)} topics, 16 B`, extra));
  };
  const dSlots = t.decoderTopicSlots;
  const eEntries = t.encoderTopicEntries;
  if (dSlots.value === eEntries.value) {
    counts(dSlots.value, undefined, "caches", `${dSlots.where}; ${eEntries.where}`, "");
  } else {
    counts(dSlots.value, ["parse"], "decoder topic cache", dSlots.where, "d");
    counts(eEntries.value, ["generate"], "encoder topic cache", eEntries.where, "e");
  }

  // Topic caches, by length: one topic of the longest length cached, and one byte longer.
  {
    const max = t.decoderTopicMax.value;
    const name = `decoder topic cache ≤ ${B(max)}`;
    const note =
      `[${name}]: our decoder caches topics of up to ${B(max)} (${t.decoderTopicMax.where}). One topic, 3.1.1 QoS0 ` +
      "PUBLISH, 16 B payload. Parse only.";
    for (const len of [max, max + 1]) {
      out.push(publishRow(`dtopic${len}`, `[${name}] ${B(len)} topic`, topicOfLength(len), 16, { ops: ["parse"], note, threshold: name }));
    }
  }
  {
    const max = t.encoderTopicMax.value;
    const name = `encoder topic cache ≤ ${B(max)}`;
    const note =
      `[${name}]: our encoder caches the bytes of ASCII topics of up to ${B(max)} (${t.encoderTopicMax.where}). ` +
      "One topic, 3.1.1 QoS0 PUBLISH, 16 B payload. Generate only.";
    for (const len of [max, max + 1]) {
      out.push(publishRow(`etopic${len}`, `[${name}] ${B(len)} topic`, topicOfLength(len), 16, { ops: ["generate"], note, threshold: name }));
    }
  }

  // UTF-8 decoding: strings of the longest length built by hand, and one byte longer.
  {
    const max = t.utf8ByHand.value;
    const name = `UTF-8 by hand ≤ ${B(max)}`;
    const note =
      `[${name}]: our decoder builds strings of up to ${B(max)} by hand, longer ones with TextDecoder ` +
      `(${t.utf8ByHand.where}). 4,096 distinct ASCII topics of ${max} / ${max + 1} B in turn (so topic-cache misses ` +
      "reach it), 16 B payload. Parse only.";
    for (const len of [max, max + 1]) {
      out.push(manyTopicsOfLength(len, 4096, `utf8-${len}`, `[${name}] 4,096 topics of ${B(len)}`, { ops: ["parse"], note, threshold: name }));
    }
  }

  // The decoder's chunks: one byte short of the copy limit, and at it.
  {
    const limit = t.copyBelow.value;
    const name = `chunks < ${B(limit)} copied`;
    const note =
      `[${name}]: our decoder copies a pushed chunk under ${B(limit)} into its own buffer when bytes are already ` +
      `buffered, and keeps a longer one as a view (${t.copyBelow.where}). The 16 B row's stream. Parse only.`;
    for (const size of [limit - 1, limit]) {
      out.push({ ...p16, id: `chunk${size}`, label: `[${name}] ${B(size)} chunks`, ops: ["parse"], chunkSize: size, note, threshold: name });
    }
  }
  return out;
}

export function rows(t: Thresholds = readThresholds()): Row[] {
  const p16 = publish311(16, "p16", "3.1.1 QoS0 PUBLISH, 16 B payload");
  return [
    p16,
    publish311(1024, "p1k", "3.1.1 QoS0 PUBLISH, 1 KiB payload"),
    publish311(64 * 1024, "p64k", "3.1.1 QoS0 PUBLISH, 64 KiB payload"),
    publishV5(),
    mixedV5(),
    ...thresholdRows(p16, t),
  ];
}
