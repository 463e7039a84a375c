// Credentials against the throwaway broker's password-protected listener
// (scripts/with-broker.sh: MQTT_AUTH_PORT, anonymous clients refused): the right
// ones connect; wrong or missing ones give onConnect a failure ReasonCode (3.1.1
// return codes mapped as Paho maps them), onDisconnect once, and a pending
// message's waitForPublish rejects when no reconnect will follow.
import { brokerEnv, brokerPort, uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { MQTT_ERR_CONN_LOST, MQTT_ERR_NO_CONN, MQTTv311, MQTTv5, PacketTypes, PublishError, type ReasonCode } from "../src/index.js";
import { Clients, HOST, connectStarted, sleep, waitFor } from "./helpers.js";

const clients = new Clients();
afterEach(() => clients.cleanup());

const AUTH_PORT = (): number => brokerPort("MQTT_AUTH_PORT");
const USER = (): string => brokerEnv("MQTT_AUTH_USERNAME");
const PASSWORD = (): string => brokerEnv("MQTT_AUTH_PASSWORD");

describe.each([
  ["3.1.1", MQTTv311],
  ["5", MQTTv5],
] as const)("MQTT %s", (_name, protocol) => {
  it("the right user name and password connect, and messages flow", async () => {
    const c = clients.make("auth-ok", { protocol });
    c.usernamePwSet(USER(), PASSWORD());
    const topic = uniqueTopic("auth-ok");
    const got: string[] = [];
    let subscribed = false;
    c.onSubscribe = () => (subscribed = true);
    c.onMessage = (_c, _u, m) => got.push(m.text());
    c.onConnect = (client, _u, _f, rc) => {
      if (!rc.isFailure) client.subscribe(topic, 1);
    };
    await connectStarted(c, AUTH_PORT());
    await waitFor("onSubscribe", () => subscribed);
    await c.publish(topic, "authenticated", 1).waitForPublish(5_000);
    await waitFor("the message", () => got.includes("authenticated"));
  });

  // mosquitto 2.0.11 refuses every one of these with "not authorized" (3.1.1
  // return code 5, MQTT 5 0x87), a wrong password included: it never sends
  // "bad user name or password" (4 / 0x86) for a password_file check.
  const cases: Array<[string, (() => string) | undefined, string | undefined]> = [
    ["a wrong password", USER, "wrong"],
    ["an unknown user", () => "sansmqtt-nobody", "x"],
    ["no credentials", undefined, undefined],
  ];
  it.each(cases)("%s: onConnect with the failure code, onDisconnect once, a pending message rejects", async (_what, user, password) => {
    const code = 0x87;
    const name = "Not authorized";
    const c = clients.make("auth-bad", { protocol, reconnectOnFailure: false });
    if (user !== undefined) c.usernamePwSet(user(), password);
    const connects: Array<[boolean, ReasonCode]> = [];
    const disconnects: ReasonCode[] = [];
    c.onConnect = (_c, _u, flags, rc) => connects.push([flags.sessionPresent, rc]);
    c.onDisconnect = (_c, _u, _f, rc) => disconnects.push(rc);
    let published = 0;
    c.onPublish = () => published++;
    // Queued before connecting: it would go out after a CONNACK that accepts.
    const info = c.publish(uniqueTopic("auth-bad"), "never", 1);
    expect(info.rc).toBe(MQTT_ERR_NO_CONN);
    const rejected = info.waitForPublish(5_000).catch((e: unknown) => e);

    await c.connect(HOST(), AUTH_PORT(), 30);
    c.loopStart();
    await waitFor("onConnect", () => connects.length > 0);
    const [sessionPresent, rc] = connects[0]!;
    expect(sessionPresent).toBe(false);
    // 3.1.1's return code 5 becomes 0x87, as Paho converts it.
    expect(rc.value).toBe(code);
    expect(rc.packetType).toBe(PacketTypes.CONNACK);
    expect(rc.isFailure).toBe(true);
    expect(rc.getName()).toBe(name);

    const err = await rejected;
    expect(err).toBeInstanceOf(PublishError);
    expect((err as PublishError).rc).toBe(MQTT_ERR_CONN_LOST);
    expect(() => info.isPublished()).toThrow(PublishError);

    await waitFor("onDisconnect", () => disconnects.length > 0);
    await sleep(200);
    expect(disconnects).toHaveLength(1);
    expect(disconnects[0]!.value).toBe(code);
    expect(connects).toHaveLength(1);
    expect(published).toBe(0);
    expect(c.isConnected()).toBe(false);
  });

  it("a wrong password with reconnect on: tried again with backoff (onConnect refused and onDisconnect each time), the pending message waits; disconnect() ends it", async () => {
    const c = clients.make("auth-retry", { protocol });
    c.reconnectDelaySet(0.05, 0.1);
    c.usernamePwSet(USER(), "wrong");
    const refusals: number[] = [];
    let disconnects = 0;
    c.onConnect = (_c, _u, _f, rc) => refusals.push(rc.value);
    c.onDisconnect = () => disconnects++;
    const info = c.publish(uniqueTopic("auth-retry"), "never", 1);
    await c.connect(HOST(), AUTH_PORT(), 30);
    c.loopStart();
    await waitFor("three refusals", () => refusals.length >= 3);
    expect(new Set(refusals)).toEqual(new Set([0x87]));
    // The loop will try again: the message is still pending, not failed.
    expect(info.isPublished()).toBe(false);
    c.disconnect();
    const err = await info.waitForPublish(5_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    await c.loopStop();
    const settled = [refusals.length, disconnects];
    await sleep(300);
    // Stopped: no more attempts; one onDisconnect for each refused connection.
    expect([refusals.length, disconnects]).toEqual(settled);
    expect(disconnects).toBe(refusals.length);
  });
});
