// Engine rows: messages per second through codec + MqttConnection, next to the
// codec alone doing the same wire work, so the engine's overhead shows as a
// ratio. The peer is scripted: its bytes are built once and fed in chunks.
//
// - incoming QoS 0 / 1 / 2: a stream of PUBLISH (and, for QoS 2, the PUBREL
//   that follows each PUBREC) fed to the engine, which delivers every message
//   and writes its acks; the codec-only contender decodes the same stream and
//   encodes the same acks.
// - outgoing QoS 0 / 1: `publish()` N messages, a window of 100 at a time: take
//   the bytes, feed that window's PUBACKs (QoS 1), drain the `published`
//   events; the codec-only contender encodes the same PUBLISH packets (and
//   decodes the PUBACKs).
// - [slab ≤ N B] outgoing QoS 0 of a packet of exactly N and N + 1 bytes, on
//   both sides of the codec's slab piece (read from its source): the engine
//   splits a PUBLISH past it into header + payload, so no step down there.

import { encodePacket, PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import { MqttConnection } from "@sansmqtt/core";
import type { Contender } from "./harness.js";
import { readThresholds } from "./thresholds.js";

const TOPIC = "sensors/building-7/floor-3/temperature";
const N = 20_000;
const CHUNK = 64 * 1024;

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function chunks(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += CHUNK) out.push(bytes.subarray(off, Math.min(off + CHUNK, bytes.length)));
  return out;
}

const payload = new Uint8Array(16).map((_, i) => i * 7);
const connack = encodePacket({ type: "connack", sessionPresent: false, reasonCode: 0 }, 4);

/** A connected engine (3.1.1), its CONNECT taken. */
function connected(opts: { maxInflight?: number } = {}): MqttConnection {
  const c = new MqttConnection({ protocolVersion: 4, clientId: "bench", keepAlive: 0, maxInflight: opts.maxInflight ?? 20, maxQueued: N });
  c.connect(0);
  c.pollTransmit(0);
  c.receiveData(0, connack);
  if (c.pollEvent(0)?.type !== "connected") throw new Error("engine did not connect");
  return c;
}

function incomingStream(qos: 0 | 1 | 2): { chunks: Uint8Array[]; bytes: number } {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    const packetId = (i % 65535) + 1;
    const p: Packet =
      qos === 0
        ? { type: "publish", topic: TOPIC, payload, qos, retain: false, dup: false }
        : { type: "publish", topic: TOPIC, payload, qos, retain: false, dup: false, packetId };
    parts.push(encodePacket(p, 4));
    if (qos === 2) parts.push(encodePacket({ type: "pubrel", packetId, reasonCode: 0 }, 4));
  }
  const all = concat(parts);
  return { chunks: chunks(all), bytes: all.length };
}

function incoming(qos: 0 | 1 | 2): Contender[] {
  const s = incomingStream(qos);
  const ackType = qos === 1 ? "puback" : "pubrec";
  const engine: Contender = {
    name: "engine",
    packetsPerPass: N,
    bytesPerPass: s.bytes,
    pass() {
      const c = connected();
      let messages = 0;
      let ackBytes = 0;
      for (const chunk of s.chunks) {
        c.receiveData(1, chunk);
        for (let e = c.pollEvent(0); e !== undefined; e = c.pollEvent(0)) if (e.type === "message") messages++;
        for (const b of c.pollTransmit(1)) ackBytes += b.length;
      }
      const want = qos === 0 ? 0 : qos === 1 ? 4 * N : 8 * N;
      if (messages !== N || ackBytes !== want) throw new Error(`engine: ${messages} messages, ${ackBytes} ack bytes`);
    },
  };
  const codec: Contender = {
    name: "codec",
    packetsPerPass: N,
    bytesPerPass: s.bytes,
    pass() {
      const d = new PacketDecoder({ protocolVersion: 4 });
      let messages = 0;
      let ackBytes = 0;
      for (const chunk of s.chunks) {
        d.push(chunk);
        for (let p = d.next(); p !== undefined; p = d.next()) {
          if (p.type === "publish") {
            messages++;
            if (p.qos > 0) ackBytes += encodePacket({ type: ackType, packetId: p.packetId!, reasonCode: 0 }, 4).length;
          } else if (p.type === "pubrel") {
            ackBytes += encodePacket({ type: "pubcomp", packetId: p.packetId, reasonCode: 0 }, 4).length;
          }
        }
      }
      const want = qos === 0 ? 0 : qos === 1 ? 4 * N : 8 * N;
      if (messages !== N || ackBytes !== want) throw new Error(`codec: ${messages} messages, ${ackBytes} ack bytes`);
    },
  };
  return [engine, codec];
}

/** Messages per round trip in the outgoing rows: the window a real client would keep. */
const WINDOW = 100;

