// Scenarios the client's tests run against more than one broker: the throwaway
// mosquitto (client.*.broker.test.ts) and Aedes (client.aedes.test.ts). Each is
// written once here and takes the broker to run against and how a session is
// kept on it, so the two suites cannot drift apart.
import { uniqueClientId, uniqueTopic } from "@sansmqtt/test-broker";
import { expect } from "vitest";
import { MQTT_ERR_SUCCESS, type Client, type ClientOptions, type ConnectFlags, type ConnectOptions, type MQTTMessage } from "../src/index.js";
import { sleep, waitFor, type Clients } from "./helpers.js";

/** The broker a scenario runs against. */
export interface Broker {
  readonly host: string;
  readonly port: number;
  /**
   * Whether it sets DUP on a QoS 1 re-delivery [MQTT-3.3.1-1]: mosquitto does;
   * Aedes 1.2.0 resends the stored packet with DUP 0 (moscajs/aedes#601, open),
   * so there the client must not depend on it.
   */
  readonly setsDupOnResend: boolean;
}

/**
 * How a session outlives its connection for a protocol: 3.1.1 cleanSession
 * false at construction; MQTT 5 a session expiry on CONNECT, and cleanStart
 * false on a later explicit connect() (FIRST_ONLY, the default, starts clean on
 * every connect() call, as Paho).
 */
export interface SessionKeeping {
  /** Client options (the protocol included). */
  readonly keep: ClientOptions;
  /** Connect options of the first connection, and of one that resumes. */
  readonly first: ConnectOptions;
  readonly resume: ConnectOptions;
}

/** Connects with loopStart; resolves with the session present flag of the accepting CONNACK. */
export async function open(c: Client, broker: Broker, options: ConnectOptions = {}): Promise<boolean> {
  let flag: boolean | undefined;
  const previous = c.onConnect;
  c.onConnect = (client, u, flags, rc, props) => {
    expect(rc.isFailure).toBe(false);
    flag = flags.sessionPresent;
    previous?.(client, u, flags, rc, props);
  };
  await c.connect(broker.host, broker.port, 30, options);
  c.loopStart();
  return waitFor("onConnect", () => (flag === undefined ? undefined : { flag })).then((x) => x.flag);
}

/** disconnect(), and waits for onDisconnect and the end of loopStart's loop. */
export async function close(c: Client): Promise<void> {
  let gone = false;
  c.onDisconnect = () => (gone = true);
  c.disconnect();
  await waitFor("onDisconnect", () => gone);
  await c.loopStop();
}

/** Subscribes and waits for the SUBACK of that request (other SUBACKs still reach onSubscribe); resolves with its granted codes. */
export async function subscribed(c: Client, ...args: Parameters<Client["subscribe"]>): Promise<number[]> {
  let codes: number[] | undefined;
  let mid: number | undefined;
  const previous = c.onSubscribe;
  c.onSubscribe = (client, u, m, reasonCodes, props) => {
    if (m === mid) codes = reasonCodes.map((r) => r.value);
    previous?.(client, u, m, reasonCodes, props);
  };
  try {
    const [rc, requested] = c.subscribe(...args);
    expect(rc).toBe(MQTT_ERR_SUCCESS);
    mid = requested;
    return await waitFor("SUBACK", () => codes);
  } finally {
    c.onSubscribe = previous;
  }
}

/** A connected client to publish with (3.1.1 unless `options` say otherwise). */
export async function publisher(clients: Clients, broker: Broker, options: ClientOptions = {}): Promise<Client> {
  const p = clients.make("pub", options);
  await open(p, broker);
  return p;
}

/** A persistent session that has received one message; what the scenarios go on from. */
interface OneReceived {
  /** The subscriber: its session outlives its connections; loopStart. */
  c: Client;
  /** The flags of every accepting onConnect, reconnections too. */
  connects: ConnectFlags[];
  topic: string;
  got: MQTTMessage[];
  /** What `c.wantWrite()` said inside each onMessage call. */
  wantWriteInCallback: boolean[];
  /** A connected client that published the message. */
  p: Client;
}

