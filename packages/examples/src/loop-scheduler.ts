/**
 * The loop driven by a custom scheduler through the socket hooks: the
 * TypeScript counterpart of Paho's examples/loop_asyncio.py. The scheduler
 * (a stand-in for any event loop with add_reader/add_writer/call_later) knows
 * nothing about MQTT; the hooks register the loop's calls with it:
 *
 *   onSocketOpen            → addReader(socket, loopRead)
 *   onSocketRegisterWrite   → addWriter(socket, loopWrite)
 *   onSocketUnregisterWrite → removeWriter(socket)
 *   onSocketClose           → removeReader(socket)
 *   a misc task             → loopMisc at miscDelay(), until it returns non-zero
 *
 * Readiness comes from the loop's onReadable/onWritable, as the OS would
 * report it to asyncio. The program connects, subscribes, publishes one
 * message at each QoS, waits for the three to come back, disconnects, and
 * resolves with the hook log. test/examples.test.ts runs it against the test
 * broker.
 */
import { MqttConnection, type ProtocolVersion, type Transport } from "@sansmqtt/core";
import { ExternalLoop, MQTT_ERR_SUCCESS } from "@sansmqtt/loop-external";
import { TcpTransport } from "@sansmqtt/transport-tcp";

type Callback = () => void;

/** A minimal event loop: readers, writers and timers, run on Node's own loop. */
export class Scheduler {
  private readers = new Map<unknown, Callback>();
  private writers = new Map<unknown, Callback>();
  private readable = new Set<unknown>();
  private writable = new Set<unknown>();
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private pending = false;

  addReader(fd: unknown, cb: Callback): void {
    this.readers.set(fd, cb);
  }
  removeReader(fd: unknown): void {
    this.readers.delete(fd);
    this.readable.delete(fd);
  }
  /** A writer is called while its fd is writable (a fresh registration counts as writable). */
  addWriter(fd: unknown, cb: Callback): void {
    this.writers.set(fd, cb);
    this.ready(fd, "write");
  }
  removeWriter(fd: unknown): void {
    this.writers.delete(fd);
    this.writable.delete(fd);
  }
  callLater(ms: number, cb: Callback): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t);
      cb();
    }, ms);
    this.timers.add(t);
    return t;
  }
  cancel(t: ReturnType<typeof setTimeout> | undefined): void {
    if (t === undefined) return;
    clearTimeout(t);
    this.timers.delete(t);
  }
  /** What the OS would report: `fd` is readable or writable. */
  ready(fd: unknown, what: "read" | "write"): void {
    (what === "read" ? this.readable : this.writable).add(fd);
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => this.tick());
  }
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
  private tick(): void {
    this.pending = false;
    const r = [...this.readable];
    this.readable.clear();
    for (const fd of r) this.readers.get(fd)?.();
    const w = [...this.writable].filter((fd) => this.writers.has(fd));
    this.writable.clear();
    for (const fd of w) this.writers.get(fd)?.();
  }
}

export interface SchedulerExampleOptions {
  host: string;
  port: number;
  topic: string;
  protocolVersion?: ProtocolVersion;
  transport?: () => Transport;
}

export interface SchedulerExampleResult {
  /** The hooks in the order they were called, and the engine's events. */
  log: string[];
  messages: string[];
}

export async function run(o: SchedulerExampleOptions): Promise<SchedulerExampleResult> {
  const scheduler = new Scheduler();
  const log: string[] = [];
  const messages: string[] = [];
  const engine = new MqttConnection({ protocolVersion: o.protocolVersion ?? 5, clientId: `loop-scheduler-${process.pid}`, keepAlive: 30 });
  let misc: ReturnType<typeof setTimeout> | undefined;
  let done!: Callback;
  let failed!: (e: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => ((done = resolve), (failed = reject)));

  const loop: ExternalLoop = new ExternalLoop({
    engine,
    transport: o.transport ?? (() => new TcpTransport({ host: o.host, port: o.port })),
    onSocketOpen: (sock) => {
      log.push("socket-open");
      scheduler.addReader(sock, () => loop.loopRead());
      scheduleMisc();
    },
    onSocketRegisterWrite: (sock) => {
      log.push("register-write");
      scheduler.addWriter(sock, () => loop.loopWrite());
    },
    onSocketUnregisterWrite: (sock) => {
      log.push("unregister-write");
      scheduler.removeWriter(sock);
    },
    onSocketClose: (sock) => {
      log.push("socket-close");
      scheduler.removeReader(sock);
    },
    // The OS's part: readiness of the socket.
    onReadable: () => {
      const s = loop.socket();
      if (s !== undefined) scheduler.ready(s, "read");
      else scheduler.callLater(0, () => loop.loopMisc()); // the end of a connection already torn down
    },
    onWritable: () => {
      const s = loop.socket();
      if (s !== undefined) scheduler.ready(s, "write");
    },
    onEvent: (e) => {
      log.push(`event:${e.type}`);
      if (e.type === "connected") loop.subscribe({ topicFilter: o.topic, qos: 2 });
      if (e.type === "subscribed") for (const qos of [0, 1, 2] as const) loop.publish({ topic: o.topic, payload: new TextEncoder().encode(`qos ${qos}`), qos });
      if (e.type === "message") {
        messages.push(new TextDecoder().decode(e.payload));
        if (messages.length === 3) loop.disconnect();
      }
      if (e.type === "closed") done();
    },
  });

  // The misc task: loop_misc until it reports the connection gone.
  function scheduleMisc(): void {
    scheduler.cancel(misc);
    misc = scheduler.callLater(Math.min(loop.miscDelay() ?? 1000, 1000), () => {
      const rc = loop.loopMisc();
      if (rc === MQTT_ERR_SUCCESS) scheduleMisc();
    });
  }

  try {
    await loop.connect();
    const bound = setTimeout(() => failed(new Error("no result in 10 s")), 10_000);
    await finished.finally(() => clearTimeout(bound));
    return { log, messages };
  } finally {
    scheduler.close();
  }
}
