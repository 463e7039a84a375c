// End to end through a real mosquitto on loopback: what the IO layer
// (@sansmqtt/loop-external's ExternalLoop and LoopRunner + @sansmqtt/transport-tcp) costs over the bare
// engine driven by the thinnest loop we can write by hand over node:net.
//
// Four contenders: the bare engine; loop-external + transport-tcp; the
// Paho-style Client (@sansmqtt/client: callbacks, MQTTMessageInfo, loopStart);
// MQTT.js 5 (the npm `mqtt` package), the most used JavaScript client.
//
// One pass, per QoS and per contender: a subscriber and a publisher connection
// (MQTT 5, both in this process, both driven the contender's way), N messages
// of 64 bytes published to one topic with at most WINDOW sent and not yet
// received, until the subscriber has all N (and, for QoS 1/2, the publisher
// has every `published`). Throughput = N / wall time of the pass; CPU per
// message = this process's user + system CPU over the pass / N (mosquitto's
// CPU is its own process and not counted). Contenders alternate pass by pass.

import net from "node:net";
import { performance } from "node:perf_hooks";
import { MqttConnection, type Event, type QoS } from "@sansmqtt/core";
import { ExternalLoop, LoopRunner } from "@sansmqtt/loop-external";
import { TcpTransport } from "@sansmqtt/transport-tcp";
import { Client as PahoStyleClient, MQTTv5 } from "@sansmqtt/client";
import mqtt from "mqtt";

export const E2E_MESSAGES = 10_000;
const WINDOW = 500;
const PASS_TIMEOUT_MS = 30_000;
const payload = new Uint8Array(64).map((_, i) => i * 7);

/** One client: its commands and a way to end it. Events go to the callback given at creation. */
interface Client {
  publish(topic: string, qos: QoS): void;
  subscribe(topic: string): void;
  end(): Promise<void>;
}
/** What a pass counts: the engine's events, or the same facts from another client's callbacks. */
type Seen = Event | { type: "message" } | { type: "subscribed" } | { type: "published"; reasonCode: number };
type Connect = (id: string, onEvent: (e: Seen) => void) => Promise<Client>;

const now = (): number => performance.now();

/** The bare engine over node:net: drive after every input, write each chunk, one keep-alive timer. */
const bare =
  (host: string, port: number): Connect =>
  (id, onEvent) =>
    new Promise((resolve, reject) => {
      const conn = new MqttConnection({ protocolVersion: 5, clientId: id, keepAlive: 60, maxInflight: 1000 });
      const socket = net.connect({ host, port, noDelay: true });
      let timer: ReturnType<typeof setTimeout> | undefined;
      let closed: (() => void) | undefined;
      let scheduled = false;
      // Commands coalesce into one drive per turn (as the loop contender's microtask pump does).
      const schedule = (): void => {
        if (scheduled) return;
        scheduled = true;
        queueMicrotask(drive);
      };
      const drive = (): void => {
        scheduled = false;
        for (let e = conn.pollEvent(now()); e !== undefined; e = conn.pollEvent(now())) {
          if (e.type === "connected") resolve(client);
          onEvent(e);
        }
        const chunks = conn.pollTransmit(now());
        if (chunks.length === 1) socket.write(chunks[0]!);
        else if (chunks.length > 1) {
          socket.cork();
          for (const c of chunks) socket.write(c);
          socket.uncork();
        }
        if (conn.wantsEvents()) drive();
        clearTimeout(timer);
        const at = conn.pollTimeout();
        if (at !== undefined) timer = setTimeout(() => (conn.handleTimeout(now()), drive()), Math.max(0, at - now()));
      };
      const client: Client = {
        publish: (topic, qos) => (conn.publish(now(), { topic, payload, qos }), schedule()),
        subscribe: (topic) => (conn.subscribe(now(), { topicFilter: topic, qos: 2 }), schedule()),
        end: () =>
          new Promise<void>((done) => {
            closed = done;
            conn.disconnect(now());
            drive();
            socket.end();
          }),
      };
      socket.on("connect", () => (conn.connect(now()), drive()));
      socket.on("data", (chunk) => (conn.receiveData(now(), chunk), drive()));
      socket.on("error", reject);
      socket.on("close", () => {
        clearTimeout(timer);
        conn.connectionLost(now());
        closed?.();
      });
    });

