/**
 * The outgoing path's storage: IdMap (packet id -> slot) against a Map, the
 * send order and DUP of many messages in flight across a reconnect, and a
 * PUBLISH larger than the codec's slab piece handed out as header + the
 * caller's own payload (no copy) on both sides of the limit.
 */
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MqttConnection } from "../src/index.js";
import { decodePacket, encodePacket, type PublishPacket } from "../src/codec/index.js";
import { SLAB_MAX_PIECE } from "../src/codec/bytes.js";
import { IdMap } from "../src/engine/id-set.js";
import { OUTPUT_HIGH_WATER } from "../src/engine/outgoing.js";
import { check } from "./helpers/fc.js";

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function connected(maxInflight = 65_535): MqttConnection {
  const c = new MqttConnection({ protocolVersion: 5, clientId: "slots", keepAlive: 0, maxInflight, maxQueued: 70_000, clean: false, properties: { sessionExpiryInterval: 60 } });
  c.connect(0);
  c.pollTransmit(0);
  c.receiveData(0, encodePacket({ type: "connack", sessionPresent: true, reasonCode: 0, properties: { receiveMaximum: 65_535 } }, 5));
  expect(c.pollEvent(0)?.type).toBe("connected");
  return c;
}

/** Every PUBLISH in `bytes`, in order. */
function publishes(bytes: Uint8Array): PublishPacket[] {
  const out: PublishPacket[] = [];
  let off = 0;
  while (off < bytes.length) {
    // Remaining Length: a variable byte integer after the first byte.
    let len = 0;
    let mul = 1;
    let i = off + 1;
    for (;;) {
      const b = bytes[i++]!;
      len += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) break;
    }
    const p = decodePacket(bytes.subarray(off, i + len), 5);
    if (p.type === "publish") out.push(p);
    off = i + len;
  }
  return out;
}

describe("IdMap", () => {
  it("agrees with a Map under any sequence of set / delete / get / clear", () => {
    const id = fc.integer({ min: 1, max: 0xffff });
    const op = fc.oneof(
      fc.record({ k: fc.constant("set" as const), id, v: fc.nat(1_000_000) }),
      fc.record({ k: fc.constant("delete" as const), id }),
      fc.record({ k: fc.constant("get" as const), id }),
      fc.record({ k: fc.constant("clear" as const) }),
      // Runs of consecutive ids, as packet ids are handed out: pages fill and empty.
      fc.record({ k: fc.constant("run" as const), id, n: fc.integer({ min: 1, max: 600 }), del: fc.boolean() }),
    );
    check(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const m = new IdMap();
        const ref = new Map<number, number>();
        for (const o of ops) {
          if (o.k === "set") {
            m.set(o.id, o.v);
            ref.set(o.id, o.v);
          } else if (o.k === "delete") expect(m.delete(o.id)).toBe(ref.delete(o.id));
          else if (o.k === "get") expect(m.get(o.id)).toBe(ref.get(o.id) ?? -1);
          else if (o.k === "clear") {
            m.clear();
            ref.clear();
          } else {
            for (let i = 0; i < o.n; i++) {
              const k = ((o.id + i - 1) % 0xffff) + 1;
              if (o.del) expect(m.delete(k)).toBe(ref.delete(k));
              else {
                m.set(k, i);
                ref.set(k, i);
              }
            }
          }
          expect(m.size).toBe(ref.size);
        }
        for (const [k, v] of ref) expect(m.get(k)).toBe(v);
      }),
      200,
    );
  });
});

