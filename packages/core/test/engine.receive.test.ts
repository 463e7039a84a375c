/**
 * Incoming application messages: QoS 0/1/2, exactly-once QoS 2, PUBREL for an
 * unknown id, our Receive Maximum, and manual-ack mode (out-of-order app acks,
 * in-order acks on the wire).
 */
import { describe, expect, it } from "vitest";
import { encodePacket } from "../src/codec/index.js";
import { ErrorCode } from "../src/index.js";
import { expectMisuse, Harness, serverPublish, te, messageEvent } from "./helpers/peer.js";

describe("incoming QoS 0/1/2", () => {
  it("[MQTT-3.3.4-1] QoS 0: delivers the message and sends nothing", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const p = serverPublish("a/b", "hi", { retain: true, properties: { contentType: "t", userProperties: [["k", "v"]] } });
    expect(h.serverSends(p)).toEqual([messageEvent(p)]);
    expect(h.flush()).toEqual([]);
  });

  it("[MQTT-3.3.4-1] [MQTT-4.3.2-4] [MQTT-2.2.1-5] QoS 1: delivers the message and answers PUBACK with its id", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const p = serverPublish("a", "1", { qos: 1, packetId: 300 });
    expect(h.serverSends(p)).toEqual([messageEvent(p)]);
    expect(h.flush()).toEqual([{ type: "puback", packetId: 300, reasonCode: 0 }]);
    expect(h.sentBytes.at(-1)).toEqual(Uint8Array.of(0x40, 0x02, 0x01, 0x2c));
  });

  it("[MQTT-4.3.2-5] QoS 1: after PUBACK, a PUBLISH with the same id is a new message, DUP or not", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const p = serverPublish("a", "1", { qos: 1, packetId: 7 });
    h.serverSends(p);
    expect(h.flush()).toEqual([{ type: "puback", packetId: 7, reasonCode: 0 }]);
    const again = { ...p, dup: true };
    expect(h.serverSends(again)).toEqual([messageEvent(again)]);
    expect(h.flush()).toEqual([{ type: "puback", packetId: 7, reasonCode: 0 }]);
  });

  it("[MQTT-3.3.4-1] [MQTT-4.3.3-8] [MQTT-4.3.3-10] [MQTT-4.3.3-11] [MQTT-4.3.3-12] QoS 2: PUBREC, one delivery despite resends, PUBCOMP on PUBREL, then the id is new", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const p = serverPublish("a", "1", { qos: 2, packetId: 12 });
    expect(h.serverSends(p)).toEqual([messageEvent(p)]);
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 12, reasonCode: 0 }]);
    // Resends before PUBREL: PUBREC again, no second delivery.
    expect(h.serverSends({ ...p, dup: true }, { ...p, dup: true })).toEqual([]);
    expect(h.flush()).toEqual([
      { type: "pubrec", packetId: 12, reasonCode: 0 },
      { type: "pubrec", packetId: 12, reasonCode: 0 },
    ]);
    expect(h.conn.exportSession(h.now).incomingQos2).toEqual([{ packetId: 12, state: "received" }]);
    expect(h.serverSends({ type: "pubrel", packetId: 12, reasonCode: 0 })).toEqual([]);
    expect(h.flush()).toEqual([{ type: "pubcomp", packetId: 12, reasonCode: 0 }]);
    expect(h.conn.exportSession(h.now).incomingQos2).toEqual([]);
    // A repeated PUBREL is answered again (0x92: we no longer hold it).
    h.serverSends({ type: "pubrel", packetId: 12, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubcomp", packetId: 12, reasonCode: 0x92 }]);
    // After PUBCOMP the id names a new message.
    const next = serverPublish("a", "2", { qos: 2, packetId: 12 });
    expect(h.serverSends(next)).toEqual([messageEvent(next)]);
  });

  it("PUBREL for an unknown id: PUBCOMP 0x92 in MQTT 5, a plain PUBCOMP in 3.1.1", () => {
    const h5 = new Harness({ protocolVersion: 5 });
    h5.connect();
    h5.serverSends({ type: "pubrel", packetId: 44, reasonCode: 0 });
    expect(h5.flush()).toEqual([{ type: "pubcomp", packetId: 44, reasonCode: 0x92 }]);
    expect(h5.conn.state).toBe("connected");
    const h4 = new Harness({ protocolVersion: 4 });
    h4.connect();
    h4.serverSends({ type: "pubrel", packetId: 44, reasonCode: 0 });
    expect(h4.flush()).toEqual([{ type: "pubcomp", packetId: 44, reasonCode: 0 }]);
  });

  it("[MQTT-4.3.3-13] completes an incoming QoS 2 exchange even after the message has expired", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.serverSends(serverPublish("a", "1", { qos: 2, packetId: 3, properties: { messageExpiryInterval: 1 } }));
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 3, reasonCode: 0 }]);
    h.advanceTo(30_000); // keep alive: 60 s, nothing fires
    h.serverSends({ type: "pubrel", packetId: 3, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubcomp", packetId: 3, reasonCode: 0 }]);
  });

  it("[MQTT-3.3.1-3] a message received with DUP 1 and published again goes out with DUP 0", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const [ev] = h.serverSends(serverPublish("echo", "1", { qos: 1, packetId: 5, dup: true }));
    expect(ev).toMatchObject({ type: "message", dup: true });
    h.flush();
    // Hand the received packet straight back: its dup flag is not ours to copy.
    if (ev?.type !== "message") throw new Error("expected a message");
    h.conn.publish(h.now, { ...ev } as never);
    expect(h.flush()).toEqual([{ type: "publish", topic: "echo", payload: te.encode("1"), qos: 1, retain: false, dup: false, packetId: 1 }]);
  });

  it("keeps the exactly-once state of an incoming QoS 2 message across a reconnect", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    const p = serverPublish("a", "1", { qos: 2, packetId: 5 });
    expect(h.serverSends(p)).toHaveLength(1);
    h.flush();
    h.lose();
    h.connect({ sessionPresent: true });
    // The server did not see our PUBREC: it sends the PUBLISH again.
    expect(h.serverSends({ ...p, dup: true })).toEqual([]);
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 5, reasonCode: 0 }]);
    h.serverSends({ type: "pubrel", packetId: 5, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubcomp", packetId: 5, reasonCode: 0 }]);
    expect(h.events.filter((e) => e.type === "message")).toHaveLength(1);
  });
});

