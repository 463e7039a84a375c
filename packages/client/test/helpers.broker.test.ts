// The one-call helpers (publish.single / multiple, subscribe.simple / callback,
// Paho's paho.mqtt.publish and paho.mqtt.subscribe) against the throwaway
// mosquitto of scripts/with-broker.sh: MQTT 3.1.1 and 5, TLS, WebSockets, unix
// sockets, auth, wills, retained messages on and off, refusals and time bounds.
// Every test is bounded (helpers.waitFor, timeoutMs, the 10 s test timeout).
import { createServer, type Server, type Socket } from "node:net";
import { brokerEnv, brokerPort, uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import {
  HelperError,
  MQTTMessage,
  MQTTv311,
  MQTTv5,
  PublishError,
  TransportError,
  publish,
  subscribe,
  type Client,
  type HelperConnectionOptions,
} from "../src/index.js";
import { Clients, HOST, TCP_PORT, connectStarted, sleep, waitFor } from "./helpers.js";

const T = 10_000;
const clients = new Clients();
afterEach(() => clients.cleanup());

const broker = (extra: HelperConnectionOptions = {}): HelperConnectionOptions => ({ hostname: HOST(), port: TCP_PORT(), timeoutMs: 8_000, ...extra });

/** A plain Client subscribed to `topic` (SUBACK received), collecting what arrives. */
async function watch(topic: string, qos = 2): Promise<MQTTMessage[]> {
  const c = clients.make("watch");
  const got: MQTTMessage[] = [];
  let subscribed = false;
  c.onMessage = (_c, _ud, m) => got.push(m);
  c.onSubscribe = () => (subscribed = true);
  await connectStarted(c);
  c.subscribe(topic, qos);
  await waitFor("SUBACK", () => subscribed);
  return got;
}

/**
 * Publishes `next(i)` every 50 ms until `until` settles: subscribe.simple and
 * subscribe.callback do not say when their subscription is in place, so the
 * test keeps sending instead of guessing a delay.
 */
async function feed<T>(until: Promise<T>, topic: string, next: (i: number) => string): Promise<T> {
  let done = false;
  const result = until.finally(() => (done = true));
  const sender = clients.make("feed");
  await connectStarted(sender);
  for (let i = 0; !done; i++) {
    sender.publish(topic, next(i), 1);
    await Promise.race([sleep(50), result.catch(() => undefined)]);
  }
  return result;
}

/** Removes a retained message (an empty retained payload). */
const clearRetained = (topic: string): Promise<void> => publish.single(topic, null, { ...broker(), retain: true, qos: 1 });

describe.each([
  ["3.1.1", MQTTv311],
  ["5", MQTTv5],
] as const)("MQTT %s", (_name, protocol) => {
  it.each([0, 1, 2] as const)(
    "publish.single at QoS %i resolves once published; the message arrives",
    async (qos) => {
      const topic = uniqueTopic("single");
      const got = await watch(topic);
      await publish.single(topic, "hello", { ...broker({ protocol }), qos });
      await waitFor("the message", () => got.length === 1);
      expect(got[0]).toMatchObject({ topic, qos, retain: false });
      expect(got[0]?.text()).toBe("hello");
    },
    T,
  );

  it(
    "publish.multiple sends dicts and tuples in order, mixed QoS, then disconnects",
    async () => {
      const topic = uniqueTopic("multiple");
      const got = await watch(topic);
      await publish.multiple(
        [
          { topic, payload: "0" },
          [topic, "1", 1],
          { topic, payload: new TextEncoder().encode("2"), qos: 2 },
          [topic, 3, 1, false],
          [topic],
        ],
        broker({ protocol }),
      );
      await waitFor("five messages", () => got.length === 5);
      expect(got.map((m) => m.text())).toEqual(["0", "1", "2", "3", ""]);
      expect(got.map((m) => m.qos)).toEqual([0, 1, 2, 1, 0]);
    },
    T,
  );

  it(
    "subscribe.simple returns one MQTTMessage by default",
    async () => {
      const topic = uniqueTopic("simple");
      const msg = await feed(subscribe.simple(topic, { ...broker({ protocol }), qos: 1 }), topic, (i) => `m${i}`);
      expect(msg).toBeInstanceOf(MQTTMessage);
      expect(msg.topic).toBe(topic);
      expect(msg.text()).toMatch(/^m\d+$/);
      expect(msg.qos).toBe(1);
      if (protocol === MQTTv5) expect(msg.properties).toBeDefined();
      else expect(msg.properties).toBeUndefined();
    },
    T,
  );

  it(
    "subscribe.simple with msgCount 3 returns three messages in order",
    async () => {
      const topic = uniqueTopic("simple-count");
      const msgs = (await feed(subscribe.simple(topic, { ...broker({ protocol }), qos: 1, msgCount: 3 }), topic, (i) => String(i))) as MQTTMessage[];
      expect(msgs).toHaveLength(3);
      const n = msgs.map((m) => Number(m.text()));
      expect(n).toEqual([n[0], (n[0] ?? 0) + 1, (n[0] ?? 0) + 2]);
    },
    T,
  );

  it(
    "subscribe.simple takes a retained message by default, and skips it with retained: false",
    async () => {
      const topic = uniqueTopic("retained");
      await publish.single(topic, "kept", { ...broker({ protocol }), qos: 1, retain: true });
      try {
        const first = await subscribe.simple(topic, broker({ protocol }));
        expect(first.retain).toBe(true);
        expect(first.text()).toBe("kept");
        const live = await feed(subscribe.simple(topic, { ...broker({ protocol }), retained: false }), topic, (i) => `live${i}`);
        expect(live.retain).toBe(false);
        expect(live.text()).toMatch(/^live\d+$/);
      } finally {
        await clearRetained(topic);
      }
    },
    T,
  );

  it(
    "subscribe.callback hands the userdata and each message to the callback and resolves when it disconnects",
    async () => {
      const topic = uniqueTopic("callback");
      const userdata = { seen: [] as string[] };
      let clientSeen: Client | undefined;
      const run = subscribe.callback(
        (client, ud, msg) => {
          clientSeen = client;
          (ud as typeof userdata).seen.push(msg.text());
          if ((ud as typeof userdata).seen.length === 2) client.disconnect();
        },
        [topic, `${topic}/other`],
        { ...broker({ protocol }), userdata, qos: 2 },
      );
      await feed(run, topic, (i) => `c${i}`);
      expect(userdata.seen).toHaveLength(2);
      expect(clientSeen?.isConnected()).toBe(false);
    },
    T,
  );

  it(
    "a will given to a helper is published when its connection is lost, and subscribe.callback subscribes again after the reconnect",
    async () => {
      const topic = uniqueTopic("will-sub");
      const willTopic = uniqueTopic("will");
      const wills = await watch(willTopic);
      await publish.single(topic, "retained", { ...broker({ protocol }), qos: 1, retain: true });
      let deliveries = 0;
      try {
        await subscribe.callback(
          (client) => {
            deliveries++;
            // First connection: cut the socket (no DISCONNECT, so the broker sends the will).
            // Second: the retained message came again through the new subscription; end.
            if (deliveries === 1) (client.socket() as Socket).destroy();
            else client.disconnect();
          },
          topic,
          { ...broker({ protocol }), will: { topic: willTopic, payload: "gone", qos: 1 } },
        );
      } finally {
        await clearRetained(topic);
      }
      expect(deliveries).toBe(2);
      await waitFor("the will", () => wills.length === 1);
      expect(wills[0]?.text()).toBe("gone");
    },
    T,
  );

  it(
    "auth: username and password admitted; without them the CONNACK refusal rejects with HelperError",
    async () => {
      const port = brokerPort("MQTT_AUTH_PORT");
      const auth = { username: brokerEnv("MQTT_AUTH_USERNAME"), password: brokerEnv("MQTT_AUTH_PASSWORD") };
      await publish.single(uniqueTopic("auth"), "x", { ...broker({ protocol, port, auth }), qos: 1 });
      const refused = publish.single(uniqueTopic("auth"), "x", broker({ protocol, port }));
      await expect(refused).rejects.toBeInstanceOf(HelperError);
      await expect(refused).rejects.toMatchObject({ code: "ERR_CONNACK_REFUSED", message: /refused the connection: Not authorized/ });
      const wrong = publish.single(uniqueTopic("auth"), "x", broker({ protocol, port, auth: { ...auth, password: "wrong" } }));
      await expect(wrong).rejects.toMatchObject({ code: "ERR_CONNACK_REFUSED" });
    },
    T,
  );
});

describe("transports", () => {
  it(
    "TLS through the tls option (caCerts: the run's CA), single and simple",
    async () => {
      const topic = uniqueTopic("tls");
      const tls = broker({ port: brokerPort("MQTT_TLS_PORT"), hostname: "localhost", tls: { caCerts: brokerEnv("MQTT_CA_FILE") } });
      const msg = await feed(subscribe.simple(topic, tls), topic, (i) => `t${i}`);
      expect(msg.text()).toMatch(/^t\d+$/);
      const got = await watch(topic);
      await publish.single(topic, "over tls", { ...tls, qos: 1, protocol: MQTTv5 });
      await waitFor("the message", () => got.length === 1);
      expect(got[0]?.text()).toBe("over tls");
    },
    T,
  );

  it(
    "TLS without the CA rejects with the TransportError (certificate not trusted)",
    async () => {
      const run = publish.single(uniqueTopic("tls-bad"), "x", broker({ port: brokerPort("MQTT_TLS_PORT"), hostname: "localhost", tls: {} }));
      await expect(run).rejects.toBeInstanceOf(TransportError);
    },
    T,
  );

  it(
    "WebSockets (transport: websockets), and WebSockets over TLS",
    async () => {
      const topic = uniqueTopic("ws");
      const got = await watch(topic);
      await publish.single(topic, "ws", { ...broker({ port: brokerPort("MQTT_WS_PORT"), transport: "websockets" }), qos: 1 });
      await publish.single(topic, "wss", {
        ...broker({ port: brokerPort("MQTT_WSS_PORT"), hostname: "localhost", transport: "websockets", protocol: MQTTv5, tls: { caCerts: brokerEnv("MQTT_CA_FILE") } }),
        qos: 2,
      });
      const msg = await feed(subscribe.simple(topic, broker({ port: brokerPort("MQTT_WS_PORT"), transport: "websockets" })), topic, () => "back");
      await waitFor("two messages", () => got.length >= 2);
      expect(got.slice(0, 2).map((m) => m.text())).toEqual(["ws", "wss"]);
      expect(msg.text()).toBe("back");
    },
    T,
  );

  it(
    "unix domain socket (hostname is the path)",
    async () => {
      const topic = uniqueTopic("unix");
      const got = await watch(topic);
      await publish.single(topic, "unix", { ...broker({ hostname: brokerEnv("MQTT_UNIX_SOCKET"), transport: "unix" }), qos: 1 });
      await waitFor("the message", () => got.length === 1);
    },
    T,
  );
});

describe("failures", () => {
  it(
    "a refused TCP connection rejects with TransportError ERR_TRANSPORT_REFUSED",
    async () => {
      // A port that was just free: listen, note it, close.
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const port = (server.address() as { port: number }).port;
      await new Promise<void>((r) => server.close(() => r()));
      const run = publish.single("t", "x", broker({ port }));
      await expect(run).rejects.toBeInstanceOf(TransportError);
      await expect(run).rejects.toMatchObject({ code: "ERR_TRANSPORT_REFUSED", message: /refused the connection/ });
      await expect(subscribe.simple("t", broker({ port }))).rejects.toMatchObject({ code: "ERR_TRANSPORT_REFUSED" });
    },
    T,
  );

  it(
    "MQTT 5: a publish the broker refuses rejects with its PublishError, and multiple stops there",
    async () => {
      const topic = uniqueTopic("after-refusal");
      const got = await watch(topic);
      // mosquitto refuses client publishes to $SYS (PUBACK 0x87 Not authorized).
      const run = publish.multiple([["$SYS/sansmqtt-test", "x", 1], [topic, "never", 1]], broker({ protocol: MQTTv5 }));
      await expect(run).rejects.toBeInstanceOf(PublishError);
      await expect(run).rejects.toMatchObject({ reasonCode: { value: 0x87 } });
      await sleep(200);
      expect(got).toHaveLength(0);
    },
    T,
  );

  it(
    "never hangs: a server that accepts and never answers hits timeoutMs (HelperError ERR_TIMEOUT)",
    async () => {
      const sockets: Socket[] = [];
      const silent: Server = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
      const port = (silent.address() as { port: number }).port;
      try {
        const started = performance.now();
        const run = publish.single("t", "x", { hostname: "127.0.0.1", port, qos: 1, timeoutMs: 500, connectTimeout: 30 });
        await expect(run).rejects.toMatchObject({ name: "HelperError", code: "ERR_TIMEOUT" });
        expect(performance.now() - started).toBeLessThan(4_000);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise<void>((r) => silent.close(() => r()));
      }
    },
    T,
  );

  it(
    "subscribe.simple with timeoutMs and no message rejects with ERR_TIMEOUT; an AbortSignal rejects with its reason",
    async () => {
      const topic = uniqueTopic("nothing");
      await expect(subscribe.simple(topic, broker({ timeoutMs: 300 }))).rejects.toMatchObject({ code: "ERR_TIMEOUT" });
      const ac = new AbortController();
      const run = subscribe.simple(topic, broker({ signal: ac.signal }));
      setTimeout(() => ac.abort(new Error("stop waiting")), 200);
      await expect(run).rejects.toThrow("stop waiting");
    },
    T,
  );

  it(
    "subscribe.callback rejects with the callback's exception (Paho raises it out of loop_forever)",
    async () => {
      const topic = uniqueTopic("throws");
      const run = subscribe.callback(
        () => {
          throw new Error("boom in callback");
        },
        topic,
        broker(),
      );
      await expect(feed(run, topic, () => "x")).rejects.toThrow("boom in callback");
    },
    T,
  );

  it("argument errors reject before connecting (HelperError ERR_ARGUMENT)", async () => {
    const nowhere = { hostname: "127.0.0.1", port: 1 };
    await expect(publish.multiple([], nowhere)).rejects.toMatchObject({ code: "ERR_ARGUMENT" });
    await expect(publish.single("t", "x", { ...nowhere, qos: 3 })).rejects.toMatchObject({ code: "ERR_ARGUMENT" });
    await expect(subscribe.simple("t", { ...nowhere, msgCount: 0 })).rejects.toMatchObject({ code: "ERR_ARGUMENT" });
    await expect(subscribe.callback(() => undefined, [], nowhere)).rejects.toMatchObject({ code: "ERR_ARGUMENT" });
  });
});
