// MQTT 3.1 (protocol MQTTv31, "MQIsdp" level 3) against the throwaway
// mosquitto: connect (with the random client id Paho generates when none is
// given), subscribe, publish and receive at each QoS, unsubscribe, disconnect.
import { uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { MQTT_ERR_SUCCESS, MQTTv31, type MQTTMessage, type ReasonCode } from "../src/index.js";
import { Clients, HOST, TCP_PORT, connectStarted, sleep, waitFor } from "./helpers.js";

const clients = new Clients();
afterEach(() => clients.cleanup());

// The helpers' ids are longer than the 23 characters MQTT 3.1 allows: let the client generate one.
const V31 = { protocol: MQTTv31, clientId: "" } as const;

describe("MQTT 3.1", () => {
  it("a client without an id gets a random 22-character one, which the broker accepts", async () => {
    const c = clients.make("v31-id", { protocol: MQTTv31, clientId: "" });
    // 3.1 servers may refuse ids over 23 characters; Paho's generated ones are 22.
    expect(c.clientId).toMatch(/^[0-9A-Za-z]{22}$/);
    const codes: ReasonCode[] = [];
    c.onConnect = (_c, _u, flags, rc) => {
      expect(flags.sessionPresent).toBe(false);
      codes.push(rc);
    };
    await connectStarted(c);
    expect(codes.map((rc) => rc.value)).toEqual([0]);
    expect(c.isConnected()).toBe(true);
  });

  it.each([0, 1, 2] as const)("subscribe, publish and receive at QoS %i; onSubscribe's granted QoS; onPublish", async (qos) => {
    const c = clients.make("v31", V31);
    const topic = uniqueTopic("v31");
    const got: MQTTMessage[] = [];
    const granted: number[][] = [];
    const published: number[] = [];
    c.onMessage = (_c, _u, m) => got.push(m);
    c.onSubscribe = (_c, _u, _mid, codes) => granted.push(codes.map((r) => r.value));
    c.onPublish = (_c, _u, mid) => published.push(mid);
    c.onConnect = (client) => void client.subscribe(topic, qos);
    await connectStarted(c);
    await waitFor("SUBACK", () => granted.length === 1);
    expect(granted[0]).toEqual([qos]);
    const info = c.publish(topic, `v31 qos ${qos}`, qos);
    expect(info.rc).toBe(MQTT_ERR_SUCCESS);
    await info.waitForPublish(5_000);
    await waitFor("onPublish", () => published.includes(info.mid));
    const m = await waitFor("the message", () => got[0]);
    expect([m.topic, m.text(), m.qos, m.retain, m.dup]).toEqual([topic, `v31 qos ${qos}`, qos, false, false]);
    expect(m.properties).toBeUndefined();
  });

  it("retained messages, unsubscribe and disconnect", async () => {
    const c = clients.make("v31-more", V31);
    const topic = uniqueTopic("v31-retained");
    const got: MQTTMessage[] = [];
    let subacks = 0;
    let unsubacks = 0;
    const disconnects: ReasonCode[] = [];
    c.onMessage = (_c, _u, m) => got.push(m);
    c.onSubscribe = () => subacks++;
    c.onUnsubscribe = (_c, _u, _mid, codes) => {
      // No reason codes before MQTT 5: an empty list, as Paho gives.
      expect(codes).toEqual([]);
      unsubacks++;
    };
    c.onDisconnect = (_c, _u, _f, rc) => disconnects.push(rc);
    await connectStarted(c);
    await c.publish(topic, "kept", 1, true).waitForPublish(5_000);
    c.subscribe(topic, 1);
    await waitFor("SUBACK", () => subacks === 1);
    const m = await waitFor("the retained message", () => got[0]);
    expect([m.text(), m.retain]).toEqual(["kept", true]);

    c.unsubscribe(topic);
    await waitFor("UNSUBACK", () => unsubacks === 1);
    await c.publish(topic, null, 1, true).waitForPublish(5_000);
    await sleep(200);
    expect(got).toHaveLength(1);

    c.disconnect();
    await waitFor("onDisconnect", () => disconnects.length === 1);
    expect(disconnects[0]!.value).toBe(0);
  });

  it("a persistent session (cleanSession false) resumes with the messages from while away (3.1 has no session present flag)", async () => {
    const clientId = `v31-${Math.random().toString(36).slice(2, 10)}`;
    const topic = uniqueTopic("v31-session");
    const a = clients.make("v31-session", { protocol: MQTTv31, clientId, cleanSession: false });
    let subscribed = false;
    a.onSubscribe = () => (subscribed = true);
    a.onConnect = (client) => void client.subscribe(topic, 1);
    await connectStarted(a);
    await waitFor("SUBACK", () => subscribed);
    let gone = false;
    a.onDisconnect = () => (gone = true);
    a.disconnect();
    await waitFor("onDisconnect", () => gone);
    await a.loopStop();

    const p = clients.make("v31-pub", V31);
    await connectStarted(p);
    await p.publish(topic, "while away", 1).waitForPublish(5_000);

    const got: string[] = [];
    const flags: boolean[] = [];
    a.onMessage = (_c, _u, m) => got.push(m.text());
    a.onConnect = (_c, _u, f) => flags.push(f.sessionPresent);
    await a.connect(HOST(), TCP_PORT(), 30);
    a.loopStart();
    await waitFor("the message from while away", () => got.length === 1);
    expect(got).toEqual(["while away"]);
    // MQTT 3.1's CONNACK has no session present flag: it reads as false.
    expect(flags).toEqual([false]);
  });
});
