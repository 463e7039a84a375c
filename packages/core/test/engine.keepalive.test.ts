/**
 * Keep alive on the virtual clock: PINGREQ only after a whole interval with
 * nothing sent, the PINGRESP deadline, pollTimeout values, and handleTimeout
 * called early (a no-op).
 */
import { describe, expect, it } from "vitest";
import { Harness, serverPublish, te } from "./helpers/peer.js";

describe("keep alive", () => {
  it("[MQTT-3.1.2-20] sends PINGREQ exactly one interval after the last packet sent", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 10 });
    h.conn.connect(0);
    h.flush(); // CONNECT sent at 0
    h.now = 300;
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    // Counted from the CONNECT, the last packet sent.
    expect(h.conn.pollTimeout()).toBe(10_000);
    h.advanceTo(9_999);
    expect(h.flush()).toEqual([]);
    h.advanceTo(10_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
    expect(h.sentBytes.at(-1)).toEqual(Uint8Array.of(0xc0, 0x00));
  });

  it("[MQTT-3.1.2-20] any packet sent resets the interval; received packets do not", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 10 });
    h.connect();
    h.now = 4_000;
    h.conn.publish(h.now, { topic: "t", payload: te.encode("x") });
    h.flush();
    expect(h.conn.pollTimeout()).toBe(14_000);
    // The old deadline passes: nothing to do.
    h.advanceTo(10_000);
    expect(h.flush()).toEqual([]);
    // Traffic from the server does not count: we must still send within our interval.
    h.now = 12_000;
    h.serverSends(serverPublish("in", "1"));
    expect(h.conn.pollTimeout()).toBe(14_000);
    // Our PUBACK does count, once it is taken for sending.
    h.now = 13_000;
    h.serverSends(serverPublish("in", "2", { qos: 1, packetId: 1 }));
    expect(h.conn.pollTimeout()).toBe(14_000);
    expect(h.flush()).toEqual([{ type: "puback", packetId: 1, reasonCode: 0 }]);
    expect(h.conn.pollTimeout()).toBe(23_000);
    h.advanceTo(22_999);
    expect(h.flush()).toEqual([]);
    h.advanceTo(23_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
  });

  it("[MQTT-3.1.2-23] 3.1.1: never leaves a gap longer than Keep Alive between packets sent", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 2 });
    h.connect();
    const sentAt: number[] = [0];
    // An hour of idle time, driven only by pollTimeout, with a prompt server.
    for (let i = 0; i < 2_000; i++) {
      const t = h.conn.pollTimeout();
      if (t === undefined || t > 3_600_000) break;
      h.advanceTo(t);
      const out = h.flush();
      for (const p of out) {
        expect(p).toEqual({ type: "pingreq" });
        sentAt.push(h.now);
        h.now += 50;
        h.serverSends({ type: "pingresp" });
      }
    }
    expect(sentAt.length).toBeGreaterThan(1_000);
    for (let i = 1; i < sentAt.length; i++) expect(sentAt[i]! - sentAt[i - 1]!).toBeLessThanOrEqual(2_000);
    expect(h.conn.state).toBe("connected");
  });

  it("arms the PINGRESP deadline, and PINGRESP re-arms keep alive from the last packet sent", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 10 });
    h.connect();
    h.advanceTo(10_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
    // Waiting for PINGRESP: the default ping timeout is the keep alive interval.
    expect(h.conn.pollTimeout()).toBe(20_000);
    // Sending something else meanwhile does not send a second PINGREQ.
    h.now = 12_000;
    h.conn.publish(h.now, { topic: "t", payload: te.encode("x") });
    h.flush();
    expect(h.conn.pollTimeout()).toBe(20_000);
    h.now = 13_000;
    h.serverSends({ type: "pingresp" });
    expect(h.conn.pollTimeout()).toBe(22_000);
    h.advanceTo(22_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
    expect(h.sent.filter((p) => p.type === "pingreq")).toHaveLength(2);
  });

  it("ping timeout: no PINGRESP in time closes with reason 0x8D and sends nothing more", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 10, pingTimeoutMs: 3_000 });
    h.connect();
    h.advanceTo(10_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
    expect(h.conn.pollTimeout()).toBe(13_000);
    h.advanceTo(12_999);
    expect(h.drain()).toEqual([]);
    // Something queued but not yet written is dropped with the connection (QoS 0: at most once).
    const mid = h.conn.publish(12_999, { topic: "t", payload: te.encode("x") });
    expect(h.drain()).toEqual([]);
    h.advanceTo(13_000);
    // It never left: reported as failed, then the close.
    expect(h.drain()).toMatchObject([
      { type: "published", mid, qos: 0, reasonCode: 0x80, error: { code: "ERR_STATE" } },
      { type: "closed", reason: { kind: "timeout", timer: "pingresp", reasonCode: 0x8d } },
    ]);
    expect(h.conn.state).toBe("closed");
    expect(h.flush()).toEqual([]);
    expect(h.conn.pollTimeout()).toBeUndefined();
    h.advanceTo(1_000_000);
    expect(h.flush()).toEqual([]);
    expect(h.drain()).toEqual([]);
  });

  it("keep alive 0: no PINGREQ, no timer once connected", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 0 });
    h.connect();
    expect(h.conn.pollTimeout()).toBeUndefined();
    h.advanceTo(10_000_000);
    expect(h.flush()).toEqual([]);
  });

  it("handleTimeout called early, twice, or with no timer is a no-op", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 10 });
    h.conn.handleTimeout(0); // idle: nothing armed
    expect(h.drain()).toEqual([]);
    h.connect();
    for (const t of [0, 1, 5_000, 9_999, 9_999]) {
      h.advanceTo(t);
      expect(h.drain()).toEqual([]);
      expect(h.flush()).toEqual([]);
      expect(h.conn.pollTimeout()).toBe(10_000);
    }
    h.advanceTo(10_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
    // Once fired, firing again at the same time does nothing more.
    h.advanceTo(10_000);
    expect(h.flush()).toEqual([]);
    expect(h.conn.pollTimeout()).toBe(20_000);
  });

  it("a late handleTimeout still sends one PINGREQ (no catch-up burst)", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 10 });
    h.connect();
    h.advanceTo(55_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
    expect(h.conn.pollTimeout()).toBe(65_000);
  });

  it("pollTimeout is the earliest deadline: connack while connecting, then keep alive", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 60, connectTimeoutMs: 10_000 });
    expect(h.conn.pollTimeout()).toBeUndefined();
    h.conn.connect(0);
    expect(h.conn.pollTimeout()).toBe(10_000);
    h.flush();
    h.now = 2_000;
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expect(h.conn.pollTimeout()).toBe(60_000);
  });

  it("no PINGREQ before CONNACK, even past the keep alive interval", () => {
    const h = new Harness({ protocolVersion: 4, keepAlive: 1, connectTimeoutMs: 5_000 });
    h.conn.connect(0);
    h.flush();
    h.advanceTo(4_000);
    expect(h.flush()).toEqual([]);
  });
});