function outgoing(qos: 0 | 1): Contender[] {
  const published = encodePacket(
    qos === 0
      ? { type: "publish", topic: TOPIC, payload, qos, retain: false, dup: false }
      : { type: "publish", topic: TOPIC, payload, qos, retain: false, dup: false, packetId: 1 },
    4,
  ).length;
  // The server's PUBACKs, one batch per window (ids go 1, 2, 3, ... on a fresh connection).
  const batches: Uint8Array[] = [];
  if (qos === 1) {
    for (let first = 1; first <= N; first += WINDOW) {
      const n = Math.min(WINDOW, N - first + 1);
      batches.push(concat(Array.from({ length: n }, (_, i) => encodePacket({ type: "puback", packetId: first + i, reasonCode: 0 }, 4))));
    }
  }
  const engine: Contender = {
    name: "engine",
    packetsPerPass: N,
    bytesPerPass: N * published,
    pass() {
      const c = connected({ maxInflight: WINDOW });
      let bytes = 0;
      let done = 0;
      for (let sent = 0, b = 0; sent < N; sent += WINDOW, b++) {
        for (let i = 0; i < WINDOW && sent + i < N; i++) c.publish(1, { topic: TOPIC, payload, qos });
        for (const chunk of c.pollTransmit(1)) bytes += chunk.length;
        if (qos === 1) c.receiveData(1, batches[b]!);
        for (let e = c.pollEvent(0); e !== undefined; e = c.pollEvent(0)) if (e.type === "published") done++;
      }
      if (bytes !== N * published || done !== N) throw new Error(`engine: ${bytes} bytes, ${done} published`);
    },
  };
  const codec: Contender = {
    name: "codec",
    packetsPerPass: N,
    bytesPerPass: N * published,
    pass() {
      const d = new PacketDecoder({ protocolVersion: 4 });
      let bytes = 0;
      let done = 0;
      for (let sent = 0, b = 0; sent < N; sent += WINDOW, b++) {
        for (let i = 0; i < WINDOW && sent + i < N; i++) {
          const p: Packet =
            qos === 0
              ? { type: "publish", topic: TOPIC, payload, qos, retain: false, dup: false }
              : { type: "publish", topic: TOPIC, payload, qos, retain: false, dup: false, packetId: sent + i + 1 };
          bytes += encodePacket(p, 4).length;
          if (qos === 0) done++;
        }
        if (qos === 1) {
          d.push(batches[b]!);
          for (let p = d.next(); p !== undefined; p = d.next()) if (p.type === "puback") done++;
        }
      }
      if (bytes !== N * published || done !== N) throw new Error(`codec: ${bytes} bytes, ${done} acks`);
    },
  };
  return [engine, codec];
}

/**
 * The engine on each side of the codec's slab piece (bytes.ts SLAB_MAX_PIECE):
 * outgoing QoS 0 PUBLISH (3.1.1) of exactly `packetBytes`, a window of 100
 * published then taken. Up to the limit the engine writes a PUBLISH whole
 * into its output; past it, the header and then the caller's payload as a
 * chunk of its own, uncopied. The codec-only contender encodes the same
 * packets with encodePacket, which gives a packet past the limit an
 * ArrayBuffer of its own. Compare the engine's msg/s of the two rows (run one
 * after the other): no step down at the limit.
 */
function outgoingSized(packetBytes: number): Contender[] {
  const M = 2_000;
  // 3.1.1 QoS 0 PUBLISH: 1 + Remaining Length bytes + 2 + topic + payload.
  const lenBytes = packetBytes - 1 < 128 ? 1 : packetBytes - 1 < 16_386 ? 2 : 3;
  const body = new Uint8Array(packetBytes - 1 - lenBytes - 2 - TOPIC.length).map((_, i) => i * 13);
  const packet: Packet = { type: "publish", topic: TOPIC, payload: body, qos: 0, retain: false, dup: false };
  const size = encodePacket(packet, 4).length;
  if (size !== packetBytes) throw new Error(`engine row: a ${size} B packet, wanted ${packetBytes}`);
  const engine: Contender = {
    name: "engine",
    packetsPerPass: M,
    bytesPerPass: M * size,
    pass() {
      const c = connected();
      let bytes = 0;
      let done = 0;
      for (let sent = 0; sent < M; sent += WINDOW) {
        for (let i = 0; i < WINDOW && sent + i < M; i++) c.publish(1, { topic: TOPIC, payload: body, qos: 0 });
        // Taken until empty: past the output's high-water mark (64 KiB) the engine
        // keeps messages queued and moves them up one take at a time.
        for (let chunks = c.pollTransmit(1); chunks.length > 0; chunks = c.pollTransmit(1)) for (const chunk of chunks) bytes += chunk.length;
        for (let e = c.pollEvent(0); e !== undefined; e = c.pollEvent(0)) if (e.type === "published") done++;
      }
      if (bytes !== M * size || done !== M) throw new Error(`engine: ${bytes} bytes, ${done} published`);
    },
  };
  const codec: Contender = {
    name: "codec",
    packetsPerPass: M,
    bytesPerPass: M * size,
    pass() {
      let bytes = 0;
      for (let i = 0; i < M; i++) bytes += encodePacket(packet, 4).length;
      if (bytes !== M * size) throw new Error(`codec: ${bytes} bytes`);
    },
  };
  return [engine, codec];
}

export interface EngineRow {
  id: string;
  label: string;
  make: () => Contender[];
}

export function engineRows(): EngineRow[] {
  const max = readThresholds().slabMaxPiece.value;
  return [
    { id: "engine:in0", label: "incoming QoS 0 PUBLISH, 16 B (3.1.1), delivered", make: () => incoming(0) },
    { id: "engine:in1", label: "incoming QoS 1 PUBLISH, 16 B, delivered + PUBACK", make: () => incoming(1) },
    { id: "engine:in2", label: "incoming QoS 2 PUBLISH, 16 B, delivered once + PUBREC, PUBREL → PUBCOMP", make: () => incoming(2) },
    { id: "engine:out0", label: "outgoing QoS 0 publish(), bytes taken, published", make: () => outgoing(0) },
    { id: "engine:out1", label: "outgoing QoS 1 publish(), window of 100, PUBACK → published", make: () => outgoing(1) },
    ...[max, max + 1].map((size) => ({
      id: `engine:slab${size}`,
      label: `[slab ≤ ${max.toLocaleString("en-US")} B] outgoing QoS 0 publish(), ${size.toLocaleString("en-US")} B packet, window of 100`,
      make: () => outgoingSized(size),
    })),
  ];
}
