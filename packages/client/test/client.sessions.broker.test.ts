// Sessions against the throwaway mosquitto: QoS 1/2 messages published while a
// client is away reach it when its session resumes (3.1.1 cleanSession false;
// MQTT 5 a session expiry and cleanStart false), with the session present flag
// in onConnect; a clean session or an expiry of 0 keeps nothing.
import { uniqueClientId, uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { MQTTv311, MQTTv5, type ClientOptions, type ConnectOptions } from "../src/index.js";
import { Clients, HOST, TCP_PORT, connectStarted, sleep } from "./helpers.js";
import { close, offlineMessagesArrive, open, subscribed, type Broker } from "./scenarios.js";

const clients = new Clients();
afterEach(() => clients.cleanup());

/** The throwaway mosquitto's plain listener, as the shared scenarios take it. */
const mosquitto = (): Broker => ({ host: HOST(), port: TCP_PORT(), setsDupOnResend: true });

describe.each([
  ["3.1.1", MQTTv311],
  ["5", MQTTv5],
] as const)("MQTT %s", (_name, protocol) => {
  // What keeps the session: 3.1.1 cleanSession false at construction; MQTT 5 a
  // session expiry on CONNECT, and cleanStart false on a later explicit connect()
  // (FIRST_ONLY, the default, starts clean on every connect() call, as Paho).
  const keep: ClientOptions = protocol === 5 ? { protocol } : { protocol, cleanSession: false };
  const first: ConnectOptions = protocol === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
  const resume: ConnectOptions = protocol === 5 ? { cleanStart: false, properties: { sessionExpiryInterval: 60 } } : {};

  it.each(["the same Client", "a new Client with the same id"] as const)(
    "messages published while away arrive when the session resumes (%s); session present in onConnect",
    (which) => offlineMessagesArrive(clients, mosquitto(), { keep, first, resume }, which),
  );

  it("a clean session keeps nothing: no session present, no messages from while away", async () => {
    const clientId = uniqueClientId("clean");
    const topic = uniqueTopic("clean");
    // 3.1.1: cleanSession true (the default); MQTT 5: no session expiry (0, the default).
    const a = clients.make("clean", { protocol, clientId });
    expect(await open(a, mosquitto())).toBe(false);
    await subscribed(a, topic, 1);
    await close(a);
    const p = clients.make("clean-pub");
    await connectStarted(p);
    await p.publish(topic, "lost", 1).waitForPublish(5_000);

    const b = clients.make("clean", { protocol, clientId });
    const got: string[] = [];
    b.onMessage = (_c, _u, m) => got.push(m.text());
    expect(await open(b, mosquitto(), protocol === 5 ? { cleanStart: false } : {})).toBe(false);
    await sleep(300);
    expect(got).toEqual([]);
  });
});

describe("MQTT 5 sessions", () => {
  it("cleanStart FIRST_ONLY (the default) discards the session on a new connect() call, as Paho", async () => {
    const clientId = uniqueClientId("first-only");
    const topic = uniqueTopic("first-only");
    const a = clients.make("first-only", { protocol: MQTTv5, clientId });
    expect(await open(a, mosquitto(), { properties: { sessionExpiryInterval: 60 } })).toBe(false);
    await subscribed(a, topic, 1);
    await close(a);
    const p = clients.make("first-only-pub");
    await connectStarted(p);
    await p.publish(topic, "dropped", 1).waitForPublish(5_000);
    const got: string[] = [];
    a.onMessage = (_c, _u, m) => got.push(m.text());
    expect(await open(a, mosquitto(), { properties: { sessionExpiryInterval: 60 } })).toBe(false);
    await sleep(300);
    expect(got).toEqual([]);
  });

  it("a session that expired while away is gone (sessionExpiryInterval 1 s, back after 2 s)", async () => {
    const clientId = uniqueClientId("expired");
    const topic = uniqueTopic("expired");
    const a = clients.make("expired", { protocol: MQTTv5, clientId });
    expect(await open(a, mosquitto(), { properties: { sessionExpiryInterval: 1 } })).toBe(false);
    await subscribed(a, topic, 1);
    await close(a);
    await sleep(2_100);
    const p = clients.make("expired-pub");
    await connectStarted(p);
    await p.publish(topic, "nobody", 1).waitForPublish(5_000);
    const got: string[] = [];
    a.onMessage = (_c, _u, m) => got.push(m.text());
    expect(await open(a, mosquitto(), { cleanStart: false, properties: { sessionExpiryInterval: 1 } })).toBe(false);
    await sleep(300);
    expect(got).toEqual([]);
  });
});
