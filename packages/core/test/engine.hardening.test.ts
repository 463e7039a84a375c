/**
 * Regression tests for the hardening issue: each reproducer found by the
 * randomized hostile-server run (wire bytes in hex as the issue gives them),
 * and each behaviour the issue asked to decide, as decided.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, LocalProtocolError, MqttConnection, type SessionState, sessionFromJSON, sessionToJSON } from "../src/index.js";
import { type Packet, PacketDecoder } from "../src/codec/index.js";
import { expectMisuse, Harness, serverPublish, te, thrown } from "./helpers/peer.js";

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function toHex(chunks: readonly Uint8Array[]): string {
  return chunks.map((c) => [...c].map((b) => b.toString(16).padStart(2, "0")).join("")).join("");
}

/** Every event until there is none; throws if pollEvent throws (it must not). */
function pollAll(c: MqttConnection): ReturnType<MqttConnection["pollEvent"]>[] {
  const out = [];
  for (let e = c.pollEvent(0); e !== undefined; e = c.pollEvent(0)) out.push(e);
  return out;
}

const x = te.encode("x");

describe("hardening defects (regressions, reproducers from the issue)", () => {
  it("defect 1: a 10,923-byte invalid topic ends the connection with a short reason string instead of throwing out of pollEvent", () => {
    const c = new MqttConnection({ protocolVersion: 5, clientId: "c" });
    c.connect(0);
    c.pollTransmit(0);
    c.receiveData(0, hex("2003000000"));
    const bytes = new Uint8Array(10_929);
    bytes.set(hex("30ae552aab"), 0);
    bytes.fill(0x01, 5, 5 + 10_922);
    bytes.set(hex("2300"), 5 + 10_922);
    c.receiveData(0, bytes);
    const events = pollAll(c);
    expect(events.map((e) => e!.type)).toEqual(["connected", "closed"]);
    const closed = events[1] as Extract<NonNullable<(typeof events)[number]>, { type: "closed" }>;
    expect(closed.reason).toMatchObject({ kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.TopicInvalid } });
    const message = (closed.reason as { error: Error }).error.message;
    // At most 40 characters of the hostile topic are quoted (each \u0001 escaped as 6).
    expect(message.length).toBeLessThan(400);
    expect(c.state).toBe("closed");
    expect(c.pollEvent(0)).toBeUndefined();
    // The DISCONNECT carries a reason string within every limit.
    const d = new PacketDecoder({ protocolVersion: 5 });
    for (const chunk of c.pollTransmit(0)) d.push(chunk);
    const disconnect = d.next() as Extract<Packet, { type: "disconnect" }>;
    expect(disconnect).toMatchObject({ type: "disconnect", reasonCode: 0x82 });
    expect(disconnect.properties!.reasonString!.length).toBeLessThanOrEqual(160);
  });

  it("defect 2: a resubscription too large for the new server's Maximum Packet Size is reported as failed, not thrown", () => {
    const c = new MqttConnection({
      protocolVersion: 5,
      clientId: "c",
      clean: false,
      resubscribeOnSessionLoss: true,
      properties: { sessionExpiryInterval: 60 },
    });
    c.connect(0);
    c.pollTransmit(0);
    c.receiveData(0, hex("2003000000"));
    pollAll(c);
    c.subscribe(0, { topicFilter: "a/b", qos: 1 });
    expect(toHex(c.pollTransmit(0))).toBe("82090001000003612f6201");
    c.receiveData(0, hex("900400010001"));
    pollAll(c);
    c.connectionLost(0);
    pollAll(c);
    c.connect(0);
    c.pollTransmit(0);
    c.receiveData(0, hex("20080000052700000005"));
    const events = pollAll(c);
    expect(events).toMatchObject([
      { type: "connected", sessionPresent: false },
      { type: "subscribed", reasonCodes: [0x80], error: { code: ErrorCode.PacketTooLarge } },
    ]);
    expect(c.state).toBe("connected");
    // Nothing over 5 bytes went out.
    for (const chunk of c.pollTransmit(0)) expect(chunk.length).toBeLessThanOrEqual(5);
  });

  it("defect 3: [MQTT-3.2.2-11] [MQTT-3.2.2-14] a resend is checked against a lowered Maximum QoS and Retain Available: failed, not resent", () => {
    const c = new MqttConnection({ protocolVersion: 5, clientId: "c", clean: false, properties: { sessionExpiryInterval: 60 } });
    c.connect(0);
    c.pollTransmit(0);
    c.receiveData(0, hex("2003000000"));
    pollAll(c);
    c.publish(0, { topic: "a", payload: Uint8Array.of(0), qos: 2, retain: true });
    expect(toHex(c.pollTransmit(0))).toBe("350700016100010000");
    c.connectionLost(0);
    pollAll(c);
    c.connect(0);
    c.pollTransmit(0);
    c.receiveData(0, hex("200701000424002500"));
    const events = pollAll(c);
    expect(events).toMatchObject([
      { type: "connected", sessionPresent: true },
      { type: "published", mid: 1, qos: 2, reasonCode: 0x9b, packetId: 1, error: { code: ErrorCode.NotSupported } },
    ]);
    expect(c.pollTransmit(0)).toEqual([]);
    // The server may hold the QoS 2 message: its packet id stays reserved.
    expect(c.exportSession(0).retiredPacketIds).toEqual([1]);
  });

  it("defect 3: a resend with retain when Retain Available is now 0 fails with 0x9A", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    h.connect();
    h.conn.publish(0, { topic: "a", payload: x, qos: 1, retain: true });
    h.flush();
    h.lose();
    const sent = h.connect({ sessionPresent: true, properties: { retainAvailable: 0 } });
    expect(sent).toEqual([]);
    expect(h.events.at(-1)).toMatchObject({ type: "published", qos: 1, reasonCode: 0x9a, error: { code: ErrorCode.NotSupported } });
    // QoS 1: the id is free again.
    expect(h.conn.exportSession(h.now).retiredPacketIds).toEqual([]);
  });

  it("defect 4: [MQTT-3.2.2-15] an automatic topic alias is not added when it would break the server's Maximum Packet Size", () => {
    const c = new MqttConnection({ protocolVersion: 5, clientId: "c", autoTopicAlias: true });
    c.connect(0);
    c.pollTransmit(0);
    c.receiveData(0, hex("200b0000082200032700000028"));
    pollAll(c);
    c.publish(0, { topic: "a/b", payload: new Uint8Array(28), qos: 1 });
    const out = c.pollTransmit(0);
    const d = new PacketDecoder({ protocolVersion: 5 });
    for (const chunk of out) d.push(chunk);
    const p = d.next() as Extract<Packet, { type: "publish" }>;
    expect(p.topic).toBe("a/b");
    expect(p.properties?.topicAlias).toBeUndefined();
    expect(out.reduce((n, ch) => n + ch.length, 0)).toBe(38);
    // A publish that fits with the alias still gets one.
    c.publish(0, { topic: "a/b", payload: new Uint8Array(10), qos: 1 });
    const d2 = new PacketDecoder({ protocolVersion: 5 });
    for (const chunk of c.pollTransmit(0)) {
      expect(chunk.length).toBeLessThanOrEqual(40);
      d2.push(chunk);
    }
    expect(d2.next()).toMatchObject({ type: "publish", topic: "a/b", properties: { topicAlias: 1 } });
  });

  describe("defect 6: importSession validates the whole session first and leaves the engine untouched on refusal", () => {
    function busy(): Harness {
      const h = new Harness({ protocolVersion: 4, clean: false, maxQueued: 3 });
      h.connect();
      h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
      h.flush();
      h.lose();
      h.conn.publish(0, { topic: "q", payload: x, qos: 1 });
      return h;
    }
    const good = (): SessionState => busy().conn.exportSession(busy().now);

    const cases: [string, (s: Record<string, unknown>) => unknown, RegExp][] = [
      ["{ format: 1 } alone", () => ({ format: 1 }), /session\.clientId/],
      ["not an object", () => null, /a session must be an object/],
      ["a missing nextPacketId", (s) => ({ ...s, nextPacketId: undefined }), /session\.nextPacketId/],
      ["nextPacketId 0", (s) => ({ ...s, nextPacketId: 0 }), /session\.nextPacketId/],
      ["nextPacketId 70000", (s) => ({ ...s, nextPacketId: 70_000 }), /session\.nextPacketId/],
      ["a packet id of 70000 in flight", (s) => ({ ...s, outgoing: [{ ...(s.outgoing as object[])[0], packetId: 70_000 }] }), /session\.outgoing\[0\]\.packetId/],
      ["a payload turned into a plain object by JSON", (s) => JSON.parse(JSON.stringify(s)), /session\.outgoing\[0\]\.payload/],
      ["two messages with one packet id", (s) => ({ ...s, outgoing: [(s.outgoing as object[])[0], { ...(s.outgoing as object[])[0], mid: 2 }] }), /used twice/],
      ["a message id not below nextMid", (s) => ({ ...s, nextMid: 1 }), /not below nextMid/],
      ["a QoS 0 message in flight", (s) => ({ ...s, outgoing: [{ ...(s.outgoing as object[])[0], qos: 0 }] }), /QoS 0/],
      ["an unknown state", (s) => ({ ...s, outgoing: [{ ...(s.outgoing as object[])[0], state: "sent" }] }), /state/],
      ["an invalid topic", (s) => ({ ...s, outgoing: [{ ...(s.outgoing as object[])[0], topic: "a/#" }] }), /session\.outgoing\[0\]/],
      ["MQTT 5 properties in a 3.1.1 session", (s) => ({ ...s, outgoing: [{ ...(s.outgoing as object[])[0], properties: { contentType: "c" } }] }), /session\.outgoing\[0\]/],
      ["an incoming QoS 2 id twice", (s) => ({ ...s, incomingQos2: [{ packetId: 1, state: "received" }, { packetId: 1, state: "received" }] }), /incomingQos2\[1\]/],
      ["a subscription with an invalid filter", (s) => ({ ...s, subscriptions: [{ topicFilter: "a#", qos: 0 }] }), /subscriptions\[0\]/],
      ["a subscription identifier before MQTT 5", (s) => ({ ...s, subscriptions: [{ topicFilter: "a", qos: 0, subscriptionIdentifier: 1 }] }), /subscriptionIdentifier/],
      ["a retired id that is also in flight", (s) => ({ ...s, retiredPacketIds: [(s.outgoing as { packetId: number }[])[0]!.packetId] }), /used twice/],
      ["a request of an unknown kind", (s) => ({ ...s, requests: [{ mid: 1, packetId: 9, kind: "ping" }] }), /requests\[0\]/],
      ["far more messages than the engine can hold", (s) => ({ ...s, outgoing: Array.from({ length: 3 + 0xffff + 1 }, (_, i) => ({ mid: i + 1, topic: "q", payload: x, qos: 0, retain: false, state: "queued" })), nextMid: 1e6 }), /can hold/],
    ];
    for (const [what, tamper, field] of cases) {
      it(`refuses ${what} with ERR_ARGUMENT naming the field`, () => {
        const h = busy();
        const before = h.conn.exportSession(h.now);
        const bad = tamper(before as unknown as Record<string, unknown>) as SessionState;
        const e = expectMisuse(h, () => h.conn.importSession(h.now, bad), ErrorCode.InvalidArgument);
        expect(e.message).toMatch(field);
        expect(e.message.length).toBeLessThan(300);
        // Still works as it was.
        expect(h.conn.exportSession(h.now)).toEqual(good());
      });
    }

    it("a session from a 5.0 engine with message properties does not import into a 3.1.1 engine", () => {
      const h5 = new Harness({ protocolVersion: 5 });
      h5.conn.publish(0, { topic: "t", payload: x, qos: 1, properties: { contentType: "c" } });
      const h4 = new Harness({ protocolVersion: 4 });
      expectMisuse(h4, () => h4.conn.importSession(h4.now, h5.conn.exportSession(h5.now)), ErrorCode.InvalidArgument);
    });

    it("sessionToJSON / sessionFromJSON: a JSON round trip (payloads and correlation data as base64) imports and resumes", () => {
      const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
      h.connect();
      const payload = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
      h.conn.publish(0, { topic: "t", payload, qos: 2, properties: { correlationData: Uint8Array.of(0, 255, 1) } });
      h.conn.subscribe(0, { topicFilter: "s/#", qos: 1 });
      h.flush();
      h.lose();
      const text = JSON.stringify(sessionToJSON(h.conn.exportSession(h.now)));
      expect(text).not.toMatch(/"0":/); // no byte-by-byte objects
      const n = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
      n.conn.importSession(n.now, sessionFromJSON(JSON.parse(text)));
      expect(n.conn.exportSession(n.now)).toEqual(h.conn.exportSession(h.now));
      expect(n.connect({ sessionPresent: true })).toMatchObject([
        { type: "subscribe", packetId: 2 },
        { type: "publish", topic: "t", payload, dup: true, packetId: 1, properties: { correlationData: Uint8Array.of(0, 255, 1) } },
      ]);
    });

    it("sessionFromJSON refuses broken base64 and a missing encoding, naming the field", () => {
      const h = new Harness({ protocolVersion: 4 });
      h.conn.publish(0, { topic: "t", payload: x, qos: 1 });
      const json = sessionToJSON(h.conn.exportSession(h.now));
      for (const payload of ["eA", "e A=", "eB==", 5]) {
        const e = thrown(() => sessionFromJSON({ ...json, outgoing: [{ ...json.outgoing[0]!, payload }] }));
        expect(e).toBeInstanceOf(LocalProtocolError);
        expect((e as LocalProtocolError).code).toBe(ErrorCode.InvalidArgument);
        expect((e as Error).message).toMatch(/outgoing\[0\]\.payload/);
      }
      const { encoding: _e, ...plain } = json;
      expect(() => sessionFromJSON(plain)).toThrow(/session\.encoding/);
    });
  });
});

