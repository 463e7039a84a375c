// Every Paho example port in src/paho/ run against the throwaway mosquitto of
// scripts/with-broker.sh, with its result checked. Each test is bounded (10 s);
// examples that wait for messages get them from a plain Client here, sent
// until the example is done (none of them says when its subscription is in
// place, as Paho's do not).
import { Client, MQTTv311, MQTTv5, type MQTTMessage } from "@sansmqtt/client";
import { brokerEnv, brokerPort, uniqueClientId, uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { run as clientLogger } from "../src/paho/client-logger.js";
import { run as clientPubWait } from "../src/paho/client-pub-wait.js";
import { run as clientRpcMath } from "../src/paho/client-rpc-math.js";
import { run as clientSessionPresent } from "../src/paho/client-session-present.js";
import { run as clientSubMultipleCallback } from "../src/paho/client-sub-multiple-callback.js";
import { run as clientSub } from "../src/paho/client-sub.js";
import { run as loopSelect } from "../src/paho/loop-select.js";
import { run as publishMultiple } from "../src/paho/publish-multiple.js";
import { run as publishSingle } from "../src/paho/publish-single.js";
import { run as subscribeCallback } from "../src/paho/subscribe-callback.js";
import { run as subscribeSimple } from "../src/paho/subscribe-simple.js";

const T = 10_000;
const host = brokerEnv("MQTT_HOST");
const port = brokerPort("MQTT_TCP_PORT");

const started: Client[] = [];
afterEach(async () => {
  for (const c of started.splice(0)) {
    c.disconnect();
    await c.loopStop();
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A connected Client (CONNACK in) running loopStart; stopped after the test. */
async function plainClient(): Promise<Client> {
  const c = new Client({ clientId: uniqueClientId("paho-ex") });
  started.push(c);
  let up = false;
  c.onConnect = (_c, _ud, _f, rc) => (up = !rc.isFailure);
  await c.connect(host, port, 30);
  c.loopStart();
  for (let i = 0; !up; i++) {
    if (i > 200) throw new Error("no CONNACK within 2 s");
    await sleep(10);
  }
  return c;
}

/** Collects what arrives on `topic` (SUBACK received before it resolves). */
async function watch(topic: string): Promise<MQTTMessage[]> {
  const c = await plainClient();
  const got: MQTTMessage[] = [];
  let subscribed = false;
  c.onMessage = (_c, _ud, m) => got.push(m);
  c.onSubscribe = () => (subscribed = true);
  c.subscribe(topic, 2);
  for (let i = 0; !subscribed; i++) {
    if (i > 200) throw new Error("no SUBACK within 2 s");
    await sleep(10);
  }
  return got;
}

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Publishes to `topic` every 50 ms until `running` settles; returns its result. */
async function feed<R>(running: Promise<R>, topic: string, payload: (i: number) => string = (i) => `msg ${i}`): Promise<R> {
  let done = false;
  const result = running.finally(() => (done = true));
  const sender = await plainClient();
  for (let i = 0; !done; i++) {
    sender.publish(topic, payload(i), 1);
    await Promise.race([sleep(50), result.catch(() => undefined)]);
  }
  return result;
}

/** print() into an array, to check what the example said. */
function lines(): { print: (l: string) => void; out: string[] } {
  const out: string[] = [];
  return { print: (l) => out.push(l), out };
}

describe("Paho examples, ported (src/paho)", () => {
  it(
    "client-sub: subscribes, prints 'topic qos payload' for 3 messages, loopForever resolves after its disconnect",
    async () => {
      const topic = uniqueTopic("client-sub");
      const { print, out } = lines();
      const r = await feed(clientSub({ host, port, topic, count: 3, print }), topic);
      expect(r.messages).toHaveLength(3);
      expect(r.rc).toBe(0);
      expect(out[0]).toBe("reason_code: Success");
      expect(out.some((l) => /^Subscribed: \d+ \[Granted QoS 0\]$/.test(l))).toBe(true);
      expect(out.filter((l) => l.startsWith(`${topic} 0 b'msg `))).toHaveLength(3);
    },
    T,
  );

  it(
    "client-pub-wait: the (rc, mid) tuple and waitForPublish on the MQTTMessageInfo (QoS 2)",
    async () => {
      const prefix = `${uniqueTopic("pub-wait")}/`;
      const got = await watch(`${prefix}#`);
      const r = await clientPubWait({ host, port, topicPrefix: prefix, print: () => undefined });
      expect(r.isPublished).toBe(true);
      expect(r.published).toContain(r.infoMid);
      expect(r.infoMid).not.toBe(r.tupleMid);
      await until("both messages", () => got.length === 2);
      expect(got.map((m) => [m.topic, m.text()])).toEqual([
        [`${prefix}tuple`, "bar"],
        [`${prefix}class`, "bar"],
      ]);
    },
    T,
  );

  it.each([
    ["3.1.1 (clean session)", MQTTv311],
    ["5 (clean start and session expiry)", MQTTv5],
  ] as const)(
    "client-session-present over MQTT %s: false, true, false",
    async (_name, protocol) => {
      const { print, out } = lines();
      const seen = await clientSessionPresent({ host, port, protocol, clientId: uniqueClientId("session"), print });
      expect(seen).toEqual([false, true, false]);
      expect(out).toContain("Second connection:");
      expect(out).toContain("    Session present: true");
      expect(out).toContain("    Connection result: Success");
    },
    T,
  );

  it(
    "client-rpc-math: MQTT 5 request/response, the server adds 7 + 5 and replies to responseTopic with the correlationData",
    async () => {
      const { print, out } = lines();
      const r = await clientRpcMath({ host, port, prefix: `${uniqueTopic("rpc")}/`, print });
      expect(r).toEqual({ reply: 12, correlated: true });
      expect(out).toContain("Server: add(7, 5) = 12");
    },
    T,
  );

  it(
    "publish-single: one message through publish.single",
    async () => {
      const topic = uniqueTopic("publish-single");
      const got = await watch(topic);
      await publishSingle({ host, port, topic });
      await until("the message", () => got.length === 1);
      expect(got[0]?.text()).toBe("payload");
    },
    T,
  );

  it(
    "publish-multiple: a dict and a tuple, in order",
    async () => {
      const topic = uniqueTopic("publish-multiple");
      const got = await watch(topic);
      await publishMultiple({ host, port, topic });
      await until("two messages", () => got.length === 2);
      expect(got.map((m) => m.text())).toEqual(["multiple 1", "multiple 2"]);
    },
    T,
  );

  it(
    "subscribe-simple: two messages, a retained one skipped, topics and payloads printed",
    async () => {
      const topic = uniqueTopic("subscribe-simple");
      const setter = await plainClient();
      await setter.publish(topic, "old retained", 1, true).waitForPublish(2_000);
      try {
        const { print, out } = lines();
        const msgs = await feed(subscribeSimple({ host, port, topics: [topic], print }), topic);
        expect(msgs).toHaveLength(2);
        expect(msgs.every((m) => !m.retain && m.text().startsWith("msg "))).toBe(true);
        expect(out).toEqual([topic, `b'${msgs[0]?.text()}'`, topic, `b'${msgs[1]?.text()}'`]);
      } finally {
        await setter.publish(topic, null, 1, true).waitForPublish(2_000);
      }
    },
    T,
  );

  it(
    "subscribe-callback: the callback prints 'topic : payload' and its disconnect() resolves the call",
    async () => {
      const topic = uniqueTopic("subscribe-callback");
      const { print, out } = lines();
      const seen = await feed(subscribeCallback({ host, port, topic, count: 2, print }), topic);
      expect(seen).toBe(2);
      expect(out).toHaveLength(2);
      expect(out[0]).toMatch(new RegExp(`^${topic} : b'msg \\d+'$`));
    },
    T,
  );

  it(
    "client-sub-multiple-callback: messageCallbackAdd routes messages/# and bytes/#; the rest goes to onMessage",
    async () => {
      const base = uniqueTopic("multi-cb");
      const { print, out } = lines();
      let ready!: () => void;
      const subscribed = new Promise<void>((r) => (ready = r));
      const running = clientSubMultipleCallback({ host, port, base, count: 3, print, onReady: () => ready() });
      await subscribed;
      const sender = await plainClient();
      sender.publish(`${base}/broker/messages/received`, "1", 1);
      sender.publish(`${base}/broker/bytes/sent`, "2", 1);
      sender.publish(`${base}/broker/uptime`, "3", 1);
      const routed = await running;
      expect(routed).toEqual([
        ["msgs", `${base}/broker/messages/received`],
        ["bytes", `${base}/broker/bytes/sent`],
        ["other", `${base}/broker/uptime`],
      ]);
      expect(out[0]).toMatch(/^MESSAGES: /);
      expect(out[1]).toMatch(/^BYTES: /);
    },
    T,
  );

  it(
    "client-logger: enableLogger(logger) receives the client's log lines",
    async () => {
      const topic = uniqueTopic("logger");
      const logged: string[] = [];
      const logger = { debug: (m: string) => logged.push(m), info: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };
      let ready!: () => void;
      const subscribed = new Promise<void>((r) => (ready = r));
      const running = clientLogger({ host, port, topic, logger, print: () => undefined, onReady: () => ready() });
      await subscribed;
      (await plainClient()).publish(topic, "log me", 0);
      expect(await running).toBe(0);
      expect(logged.some((l) => l.startsWith("Sending CONNECT"))).toBe(true);
      expect(logged.some((l) => l.startsWith("Received CONNACK"))).toBe(true);
      expect(logged.some((l) => l.startsWith("Received PUBLISH"))).toBe(true);
      expect(logged.some((l) => l.startsWith("Sending DISCONNECT"))).toBe(true);
    },
    T,
  );

  it.each([0, 1, 2] as const)(
    "loop-select: the application's own select loop (loopRead/loopWrite/loopMisc + socket hooks) at QoS %i",
    async (qos) => {
      const { print, out } = lines();
      const r = await loopSelect({ host, port, topic: uniqueTopic("loop-select"), count: 20, qos, print });
      expect(r.received).toBe(20);
      expect(r.disconnectReason).toBe("Normal disconnection");
      expect(r.reads).toBeGreaterThan(0);
      expect(r.writes).toBeGreaterThan(0);
      expect(out).toContain("Socket opened");
      expect(out.at(-1)).toBe("Disconnected: Normal disconnection");
    },
    T,
  );
});
