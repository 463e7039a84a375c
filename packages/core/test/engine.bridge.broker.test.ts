/**
 * Bridge mode (`bridge: true`, Paho's enable_bridge_mode) against the real
 * mosquitto of scripts/with-broker.sh (MQTT_HOST, MQTT_TCP_PORT): the engine
 * over a plain node:net socket, driven in the polling order.
 *
 * mosquitto reads the protocol level's top bit as "this client is a bridge"
 * (try_private) for MQTT 3.1 and 3.1.1. A bridge's subscriptions are No
 * Local and Retain As Published, so a message the bridge publishes is not
 * sent back to it, where an ordinary client subscribed to the same topic gets
 * its own message, and it gets retained messages with their retain flag.
 * mosquitto 2.0 does not take the bit on MQTT 5 (level 0x85): it drops the
 * connection as a protocol error, without a CONNACK (asserted below, as seen).
 */
import net from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { type ConnectionOptions, type Event, MqttConnection, type ProtocolVersion } from "../src/index.js";

const te = new TextEncoder();
const td = new TextDecoder();

function broker(): { host: string; port: number } {
  const host = process.env.MQTT_HOST;
  const port = Number(process.env.MQTT_TCP_PORT);
  if (!host || !port) throw new Error("MQTT_HOST / MQTT_TCP_PORT are not set: run under bash scripts/with-broker.sh (scripts/test.sh does)");
  return { host, port };
}