describe("outgoing slots", () => {
  it("70,000 QoS 1 messages, 60,000 in flight: resent in order with DUP after a reconnect, acked out of order, slots reused", () => {
    const c = connected(60_000);
    const payload = Uint8Array.of(1, 2, 3);
    // Taking the bytes as a socket would: new PUBLISH stop at the output's high-water mark until taken.
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 70_000; i++) {
      c.publish(1, { topic: `t/${i % 7}`, payload, qos: 1, token: i });
      if (c.outputBytes >= 32 * 1024) sent.push(...c.pollTransmit(1));
    }
    sent.push(...c.pollTransmit(1));
    expect(c.inflightCount).toBe(60_000);
    expect(c.queuedCount).toBe(10_000);
    const first = publishes(concat(sent));
    expect(first.length).toBe(60_000);
    expect(first.every((p, i) => p.packetId === i + 1 && !p.dup && p.topic === `t/${i % 7}`)).toBe(true);

    c.connectionLost(2);
    while (c.pollEvent(2) !== undefined);
    c.connect(3);
    c.pollTransmit(3);
    c.receiveData(3, encodePacket({ type: "connack", sessionPresent: true, reasonCode: 0, properties: { receiveMaximum: 65_535 } }, 5));
    expect(c.pollEvent(3)?.type).toBe("connected");
    const again = publishes(concat(c.pollTransmit(3)));
    expect(again.length).toBe(60_000);
    expect(again.every((p, i) => p.packetId === i + 1 && p.dup)).toBe(true);

    // Ack the even ids, then the odd: every message completes once, with its token; the queue follows.
    const tokens = new Set<unknown>();
    const ack = (id: number): void => c.receiveData(4, encodePacket({ type: "puback", packetId: id, reasonCode: 0 }, 5));
    for (const parity of [0, 1]) {
      for (let id = 1; id <= 60_000; id++) if (id % 2 === parity) ack(id);
      for (let e = c.pollEvent(4); e !== undefined; e = c.pollEvent(4)) {
        if (e.type === "published") tokens.add(e.token);
      }
    }
    expect(tokens.size).toBe(60_000);
    const restChunks: Uint8Array[] = [];
    while (c.wantsWrite()) restChunks.push(...c.pollTransmit(4));
    expect(c.inflightCount).toBe(10_000);
    const rest = publishes(concat(restChunks));
    expect(rest.length).toBe(10_000);
    expect(rest.every((p, i) => p.topic === `t/${(60_000 + i) % 7}` && !p.dup)).toBe(true);
    const session = c.exportSession(5);
    expect(session.outgoing.length).toBe(10_000);
    expect(session.outgoing.every((m, i) => m.mid === 60_001 + i && m.state === "publish" && m.sent === true)).toBe(true);
  });

  it("a PUBLISH over the slab piece goes out as its header and the caller's own payload; one at the limit in one piece", () => {
    const topic = "big/payload";
    for (const qos of [0, 1] as const) {
      // Sizes around SLAB_MAX_PIECE (packet) and payloads of exactly it.
      const overhead = encodePacket({ type: "publish", topic, payload: new Uint8Array(0), qos, retain: false, dup: false, ...(qos ? { packetId: 1 } : {}), properties: {} }, 5).length;
      for (const payloadSize of [SLAB_MAX_PIECE - overhead - 3, SLAB_MAX_PIECE - overhead - 2, SLAB_MAX_PIECE - overhead, SLAB_MAX_PIECE - overhead + 1, SLAB_MAX_PIECE, 100_000]) {
        const c = connected();
        const payload = new Uint8Array(payloadSize).map((_, i) => i * 31);
        c.publish(1, { topic, payload, qos });
        const chunks = c.pollTransmit(1);
        const bytes = concat(chunks);
        const size = bytes.length;
        const [p] = publishes(bytes);
        expect(p?.payload).toEqual(payload);
        if (size > SLAB_MAX_PIECE) {
          expect(chunks.length).toBe(2);
          expect(chunks[1]).toBe(payload);
        } else {
          expect(chunks.length).toBe(1);
          expect(chunks[0]!.buffer).not.toBe(payload.buffer);
        }
      }
    }
  });
});

describe("output high-water mark", () => {
  it("a caller that stops taking bytes holds at most the high-water mark plus one PUBLISH in the output; the queue (maxQueued) bounds the rest, QoS 0 included", () => {
    const c = connected(65_535);
    const payload = new Uint8Array(1000);
    let refused: unknown;
    let accepted = 0;
    for (let i = 0; i < 100_000 && refused === undefined; i++) {
      try {
        c.publish(1, { topic: "hw", payload, qos: (i % 2) as 0 | 1 });
        accepted++;
      } catch (e) {
        refused = e;
      }
    }
    expect(refused).toMatchObject({ code: "ERR_QUEUE_FULL" });
    expect(c.outputBytes).toBeLessThan(OUTPUT_HIGH_WATER + 1100);
    expect(c.queuedCount).toBe(70_000); // connected()'s maxQueued
    expect(c.wantsWrite()).toBe(true);
    // Taking the bytes lets the queue move up, in order, until all are out.
    const out: Uint8Array[] = [];
    for (let turns = 0; c.wantsWrite() && turns < 10_000; turns++) out.push(...c.pollTransmit(2));
    const got = publishes(concat(out));
    expect(got.length).toBe(accepted);
    expect(c.queuedCount).toBe(0);
  });
});
