// The one place the transport tests drive the engine over a Transport: through
// @sansmqtt/loop-external's ExternalLoop, run on Node's event loop by its
// LoopRunner. The tests see the engine's events and the transport's close.
import { performance } from "node:perf_hooks";
import { expect } from "vitest";
import { MqttConnection, type ConnectionOptions, type Event, type ProtocolVersion, type Transport, type TransportError } from "@sansmqtt/core";
import { ExternalLoop, LoopRunner } from "@sansmqtt/loop-external";
import { text, uniqueClientId, uniqueTopic, untext } from "./index.js";

type Waiter = { pred: (e: Event) => boolean; resolve: (e: Event) => void };

export class EngineDriver {
  readonly conn: MqttConnection;
  readonly loop: ExternalLoop;
  readonly events: Event[] = [];
  /** Resolves with the transport's onClose argument. */
  readonly transportClosed: Promise<TransportError | undefined>;
  transportOpened = false;
  private closedResolve!: (e: TransportError | undefined) => void;
  private readonly runner: LoopRunner;
  private waiters: Waiter[] = [];
  private gone = false;

  constructor(
    readonly transport: Transport,
    options: ConnectionOptions,
  ) {
    this.conn = new MqttConnection(options);
    this.transportClosed = new Promise((resolve) => (this.closedResolve = resolve));
    // The transport, with its open/close reports seen by the test too.
    const observed: Transport = {
      get state() {
        return transport.state;
      },
      open: (h) =>
        transport.open({
          onOpen: () => ((this.transportOpened = true), h.onOpen()),
          onData: (c) => h.onData(c),
          onDrain: () => h.onDrain(),
          onClose: (e) => {
            this.gone = true;
            h.onClose(e);
            // Handled at once, so a test that awaits the close sees its `closed` event.
            this.runner.turn();
            this.closedResolve(e);
          },
        }),
      write: (c) => transport.write(c),
      close: (e) => transport.close(e),
      socket: () => transport.socket(),
    };
    this.loop = new ExternalLoop({
      engine: this.conn,
      transport: () => observed,
      clock: () => performance.now(),
      closeTimeoutMs: 1000,
      onEvent: (e) => this.deliver(e),
    });
    this.runner = new LoopRunner(this.loop);
  }

  /** Opens the transport, then CONNECT; resolves with `connected` or `closed`. */
  open(clean?: boolean): Promise<Event> {
    const opened = this.loop.connect(clean === undefined ? {} : { clean });
    const outcome = this.next((e) => e.type === "connected" || e.type === "closed");
    // A transport that fails to open ends as the engine would see it: a `closed` event.
    opened.catch((error: unknown) => this.deliver({ type: "closed", reason: { kind: "transport", reasonCode: 0x80, cause: error } }));
    return outcome;
  }

  /** Runs a command on the engine, then the loop. */
  run<T>(command: (c: MqttConnection, t: number) => T): T {
    const r = command(this.conn, this.loop.now());
    this.runner.turn();
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
    this.runner.stop();
    if (!this.gone) this.transport.close(new Error("test over"));
  }

  private deliver(e: Event): void {
    this.events.push(e);
    for (const w of [...this.waiters]) {
      if (w.pred(e)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
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