/** One engine over one socket: every event kept, `next` waits for one that matches. */
class Driver {
  readonly conn: MqttConnection;
  readonly events: Event[] = [];
  private readonly socket: net.Socket;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];

  constructor(options: ConnectionOptions) {
    this.conn = new MqttConnection(options);
    const { host, port } = broker();
    this.socket = net.connect({ host, port });
    this.socket.on("connect", () => {
      this.conn.connect(this.now());
      this.drive();
    });
    this.socket.on("data", (chunk) => {
      this.conn.receiveData(this.now(), chunk);
      this.drive();
    });
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      this.conn.connectionLost(this.now());
      this.drive();
    });
  }

  now(): number {
    return performance.now();
  }

  /** Runs a command at the current time, then the polling order. */
  run<T>(f: (c: MqttConnection, now: number) => T): T {
    const r = f(this.conn, this.now());
    this.drive();
    return r;
  }

  /** The first event (seen or to come) that matches, within `ms`. */
  async next(match: (e: Event) => boolean, ms = 5_000): Promise<Event> {
    const deadline = Date.now() + ms;
    for (;;) {
      const e = this.events.find(match);
      if (e !== undefined) return e;
      if (Date.now() > deadline) throw new Error(`no matching event in ${ms} ms; events: ${JSON.stringify(this.events.map((x) => x.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The payloads of the messages received, as text. */
  messages(): string[] {
    return this.events.flatMap((e) => (e.type === "message" ? [td.decode(e.payload)] : []));
  }

  close(): void {
    clearTimeout(this.timer);
    this.socket.destroy();
  }

  private drive(): void {
    do {
      for (let e = this.conn.pollEvent(this.now()); e !== undefined; e = this.conn.pollEvent(this.now())) this.events.push(e);
      for (const chunk of this.conn.pollTransmit(this.now())) this.socket.write(chunk);
    } while (this.conn.wantsEvents());
    for (const w of this.waiters.splice(0)) w();
    clearTimeout(this.timer);
    if (this.conn.state === "closed") {
      this.socket.end();
      return;
    }
    const at = this.conn.pollTimeout();
    if (at !== undefined) this.timer = setTimeout(() => (this.conn.handleTimeout(this.now()), this.drive()), Math.max(0, at - this.now()));
  }
}

const open: Driver[] = [];
function client(options: ConnectionOptions): Driver {
  const d = new Driver(options);
  open.push(d);
  return d;
}
afterEach(() => {
  for (const d of open.splice(0)) d.close();
});

let serial = 0;
const unique = (what: string): string => `sansmqtt-${what}-${process.pid}-${++serial}`;

/** Publishes `payload` to `topic` from a new ordinary client (QoS 1, acked), then disconnects it. */
async function publishFromAnother(version: ProtocolVersion, topic: string, payload: string, retain = false): Promise<void> {
  const other = client({ protocolVersion: version, clientId: unique("other") });
  await other.next((e) => e.type === "connected");
  const mid = other.run((c, t) => c.publish(t, { topic, payload: te.encode(payload), qos: 1, retain }));
  await other.next((e) => e.type === "published" && e.mid === mid);
  other.run((c, t) => c.disconnect(t));
}

/** Connects `d` and subscribes it to a new topic (QoS 1); returns the topic. */
async function subscribed(d: Driver): Promise<string> {
  expect(await d.next((e) => e.type === "connected" || e.type === "closed")).toMatchObject({ type: "connected", reasonCode: 0 });
  const topic = unique("bridge-topic");
  d.run((c, t) => c.subscribe(t, { topicFilter: topic, qos: 1 }));
  expect(await d.next((e) => e.type === "subscribed")).toMatchObject({ reasonCodes: [1] });
  return topic;
}

/**
 * Publishes "own" from `d` to a topic it is subscribed to (QoS 1, acked),
 * then "other" from another client; returns what `d` received once "other"
 * came. mosquitto queues a QoS 1 message to its subscribers before it sends
 * the PUBACK, so "own", when it is sent back at all, arrives before "other".
 */
async function ownMessageBack(d: Driver, version: ProtocolVersion): Promise<string[]> {
  const topic = await subscribed(d);
  const mid = d.run((c, t) => c.publish(t, { topic, payload: te.encode("own"), qos: 1 }));
  expect(await d.next((e) => e.type === "published" && e.mid === mid)).toMatchObject({ reasonCode: 0 });
  await publishFromAnother(version, topic, "other");
  await d.next((e) => e.type === "message" && td.decode(e.payload) === "other");
  return d.messages();
}

/** The retain flag `d` sees on a retained message published while it is subscribed. */
async function liveRetainFlag(d: Driver, version: ProtocolVersion): Promise<boolean> {
  const topic = await subscribed(d);
  try {
    await publishFromAnother(version, topic, "kept", true);
    const m = await d.next((e) => e.type === "message" && td.decode(e.payload) === "kept");
    return m.type === "message" && m.retain;
  } finally {
    // An empty retained message clears the topic's.
    await publishFromAnother(version, topic, "", true);
  }
}

describe("bridge mode (mosquitto's extension, not MQTT) against mosquitto", () => {
  for (const version of [3, 4] as const) {
    const v = version === 3 ? "3.1" : "3.1.1";
    const level = `0x${(0x80 | version).toString(16)}`;

    it(`${v}: a bridge-mode CONNECT (protocol level ${level}) is accepted, CONNACK 0`, async () => {
      const d = client({ protocolVersion: version, clientId: unique("bridge"), bridge: true });
      expect(await d.next((e) => e.type === "connected" || e.type === "closed")).toEqual({ type: "connected", sessionPresent: false, reasonCode: 0 });
      d.run((c, t) => c.disconnect(t));
      expect(await d.next((e) => e.type === "closed")).toMatchObject({ reason: { kind: "local" } });
    });

    it(`${v}: a bridge does not get its own message back (No Local for bridges); an ordinary client does`, async () => {
      const bridge = client({ protocolVersion: version, clientId: unique("bridge"), bridge: true });
      expect(await ownMessageBack(bridge, version)).toEqual(["other"]);
      const plain = client({ protocolVersion: version, clientId: unique("plain") });
      expect(await ownMessageBack(plain, version)).toEqual(["own", "other"]);
    });

    it(`${v}: a bridge gets a retained message as published (retain 1) while subscribed; an ordinary client gets retain 0`, async () => {
      expect(await liveRetainFlag(client({ protocolVersion: version, clientId: unique("bridge"), bridge: true }), version)).toBe(true);
      expect(await liveRetainFlag(client({ protocolVersion: version, clientId: unique("plain") }), version)).toBe(false);
    });
  }

  it("5.0: mosquitto (2.0) takes the bridge bit only before MQTT 5: a CONNECT with level 0x85 is dropped as a protocol error, with no CONNACK", async () => {
    const d = client({ protocolVersion: 5, clientId: unique("bridge"), bridge: true });
    expect(await d.next((e) => e.type === "connected" || e.type === "closed")).toEqual({ type: "closed", reason: { kind: "transport", reasonCode: 0x80 } });
    // The same client without bridge mode connects.
    const plain = client({ protocolVersion: 5, clientId: unique("plain") });
    expect(await plain.next((e) => e.type === "connected" || e.type === "closed")).toMatchObject({ type: "connected", reasonCode: 0 });
  });
});
