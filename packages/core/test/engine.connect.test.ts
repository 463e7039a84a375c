/**
 * CONNECT contents and CONNACK handling for MQTT 3.1, 3.1.1 and 5.0: refusals,
 * session present, assigned client identifier, the server's keep alive and
 * every limit CONNACK announces (checked at the call), and the CONNACK timeout.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode, LocalProtocolError, MqttConnection, type ProtocolVersion } from "../src/index.js";
import { expectMisuse, Harness, serverPublish, te, thrown } from "./helpers/peer.js";

describe("CONNECT contents", () => {
  it("[MQTT-3.1.0-1] sends CONNECT first, with the 3.1.1 defaults (clean, keep alive 60)", () => {
    const h = new Harness();
    h.conn.connect(0);
    expect(h.conn.state).toBe("connecting");
    expect(h.flush()).toEqual([{ type: "connect", protocolVersion: 4, clean: true, keepAlive: 60, clientId: "test-client" }]);
  });

  it("speaks MQTT 3.1 (protocol level 3, MQIsdp)", () => {
    const h = new Harness({ protocolVersion: 3, keepAlive: 30 });
    h.conn.connect(0);
    expect(h.sentBytes).toEqual([]);
    const sent = h.flush();
    expect(sent).toEqual([{ type: "connect", protocolVersion: 3, clean: true, keepAlive: 30, clientId: "test-client" }]);
    // The protocol name on the wire is "MQIsdp".
    expect(new TextDecoder().decode(h.sentBytes[0]!.subarray(4, 10))).toBe("MQIsdp");
  });

  it("carries will, user name, password and keep alive (3.1.1)", () => {
    const will = { topic: "last/will", payload: te.encode("gone"), qos: 1 as const, retain: true };
    const h = new Harness({ keepAlive: 15, will, username: "u", password: Uint8Array.of(1, 2, 3), clean: false });
    h.conn.connect(0);
    expect(h.flush()).toEqual([
      { type: "connect", protocolVersion: 4, clean: false, keepAlive: 15, clientId: "test-client", will, username: "u", password: Uint8Array.of(1, 2, 3) },
    ]);
  });

  it("carries MQTT 5 CONNECT properties and will properties", () => {
    const will = {
      topic: "w",
      payload: te.encode("bye"),
      qos: 2 as const,
      retain: false,
      properties: { willDelayInterval: 30, messageExpiryInterval: 60, contentType: "text/plain", payloadFormatIndicator: 1, userProperties: [["k", "v"]] as [string, string][] },
    };
    const properties = {
      sessionExpiryInterval: 3600,
      receiveMaximum: 10,
      maximumPacketSize: 4096,
      topicAliasMaximum: 5,
      requestResponseInformation: 1,
      requestProblemInformation: 0,
      userProperties: [["a", "1"], ["a", "2"]] as [string, string][],
    };
    const h = new Harness({ protocolVersion: 5, keepAlive: 0, will, username: "user", password: te.encode("pw"), properties });
    h.conn.connect(0);
    expect(h.flush()).toEqual([
      { type: "connect", protocolVersion: 5, clean: true, keepAlive: 0, clientId: "test-client", will, username: "user", password: te.encode("pw"), properties },
    ]);
  });

  for (const v of [3, 4, 5] as const) {
    it(`bridge: true sets the protocol level's top bit (0x${(0x80 | v).toString(16)}) in every CONNECT, as Paho's enable_bridge_mode (MQTT ${v === 3 ? "3.1" : v === 4 ? "3.1.1" : "5"})`, () => {
      const at = v === 3 ? 10 : 8; // fixed header (2), protocol name ("MQIsdp" 8, "MQTT" 6), then the level
      const plain = new Harness({ protocolVersion: v });
      plain.conn.connect(0);
      expect(plain.flush()[0]).not.toHaveProperty("bridge");
      expect(plain.sentBytes[0]![at]).toBe(v);
      const h = new Harness({ protocolVersion: v, bridge: true });
      h.conn.connect(0);
      expect(h.flush()).toEqual([{ type: "connect", protocolVersion: v, clean: true, keepAlive: 60, clientId: "test-client", bridge: true }]);
      expect(h.sentBytes[0]![at]).toBe(0x80 | v);
      // The CONNACK is the version's own, and so is a reconnect's CONNECT.
      h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
      expect(h.conn.state).toBe("connected");
      h.lose();
      h.conn.connect(1);
      h.flush();
      expect(h.sentBytes.at(-1)![at]).toBe(0x80 | v);
    });
  }

  it("lets connect() override clean for one connection", () => {
    const h = new Harness({ protocolVersion: 5, clean: true });
    h.conn.connect(0, { clean: false });
    expect(h.flush()).toMatchObject([{ type: "connect", clean: false }]);
    h.lose();
    h.conn.connect(1);
    expect(h.flush()).toMatchObject([{ type: "connect", clean: true }]);
  });

  it("[MQTT-3.1.3-7] refuses an empty client id with clean session 0 before MQTT 5, changing nothing", () => {
    const h = new Harness({ protocolVersion: 4, clientId: "" });
    expectMisuse(h, () => h.conn.connect(0, { clean: false }), ErrorCode.InvalidArgument);
    expect(h.conn.state).toBe("idle");
    // With clean session it is allowed, and the server assigns one.
    h.conn.connect(0);
    expect(h.flush()).toEqual([{ type: "connect", protocolVersion: 4, clean: true, keepAlive: 60, clientId: "" }]);
  });

  it("allows an empty client id with clean start 0 in MQTT 5", () => {
    const h = new Harness({ protocolVersion: 5, clientId: "" });
    h.conn.connect(0, { clean: false });
    expect(h.flush()).toMatchObject([{ type: "connect", clean: false, clientId: "" }]);
  });

  it("MQTT 3.1 needs a client id", () => {
    const h = new Harness({ protocolVersion: 3, clientId: "" });
    expectMisuse(h, () => h.conn.connect(0), ErrorCode.InvalidArgument);
  });

  it("rejects invalid options in the constructor", () => {
    const bad = [
      { protocolVersion: 6 as unknown as ProtocolVersion },
      { keepAlive: 65536 },
      { keepAlive: -1 },
      { maxInflight: 0 },
      { connectTimeoutMs: 0 },
      { pingTimeoutMs: 0 },
      { protocolVersion: 4 as const, properties: { sessionExpiryInterval: 1 } },
    ];
    for (const o of bad) {
      const e = thrown(() => new MqttConnection(o));
      expect(e).toBeInstanceOf(LocalProtocolError);
    }
    // What CONNECT will carry is validated up front too (a will topic with a wildcard).
    const e = thrown(() => new MqttConnection({ clientId: "c", will: { topic: "a/#", payload: new Uint8Array(), qos: 0, retain: false } }));
    expect(e).toBeInstanceOf(LocalProtocolError);
    expect((e as LocalProtocolError).code).toBe(ErrorCode.TopicInvalid);
  });

  it("refuses an option it does not know, naming it, and values of the wrong type, saying what was expected", () => {
    const cases: [object, RegExp][] = [
      [{ version: 5 }, /unknown option "version"/],
      [{ connectTimeout: 5000 }, /unknown option "connectTimeout"/],
      [{ password: "secret" }, /password must be a Uint8Array/],
      [{ clientId: 7 }, /clientId must be a string/],
      [{ clean: "yes" }, /clean must be a boolean/],
      [{ bridge: 1 }, /bridge must be a boolean/],
      [{ will: { topic: "t", payload: "gone", qos: 0, retain: false } }, /will must be an object with a Uint8Array payload/],
    ];
    for (const [o, message] of cases) {
      const e = thrown(() => new MqttConnection(o as never));
      expect(e).toBeInstanceOf(LocalProtocolError);
      expect((e as LocalProtocolError).code).toBe(ErrorCode.InvalidArgument);
      expect((e as Error).message).toMatch(message);
      // The secret itself is never quoted.
      expect((e as Error).message).not.toContain("secret");
    }
  });

  it("cannot connect twice", () => {
    const h = new Harness();
    h.conn.connect(0);
    h.flush();
    expectMisuse(h, () => h.conn.connect(1), ErrorCode.InvalidState, 0x83);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expectMisuse(h, () => h.conn.connect(2), ErrorCode.InvalidState, 0x83);
  });
});

describe("CONNACK refusals", () => {
  for (const v of [3, 4] as const) {
    for (const rc of [1, 2, 3, 4, 5]) {
      it(`MQTT ${v === 3 ? "3.1" : "3.1.1"}: return code ${rc} closes the connection as refused`, () => {
        const h = new Harness({ protocolVersion: v });
        h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 1 });
        h.conn.connect(0);
        h.flush();
        const connack = { type: "connack" as const, sessionPresent: false, reasonCode: rc };
        expect(h.serverSends(connack)).toEqual([{ type: "closed", reason: { kind: "refused", reasonCode: rc, ...("properties" in connack ? { properties: connack.properties } : {}) } }]);
        expect(h.conn.state).toBe("closed");
        expect(h.flush()).toEqual([]);
        expect(h.conn.pollTimeout()).toBeUndefined();
        // The session is kept: the queued message waits for the next connection.
        expect(h.conn.queuedCount).toBe(1);
        h.connect();
        expect(h.sent.at(-1)).toMatchObject({ type: "publish", topic: "t", qos: 1, packetId: 1, dup: false });
      });
    }
  }

  for (const rc of [0x80, 0x81, 0x82, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]) {
    it(`[MQTT-4.13.2-1] MQTT 5: reason code 0x${rc.toString(16)} closes the connection as refused`, () => {
      const h = new Harness({ protocolVersion: 5 });
      h.conn.connect(0);
      h.flush();
      const connack = { type: "connack" as const, sessionPresent: false, reasonCode: rc, properties: { reasonString: "no" } };
      expect(h.serverSends(connack)).toEqual([{ type: "closed", reason: { kind: "refused", reasonCode: rc, ...("properties" in connack ? { properties: connack.properties } : {}) } }]);
      expect(h.conn.state).toBe("closed");
      // Nothing is sent after a refusal, not even a DISCONNECT.
      expect(h.flush()).toEqual([]);
      expect(h.conn.pollTimeout()).toBeUndefined();
      // Bytes arriving after the refusal are ignored.
      h.conn.receiveData(1, Uint8Array.of(0x30, 0x03, 0, 1, 0x61));
      expect(h.drain()).toEqual([]);
    });
  }

  it("[MQTT-3.1.2-2] MQTT 5 to a 3.1.1-only server: its CONNACK 20 02 00 01 (unacceptable protocol level) is a refusal with 0x84 Unsupported Protocol Version", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 1 });
    h.conn.connect(0);
    expect(h.flush()).toMatchObject([{ type: "connect", protocolVersion: 5 }]);
    expect(h.serverSendsBytes(Uint8Array.of(0x20, 0x02, 0x00, 0x01))).toEqual([{ type: "closed", reason: { kind: "refused", reasonCode: 0x84 } }]);
    expect(h.conn.state).toBe("closed");
    // A refusal, not a protocol error: no DISCONNECT, no timer, the session kept.
    expect(h.flush()).toEqual([]);
    expect(h.conn.pollTimeout()).toBeUndefined();
    expect(h.conn.queuedCount).toBe(1);
  });

  describe("MQTT 5: every other CONNACK without a property length stays a protocol error (0x81)", () => {
    const cases: [string, number[], string][] = [
      ["return code 0 (3.1.1 accepted)", [0x20, 0x02, 0x00, 0x00], ErrorCode.LengthMismatch],
      ["return code 2", [0x20, 0x02, 0x00, 0x02], ErrorCode.ReasonCodeInvalid],
      ["return code 5", [0x20, 0x02, 0x00, 0x05], ErrorCode.ReasonCodeInvalid],
      ["return code 1 with session present", [0x20, 0x02, 0x01, 0x01], ErrorCode.FlagsInvalid],
      ["return code 1 with reserved flags", [0x20, 0x02, 0x02, 0x01], ErrorCode.FlagsInvalid],
      ["0x01 with a property length", [0x20, 0x03, 0x00, 0x01, 0x00], ErrorCode.ReasonCodeInvalid],
      ["one byte", [0x20, 0x01, 0x00], ErrorCode.LengthMismatch],
    ];
    for (const [name, bytes, code] of cases) {
      it(`${name}: ${bytes.map((b) => b.toString(16).padStart(2, "0")).join(" ")}`, () => {
        const h = new Harness({ protocolVersion: 5 });
        h.conn.connect(0);
        h.flush();
        const evs = h.serverSendsBytes(Uint8Array.from(bytes));
        expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x81, error: { code } } }]);
        expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x81 }]);
      });
    }

    it("20 02 00 01 once connected: an unexpected packet, not a refusal", () => {
      const h = new Harness({ protocolVersion: 5 });
      h.connect();
      const evs = h.serverSendsBytes(Uint8Array.of(0x20, 0x02, 0x00, 0x01));
      expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.UnexpectedPacket } } }]);
    });
  });

  it("can connect again after a refusal", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.conn.connect(0);
    h.flush();
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0x89 });
    h.now = 5_000;
    h.connect();
    expect(h.conn.state).toBe("connected");
    expect(h.events.map((e) => e.type)).toEqual(["closed", "connected"]);
  });
});

describe("CONNACK accepted", () => {
  it("reports connected with the CONNACK and sessionPresent", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.conn.connect(0);
    h.flush();
    const connack = { type: "connack" as const, sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 7, reasonString: "hi" } };
    expect(h.serverSends(connack)).toEqual([{ type: "connected", sessionPresent: false, reasonCode: 0, properties: connack.properties }]);
    expect(h.conn.state).toBe("connected");
  });

  it("MQTT 3.1: connects", () => {
    const h = new Harness({ protocolVersion: 3 });
    h.connect();
    expect(h.events).toEqual([{ type: "connected", sessionPresent: false, reasonCode: 0 }]);
  });

  for (const v of [4, 5] as const) {
    it(`${v === 5 ? "[MQTT-3.2.2-4] " : ""}MQTT ${v}: session present after a clean start is a protocol error`, () => {
      const h = new Harness({ protocolVersion: v });
      h.conn.connect(0);
      h.flush();
      const evs = h.serverSends({ type: "connack", sessionPresent: true, reasonCode: 0 });
      expect(evs).toHaveLength(1);
      expect(evs[0]).toMatchObject({ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.SessionPresentInvalid } } });
      expect(h.conn.state).toBe("closed");
      if (v === 5) expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x82 }]);
      else expect(h.flush()).toEqual([]);
    });
  }

  it("session present is accepted when resuming a session the client holds (clean 0)", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    h.connect();
    h.lose();
    h.connect({ sessionPresent: true });
    expect(h.events).toMatchObject([{ type: "connected", sessionPresent: false }, { type: "closed" }, { type: "connected", sessionPresent: true }]);
  });

  it("[MQTT-3.1.3-2] takes the Assigned Client Identifier and uses it as the session key from then on", () => {
    const h = new Harness({ protocolVersion: 5, clientId: "" });
    h.conn.connect(0, { clean: false });
    expect(h.flush()).toMatchObject([{ type: "connect", clientId: "" }]);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { assignedClientIdentifier: "auto-42" } });
    expect(h.conn.clientId).toBe("auto-42");
    expect(h.conn.exportSession(h.now).clientId).toBe("auto-42");
    h.lose();
    h.conn.connect(1, { clean: false });
    expect(h.flush()).toMatchObject([{ type: "connect", clientId: "auto-42", clean: false }]);
  });

  it("[MQTT-3.1.3-2] 3.1.1: the same client id identifies the session on every connection", () => {
    const h = new Harness({ protocolVersion: 4, clientId: "dev-1", clean: false });
    h.connect();
    h.lose();
    h.connect({ sessionPresent: true });
    expect(h.sent.filter((p) => p.type === "connect")).toMatchObject([{ clientId: "dev-1" }, { clientId: "dev-1" }]);
  });

  it("records every limit CONNACK announces, with the spec's defaults for those left out", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 30 });
    h.connect({
      properties: {
        receiveMaximum: 3,
        maximumQoS: 1,
        retainAvailable: 0,
        maximumPacketSize: 200,
        topicAliasMaximum: 4,
        wildcardSubscriptionAvailable: 0,
        subscriptionIdentifierAvailable: 0,
        sharedSubscriptionAvailable: 0,
        serverKeepAlive: 12,
      },
    });
    expect(h.conn.serverLimits).toEqual({
      receiveMaximum: 3,
      maximumQoS: 1,
      retainAvailable: false,
      maximumPacketSize: 200,
      topicAliasMaximum: 4,
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifierAvailable: false,
      sharedSubscriptionAvailable: false,
      keepAlive: 12,
    });
    // Limits belong to one connection: the next CONNACK without properties restores the defaults.
    h.lose();
    h.connect();
    expect(h.conn.serverLimits).toEqual({
      receiveMaximum: 65535,
      maximumQoS: 2,
      retainAvailable: true,
      maximumPacketSize: 268_435_460,
      topicAliasMaximum: 0,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifierAvailable: true,
      sharedSubscriptionAvailable: true,
      keepAlive: 30,
    });
  });

  it("[MQTT-3.1.2-21] [MQTT-3.2.2-21] schedules keep alive with the Server Keep Alive, not ours", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 60 });
    h.connect({ properties: { serverKeepAlive: 5 } });
    expect(h.conn.serverLimits.keepAlive).toBe(5);
    expect(h.conn.pollTimeout()).toBe(5_000);
    h.advanceTo(5_000);
    expect(h.flush()).toEqual([{ type: "pingreq" }]);
  });

  it("[MQTT-3.2.2-21] a Server Keep Alive of 0 turns keep alive off", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 60 });
    h.connect({ properties: { serverKeepAlive: 0 } });
    expect(h.conn.pollTimeout()).toBeUndefined();
    h.advanceTo(1_000_000);
    expect(h.flush()).toEqual([]);
  });

  it("[MQTT-3.2.2-11] refuses a publish above the Maximum QoS at the call, changing nothing", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { maximumQoS: 1 } });
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 2 }), ErrorCode.NotSupported, 0x9b);
    h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 1 });
    expect(h.flush()).toMatchObject([{ type: "publish", qos: 1 }]);
  });

  it("[MQTT-3.2.2-11] Maximum QoS 0 allows only QoS 0", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { maximumQoS: 0 } });
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 1 }), ErrorCode.NotSupported, 0x9b);
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 2 }), ErrorCode.NotSupported, 0x9b);
    h.conn.publish(0, { topic: "t", payload: te.encode("x") });
    expect(h.flush()).toMatchObject([{ type: "publish", qos: 0 }]);
  });

  it("[MQTT-3.2.2-11] a message queued before CONNACK above the Maximum QoS fails with an error instead of being sent", () => {
    const h = new Harness({ protocolVersion: 5 });
    const mid = h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 2 });
    const evs = (() => {
      h.conn.connect(0);
      h.flush();
      return h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 1 } });
    })();
    expect(evs).toHaveLength(2);
    expect(evs[1]).toMatchObject({ type: "published", mid, qos: 2, reasonCode: 0x9b, error: { code: ErrorCode.NotSupported } });
    expect(h.flush()).toEqual([]);
    expect(h.conn.queuedCount).toBe(0);
  });

  it("[MQTT-3.2.2-14] refuses a retained publish when Retain Available is 0", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { retainAvailable: 0 } });
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: te.encode("x"), retain: true }), ErrorCode.NotSupported, 0x9a);
    h.conn.publish(0, { topic: "t", payload: te.encode("x"), retain: false });
    expect(h.flush()).toMatchObject([{ type: "publish", retain: false }]);
  });

  it("[MQTT-3.2.2-15] refuses a PUBLISH or SUBSCRIBE larger than the server's Maximum Packet Size", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { maximumPacketSize: 30 } });
    // 1 + 1 + (2 + 1) topic + 2 id + 1 props + 22 payload = 30 bytes: fits exactly.
    h.conn.publish(0, { topic: "t", payload: new Uint8Array(22), qos: 1 });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "t", qos: 1 }]);
    expect(h.sentBytes.at(-1)!.length).toBe(30);
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: new Uint8Array(23), qos: 1 }), ErrorCode.PacketTooLarge, 0x95);
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "x".repeat(40), qos: 0 }), ErrorCode.PacketTooLarge, 0x95);
    expectMisuse(h, () => h.conn.unsubscribe(0, "x".repeat(40)), ErrorCode.PacketTooLarge, 0x95);
  });

  it("[MQTT-3.2.2-15] a queued message too large for the server fails with an error", () => {
    const h = new Harness({ protocolVersion: 5 });
    const mid = h.conn.publish(0, { topic: "t", payload: new Uint8Array(100) });
    h.connect({ properties: { maximumPacketSize: 50 } });
    expect(h.events[1]).toMatchObject({ type: "published", mid, reasonCode: 0x95, error: { code: ErrorCode.PacketTooLarge } });
    expect(h.sent.filter((p) => p.type === "publish")).toEqual([]);
  });

  it("[MQTT-3.2.2-17] refuses a topic alias above the Topic Alias Maximum", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { topicAliasMaximum: 2 } });
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: te.encode("x"), properties: { topicAlias: 3 } }), ErrorCode.TopicAliasInvalid, 0x94);
    h.conn.publish(0, { topic: "t", payload: te.encode("x"), properties: { topicAlias: 2 } });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "t", properties: { topicAlias: 2 } }]);
  });

  it("[MQTT-3.2.2-18] sends no topic alias at all when CONNACK has no Topic Alias Maximum", () => {
    const h = new Harness({ protocolVersion: 5, autoTopicAlias: true });
    h.connect();
    expectMisuse(h, () => h.conn.publish(0, { topic: "t", payload: te.encode("x"), properties: { topicAlias: 1 } }), ErrorCode.TopicAliasInvalid, 0x94);
    h.conn.publish(0, { topic: "t", payload: te.encode("x") });
    h.conn.publish(0, { topic: "t", payload: te.encode("x") });
    expect(h.flush()).toEqual([
      { type: "publish", topic: "t", payload: te.encode("x"), qos: 0, retain: false, dup: false },
      { type: "publish", topic: "t", payload: te.encode("x"), qos: 0, retain: false, dup: false },
    ]);
  });

  it("refuses wildcard subscriptions when the server does not support them", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { wildcardSubscriptionAvailable: 0 } });
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a/+", qos: 0 }), ErrorCode.NotSupported, 0xa2);
    expectMisuse(h, () => h.conn.subscribe(0, [{ topicFilter: "a", qos: 0 }, { topicFilter: "#", qos: 0 }]), ErrorCode.NotSupported, 0xa2);
    h.conn.subscribe(0, { topicFilter: "a/b", qos: 0 });
    expect(h.flush()).toMatchObject([{ type: "subscribe", subscriptions: [{ topicFilter: "a/b" }] }]);
  });

  it("refuses subscription identifiers when the server does not support them", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { subscriptionIdentifierAvailable: 0 } });
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "a", qos: 0 }, { subscriptionIdentifiers: [5] }), ErrorCode.NotSupported, 0xa1);
  });

  it("refuses shared subscriptions when the server does not support them", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { sharedSubscriptionAvailable: 0 } });
    expectMisuse(h, () => h.conn.subscribe(0, { topicFilter: "$share/g/a", qos: 0 }), ErrorCode.NotSupported, 0x9e);
    h.conn.subscribe(0, { topicFilter: "$shared/a", qos: 0 }); // not a shared subscription
    expect(h.flush()).toMatchObject([{ type: "subscribe" }]);
  });
});

describe("CONNACK timeout", () => {
  it("closes with a connack timeout when CONNACK does not come within connectTimeoutMs", () => {
    const h = new Harness({ protocolVersion: 4, connectTimeoutMs: 5_000 });
    h.now = 1_000;
    h.conn.connect(h.now);
    h.flush();
    expect(h.conn.pollTimeout()).toBe(6_000);
    h.advanceTo(5_999);
    expect(h.drain()).toEqual([]);
    expect(h.conn.state).toBe("connecting");
    h.advanceTo(6_000);
    expect(h.drain()).toEqual([{ type: "closed", reason: { kind: "timeout", timer: "connack", reasonCode: 0x80 } }]);
    expect(h.conn.state).toBe("closed");
    expect(h.flush()).toEqual([]);
    expect(h.conn.pollTimeout()).toBeUndefined();
    // A late CONNACK is ignored.
    expect(h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 })).toEqual([]);
    expect(h.conn.state).toBe("closed");
  });

  it("CONNACK in time stops the connack timer (keep alive 0: no timer left)", () => {
    const h = new Harness({ protocolVersion: 5, keepAlive: 0, connectTimeoutMs: 5_000 });
    h.conn.connect(0);
    h.flush();
    h.now = 4_999;
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expect(h.conn.pollTimeout()).toBeUndefined();
    h.advanceTo(100_000);
    expect(h.drain()).toEqual([]);
    expect(h.conn.state).toBe("connected");
  });

  it("a QoS 0 message from the server is not accepted in place of CONNACK", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.conn.connect(0);
    h.flush();
    const evs = h.serverSends(serverPublish("t", "x"));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", error: { code: ErrorCode.UnexpectedPacket } } }]);
  });
});
