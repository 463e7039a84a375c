/**
 * Real sessions for session-store tests: an MqttConnection driven by a
 * scripted server (no sockets), so what a store saves is what exportSession
 * gives. `richSession` has every kind of thing a session holds; `Churn` is a
 * publisher under load whose session changes at every step. Used by
 * store-file's and store-indexeddb's tests.
 */
import { MqttConnection, type ConnectionOptions, type ProtocolVersion, type SessionState } from "@sansmqtt/core";
import { encodePacket, PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import { rng } from "./random.js";

export class Peer {
  readonly conn: MqttConnection;
  readonly version: ProtocolVersion;
  now = 0;
  private readonly decoder: PacketDecoder;

  constructor(options: ConnectionOptions = {}) {
    this.conn = new MqttConnection({ clientId: "store-test", ...options });
    this.version = this.conn.protocolVersion;
    this.decoder = new PacketDecoder({ protocolVersion: this.version });
  }

  /** Events drained, then the packets the client sent. */
  /** `published` events seen (messages the server finished). */
  completed = 0;

  private drain(): void {
    for (let e = this.conn.pollEvent(this.now); e !== undefined; e = this.conn.pollEvent(this.now)) if (e.type === "published") this.completed++;
  }

  flush(): Packet[] {
    this.drain();
    for (const chunk of this.conn.pollTransmit(this.now)) this.decoder.push(chunk);
    const out: Packet[] = [];
    for (let p = this.decoder.next(); p !== undefined; p = this.decoder.next()) out.push(p);
    return out;
  }

  serverSends(...packets: Packet[]): void {
    for (const p of packets) this.conn.receiveData(this.now, encodePacket(p, this.version));
    this.drain();
  }

  connect(connack: Partial<Extract<Packet, { type: "connack" }>> = {}): void {
    this.conn.connect(this.now);
    this.flush();
    this.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0, ...connack });
    this.flush();
  }
}


export function bytes(random: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

/**
 * A v5 session with every kind of thing in it: QoS 1/2 in flight, a PUBREL
 * stage, a queue, incoming QoS 2, a subscription, a pending request; binary
 * payloads and properties.
 */
export function richSession(): SessionState {
  const peer = new Peer({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
  peer.connect({ properties: { receiveMaximum: 3 } });
  const binary = new Uint8Array(256).map((_, i) => i);
  peer.conn.publish(0, { topic: "a/1", payload: binary, qos: 1, properties: { correlationData: new Uint8Array([0, 255, 10, 13]), userProperties: [["x", "ü"], ["x", "2"]], payloadFormatIndicator: 0, contentType: "bin", responseTopic: "r/1" } });
  peer.conn.publish(0, { topic: "a/2", payload: new Uint8Array(0), qos: 2 });
  peer.conn.publish(0, { topic: "a/3", payload: new TextEncoder().encode("line\nbreak \u2603"), qos: 2, retain: true });
  peer.conn.publish(0, { topic: "a/4", payload: binary.subarray(10, 20), qos: 1 }); // queued: the window is 3
  peer.conn.subscribe(0, [{ topicFilter: "s/+", qos: 2, noLocal: true, retainHandling: 1 }], { subscriptionIdentifiers: [7] });
  peer.flush();
  peer.serverSends({ type: "pubrec", packetId: 2, reasonCode: 0 });
  peer.flush();
  peer.serverSends({ type: "suback", packetId: 4, reasonCodes: [2] });
  peer.conn.unsubscribe(0, "old/#");
  peer.serverSends({ type: "publish", topic: "in", payload: binary, qos: 2, retain: false, dup: false, packetId: 99 });
  peer.flush();
  return peer.conn.exportSession(0);
}

/**
 * A publisher under load: each step publishes a few QoS 1/2 messages (binary
 * payloads, v5 properties on some) and the server acknowledges some of what is
 * in flight (PUBACK, PUBREC, PUBCOMP), so messages are added, change stage
 * and go away. The window (receive maximum) keeps a queue behind the inflight.
 */
export class Churn {
  readonly peer: Peer;
  private readonly random: () => number;
  /** packet id → "publish" (QoS 1 or 2 waiting) or "pubrel" (QoS 2 waiting for PUBCOMP). */
  private readonly inflight = new Map<number, { qos: 1 | 2; stage: "publish" | "pubrel" }>();

  private readonly ackRate: number;
  private readonly cap: number;
  private published = 0;

  /** ackRate: the chance that the server answers a given message in flight at each step. */
  constructor(seed: number, options: { receiveMaximum?: number; maxQueued?: number; ackRate?: number; cap?: number } = {}) {
    this.cap = options.cap ?? 1_000;
    this.random = rng(seed);
    this.ackRate = options.ackRate ?? 0.35;
    this.peer = new Peer({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, maxQueued: options.maxQueued ?? 10_000 });
    this.peer.connect({ properties: { receiveMaximum: options.receiveMaximum ?? 20 } });
  }

  step(): void {
    const r = this.random;
    const p = this.peer;
    p.now += 1 + Math.floor(r() * 5);
    // No more than `cap` messages live: a publisher waits when its queue is full.
    const adds = this.published - p.completed >= this.cap ? 0 : Math.floor(r() * 3);
    this.published += adds;
    for (let i = 0; i < adds; i++) {
      const qos = r() < 0.5 ? 1 : 2;
      const withProps = r() < 0.3;
      p.conn.publish(p.now, {
        topic: `churn/${Math.floor(r() * 50)}`,
        payload: bytes(r, Math.floor(r() * 200)),
        qos,
        ...(withProps ? { properties: { correlationData: bytes(r, 8), userProperties: [["k", "v\u00e9"]], contentType: "application/octet-stream" } } : {}),
      });
    }
    for (const pkt of p.flush()) {
      if (pkt.type === "publish" && pkt.packetId !== undefined) this.inflight.set(pkt.packetId, { qos: pkt.qos as 1 | 2, stage: "publish" });
      if (pkt.type === "pubrel") this.inflight.set(pkt.packetId, { qos: 2, stage: "pubrel" });
    }
    // The server answers about as fast as messages come.
    for (const [id, m] of [...this.inflight]) {
      if (r() > this.ackRate) continue;
      this.inflight.delete(id);
      if (m.qos === 1) p.serverSends({ type: "puback", packetId: id, reasonCode: 0 });
      else if (m.stage === "publish") p.serverSends({ type: "pubrec", packetId: id, reasonCode: 0 });
      else p.serverSends({ type: "pubcomp", packetId: id, reasonCode: 0 });
    }
    for (const pkt of p.flush()) {
      if (pkt.type === "publish" && pkt.packetId !== undefined) this.inflight.set(pkt.packetId, { qos: pkt.qos as 1 | 2, stage: "publish" });
      if (pkt.type === "pubrel") this.inflight.set(pkt.packetId, { qos: 2, stage: "pubrel" });
    }
  }
}
