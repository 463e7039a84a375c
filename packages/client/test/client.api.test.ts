// The client's data types and argument checks, without a broker: ReasonCode,
// SubscribeOptions, MQTTMessageInfo, payload conversion, the constructor's
// rules (Paho's), and what is refused as not supported.
import { describe, expect, it } from "vitest";
import {
  CallbackAPIVersion,
  Client,
  ClientError,
  LogLevel,
  MQTT_ERR_INVAL,
  MQTT_ERR_NO_CONN,
  MQTT_ERR_QUEUE_SIZE,
  MQTTMessageInfo,
  MQTTProtocolVersion,
  PacketTypes,
  PublishError,
  ReasonCode,
  SubscribeOptions,
  connackCodeToReasonCode,
  connackString,
  errorString,
  payloadBytes,
  topicMatchesSub,
} from "../src/index.js";

describe("ReasonCode", () => {
  it("has a value, a name in its packet's context, isFailure, and equals numbers, names and other codes by value", () => {
    const ok = new ReasonCode(PacketTypes.SUBACK, 1);
    expect(ok.getName()).toBe("Granted QoS 1");
    expect(ok.isFailure).toBe(false);
    expect(ok.equals(1)).toBe(true);
    expect(ok.equals("Granted QoS 1")).toBe(true);
    expect(ok.equals(new ReasonCode(PacketTypes.CONNACK, 1))).toBe(true);
    expect(+ok).toBe(1);
    expect(String(ok)).toBe("Granted QoS 1");
    expect(new ReasonCode(PacketTypes.DISCONNECT, 0).getName()).toBe("Normal disconnection");
    expect(new ReasonCode(PacketTypes.CONNACK, 0).getName()).toBe("Success");
    const bad = new ReasonCode(PacketTypes.CONNACK, 0x86);
    expect(bad.isFailure).toBe(true);
    // Paho's names (its docs say to compare by name); the spec's spelling is specName().
    expect(bad.getName()).toBe("Bad user name or password");
    expect(bad.specName()).toBe("Bad User Name or Password");
    expect(bad.equals("Bad User Name or Password")).toBe(true);
    for (const [value, name] of [[0x11, "No subscription found"], [0x81, "Malformed packet"], [0x8d, "Keep alive timeout"], [0x9b, "QoS not supported"], [0x9e, "Shared subscription not supported"], [0xa2, "Wildcard subscription not supported"], [0x04, "Disconnect with will message"]] as const) {
      expect(new ReasonCode(PacketTypes.DISCONNECT, value).getName()).toBe(name);
    }
    expect(() => new ReasonCode(PacketTypes.CONNACK, 256)).toThrow(RangeError);
  });

  it("converts MQTT 3.1.1 CONNACK return codes as Paho does; connackString", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map((c) => connackCodeToReasonCode(c).value)).toEqual([0, 0x84, 0x85, 0x88, 0x86, 0x87, 0x80]);
    expect(connackString(0)).toBe("Connection Accepted.");
    expect(connackString(5)).toMatch(/not authorized/);
    expect(connackString(new ReasonCode(PacketTypes.CONNACK, 0x8c))).toBe("Bad authentication method");
  });
});

describe("constants", () => {
  it("keep Paho's numbers", () => {
    expect(MQTTProtocolVersion).toEqual({ MQTTv31: 3, MQTTv311: 4, MQTTv5: 5 });
    expect(LogLevel).toEqual({ MQTT_LOG_INFO: 1, MQTT_LOG_NOTICE: 2, MQTT_LOG_WARNING: 4, MQTT_LOG_ERR: 8, MQTT_LOG_DEBUG: 16 });
    expect(MQTT_ERR_NO_CONN).toBe(4);
    expect(MQTT_ERR_QUEUE_SIZE).toBe(15);
    expect(errorString(MQTT_ERR_NO_CONN)).toBe("Not connected.");
    expect(topicMatchesSub("#", "$SYS/x")).toBe(false);
    expect(topicMatchesSub("a/+/c", "a/b/c")).toBe(true);
  });
});

