/**
 * SUBSCRIBE / UNSUBSCRIBE: options, subscription identifiers, SUBACK and
 * UNSUBACK matched by packet id and per filter, wrong counts.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/index.js";
import { expectMisuse, Harness } from "./helpers/peer.js";

describe("SUBSCRIBE", () => {
  it("MQTT 5: sends every subscription option, the subscription identifier and user properties", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const mid = h.conn.subscribe(0, [
        { topicFilter: "a/+", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { topicFilter: "b/#", qos: 2, retainHandling: 1 },
        { topicFilter: "$share/g/c", qos: 0 },
      ], { subscriptionIdentifiers: [268_435_455], userProperties: [["u", "1"]] });
    expect(h.flush()).toEqual([
      {
        type: "subscribe",
        packetId: 1,
        subscriptions: [
          { topicFilter: "a/+", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
          { topicFilter: "b/#", qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 1 },
          { topicFilter: "$share/g/c", qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        ],
        properties: { subscriptionIdentifiers: [268_435_455], userProperties: [["u", "1"]] },
      },
    ]);
    // The options byte of the first filter: QoS 1 | NL 0x04 | RAP 0x08 | RH 2 << 4.
    const bytes = h.sentBytes.at(-1)!;
    const i = bytes.indexOf(0x2b /* '+' */);
    expect(bytes[i + 1]).toBe(0x01 | 0x04 | 0x08 | 0x20);
    const suback = { type: "suback" as const, packetId: 1, reasonCodes: [1, 0x80, 0x9e], properties: { reasonString: "partly" } };
    expect(h.serverSends(suback)).toEqual([{ type: "subscribed", mid, packetId: 1, reasonCodes: [1, 0x80, 0x9e], properties: { reasonString: "partly" } }]);
    // Only what was granted is remembered, with the granted QoS and the identifier.
    expect(h.conn.grantedSubscriptions).toEqual([
      { topicFilter: "a/+", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionIdentifier: 268_435_455 },
    ]);
  });

  it("[MQTT-3.8.4-7] 3.1.1: sends filter and QoS only, and records the granted QoS per filter", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const mid = h.conn.subscribe(0, [{ topicFilter: "x", qos: 2 }, { topicFilter: "y", qos: 1 }, { topicFilter: "z", qos: 0 }]);
    expect(h.flush()).toEqual([
      { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "x", qos: 2 }, { topicFilter: "y", qos: 1 }, { topicFilter: "z", qos: 0 }] },
    ]);
    expect(h.serverSends({ type: "suback", packetId: 1, reasonCodes: [1, 0x80, 0] })).toEqual([{ type: "subscribed", mid, packetId: 1, reasonCodes: [1, 0x80, 0] }]);
    expect(h.conn.grantedSubscriptions).toEqual([{ topicFilter: "x", qos: 1 }, { topicFilter: "z", qos: 0 }]);
  });

  it("MQTT 3.1: SUBSCRIBE and SUBACK", () => {
    const h = new Harness({ protocolVersion: 3 });
    h.connect();
    const mid = h.conn.subscribe(0, { topicFilter: "x/#", qos: 1 });
    expect(h.flush()).toEqual([{ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "x/#", qos: 1 }] }]);
    expect(h.serverSends({ type: "suback", packetId: 1, reasonCodes: [1] })).toEqual([{ type: "subscribed", mid, packetId: 1, reasonCodes: [1] }]);
  });

  it("[MQTT-3.8.4-2] matches SUBACKs to their SUBSCRIBE by packet id, in any order", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const m1 = h.conn.subscribe(0, { topicFilter: "one", qos: 0 });
    const m2 = h.conn.subscribe(0, { topicFilter: "two", qos: 1 });
    h.flush();
    expect(h.serverSends({ type: "suback", packetId: 2, reasonCodes: [1] }, { type: "suback", packetId: 1, reasonCodes: [0] })).toEqual([
      { type: "subscribed", mid: m2, packetId: 2, reasonCodes: [1] },
      { type: "subscribed", mid: m1, packetId: 1, reasonCodes: [0] },
    ]);
    // A SUBACK for an id no SUBSCRIBE holds any more is ignored.
    expect(h.serverSends({ type: "suback", packetId: 1, reasonCodes: [0] })).toEqual([]);
    expect(h.conn.state).toBe("connected");
  });

  it("[MQTT-3.8.4-6] a SUBACK with the wrong number of reason codes is a protocol error", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.conn.subscribe(0, [{ topicFilter: "a", qos: 0 }, { topicFilter: "b", qos: 0 }]);
    h.flush();
    const evs = h.serverSends({ type: "suback", packetId: 1, reasonCodes: [0] });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.AckMismatch } } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x82 }]);
    expect(h.conn.grantedSubscriptions).toEqual([]);
  });

  it("3.1.1: a SUBACK with too many return codes closes the connection (no DISCONNECT before MQTT 5)", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.conn.subscribe(0, { topicFilter: "a", qos: 0 });
    h.flush();
    const evs = h.serverSends({ type: "suback", packetId: 1, reasonCodes: [0, 0] });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", error: { code: ErrorCode.AckMismatch } } }]);
    expect(h.flush()).toEqual([]);
  });

  it("a SUBACK answering an UNSUBSCRIBE (and vice versa) is a protocol error", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.conn.unsubscribe(0, "a");
    h.flush();
    expect(h.serverSends({ type: "suback", packetId: 1, reasonCodes: [0] })).toMatchObject([
      { type: "closed", reason: { kind: "protocol-error", error: { code: ErrorCode.AckMismatch } } },
    ]);
    const h2 = new Harness({ protocolVersion: 5 });
    h2.connect();
    h2.conn.subscribe(0, { topicFilter: "a", qos: 0 });
    h2.flush();
    expect(h2.serverSends({ type: "unsuback", packetId: 1, reasonCodes: [0] })).toMatchObject([
      { type: "closed", reason: { kind: "protocol-error", error: { code: ErrorCode.AckMismatch } } },
    ]);
  });

  it("subscribing while not connected sends the SUBSCRIBE right after CONNACK", () => {
    const h = new Harness({ protocolVersion: 5 });
    const mid = h.conn.subscribe(0, { topicFilter: "early", qos: 1 });
    h.conn.connect(0);
    expect(h.flush()).toEqual([{ type: "connect", protocolVersion: 5, clean: true, keepAlive: 60, clientId: "test-client" }]);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expect(h.flush()).toMatchObject([{ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "early" }] }]);
    expect(h.serverSends({ type: "suback", packetId: 1, reasonCodes: [1] })).toEqual([{ type: "subscribed", mid, packetId: 1, reasonCodes: [1] }]);
  });

  it("a SUBSCRIBE unanswered when the connection drops is sent again on the next one, with its packet id", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    h.conn.subscribe(0, { topicFilter: "s", qos: 1 });
    h.flush();
    h.lose();
    expect(h.connect()).toEqual([{ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "s", qos: 1 }] }]);
  });

  it("refuses empty, invalid or version-mismatched subscriptions, changing nothing", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    expectMisuse(h, () => h.conn.subscribe(0, []), ErrorCode.Empty);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a/#/b", qos: 0 }), ErrorCode.TopicFilterInvalid);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "", qos: 0 }), ErrorCode.TopicFilterInvalid);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a", qos: 3 as 0 }), ErrorCode.QosInvalid);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a", qos: 0, retainHandling: 3 as 0 }), ErrorCode.SubscriptionOptions);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "$share/g/a", qos: 0, noLocal: true }), ErrorCode.SubscriptionOptions);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a", qos: 0 }, { subscriptionIdentifiers: [0] }), ErrorCode.PropertyValue);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a", qos: 0 }, { subscriptionIdentifiers: [1, 2] }), ErrorCode.PropertyDuplicate);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a", qos: 0 }, { contentType: "x" }), ErrorCode.PropertyNotAllowed);
    expectMisuse(h, () => h.conn.unsubscribe(0, []), ErrorCode.Empty);
    expectMisuse(h, () => h.conn.unsubscribe(0, "a/#/b"), ErrorCode.TopicFilterInvalid);
    const h4 = new Harness({ protocolVersion: 4 });
    h4.connect();
    expectMisuse(h4, () => h4.conn.subscribe(0, { topicFilter: "a", qos: 0, noLocal: true }), ErrorCode.VersionMismatch);
    expectMisuse(h4, () => h4.conn.subscribe(0, { topicFilter: "a", qos: 0 }, { subscriptionIdentifiers: [1] }), ErrorCode.VersionMismatch);
  });
});