/** Connects a persistent-session client, subscribes it at `qos`, and has `text` published to it once and received. */
async function oneReceived(clients: Clients, broker: Broker, s: SessionKeeping, label: string, qos: 1 | 2, manualAck: boolean, text: string): Promise<OneReceived> {
  const connects: ConnectFlags[] = [];
  const c = clients.make(label, { ...s.keep, clientId: uniqueClientId(label), manualAck });
  c.onConnect = (_c, _u, flags, rc) => {
    if (!rc.isFailure) connects.push(flags);
  };
  const got: MQTTMessage[] = [];
  const wantWriteInCallback: boolean[] = [];
  c.onMessage = (client, _u, m) => {
    got.push(m);
    wantWriteInCallback.push(client.wantWrite());
  };
  await c.connect(broker.host, broker.port, 30, s.first);
  c.loopStart();
  await waitFor("onConnect", () => connects.length > 0);
  const topic = uniqueTopic(label);
  await subscribed(c, topic, qos);
  const p = await publisher(clients, broker);
  await p.publish(topic, text, qos).waitForPublish(5_000);
  await waitFor("the message", () => got.length === 1);
  return { c, connects, topic, got, wantWriteInCallback, p };
}

/** reconnect(), and the next onConnect resumes the session (session present). */
async function resume({ c, connects }: OneReceived): Promise<void> {
  const n = connects.length + 1;
  await c.reconnect();
  await waitFor(`onConnect ${n}`, () => connects.length === n);
  expect(connects[n - 1]!.sessionPresent).toBe(true);
}

/**
 * QoS 1 and 2 messages published while a client is away arrive when its
 * session resumes, on the same Client or a new one with the same id; the
 * subscription is part of the session and still delivers.
 */
export async function offlineMessagesArrive(clients: Clients, broker: Broker, s: SessionKeeping, which: "the same Client" | "a new Client with the same id"): Promise<void> {
  const clientId = uniqueClientId("offline");
  const topic = uniqueTopic("offline");
  const a = clients.make("offline", { ...s.keep, clientId });
  expect(await open(a, broker, s.first)).toBe(false);
  await subscribed(a, topic, 2);
  await close(a);

  const p = await publisher(clients, broker);
  await p.publish(topic, "while away 1", 1).waitForPublish(5_000);
  await p.publish(topic, "while away 2", 2).waitForPublish(5_000);

  const b = which === "the same Client" ? a : clients.make("offline", { ...s.keep, clientId });
  const got: MQTTMessage[] = [];
  b.onMessage = (_c, _u, m) => got.push(m);
  expect(await open(b, broker, s.resume)).toBe(true);
  await waitFor("both offline messages", () => got.length === 2);
  expect(got.map((m) => [m.topic, m.text(), m.qos, m.retain])).toEqual([
    [topic, "while away 1", 1, false],
    [topic, "while away 2", 2, false],
  ]);
  await p.publish(topic, "after", 1).waitForPublish(5_000);
  await waitFor("the live message", () => got.length === 3);
}

/**
 * manualAck, QoS 1: a message not acked comes again on the resumed session with
 * its packet id [MQTT-4.4.0-1] (and DUP, where the broker sets it); once acked
 * it does not.
 */
export async function manualAckQos1(clients: Clients, broker: Broker, s: SessionKeeping): Promise<void> {
  const r = await oneReceived(clients, broker, s, "manual-ack", 1, true, "ack me");
  const { c, got, p, topic } = r;
  expect(got[0]!.dup).toBe(false);
  await sleep(200);

  // Not acked: the broker sends it again on the resumed session.
  await resume(r);
  await waitFor("the message again", () => got.length === 2);
  expect([got[1]!.text(), got[1]!.mid]).toEqual(["ack me", got[0]!.mid]);
  if (broker.setsDupOnResend) expect(got[1]!.dup).toBe(true);

  expect(c.ack(got[1]!.mid, 1)).toBe(MQTT_ERR_SUCCESS);
  await sleep(200);
  await resume(r);
  await p.publish(topic, "marker", 1).waitForPublish(5_000);
  await waitFor("the marker", () => got.some((m) => m.text() === "marker"));
  expect(got.map((m) => m.text())).toEqual(["ack me", "ack me", "marker"]);
}

/**
 * manualAck, QoS 2: not acked, the broker's resend on the resumed session is not
 * delivered twice (the packet id is session state); ack() still completes it.
 */
export async function manualAckQos2(clients: Clients, broker: Broker, s: SessionKeeping): Promise<void> {
  const r = await oneReceived(clients, broker, s, "manual-ack2", 2, true, "exactly once");
  const { c, got, p, topic } = r;
  await sleep(200);

  await resume(r);
  // The broker resends the PUBLISH (no PUBREC came); a marker sent after it arrives after it.
  await p.publish(topic, "marker 1", 2).waitForPublish(5_000);
  await waitFor("the first marker", () => got.some((m) => m.text() === "marker 1"));
  expect(got.map((m) => m.text())).toEqual(["exactly once", "marker 1"]);

  expect(c.ack(got[0]!.mid, 2)).toBe(MQTT_ERR_SUCCESS);
  expect(c.ack(got[1]!.mid, 2)).toBe(MQTT_ERR_SUCCESS);
  await sleep(200);
  await resume(r);
  await p.publish(topic, "marker 2", 2).waitForPublish(5_000);
  await waitFor("the second marker", () => got.some((m) => m.text() === "marker 2"));
  expect(got.map((m) => m.text())).toEqual(["exactly once", "marker 1", "marker 2"]);
}

