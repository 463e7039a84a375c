// A transport the test scripts by hand (accept, deliver bytes, end, drain) and
// an ExternalLoop over it on a virtual clock, with every hook and event logged
// in one list so order is checkable.
import { encodePacket, PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import { MqttConnection, TransportError, type ConnectionOptions, type Event, type Transport, type TransportHandlers, type TransportState } from "@sansmqtt/core";
import { ExternalLoop, type ExternalLoopOptions } from "../src/index.js";

export class ScriptedTransport implements Transport {
  state: TransportState = "idle";
  handlers: TransportHandlers | undefined;
  written: Uint8Array[] = [];
  /** What write() returns: false asks the caller to wait for drain. */
  accepting = true;
  closedWith: unknown[] = [];
  readonly sock = { name: "scripted-socket" };

  open(handlers: TransportHandlers): void {
    if (this.state !== "idle") throw new Error("open twice");
    this.state = "opening";
    this.handlers = handlers;
  }
  write(chunks: readonly Uint8Array[]): boolean {
    if (this.state !== "open") return true;
    this.written.push(...chunks);
    return this.accepting;
  }
  close(error?: unknown): void {
    this.closedWith.push(error);
    if (this.state === "closed") return;
    this.state = error === undefined ? "closing" : "closed";
  }
  socket(): unknown {
    return this.state === "idle" ? undefined : this.sock;
  }

  // ---- the script ----
  accept(): void {
    this.state = "open";
    this.handlers!.onOpen();
  }
  fail(error: TransportError): void {
    this.state = "closed";
    this.handlers!.onClose(error);
  }
  deliver(bytes: Uint8Array): void {
    this.handlers!.onData(bytes);
  }
  end(error?: TransportError): void {
    this.state = "closed";
    this.handlers!.onClose(error);
  }
  drain(): void {
    this.accepting = true;
    this.handlers!.onDrain();
  }
  /** Every packet written so far, decoded (as the server would). */
  packets(version: 3 | 4 | 5): Packet[] {
    const d = new PacketDecoder({ protocolVersion: version });
    for (const c of this.written) d.push(c.slice());
    const out: Packet[] = [];
    for (let p = d.next(); p !== undefined; p = d.next()) out.push(p);
    return out;
  }
}

export interface Scripted {
  loop: ExternalLoop;
  engine: MqttConnection;
  transports: ScriptedTransport[];
  /** The current transport. */
  t(): ScriptedTransport;
  /** Hooks and events, in order: "open", "register", "unregister", "close", "readable", "writable", "event:<type>". */
  log: string[];
  events: Event[];
  clock: { now: number };
  server(p: Packet): void;
}

export function scripted(options: Partial<ConnectionOptions> = {}, closeTimeoutMs = 2000, extra: Pick<ExternalLoopOptions, "commit"> = {}): Scripted {
  const version = options.protocolVersion ?? 5;
  const engine = new MqttConnection({ protocolVersion: version, clientId: "loop-test", keepAlive: 0, ...options });
  const transports: ScriptedTransport[] = [];
  const log: string[] = [];
  const events: Event[] = [];
  const clock = { now: 1000 };
  const loop = new ExternalLoop({
    engine,
    transport: () => {
      const t = new ScriptedTransport();
      transports.push(t);
      return t;
    },
    clock: () => clock.now,
    closeTimeoutMs,
    ...extra,
    onSocketOpen: (s) => log.push(s === transports.at(-1)!.sock ? "open" : "open:wrong-socket"),
    onSocketClose: () => log.push("close"),
    onSocketRegisterWrite: () => log.push("register"),
    onSocketUnregisterWrite: () => log.push("unregister"),
    onReadable: () => log.push("readable"),
    onWritable: () => log.push("writable"),
    onEvent: (e) => {
      events.push(e);
      log.push(`event:${e.type}`);
    },
  });
  return {
    loop,
    engine,
    transports,
    t: () => transports.at(-1)!,
    log,
    events,
    clock,
    server: (p) => transports.at(-1)!.deliver(encodePacket(p, version)),
  };
}

/** Connects through the script: socket up, CONNECT written, CONNACK read. */
export async function connected(s: Scripted, connack: Partial<Extract<Packet, { type: "connack" }>> = {}): Promise<void> {
  const opened = s.loop.connect();
  s.t().accept();
  await opened;
  s.loop.loopWrite();
  s.server({ type: "connack", sessionPresent: false, reasonCode: 0, ...connack });
  s.loop.loopRead();
}