describe("our Receive Maximum", () => {
  it("a server exceeding our Receive Maximum gets DISCONNECT 0x93", () => {
    const h = new Harness({ protocolVersion: 5, properties: { receiveMaximum: 2 } });
    h.connect();
    h.serverSends(serverPublish("a", "1", { qos: 2, packetId: 1 }), serverPublish("a", "2", { qos: 2, packetId: 2 }));
    expect(h.flush()).toEqual([
      { type: "pubrec", packetId: 1, reasonCode: 0 },
      { type: "pubrec", packetId: 2, reasonCode: 0 },
    ]);
    // QoS 0 does not count.
    h.serverSends(serverPublish("a", "q0"));
    // Both QoS 2 are unacknowledged until PUBREL; a third is one too many.
    const evs = h.serverSends(serverPublish("a", "3", { qos: 1, packetId: 3 }));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x93, error: { code: ErrorCode.ReceiveMaximumExceeded } } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x93 }]);
    expect(h.conn.state).toBe("closed");
  });

  it("PUBREL and PUBACK free our receive window", () => {
    const h = new Harness({ protocolVersion: 5, properties: { receiveMaximum: 1 } });
    h.connect();
    h.serverSends(serverPublish("a", "1", { qos: 2, packetId: 1 }));
    h.serverSends({ type: "pubrel", packetId: 1, reasonCode: 0 });
    h.serverSends(serverPublish("a", "2", { qos: 1, packetId: 2 }));
    h.serverSends(serverPublish("a", "3", { qos: 1, packetId: 3 }));
    expect(h.flush()).toEqual([
      { type: "pubrec", packetId: 1, reasonCode: 0 },
      { type: "pubcomp", packetId: 1, reasonCode: 0 },
      { type: "puback", packetId: 2, reasonCode: 0 },
      { type: "puback", packetId: 3, reasonCode: 0 },
    ]);
    expect(h.conn.state).toBe("connected");
  });

  it("a resent QoS 2 PUBLISH before PUBREL does not count twice", () => {
    const h = new Harness({ protocolVersion: 5, properties: { receiveMaximum: 1 } });
    h.connect();
    const p = serverPublish("a", "1", { qos: 2, packetId: 1 });
    h.serverSends(p, { ...p, dup: true }, { ...p, dup: true });
    expect(h.conn.state).toBe("connected");
  });

  it("manual ack: unacknowledged messages count against our Receive Maximum", () => {
    const h = new Harness({ protocolVersion: 5, manualAck: true, properties: { receiveMaximum: 2 } });
    h.connect();
    h.serverSends(serverPublish("a", "1", { qos: 1, packetId: 1 }), serverPublish("a", "2", { qos: 1, packetId: 2 }));
    expect(h.flush()).toEqual([]);
    const evs = h.serverSends(serverPublish("a", "3", { qos: 1, packetId: 3 }));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x93 } }]);
  });
});

