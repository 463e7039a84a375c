/**
 * Real sessions: an MqttConnection driven by a scripted server (no sockets),
 * so what the store saves is what exportSession gives.
 */
import { MqttConnection, type ConnectionOptions, type ProtocolVersion } from "@sansmqtt/core";
import { encodePacket, PacketDecoder, type Packet } from "@sansmqtt/core/codec";

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

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function bytes(random: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
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
