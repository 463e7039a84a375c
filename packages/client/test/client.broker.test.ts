// The Paho-style Client against the throwaway mosquitto (scripts/with-broker.sh):
// connect, subscribe, publish and receive at every QoS over 3.1.1 and 5, the
// callbacks' arguments, waitForPublish, retained messages, wills, filter
// callbacks, unsubscribe, refusals, loopForever, reconnects, TLS, WebSockets
// and unix sockets. Every wait is bounded (helpers.waitFor).
import { brokerEnv, brokerPort, uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import {
  Client,
  MQTT_ERR_CONN_LOST,
  MQTT_ERR_NO_CONN,
  MQTT_ERR_SUCCESS,
  MQTTMessage,
  MQTTv311,
  MQTTv5,
  PacketTypes,
  PublishError,
  ReasonCode,
  SubscribeOptions,
  type ConnectFlags,
  type DisconnectFlags,
  type Properties,
} from "../src/index.js";
import { Clients, HOST, TCP_PORT, connectStarted, sleep, waitFor } from "./helpers.js";
import { manualLoop, reconnectResubscribes } from "./scenarios.js";

const clients = new Clients();
afterEach(() => clients.cleanup());

describe.each([
  ["3.1.1", MQTTv311],
  ["5", MQTTv5],
] as const)("MQTT %s", (_name, protocol) => {
  it.each([0, 1, 2] as const)("connect, subscribe, publish and receive at QoS %i with the callbacks' arguments", async (qos) => {
    const c = clients.make("roundtrip", { protocol, userdata: { tag: "ud" } });
    const topic = uniqueTopic("roundtrip");
    const connects: Array<[unknown, ConnectFlags, ReasonCode, Properties]> = [];
    const subacks: Array<[number, ReasonCode[], Properties]> = [];
    const pubacks: Array<[number, ReasonCode, Properties]> = [];
    const messages: MQTTMessage[] = [];
    let subMid: number | undefined;
    c.onConnect = (client, userdata, flags, rc, props) => {
      expect(client).toBe(c);
      connects.push([userdata, flags, rc, props]);
      subMid = client.subscribe(topic, qos)[1];
    };
    c.onSubscribe = (_c, _u, mid, codes, props) => subacks.push([mid, codes, props]);
    c.onPublish = (_c, _u, mid, rc, props) => pubacks.push([mid, rc, props]);
    c.onMessage = (_c, _u, m) => messages.push(m);

    await connectStarted(c);
    expect(connects).toHaveLength(1);
    const [ud, flags, rc, props] = connects[0]!;
    expect(ud).toEqual({ tag: "ud" });
    expect(flags).toEqual({ sessionPresent: false });
    expect(rc.value).toBe(0);
    expect(rc.packetType).toBe(PacketTypes.CONNACK);
    expect(rc.getName()).toBe("Success");
    expect(rc.isFailure).toBe(false);
    if (protocol === 5) expect(typeof props).toBe("object");
    else expect(props).toEqual({});
    expect(c.isConnected()).toBe(true);

    await waitFor("onSubscribe", () => subacks.length > 0);
    expect(subacks[0]![0]).toBe(subMid);
    expect(subacks[0]![1].map((r) => r.value)).toEqual([qos]);
    expect(subacks[0]![1][0]!.packetType).toBe(PacketTypes.SUBACK);

    const info = c.publish(topic, `hello ${qos}`, qos);
    expect(info.rc).toBe(MQTT_ERR_SUCCESS);
    const [rcOfTuple, midOfTuple] = info;
    expect([rcOfTuple, midOfTuple]).toEqual([MQTT_ERR_SUCCESS, info.mid]);
    await info.waitForPublish(5_000);
    expect(info.isPublished()).toBe(true);
    await waitFor("onPublish", () => pubacks.find((p) => p[0] === info.mid));
    const ack = pubacks.find((p) => p[0] === info.mid)!;
    expect(ack[1].value).toBe(0);
    expect(ack[1].isFailure).toBe(false);

    const m = await waitFor("onMessage", () => messages[0]);
    expect(m).toBeInstanceOf(MQTTMessage);
    expect(m.topic).toBe(topic);
    expect(m.text()).toBe(`hello ${qos}`);
    expect(m.payload).toBeInstanceOf(Uint8Array);
    expect(m.qos).toBe(qos);
    expect(m.retain).toBe(false);
    expect(m.dup).toBe(false);
    expect(typeof m.timestamp).toBe("number");
    if (qos > 0) expect(m.mid).toBeGreaterThan(0);
    if (protocol === 5) expect(m.properties).toBeDefined();
    else expect(m.properties).toBeUndefined();
  });

  it("unsubscribe: onUnsubscribe's arguments, and no more messages on that filter", async () => {
    const c = clients.make("unsub", { protocol });
    const gone = uniqueTopic("unsub-gone");
    const kept = uniqueTopic("unsub-kept");
    const unsubacks: Array<[number, ReasonCode[]]> = [];
    const got: string[] = [];
    c.onUnsubscribe = (_c, _u, mid, codes) => unsubacks.push([mid, codes]);
    c.onMessage = (_c, _u, m) => got.push(m.topic);
    let subscribed = 0;
    c.onSubscribe = () => subscribed++;
    await connectStarted(c);
    c.subscribe([
      [gone, 1],
      [kept, 1],
    ]);
    await waitFor("onSubscribe", () => subscribed === 1);
    const [rc, mid] = c.unsubscribe(gone);
    expect(rc).toBe(MQTT_ERR_SUCCESS);
    await waitFor("onUnsubscribe", () => unsubacks.length === 1);
    expect(unsubacks[0]![0]).toBe(mid);
    // MQTT 5 UNSUBACK has a code per filter; 3.1.1 has none (an empty list, as Paho).
    expect(unsubacks[0]![1].map((r) => r.value)).toEqual(protocol === 5 ? [0] : []);
    await c.publish(gone, "no", 1).waitForPublish(5_000);
    await c.publish(kept, "yes", 1).waitForPublish(5_000);
    await waitFor("the message on the kept filter", () => got.includes(kept));
    expect(got).not.toContain(gone);
  });
});

describe("waitForPublish", () => {
  it("rejects after its timeout when nothing delivers the message", async () => {
    const c = clients.make("wfp-timeout");
    // Never connected: queued, rc NO_CONN (as Paho says), and waitForPublish bounded by its timeout.
    const info = c.publish(uniqueTopic("wfp"), "x", 1);
    expect(info.rc).toBe(MQTT_ERR_NO_CONN);
    const t0 = performance.now();
    const err = await info.waitForPublish(100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    expect(info.isPublished()).toBe(false);
  });

  it("rejects when the connection is lost and the client will not reconnect", async () => {
    const c = clients.make("wfp-lost", { reconnectOnFailure: false });
    await connectStarted(c);
    const disconnects: ReasonCode[] = [];
    c.onDisconnect = (_c, _u, _f, rc) => disconnects.push(rc);
    // Published and cut in the same tick: the QoS 1 message cannot have been acknowledged.
    const info = c.publish(uniqueTopic("wfp-lost"), "x", 1);
    (c.socket() as { destroy(): void }).destroy();
    const err = await info.waitForPublish(5_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect((err as PublishError).rc).toBe(MQTT_ERR_CONN_LOST);
    expect(() => info.isPublished()).toThrow(PublishError);
    await waitFor("onDisconnect", () => disconnects.length === 1);
    expect(disconnects[0]!.value).toBe(0x80);
    expect(c.isConnected()).toBe(false);
  });

  it("resolves for a message published before connect, once connected", async () => {
    const c = clients.make("wfp-before");
    const topic = uniqueTopic("wfp-before");
    const info = c.publish(topic, "early", 1);
    expect(info.rc).toBe(MQTT_ERR_NO_CONN);
    await connectStarted(c);
    await info.waitForPublish(5_000);
    expect(info.isPublished()).toBe(true);
    expect(info.rc).toBe(MQTT_ERR_SUCCESS);
  });
});

describe("messages", () => {
  it("a retained message reaches a later subscriber with retain set", async () => {
    const topic = uniqueTopic("retained");
    const pub = clients.make("retain-pub");
    await connectStarted(pub);
    await pub.publish(topic, "kept", 1, true).waitForPublish(5_000);
    const sub = clients.make("retain-sub");
    const got: MQTTMessage[] = [];
    sub.onMessage = (_c, _u, m) => got.push(m);
    sub.onConnect = (client) => void client.subscribe(topic, 1);
    await connectStarted(sub);
    const m = await waitFor("the retained message", () => got[0]);
    expect(m.retain).toBe(true);
    expect(m.text()).toBe("kept");
    // Clear it: an empty retained payload deletes it.
    await pub.publish(topic, null, 1, true).waitForPublish(5_000);
  });

  it("payloads: string, bytes, ArrayBuffer, number and null as Paho takes them", async () => {
    const c = clients.make("payloads");
    const topic = uniqueTopic("payloads");
    const got: Uint8Array[] = [];
    c.onMessage = (_c, _u, m) => got.push(m.payload);
    let subscribed = false;
    c.onSubscribe = () => (subscribed = true);
    c.onConnect = (client) => void client.subscribe(topic, 1);
    await connectStarted(c);
    await waitFor("onSubscribe", () => subscribed);
    for (const p of ["é", Uint8Array.of(1, 2, 3), Uint8Array.of(9).buffer, 42, null]) await c.publish(topic, p, 1).waitForPublish(5_000);
    await waitFor("five messages", () => got.length === 5);
    expect(got.map((b) => [...b])).toEqual([[0xc3, 0xa9], [1, 2, 3], [9], [0x34, 0x32], []]);
  });

  it("messageCallbackAdd: every matching filter's callback runs, onMessage only when none matched", async () => {
    const c = clients.make("filters");
    const base = uniqueTopic("filters");
    const calls: string[] = [];
    c.messageCallbackAdd(`${base}/#`, (_c, _u, m) => calls.push(`hash:${m.topic.slice(base.length)}`));
    c.messageCallbackAdd(`${base}/+/c`, (_c, _u, m) => calls.push(`plus:${m.topic.slice(base.length)}`));
    c.onMessage = (_c, _u, m) => calls.push(`default:${m.topic.slice(base.length)}`);
    let subscribed = false;
    c.onSubscribe = () => (subscribed = true);
    c.onConnect = (client) => void client.subscribe([[`${base}/#`, 1], [`${base}-other`, 1]]);
    await connectStarted(c);
    await waitFor("onSubscribe", () => subscribed);
    await c.publish(`${base}/b/c`, "1", 1).waitForPublish(5_000);
    await c.publish(`${base}/b`, "2", 1).waitForPublish(5_000);
    await c.publish(`${base}-other`, "3", 1).waitForPublish(5_000);
    await waitFor("four calls", () => calls.length >= 4);
    expect(calls.slice(0, 2).sort()).toEqual(["hash:/b/c", "plus:/b/c"]);
    expect(calls.slice(2)).toEqual(["hash:/b", "default:-other"]);
    c.messageCallbackRemove(`${base}/#`);
    c.messageCallbackRemove("never/added"); // no-op, as Paho
    await c.publish(`${base}/x/c`, "4", 1).waitForPublish(5_000);
    await c.publish(`${base}/x`, "5", 1).waitForPublish(5_000);
    await waitFor("two more calls", () => calls.length >= 6);
    expect(calls.slice(4)).toEqual(["plus:/x/c", "default:/x"]);
  });

  it("$-topics: a '#' filter callback does not take $SYS messages, a '$SYS/#' one does", async () => {
    const c = clients.make("dollar");
    const calls: string[] = [];
    c.messageCallbackAdd("#", (_c, _u, m) => calls.push(`hash:${m.topic}`));
    c.messageCallbackAdd("+/broker/version", (_c, _u, m) => calls.push(`plus:${m.topic}`));
    c.messageCallbackAdd("$SYS/#", (_c, _u, m) => calls.push(`sys:${m.topic}`));
    c.onConnect = (client) => void client.subscribe("$SYS/broker/version", 0);
    await connectStarted(c);
    // mosquitto keeps $SYS/broker/version retained: it comes on subscribe.
    await waitFor("$SYS/broker/version", () => calls.length > 0);
    await sleep(50);
    expect(calls).toEqual(["sys:$SYS/broker/version"]);
  });

  it("MQTT 5 user properties (repeated names, in order) reach the subscriber", async () => {
    const c = clients.make("userprops", { protocol: MQTTv5 });
    const topic = uniqueTopic("userprops");
    const got: MQTTMessage[] = [];
    c.onMessage = (_c, _u, m) => got.push(m);
    let subscribed = false;
    c.onSubscribe = () => (subscribed = true);
    c.onConnect = (client) => void client.subscribe(topic, 1);
    await connectStarted(c);
    await waitFor("onSubscribe", () => subscribed);
    const userProperties: Array<[string, string]> = [
      ["a", "1"],
      ["b", "2"],
      ["a", "3"],
    ];
    await c.publish(topic, "p", 1, false, { userProperties, contentType: "text/plain" }).waitForPublish(5_000);
    const m = await waitFor("the message", () => got[0]);
    expect(m.properties?.userProperties).toEqual(userProperties);
    expect(m.properties?.contentType).toBe("text/plain");
  });

  it("MQTT 5 SubscribeOptions noLocal: our own messages do not come back", async () => {
    const c = clients.make("nolocal", { protocol: MQTTv5 });
    const local = uniqueTopic("nolocal");
    const marker = uniqueTopic("nolocal-marker");
    const got: string[] = [];
    c.onMessage = (_c, _u, m) => got.push(m.topic);
    let subscribed = 0;
    c.onSubscribe = () => subscribed++;
    await connectStarted(c);
    c.subscribe(local, 0, new SubscribeOptions(1, true));
    c.subscribe([marker, new SubscribeOptions(1)]);
    await waitFor("two SUBACKs", () => subscribed === 2);
    await c.publish(local, "x", 1).waitForPublish(5_000);
    await c.publish(marker, "y", 1).waitForPublish(5_000);
    await waitFor("the marker", () => got.includes(marker));
    expect(got).toEqual([marker]);
  });
});

describe("connection lifecycle", () => {
  it("a will is published when the connection is cut without DISCONNECT", async () => {
    const willTopic = uniqueTopic("will");
    const watcher = clients.make("will-watch");
    const got: MQTTMessage[] = [];
    watcher.onMessage = (_c, _u, m) => got.push(m);
    let subscribed = false;
    watcher.onSubscribe = () => (subscribed = true);
    watcher.onConnect = (client) => void client.subscribe(willTopic, 1);
    await connectStarted(watcher);
    await waitFor("onSubscribe", () => subscribed);

    const dying = clients.make("will-die", { protocol: MQTTv5, reconnectOnFailure: false });
    dying.willSet(willTopic, "gone", 1, false, { userProperties: [["why", "test"]] });
    expect(dying.willTopic).toBe(willTopic);
    let disconnects = 0;
    dying.onDisconnect = () => disconnects++;
    await connectStarted(dying);
    (dying.socket() as { destroy(): void }).destroy();
    const m = await waitFor("the will", () => got[0]);
    expect(m.topic).toBe(willTopic);
    expect(m.text()).toBe("gone");
    await waitFor("onDisconnect", () => disconnects > 0);
    await sleep(100);
    expect(disconnects).toBe(1);
  });

  it("a refusing CONNACK goes to onConnect with a failure ReasonCode, then onDisconnect once", async () => {
    // The test broker allows anonymous clients and has no password file, so bad
    // credentials are not refused; an authentication method it does not know is (0x8C).
    const c = clients.make("refused", { protocol: MQTTv5, reconnectOnFailure: false });
    const connects: ReasonCode[] = [];
    const disconnects: Array<[DisconnectFlags, ReasonCode]> = [];
    c.onConnect = (_c, _u, flags, rc) => {
      expect(flags.sessionPresent).toBe(false);
      connects.push(rc);
    };
    c.onDisconnect = (_c, _u, flags, rc) => disconnects.push([flags, rc]);
    await c.connect(HOST(), TCP_PORT(), 30, { properties: { authenticationMethod: "sansmqtt-unknown-method" } });
    c.loopStart();
    await waitFor("onConnect", () => connects.length > 0);
    expect(connects[0]!.isFailure).toBe(true);
    expect(connects[0]!.value).toBe(0x8c);
    expect(connects[0]!.getName()).toBe("Bad authentication method");
    await waitFor("onDisconnect", () => disconnects.length > 0);
    await sleep(100);
    expect(disconnects).toHaveLength(1);
    expect(c.isConnected()).toBe(false);
  });

  it("loopForever resolves when disconnect() ends it; onDisconnect once with Normal disconnection", async () => {
    const c = clients.make("forever");
    const disconnects: Array<[DisconnectFlags, ReasonCode]> = [];
    c.onConnect = (client) => client.disconnect();
    c.onDisconnect = (_c, _u, flags, rc) => disconnects.push([flags, rc]);
    await c.connect(HOST(), TCP_PORT(), 30);
    const rc = await c.loopForever();
    expect(rc).toBe(MQTT_ERR_SUCCESS);
    expect(disconnects).toHaveLength(1);
    expect(disconnects[0]![0]).toEqual({ isDisconnectPacketFromServer: false });
    expect(disconnects[0]![1].value).toBe(0);
    expect(disconnects[0]![1].getName()).toBe("Normal disconnection");
    expect(c.disconnect()).toBe(MQTT_ERR_NO_CONN);
    await sleep(50);
    expect(disconnects).toHaveLength(1);
  });

  it("loopForever with retryFirstConnection false rejects when the first connection cannot open (onConnectFail)", async () => {
    const c = clients.make("forever-fail");
    let fails = 0;
    c.onConnectFail = () => fails++;
    // A port nothing listens on: the TLS port's neighbour block is not used by the broker.
    c.connectAsync(HOST(), 1, 30);
    await expect(c.loopForever()).rejects.toMatchObject({ code: "ERR_TRANSPORT_REFUSED" });
    expect(fails).toBe(1);
  });

  it("connect() rejects with the TransportError when the port is closed", async () => {
    const c = clients.make("refused-port");
    await expect(c.connect(HOST(), 1, 30)).rejects.toMatchObject({ name: "TransportError" });
  });

  it("reconnects after the socket is cut; subscriptions made in onConnect work again; onDisconnect once per connection", () =>
    reconnectResubscribes(clients, { host: HOST(), port: TCP_PORT(), setsDupOnResend: true }));

  it("loop(): one turn at a time drives the connection without loopStart", () =>
    manualLoop(clients, { host: HOST(), port: TCP_PORT(), setsDupOnResend: true }, 1));

  it("guarded properties cannot change on an established connection", async () => {
    const c = clients.make("guarded");
    c.keepalive = 20;
    expect(c.keepalive).toBe(20);
    await connectStarted(c);
    expect(() => (c.keepalive = 10)).toThrow(/updating keepalive on established connection/);
    expect(() => (c.host = "elsewhere")).toThrow(/not supported/);
    expect(() => (c.maxInflightMessages = 5)).toThrow();
    expect(c.host).toBe(HOST());
    expect(c.port).toBe(TCP_PORT());
  });

  it("socket hooks come in Paho's order: open, register/unregister write pairs, close", async () => {
    const c = clients.make("hooks");
    const hooks: string[] = [];
    c.onSocketOpen = (_c, _u, s) => hooks.push(s === undefined ? "open?" : "open");
    c.onSocketRegisterWrite = () => hooks.push("reg");
    c.onSocketUnregisterWrite = () => hooks.push("unreg");
    c.onSocketClose = () => hooks.push("close");
    let pre = 0;
    c.onPreConnect = () => pre++;
    await connectStarted(c);
    c.disconnect();
    await waitFor("close", () => hooks.includes("close"));
    expect(pre).toBe(1);
    expect(hooks[0]).toBe("open");
    expect(hooks.at(-1)).toBe("close");
    const middle = hooks.slice(1, -1);
    for (let i = 0; i < middle.length; i++) expect(middle[i]).toBe(i % 2 === 0 ? "reg" : "unreg");
  });

  it("credentials never appear in the log", async () => {
    const c = clients.make("creds");
    const lines: string[] = [];
    c.onLog = (_c, _u, _level, buf) => lines.push(buf);
    c.usernamePwSet("user-secret-name", "pw-secret-value");
    await connectStarted(c);
    c.publish(uniqueTopic("creds"), "x", 0);
    c.disconnect();
    await sleep(100);
    expect(lines.some((l) => l.includes("Sending CONNECT"))).toBe(true);
    expect(lines.join("\n")).not.toMatch(/pw-secret-value|user-secret-name/);
  });
});

describe("transports", () => {
  async function roundTrip(c: Client, port: number, host = HOST()): Promise<void> {
    const topic = uniqueTopic("transport");
    const got: string[] = [];
    let subscribed = false;
    c.onSubscribe = () => (subscribed = true);
    c.onMessage = (_c, _u, m) => got.push(m.text());
    c.onConnect = (client) => void client.subscribe(topic, 1);
    await connectStarted(c, port, host);
    await waitFor("onSubscribe", () => subscribed);
    await c.publish(topic, "over the wire", 2).waitForPublish(5_000);
    await waitFor("the message", () => got.includes("over the wire"));
  }

  it("TLS, verified against the run's CA", async () => {
    const c = clients.make("tls");
    c.tlsSet({ caCerts: brokerEnv("MQTT_CA_FILE") });
    expect(() => c.tlsSet({})).toThrow(/already been configured/);
    await roundTrip(c, brokerPort("MQTT_TLS_PORT"));
    expect(c.socket()?.constructor.name).toBe("TLSSocket");
  });

  it("TLS without the CA is refused (onConnectFail under loopStart, connect() rejects)", async () => {
    const c = clients.make("tls-untrusted");
    c.tlsSet({});
    await expect(c.connect(HOST(), brokerPort("MQTT_TLS_PORT"), 30)).rejects.toMatchObject({ code: "ERR_TLS_UNKNOWN_CA" });
  });

  it("WebSockets (ws package on Node)", async () => {
    const c = clients.make("ws", { transport: "websockets" });
    c.wsSetOptions("/mqtt", { "x-sansmqtt-test": "1" });
    await roundTrip(c, brokerPort("MQTT_WS_PORT"));
  });

  it("secure WebSockets", async () => {
    const c = clients.make("wss", { transport: "websockets", protocol: MQTTv5 });
    c.tlsSet({ caCerts: brokerEnv("MQTT_CA_FILE") });
    await roundTrip(c, brokerPort("MQTT_WSS_PORT"));
  });

  it("unix domain socket", async () => {
    const c = clients.make("unix", { transport: "unix" });
    await roundTrip(c, 1883, brokerEnv("MQTT_UNIX_SOCKET"));
  });
});