describe("manual ack", () => {
  it("[MQTT-4.6.0-2] sends PUBACKs in arrival order whatever order the application acks in", () => {
    const h = new Harness({ protocolVersion: 4, manualAck: true });
    h.connect();
    h.serverSends(...[11, 12, 13, 14].map((id) => serverPublish("t", String(id), { qos: 1, packetId: id })));
    expect(h.events.filter((e) => e.type === "message")).toHaveLength(4);
    expect(h.flush()).toEqual([]);
    expect(h.conn.ack(h.now, 13)).toBe(true);
    expect(h.conn.ack(h.now, 14)).toBe(true);
    expect(h.flush()).toEqual([]);
    expect(h.conn.ack(h.now, 11)).toBe(true);
    expect(h.flush()).toEqual([{ type: "puback", packetId: 11, reasonCode: 0 }]);
    expect(h.conn.ack(h.now, 12)).toBe(true);
    expect(h.flush()).toEqual([12, 13, 14].map((packetId) => ({ type: "puback", packetId, reasonCode: 0 })));
    // Acking twice, or an id never received, is reported as false and changes nothing.
    expect(h.conn.ack(h.now, 12)).toBe(false);
    expect(h.conn.ack(h.now, 99)).toBe(false);
    expect(h.flush()).toEqual([]);
  });

  it("[MQTT-4.6.0-3] sends PUBRECs in arrival order, interleaved with PUBACKs as they arrived", () => {
    const h = new Harness({ protocolVersion: 5, manualAck: true });
    h.connect();
    h.serverSends(
      serverPublish("t", "a", { qos: 2, packetId: 1 }),
      serverPublish("t", "b", { qos: 1, packetId: 2 }),
      serverPublish("t", "c", { qos: 2, packetId: 3 }),
    );
    // Not acknowledged yet: the QoS 2 message waits in state "delivered".
    expect(h.conn.exportSession(h.now).incomingQos2).toEqual([
      { packetId: 1, state: "delivered" },
      { packetId: 3, state: "delivered" },
    ]);
    h.conn.ack(h.now, 3);
    h.conn.ack(h.now, 2);
    expect(h.flush()).toEqual([]);
    h.conn.ack(h.now, 1);
    expect(h.flush()).toEqual([
      { type: "pubrec", packetId: 1, reasonCode: 0 },
      { type: "puback", packetId: 2, reasonCode: 0 },
      { type: "pubrec", packetId: 3, reasonCode: 0 },
    ]);
    expect(h.conn.exportSession(h.now).incomingQos2).toEqual([
      { packetId: 1, state: "received" },
      { packetId: 3, state: "received" },
    ]);
  });

  it("a resent QoS 2 PUBLISH before the app acks is not delivered again; the PUBREC follows the ack", () => {
    const h = new Harness({ protocolVersion: 4, manualAck: true });
    h.connect();
    const p = serverPublish("t", "a", { qos: 2, packetId: 1 });
    h.serverSends(p);
    expect(h.serverSends({ ...p, dup: true })).toEqual([]);
    expect(h.flush()).toEqual([]);
    h.conn.ack(h.now, 1);
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 1, reasonCode: 0 }]);
  });

  it("[MQTT-4.5.0-2] a message the application rejects is still acknowledged, with the reason code it gives", () => {
    const h = new Harness({ protocolVersion: 5, manualAck: true });
    h.connect();
    h.serverSends(serverPublish("t", "a", { qos: 1, packetId: 1 }), serverPublish("t", "b", { qos: 2, packetId: 2 }));
    h.conn.ack(h.now, 1, { reasonCode: 0x80, properties: { reasonString: "rejected" } });
    h.conn.ack(h.now, 2, { reasonCode: 0x97 });
    expect(h.flush()).toEqual([
      { type: "puback", packetId: 1, reasonCode: 0x80, properties: { reasonString: "rejected" } },
      { type: "pubrec", packetId: 2, reasonCode: 0x97 },
    ]);
  });

  it("[MQTT-4.5.0-2] auto ack: messages are acknowledged whether or not the application looks at them", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.conn.receiveData(0, encodePacket(serverPublish("t", "0"), 4));
    h.conn.receiveData(0, encodePacket(serverPublish("t", "1", { qos: 1, packetId: 1 }), 4));
    h.conn.receiveData(0, encodePacket(serverPublish("t", "2", { qos: 2, packetId: 2 }), 4));
    // The application pulls the events (the engine parses as they are pulled) and ignores them.
    for (let e = h.conn.pollEvent(h.now); e !== undefined; e = h.conn.pollEvent(h.now));
    expect(h.flush()).toEqual([
      { type: "puback", packetId: 1, reasonCode: 0 },
      { type: "pubrec", packetId: 2, reasonCode: 0 },
    ]);
  });

  it("[MQTT-4.3.3-9] after a failing PUBREC, a PUBLISH with the same id is a new message", () => {
    const h = new Harness({ protocolVersion: 5, manualAck: true });
    h.connect();
    const p = serverPublish("t", "a", { qos: 2, packetId: 4 });
    h.serverSends(p);
    h.conn.ack(h.now, 4, { reasonCode: 0x80 });
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 4, reasonCode: 0x80 }]);
    expect(h.conn.exportSession(h.now).incomingQos2).toEqual([]);
    expect(h.serverSends({ ...p, dup: true })).toEqual([messageEvent({ ...p, dup: true })]);
    h.conn.ack(h.now, 4);
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 4, reasonCode: 0 }]);
  });

  it("[MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] [MQTT-3.5.2-3] drops the reason string, then user properties, from an ack too large for the server", () => {
    const h = new Harness({ protocolVersion: 5, manualAck: true });
    h.connect({ properties: { maximumPacketSize: 30 } });
    h.serverSends(
      serverPublish("t", "a", { qos: 1, packetId: 1 }),
      serverPublish("t", "b", { qos: 2, packetId: 2 }),
      serverPublish("t", "c", { qos: 1, packetId: 3 }),
    );
    const userProperties: [string, string][] = [["k", "v"]];
    // Fits as it is (4 + 1 + 1 + 7 + 4 = 17 bytes).
    h.conn.ack(h.now, 1, { reasonCode: 0x80, properties: { reasonString: "r", userProperties } });
    // Too large with the reason string; fits with the user properties alone.
    h.conn.ack(h.now, 2, { reasonCode: 0x80, properties: { reasonString: "x".repeat(40), userProperties } });
    // Too large even without the reason string: both go.
    h.conn.ack(h.now, 3, { reasonCode: 0x80, properties: { reasonString: "x".repeat(40), userProperties: [["k".repeat(40), "v"]] } });
    expect(h.flush()).toEqual([
      { type: "puback", packetId: 1, reasonCode: 0x80, properties: { reasonString: "r", userProperties } },
      { type: "pubrec", packetId: 2, reasonCode: 0x80, properties: { userProperties } },
      { type: "puback", packetId: 3, reasonCode: 0x80 },
    ]);
    for (const b of h.sentBytes) expect(b.length).toBeLessThanOrEqual(30);
  });

  it("[MQTT-3.4.2-1] [MQTT-3.5.2-1] refuses an ack reason code PUBACK/PUBREC does not define, changing nothing", () => {
    const h = new Harness({ protocolVersion: 5, manualAck: true });
    h.connect();
    h.serverSends(serverPublish("t", "a", { qos: 1, packetId: 1 }), serverPublish("t", "b", { qos: 2, packetId: 2 }));
    expectMisuse(h, () => h.conn.ack(h.now, 1, { reasonCode: 0x92 }), ErrorCode.ReasonCodeInvalid);
    expectMisuse(h, () => h.conn.ack(h.now, 2, { reasonCode: 0x04 }), ErrorCode.ReasonCodeInvalid);
    expect(h.conn.ack(h.now, 1, { reasonCode: 0x10 })).toBe(true);
    expect(h.conn.ack(h.now, 2, { reasonCode: 0x10 })).toBe(true);
    expect(h.flush()).toEqual([
      { type: "puback", packetId: 1, reasonCode: 0x10 },
      { type: "pubrec", packetId: 2, reasonCode: 0x10 },
    ]);
  });

  it("ack reason codes need MQTT 5", () => {
    const h = new Harness({ protocolVersion: 4, manualAck: true });
    h.connect();
    h.serverSends(serverPublish("t", "a", { qos: 1, packetId: 1 }));
    expectMisuse(h, () => h.conn.ack(h.now, 1, { reasonCode: 0x80 }), ErrorCode.VersionMismatch);
  });

  it("an ack after the connection closed sends nothing; a QoS 2 ack is kept for the resend", () => {
    const h = new Harness({ protocolVersion: 4, manualAck: true, clean: false });
    h.connect();
    h.serverSends(
      serverPublish("t", "a", { qos: 1, packetId: 1 }),
      serverPublish("t", "b", { qos: 2, packetId: 2 }),
    );
    h.conn.disconnect(h.now);
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0 }]);
    // QoS 1: nothing waits on this connection any more; the server will resend it.
    expect(h.conn.ack(h.now, 1)).toBe(false);
    // QoS 2: remembered, so the resend is not delivered again and gets its PUBREC.
    expect(h.conn.ack(h.now, 2)).toBe(true);
    expect(h.flush()).toEqual([]);
    expect(h.conn.exportSession(h.now).incomingQos2).toEqual([{ packetId: 2, state: "received" }]);
    expect(h.drain()).toMatchObject([{ type: "closed" }]);
    h.connect({ sessionPresent: true });
    const evs = h.serverSends(serverPublish("t", "a", { qos: 1, packetId: 1, dup: true }), serverPublish("t", "b", { qos: 2, packetId: 2, dup: true }));
    expect(evs).toMatchObject([{ type: "message", packetId: 1 }]);
    h.conn.ack(h.now, 1);
    expect(h.flush()).toEqual([
      { type: "puback", packetId: 1, reasonCode: 0 },
      { type: "pubrec", packetId: 2, reasonCode: 0 },
    ]);
  });

  it("an application ack given before the connection dropped, but still held behind an earlier message, is not lost", () => {
    const h = new Harness({ protocolVersion: 4, manualAck: true, clean: false });
    h.connect();
    h.serverSends(serverPublish("t", "a", { qos: 1, packetId: 1 }), serverPublish("t", "b", { qos: 2, packetId: 2 }));
    h.conn.ack(h.now, 2); // held behind 1, which the application has not acked
    expect(h.flush()).toEqual([]);
    h.lose();
    h.connect({ sessionPresent: true });
    expect(h.serverSends(serverPublish("t", "b", { qos: 2, packetId: 2, dup: true }))).toEqual([]);
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 2, reasonCode: 0 }]);
  });
});