/** The same engine through ExternalLoop and TcpTransport, run by loop-external's LoopRunner. */
const viaLoop =
  (host: string, port: number): Connect =>
  async (id, onEvent) => {
    let onClosed: (() => void) | undefined;
    let onConnected: ((c: Client) => void) | undefined;
    const loop: ExternalLoop = new ExternalLoop({
      engine: new MqttConnection({ protocolVersion: 5, clientId: id, keepAlive: 60, maxInflight: 1000 }),
      transport: () => new TcpTransport({ host, port }),
      onEvent: (e) => {
        if (e.type === "connected") onConnected?.(client);
        if (e.type === "closed") onClosed?.();
        onEvent(e);
      },
    });
    new LoopRunner(loop); // runs itself from the loop's hooks; it stops having work once the connection is closed
    const client: Client = {
      publish: (topic, qos) => void loop.publish({ topic, payload, qos }),
      subscribe: (topic) => void loop.subscribe({ topicFilter: topic, qos: 2 }),
      end: () =>
        new Promise<void>((done) => {
          onClosed = done;
          loop.disconnect();
        }),
    };
    const connected = new Promise<Client>((resolve) => (onConnected = resolve));
    await loop.connect();
    return connected;
  };

/** The Paho-style Client: loopStart on Node's event loop, VERSION2 callbacks, a MQTTMessageInfo per publish. */
const viaClient =
  (host: string, port: number): Connect =>
  async (id, onEvent) => {
    const c = new PahoStyleClient({ clientId: id, protocol: MQTTv5 });
    c.maxInflightMessagesSet(1000);
    let onClosed: (() => void) | undefined;
    const connected = new Promise<void>((resolve, reject) => {
      c.onConnect = (_c, _u, _f, rc) => (rc.isFailure ? reject(new Error(`client: CONNACK ${rc.getName()}`)) : resolve());
    });
    // The pass counts events; the callbacks carry what the engine's events would.
    c.onSubscribe = () => onEvent({ type: "subscribed" });
    c.onMessage = () => onEvent({ type: "message" });
    c.onPublish = (_c, _u, _mid, rc) => onEvent({ type: "published", reasonCode: rc.value });
    c.onDisconnect = () => onClosed?.();
    await c.connect(host, port, 60);
    c.loopStart();
    await connected;
    return {
      publish: (topic, qos) => void c.publish(topic, payload, qos),
      subscribe: (topic) => void c.subscribe(topic, 2),
      end: () =>
        new Promise<void>((done) => {
          onClosed = () => {
            void c.loopStop().then(() => done());
          };
          c.disconnect();
        }),
    };
  };

/** MQTT.js 5: its own client and loop, on Node's event loop. */
const viaMqttJs =
  (host: string, port: number): Connect =>
  async (id, onEvent) => {
    const c = await mqtt.connectAsync({ host, port, protocolVersion: 5, clientId: id, keepalive: 60, reconnectPeriod: 0 });
    c.on("message", () => onEvent({ type: "message" }));
    const body = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
    // MQTT.js does not keep to the broker's Receive Maximum (mosquitto's is 20): beyond it mosquitto answers
    // 0x97 Quota exceeded. An MQTT.js user has to hold messages back by hand, as this does.
    const connack = (c as unknown as { connackPacket?: { properties?: { receiveMaximum?: number } } }).connackPacket;
    const quota = connack?.properties?.receiveMaximum ?? 65_535;
    let unacked = 0;
    const waiting: [string, 0 | 1 | 2][] = [];
    const send = (topic: string, qos: 0 | 1 | 2): void => {
      if (qos > 0) unacked++;
      c.publish(topic, body, { qos }, (err) => {
        if (err) throw new Error(`MQTT.js publish failed: ${err.message}`);
        if (qos === 0) return;
        unacked--;
        onEvent({ type: "published", reasonCode: 0 });
        const next = waiting.shift();
        if (next !== undefined) send(...next);
      });
    };
    return {
      publish: (topic, qos) => {
        if (qos > 0 && unacked >= quota) waiting.push([topic, qos]);
        else send(topic, qos);
      },
      subscribe: (topic) => void c.subscribe(topic, { qos: 2 }, () => onEvent({ type: "subscribed" })),
      end: () => c.endAsync(),
    };
  };

export interface E2EPass {
  ms: number;
  cpuUs: number;
}

