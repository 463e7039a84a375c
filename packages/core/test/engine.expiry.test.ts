/**
 * MQTT 5 Message Expiry for the client's own messages: queued and resent
 * messages go with the interval reduced by the time they waited, and are
 * dropped with a failed `published` event (ERR_MESSAGE_EXPIRED) once it has
 * passed. The clock is the caller's `now`.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/index.js";
import { Harness, te } from "./helpers/peer.js";

const x = te.encode("x");
const v5 = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };

describe("message expiry of queued and resent messages", () => {
  it("[MQTT-3.3.2-6] sent at once: the interval as given", () => {
    const h = new Harness(v5);
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 1, properties: { messageExpiryInterval: 10 } });
    expect(h.flush()).toMatchObject([{ type: "publish", properties: { messageExpiryInterval: 10 } }]);
  });

  it("[MQTT-3.3.2-6] queued while offline: sent with the interval reduced by the wait", () => {
    const h = new Harness(v5);
    h.conn.publish(0, { topic: "t", payload: x, qos: 1, properties: { messageExpiryInterval: 10 } });
    h.advanceTo(4_000);
    expect(h.connect()).toMatchObject([{ type: "publish", dup: false, properties: { messageExpiryInterval: 6 } }]);
  });

  it("queued past its expiry: dropped with a failed published event, never sent", () => {
    const h = new Harness(v5);
    const mid = h.conn.publish(0, { topic: "t", payload: x, qos: 2, properties: { messageExpiryInterval: 2 } });
    h.conn.publish(0, { topic: "u", payload: x, qos: 0 });
    h.advanceTo(5_000);
    expect(h.connect()).toMatchObject([{ type: "publish", topic: "u" }]);
    const failed = h.events.find((e) => e.type === "published" && e.mid === mid);
    expect(failed).toMatchObject({ type: "published", qos: 2, reasonCode: 0x80, error: { code: ErrorCode.MessageExpired } });
    expect(failed).not.toHaveProperty("packetId");
    expect(h.conn.queuedCount).toBe(0);
  });

  it("waiting for the flow-control window: expires there too", () => {
    const h = new Harness(v5);
    h.connect({ properties: { receiveMaximum: 1 } });
    h.conn.publish(0, { topic: "first", payload: x, qos: 1 });
    const late = h.conn.publish(0, { topic: "late", payload: x, qos: 1, properties: { messageExpiryInterval: 3 } });
    const alive = h.conn.publish(0, { topic: "alive", payload: x, qos: 1, properties: { messageExpiryInterval: 60 } });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "first", packetId: 1 }]);
    h.advanceTo(5_000);
    const events = h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    expect(events).toMatchObject([
      { type: "published", packetId: 1 },
      { type: "published", mid: late, error: { code: ErrorCode.MessageExpired } },
    ]);
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "alive", packetId: 2, properties: { messageExpiryInterval: 55 } }]);
    expect(alive).toBe(late + 1);
  });

  it("[MQTT-3.3.2-6] resent on a resumed session: DUP, the same id, the interval reduced; past it, given up (a QoS 2 id stays reserved)", () => {
    const h = new Harness(v5);
    h.connect();
    h.conn.publish(0, { topic: "q1", payload: x, qos: 1, properties: { messageExpiryInterval: 10 } });
    h.conn.publish(0, { topic: "q2", payload: x, qos: 2, properties: { messageExpiryInterval: 10 } });
    h.flush();
    h.lose();
    h.advanceTo(4_000);
    expect(h.connect({ sessionPresent: true })).toMatchObject([
      { type: "publish", topic: "q1", dup: true, packetId: 1, properties: { messageExpiryInterval: 6 } },
      { type: "publish", topic: "q2", dup: true, packetId: 2, properties: { messageExpiryInterval: 6 } },
    ]);
    h.lose();
    h.advanceTo(11_000);
    expect(h.connect({ sessionPresent: true })).toEqual([]);
    expect(h.events.slice(-2)).toMatchObject([
      { type: "published", packetId: 1, error: { code: ErrorCode.MessageExpired } },
      { type: "published", packetId: 2, error: { code: ErrorCode.MessageExpired } },
    ]);
    expect(h.conn.exportSession(h.now).retiredPacketIds).toEqual([2]);
    expect(h.conn.inflightCount).toBe(0);
  });

  it("a QoS 2 message past PUBREC is not a PUBLISH any more: its PUBREL goes whatever the expiry", () => {
    const h = new Harness(v5);
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2, properties: { messageExpiryInterval: 1 } });
    h.flush();
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    h.flush();
    h.lose();
    h.advanceTo(10_000);
    expect(h.connect({ sessionPresent: true })).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
  });

  it("the exported session carries the life left, so a restart does not extend it; 0 means expired", () => {
    const h = new Harness(v5);
    h.conn.publish(0, { topic: "a", payload: x, qos: 1, properties: { messageExpiryInterval: 10 } });
    h.conn.publish(0, { topic: "b", payload: x, qos: 1, properties: { messageExpiryInterval: 2 } });
    h.advanceTo(3_500);
    const s = h.conn.exportSession(h.now);
    expect(s.outgoing.map((m) => m.properties?.messageExpiryInterval)).toEqual([7, 0]);
    const n = new Harness(v5);
    n.advanceTo(100_000); // another process, another clock
    n.conn.importSession(n.now, s);
    n.advanceTo(102_000);
    expect(n.connect()).toMatchObject([{ type: "publish", topic: "a", properties: { messageExpiryInterval: 5 } }]);
    expect(n.events.at(-1)).toMatchObject({ type: "published", error: { code: ErrorCode.MessageExpired } });
  });
});
