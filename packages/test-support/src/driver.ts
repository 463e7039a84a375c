// The one place the tests drive the Sans-IO engine (MqttConnection) over a
// Transport, with the polling loop of the core's README: after any input, pull
// events, write pollTransmit (holding back while the transport asks to wait for
// drain), re-arm one timer at pollTimeout. The engine API is used only here;
// keep every use of it in this file.
import { performance } from "node:perf_hooks";
import { expect } from "vitest";
import { MqttConnection, type ConnectionOptions, type Event, type ProtocolVersion, type Transport, type TransportError } from "@sansmqtt/core";
import { text, uniqueClientId, uniqueTopic, untext } from "./index.js";

const now = (): number => performance.now();

type Waiter = { pred: (e: Event) => boolean; resolve: (e: Event) => void };

export class EngineDriver {
  readonly conn: MqttConnection;
  readonly events: Event[] = [];
  /** Resolves with the transport's onClose argument. */
  readonly transportClosed: Promise<TransportError | undefined>;
  transportOpened = false;
  private closedResolve!: (e: TransportError | undefined) => void;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private waiters: Waiter[] = [];
  private blocked = false;
  private gone = false;
  private closeBound: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly transport: Transport,
    options: ConnectionOptions,
  ) {
    this.conn = new MqttConnection(options);
    this.transportClosed = new Promise((resolve) => (this.closedResolve = resolve));
  }

  /** Opens the transport, then CONNECT; resolves with `connected` or `closed`. */
  open(clean?: boolean): Promise<Event> {
    this.transport.open({
      onOpen: () => {
        this.transportOpened = true;
        this.conn.connect(now(), clean === undefined ? {} : { clean });
        this.drive();
      },
      onData: (chunk) => {
        this.conn.receiveData(now(), chunk);
        this.drive();
      },
      onDrain: () => {
        this.blocked = false;
        this.drive();
      },
      onClose: (error) => {
        this.gone = true;
        clearTimeout(this.timer);
        clearTimeout(this.closeBound);
        this.closedResolve(error);
        if (this.transportOpened) {
          this.conn.connectionLost(now(), error);
          this.drive();
        }
      },
    });
    return this.next((e) => e.type === "connected" || e.type === "closed");
  }

  /** Runs a command on the engine, then the loop. */
  run<T>(command: (c: MqttConnection, t: number) => T): T {
    const r = command(this.conn, now());
    this.drive();
    return r;
  }

  next(pred: (e: Event) => boolean, timeoutMs = 5000): Promise<Event> {
    const seen = this.events.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no matching event in ${timeoutMs} ms; got ${this.events.map((e) => e.type).join(",") || "none"}`));
      }, timeoutMs);
      const done = (e: Event): void => {
        clearTimeout(t);
        resolve(e);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  messages(): string[] {
    return this.events.flatMap((e) => (e.type === "message" ? [untext(e.payload)] : []));
  }

  /** Stops at once: no more timers, the transport torn down. */
  close(): void {
    clearTimeout(this.timer);
    clearTimeout(this.closeBound);
    if (!this.gone) this.transport.close(new Error("test over"));
  }

  private drive(): void {
    for (let e = this.conn.pollEvent(now()); e !== undefined; e = this.conn.pollEvent(now())) {
      this.events.push(e);
      for (const w of [...this.waiters]) {
        if (w.pred(e)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
      if (e.type === "closed" && !this.gone) {
        this.flush();
        // A graceful close waits for the peer to close too; a peer that never
        // does (a hung server) is cut off after a second.
        this.transport.close();
        this.closeBound = setTimeout(() => this.transport.close(new Error("the peer did not close within 1 s")), 1000);
      }
    }
    if (!this.gone) this.flush();
    clearTimeout(this.timer);
    const at = this.conn.pollTimeout();
    if (at !== undefined && !this.gone) {
      this.timer = setTimeout(() => {
        this.conn.handleTimeout(now());
        this.drive();
      }, Math.max(0, at - now()));
    }
  }

  private flush(): void {
    if (this.blocked || this.transport.state !== "open") return;
    const chunks = this.conn.pollTransmit(now());
    if (chunks.length > 0 && !this.transport.write(chunks)) this.blocked = true;
  }
}

/**
 * What every transport must carry, through the engine: CONNECT (clean),
 * SUBSCRIBE at QoS 2, PUBLISH at QoS 0, 1 and 2, each completed (PUBACK,
 * PUBREC/PUBREL/PUBCOMP) and each received back once, DISCONNECT, and the
 * transport closed cleanly (onClose without an error).
 */
export async function qosRoundTrip(transport: Transport, version: ProtocolVersion, label: string): Promise<EngineDriver> {
  const d = new EngineDriver(transport, { protocolVersion: version, clientId: uniqueClientId(label), keepAlive: 30 });
  try {
    expect(await d.open()).toMatchObject({ type: "connected", sessionPresent: false });
    const topic = uniqueTopic(label);
    const sub = d.run((c, t) => c.subscribe(t, { topicFilter: topic, qos: 2 }));
    expect(await d.next((e) => e.type === "subscribed")).toMatchObject({ mid: sub, reasonCodes: [2] });
    const mids = ([0, 1, 2] as const).map((qos) => d.run((c, t) => c.publish(t, { topic, payload: text(`${label} q${qos}`), qos })));
    for (const mid of mids) {
      expect(await d.next((e) => e.type === "published" && e.mid === mid)).toMatchObject({ reasonCode: 0 });
    }
    await d.next(() => d.messages().length === 3);
    expect(d.messages().sort()).toEqual([0, 1, 2].map((q) => `${label} q${q}`));
    const qos = d.events.flatMap((e) => (e.type === "message" ? [e.qos] : [])).sort();
    expect(qos).toEqual([0, 1, 2]);
    d.run((c, t) => c.disconnect(t));
    expect(await d.next((e) => e.type === "closed")).toMatchObject({ reason: { kind: "local" } });
    expect(await d.transportClosed).toBeUndefined();
    expect(transport.state).toBe("closed");
    return d;
  } finally {
    d.close();
  }
}
