import { describe, expect, it } from "vitest";
import { Harness, te } from "./helpers/peer.js";

describe("engine basics", () => {
  it("[MQTT-3.1.0-1] connects, publishes QoS 1 and completes on PUBACK", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 10 });
    h.connect();
    expect(h.events.map((e) => e.type)).toEqual(["connected"]);
    const mid = h.conn.publish(h.now, { topic: "a/b", payload: te.encode("x"), qos: 1 });
    const [pub] = h.flush();
    expect(pub).toMatchObject({ type: "publish", topic: "a/b", qos: 1, dup: false, packetId: 1 });
    const evs = h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    expect(evs).toEqual([{ type: "published", mid, qos: 1, reasonCode: 0, packetId: 1 }]);
  });

  it("[MQTT-3.1.2-20] sends PINGREQ after keepalive idle, and times out without PINGRESP", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 10 });
    h.connect();
    expect(h.conn.pollTimeout()).toBe(10_000);
    h.advanceTo(9_999);
    expect(h.flush()).toEqual([]);
    h.advanceTo(10_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
    h.advanceTo(20_000);
    expect(h.drain()).toEqual([{ type: "closed", reason: { kind: "timeout", timer: "pingresp", reasonCode: 0x8d } }]);
  });

  it("[MQTT-4.3.3-10] delivers a QoS 2 message once when resent before PUBREL", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const pub = { type: "publish" as const, topic: "t", payload: te.encode("1"), qos: 2 as const, retain: false, dup: false, packetId: 9 };
    expect(h.serverSends(pub).map((e) => e.type)).toEqual(["message"]);
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 9, reasonCode: 0 }]);
    expect(h.serverSends({ ...pub, dup: true })).toEqual([]);
    expect(h.flush()).toEqual([{ type: "pubrec", packetId: 9, reasonCode: 0 }]);
    h.serverSends({ type: "pubrel", packetId: 9, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubcomp", packetId: 9, reasonCode: 0 }]);
  });

  it("turns a malformed packet into a final closed event with DISCONNECT 0x81 queued", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const evs = h.serverSendsBytes(Uint8Array.of(0x36, 0x00)); // PUBLISH QoS 3
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x81 } });
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x81 }]);
    expect(h.conn.state).toBe("closed");
  });
});
