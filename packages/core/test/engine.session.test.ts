/**
 * Sessions across connections: resumption with session present (DUP resends,
 * PUBRELs, original order, within the window), session lost (republished as
 * new), clean start, and export/import through plain data.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, MqttConnection, type SessionState, sessionFromJSON, sessionToJSON } from "../src/index.js";
import { expectMisuse, Harness, serverPublish, te } from "./helpers/peer.js";

const x = te.encode("x");

/** Four messages on the wire: 1 QoS 1, 2 QoS 2 (PUBREC'd: PUBREL phase), 3 QoS 2, 4 QoS 1. */
function withFourInFlight(options: ConstructorParameters<typeof Harness>[0] = {}): { h: Harness; mids: number[] } {
  const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 }, ...options });
  h.connect();
  const mids = ([1, 2, 2, 1] as const).map((qos, i) => h.conn.publish(0, { topic: `t/${i + 1}`, payload: x, qos }));
  h.flush();
  h.serverSends({ type: "pubrec", packetId: 2, reasonCode: 0 });
  expect(h.flush()).toEqual([{ type: "pubrel", packetId: 2, reasonCode: 0 }]);
  return { h, mids };
}

describe("resuming a session (session present)", () => {
  it("[MQTT-4.4.0-1] [MQTT-4.6.0-1] [MQTT-3.3.1-1] [MQTT-4.3.3-6] resends unacked PUBLISH with DUP 1 and the same ids, and PUBREL instead of PUBLISH, in the original order", () => {
    const { h, mids } = withFourInFlight();
    h.now = 1_000;
    h.lose();
    h.now = 2_000;
    h.conn.connect(h.now);
    expect(h.flush()).toEqual([{ type: "connect", protocolVersion: 5, clean: false, keepAlive: 60, clientId: "test-client", properties: { sessionExpiryInterval: 600 } }]);
    // Nothing is resent before CONNACK.
    h.serverSends({ type: "connack", sessionPresent: true, reasonCode: 0 });
    expect(h.flush()).toEqual([
      { type: "publish", topic: "t/1", payload: x, qos: 1, retain: false, dup: true, packetId: 1 },
      { type: "pubrel", packetId: 2, reasonCode: 0 },
      { type: "publish", topic: "t/3", payload: x, qos: 2, retain: false, dup: true, packetId: 3 },
      { type: "publish", topic: "t/4", payload: x, qos: 1, retain: false, dup: true, packetId: 4 },
    ]);
    h.serverSends(
      { type: "puback", packetId: 1, reasonCode: 0 },
      { type: "pubcomp", packetId: 2, reasonCode: 0 },
      { type: "pubrec", packetId: 3, reasonCode: 0 },
      { type: "puback", packetId: 4, reasonCode: 0 },
    );
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 3, reasonCode: 0 }]);
    h.serverSends({ type: "pubcomp", packetId: 3, reasonCode: 0 });
    expect(h.events.filter((e) => e.type === "published")).toEqual([
      { type: "published", mid: mids[0], qos: 1, reasonCode: 0, packetId: 1 },
      { type: "published", mid: mids[1], qos: 2, reasonCode: 0, packetId: 2 },
      { type: "published", mid: mids[3], qos: 1, reasonCode: 0, packetId: 4 },
      { type: "published", mid: mids[2], qos: 2, reasonCode: 0, packetId: 3 },
    ]);
  });

  it("[MQTT-4.4.0-1] [MQTT-3.1.2-4] 3.1.1: resends with DUP after CleanSession 0 and session present", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "a", payload: x, qos: 1 });
    h.conn.publish(0, { topic: "b", payload: x, qos: 2 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([
      { type: "publish", topic: "a", payload: x, qos: 1, retain: false, dup: true, packetId: 1 },
      { type: "publish", topic: "b", payload: x, qos: 2, retain: false, dup: true, packetId: 2 },
    ]);
  });

  it("[MQTT-3.3.4-7] [MQTT-3.3.4-8] resends within the new connection's window; PUBRELs are not held back", () => {
    const { h } = withFourInFlight();
    h.lose();
    expect(h.connect({ sessionPresent: true, properties: { receiveMaximum: 1 } })).toEqual([
      { type: "publish", topic: "t/1", payload: x, qos: 1, retain: false, dup: true, packetId: 1 },
      { type: "pubrel", packetId: 2, reasonCode: 0 },
    ]);
    h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "publish", topic: "t/3", payload: x, qos: 2, retain: false, dup: true, packetId: 3 }]);
    h.serverSends({ type: "pubrec", packetId: 3, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 3, reasonCode: 0 }]);
    h.serverSends({ type: "pubcomp", packetId: 3, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "publish", topic: "t/4", payload: x, qos: 1, retain: false, dup: true, packetId: 4 }]);
  });

  it("[MQTT-3.3.4-8] [MQTT-4.9.0-3] a PUBREL is not held back behind a PUBLISH waiting for the window", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    for (let i = 1; i <= 3; i++) h.conn.publish(0, { topic: `t/${i}`, payload: x, qos: 2 });
    h.flush();
    h.serverSends({ type: "pubrec", packetId: 3, reasonCode: 0 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true, properties: { receiveMaximum: 1 } })).toEqual([
      { type: "publish", topic: "t/1", payload: x, qos: 2, retain: false, dup: true, packetId: 1 },
      { type: "pubrel", packetId: 3, reasonCode: 0 },
    ]);
    h.serverSends({ type: "pubcomp", packetId: 3, reasonCode: 0 });
    // PUBCOMP for a PUBREL-phase message does not open the window (its PUBLISH was not sent on this connection).
    expect(h.flush()).toEqual([]);
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 }, { type: "pubcomp", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([
      { type: "pubrel", packetId: 1, reasonCode: 0 },
      { type: "publish", topic: "t/2", payload: x, qos: 2, retain: false, dup: true, packetId: 2 },
    ]);
  });

  it("[MQTT-3.2.2-15] a resend too large for the new connection's Maximum Packet Size fails instead of being sent", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    const big = h.conn.publish(0, { topic: "big", payload: new Uint8Array(100), qos: 1 });
    h.conn.publish(0, { topic: "small", payload: x, qos: 1 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true, properties: { maximumPacketSize: 50 } })).toEqual([
      { type: "publish", topic: "small", payload: x, qos: 1, retain: false, dup: true, packetId: 2 },
    ]);
    expect(h.events.at(-1)).toEqual({
      type: "published",
      mid: big,
      qos: 1,
      reasonCode: 0x95,
      packetId: 1,
      error: expect.objectContaining({ code: ErrorCode.PacketTooLarge }),
    });
    for (const b of h.sentBytes.slice(-1)) expect(b.length).toBeLessThanOrEqual(50);
    expect(h.conn.inflightCount).toBe(1);
  });

  it("after CONNACK: pending SUBSCRIBEs, then resends, then messages queued while offline (as new, DUP 0)", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "old", payload: x, qos: 1 });
    h.flush();
    h.lose();
    h.conn.publish(0, { topic: "new", payload: x, qos: 1 });
    h.conn.subscribe(0, { topicFilter: "s", qos: 0 });
    expect(h.connect({ sessionPresent: true })).toEqual([
      { type: "subscribe", packetId: 2, subscriptions: [{ topicFilter: "s", qos: 0 }] },
      { type: "publish", topic: "old", payload: x, qos: 1, retain: false, dup: true, packetId: 1 },
      { type: "publish", topic: "new", payload: x, qos: 1, retain: false, dup: false, packetId: 3 },
    ]);
  });

  it("[MQTT-4.3.3-7] no message expiry for a QoS 2 message whose PUBLISH was sent: its PUBREL goes out however late", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 86_400 } });
    h.connect();
    const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 2, properties: { messageExpiryInterval: 1 } });
    h.flush();
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    h.flush();
    h.lose();
    h.now = 3_600_000;
    expect(h.connect({ sessionPresent: true })).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    expect(h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0 })).toEqual([{ type: "published", mid, qos: 2, reasonCode: 0, packetId: 1 }]);
  });

  it("[MQTT-3.1.2-23] [MQTT-4.1.0-1] keeps the session state after the connection closes (session expiry above 0)", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.serverSends(serverPublish("in", "1", { qos: 2, packetId: 9 }));
    h.conn.subscribe(0, { topicFilter: "s", qos: 1 });
    h.flush();
    h.serverSends({ type: "suback", packetId: 2, reasonCodes: [1] });
    h.lose();
    const before = h.conn.exportSession(h.now);
    // Each connection resends "t" and ends before its PUBACK: a delivery attempt, the one thing that changes.
    const withoutAttempts = (s: SessionState): SessionState => ({ ...s, outgoing: s.outgoing.map(({ attempts: _a, ...m }) => m) });
    let attempts = 1;
    for (const end of ["lose", "disconnect", "server-disconnect", "ping-timeout"] as const) {
      h.connect({ sessionPresent: true });
      h.flush();
      if (end === "lose") h.lose();
      else if (end === "disconnect") h.conn.disconnect(h.now);
      else if (end === "server-disconnect") h.serverSends({ type: "disconnect", reasonCode: 0x8b });
      else {
        h.advanceTo(h.conn.pollTimeout()!);
        h.advanceTo(h.conn.pollTimeout()!);
      }
      h.drain();
      expect(h.conn.state).toBe("closed");
      const after = h.conn.exportSession(h.now);
      expect(withoutAttempts(after)).toEqual(withoutAttempts(before));
      expect(after.outgoing[0]!.attempts).toBe(++attempts);
    }
    expect(before).toMatchObject({
      outgoing: [{ topic: "t", state: "publish", packetId: 1, attempts: 1 }],
      incomingQos2: [{ packetId: 9, state: "received" }],
      subscriptions: [{ topicFilter: "s", qos: 1 }],
    });
  });
});