/** One pass: N messages at `qos` from a fresh publisher to a fresh subscriber. */
async function pass(connect: Connect, qos: QoS, n: number, tag: string): Promise<E2EPass> {
  const topic = `sansmqtt/bench/${process.pid}/${tag}`;
  let received = 0;
  let published = 0;
  let sent = 0;
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => ((finish = resolve), (fail = reject)));
  let subscribed!: () => void;
  const ready = new Promise<void>((r) => (subscribed = r));
  let pub: Client | undefined;
  const complete = (): boolean => received === n && (qos === 0 || published === n);
  const more = (): void => {
    while (pub !== undefined && sent < n && sent - received < WINDOW) {
      pub.publish(topic, qos);
      sent++;
    }
  };
  const sub = await connect(`bench-sub-${tag}`, (e) => {
    if (e.type === "subscribed") subscribed();
    if (e.type === "message") {
      received++;
      if (complete()) finish();
      else more();
    }
    if (e.type === "closed" && !complete()) fail(new Error(`subscriber closed: ${e.reason.kind}`));
  });
  sub.subscribe(topic);
  await ready;
  pub = await connect(`bench-pub-${tag}`, (e) => {
    if (e.type === "published") {
      if (e.reasonCode >= 0x80) fail(new Error(`${tag}: publish failed: 0x${e.reasonCode.toString(16)}`));
      published++;
      if (complete()) finish();
    }
    if (e.type === "closed" && !complete()) fail(new Error(`publisher closed: ${e.reason.kind}`));
  });
  const bound = setTimeout(() => fail(new Error(`pass not done in ${PASS_TIMEOUT_MS} ms: ${received}/${n} received`)), PASS_TIMEOUT_MS);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  more();
  try {
    await done;
  } finally {
    clearTimeout(bound);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await Promise.all([pub.end(), sub.end()]);
  return { ms, cpuUs: cpu.user + cpu.system };
}

export interface E2ERow {
  qos: QoS;
  /** Per contender: msg/s and CPU µs per message, medians over the passes. */
  bare: E2EFigures;
  loop: E2EFigures;
  client: E2EFigures;
  mqttjs: E2EFigures;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface E2EFigures {
  msgPerSec: number;
  cpuUsPerMsg: number;
  spreadPct: number;
}

function summarize(passes: E2EPass[], n: number): E2EFigures {
  const rates = passes.map((p) => (n * 1000) / p.ms);
  const med = median(rates);
  return {
    msgPerSec: med,
    cpuUsPerMsg: median(passes.map((p) => p.cpuUs / n)),
    spreadPct: ((Math.max(...rates) - Math.min(...rates)) / med) * 100,
  };
}

const CONTENDERS = ["bare", "loop", "client", "mqttjs"] as const;
type ContenderName = (typeof CONTENDERS)[number];

/** Every QoS, the contenders taking turns pass by pass (the order rotating) after one warm-up pass each. */
export async function runE2E(host: string, port: number, rounds: number, log: (s: string) => void): Promise<E2ERow[]> {
  const contenders: Record<ContenderName, Connect> = {
    bare: bare(host, port),
    loop: viaLoop(host, port),
    client: viaClient(host, port),
    mqttjs: viaMqttJs(host, port),
  };
  const rows: E2ERow[] = [];
  for (const qos of [0, 1, 2] as const) {
    const got: Record<ContenderName, E2EPass[]> = { bare: [], loop: [], client: [], mqttjs: [] };
    for (let r = -1; r < rounds; r++) {
      // Rotate who goes first, so a slow moment of the machine does not always hit the same one.
      const k = ((r % CONTENDERS.length) + CONTENDERS.length) % CONTENDERS.length;
      const order = [...CONTENDERS.slice(k), ...CONTENDERS.slice(0, k)];
      for (const name of order) {
        const p = await pass(contenders[name], qos, E2E_MESSAGES, `${name}-q${qos}-${r + 1}`);
        if (r >= 0) got[name].push(p);
      }
    }
    const row: E2ERow = {
      qos,
      bare: summarize(got.bare, E2E_MESSAGES),
      loop: summarize(got.loop, E2E_MESSAGES),
      client: summarize(got.client, E2E_MESSAGES),
      mqttjs: summarize(got.mqttjs, E2E_MESSAGES),
    };
    log(
      `  e2e QoS ${qos}: ` +
        CONTENDERS.map((name) => `${name} ${Math.round(row[name].msgPerSec)} msg/s ${row[name].cpuUsPerMsg.toFixed(1)} µs`).join(", "),
    );
    rows.push(row);
  }
  return rows;
}
