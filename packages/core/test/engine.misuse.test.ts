/**
 * API misuse: every command that is not allowed throws LocalProtocolError
 * with a stable code, before any state changes (the exported session, the
 * counters, the timers and the output are the same afterwards, and no event
 * is produced). A caller may correct the call and retry.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, LocalProtocolError, MqttError } from "../src/index.js";
import { expectMisuse, Harness, serverPublish, te, thrown } from "./helpers/peer.js";

const x = te.encode("x");

type Setup = (h: Harness) => void;
const states: Record<string, Setup> = {
  idle: () => {},
  connecting: (h) => {
    h.conn.connect(h.now);
    h.flush();
  },
  connected: (h) => {
    h.connect({ properties: { maximumQoS: 1, retainAvailable: 0, topicAliasMaximum: 2, maximumPacketSize: 100 } });
  },
  closed: (h) => {
    h.connect();
    h.lose();
  },
};

/** A harness in `state`, holding a little of everything: an inflight message, a queued one, a QoS 2 in, a subscription. */
function busy(state: string): Harness {
  const h = new Harness({ protocolVersion: 5, clean: false, maxQueued: 5, manualAck: true, properties: { sessionExpiryInterval: 10 } });
  h.connect({ properties: { receiveMaximum: 1 } });
  h.conn.publish(0, { topic: "in-flight", payload: x, qos: 1 });
  h.conn.publish(0, { topic: "queued", payload: x, qos: 1 });
  h.conn.subscribe(0, { topicFilter: "s", qos: 1 });
  h.flush();
  h.serverSends({ type: "suback", packetId: 2, reasonCodes: [1] }, serverPublish("in", "1", { qos: 2, packetId: 5 }));
  h.lose();
  states[state]!(h);
  h.drain();
  h.flush();
  return h;
}

describe("misuse leaves the engine unchanged", () => {
  for (const state of Object.keys(states)) {
    describe(`while ${state}`, () => {
      it("publish with an invalid topic, QoS, or properties", () => {
        const h = busy(state);
        expectMisuse(h, () => h.conn.publish(0, { topic: "a/+", payload: x }), ErrorCode.TopicInvalid, 0x90);
        expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, qos: 5 as 0 }), ErrorCode.QosInvalid);
        expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, properties: { subscriptionIdentifiers: [1] } }), ErrorCode.PropertyNotAllowed);
        expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, properties: { sessionExpiryInterval: 1 } }), ErrorCode.PropertyNotAllowed);
        expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, properties: { responseTopic: "a/#" } }), ErrorCode.TopicInvalid);
      });

      it("subscribe and unsubscribe with nothing or an invalid filter", () => {
        const h = busy(state);
        expectMisuse(h, () => h.conn.subscribe(0, []), ErrorCode.Empty);
        expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a+", qos: 0 }), ErrorCode.TopicFilterInvalid);
        expectMisuse(h, () => h.conn.unsubscribe(0, []), ErrorCode.Empty);
        expectMisuse(h, () => h.conn.unsubscribe(0, ["ok", "#/x"]), ErrorCode.TopicFilterInvalid);
      });

      it("a time that is not a number", () => {
        const h = busy(state);
        expectMisuse(h, () => h.conn.publish(Number.NaN, { topic: "t", payload: x }), ErrorCode.InvalidArgument);
        expectMisuse(h, () => h.conn.handleTimeout(Number.NaN), ErrorCode.InvalidArgument);
        expectMisuse(h, () => h.conn.pollTransmit(Number.NaN), ErrorCode.InvalidArgument);
      });

      it("a full queue", () => {
        const h = busy(state);
        // Fill the window (when connected) and then the queue, up to maxQueued (5).
        for (let i = 0; i < 100 && h.conn.queuedCount < 5; i++) h.conn.publish(0, { topic: "fill", payload: x, qos: 1 });
        expect(h.conn.queuedCount).toBe(5);
        h.drain();
        h.flush();
        expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, qos: 1 }), ErrorCode.QueueFull, 0x97);
      });

      it("disconnect with an invalid reason code or property", () => {
        const h = busy(state);
        expectMisuse(h, () => h.conn.disconnect(0, { reasonCode: 0x05 }), ErrorCode.ReasonCodeInvalid);
        expectMisuse(h, () => h.conn.disconnect(0, { properties: { topicAlias: 1 } }), ErrorCode.PropertyNotAllowed);
        // CONNECT had a session expiry (10), so DISCONNECT may set one, but only a valid u32.
        expectMisuse(h, () => h.conn.disconnect(0, { properties: { sessionExpiryInterval: -1 } }), ErrorCode.PropertyValue);
      });

      it("auth without an authentication method", () => {
        const h = busy(state);
        expectMisuse(h, () => h.conn.auth(0, { reasonCode: 0x19 }), ErrorCode.AuthInvalid);
      });
    });
  }

  it("connect while connecting or connected", () => {
    for (const state of ["connecting", "connected"]) {
      const h = busy(state);
      expectMisuse(h, () => h.conn.connect(h.now), ErrorCode.InvalidState, 0x83);
      expectMisuse(h, () => h.conn.connect(h.now, { clean: true }), ErrorCode.InvalidState, 0x83);
    }
  });

  it("disconnect while idle or closed", () => {
    for (const state of ["idle", "closed"]) {
      const h = busy(state);
      expectMisuse(h, () => h.conn.disconnect(h.now), ErrorCode.InvalidState, 0x83);
    }
  });

  it("the connected server's limits: QoS, retain, size, alias", () => {
    const h = busy("connected");
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, qos: 2 }), ErrorCode.NotSupported, 0x9b);
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, retain: true }), ErrorCode.NotSupported, 0x9a);
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: new Uint8Array(200) }), ErrorCode.PacketTooLarge, 0x95);
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, properties: { topicAlias: 3 } }), ErrorCode.TopicAliasInvalid, 0x94);
  });

  it("ack of an unknown id is not an error: it returns false and changes nothing", () => {
    const h = busy("connected");
    const before = h.snapshot();
    expect(h.conn.ack(h.now, 999)).toBe(false);
    expect(h.snapshot()).toEqual(before);
  });

  it("errors are MqttError subclasses with stable codes and names", () => {
    const h = new Harness({ protocolVersion: 5 });
    const e = thrown(() => h.conn.publish(0, { topic: "#", payload: x }));
    expect(e).toBeInstanceOf(LocalProtocolError);
    expect(e).toBeInstanceOf(MqttError);
    expect(e).toMatchObject({ name: "LocalProtocolError", code: "ERR_TOPIC", reasonCode: 0x90 });
  });

  it("after a misuse, the corrected call works", () => {
    const h = busy("connected");
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: x, qos: 2 }), ErrorCode.NotSupported);
    h.conn.publish(0, { topic: "t", payload: x, qos: 0 });
    expect(h.flush()).toEqual([{ type: "publish", topic: "t", payload: x, qos: 0, retain: false, dup: false }]);
  });
});