describe("SubscribeOptions", () => {
  it("defaults and checks its values", () => {
    const o = new SubscribeOptions();
    expect([o.qos, o.QoS, o.noLocal, o.retainAsPublished, o.retainHandling]).toEqual([0, 0, false, false, 0]);
    expect(new SubscribeOptions(2, true, true, SubscribeOptions.RETAIN_DO_NOT_SEND).retainHandling).toBe(2);
    expect(() => new SubscribeOptions(3)).toThrow(RangeError);
    expect(() => new SubscribeOptions(0, false, false, 3)).toThrow(RangeError);
  });
});

describe("payloads", () => {
  it("string as UTF-8, bytes as they are, ArrayBuffer, a number as its text, null/undefined as nothing", () => {
    expect([...payloadBytes("é")]).toEqual([0xc3, 0xa9]);
    const bytes = Uint8Array.of(1, 2);
    expect(payloadBytes(bytes)).toBe(bytes);
    expect([...payloadBytes(Uint8Array.of(7).buffer)]).toEqual([7]);
    expect([...payloadBytes(4.5)]).toEqual([...new TextEncoder().encode("4.5")]);
    expect(payloadBytes(null).byteLength).toBe(0);
    expect(payloadBytes(undefined).byteLength).toBe(0);
    expect(() => payloadBytes({} as unknown as string)).toThrow(TypeError);
  });
});

describe("MQTTMessageInfo", () => {
  it("is (rc, mid) as a tuple and a string", () => {
    const info = new MQTTMessageInfo(7, MQTT_ERR_NO_CONN);
    expect([...info]).toEqual([MQTT_ERR_NO_CONN, 7]);
    expect(String(info)).toBe("(4, 7)");
    expect(info.isPublished()).toBe(false);
  });

  it("waitForPublish settles: resolves on completion, rejects on failure (also for later waiters)", async () => {
    const a = new MQTTMessageInfo(1);
    const p = a.waitForPublish();
    a._complete();
    await expect(p).resolves.toBeUndefined();
    await expect(a.waitForPublish(0)).resolves.toBeUndefined();
    const b = new MQTTMessageInfo(2);
    const q = b.waitForPublish(10_000);
    b._fail(new PublishError("lost", 7));
    await expect(q).rejects.toMatchObject({ rc: 7 });
    await expect(b.waitForPublish()).rejects.toBeInstanceOf(PublishError);
  });
});

