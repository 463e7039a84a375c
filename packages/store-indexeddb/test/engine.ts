/**
 * Real sessions: an MqttConnection driven by a scripted server (no sockets),
 * so what the store saves is what exportSession gives. (The minimum of
 * packages/store-file/test/engine.ts.)
 */
import { MqttConnection, type ConnectionOptions, type ProtocolVersion, type SessionState } from "@sansmqtt/core";
import { encodePacket, PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import { IDBFactory } from "fake-indexeddb";

export class Peer {
  readonly conn: MqttConnection;
  readonly version: ProtocolVersion;
  now = 0;
  /** `published` events seen (messages the server finished). */
  completed = 0;
  private readonly decoder: PacketDecoder;

  constructor(options: ConnectionOptions = {}) {
    this.conn = new MqttConnection({ clientId: "store-test", ...options });
    this.version = this.conn.protocolVersion;
    this.decoder = new PacketDecoder({ protocolVersion: this.version });
  }

  private drain(): void {
    for (let e = this.conn.pollEvent(this.now); e !== undefined; e = this.conn.pollEvent(this.now)) if (e.type === "published") this.completed++;
  }

  /** Events drained, then the packets the client sent. */
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
 * and go away.
 */
export class Churn {
  readonly peer: Peer;
  private readonly random: () => number;
  /** packet id → QoS 1 or 2 waiting ("publish"), or QoS 2 waiting for PUBCOMP ("pubrel"). */
  private readonly inflight = new Map<number, { qos: 1 | 2; stage: "publish" | "pubrel" }>();
  private published = 0;

  /** ackRate: the chance that the server answers a given message in flight at each step. */
  constructor(seed: number, private readonly ackRate = 0.35) {
    this.random = rng(seed);
    this.peer = new Peer({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, maxQueued: 10_000 });
    this.peer.connect({ properties: { receiveMaximum: 20 } });
  }

  step(): void {
    const r = this.random;
    const p = this.peer;
    p.now += 1 + Math.floor(r() * 5);
    const adds = this.published - p.completed >= 200 ? 0 : Math.floor(r() * 3);
    this.published += adds;
    for (let i = 0; i < adds; i++) {
      p.conn.publish(p.now, {
        topic: `churn/${Math.floor(r() * 50)}`,
        payload: bytes(r, Math.floor(r() * 200)),
        qos: r() < 0.5 ? 1 : 2,
        ...(r() < 0.3 ? { properties: { correlationData: bytes(r, 8), userProperties: [["k", "v\u00e9"]], contentType: "application/octet-stream" } } : {}),
      });
    }
    this.record(p.flush());
    for (const [id, m] of [...this.inflight]) {
      if (r() > this.ackRate) continue;
      this.inflight.delete(id);
      if (m.qos === 1) p.serverSends({ type: "puback", packetId: id, reasonCode: 0 });
      else if (m.stage === "publish") p.serverSends({ type: "pubrec", packetId: id, reasonCode: 0 });
      else p.serverSends({ type: "pubcomp", packetId: id, reasonCode: 0 });
    }
    this.record(p.flush());
  }

  private record(packets: Packet[]): void {
    for (const pkt of packets) {
      if (pkt.type === "publish" && pkt.packetId !== undefined) this.inflight.set(pkt.packetId, { qos: pkt.qos as 1 | 2, stage: "publish" });
      if (pkt.type === "pubrel") this.inflight.set(pkt.packetId, { qos: 2, stage: "pubrel" });
    }
  }
}

/** A fresh, empty in-memory IndexedDB (fake-indexeddb): each test gets its own. */
export const freshIndexedDb = (): IDBFactory => new IDBFactory();

/** The code of the StoreError (or other error) a promise rejects with; "resolved" when it does not. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return String((e as { code?: unknown }).code ?? e);
  }
}

/** Reads or writes a record with the raw IndexedDB API (as devtools, or a damaged profile, would). */
export function raw(factory: IDBFactory, databaseName: string): { put(key: string, value: unknown): Promise<void>; get(key: string): Promise<unknown> } {
  const open = (): Promise<IDBDatabase> =>
    new Promise((resolve, reject) => {
      const req = factory.open(databaseName, 1);
      req.onupgradeneeded = () => req.result.createObjectStore("sessions");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  const inTx = async <T>(mode: IDBTransactionMode, work: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const db = await open();
    try {
      return await new Promise<T>((resolve, reject) => {
        const tx = db.transaction("sessions", mode);
        const req = work(tx.objectStore("sessions"));
        tx.oncomplete = () => resolve(req.result);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  };
  return {
    put: async (key, value) => {
      await inTx("readwrite", (s) => s.put(value, key));
    },
    get: (key) => inTx("readonly", (s) => s.get(key)),
  };
}