describe("session lost or discarded", () => {
  it("[MQTT-3.2.2-5] session present 0 while holding state: discards it; unacked QoS 1 messages go out as new, a sent QoS 2 one fails (ERR_SESSION_LOST), PUBREL-phase ones complete", () => {
    const { h, mids } = withFourInFlight();
    h.serverSends(serverPublish("in", "1", { qos: 2, packetId: 7 }));
    h.flush();
    h.lose();
    const sent = h.connect({ sessionPresent: false });
    expect(sent).toEqual([
      { type: "publish", topic: "t/1", payload: x, qos: 1, retain: false, dup: false, packetId: 5 },
      { type: "publish", topic: "t/4", payload: x, qos: 1, retain: false, dup: false, packetId: 6 },
    ]);
    // The QoS 2 message in the PUBREL phase reached the server: it is complete.
    // The one whose PUBLISH went out may have been delivered: not sent again.
    expect(h.events.filter((e) => e.type === "published")).toEqual([
      { type: "published", mid: mids[1], qos: 2, reasonCode: 0, packetId: 2 },
      { type: "published", mid: mids[2], qos: 2, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.SessionLost }) },
    ]);
    // The incoming QoS 2 state is gone too: the same id is a new message.
    expect(h.serverSends(serverPublish("in", "2", { qos: 2, packetId: 7 }))).toMatchObject([{ type: "message" }]);
  });

  it("[MQTT-3.2.2-5] republishOnSessionLoss false: unacked messages fail with 0x80", () => {
    const { h, mids } = withFourInFlight({ republishOnSessionLoss: false });
    h.lose();
    expect(h.connect()).toEqual([]);
    expect(h.events.filter((e) => e.type === "published")).toEqual([
      { type: "published", mid: mids[0], qos: 1, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.InvalidState }) },
      { type: "published", mid: mids[1], qos: 2, reasonCode: 0, packetId: 2 },
      { type: "published", mid: mids[2], qos: 2, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.InvalidState }) },
      { type: "published", mid: mids[3], qos: 1, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.InvalidState }) },
    ]);
    expect(h.conn.inflightCount).toBe(0);
  });

  it("[MQTT-3.2.2-5] a QoS 2 message sent, then the session lost: a failed published event (ERR_SESSION_LOST, 0x80), never sent again", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    const mid = h.conn.publish(0, { topic: "q2", payload: x, qos: 2 });
    expect(h.flush()).toEqual([{ type: "publish", topic: "q2", payload: x, qos: 2, retain: false, dup: false, packetId: 1 }]);
    // The server may have delivered it; its PUBREC is lost with the connection, and so is the server's session.
    h.lose();
    expect(h.connect({ sessionPresent: false })).toEqual([]);
    const failed = h.events.filter((e) => e.type === "published");
    expect(failed).toEqual([{ type: "published", mid, qos: 2, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.SessionLost, reasonCode: 0x80 }) }]);
    const error = (failed[0] as { error: Error }).error;
    expect(error.message).toMatch(/session was lost after message \d+ was sent/);
    expect(error.message).toMatch(/may or may not have been delivered/);
    expect(error.message).toMatch(/never delivered twice/);
    // Nothing of it is left: not in flight, not queued, its id free, nothing reserved; never on the wire again.
    expect(h.conn.exportSession(h.now)).toMatchObject({ outgoing: [], retiredPacketIds: [] });
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([]);
    expect(h.sent.filter((p) => p.type === "publish")).toHaveLength(1);
  });

  it("[MQTT-3.1.2-6] 3.1.1: a clean start after a QoS 2 message was sent fails it (ERR_SESSION_LOST) at connect(); a QoS 1 message sent goes again as new", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    const one = h.conn.publish(0, { topic: "q1", payload: x, qos: 1 });
    const two = h.conn.publish(0, { topic: "q2", payload: x, qos: 2 });
    expect(h.flush().map((p) => p.type)).toEqual(["publish", "publish"]);
    h.lose();
    h.conn.connect(h.now, { clean: true });
    // At once, before the CONNACK.
    expect(h.drain()).toEqual([{ type: "published", mid: two, qos: 2, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.SessionLost }) }]);
    expect(h.flush()).toMatchObject([{ type: "connect", clean: true }]);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    // At least once allows a duplicate: QoS 1 goes again, as a new message.
    expect(h.flush()).toEqual([{ type: "publish", topic: "q1", payload: x, qos: 1, retain: false, dup: false, packetId: 3 }]);
    expect(h.serverSends({ type: "puback", packetId: 3, reasonCode: 0 })).toEqual([{ type: "published", mid: one, qos: 1, reasonCode: 0, packetId: 3 }]);
  });

  it("[MQTT-3.2.2-5] a QoS 1 message sent, then the session lost: published again as a new message (DUP 0, a new packet id)", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    const mid = h.conn.publish(0, { topic: "q1", payload: x, qos: 1 });
    expect(h.flush()).toMatchObject([{ type: "publish", packetId: 1, dup: false }]);
    h.lose();
    expect(h.connect({ sessionPresent: false })).toEqual([{ type: "publish", topic: "q1", payload: x, qos: 1, retain: false, dup: false, packetId: 2 }]);
    expect(h.events.filter((e) => e.type === "published")).toEqual([]);
    expect(h.serverSends({ type: "puback", packetId: 2, reasonCode: 0 })).toEqual([{ type: "published", mid, qos: 1, reasonCode: 0, packetId: 2 }]);
  });

  it("[MQTT-3.2.2-5] a QoS 2 message never sent (its PUBLISH dropped with the connection, or still queued) is published again as new", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, maxInflight: 1, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    // In the output, never handed out: the connection ends first.
    const dropped = h.conn.publish(0, { topic: "dropped", payload: x, qos: 2 });
    // Waiting for the window: stage "queued".
    const queued = h.conn.publish(0, { topic: "queued", payload: x, qos: 2 });
    expect(h.conn.exportSession(h.now).outgoing.map((m) => [m.topic, m.state, m.sent])).toEqual([
      ["dropped", "publish", false],
      ["queued", "queued", undefined],
    ]);
    h.lose();
    expect(h.connect({ sessionPresent: false })).toEqual([{ type: "publish", topic: "dropped", payload: x, qos: 2, retain: false, dup: false, packetId: 2 }]);
    expect(h.events.filter((e) => e.type === "published")).toEqual([]);
    h.serverSends({ type: "pubrec", packetId: 2, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 2, reasonCode: 0 }]);
    h.serverSends({ type: "pubcomp", packetId: 2, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "publish", topic: "queued", payload: x, qos: 2, retain: false, dup: false, packetId: 3 }]);
    h.serverSends({ type: "pubrec", packetId: 3, reasonCode: 0 });
    h.flush();
    h.serverSends({ type: "pubcomp", packetId: 3, reasonCode: 0 });
    expect(h.events.filter((e) => e.type === "published").map((e) => [e.mid, e.reasonCode])).toEqual([
      [dropped, 0],
      [queued, 0],
    ]);
  });

  it("[MQTT-3.2.2-5] a QoS 2 message of an older session (`sent` not recorded: counts as sent) fails with ERR_SESSION_LOST when the session is lost", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.conn.importSession(h.now, {
      format: 1,
      clientId: "test-client",
      nextPacketId: 8,
      nextMid: 3,
      outgoing: [
        { mid: 1, topic: "old", payload: x, qos: 2, retain: false, state: "publish", packetId: 7 },
        { mid: 2, topic: "never", payload: x, qos: 2, retain: false, state: "publish", packetId: 6, sent: false },
      ],
      incomingQos2: [],
      subscriptions: [],
    });
    expect(h.connect({ sessionPresent: false })).toEqual([{ type: "publish", topic: "never", payload: x, qos: 2, retain: false, dup: false, packetId: 8 }]);
    expect(h.events.filter((e) => e.type === "published")).toEqual([
      { type: "published", mid: 1, qos: 2, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.SessionLost }) },
    ]);
  });

  it("resubscribeOnSessionLoss: subscribes again to what the server had granted, with its identifier", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 }, resubscribeOnSessionLoss: true });
    h.connect();
    h.conn.subscribe(0, [{ topicFilter: "a", qos: 1, noLocal: true }, { topicFilter: "b", qos: 2 }], { subscriptionIdentifiers: [7] });
    h.flush();
    h.serverSends({ type: "suback", packetId: 1, reasonCodes: [1, 0x80] });
    h.lose();
    expect(h.connect({ sessionPresent: false })).toEqual([
      { type: "subscribe", packetId: 2, subscriptions: [{ topicFilter: "a", qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 }], properties: { subscriptionIdentifiers: [7] } },
    ]);
    // With the session present, nothing is resubscribed.
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([{ type: "subscribe", packetId: 2, subscriptions: [{ topicFilter: "a", qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 }], properties: { subscriptionIdentifiers: [7] } }]);
  });

  it("[MQTT-3.1.2-4] clean start discards the session when connect() is called", () => {
    const { h, mids } = withFourInFlight();
    h.serverSends(serverPublish("in", "1", { qos: 2, packetId: 7 }));
    h.lose();
    h.conn.connect(h.now, { clean: true });
    // Discarded at once, before the CONNACK.
    expect(h.conn.exportSession(h.now)).toMatchObject({ incomingQos2: [], subscriptions: [] });
    expect(h.conn.exportSession(h.now).outgoing.map((m) => [m.mid, m.state])).toEqual([
      [mids[0], "queued"],
      [mids[3], "queued"],
    ]);
    // The sent QoS 2 message (t/3) is not sent again as new: it may have been delivered.
    expect(h.drain().filter((e) => e.type === "published")).toEqual([
      { type: "published", mid: mids[1], qos: 2, reasonCode: 0, packetId: 2 },
      { type: "published", mid: mids[2], qos: 2, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.SessionLost }) },
    ]);
    expect(h.flush()).toMatchObject([{ type: "connect", clean: true }]);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expect(h.flush().map((p) => (p.type === "publish" ? [p.topic, p.dup, p.packetId] : p.type))).toEqual([
      ["t/1", false, 5],
      ["t/4", false, 6],
    ]);
  });

  it("[MQTT-3.1.2-6] 3.1.1: with CleanSession 1 the session lasts one connection and is never reused", () => {
    const h = new Harness({ protocolVersion: 4, clean: true, republishOnSessionLoss: false });
    h.connect();
    h.serverSends(serverPublish("in", "1", { qos: 2, packetId: 3 }));
    const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
    h.flush();
    h.lose();
    expect(h.connect()).toEqual([]);
    expect(h.events.at(-2)).toEqual({ type: "published", mid, qos: 1, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.InvalidState }) });
    expect(h.conn.exportSession(h.now)).toMatchObject({ outgoing: [], incomingQos2: [], subscriptions: [] });
    expect(h.serverSends(serverPublish("in", "again", { qos: 2, packetId: 3 }))).toMatchObject([{ type: "message" }]);
  });

  it("[MQTT-4.1.0-2] 3.1.1: even a clean session holds its state for as long as the connection is open", () => {
    const h = new Harness({ protocolVersion: 4, clean: true });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.serverSends(serverPublish("in", "1", { qos: 2, packetId: 3 }));
    h.flush();
    h.advanceTo(30_000);
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 }, serverPublish("in", "1", { qos: 2, packetId: 3, dup: true }));
    expect(h.flush()).toEqual([
      { type: "pubrel", packetId: 1, reasonCode: 0 },
      { type: "pubrec", packetId: 3, reasonCode: 0 },
    ]);
    expect(h.events.filter((e) => e.type === "message")).toHaveLength(1);
  });
});