describe("UNSUBSCRIBE", () => {
  it("[MQTT-3.11.3-1] MQTT 5: sends the filters and properties, reports the reason codes per filter", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.conn.subscribe(0, [{ topicFilter: "a", qos: 1 }, { topicFilter: "b", qos: 1 }]);
    h.flush();
    h.serverSends({ type: "suback", packetId: 1, reasonCodes: [1, 1] });
    const mid = h.conn.unsubscribe(0, ["a", "b", "c"], { userProperties: [["why", "done"]] });
    expect(h.flush()).toEqual([{ type: "unsubscribe", packetId: 2, topicFilters: ["a", "b", "c"], properties: { userProperties: [["why", "done"]] } }]);
    expect(h.serverSends({ type: "unsuback", packetId: 2, reasonCodes: [0, 0x87, 0x11] })).toEqual([
      { type: "unsubscribed", mid, packetId: 2, reasonCodes: [0, 0x87, 0x11] },
    ]);
    // "a" is gone; "b" was refused (0x87): still subscribed.
    expect(h.conn.grantedSubscriptions.map((s) => s.topicFilter)).toEqual(["b"]);
  });

  it("3.1.1: UNSUBACK has no reason codes; the event reports success per filter", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    const mid = h.conn.unsubscribe(0, ["a", "b"]);
    expect(h.flush()).toEqual([{ type: "unsubscribe", packetId: 1, topicFilters: ["a", "b"] }]);
    expect(h.serverSends({ type: "unsuback", packetId: 1, reasonCodes: [] })).toEqual([{ type: "unsubscribed", mid, packetId: 1, reasonCodes: [0, 0] }]);
  });

  it("[MQTT-3.10.4-5] MQTT 5: an UNSUBACK with the wrong number of reason codes is a protocol error; matching is by packet id", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    h.conn.unsubscribe(0, ["a"]);
    const mid2 = h.conn.unsubscribe(0, ["b", "c"]);
    h.flush();
    expect(h.serverSends({ type: "unsuback", packetId: 2, reasonCodes: [0, 0] })).toEqual([{ type: "unsubscribed", mid: mid2, packetId: 2, reasonCodes: [0, 0] }]);
    const evs = h.serverSends({ type: "unsuback", packetId: 1, reasonCodes: [0, 0] });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.AckMismatch } } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x82 }]);
  });
});