/**
 * loopStart reconnects after the socket is cut, on a new socket; a subscription
 * made in onConnect works again; onDisconnect once per lost connection; the
 * loop stops cleanly afterwards with the client still connected.
 */
export async function reconnectResubscribes(clients: Clients, broker: Broker, options: ClientOptions = {}): Promise<void> {
  const c = clients.make("reconnect", options);
  c.reconnectDelaySet(0.05, 0.2);
  const topic = uniqueTopic("reconnect");
  let connects = 0;
  let subacks = 0;
  let disconnects = 0;
  const got: string[] = [];
  c.onConnect = (client) => {
    connects++;
    client.subscribe(topic, 1);
  };
  c.onSubscribe = () => subacks++;
  c.onDisconnect = () => disconnects++;
  c.onMessage = (_c, _u, m) => got.push(m.text());
  await c.connect(broker.host, broker.port, 30);
  c.loopStart();
  await waitFor("first SUBACK", () => subacks === 1);
  const first = c.socket();
  (first as { destroy(): void }).destroy();
  await waitFor("second onConnect", () => connects === 2);
  await waitFor("second SUBACK", () => subacks === 2);
  expect(c.socket()).not.toBe(first);
  expect(disconnects).toBe(1);
  await c.publish(topic, "after", 1).waitForPublish(5_000);
  await waitFor("the message after reconnecting", () => got.includes("after"));
  expect(await c.loopStop()).toBe(MQTT_ERR_SUCCESS);
  expect(c.isConnected()).toBe(true);
  expect(disconnects).toBe(1);
}

/**
 * loop(): one turn at a time, with no loopStart, drives connect, subscribe, a
 * publish at `qos` to that subscription, and disconnect once both the PUBACK /
 * PUBCOMP and the message are in (they come back in either order).
 */
export async function manualLoop(clients: Clients, broker: Broker, qos: 1 | 2, options: ClientOptions = {}): Promise<void> {
  const c = clients.make("manual-loop", options);
  const topic = uniqueTopic("manual-loop");
  const events: string[] = [];
  const done = (client: Client): void => {
    if (events.includes("puback") && events.includes("message")) client.disconnect();
  };
  c.onConnect = (client) => {
    events.push("connect");
    client.subscribe(topic, qos);
  };
  c.onSubscribe = (client) => {
    events.push("suback");
    client.publish(topic, "m", qos);
  };
  c.onPublish = (client) => {
    events.push("puback");
    done(client);
  };
  c.onMessage = (client) => {
    events.push("message");
    done(client);
  };
  c.onDisconnect = () => events.push("disconnect");
  await c.connect(broker.host, broker.port, 30);
  // Bounded: at most 5 s of turns.
  const until = performance.now() + 5_000;
  while (!events.includes("disconnect") && performance.now() < until) await c.loop(100);
  expect(events.slice(0, 2)).toEqual(["connect", "suback"]);
  expect(events).toContain("puback");
  expect(events).toContain("message");
  expect(events.filter((e) => e === "disconnect")).toHaveLength(1);
  expect(events.at(-1)).toBe("disconnect");
}

/**
 * Automatic acks: nothing for a message is queued while onMessage runs (Paho
 * acks after the callback); the loop then writes the ack (at QoS 2 the whole
 * PUBREC / PUBREL / PUBCOMP exchange), so the resumed session has nothing to
 * resend: a marker published after reconnecting is the next message.
 */
export async function autoAck(clients: Clients, broker: Broker, s: SessionKeeping, qos: 1 | 2): Promise<void> {
  const r = await oneReceived(clients, broker, s, "auto-ack", qos, false, "once");
  const { c, got, p, topic } = r;
  expect(r.wantWriteInCallback).toEqual([false]);
  await sleep(200);
  expect(c.wantWrite()).toBe(false);

  await resume(r);
  await p.publish(topic, "marker", qos).waitForPublish(5_000);
  await waitFor("the marker", () => got.some((m) => m.text() === "marker"));
  // Anything the broker still held for us would have come before the marker.
  expect(got.map((m) => m.text())).toEqual(["once", "marker"]);
}
