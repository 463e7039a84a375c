/**
 * Outgoing application messages: QoS 0/1/2 flows, failing PUBACK/PUBREC reason
 * codes, packet identifiers, flow control (our maxInflight and the server's
 * Receive Maximum) and the bounded queue.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, LocalProtocolError } from "../src/index.js";
import { type Packet } from "../src/codec/index.js";
import { expectMisuse, Harness, serverPublish, te, thrown } from "./helpers/peer.js";

const x = te.encode("x");

describe("QoS 0", () => {
  it("[MQTT-4.3.1-1] sends QoS 0 with DUP 0 and no packet id, reported published once handed to the output", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const mid = h.conn.publish(0, { topic: "a/b", payload: te.encode("hello"), retain: true, properties: { contentType: "text/plain", userProperties: [["k", "v"]] } });
    // Not before its bytes are handed out: then it is as done as QoS 0 gets.
    expect(h.drain()).toEqual([]);
    expect(h.flush()).toEqual([
      { type: "publish", topic: "a/b", payload: te.encode("hello"), qos: 0, retain: true, dup: false, properties: { contentType: "text/plain", userProperties: [["k", "v"]] } },
    ]);
    expect(h.drain()).toEqual([{ type: "published", mid, qos: 0, reasonCode: 0 }]);
    expect(h.conn.inflightCount).toBe(0);
    // A QoS 0 publish takes no packet identifier.
    expect(h.conn.exportSession(h.now).nextPacketId).toBe(1);
  });

  it("queues QoS 0 while not connected and sends it after CONNACK", () => {
    const h = new Harness({ protocolVersion: 4 });
    const mid = h.conn.publish(0, { topic: "q", payload: x });
    expect(h.drain()).toEqual([]);
    expect(h.conn.queuedCount).toBe(1);
    expect(h.connect()).toEqual([{ type: "publish", topic: "q", payload: x, qos: 0, retain: false, dup: false }]);
    expect(h.drain()).toMatchObject([{ type: "published", mid, qos: 0, reasonCode: 0 }]);
    expect(h.events).toMatchObject([{ type: "connected" }, { type: "published", mid, qos: 0, reasonCode: 0 }]);
  });

  it("returns increasing message ids, distinct from packet ids", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const a = h.conn.publish(0, { topic: "t", payload: x });
    const b = h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    const c = h.conn.subscribe(0, { topicFilter: "s", qos: 0 });
    const d = h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    expect([a, b, c, d]).toEqual([1, 2, 3, 4]);
    expect(h.flush().map((p) => ("packetId" in p ? p.packetId : undefined))).toEqual([undefined, 1, 2, 3]);
  });
});

describe("QoS 1", () => {
  it("[MQTT-4.3.2-1] [MQTT-4.3.2-2] [MQTT-4.3.2-3] [MQTT-2.2.1-5] sends QoS 1 with a fresh id and DUP 0, and completes only on the matching PUBACK", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const m1 = h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    const m2 = h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    expect(h.flush()).toEqual([
      { type: "publish", topic: "t", payload: x, qos: 1, retain: false, dup: false, packetId: 1 },
      { type: "publish", topic: "t", payload: x, qos: 1, retain: false, dup: false, packetId: 2 },
    ]);
    expect(h.drain()).toEqual([]);
    expect(h.conn.inflightCount).toBe(2);
    // PUBACK for 2 completes m2 only.
    expect(h.serverSends({ type: "puback", packetId: 2, reasonCode: 0 })).toEqual([{ type: "published", mid: m2, qos: 1, reasonCode: 0, packetId: 2 }]);
    // A duplicate PUBACK changes nothing.
    expect(h.serverSends({ type: "puback", packetId: 2, reasonCode: 0 })).toEqual([]);
    expect(h.conn.inflightCount).toBe(1);
    // Time passing does not retransmit on a live connection.
    h.advanceTo(50_000);
    expect(h.flush().filter((p) => p.type === "publish")).toEqual([]);
    expect(h.serverSends({ type: "puback", packetId: 1, reasonCode: 0x10, properties: { reasonString: "nobody" } })).toEqual([
      { type: "published", mid: m1, qos: 1, reasonCode: 0x10, packetId: 1, properties: { reasonString: "nobody" } },
    ]);
    expect(h.conn.inflightCount).toBe(0);
    expect(h.flush()).toEqual([]);
  });

  for (const rc of [0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]) {
    it(`[MQTT-4.4.0-2] PUBACK 0x${rc.toString(16)} ends the message; it is never retransmitted`, () => {
      const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
      h.connect();
      const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
      h.flush();
      expect(h.serverSends({ type: "puback", packetId: 1, reasonCode: rc })).toEqual([{ type: "published", mid, qos: 1, reasonCode: rc, packetId: 1 }]);
      expect(h.conn.inflightCount).toBe(0);
      expect(h.conn.exportSession(h.now).outgoing).toEqual([]);
      // Not resent on a resumed session either.
      h.lose();
      expect(h.connect({ sessionPresent: true })).toEqual([]);
    });
  }
});

describe("QoS 2", () => {
  it("[MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-4.3.3-3] [MQTT-4.3.3-4] [MQTT-4.3.3-5] [MQTT-2.2.1-5] runs PUBLISH, PUBREC, PUBREL, PUBCOMP with one packet id", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    expect(h.flush()).toEqual([{ type: "publish", topic: "t", payload: x, qos: 2, retain: false, dup: false, packetId: 1 }]);
    expect(h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 })).toEqual([]);
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    expect(h.conn.inflightCount).toBe(1);
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ mid, state: "pubrel", packetId: 1 }]);
    // A repeated PUBREC is answered with PUBREL again.
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    expect(h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0 })).toEqual([{ type: "published", mid, qos: 2, reasonCode: 0, packetId: 1 }]);
    expect(h.conn.inflightCount).toBe(0);
    expect(h.flush()).toEqual([]);
  });

  it("3.1.1: the same QoS 2 exchange with bare acks", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    expect(h.flush()).toMatchObject([{ type: "publish", qos: 2, packetId: 1, dup: false }]);
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    expect(h.sentBytes.at(-1)).toEqual(Uint8Array.of(0x62, 0x02, 0x00, 0x01));
    expect(h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0 })).toEqual([{ type: "published", mid, qos: 2, reasonCode: 0, packetId: 1 }]);
  });

  for (const rc of [0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]) {
    it(`[MQTT-4.4.0-2] PUBREC 0x${rc.toString(16)} ends the message: no PUBREL, never retransmitted`, () => {
      const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
      h.connect();
      const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
      h.flush();
      expect(h.serverSends({ type: "pubrec", packetId: 1, reasonCode: rc, properties: { reasonString: "r" } })).toEqual([
        { type: "published", mid, qos: 2, reasonCode: rc, packetId: 1, properties: { reasonString: "r" } },
      ]);
      expect(h.flush()).toEqual([]);
      expect(h.conn.inflightCount).toBe(0);
      h.lose();
      expect(h.connect({ sessionPresent: true })).toEqual([]);
    });
  }

  it("PUBREC 0x10 (no matching subscribers) is a success: PUBREL follows", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.flush();
    expect(h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0x10 })).toEqual([]);
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
  });

  it("PUBREC for an id we do not hold is answered with PUBREL 0x92 (MQTT 5)", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.serverSends({ type: "pubrec", packetId: 77, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 77, reasonCode: 0x92 }]);
    expect(h.conn.state).toBe("connected");
  });

  it("[MQTT-4.6.0-4] sends PUBRELs in the order the PUBRECs arrived", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    for (let i = 0; i < 4; i++) h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.flush();
    h.serverSends(
      { type: "pubrec", packetId: 3, reasonCode: 0 },
      { type: "pubrec", packetId: 1, reasonCode: 0 },
      { type: "pubrec", packetId: 4, reasonCode: 0 },
      { type: "pubrec", packetId: 2, reasonCode: 0 },
    );
    expect(h.flush()).toEqual([3, 1, 4, 2].map((packetId) => ({ type: "pubrel", packetId, reasonCode: 0 })));
  });

  it("a PUBCOMP for an unknown id is ignored; a late PUBACK/PUBCOMP after completion too", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    expect(h.serverSends({ type: "pubcomp", packetId: 5, reasonCode: 0 }, { type: "puback", packetId: 6, reasonCode: 0 })).toEqual([]);
    expect(h.flush()).toEqual([]);
    expect(h.conn.state).toBe("connected");
  });
});

describe("packet identifiers", () => {
  it("[MQTT-2.2.1-3] [MQTT-4.3.2-1] [MQTT-4.3.3-1] never reuses an id in flight, across PUBLISH, SUBSCRIBE and UNSUBSCRIBE", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const ids = (ps: Packet[]) => ps.map((p) => ("packetId" in p ? p.packetId : 0));
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 }); // 1
    h.conn.subscribe(0, { topicFilter: "s", qos: 1 }); // 2
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 }); // 3
    h.conn.unsubscribe(0, "s"); // 4
    expect(ids(h.flush())).toEqual([1, 2, 3, 4]);
    h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    // The cursor moves on; id 1 is free but the next one is 5.
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    expect(ids(h.flush())).toEqual([5]);
  });

  it("[MQTT-2.2.1-3] wraps from 65535 to 1, skipping ids still in flight", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.conn.importSession(h.now, {
      format: 1,
      clientId: "test-client",
      nextPacketId: 65534,
      nextMid: 10,
      outgoing: [
        { mid: 1, topic: "old", payload: x, qos: 1, retain: false, state: "publish", packetId: 1 },
        { mid: 2, topic: "old", payload: x, qos: 2, retain: false, state: "pubrel", packetId: 2 },
        { mid: 3, topic: "old", payload: x, qos: 1, retain: false, state: "publish", packetId: 65535 },
      ],
      incomingQos2: [],
      subscriptions: [],
    });
    expect(h.connect({ sessionPresent: true })).toEqual([
      { type: "publish", topic: "old", payload: x, qos: 1, retain: false, dup: true, packetId: 1 },
      { type: "pubrel", packetId: 2, reasonCode: 0 },
      { type: "publish", topic: "old", payload: x, qos: 1, retain: false, dup: true, packetId: 65535 },
    ]);
    for (let i = 0; i < 3; i++) h.conn.publish(0, { topic: "new", payload: x, qos: 1 });
    expect(h.flush().map((p) => (p.type === "publish" ? p.packetId : 0))).toEqual([65534, 3, 4]);
  });

  it("throws ERR_PACKET_IDS_EXHAUSTED for a SUBSCRIBE when all 65,535 ids are in flight", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 }, maxInflight: 65535 });
    const outgoing = Array.from({ length: 65535 }, (_, i) => ({ mid: i + 1, topic: "t", payload: x, qos: 1 as const, retain: false, state: "publish" as const, packetId: i + 1 }));
    h.conn.importSession(h.now, { format: 1, clientId: "test-client", nextPacketId: 1, nextMid: 70_000, outgoing, incomingQos2: [], subscriptions: [] });
    // Receive Maximum 1 keeps the resends to one (and the test fast).
    expect(h.connect({ sessionPresent: true, properties: { receiveMaximum: 1 } })).toMatchObject([{ type: "publish", packetId: 1, dup: true }]);
    // (A light check of "nothing changed": a full snapshot of 65,535 messages is slow to compare.)
    for (const fn of [() => h.conn.subscribe(0, { topicFilter: "a", qos: 0 }), () => h.conn.unsubscribe(0, "a")]) {
      const e = thrown(fn);
      expect(e).toBeInstanceOf(LocalProtocolError);
      expect((e as LocalProtocolError).code).toBe(ErrorCode.PacketIdsExhausted);
      expect(h.conn.wantsWrite()).toBe(false);
      expect(h.conn.inflightCount).toBe(65535);
      expect(h.conn.pollEvent(h.now)).toBeUndefined();
    }
    // One PUBACK frees exactly that id.
    h.serverSends({ type: "puback", packetId: 700, reasonCode: 0 });
    h.conn.subscribe(0, { topicFilter: "a", qos: 0 });
    expect(h.flush()).toEqual([{ type: "subscribe", packetId: 700, subscriptions: [{ topicFilter: "a", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }]);
  });
});

describe("flow control", () => {
  it("[MQTT-3.3.4-7] [MQTT-4.9.0-1] [MQTT-4.9.0-2] keeps at most the server's Receive Maximum in flight and queues the rest", () => {
    const h = new Harness({ protocolVersion: 5, maxInflight: 10 });
    h.connect({ properties: { receiveMaximum: 2 } });
    const mids = [1, 2, 3, 4].map((i) => h.conn.publish(0, { topic: `t/${i}`, payload: x, qos: i % 2 === 0 ? 2 : 1 }));
    expect(h.flush()).toMatchObject([
      { type: "publish", topic: "t/1", packetId: 1 },
      { type: "publish", topic: "t/2", packetId: 2 },
    ]);
    expect(h.conn.inflightCount).toBe(2);
    expect(h.conn.queuedCount).toBe(2);
    // PUBREC (success) does not free quota: the QoS 2 message stays outstanding until PUBCOMP.
    h.serverSends({ type: "pubrec", packetId: 2, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 2, reasonCode: 0 }]);
    // PUBACK frees one slot: exactly one more goes out, in order.
    h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "t/3", packetId: 3, dup: false }]);
    // A failing PUBACK frees quota too.
    h.serverSends({ type: "puback", packetId: 3, reasonCode: 0x80 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "t/4", packetId: 4 }]);
    h.serverSends({ type: "pubcomp", packetId: 2, reasonCode: 0 });
    expect(h.flush()).toEqual([]);
    expect(h.events.filter((e) => e.type === "published").map((e) => (e.type === "published" ? e.mid : 0))).toEqual([mids[0], mids[2], mids[1]]);
  });

  it("a failing PUBREC frees the quota", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { receiveMaximum: 1 } });
    h.conn.publish(0, { topic: "a", payload: x, qos: 2 });
    h.conn.publish(0, { topic: "b", payload: x, qos: 2 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "a" }]);
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0x97 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "b", packetId: 2 }]);
  });

  it("keeps at most maxInflight in flight when it is below the server's Receive Maximum", () => {
    const h = new Harness({ protocolVersion: 5, maxInflight: 2 });
    h.connect({ properties: { receiveMaximum: 100 } });
    for (let i = 0; i < 5; i++) h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    expect(h.flush()).toHaveLength(2);
    expect(h.conn.queuedCount).toBe(3);
    h.serverSends({ type: "puback", packetId: 2, reasonCode: 0 });
    expect(h.flush()).toMatchObject([{ type: "publish", packetId: 3 }]);
  });

  it("3.1.1: maxInflight is the only window", () => {
    const h = new Harness({ protocolVersion: 4, maxInflight: 1 });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    expect(h.flush()).toHaveLength(1);
    h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toMatchObject([{ type: "publish", qos: 2, packetId: 2 }]);
  });

  it("[MQTT-3.3.4-8] [MQTT-4.9.0-3] with the quota at zero, every packet other than PUBLISH still goes out", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 10 });
    h.connect({ properties: { receiveMaximum: 1 } });
    h.conn.publish(0, { topic: "a", payload: x, qos: 2 });
    h.conn.publish(0, { topic: "b", payload: x, qos: 1 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "a", packetId: 1 }]);
    // SUBSCRIBE and UNSUBSCRIBE.
    h.conn.subscribe(0, { topicFilter: "s", qos: 1 });
    h.conn.unsubscribe(0, "s");
    expect(h.flush()).toMatchObject([{ type: "subscribe", packetId: 2 }, { type: "unsubscribe", packetId: 3 }]);
    // Acks for incoming messages.
    h.serverSends(serverPublish("in", "1", { qos: 1, packetId: 9 }), serverPublish("in", "2", { qos: 2, packetId: 10 }));
    expect(h.flush()).toEqual([
      { type: "puback", packetId: 9, reasonCode: 0 },
      { type: "pubrec", packetId: 10, reasonCode: 0 },
    ]);
    h.serverSends({ type: "pubrel", packetId: 10, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubcomp", packetId: 10, reasonCode: 0 }]);
    // PUBREL for our own QoS 2 message.
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    // PINGREQ.
    h.advanceTo(10_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
    // DISCONNECT.
    expect(h.conn.queuedCount).toBe(1);
    h.conn.disconnect(h.now);
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0 }]);
  });

  it("starts the quota afresh on each connection", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    h.connect({ properties: { receiveMaximum: 1 } });
    h.conn.publish(0, { topic: "a", payload: x, qos: 1 });
    h.conn.publish(0, { topic: "b", payload: x, qos: 1 });
    expect(h.flush()).toHaveLength(1);
    h.lose();
    expect(h.connect({ sessionPresent: true, properties: { receiveMaximum: 5 } })).toMatchObject([
      { type: "publish", topic: "a", packetId: 1, dup: true },
      { type: "publish", topic: "b", packetId: 2, dup: false },
    ]);
  });
});

describe("the queue", () => {
  it("bounds the queue: a publish beyond maxQueued throws ERR_QUEUE_FULL and queues nothing", () => {
    const h = new Harness({ protocolVersion: 5, maxQueued: 2 });
    h.conn.publish(0, { topic: "a", payload: x, qos: 1 });
    h.conn.publish(0, { topic: "b", payload: x });
    expectMisuse(h, () => h.conn.publish(0, { topic: "c", payload: x, qos: 1 }), ErrorCode.QueueFull, 0x97);
    // Subscriptions are not messages: they are not held back by the full queue.
    h.conn.subscribe(0, { topicFilter: "s", qos: 0 });
    expect(h.connect()).toMatchObject([
      { type: "subscribe", packetId: 1 },
      { type: "publish", topic: "a", packetId: 2 },
      { type: "publish", topic: "b" },
    ]);
    expect(h.conn.queuedCount).toBe(0);
  });

  it("counts only messages waiting: with the window full, the queue fills up to maxQueued", () => {
    const h = new Harness({ protocolVersion: 5, maxQueued: 1, maxInflight: 1 });
    h.connect();
    h.conn.publish(0, { topic: "a", payload: x, qos: 1 }); // in flight
    h.conn.publish(0, { topic: "b", payload: x, qos: 1 }); // queued
    expectMisuse(h, () => h.conn.publish(0, { topic: "c", payload: x, qos: 0 }), ErrorCode.QueueFull, 0x97);
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "a" }]);
    h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "b" }]);
    h.conn.publish(0, { topic: "c", payload: x, qos: 1 });
    expect(h.conn.queuedCount).toBe(1);
  });

  it("maxQueued 0: a message that goes out at once is accepted, one that would wait is refused", () => {
    const h = new Harness({ protocolVersion: 5, maxQueued: 0, maxInflight: 1 });
    expectMisuse(h, () => h.conn.publish(0, { topic: "a", payload: x }), ErrorCode.QueueFull, 0x97);
    h.connect();
    h.conn.publish(0, { topic: "a", payload: x });
    h.conn.publish(0, { topic: "b", payload: x, qos: 1 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "a" }, { type: "publish", topic: "b", packetId: 1 }]);
    h.drain();
    expectMisuse(h, () => h.conn.publish(0, { topic: "c", payload: x, qos: 1 }), ErrorCode.QueueFull, 0x97);
    // QoS 0 is not held by the window, but it would wait behind nothing: it goes out.
    h.conn.publish(0, { topic: "d", payload: x });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "d" }]);
  });

  it("sends queued messages in publish order once connected", () => {
    const h = new Harness({ protocolVersion: 4 });
    for (const [i, qos] of ([0, 1, 2, 0, 1] as const).entries()) h.conn.publish(0, { topic: `t/${i}`, payload: x, qos });
    expect(h.connect().map((p) => (p.type === "publish" ? p.topic : p.type))).toEqual(["t/0", "t/1", "t/2", "t/3", "t/4"]);
  });
});

describe("publish validation", () => {
  it("[MQTT-3.3.4-6] refuses a Subscription Identifier on a client PUBLISH", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, properties: { subscriptionIdentifiers: [1] } }), ErrorCode.PropertyNotAllowed);
  });

  it("refuses invalid topic names and QoS values before anything changes", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    expectMisuse(h, () => h.conn.publish(0, { topic: "a/+", payload: x }), ErrorCode.TopicInvalid, 0x90);
    expectMisuse(h, () => h.conn.publish(0, { topic: "a/#", payload: x }), ErrorCode.TopicInvalid, 0x90);
    expectMisuse(h, () => h.conn.publish(0, { topic: "", payload: x }), ErrorCode.TopicInvalid, 0x90);
    expectMisuse(h, () => h.conn.publish(0, { topic: "a\u0000b", payload: x }), ErrorCode.TopicInvalid, 0x90);
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, qos: 3 as 0 }), ErrorCode.QosInvalid);
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, properties: { topicAlias: 0 } }), ErrorCode.TopicAliasInvalid, 0x94);
  });

  it("refuses MQTT 5 properties on a 3.1.1 publish", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, properties: { contentType: "a" } }), ErrorCode.VersionMismatch);
  });
});
