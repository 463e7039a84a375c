/**
 * A scripted server for engine tests: a virtual clock, the engine, and a
 * decoder for what the engine sends. No sockets, no sleeps, no fake timers.
 */
import { expect } from "vitest";
import { encodePacket, type Packet, PacketDecoder } from "../../src/codec/index.js";
import { LocalProtocolError, type Event, MqttConnection, type ConnectionOptions, type ProtocolVersion } from "../../src/index.js";

export class Harness {
  readonly conn: MqttConnection;
  readonly version: ProtocolVersion;
  now = 0;
  private readonly fromClient: PacketDecoder;
  /** Every packet the client sent, in order. */
  readonly sent: Packet[] = [];
  /** Every event the engine produced, in order. */
  readonly events: Event[] = [];
  /** Every chunk the client sent, raw, in order (for size checks). */
  readonly sentBytes: Uint8Array[] = [];

  constructor(options: ConnectionOptions = {}) {
    this.conn = new MqttConnection({ clientId: "test-client", ...options });
    this.version = this.conn.protocolVersion;
    this.fromClient = new PacketDecoder({ protocolVersion: this.version });
  }

  /** Moves the virtual clock to `t` (absolute ms) and fires timers. */
  advanceTo(t: number): void {
    this.now = t;
    this.conn.handleTimeout(t);
  }

  advance(ms: number): void {
    this.advanceTo(this.now + ms);
  }

  /** Drains the engine's events into `events`; returns the new ones. */
  drain(): Event[] {
    const out: Event[] = [];
    for (let e = this.conn.pollEvent(this.now); e !== undefined; e = this.conn.pollEvent(this.now)) out.push(e);
    this.events.push(...out);
    return out;
  }

  /** Takes what the engine wants to send, decodes it (it must decode), returns the packets. */
  flush(): Packet[] {
    const out: Packet[] = [];
    for (const chunk of this.conn.pollTransmit(this.now)) {
      this.sentBytes.push(chunk);
      this.fromClient.push(chunk);
    }
    for (let p = this.fromClient.next(); p !== undefined; p = this.fromClient.next()) out.push(p);
    this.sent.push(...out);
    return out;
  }

  /** The polling order: events, then bytes. Returns the packets sent. */
  step(): Packet[] {
    this.drain();
    return this.flush();
  }

  /** The server sends `packets`; the engine receives them. Returns the new events. */
  serverSends(...packets: Packet[]): Event[] {
    for (const p of packets) this.conn.receiveData(this.now, encodePacket(p, this.version));
    return this.drain();
  }

  /** Raw bytes from the server. */
  serverSendsBytes(bytes: Uint8Array): Event[] {
    this.conn.receiveData(this.now, bytes);
    return this.drain();
  }

  /** connect() + CONNACK; returns the `connected` event's packets sent after it. */
  connect(connack: Partial<Extract<Packet, { type: "connack" }>> = {}, options: { clean?: boolean } = {}): Packet[] {
    this.conn.connect(this.now, options);
    const first = this.flush();
    if (first[0]?.type !== "connect") throw new Error(`expected CONNECT first, got ${first[0]?.type}`);
    this.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, ...connack });
    return this.flush();
  }

  /** The transport dropped: `connectionLost` at the current time. Returns the new events. */
  lose(cause?: unknown): Event[] {
    this.conn.connectionLost(this.now, cause);
    return this.drain();
  }

  /** Everything observable about the engine without consuming output: for "state unchanged" checks. */
  snapshot(): unknown {
    const c = this.conn;
    return {
      state: c.state,
      clientId: c.clientId,
      session: c.exportSession(0),
      inflight: c.inflightCount,
      queued: c.queuedCount,
      wantsWrite: c.wantsWrite(),
      nextTimeout: c.pollTimeout(),
      limits: { ...c.serverLimits },
      granted: c.grantedSubscriptions.map((s) => ({ ...s })),
    };
  }
}

/**
 * Asserts that `fn` misuses the API: it throws LocalProtocolError with `code`
 * (and `reasonCode` when given) and changes nothing: same snapshot, no event,
 * nothing to send. Returns the error.
 */
export function expectMisuse(h: Harness, fn: () => unknown, code: string, reasonCode?: number): LocalProtocolError {
  const before = h.snapshot();
  const e = thrown(fn);
  expect(e).toBeInstanceOf(LocalProtocolError);
  const err = e as LocalProtocolError;
  expect(err.code).toBe(code);
  if (reasonCode !== undefined) expect(err.reasonCode).toBe(reasonCode);
  expect(h.snapshot()).toEqual(before);
  expect(h.conn.pollEvent(h.now)).toBeUndefined();
  return err;
}

/** The error `fn` throws, or a failure if it throws nothing. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected the call to throw");
}

/** A PUBLISH from the server (defaults: QoS 0, not retained, not DUP). */
export function serverPublish(
  topic: string,
  payload: string | Uint8Array,
  extra: Partial<Omit<Extract<Packet, { type: "publish" }>, "type" | "topic" | "payload">> = {},
): Extract<Packet, { type: "publish" }> {
  return {
    type: "publish",
    topic,
    payload: typeof payload === "string" ? te.encode(payload) : payload,
    qos: 0,
    retain: false,
    dup: false,
    ...extra,
  };
}

export const te = new TextEncoder();
export const td = new TextDecoder();

/** The `message` event the engine gives for a PUBLISH (its topic as sent; resolve aliases yourself). */
export function messageEvent(p: Extract<Packet, { type: "publish" }>): Event {
  const e: Record<string, unknown> = { type: "message", topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup };
  if (p.packetId !== undefined) e.packetId = p.packetId;
  if (p.properties !== undefined) e.properties = p.properties;
  return e as unknown as Event;
}