describe("export / import", () => {
  /** A JSON round trip through the session's own JSON encoding (payloads as base64). */
  function viaJson(s: SessionState): SessionState {
    return sessionFromJSON(JSON.parse(JSON.stringify(sessionToJSON(s))));
  }

  it("exports plain data and resumes it on a new MqttConnection", () => {
    const { h, mids } = withFourInFlight({ clientId: "", properties: { sessionExpiryInterval: 60 } });
    h.serverSends(serverPublish("in", "1", { qos: 2, packetId: 9 }));
    h.conn.subscribe(0, { topicFilter: "s/#", qos: 2, retainHandling: 1 }, { subscriptionIdentifiers: [3] });
    h.flush();
    h.serverSends({ type: "suback", packetId: 5, reasonCodes: [2] });
    h.lose();
    h.conn.publish(0, { topic: "queued", payload: te.encode("q"), qos: 1, retain: true, properties: { contentType: "c" } });
    h.conn.publish(0, { topic: "queued", payload: te.encode("q0") });
    h.conn.publish(0, { topic: "offline", payload: x, qos: 2 });
    const exported = h.conn.exportSession(h.now);
    const restored = viaJson(exported);
    expect(restored).toEqual(exported);
    expect(restored).toEqual({
      format: 1,
      clientId: "",
      nextPacketId: 6,
      nextMid: mids[3]! + 5,
      outgoing: [
        { mid: mids[0], topic: "t/1", payload: x, qos: 1, retain: false, state: "publish", packetId: 1, sent: true, attempts: 1 },
        { mid: mids[1], topic: "t/2", payload: x, qos: 2, retain: false, state: "pubrel", packetId: 2, sent: true },
        // The connection's end charges one attempt: the first message unacknowledged on it.
        { mid: mids[2], topic: "t/3", payload: x, qos: 2, retain: false, state: "publish", packetId: 3, sent: true },
        { mid: mids[3], topic: "t/4", payload: x, qos: 1, retain: false, state: "publish", packetId: 4, sent: true },
        { mid: mids[3]! + 2, topic: "queued", payload: te.encode("q"), qos: 1, retain: true, properties: { contentType: "c" }, state: "queued" },
        { mid: mids[3]! + 3, topic: "queued", payload: te.encode("q0"), qos: 0, retain: false, state: "queued" },
        { mid: mids[3]! + 4, topic: "offline", payload: x, qos: 2, retain: false, state: "queued" },
      ],
      incomingQos2: [{ packetId: 9, state: "received" }],
      subscriptions: [{ topicFilter: "s/#", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 1, subscriptionIdentifier: 3 }],
      retiredPacketIds: [],
      endsWithConnection: false,
      requests: [],
    });

    const n = new Harness({ protocolVersion: 5, clientId: "ignored", clean: false, properties: { sessionExpiryInterval: 60 } });
    n.conn.importSession(n.now, restored);
    expect(n.conn.exportSession(n.now)).toEqual(exported);
    expect(n.conn.grantedSubscriptions).toEqual(exported.subscriptions);
    n.conn.connect(0);
    expect(n.flush()).toMatchObject([{ type: "connect", clientId: "", clean: false }]);
    n.serverSends({ type: "connack", sessionPresent: true, reasonCode: 0 });
    expect(n.flush()).toEqual([
      { type: "publish", topic: "t/1", payload: x, qos: 1, retain: false, dup: true, packetId: 1 },
      { type: "pubrel", packetId: 2, reasonCode: 0 },
      { type: "publish", topic: "t/3", payload: x, qos: 2, retain: false, dup: true, packetId: 3 },
      { type: "publish", topic: "t/4", payload: x, qos: 1, retain: false, dup: true, packetId: 4 },
      { type: "publish", topic: "queued", payload: te.encode("q"), qos: 1, retain: true, dup: false, packetId: 6, properties: { contentType: "c" } },
      { type: "publish", topic: "queued", payload: te.encode("q0"), qos: 0, retain: false, dup: false },
      { type: "publish", topic: "offline", payload: x, qos: 2, retain: false, dup: false, packetId: 7 },
    ]);
    // The QoS 0 message is published now that its bytes were handed out.
    expect(n.drain()).toMatchObject([{ type: "published", qos: 0, reasonCode: 0 }]);
    // The incoming QoS 2 dedup state came along.
    expect(n.serverSends(serverPublish("in", "1", { qos: 2, packetId: 9, dup: true }))).toEqual([]);
    expect(n.flush()).toEqual([{ type: "pubrec", packetId: 9, reasonCode: 0 }]);
    // Message ids continue.
    expect(n.conn.publish(0, { topic: "t", payload: x })).toBe(mids[3]! + 5);
    n.drain();
    // The completions report the original mids.
    expect(n.serverSends({ type: "pubcomp", packetId: 2, reasonCode: 0 })).toEqual([{ type: "published", mid: mids[1], qos: 2, reasonCode: 0, packetId: 2 }]);
  });

  it("an exported session is a copy: later changes do not reach it", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.flush();
    const s = h.conn.exportSession(h.now);
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(s.outgoing[0]!.state).toBe("publish");
    // Mutating the export does not reach the engine.
    s.outgoing[0]!.state = "queued";
    s.outgoing.length = 0;
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ state: "pubrel" }]);
  });

  it("imports into a closed connection, and replaces what it held", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "mine", payload: x, qos: 1 });
    h.flush();
    h.lose();
    h.conn.importSession(h.now, { format: 1, clientId: "other", nextPacketId: 40, nextMid: 100, outgoing: [], incomingQos2: [], subscriptions: [] });
    expect(h.conn.clientId).toBe("other");
    expect(h.conn.inflightCount).toBe(0);
    expect(h.connect({ sessionPresent: true })).toEqual([]);
    expect(h.sent.filter((p) => p.type === "connect").at(-1)).toMatchObject({ clientId: "other" });
    expect(h.conn.publish(0, { topic: "t", payload: x, qos: 1 })).toBe(100);
    expect(h.flush()).toMatchObject([{ type: "publish", packetId: 40 }]);
  });

  it("[MQTT-4.1.0-1] refuses to import while a connection is open, and an unknown format, changing nothing", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    const s = h.conn.exportSession(h.now);
    h.conn.connect(0);
    h.flush();
    expectMisuse(h, () => h.conn.importSession(h.now, s), ErrorCode.InvalidState);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expectMisuse(h, () => h.conn.importSession(h.now, s), ErrorCode.InvalidState);
    h.lose();
    expectMisuse(h, () => h.conn.importSession(h.now, { ...s, format: 2 as 1 }), ErrorCode.InvalidArgument);
  });

  it("a queued message in the export has no packet id; an inflight one keeps its id on import", () => {
    const c = new MqttConnection({ clientId: "c", protocolVersion: 4, clean: false });
    c.importSession(0, {
      format: 1,
      clientId: "c",
      nextPacketId: 1,
      nextMid: 3,
      outgoing: [
        { mid: 1, topic: "a", payload: x, qos: 1, retain: false, state: "publish", packetId: 1 },
        { mid: 2, topic: "b", payload: x, qos: 1, retain: false, state: "queued" },
      ],
      incomingQos2: [],
      subscriptions: [],
    });
    expect(c.inflightCount).toBe(1);
    expect(c.queuedCount).toBe(1);
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.conn.importSession(h.now, c.exportSession(0));
    // The cursor is at 1 but 1 is in flight: the queued message takes 2.
    expect(h.connect({ sessionPresent: true })).toMatchObject([
      { type: "publish", topic: "a", packetId: 1, dup: true },
      { type: "publish", topic: "b", packetId: 2, dup: false },
    ]);
  });
});
