// ExternalLoop over real sockets: Paho's hook order over a connection's whole
// life against mosquitto (one the broker drops, one the test cuts), and
// back-pressure against a scripted MQTT server on loopback that stops reading.
import net from "node:net";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { encodePacket, PacketDecoder } from "@sansmqtt/core/codec";
import { MqttConnection, type ConnectionOptions, type Event, type ProtocolVersion } from "@sansmqtt/core";
import { brokerEnv, brokerPort, text, uniqueClientId, uniqueTopic } from "@sansmqtt/test-broker";
import { TcpTransport } from "@sansmqtt/transport-tcp";
import { ExternalLoop, MQTT_ERR_CONN_LOST, MQTT_ERR_QUEUE_SIZE, resultOfError, type MqttErrorCode } from "@sansmqtt/loop-external";

/** An ExternalLoop run on Node's event loop, logging hooks, events and the result codes the loop calls returned. */
class Driven {
  readonly log: string[] = [];
  readonly events: Event[] = [];
  readonly results: MqttErrorCode[] = [];
  readonly loop: ExternalLoop;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private scheduled = false;
  private waiters: { pred: (e: Event) => boolean; resolve: (e: Event) => void }[] = [];

  constructor(options: ConnectionOptions, port = brokerPort("MQTT_TCP_PORT")) {
    this.loop = new ExternalLoop({
      engine: new MqttConnection(options),
      transport: () => new TcpTransport({ host: brokerEnv("MQTT_HOST"), port }),
      closeTimeoutMs: 1000,
      onSocketOpen: () => this.log.push("open"),
      onSocketClose: () => this.log.push("close"),
      onSocketRegisterWrite: () => (this.log.push("register"), this.schedule()),
      onSocketUnregisterWrite: () => this.log.push("unregister"),
      onReadable: () => this.schedule(),
      onWritable: () => (this.log.push("writable"), this.schedule()),
      onEvent: (e) => {
        this.log.push(`event:${e.type}`);
        this.events.push(e);
        for (const w of [...this.waiters]) if (w.pred(e)) (this.waiters.splice(this.waiters.indexOf(w), 1), w.resolve(e));
      },
    });
  }

