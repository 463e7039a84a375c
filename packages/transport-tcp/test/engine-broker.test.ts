// The Sans-IO engine (MqttConnection) against the real mosquitto over node:net,
// driven exactly as its README says: after any input, drain events, write
// dataToSend, re-arm one timer at nextTimeout. Proves the engine interoperates
// with a real broker for MQTT 3.1.1 and 5: QoS 0/1/2 both ways, flow control
// with topic aliases, and a persistent session resumed across connections.
import net from "node:net";
import { performance } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { MqttConnection, type ConnectionOptions, type Event, type ProtocolVersion } from "@sansmqtt/core";
import { brokerEnv, brokerPort, text, uniqueClientId, uniqueTopic, untext } from "@sansmqtt/test-support";

const now = (): number => performance.now();

/** One engine on one socket, with the polling loop of the core's README. */
class Driven {
  readonly conn: MqttConnection;
  readonly events: Event[] = [];
  private socket: net.Socket | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private waiters: { pred: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];

  constructor(options: ConnectionOptions) {
    this.conn = new MqttConnection(options);
  }

  open(clean?: boolean): Promise<Event> {
    const socket = net.connect({ host: brokerEnv("MQTT_HOST"), port: brokerPort("MQTT_TCP_PORT") });
    socket.setNoDelay(true);
    this.socket = socket;
    socket.on("data", (b: Uint8Array) => {
      this.conn.receiveData(b, now());
      this.drive();
    });
    socket.on("close", () => {
      this.conn.connectionLost(now());
      this.drive();
    });
    socket.on("error", () => undefined); // "close" follows
    socket.on("connect", () => {
      this.conn.connect(now(), clean === undefined ? {} : { clean });
      this.drive();
    });
    return this.next((e) => e.type === "connected" || e.type === "closed");
  }

  /** Runs a command, then the loop. */
  run<T>(command: (c: MqttConnection, t: number) => T): T {
    const r = command(this.conn, now());
    this.drive();
    return r;
  }

  next(pred: (e: Event) => boolean, timeoutMs = 5000): Promise<Event> {
    const seen = this.events.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching event in ${timeoutMs} ms; got ${this.events.map((e) => e.type).join(",")}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
    });
  }

  close(): void {
    clearTimeout(this.timer);
    this.socket?.destroy();
  }

  private drive(): void {
    for (let e = this.conn.pollEvent(); e !== undefined; e = this.conn.pollEvent()) {
      this.events.push(e);
      for (const w of [...this.waiters]) {
        if (w.pred(e)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
      if (e.type === "closed") {
        for (const chunk of this.conn.dataToSend(now())) this.socket?.write(chunk);
        this.socket?.end();
      }
    }
    if (!this.socket?.destroyed) for (const chunk of this.conn.dataToSend(now())) this.socket?.write(chunk);
    clearTimeout(this.timer);
    const at = this.conn.nextTimeout();
    if (at !== undefined) {
      this.timer = setTimeout(() => {
        this.conn.handleTimeout(now());
        this.drive();
      }, Math.max(0, at - now()));
    }
  }
}

const open: Driven[] = [];
function client(options: ConnectionOptions): Driven {
  const d = new Driven(options);
  open.push(d);
  return d;
}
afterEach(() => {
  for (const d of open.splice(0)) d.close();
});

const messages = (d: Driven): string[] =>
  d.events.flatMap((e) => (e.type === "message" ? [untext(e.message.payload)] : []));

describe.each([4, 5] as ProtocolVersion[])("engine against mosquitto, MQTT %s", (version) => {
  const v = version === 5 ? "5.0" : "3.1.1";

  it(`${v}: QoS 0, 1 and 2 go out, come back once each, and complete`, async () => {
    const d = client({ protocolVersion: version, clientId: uniqueClientId("engine"), keepAlive: 30 });
    expect(await d.open()).toMatchObject({ type: "connected", sessionPresent: false });
    const topic = uniqueTopic("engine");
    const sub = d.run((c, t) => c.subscribe({ topicFilter: topic, qos: 2 }, t));
    expect(await d.next((e) => e.type === "subscribed")).toMatchObject({ mid: sub, reasonCodes: [2] });
    const mids = ([0, 1, 2] as const).map((qos) => d.run((c, t) => c.publish({ topic, payload: text(`q${qos}`), qos }, t)));
    for (const mid of mids) {
      expect(await d.next((e) => e.type === "published" && e.mid === mid)).toMatchObject({ reasonCode: 0 });
    }
    await d.next(() => messages(d).length === 3);
    expect(messages(d).sort()).toEqual(["q0", "q1", "q2"]);
    d.run((c, t) => c.disconnect(t));
    expect(await d.next((e) => e.type === "closed")).toMatchObject({ reason: { kind: "local" } });
  });

  it(`${v}: 200 QoS 1 messages through a window of 5${version === 5 ? ", with automatic topic aliases" : ""}, in order`, async () => {
    const d = client({
      protocolVersion: version,
      clientId: uniqueClientId("window"),
      maxInflight: 5,
      ...(version === 5 ? { autoTopicAlias: true, properties: { topicAliasMaximum: 10 } } : {}),
    });
    await d.open();
    const base = uniqueTopic("window");
    d.run((c, t) => c.subscribe({ topicFilter: `${base}/+`, qos: 1 }, t));
    await d.next((e) => e.type === "subscribed");
    for (let i = 0; i < 200; i++) d.run((c, t) => c.publish({ topic: `${base}/${i % 3}`, payload: text(String(i)), qos: 1 }, t));
    expect(d.conn.inflightCount).toBeLessThanOrEqual(5);
    await d.next(() => messages(d).length === 200, 10_000);
    expect(messages(d)).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
    expect(d.events.filter((e) => e.type === "published").length).toBe(200);
  });

  it(`${v}: a persistent session is resumed: messages published while away arrive on reconnect`, async () => {
    const id = uniqueClientId("persist");
    const topic = uniqueTopic("persist");
    const options: ConnectionOptions = { protocolVersion: version, clientId: id, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) };
    const a = client(options);
    // MQTT 5 can start clean and keep the session afterwards; in 3.1.1 a clean
    // session ends with its connection, so it starts persistent (a new client id).
    await a.open(version === 5);
    a.run((c, t) => c.subscribe({ topicFilter: topic, qos: 1 }, t));
    await a.next((e) => e.type === "subscribed");
    a.run((c, t) => c.disconnect(t));
    await a.next((e) => e.type === "closed");

    const b = client({ protocolVersion: version, clientId: uniqueClientId("sender") });
    await b.open();
    const mid = b.run((c, t) => c.publish({ topic, payload: text("while away"), qos: 1 }, t));
    await b.next((e) => e.type === "published" && e.mid === mid);

    const back = client(options);
    back.conn.importSession(a.conn.exportSession());
    expect(await back.open()).toMatchObject({ type: "connected", sessionPresent: true });
    await back.next((e) => e.type === "message");
    expect(messages(back)).toEqual(["while away"]);
    // Clean up the broker's session.
    back.run((c, t) => c.disconnect(t, version === 5 ? { properties: { sessionExpiryInterval: 0 } } : {}));
    await back.next((e) => e.type === "closed");
  });
});
