// MQTT 5 features end to end through the throwaway mosquitto: subscription
// options (retain handling 0/1/2, retain as published; noLocal is in
// client.broker.test.ts), message properties kept from publisher to subscriber,
// message expiry of retained and queued messages, and overlapping
// subscriptions (with and without subscription identifiers) and unsubscribing
// one of them, for 3.1.1 too where it applies.
import { uniqueClientId, uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { MQTTv311, MQTTv5, SubscribeOptions, type Client, type MQTTMessage, type Properties } from "../src/index.js";
import { Clients, connectStarted, HOST, sleep, TCP_PORT, waitFor } from "./helpers.js";

const clients = new Clients();
afterEach(() => clients.cleanup());

/** A connected client that records its messages and counts SUBACKs / UNSUBACKs. */
async function receiver(label: string, protocol: 4 | 5 = MQTTv5) {
  const c = clients.make(label, { protocol });
  const got: MQTTMessage[] = [];
  let subacks = 0;
  let unsubacks = 0;
  c.onMessage = (_c, _u, m) => got.push(m);
  c.onSubscribe = () => subacks++;
  c.onUnsubscribe = () => unsubacks++;
  await connectStarted(c);
  return {
    c,
    got,
    /** subscribe(...args) and wait for its SUBACK. */
    async sub(...args: Parameters<Client["subscribe"]>): Promise<void> {
      const before = subacks;
      c.subscribe(...args);
      await waitFor("SUBACK", () => subacks > before);
    },
    async unsub(...args: Parameters<Client["unsubscribe"]>): Promise<void> {
      const before = unsubacks;
      c.unsubscribe(...args);
      await waitFor("UNSUBACK", () => unsubacks > before);
    },
  };
}

async function sender(protocol: 4 | 5 = MQTTv5): Promise<Client> {
  const p = clients.make("v5-pub", { protocol });
  await connectStarted(p);
  return p;
}

/** Publishes a marker on `topic` and waits until `got` has it: whatever the broker sent before it has arrived. */
async function fence(p: Client, topic: string, got: MQTTMessage[], text = "fence"): Promise<void> {
  await p.publish(topic, text, 1).waitForPublish(5_000);
  await waitFor(`the marker ${text}`, () => got.some((m) => m.topic === topic && m.text() === text));
}

describe("MQTT 5 subscription options", () => {
  it.each([
    // [retain handling, retained copies on the first subscribe, on subscribing again to the same filter]
    [SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE, 1, 1],
    [SubscribeOptions.RETAIN_SEND_IF_NEW_SUB, 1, 0],
    [SubscribeOptions.RETAIN_DO_NOT_SEND, 0, 0],
  ] as const)("retain handling %i: %i retained message(s) on subscribing, %i on subscribing again", async (rh, onFirst, onAgain) => {
    const topic = uniqueTopic(`rh${rh}`);
    const marker = `${topic}-marker`;
    const p = await sender();
    await p.publish(topic, "retained", 1, true).waitForPublish(5_000);
    const r = await receiver(`rh${rh}`);
    await r.sub(marker, 1);
    await r.sub(topic, 0, new SubscribeOptions(1, false, false, rh));
    await fence(p, marker, r.got, "after the first subscribe");
    expect(r.got.filter((m) => m.topic === topic).map((m) => [m.text(), m.retain])).toEqual(onFirst ? [["retained", true]] : []);
    await r.sub(topic, 0, new SubscribeOptions(1, false, false, rh));
    await fence(p, marker, r.got, "after subscribing again");
    expect(r.got.filter((m) => m.topic === topic)).toHaveLength(onFirst + onAgain);
    await p.publish(topic, null, 1, true).waitForPublish(5_000);
  });

  it.each([
    [true, true],
    [false, false],
  ] as const)("retainAsPublished %s: a live retained message arrives with retain %s", async (rap, flag) => {
    const topic = uniqueTopic("rap");
    const r = await receiver("rap");
    await r.sub(topic, 0, new SubscribeOptions(1, false, rap));
    const p = await sender();
    await p.publish(topic, "live", 1, true).waitForPublish(5_000);
    const m = await waitFor("the message", () => r.got[0]);
    expect(m.text()).toBe("live");
    expect(m.retain).toBe(flag);
    await p.publish(topic, null, 1, true).waitForPublish(5_000);
  });
});

describe("MQTT 5 message properties", () => {
  it("payload format indicator, content type, user properties, response topic and correlation data arrive as sent", async () => {
    const topic = uniqueTopic("props");
    const r = await receiver("props");
    await r.sub(topic, 1);
    const p = await sender();
    const sent: Properties = {
      payloadFormatIndicator: 1,
      contentType: "application/json; charset=utf-8",
      userProperties: [
        ["trace", "abc"],
        ["trace", "def"],
        ["ünïcode", "✓"],
      ],
      responseTopic: `${topic}/reply`,
      correlationData: Uint8Array.of(0, 1, 2, 255),
    };
    await p.publish(topic, '{"a":1}', 1, false, sent).waitForPublish(5_000);
    const m = await waitFor("the message", () => r.got[0]);
    expect(m.text()).toBe('{"a":1}');
    expect(m.properties?.payloadFormatIndicator).toBe(1);
    expect(m.properties?.contentType).toBe(sent.contentType);
    expect(m.properties?.userProperties).toEqual(sent.userProperties);
    expect(m.properties?.responseTopic).toBe(sent.responseTopic);
    expect([...(m.properties?.correlationData ?? [])]).toEqual([0, 1, 2, 255]);
  });

  it("payload format indicator 0 (bytes) is kept too, or left out as the default", async () => {
    const topic = uniqueTopic("pfi0");
    const r = await receiver("pfi0");
    await r.sub(topic, 1);
    const p = await sender();
    await p.publish(topic, Uint8Array.of(0xff, 0xfe), 1, false, { payloadFormatIndicator: 0 }).waitForPublish(5_000);
    const m = await waitFor("the message", () => r.got[0]);
    expect([...m.payload]).toEqual([0xff, 0xfe]);
    expect(m.properties?.payloadFormatIndicator ?? 0).toBe(0);
  });
});

// mosquitto counts expiry in whole seconds of a clock it reads once per turn of
// its loop, so a 1 s interval can last almost 2 s more: wait 3 s, not 2.
const EXPIRED_AFTER_MS = 3_000;

describe("MQTT 5 message expiry", () => {
  it("a retained message with messageExpiryInterval 1 s is not delivered 3 s later; one without expiry is", async () => {
    const expiring = uniqueTopic("expiry-retained");
    const lasting = `${expiring}-lasting`;
    const p = await sender();
    await p.publish(expiring, "expires", 1, true, { messageExpiryInterval: 1 }).waitForPublish(5_000);
    await p.publish(lasting, "stays", 1, true).waitForPublish(5_000);
    await sleep(EXPIRED_AFTER_MS);
    const r = await receiver("expiry-retained");
    await r.sub(lasting, 1);
    await r.sub(expiring, 1);
    await waitFor("the lasting retained message", () => r.got.some((m) => m.topic === lasting));
    await fence(p, expiring, r.got);
    expect(r.got.map((m) => m.text())).toEqual(["stays", "fence"]);
    await p.publish(lasting, null, 1, true).waitForPublish(5_000);
  });

  it("a message queued for an offline session with messageExpiryInterval 1 s is not delivered 3 s later", async () => {
    const clientId = uniqueClientId("expiry-queued");
    const topic = uniqueTopic("expiry-queued");
    const away = clients.make("expiry-queued", { protocol: MQTTv5, clientId });
    let subscribed = false;
    away.onSubscribe = () => (subscribed = true);
    away.onConnect = (c) => void c.subscribe(topic, 1);
    await away.connect(HOST(), TCP_PORT(), 30, { properties: { sessionExpiryInterval: 60 } });
    away.loopStart();
    await waitFor("SUBACK", () => subscribed);
    let gone = false;
    away.onDisconnect = () => (gone = true);
    away.disconnect();
    await waitFor("onDisconnect", () => gone);
    await away.loopStop();

    const p = await sender();
    await p.publish(topic, "expires", 1, false, { messageExpiryInterval: 1 }).waitForPublish(5_000);
    await p.publish(topic, "stays", 1, false, { messageExpiryInterval: 60 }).waitForPublish(5_000);
    await sleep(EXPIRED_AFTER_MS);
    const got: MQTTMessage[] = [];
    away.onMessage = (_c, _u, m) => got.push(m);
    away.onConnect = undefined;
    await away.connect(HOST(), TCP_PORT(), 30, { cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    away.loopStart();
    await waitFor("the lasting message", () => got.length > 0);
    await sleep(200);
    expect(got.map((m) => m.text())).toEqual(["stays"]);
    // The broker sends what is left of the interval (about 58 s of 60).
    const left = got[0]!.properties?.messageExpiryInterval;
    expect(left).toBeGreaterThan(50);
    expect(left).toBeLessThanOrEqual(60);
  });
});

describe.each([
  ["3.1.1", MQTTv311],
  ["5", MQTTv5],
] as const)("overlapping subscriptions, MQTT %s", (_name, protocol) => {
  // Both are allowed [MQTT-3.3.4-2]. Observed with mosquitto 2.0.11: an MQTT 5
  // client gets one copy per matching subscription, a 3.1.1 client one copy.
  const overlapCopies = protocol === 5 ? 2 : 1;
  it(`two overlapping filters: ${overlapCopies} cop${overlapCopies === 1 ? "y" : "ies"}; unsubscribing one leaves one, unsubscribing both none`, async () => {
    const base = uniqueTopic("overlap");
    const topic = `${base}/x`;
    const marker = `${base}-marker`;
    const r = await receiver("overlap", protocol);
    await r.sub([
      [`${base}/#`, 1],
      [`${base}/+`, 1],
      [marker, 1],
    ]);
    const p = await sender(protocol);
    const copies = (text: string): number => r.got.filter((m) => m.topic === topic && m.text() === text).length;
    await p.publish(topic, "both", 1).waitForPublish(5_000);
    await fence(p, marker, r.got, "after both");
    expect(copies("both")).toBe(overlapCopies);

    await r.unsub(`${base}/#`);
    await p.publish(topic, "one", 1).waitForPublish(5_000);
    await fence(p, marker, r.got, "after one");
    expect(copies("one")).toBe(1);

    await r.unsub(`${base}/+`);
    await p.publish(topic, "none", 1).waitForPublish(5_000);
    await fence(p, marker, r.got, "after none");
    expect(copies("none")).toBe(0);
  });
});

describe("MQTT 5 subscription identifiers", () => {
  it("overlapping subscriptions with identifiers: one copy per subscription, each with its own identifier", async () => {
    const base = uniqueTopic("subid");
    const topic = `${base}/x`;
    const r = await receiver("subid");
    await r.sub(`${base}/#`, 1, undefined, { subscriptionIdentifiers: [11] });
    await r.sub(`${base}/+`, 1, undefined, { subscriptionIdentifiers: [22] });
    const p = await sender();
    await p.publish(topic, "tagged", 1).waitForPublish(5_000);
    await waitFor("two copies", () => r.got.length === 2);
    await sleep(100);
    expect(r.got).toHaveLength(2);
    expect(r.got.map((m) => m.properties?.subscriptionIdentifiers).sort()).toEqual([[11], [22]]);
  });
});
