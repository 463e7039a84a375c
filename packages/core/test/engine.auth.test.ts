/**
 * MQTT 5 enhanced authentication: the AUTH exchange during connect (0x18),
 * re-authentication (0x19), wrong methods, and AUTH when none was configured.
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/index.js";
import { expectMisuse, Harness, te } from "./helpers/peer.js";

const method = "SCRAM-SHA-1";
const withAuth = { protocolVersion: 5 as const, properties: { authenticationMethod: method, authenticationData: te.encode("client-first") } };

function startAuth(h: Harness): void {
  h.conn.connect(0);
  expect(h.flush()).toMatchObject([{ type: "connect", protocolVersion: 5, clean: true, clientId: "test-client", properties: withAuth.properties }]);
}

describe("enhanced authentication while connecting", () => {
  it("[MQTT-4.12.0-3] [MQTT-4.12.0-5] [MQTT-3.15.2-1] answers the server's AUTH 0x18 with AUTH 0x18 under the same method, then connects", () => {
    const h = new Harness(withAuth);
    startAuth(h);
    const challenge = { authenticationMethod: method, authenticationData: te.encode("server-first") };
    expect(h.serverSends({ type: "auth", reasonCode: 0x18, properties: challenge })).toEqual([{ type: "auth", reasonCode: 0x18, properties: challenge }]);
    expect(h.conn.state).toBe("connecting");
    // The method is filled in when left out.
    h.conn.auth(h.now, { reasonCode: 0x18, properties: { authenticationData: te.encode("client-final") } });
    expect(h.flush()).toEqual([{ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: te.encode("client-final") } }]);
    // A second round.
    h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } });
    h.conn.auth(h.now, { reasonCode: 0x18, properties: { authenticationMethod: method } });
    expect(h.flush()).toEqual([{ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } }]);
    const connack = { type: "connack" as const, sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: method, authenticationData: te.encode("server-final") } };
    expect(h.serverSends(connack)).toEqual([{ type: "connected", sessionPresent: false, reasonCode: 0, properties: connack.properties }]);
  });

  it("[MQTT-3.1.2-30] sends only AUTH (or DISCONNECT) until CONNACK; the rest waits", () => {
    const h = new Harness({ ...withAuth, keepAlive: 1 });
    startAuth(h);
    h.conn.publish(0, { topic: "t", payload: te.encode("x") });
    h.conn.publish(0, { topic: "t", payload: te.encode("y"), qos: 1 });
    h.conn.subscribe(0, { topicFilter: "s", qos: 0 });
    h.conn.unsubscribe(0, "u");
    h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } });
    h.advanceTo(5_000); // past keep alive: still no PINGREQ
    h.conn.auth(h.now, { reasonCode: 0x18 });
    expect(h.flush()).toEqual([{ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } }]);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: method } });
    expect(h.flush().map((p) => p.type)).toEqual(["subscribe", "unsubscribe", "publish", "publish"]);
  });

  it("[MQTT-3.1.2-30] DISCONNECT is allowed during the exchange", () => {
    const h = new Harness(withAuth);
    startAuth(h);
    h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } });
    h.conn.disconnect(h.now, { reasonCode: 0x80 });
    expect(h.flush()).toEqual([{ type: "disconnect", reasonCode: 0x80 }]);
    expect(h.drain()).toEqual([{ type: "closed", reason: { kind: "local", reasonCode: 0x80 } }]);
  });

  it("[MQTT-4.12.0-5] a server AUTH with another method is a protocol error", () => {
    const h = new Harness(withAuth);
    startAuth(h);
    const evs = h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "PLAIN" } });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.AuthInvalid } } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x82 }]);
  });

  it("[MQTT-4.12.0-5] a successful CONNACK without our method is a protocol error", () => {
    const h = new Harness(withAuth);
    startAuth(h);
    const evs = h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.AuthInvalid } } }]);
    expect(h.conn.state).toBe("closed");
  });

  it("[MQTT-4.12.0-5] a successful CONNACK naming a method we never asked for is a protocol error", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.conn.connect(0);
    h.flush();
    const evs = h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: method } });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", error: { code: ErrorCode.AuthInvalid } } }]);
  });

  it("a refusing CONNACK ends the exchange as refused", () => {
    const h = new Harness(withAuth);
    startAuth(h);
    const connack = { type: "connack" as const, sessionPresent: false, reasonCode: 0x8c, properties: { authenticationMethod: method } };
    expect(h.serverSends(connack)).toEqual([{ type: "closed", reason: { kind: "refused", reasonCode: 0x8c, properties: connack.properties } }]);
  });

  it("AUTH 0x00 or 0x19 from the server before CONNACK is a protocol error", () => {
    for (const rc of [0x00, 0x19]) {
      const h = new Harness(withAuth);
      startAuth(h);
      const evs = h.serverSends({ type: "auth", reasonCode: rc, properties: { authenticationMethod: method } });
      expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.AuthInvalid } } }]);
    }
  });

  it("[MQTT-4.12.0-7] AUTH from the server when CONNECT named no method is a protocol error; auth() is refused", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.conn.connect(0);
    h.flush();
    expectMisuse(h, () => h.conn.auth(0, { reasonCode: 0x18 }), ErrorCode.AuthInvalid);
    const evs = h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82, error: { code: ErrorCode.AuthInvalid } } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x82 }]);
    const c = new Harness({ protocolVersion: 5 });
    c.connect();
    expectMisuse(c, () => c.conn.auth(0, { reasonCode: 0x19 }), ErrorCode.AuthInvalid);
    expect(c.sent.filter((p) => p.type === "auth")).toEqual([]);
  });

  it("auth() is refused in the wrong state or with a reason code that does not fit it", () => {
    const h = new Harness(withAuth);
    expectMisuse(h, () => h.conn.auth(0, { reasonCode: 0x18 }), ErrorCode.InvalidState); // idle
    startAuth(h);
    expectMisuse(h, () => h.conn.auth(0, { reasonCode: 0x19 }), ErrorCode.InvalidState); // re-auth before CONNACK
    expectMisuse(h, () => h.conn.auth(0, { reasonCode: 0x00 }), ErrorCode.InvalidState);
  });

  it("auth() needs MQTT 5", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    expectMisuse(h, () => h.conn.auth(0, { reasonCode: 0x19 }), ErrorCode.VersionMismatch);
  });
});

describe("re-authentication", () => {
  function connected(): Harness {
    const h = new Harness(withAuth);
    startAuth(h);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: method } });
    h.flush();
    return h;
  }

  it("[MQTT-4.12.1-1] [MQTT-4.12.0-3] re-authenticates with AUTH 0x19 under the same method; the exchange continues with 0x18 and ends with 0x00", () => {
    const h = connected();
    h.conn.auth(h.now, { reasonCode: 0x19, properties: { authenticationData: te.encode("again") } });
    expect(h.flush()).toEqual([{ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: method, authenticationData: te.encode("again") } }]);
    expect(h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } })).toEqual([
      { type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } },
    ]);
    h.conn.auth(h.now, { reasonCode: 0x18 });
    expect(h.flush()).toEqual([{ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } }]);
    expect(h.serverSends({ type: "auth", reasonCode: 0x00, properties: { authenticationMethod: method } })).toEqual([
      { type: "auth", reasonCode: 0x00, properties: { authenticationMethod: method } },
    ]);
    expect(h.conn.state).toBe("connected");
    // Normal traffic continues during and after re-authentication.
    h.conn.publish(h.now, { topic: "t", payload: te.encode("x") });
    expect(h.flush()).toMatchObject([{ type: "publish" }]);
  });

  it("[MQTT-4.12.1-1] refuses a re-authentication under another method, changing nothing", () => {
    const h = connected();
    expectMisuse(h, () => h.conn.auth(h.now, { reasonCode: 0x19, properties: { authenticationMethod: "PLAIN" } }), ErrorCode.AuthInvalid);
  });

  it("[MQTT-4.12.1-2] a failed re-authentication closes the connection (server DISCONNECT)", () => {
    const h = connected();
    h.conn.auth(h.now, { reasonCode: 0x19 });
    h.flush();
    const evs = h.serverSends({ type: "disconnect", reasonCode: 0x87, properties: { reasonString: "bad credentials" } });
    expect(evs).toEqual([{ type: "closed", reason: { kind: "server-disconnect", reasonCode: 0x87, properties: { reasonString: "bad credentials" } } }]);
    expect(h.conn.state).toBe("closed");
    expect(h.flush()).toEqual([]);
  });

  it("[MQTT-4.12.0-5] a server AUTH with another method during re-authentication is a protocol error", () => {
    const h = connected();
    h.conn.auth(h.now, { reasonCode: 0x19 });
    h.flush();
    const evs = h.serverSends({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "OTHER" } });
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82 } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x82 }]);
  });

  it("[MQTT-3.15.2-1] refuses an AUTH reason code AUTH does not define", () => {
    const h = connected();
    expectMisuse(h, () => h.conn.auth(h.now, { reasonCode: 0x80 }), ErrorCode.InvalidState);
  });

  it("[MQTT-3.15.2-2] [MQTT-3.15.2-3] drops the reason string, then user properties, from an AUTH too large for the server", () => {
    const h = new Harness(withAuth);
    startAuth(h);
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: method, maximumPacketSize: 40 } });
    h.flush();
    const userProperties: [string, string][] = [["k", "v"]];
    h.conn.auth(h.now, { reasonCode: 0x19, properties: { reasonString: "x".repeat(30), userProperties } });
    h.conn.auth(h.now, { reasonCode: 0x18, properties: { reasonString: "x".repeat(30), userProperties: [["k".repeat(30), "v"]] } });
    expect(h.flush()).toEqual([
      { type: "auth", reasonCode: 0x19, properties: { authenticationMethod: method, userProperties } },
      { type: "auth", reasonCode: 0x18, properties: { authenticationMethod: method } },
    ]);
    for (const b of h.sentBytes.slice(1)) expect(b.length).toBeLessThanOrEqual(40);
  });
});
