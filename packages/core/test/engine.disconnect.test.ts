/**
 * DISCONNECT both ways, and transport loss: reason codes, the session expiry
 * override rule, the server's DISCONNECT surfaced, nothing sent after ours.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/index.js";
import { expectMisuse, Harness, serverPublish, te } from "./helpers/peer.js";

const x = te.encode("x");

describe("our DISCONNECT", () => {
  it("[MQTT-3.14.4-1] [MQTT-3.14.4-2] queues DISCONNECT, reports closed, and sends nothing after it", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 10, manualAck: true });
    h.connect();
    h.serverSends(serverPublish("t", "1", { qos: 1, packetId: 1 }));
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    h.conn.disconnect(h.now);
    expect(h.drain()).toEqual([{ type: "closed", reason: { kind: "local", reasonCode: 0 } }]);
    expect(h.conn.state).toBe("closed");
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0 }]);
    expect(h.sentBytes.at(-1)).toEqual(Uint8Array.of(0xe0, 0x00));
    expect(h.conn.pollTimeout()).toBeUndefined();
    // Nothing more goes out on this connection: no publish, subscribe, ack, PINGREQ, or reply to late packets.
    h.conn.publish(1, { topic: "t", payload: x, qos: 1 });
    h.conn.publish(1, { topic: "t", payload: x });
    h.conn.subscribe(1, { topicFilter: "s", qos: 0 });
    h.conn.unsubscribe(1, "s");
    h.conn.ack(h.now, 1);
    h.advanceTo(100_000);
    h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 }, serverPublish("t", "2", { qos: 1, packetId: 2 }), { type: "pingresp" });
    expect(h.flush()).toEqual([]);
    expect(h.conn.wantsWrite()).toBe(false);
    expect(h.drain()).toEqual([]);
    // The inflight message waits for the next connection.
    expect(h.conn.inflightCount).toBe(1);
  });

  it("3.1.1: DISCONNECT has no reason code", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    expectMisuse(h, () => h.conn.disconnect(0, { reasonCode: 0x04 }), ErrorCode.VersionMismatch);
    expectMisuse(h, () => h.conn.disconnect(0, { properties: { reasonString: "x" } }), ErrorCode.VersionMismatch);
    h.conn.disconnect(0);
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0 }]);
  });

  it("MQTT 5: carries a reason code (0x04 asks for the will) and properties", () => {
    const h = new Harness({ protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    h.connect();
    h.conn.disconnect(0, { reasonCode: 0x04, properties: { sessionExpiryInterval: 600, reasonString: "bye", userProperties: [["a", "b"]] } });
    expect(h.flush()).toEqual([
      { type: "disconnect", reasonCode: 0x04, properties: { sessionExpiryInterval: 600, reasonString: "bye", userProperties: [["a", "b"]] } },
    ]);
    expect(h.drain()).toEqual([{ type: "closed", reason: { kind: "local", reasonCode: 0x04 } }]);
  });

  it("[MQTT-3.14.2-2] cannot set a non-zero session expiry on DISCONNECT when CONNECT had none (0)", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    expectMisuse(h, () => h.conn.disconnect(0, { properties: { sessionExpiryInterval: 10 } }), ErrorCode.PropertyValue, 0x82);
    expect(h.conn.state).toBe("connected");
    // Setting it to 0 is allowed.
    h.conn.disconnect(0, { properties: { sessionExpiryInterval: 0 } });
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0, properties: { sessionExpiryInterval: 0 } }]);
  });

  it("[MQTT-3.14.2-2] an explicit CONNECT session expiry of 0 counts as none", () => {
    const h = new Harness({ protocolVersion: 5, properties: { sessionExpiryInterval: 0 } });
    h.connect();
    expectMisuse(h, () => h.conn.disconnect(0, { properties: { sessionExpiryInterval: 0xffffffff } }), ErrorCode.PropertyValue);
  });

  it("[MQTT-3.14.2-1] refuses a reason code DISCONNECT does not define, changing nothing", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    for (const rc of [0x01, 0x10, 0x92, 0x18, 0x19]) {
      expectMisuse(h, () => h.conn.disconnect(0, { reasonCode: rc }), ErrorCode.ReasonCodeInvalid);
    }
    expect(h.conn.state).toBe("connected");
  });

  it("[MQTT-3.14.2-3] [MQTT-3.14.2-4] drops the reason string, then user properties, from a DISCONNECT too large for the server", () => {
    const userProperties: [string, string][] = [["k", "v"]];
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { maximumPacketSize: 20 } });
    h.conn.disconnect(0, { reasonCode: 0x80, properties: { reasonString: "x".repeat(30), userProperties } });
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0x80, properties: { userProperties } }]);
    const h2 = new Harness({ protocolVersion: 5 });
    h2.connect({ properties: { maximumPacketSize: 20 } });
    h2.conn.disconnect(0, { reasonCode: 0x80, properties: { reasonString: "x".repeat(30), userProperties: [["k".repeat(30), "v"]] } });
    expect(h2.flush()).toEqual([{ type: "disconnect", reasonCode: 0x80 }]);
    expect(h2.sentBytes.at(-1)!.length).toBeLessThanOrEqual(20);
  });

  it("[MQTT-3.14.2-3] the DISCONNECT for a protocol error drops its reason string when the server's maximum is small", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { maximumPacketSize: 16 } });
    h.serverSends({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0 }] });
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0x82 }]);
    expect(h.sentBytes.at(-1)!.length).toBeLessThanOrEqual(16);
  });

  it("disconnect is allowed while connecting, and refused when idle or closed", () => {
    const h = new Harness({ protocolVersion: 4 });
    expectMisuse(h, () => h.conn.disconnect(0), ErrorCode.InvalidState, 0x83);
    h.conn.connect(0);
    h.flush();
    h.conn.disconnect(1);
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0 }]);
    expect(h.drain()).toEqual([{ type: "closed", reason: { kind: "local", reasonCode: 0 } }]);
    expectMisuse(h, () => h.conn.disconnect(2), ErrorCode.InvalidState, 0x83);
    // A CONNACK arriving afterwards is ignored.
    expect(h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 })).toEqual([]);
  });
});

describe("the server's DISCONNECT", () => {
  it("[MQTT-4.13.2-1] surfaces reason code and reason string, closes, and answers nothing", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 10 });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    const props = { reasonString: "shutting down", serverReference: "other:1883", userProperties: [["a", "b"]] as [string, string][] };
    expect(h.serverSends({ type: "disconnect", reasonCode: 0x8b, properties: props })).toEqual([
      { type: "closed", reason: { kind: "server-disconnect", reasonCode: 0x8b, properties: props } },
    ]);
    expect(h.conn.state).toBe("closed");
    expect(h.flush()).toEqual([]);
    expect(h.conn.pollTimeout()).toBeUndefined();
    // Packets after the DISCONNECT are not processed.
    expect(h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 })).toEqual([]);
    expect(h.conn.inflightCount).toBe(1);
  });

  it("a normal DISCONNECT (0x00) without properties", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    expect(h.serverSends({ type: "disconnect", reasonCode: 0 })).toEqual([{ type: "closed", reason: { kind: "server-disconnect", reasonCode: 0 } }]);
  });

  it("a DISCONNECT before CONNACK (MQTT 5) closes the connection", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.conn.connect(0);
    h.flush();
    expect(h.serverSends({ type: "disconnect", reasonCode: 0x9c, properties: { serverReference: "b" } })).toEqual([
      { type: "closed", reason: { kind: "server-disconnect", reasonCode: 0x9c, properties: { serverReference: "b" } } },
    ]);
  });

  it("packets before the server's DISCONNECT in the same chunk are processed first", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const evs = h.serverSends(serverPublish("t", "1", { qos: 1, packetId: 4 }), { type: "disconnect", reasonCode: 0x8e });
    expect(evs.map((e) => e.type)).toEqual(["message", "closed"]);
    expect(h.flush()).toEqual([{ type: "puback", packetId: 4, reasonCode: 0 }]);
  });

  it("3.1.1: a server never sends DISCONNECT; one is a protocol error (no DISCONNECT sent back)", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    expect(h.serverSends({ type: "disconnect", reasonCode: 0 })).toMatchObject([
      { type: "closed", reason: { kind: "protocol-error", error: { code: ErrorCode.UnexpectedPacket } } },
    ]);
    expect(h.flush()).toEqual([]);
  });
});

describe("transport loss", () => {
  it("reports closed (transport) once, drops unsent bytes, keeps the session", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 10 });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    const cause = new Error("ECONNRESET");
    expect(h.lose(cause)).toEqual([{ type: "closed", reason: { kind: "transport", reasonCode: 0x80, cause } }]);
    expect(h.flush()).toEqual([]);
    expect(h.conn.pollTimeout()).toBeUndefined();
    expect(h.lose()).toEqual([]);
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ topic: "t", state: "publish", packetId: 1 }]);
  });

  it("while connecting, without a cause", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.conn.connect(0);
    expect(h.lose()).toEqual([{ type: "closed", reason: { kind: "transport", reasonCode: 0x80 } }]);
    expect(h.flush()).toEqual([]);
  });

  it("does nothing when idle", () => {
    const h = new Harness();
    expect(h.lose()).toEqual([]);
    expect(h.conn.state).toBe("idle");
  });
});