  next(pred: (e: Event) => boolean): Promise<Event> {
    const seen = this.events.find(pred);
    return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  stop(): void {
    clearTimeout(this.timer);
    this.loop.onReadable = this.loop.onWritable = undefined;
    this.loop.abort();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    this.results.push(this.loop.loopRead());
    if (this.loop.wantWrite() && !this.loop.writeBlocked) this.results.push(this.loop.loopWrite());
    this.results.push(this.loop.loopMisc());
    clearTimeout(this.timer);
    const delay = this.loop.miscDelay();
    if (delay !== undefined) this.timer = setTimeout(() => this.pump(), delay);
  }
}

const started: Driven[] = [];
function driven(options: ConnectionOptions, port?: number): Driven {
  const d = new Driven(options, port);
  started.push(d);
  return d;
}
afterEach(() => {
  for (const d of started.splice(0)) d.stop();
});

/** Hooks only, in order. */
const hooks = (d: Driven): string[] => d.log.filter((l) => !l.startsWith("event:") && l !== "writable");

function expectPahoOrder(d: Driven): void {
  const h = hooks(d);
  expect(h[0]).toBe("open");
  expect(h.at(-1)).toBe("close");
  h.slice(1, -1).forEach((x, i) => expect(x).toBe(i % 2 === 0 ? "register" : "unregister"));
}

describe.each([4, 5] as ProtocolVersion[])("hook order against mosquitto, MQTT %s", (version) => {
  it("a connection the broker drops (a second client takes over the client id): close first, then the closed event; MQTT_ERR_CONN_LOST", async () => {
    const clientId = uniqueClientId("takeover");
    const a = driven({ protocolVersion: version, clientId, keepAlive: 30 });
    await a.loop.connect();
    await a.next((e) => e.type === "connected");
    const topic = uniqueTopic("takeover");
    a.loop.subscribe({ topicFilter: topic, qos: 1 });
    await a.next((e) => e.type === "subscribed");
    const b = driven({ protocolVersion: version, clientId, keepAlive: 30 });
    await b.loop.connect();
    await b.next((e) => e.type === "connected");
    const closed = await a.next((e) => e.type === "closed");
    // mosquitto 2.0.11 closes the socket without a DISCONNECT 0x8E, for MQTT 5 too (checked with raw bytes).
    expect(closed).toMatchObject({ reason: { kind: "transport" } });
    expectPahoOrder(a);
    expect(a.log.indexOf("close")).toBeLessThan(a.log.indexOf("event:closed"));
    expect(a.results).toContain(MQTT_ERR_CONN_LOST);
    b.loop.disconnect();
    await b.next((e) => e.type === "closed");
    expectPahoOrder(b);
    expect(b.log.indexOf("event:closed")).toBeLessThan(b.log.indexOf("close"));
  });

  it("a connection the test cuts (abort): close first, then closed(transport); a reconnect runs a second open…close cycle", async () => {
    const d = driven({ protocolVersion: version, clientId: uniqueClientId("cut"), keepAlive: 30 });
    await d.loop.connect();
    await d.next((e) => e.type === "connected");
    d.loop.abort();
    const closed = await d.next((e) => e.type === "closed");
    expect(closed).toMatchObject({ reason: { kind: "transport", cause: { code: "ERR_TRANSPORT_ABORTED" } } });
    expectPahoOrder(d);
    expect(d.log.indexOf("close")).toBeLessThan(d.log.indexOf("event:closed"));
    d.log.length = 0;
    d.events.length = 0;
    await d.loop.connect();
    await d.next((e) => e.type === "connected");
    d.loop.publish({ topic: uniqueTopic("cut"), payload: text("after reconnect"), qos: 1 });
    await d.next((e) => e.type === "published");
    d.loop.disconnect();
    await d.next((e) => e.type === "closed");
    expectPahoOrder(d);
  });
});

/**
 * An MQTT 5 server on loopback that answers CONNECT, then stops reading until
 * `resume()`; after that it acknowledges every QoS 1 PUBLISH.
 */
async function stallingServer(): Promise<{ port: number; resume(): void; publishes(): number; close(): Promise<void> }> {
  let socket: net.Socket | undefined;
  let publishes = 0;
  const server = net.createServer((s) => {
    socket = s;
    s.on("error", () => undefined);
    const d = new PacketDecoder({ protocolVersion: 5 });
    s.on("data", (chunk) => {
      d.push(chunk);
      for (let p = d.next(); p !== undefined; p = d.next()) {
        if (p.type === "connect") {
          s.write(encodePacket({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 65_535 } }, 5));
          s.pause(); // and read nothing more: the client's writes back up
        } else if (p.type === "publish") {
          publishes++;
          if (p.qos === 1) s.write(encodePacket({ type: "puback", packetId: p.packetId!, reasonCode: 0 }, 5));
        }
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as net.AddressInfo).port,
    resume: () => socket?.resume(),
    publishes: () => publishes,
    close: () => {
      socket?.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("back-pressure over a real socket", () => {
  it.each([0, 1] as const)("QoS %s: a publisher faster than the socket drains: writes wait for drain, memory stays bounded by the engine's queue, everything goes out on resume", async (qos) => {
    const server = await stallingServer();
    try {
      const maxQueued = 200;
      const d = driven({ protocolVersion: 5, clientId: "bp", keepAlive: 0, maxInflight: 100, maxQueued }, server.port);
      await d.loop.connect();
      await d.next((e) => e.type === "connected");
      // 100 in flight × 256 KiB is more than loopback's socket buffers take.
      const payload = new Uint8Array(256 * 1024);
      let accepted = 0;
      let refused: unknown;
      let sawBlocked = false;
      // Publish as fast as possible, letting the loop run between bursts, and keep trying after the engine
      // refuses (queue full) until the socket stays full (no drain over 50 bursts): bounded at 5,000 bursts.
      let blockedFor = 0;
      for (let burst = 0; burst < 5_000 && blockedFor < 50; burst++) {
        for (let i = 0; i < 20; i++) {
          try {
            d.loop.publish({ topic: "bp/t", payload, qos });
            accepted++;
          } catch (e) {
            refused = e;
          }
        }
        await new Promise((r) => setImmediate(r));
        blockedFor = d.loop.writeBlocked ? blockedFor + 1 : 0;
        sawBlocked ||= blockedFor >= 50;
      }
      expect(sawBlocked).toBe(true);
      expect(resultOfError(refused)).toBe(MQTT_ERR_QUEUE_SIZE);
      // What is held: what the socket took (its user-space buffer; the kernel's is bounded by the OS), the
      // engine's output (its high-water mark, 64 KiB, plus one PUBLISH) and its queue (maxQueued messages).
      // Nothing more, whatever the publisher tried (Paho's out-queue grows without bound here).
      const socket = d.loop.socket() as net.Socket;
      const held = socket.writableLength + d.loop.engine.outputBytes;
      if (qos === 1) expect(accepted).toBeLessThanOrEqual(100 + maxQueued);
      expect(d.loop.engine.queuedCount).toBe(maxQueued);
      expect(held).toBeLessThanOrEqual(100 * (payload.length + 64));
      server.resume();
      await d.next(() => d.events.filter((e) => e.type === "published").length === accepted);
      expect(d.events.filter((e) => e.type === "published" && e.reasonCode === 0)).toHaveLength(accepted);
      for (let waited = 0; server.publishes() < accepted && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(server.publishes()).toBe(accepted);
      d.loop.disconnect();
      await d.next((e) => e.type === "closed");
    } finally {
      await server.close();
    }
  });
});