describe("Client construction and arguments (Paho's rules)", () => {
  it("VERSION1 callbacks are refused with a clear error", () => {
    expect(() => new Client({ callbackApiVersion: CallbackAPIVersion.VERSION1 })).toThrow(/VERSION1 is not supported/);
  });

  it("MQTT 5 takes no cleanSession; cleanSession false needs a client id; transports are checked", () => {
    expect(() => new Client({ protocol: 5, cleanSession: true })).toThrow(ClientError);
    expect(() => new Client({ cleanSession: false })).toThrow(/client id/);
    expect(() => new Client({ transport: "quic" as "tcp" })).toThrow(/transport/);
    // MQTT 3.1: 1 to 23 characters, refused here as the argument error it is (not an engine error).
    expect(() => new Client({ protocol: 3, clientId: "x".repeat(24) })).toThrow(expect.objectContaining({ name: "ClientError", code: "ERR_CLIENT_ARGUMENT" }));
    expect(new Client({ protocol: 3, clientId: "x".repeat(23) }).clientId).toBe("x".repeat(23));
    expect(new Client({ transport: "WebSockets" as "websockets" }).transport).toBe("websockets");
  });

  it("MQTT 3.1 gets a random 22-character client id when none is given; 3.1.1 sends it empty", () => {
    expect(new Client({ protocol: 3 }).clientId).toMatch(/^[0-9A-Za-z]{22}$/);
    expect(new Client({ protocol: 4 }).clientId).toBe("");
  });

  it("defaults are Paho's", () => {
    const c = new Client();
    expect(c.protocol).toBe(4);
    expect([c.port, c.keepalive, c.connectTimeout, c.maxInflightMessages, c.maxQueuedMessages]).toEqual([1883, 60, 5, 20, 0]);
    expect(c.transport).toBe("tcp");
    expect(c.willTopic).toBe("");
    expect(c.isConnected()).toBe(false);
    expect(c.socket()).toBeUndefined();
  });

  it("subscribe / unsubscribe without a connection: [NO_CONN, undefined]; bad forms throw", () => {
    const c = new Client({ protocol: 5 });
    expect(c.subscribe("a/b", 1)).toEqual([MQTT_ERR_NO_CONN, undefined]);
    expect(c.subscribe(["a/b", new SubscribeOptions(1)])).toEqual([MQTT_ERR_NO_CONN, undefined]);
    expect(c.subscribe([["a", 0], ["b", new SubscribeOptions(2)]])).toEqual([MQTT_ERR_NO_CONN, undefined]);
    expect(c.unsubscribe(["a", "b"])).toEqual([MQTT_ERR_NO_CONN, undefined]);
    expect(() => c.subscribe([])).toThrow(/Empty topic list/);
    expect(() => c.subscribe("a/#/b", 0)).toThrow(/Invalid subscription filter/);
    expect(() => c.subscribe("a", 1, new SubscribeOptions(1))).toThrow(/cannot be combined/);
    expect(() => c.subscribe("a", 3)).toThrow(/qos/);
    expect(() => c.unsubscribe([])).toThrow(/Invalid topic/);
  });

  it("publish checks topic and QoS; a full queue gives rc QUEUE_SIZE", () => {
    const c = new Client();
    expect(() => c.publish("a/+", "x")).toThrow(/wildcards/);
    expect(() => c.publish("", "x")).toThrow(/Invalid topic/);
    expect(() => c.publish("a", "x", 3)).toThrow(/qos/);
    c.maxQueuedMessagesSet(1).maxInflightMessagesSet(1);
    expect(c.publish("a", "1", 1).rc).toBe(MQTT_ERR_NO_CONN);
    const full = c.publish("a", "2", 1);
    expect(full.rc).toBe(MQTT_ERR_QUEUE_SIZE);
    expect(() => full.isPublished()).toThrow(PublishError);
  });

  it("willSet, tlsInsecureSet, wsSetOptions, proxySet and reconnectDelaySet check their arguments", () => {
    const c = new Client();
    expect(() => c.willSet("", "x")).toThrow(/Invalid topic/);
    expect(() => c.willSet("a/#", "x")).toThrow(/wildcards/);
    expect(() => c.willSet("a", "x", 0, false, { userProperties: [] })).toThrow(/MQTT 5/);
    c.willSet("a", "x", 1, true);
    expect(c.willTopic).toBe("a");
    c.willClear();
    expect(c.willTopic).toBe("");
    expect(() => c.tlsInsecureSet(true)).toThrow(/configure SSL/);
    expect(() => c.wsSetOptions("/mqtt", 5 as unknown as Record<string, string>)).toThrow(/headers/);
    expect(() => c.proxySet({ proxyType: "socks4", proxyAddr: "p", proxyPassword: "x" })).toThrow(/SOCKS4 has no password/);
    expect(() => c.proxySet({ proxyType: "socks3" as "socks5", proxyAddr: "p" })).toThrow(ClientError);
    expect(() => c.reconnectDelaySet(5, 1)).toThrow(/minDelay/);
  });

  it("bridge mode is for MQTT 3.1 / 3.1.1; with MQTT 5 it is refused (ERR_NOT_SUPPORTED: no such bit, use noLocal)", () => {
    expect(() => new Client().enableBridgeMode()).not.toThrow();
    expect(() => new Client({ protocol: 5 }).enableBridgeMode()).toThrow(expect.objectContaining({ code: "ERR_NOT_SUPPORTED" }));
  });

  it("loopStop without loopStart is MQTT_ERR_INVAL; loop() without a connection is NO_CONN; a second loopStart is INVAL", async () => {
    const c = new Client();
    expect(await c.loopStop()).toBe(MQTT_ERR_INVAL);
    expect(await c.loop(0)).toBe(MQTT_ERR_NO_CONN);
    expect(c.loopStart()).toBe(0);
    expect(c.loopStart()).toBe(MQTT_ERR_INVAL);
    expect(await c.loopStop()).toBe(0);
  });

  it("usernamePwSet: password as text or bytes; the password getter reads it back", () => {
    const c = new Client();
    c.usernamePwSet("u", Uint8Array.of(0x70, 0x77));
    expect([c.username, c.password]).toEqual(["u", "pw"]);
    c.usernamePwSet(null);
    expect([c.username, c.password]).toEqual([undefined, undefined]);
  });
});
