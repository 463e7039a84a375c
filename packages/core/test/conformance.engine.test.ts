/**
 * Conformance rows (binds `client` or `both`) of conformance/*.tsv
 * that the engine enforces and that no feature test (engine.*.test.ts) covers
 * naturally, plus the MQTT 3.1.1 rows whose IDs mean something else in MQTT 5.
 * Feature tests carry the other IDs in their titles.
 *
 * Rows the engine cannot enforce (no test on purpose):
 *
 * MQTT 5.0
 * - MQTT-4.2-1: an ordered, lossless transport is the transport's property (TCP,
 *   TLS, WebSocket packages); the engine only sees the bytes it is handed.
 * - MQTT-6.0.0-1, MQTT-6.0.0-2, MQTT-6.0.0-3: WebSocket framing (binary frames,
 *   packets across frames, the "mqtt" subprotocol) belong to the WebSocket
 *   transport; the engine has no frames (it does accept any chunking, see
 *   engine.protocol-errors.test.ts).
 * - MQTT-7.0.0-2: interoperating without extensions is a property of the whole
 *   client against real servers (the broker smoke tests), not of one engine test.
 * - MQTT-7.1.2-1: supporting an ordered, lossless transport is the transport
 *   packages' job.
 *
 * MQTT 3.1.1
 * - MQTT-6.0.0-1, MQTT-6.0.0-2, MQTT-6.0.0-3: WebSocket transport, as above.
 * - MQTT-7.0.0-2, MQTT-7.1.2-1: as above.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/index.js";
import { type Packet } from "../src/codec/index.js";
import { Harness, serverPublish, te } from "./helpers/peer.js";

const x = te.encode("x");
const ids = (ps: readonly Packet[]): (number | undefined)[] => ps.map((p) => ("packetId" in p ? p.packetId : undefined));

describe("MQTT 5.0", () => {
  it("[MQTT-3.6.2-1] [MQTT-3.7.2-1] sends PUBREL and PUBCOMP only with their defined reason codes (0x00, 0x92)", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.flush();
    h.serverSends(
      { type: "pubrec", packetId: 1, reasonCode: 0 }, // ours: PUBREL 0x00
      { type: "pubrec", packetId: 50, reasonCode: 0 }, // unknown: PUBREL 0x92
      serverPublish("in", "1", { qos: 2, packetId: 7 }),
      { type: "pubrel", packetId: 7, reasonCode: 0 }, // known: PUBCOMP 0x00
      { type: "pubrel", packetId: 8, reasonCode: 0x92 }, // unknown: PUBCOMP 0x92
    );
    expect(h.flush()).toEqual([
      { type: "pubrel", packetId: 1, reasonCode: 0x00 },
      { type: "pubrel", packetId: 50, reasonCode: 0x92 },
      { type: "pubrec", packetId: 7, reasonCode: 0 },
      { type: "pubcomp", packetId: 7, reasonCode: 0x00 },
      { type: "pubcomp", packetId: 8, reasonCode: 0x92 },
    ]);
  });

  it("[MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2] [MQTT-3.7.2-3] PUBREL and PUBCOMP never carry a reason string or user properties, so they fit the smallest Maximum Packet Size", () => {
    // A QoS 2 message of ours in the PUBREL phase, resumed on a server whose Maximum
    // Packet Size is 5 bytes: a PUBREL / PUBCOMP with reason 0x92 (0x62 0x03 id id 0x92).
    const h = new Harness({ protocolVersion: 5, clean: false });
    h.conn.importSession(h.now, {
      format: 1,
      clientId: "test-client",
      nextPacketId: 2,
      nextMid: 2,
      outgoing: [{ mid: 1, topic: "t", payload: x, qos: 2, retain: false, state: "pubrel", packetId: 1 }],
      incomingQos2: [],
      subscriptions: [],
    });
    expect(h.connect({ sessionPresent: true, properties: { maximumPacketSize: 5 } })).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    h.serverSends(
      { type: "pubrec", packetId: 1, reasonCode: 0, properties: { reasonString: "a long reason string", userProperties: [["k", "v"]] } },
      { type: "pubrec", packetId: 9, reasonCode: 0 },
      { type: "pubrel", packetId: 3, reasonCode: 0, properties: { reasonString: "another", userProperties: [["k", "v"]] } },
      serverPublish("in", "1", { qos: 2, packetId: 4 }),
      { type: "pubrel", packetId: 4, reasonCode: 0, properties: { reasonString: "r" } },
    );
    expect(h.flush()).toEqual([
      { type: "pubrel", packetId: 1, reasonCode: 0 },
      { type: "pubrel", packetId: 9, reasonCode: 0x92 },
      { type: "pubcomp", packetId: 3, reasonCode: 0x92 },
      { type: "pubrec", packetId: 4, reasonCode: 0 },
      { type: "pubcomp", packetId: 4, reasonCode: 0 },
    ]);
    // Byte for byte (small acks share chunks, so compare the stream's tail).
    const tail = [
      ...[0x62, 0x02, 0x00, 0x01],
      ...[0x62, 0x02, 0x00, 0x01],
      ...[0x62, 0x03, 0x00, 0x09, 0x92],
      ...[0x70, 0x03, 0x00, 0x03, 0x92],
      ...[0x50, 0x02, 0x00, 0x04],
      ...[0x70, 0x02, 0x00, 0x04],
    ];
    const stream = h.sentBytes.flatMap((c) => [...c]);
    expect(stream.slice(-tail.length)).toEqual(tail);
  });

  it("[MQTT-4.13.2-1] after sending a DISCONNECT with a reason code of 0x80 or above, the connection is closed", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const evs = h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82 } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x82 }]);
    expect(h.conn.state).toBe("closed");
    // Our own DISCONNECT 0x80 closes too.
    const h2 = new Harness({ protocolVersion: 5 });
    h2.connect();
    h2.conn.disconnect(0, { reasonCode: 0x80 });
    expect(h2.drain()).toEqual([{ type: "closed", reason: { kind: "local", reasonCode: 0x80 } }]);
    expect(h2.conn.state).toBe("closed");
  });

  it("[MQTT-3.14.4-2] after sending DISCONNECT, reports closed so the caller closes the network connection", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.conn.disconnect(0, { reasonCode: 0x04 });
    expect(h.drain()).toEqual([{ type: "closed", reason: { kind: "local", reasonCode: 0x04 } }]);
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0x04 }]);
    // Bytes still arriving are not processed.
    h.conn.receiveData(1, Uint8Array.of(0xd0, 0x00));
    expect(h.drain()).toEqual([]);
  });
});

describe("MQTT 3.1.1", () => {
  it("[MQTT-2.2.2-2] closes the connection on a packet with invalid fixed-header flags", () => {
    for (const bytes of [Uint8Array.of(0x60, 0x02, 0x00, 0x01), Uint8Array.of(0x92, 0x03, 0x00, 0x01, 0x00), Uint8Array.of(0xd1, 0x00), Uint8Array.of(0x42, 0x02, 0x00, 0x01)]) {
      const h = new Harness({ protocolVersion: 4 });
      h.connect();
      const evs = h.serverSendsBytes(bytes);
      expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", error: { code: ErrorCode.FixedHeaderFlags } } }]);
      expect(h.conn.state).toBe("closed");
      expect(h.flush()).toEqual([]);
    }
  });

  it("[MQTT-2.3.1-2] gives each new SUBSCRIBE, UNSUBSCRIBE and QoS>0 PUBLISH an id not in use", () => {
    const h = new Harness({ protocolVersion: 4, maxInflight: 65535 });
    h.connect();
    const inUse = new Set<number>();
    const pending: [number, Packet][] = [];
    // 300 rounds of new requests, acknowledging in a scrambled order.
    for (let round = 0; round < 300; round++) {
      h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
      h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
      h.conn.subscribe(0, { topicFilter: "s", qos: 0 });
      h.conn.unsubscribe(0, "s");
      for (const p of h.flush()) {
        const id = "packetId" in p ? p.packetId : undefined;
        if (id === undefined || p.type === "pubrel") continue;
        expect(id).toBeGreaterThan(0);
        expect(inUse.has(id)).toBe(false);
        inUse.add(id);
        const reply: Packet =
          p.type === "publish"
            ? p.qos === 1
              ? { type: "puback", packetId: id, reasonCode: 0 }
              : { type: "pubrec", packetId: id, reasonCode: 0 }
            : p.type === "subscribe"
              ? { type: "suback", packetId: id, reasonCodes: [0] }
              : { type: "unsuback", packetId: id, reasonCodes: [] };
        // Answer every third one at once, hold the rest for later.
        if (id % 3 === 0) {
          h.serverSends(reply);
          if (reply.type !== "pubrec") inUse.delete(id);
        } else {
          pending.push([id, reply]);
        }
      }
      if (round % 7 === 6) {
        for (const [id, reply] of pending.splice(0, pending.length).reverse()) {
          h.serverSends(reply);
          if (reply.type !== "pubrec") inUse.delete(id);
        }
      }
      // Complete the QoS 2 exchanges that reached PUBREL.
      for (const p of h.flush()) {
        if (p.type !== "pubrel") continue;
        h.serverSends({ type: "pubcomp", packetId: p.packetId, reasonCode: 0 });
        inUse.delete(p.packetId);
      }
    }
    expect(h.conn.state).toBe("connected");
  });

  it("[MQTT-2.3.1-3] a resend reuses the original id; the id is free again only after its PUBACK", () => {
    const setup = (): Harness => {
      const h = new Harness({ protocolVersion: 4, clean: false });
      h.conn.importSession(h.now, {
        format: 1,
        clientId: "test-client",
        nextPacketId: 65535,
        nextMid: 2,
        outgoing: [{ mid: 1, topic: "old", payload: x, qos: 1, retain: false, state: "publish", packetId: 1 }],
        incomingQos2: [],
        subscriptions: [],
      });
      expect(h.connect({ sessionPresent: true })).toEqual([{ type: "publish", topic: "old", payload: x, qos: 1, retain: false, dup: true, packetId: 1 }]);
      h.conn.publish(0, { topic: "a", payload: x, qos: 1 });
      expect(ids(h.flush())).toEqual([65535]);
      return h;
    };
    // Before its PUBACK, id 1 is skipped when the ids wrap around.
    const h = setup();
    h.conn.publish(0, { topic: "b", payload: x, qos: 1 });
    expect(ids(h.flush())).toEqual([2]);
    // After its PUBACK it may be used again.
    const h2 = setup();
    h2.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    h2.conn.publish(0, { topic: "b", payload: x, qos: 1 });
    expect(ids(h2.flush())).toEqual([1]);
  });

  it("[MQTT-2.3.1-3] a QoS 2 id stays in use through PUBREC until PUBCOMP is processed", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.conn.importSession(h.now, { format: 1, clientId: "test-client", nextPacketId: 65533, nextMid: 1, outgoing: [], incomingQos2: [], subscriptions: [] });
    h.connect();
    h.conn.publish(0, { topic: "q2", payload: x, qos: 2 }); // 65533
    h.conn.subscribe(0, { topicFilter: "s", qos: 0 }); // 65534
    h.conn.unsubscribe(0, "s"); // 65535
    expect(ids(h.flush())).toEqual([65533, 65534, 65535]);
    h.serverSends({ type: "pubrec", packetId: 65533, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 65533, reasonCode: 0 }]);
    // The session still holds 65533 (the cursor has wrapped to 1).
    const s = h.conn.exportSession(h.now);
    expect(s.nextPacketId).toBe(1);
    expect(s.outgoing).toMatchObject([{ packetId: 65533, state: "pubrel" }]);
    h.serverSends({ type: "suback", packetId: 65534, reasonCodes: [0] }, { type: "unsuback", packetId: 65535, reasonCodes: [] });
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ packetId: 65533, state: "pubrel" }]);
    h.serverSends({ type: "pubcomp", packetId: 65533, reasonCode: 0 });
    expect(h.conn.exportSession(h.now).outgoing).toEqual([]);
  });

  it("[MQTT-2.3.1-6] PUBACK, PUBREC and PUBREL carry the packet id of the original PUBLISH", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.serverSends(serverPublish("in", "1", { qos: 1, packetId: 0x1234 }), serverPublish("in", "2", { qos: 2, packetId: 0xfffe }));
    h.conn.publish(0, { topic: "out", payload: x, qos: 2 });
    expect(h.flush()).toMatchObject([
      { type: "puback", packetId: 0x1234 },
      { type: "pubrec", packetId: 0xfffe },
      { type: "publish", packetId: 1 },
    ]);
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
  });

  it("[MQTT-3.1.0-1] the first packet on every new connection is CONNECT", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.conn.subscribe(0, { topicFilter: "s", qos: 0 });
    for (let i = 0; i < 3; i++) {
      h.conn.connect(h.now);
      expect(h.flush()).toMatchObject([{ type: "connect" }]);
      h.serverSends({ type: "connack", sessionPresent: i > 0, reasonCode: 0 });
      expect(h.flush().length).toBeGreaterThan(0);
      h.lose();
    }
  });

  it("[MQTT-3.1.2-4] with CleanSession 0, keeps the session state after the connection ends", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.serverSends(serverPublish("in", "1", { qos: 2, packetId: 4 }));
    h.flush();
    const before = h.conn.exportSession(h.now);
    h.lose();
    expect(h.conn.exportSession(h.now)).toEqual(before);
    h.conn.connect(h.now);
    expect(h.conn.exportSession(h.now)).toEqual(before);
    expect(h.flush()).toMatchObject([{ type: "connect", clean: false }]);
  });

  it("[MQTT-3.1.2-6] with CleanSession 1, drops the earlier session; the new one is not reused", () => {
    const h = new Harness({ protocolVersion: 4, clean: false, republishOnSessionLoss: false });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.serverSends(serverPublish("in", "1", { qos: 2, packetId: 4 }));
    h.flush();
    h.lose();
    h.connect({}, { clean: true });
    expect(h.sent.filter((p) => p.type === "connect").at(-1)).toMatchObject({ clean: true });
    expect(h.conn.exportSession(h.now)).toMatchObject({ outgoing: [], incomingQos2: [] });
  });

  it("[MQTT-3.1.2-23] sends PINGREQ when nothing else was sent within Keep Alive", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 30 });
    h.connect();
    h.advanceTo(29_999);
    expect(h.flush()).toEqual([]);
    h.advanceTo(30_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
  });

  it("[MQTT-3.1.3-2] the client id is the session key: the same on every CONNECT of the session", () => {
    const h = new Harness({ protocolVersion: 4, clientId: "sensor-7", clean: false });
    h.connect();
    h.lose();
    h.connect({ sessionPresent: true });
    expect(h.sent.filter((p) => p.type === "connect").map((p) => (p.type === "connect" ? p.clientId : ""))).toEqual(["sensor-7", "sensor-7"]);
    expect(h.conn.exportSession(h.now).clientId).toBe("sensor-7");
  });

  it("[MQTT-3.1.3-7] sends a zero-length client id only with CleanSession 1", () => {
    const h = new Harness({ protocolVersion: 4, clientId: "" });
    expect(() => h.conn.connect(0, { clean: false })).toThrow(expect.objectContaining({ code: ErrorCode.InvalidArgument }));
    expect(h.flush()).toEqual([]);
    h.conn.connect(0, { clean: true });
    expect(h.flush()).toMatchObject([{ type: "connect", clientId: "", clean: true }]);
  });

  it("[MQTT-3.3.1-1] marks a re-delivered PUBLISH with DUP 1", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    expect(h.flush()).toMatchObject([{ type: "publish", dup: false, packetId: 1 }]);
    h.lose();
    expect(h.connect({ sessionPresent: true })).toMatchObject([{ type: "publish", dup: true, packetId: 1 }]);
    expect(h.sentBytes.at(-1)![0]).toBe(0x3a); // PUBLISH | DUP | QoS 1
  });

  it("[MQTT-3.3.1-3] sets DUP only from its own retransmissions, never from a received DUP", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const [ev] = h.serverSends(serverPublish("t", "x", { qos: 2, packetId: 3, dup: true }));
    if (ev?.type !== "message") throw new Error("expected a message");
    h.conn.publish(0, { ...ev } as never); // the received message as it came, DUP flag and all
    expect(h.flush()).toMatchObject([{ type: "pubrec" }, { type: "publish", dup: false, qos: 2 }]);
  });

  it("[MQTT-3.3.4-1] answers each PUBLISH as its QoS requires: nothing, PUBACK, PUBREC", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.serverSends(serverPublish("t", "0"), serverPublish("t", "1", { qos: 1, packetId: 1 }), serverPublish("t", "2", { qos: 2, packetId: 2 }));
    expect(h.flush()).toEqual([
      { type: "puback", packetId: 1, reasonCode: 0 },
      { type: "pubrec", packetId: 2, reasonCode: 0 },
    ]);
  });

  it("[MQTT-3.14.4-1] after sending DISCONNECT, reports closed so the caller closes the network connection", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.conn.disconnect(0);
    expect(h.drain()).toEqual([{ type: "closed", reason: { kind: "local", reasonCode: 0 } }]);
    expect(h.conn.state).toBe("closed");
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0 }]);
  });

  it("[MQTT-3.14.4-2] after sending DISCONNECT, sends nothing more on that connection", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 5, manualAck: true });
    h.connect();
    h.serverSends(serverPublish("t", "1", { qos: 1, packetId: 1 }));
    h.conn.disconnect(0);
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0 }]);
    h.conn.ack(h.now, 1);
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.conn.subscribe(0, { topicFilter: "s", qos: 0 });
    h.serverSends(serverPublish("t", "2", { qos: 1, packetId: 2 }));
    h.advanceTo(60_000);
    expect(h.flush()).toEqual([]);
  });

  it("[MQTT-4.1.0-1] keeps the session state for the whole session, across connections", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.flush();
    for (let i = 0; i < 3; i++) {
      h.lose();
      expect(h.connect({ sessionPresent: true })).toEqual([{ type: "publish", topic: "t", payload: x, qos: 2, retain: false, dup: true, packetId: 1 }]);
    }
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
  });

  it("[MQTT-4.1.0-2] a session lasts at least as long as its network connection", () => {
    const h = new Harness({ protocolVersion: 4, clean: true, keepAlive: 10 });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    // An hour of keep alive on the same connection: the message is still in the session.
    for (let t = 10_000; t <= 3_600_000; t += 10_000) {
      h.advanceTo(t);
      h.flush();
      h.serverSends({ type: "pingresp" });
    }
    expect(h.conn.inflightCount).toBe(1);
    expect(h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 })).toMatchObject([{ type: "published", packetId: 1 }]);
  });

  it("[MQTT-4.3.1-1] sends QoS 0 with QoS 0 and DUP 0", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x });
    expect(h.flush()).toEqual([{ type: "publish", topic: "t", payload: x, qos: 0, retain: false, dup: false }]);
    expect(h.sentBytes.at(-1)![0]).toBe(0x30);
  });

  it("[MQTT-4.3.2-1] QoS 1 sender: an unused id per message, QoS 1 DUP 0, unacknowledged until PUBACK", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    expect(h.flush()).toMatchObject([
      { type: "publish", qos: 1, dup: false, packetId: 1 },
      { type: "publish", qos: 1, dup: false, packetId: 2 },
    ]);
    expect(h.conn.inflightCount).toBe(2);
    h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    expect(h.conn.inflightCount).toBe(1);
  });

  it("[MQTT-4.3.2-2] QoS 1 receiver: PUBACK with the id; a later PUBLISH with that id is new", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.serverSends(serverPublish("t", "1", { qos: 1, packetId: 5 }));
    expect(h.flush()).toEqual([{ type: "puback", packetId: 5, reasonCode: 0 }]);
    expect(h.serverSends(serverPublish("t", "2", { qos: 1, packetId: 5, dup: true }))).toMatchObject([{ type: "message" }]);
  });

  it("[MQTT-4.3.3-1] QoS 2 sender: unused id, QoS 2 DUP 0, PUBREL after PUBREC, no PUBLISH resend after PUBREL", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    expect(h.flush()).toMatchObject([{ type: "publish", qos: 2, dup: false, packetId: 1 }]);
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    expect(h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0 })).toMatchObject([{ type: "published", qos: 2 }]);
  });

  it("[MQTT-4.3.3-2] QoS 2 receiver: PUBREC, repeats answered without redelivery, PUBCOMP on PUBREL, then the id is new", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const p = serverPublish("t", "1", { qos: 2, packetId: 6 });
    expect(h.serverSends(p, { ...p, dup: true })).toHaveLength(1);
    h.serverSends({ type: "pubrel", packetId: 6, reasonCode: 0 });
    expect(h.flush()).toEqual([
      { type: "pubrec", packetId: 6, reasonCode: 0 },
      { type: "pubrec", packetId: 6, reasonCode: 0 },
      { type: "pubcomp", packetId: 6, reasonCode: 0 },
    ]);
    expect(h.serverSends(p)).toHaveLength(1);
  });

  it("[MQTT-4.4.0-1] on reconnect with CleanSession 0, resends unacknowledged PUBLISH and PUBREL with their original ids", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "a", payload: x, qos: 2 });
    h.conn.publish(0, { topic: "b", payload: x, qos: 1 });
    h.flush();
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([
      { type: "pubrel", packetId: 1, reasonCode: 0 },
      { type: "publish", topic: "b", payload: x, qos: 1, retain: false, dup: true, packetId: 2 },
    ]);
  });

  it("[MQTT-4.5.0-2] acknowledges every PUBLISH even when the application does nothing with it", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.serverSends(serverPublish("unwanted", "1", { qos: 1, packetId: 1 }), serverPublish("unwanted", "2", { qos: 2, packetId: 2 }));
    expect(h.flush()).toEqual([
      { type: "puback", packetId: 1, reasonCode: 0 },
      { type: "pubrec", packetId: 2, reasonCode: 0 },
    ]);
  });

  it("[MQTT-4.6.0-1] resends QoS 1 and QoS 2 PUBLISH packets in their original order", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    for (const [i, qos] of ([2, 1, 1, 2, 1] as const).entries()) h.conn.publish(0, { topic: `t/${i}`, payload: x, qos });
    h.flush();
    h.serverSends({ type: "puback", packetId: 3, reasonCode: 0 });
    h.lose();
    expect(h.connect({ sessionPresent: true }).map((p) => (p.type === "publish" ? [p.topic, p.packetId, p.dup] : p.type))).toEqual([
      ["t/0", 1, true],
      ["t/1", 2, true],
      ["t/3", 4, true],
      ["t/4", 5, true],
    ]);
  });

  it("[MQTT-4.6.0-2] [MQTT-4.6.0-3] sends PUBACKs and PUBRECs in the order the PUBLISHes arrived, whatever order the app acks in", () => {
    const h = new Harness({ protocolVersion: 4, manualAck: true });
    h.connect();
    h.serverSends(
      serverPublish("t", "a", { qos: 2, packetId: 10 }),
      serverPublish("t", "b", { qos: 1, packetId: 11 }),
      serverPublish("t", "c", { qos: 2, packetId: 12 }),
      serverPublish("t", "d", { qos: 1, packetId: 13 }),
    );
    for (const id of [13, 11, 12, 10]) h.conn.ack(h.now, id);
    expect(h.flush()).toEqual([
      { type: "pubrec", packetId: 10, reasonCode: 0 },
      { type: "puback", packetId: 11, reasonCode: 0 },
      { type: "pubrec", packetId: 12, reasonCode: 0 },
      { type: "puback", packetId: 13, reasonCode: 0 },
    ]);
  });

  it("[MQTT-4.6.0-4] sends PUBRELs in the order the PUBRECs arrived", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    for (let i = 0; i < 3; i++) h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.flush();
    h.serverSends({ type: "pubrec", packetId: 2, reasonCode: 0 }, { type: "pubrec", packetId: 3, reasonCode: 0 }, { type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(ids(h.flush())).toEqual([2, 3, 1]);
  });

  it("[MQTT-4.8.0-1] closes the connection that delivered a protocol violation", () => {
    const violations: Packet[][] = [
      [{ type: "connack", sessionPresent: false, reasonCode: 0 }],
      [{ type: "pingreq" }],
      [{ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0 }] }],
      [{ type: "disconnect", reasonCode: 0 }],
    ];
    for (const packets of violations) {
      const h = new Harness({ protocolVersion: 4 });
      h.connect();
      const evs = h.serverSends(...packets);
      expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error" } }]);
      expect(h.conn.state).toBe("closed");
      // 3.1.1 has no DISCONNECT from the client for this: nothing is sent.
      expect(h.flush()).toEqual([]);
    }
    // Before CONNACK too.
    const h = new Harness({ protocolVersion: 4 });
    h.conn.connect(0);
    h.flush();
    expect(h.serverSends(serverPublish("t", "x"))).toMatchObject([{ type: "closed", reason: { kind: "protocol-error" } }]);
  });
});