describe("hardening behaviours, as decided", () => {
  it("now must be a finite number: NaN and infinities are refused; an earlier now counts as the latest seen", () => {
    const h = new Harness({ keepAlive: 10 });
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      expectMisuse(h, () => h.conn.connect(bad), ErrorCode.InvalidArgument);
      expectMisuse(h, () => h.conn.handleTimeout(bad), ErrorCode.InvalidArgument);
      expectMisuse(h, () => h.conn.pollTransmit(bad), ErrorCode.InvalidArgument);
    }
    h.conn.connect(5_000);
    h.conn.pollTransmit(5_000);
    expect(h.conn.pollTimeout()).toBe(35_000);
    // A now from the past: the engine's clock does not go back.
    h.conn.receiveData(1_000, Uint8Array.of(0x20, 2, 0, 0));
    h.drain();
    h.conn.publish(0, { topic: "t", payload: x });
    h.conn.pollTransmit(0);
    expect(h.conn.pollTimeout()).toBe(15_000);
  });

  describe("a SUBSCRIBE made before the CONNACK is checked against what the CONNACK says the server supports", () => {
    const cases: [string, object, { topicFilter: string; qos: 0 }[], object | undefined, number[]][] = [
      ["wildcards (0xA2)", { wildcardSubscriptionAvailable: 0 }, [{ topicFilter: "a/+", qos: 0 }, { topicFilter: "b", qos: 0 }], undefined, [0xa2, 0x80]],
      ["shared subscriptions (0x9E)", { sharedSubscriptionAvailable: 0 }, [{ topicFilter: "$share/g/a", qos: 0 }], undefined, [0x9e]],
      ["subscription identifiers (0xA1)", { subscriptionIdentifierAvailable: 0 }, [{ topicFilter: "a", qos: 0 }], { subscriptionIdentifiers: [4] }, [0xa1]],
    ];
    for (const [what, props, subs, subProps, codes] of cases) {
      it(`[MQTT-3.2.2-17] unsupported ${what}: reported failed, not sent`, () => {
        const h = new Harness({ protocolVersion: 5 });
        h.conn.connect(0);
        h.flush();
        h.conn.subscribe(0, subs, subProps as never);
        const events = h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: props });
        expect(events).toMatchObject([{ type: "connected" }, { type: "subscribed", reasonCodes: codes, error: { code: ErrorCode.NotSupported } }]);
        expect(h.flush()).toEqual([]);
        expect(h.conn.exportSession(h.now).requests).toEqual([]);
      });
    }

    it("a resubscription after a session loss too", () => {
      const h = new Harness({ protocolVersion: 5, clean: false, resubscribeOnSessionLoss: true, properties: { sessionExpiryInterval: 60 } });
      h.connect();
      h.conn.subscribe(0, { topicFilter: "a/#", qos: 0 });
      h.flush();
      h.serverSends({ type: "suback", packetId: 1, reasonCodes: [0] });
      h.lose();
      expect(h.connect({ sessionPresent: false, properties: { wildcardSubscriptionAvailable: 0 } })).toEqual([]);
      expect(h.events.at(-1)).toMatchObject({ type: "subscribed", reasonCodes: [0xa2] });
    });
  });

  it("manual acks: a server repeating one unacked QoS 1 packet id gets one delivery and one pending ack, however often it repeats", () => {
    const h = new Harness({ protocolVersion: 5, manualAck: true });
    h.connect();
    const one = serverPublish("t", "p", { qos: 1, packetId: 7 });
    const events = [];
    for (let i = 0; i < 10_000; i++) events.push(...h.serverSends(one));
    expect(events).toHaveLength(1);
    expect(h.flush()).toEqual([]);
    expect(h.conn.ack(h.now, 7)).toBe(true);
    expect(h.flush()).toEqual([{ type: "puback", packetId: 7, reasonCode: 0 }]);
    expect(h.conn.ack(h.now, 7)).toBe(false);
  });

  it("output a caller does not take stays small: 200,000 PUBACKs wait as 800,000 bytes in a few hundred chunks", () => {
    const c = new MqttConnection({ clientId: "c" });
    c.connect(0);
    c.pollTransmit(0);
    c.receiveData(0, Uint8Array.of(0x20, 2, 0, 0));
    pollAll(c);
    const p = Uint8Array.of(0x32, 5, 0, 1, 0x74, 0, 0);
    for (let i = 0; i < 200_000; i++) {
      p[5] = ((i % 65_535) + 1) >> 8;
      p[6] = ((i % 65_535) + 1) & 0xff;
      c.receiveData(0, p);
      pollAll(c);
    }
    expect(c.outputBytes).toBe(800_000);
    const chunks = c.pollTransmit(0);
    expect(chunks.length).toBeLessThanOrEqual(200);
    expect(chunks.reduce((n, ch) => n + ch.length, 0)).toBe(800_000);
    expect(c.outputBytes).toBe(0);
  });

  it("output chunks are the caller's: taking more output never changes a chunk taken before", () => {
    const h = new Harness();
    h.connect();
    h.serverSends(serverPublish("t", "a", { qos: 1, packetId: 1 }));
    const first = h.conn.pollTransmit(0);
    const copy = first.map((c) => c.slice());
    h.serverSends(serverPublish("t", "b", { qos: 1, packetId: 2 }));
    h.conn.pollTransmit(0);
    expect(first).toEqual(copy);
  });

  it("connect() before the previous connection's closed event was pulled is refused (ERR_STATE), so no stale closed follows a new connect", () => {
    const h = new Harness();
    h.connect();
    h.conn.connectionLost(0);
    const before = h.snapshot();
    const e = thrown(() => h.conn.connect(0));
    expect(e).toBeInstanceOf(LocalProtocolError);
    expect((e as LocalProtocolError).code).toBe(ErrorCode.InvalidState);
    expect(h.snapshot()).toEqual(before);
    expect(h.drain()).toMatchObject([{ type: "closed" }]);
    h.conn.connect(0);
    expect(h.drain()).toEqual([]);
  });

  it("an unmapped inbound topic alias closes with 0x94 Topic Alias invalid", () => {
    const h = new Harness({ protocolVersion: 5, properties: { topicAliasMaximum: 2 } });
    h.connect();
    expect(h.serverSends(serverPublish("", "1", { properties: { topicAlias: 2 } }))).toMatchObject([
      { type: "closed", reason: { kind: "protocol-error", reasonCode: 0x94 } },
    ]);
  });

  it("a server DISCONNECT with 0x04 (only a client sends it) is a protocol error", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    expect(h.serverSends({ type: "disconnect", reasonCode: 0x04 })).toMatchObject([
      { type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.ReasonCodeInvalid } } },
    ]);
  });

  it("arguments of the wrong type are refused with ERR_ARGUMENT saying what was expected, never a TypeError", () => {
    const h = new Harness();
    h.connect();
    const cases: [() => unknown, RegExp][] = [
      [() => h.conn.publish(0, null as never), /request object/],
      [() => h.conn.publish(0, { topic: "t", payload: "text" as never }), /payload must be a Uint8Array/],
      [() => h.conn.publish(0, { topic: 5 as never, payload: x }), /topic must be a string/],
      [() => h.conn.subscribe(0, [null as never]), /subscription 0/],
      [() => h.conn.unsubscribe(0, [7 as never]), /topic filter must be a string/],
      [() => h.conn.receiveData(0, null as never), /Uint8Array/],
      [() => h.conn.receiveData(0, "abc" as never), /Uint8Array/],
      [() => h.conn.receiveData(0, [1, 2] as never), /Uint8Array/],
      [() => h.conn.ack(h.now, 0), /packetId/],
    ];
    for (const [fn, message] of cases) {
      const e = expectMisuse(h, fn, ErrorCode.InvalidArgument);
      expect(e.message).toMatch(message);
    }
  });

  it("[MQTT-3.2.2-15] a CONNACK Maximum Packet Size too small for a client's acks (under 5 bytes) ends the connection", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.conn.connect(0);
    h.flush();
    expect(h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { maximumPacketSize: 4 } })).toMatchObject([
      { type: "closed", reason: { kind: "protocol-error", error: { code: ErrorCode.PropertyValue } } },
    ]);
    // The DISCONNECT is trimmed to the server's limit: no reason string, 3 bytes.
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0x82 }]);
    expect(h.sentBytes.slice(1).reduce((n, c) => n + c.length, 0)).toBeLessThanOrEqual(4);
  });

  it("[MQTT-3.3.1-1] DUP is set only when an earlier PUBLISH of the message was handed out", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.conn.publish(0, { topic: "never-left", payload: x, qos: 1 });
    h.lose(); // before pollTransmit: the PUBLISH never reached the wire
    expect(h.connect({ sessionPresent: true })).toMatchObject([{ type: "publish", topic: "never-left", dup: false, packetId: 1 }]);
    h.lose(); // it was handed out this time
    expect(h.connect({ sessionPresent: true })).toMatchObject([{ type: "publish", topic: "never-left", dup: true, packetId: 1 }]);
  });

  it("a QoS 2 resend given up before any PUBLISH of it left frees its packet id (the server cannot hold it)", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } });
    h.connect();
    h.conn.publish(0, { topic: "t", payload: x, qos: 2 });
    h.lose();
    h.connect({ sessionPresent: true, properties: { maximumQoS: 1 } });
    expect(h.events.at(-1)).toMatchObject({ type: "published", reasonCode: 0x9b });
    expect(h.conn.exportSession(h.now).retiredPacketIds).toEqual([]);
  });
});

describe("hardening: inbound topic alias 0", () => {
  it("[MQTT-3.3.2-8] a PUBLISH with topic alias 0 closes with 0x94 Topic Alias invalid", () => {
    const h = new Harness({ protocolVersion: 5, properties: { topicAliasMaximum: 2 } });
    h.connect();
    expect(h.serverSendsBytes(hex("30 07 00 01 74 03 23 00 00"))).toMatchObject([
      { type: "closed", reason: { kind: "protocol-error", reasonCode: 0x94, error: { code: ErrorCode.TopicAliasInvalid } } },
    ]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x94 }]);
  });
});
