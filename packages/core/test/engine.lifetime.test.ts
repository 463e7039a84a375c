/**
 * How long a session lives, and the recovery corners around it: a session that
 * ends with its connection is never resumed by the client, PUBCOMP 0x92 during
 * recovery, resubscription that survives a restart, QoS 2 ids kept reserved
 * when a resend is given up, requests too large for the server, and AUTH the
 * server may not start.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/index.js";
import { Harness, serverPublish, te } from "./helpers/peer.js";

const x = te.encode("x");

describe("session lifetime", () => {
  it("[MQTT-3.1.2-6] 3.1.1: a clean session lasts one connection; the next connect starts with none", () => {
    const h = new Harness({ protocolVersion: 4, clean: true });
    h.connect();
    const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    expect(h.flush()).toMatchObject([{ type: "publish", packetId: 1, dup: false }]);
    h.serverSends(serverPublish("in", "q2", { qos: 2, packetId: 7 }));
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 7, reasonCode: 0 }]);
    h.lose();
    // The server answers session present (it kept a session from elsewhere):
    // the client holds none of the clean session's state.
    const sent = h.connect({ sessionPresent: true }, { clean: false });
    // The unacknowledged message goes again as a new message: no DUP, a new id.
    expect(sent).toEqual([{ type: "publish", topic: "t", payload: x, qos: 1, retain: false, dup: false, packetId: 2 }]);
    // The old QoS 2 id is no longer a duplicate: a PUBLISH reusing it is new.
    const evs = h.serverSends(serverPublish("in", "new", { qos: 2, packetId: 7 }));
    expect(evs.map((e) => e.type)).toEqual(["message"]);
    h.serverSends({ type: "puback", packetId: 2, reasonCode: 0 });
    expect(h.events.filter((e) => e.type === "published")).toEqual([{ type: "published", mid, qos: 1, reasonCode: 0, packetId: 2 }]);
  });

  it("[MQTT-3.1.2-4] 3.1.1: with clean session 0 the state is kept for the next connection", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([
      { type: "publish", topic: "t", payload: x, qos: 1, retain: false, dup: true, packetId: 1 },
    ]);
  });

  it("[MQTT-3.1.2-23] MQTT 5: session expiry 0 (the default) ends the session with the connection", () => {
    const h = new Harness({ protocolVersion: 5, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([
      { type: "publish", topic: "t", payload: x, qos: 1, retain: false, dup: false, packetId: 2 },
    ]);
  });

  it("[MQTT-3.1.2-23] MQTT 5: a session expiry above 0 keeps the session", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true })).toMatchObject([{ type: "publish", dup: true, packetId: 1 }]);
  });

  it("MQTT 5: the server's session expiry in CONNACK decides", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    h.connect({ properties: { sessionExpiryInterval: 0 } });
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true })).toMatchObject([{ type: "publish", dup: false, packetId: 2 }]);
  });

  it("MQTT 5: a DISCONNECT setting session expiry 0 ends the session", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    h.conn.disconnect(0, { properties: { sessionExpiryInterval: 0 } });
    h.step();
    expect(h.connect({ sessionPresent: false })).toMatchObject([{ type: "publish", dup: false, packetId: 2 }]);
  });
});

describe("recovery corners", () => {
  it("MQTT 5: PUBCOMP 0x92 for a PUBREL resent after reconnect reports the message delivered", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    h.connect();
    const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.flush();
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    h.lose(); // the server's PUBCOMP was lost with the connection
    expect(h.connect({ sessionPresent: true })).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    const evs = h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0x92 });
    expect(evs).toEqual([{ type: "published", mid, qos: 2, reasonCode: 0, packetId: 1 }]);
  });

  it("[MQTT-3.2.2-15] a QoS 2 resend given up as too large keeps its packet id until the server finishes the exchange", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    h.connect();
    const mid = h.conn.publish(0, { topic: "big", payload: new Uint8Array(100), qos: 2 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true, properties: { maximumPacketSize: 80 } })).toEqual([]);
    expect(h.events.at(-1)).toMatchObject({ type: "published", mid, reasonCode: 0x95, error: { code: ErrorCode.PacketTooLarge } });
    expect(h.conn.exportSession(h.now).retiredPacketIds).toEqual([1]);
    // The id is not reused while the server may still hold the message.
    h.conn.publish(0, { topic: "small", payload: x, qos: 2 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "small", packetId: 2 }]);
    // The server did have it: PUBREC → PUBREL → PUBCOMP frees the id, silently.
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    expect(h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0 })).toEqual([]);
    expect(h.conn.exportSession(h.now).retiredPacketIds).toEqual([]);
  });

  it("resubscribeOnSessionLoss: a restart before the SUBACK still subscribes again", () => {
    const options = { protocolVersion: 4 as const, clean: false, resubscribeOnSessionLoss: true };
    const h = new Harness(options);
    h.connect();
    h.conn.subscribe(0, { topicFilter: "a/#", qos: 1 });
    h.flush();
    h.serverSends({ type: "suback", packetId: 1, reasonCodes: [1] });
    h.lose();
    // The server lost the session: the engine asks again...
    expect(h.connect({ sessionPresent: false })).toEqual([{ type: "subscribe", packetId: 2, subscriptions: [{ topicFilter: "a/#", qos: 1 }] }]);
    expect(h.conn.exportSession(h.now).subscriptions).toEqual([{ topicFilter: "a/#", qos: 1, unconfirmed: true }]);
    // ...the process restarts before the SUBACK...
    const state = h.conn.exportSession(h.now);
    const n = new Harness(options);
    n.conn.importSession(n.now, structuredClone(state));
    // ...and the next connection asks again, whatever the server says about its
    // session: the pending SUBSCRIBE is session state, sent again with its own id.
    expect(state.requests).toEqual([{ mid: 2, packetId: 2, kind: "subscribe", subscriptions: [{ topicFilter: "a/#", qos: 1 }] }]);
    expect(n.connect({ sessionPresent: true })).toEqual([{ type: "subscribe", packetId: 2, subscriptions: [{ topicFilter: "a/#", qos: 1 }] }]);
    n.serverSends({ type: "suback", packetId: 2, reasonCodes: [1] });
    expect(n.conn.exportSession(n.now).subscriptions).toEqual([{ topicFilter: "a/#", qos: 1 }]);
  });

  it("resubscribeOnSessionLoss: a refused resubscription is dropped from the session", () => {
    const h = new Harness({ protocolVersion: 4, clean: false, resubscribeOnSessionLoss: true });
    h.connect();
    h.conn.subscribe(0, { topicFilter: "a", qos: 0 });
    h.flush();
    h.serverSends({ type: "suback", packetId: 1, reasonCodes: [0] });
    h.lose();
    h.connect({ sessionPresent: false });
    h.serverSends({ type: "suback", packetId: 2, reasonCodes: [0x80] });
    expect(h.conn.exportSession(h.now).subscriptions).toEqual([]);
  });

  it("[MQTT-3.2.2-15] a SUBSCRIBE asked for before CONNACK and larger than the server allows fails, unsent", () => {
    const h = new Harness({ protocolVersion: 5 });
    const mid = h.conn.subscribe(0, { topicFilter: `a/${"x".repeat(100)}`, qos: 1 });
    expect(h.connect({ properties: { maximumPacketSize: 50 } })).toEqual([]);
    expect(h.events.at(-1)).toMatchObject({ type: "subscribed", mid, reasonCodes: [0x80], error: { code: ErrorCode.PacketTooLarge, reasonCode: 0x95 } });
  });

  it("MQTT 5: AUTH from the server while connected, with no re-authentication asked for, is a protocol error", () => {
    const h = new Harness({ protocolVersion: 5, properties: { authenticationMethod: "M" } });
    h.conn.connect(0);
    h.flush();
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: "M" } });
    const evs = h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "M" } });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.AuthInvalid } } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x82 }]);
  });

  it("MQTT 5: after AUTH 0x19 the server's AUTH 0x18 and 0x00 are accepted", () => {
    const h = new Harness({ protocolVersion: 5, properties: { authenticationMethod: "M" } });
    h.conn.connect(0);
    h.flush();
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: "M" } });
    h.conn.auth(0, { reasonCode: 0x19 });
    expect(h.flush()).toEqual([{ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: "M" } }]);
    expect(h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "M" } })).toMatchObject([{ type: "auth", reasonCode: 0x18 }]);
    h.conn.auth(0, { reasonCode: 0x18 });
    expect(h.serverSends({ type: "auth", reasonCode: 0, properties: { authenticationMethod: "M" } })).toMatchObject([{ type: "auth", reasonCode: 0 }]);
    // Done: another AUTH from the server is not allowed.
    expect(h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "M" } })).toMatchObject([{ type: "closed" }]);
  });
});

describe("our maximum packet size", () => {
  it("[MQTT-4.8.0-2] 3.1.1: a packet over maximumPacketSize closes the connection from its fixed header, no body buffered", () => {
    const h = new Harness({ protocolVersion: 4, maximumPacketSize: 64 });
    h.connect();
    // A PUBLISH header claiming 10 MB; only the header arrives.
    const evs = h.serverSendsBytes(Uint8Array.of(0x30, 0x80, 0xad, 0xe2, 0x04));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x95, error: { code: ErrorCode.PacketTooLarge } } }]);
    expect(h.flush()).toEqual([]); // 3.1.1 has no DISCONNECT from the client for this
  });

  it("MQTT 5: maximumPacketSize is announced in CONNECT and enforced with DISCONNECT 0x95", () => {
    const h = new Harness({ protocolVersion: 5, maximumPacketSize: 64 });
    h.conn.connect(0);
    expect(h.flush()).toMatchObject([{ type: "connect", properties: { maximumPacketSize: 64 } }]);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    const evs = h.serverSends(serverPublish("t", new Uint8Array(100)));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x95 } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x95 }]);
  });
});
