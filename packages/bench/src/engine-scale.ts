// Engine scaling: the cost of one outgoing QoS 1 message (publish → bytes
// taken → PUBACK → published event) with 100 messages outstanding and with
// 60,000, measured side by side in the same rounds. The engine's bookkeeping
// (in-flight table, packet ids, acks, events) should cost the same per message
// however many are in flight: the target is a flat cost, 60,000 / 100 ≤ 1.5x.
//
// One pass, either window: a fresh MQTT 5 connection (CONNACK Receive Maximum
// 65,535, maxInflight 65,535, so 60,000 really are in flight), 60,000
// messages published `window` at a time: publish `window` messages, take the
// bytes, check that `window` are in flight, feed their PUBACKs (in order, in
// chunks of at most 64 KiB), drain the events. Same messages and bytes per
// pass for both windows; only the number outstanding differs.
//
// GC share: the time V8 spent in garbage collection (PerformanceObserver "gc"
// entries) during each contender's passes, over the time of those passes.

import { PerformanceObserver, performance, type PerformanceEntry } from "node:perf_hooks";
import { encodePacket, type Packet } from "@sansmqtt/core/codec";
import { MqttConnection, type ConnectionOptions, type Event, type PublishRequest } from "@sansmqtt/core";
import type { Contender } from "./harness.js";

/**
 * Every call into the engine (and the codec) in this file goes through `api`:
 * when MqttConnection's API changes, update these lines only. Written against
 * connect(now), publish(request, now), receiveData(bytes, now), pollEvent(),
 * pollTransmit(now) (called until it returns no chunks), inflightCount.
 */
const api = {
  create: (options: ConnectionOptions): MqttConnection => new MqttConnection(options),
  connect: (c: MqttConnection, now: number): void => c.connect(now),
  publish: (c: MqttConnection, now: number, request: PublishRequest): number => c.publish(now, request),
  receive: (c: MqttConnection, now: number, bytes: Uint8Array): void => c.receiveData(now, bytes),
  pollEvent: (c: MqttConnection, _now: number): Event | undefined => c.pollEvent(_now),
  pollTransmit: (c: MqttConnection, now: number): Uint8Array[] => c.pollTransmit(now),
  inflight: (c: MqttConnection): number => c.inflightCount,
  /** The codec, for the scripted server's bytes. */
  encode: (p: Packet): Uint8Array => encodePacket(p, 5),
};

export const SCALE_MESSAGES = 60_000;
export const SCALE_WINDOWS = [100, 60_000] as const;
const CHUNK = 64 * 1024;
const TOPIC = "sensors/building-7/floor-3/temperature";
const request: PublishRequest = { topic: TOPIC, payload: new Uint8Array(16).map((_, i) => i * 7), qos: 1 };
const connack = api.encode({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 65_535 } });

function connected(): MqttConnection {
  const c = api.create({ protocolVersion: 5, clientId: "bench", keepAlive: 0, maxInflight: 65_535, maxQueued: SCALE_MESSAGES });
  api.connect(c, 0);
  api.pollTransmit(c, 0);
  api.receive(c, 0, connack);
  if (api.pollEvent(c, 0)?.type !== "connected") throw new Error("engine did not connect");
  return c;
}

/** The PUBACKs for ids first..first+n-1, cut in chunks of at most 64 KiB. */
function acks(first: number, n: number): Uint8Array[] {
  const one = api.encode({ type: "puback", packetId: 1, reasonCode: 0 }).length;
  const all = new Uint8Array(n * one);
  for (let i = 0; i < n; i++) all.set(api.encode({ type: "puback", packetId: first + i, reasonCode: 0 }), i * one);
  const out: Uint8Array[] = [];
  for (let off = 0; off < all.length; off += CHUNK) out.push(all.subarray(off, Math.min(off + CHUNK, all.length)));
  return out;
}

/** Time spent in GC during a contender's passes, from the "gc" performance entries. */
class GcMeter {
  private readonly entries: PerformanceEntry[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    this.entries.push(...list.getEntries());
  });
  private readonly intervals = new Map<string, number[]>();

  start(): void {
    this.observer.observe({ entryTypes: ["gc"] });
  }

  /** `c`, recording the start and end of each of its passes. */
  wrap(c: Contender): Contender {
    const iv: number[] = [];
    this.intervals.set(c.name, iv);
    return {
      ...c,
      pass() {
        const t = performance.now();
        c.pass();
        iv.push(t, performance.now());
      },
    };
  }

  /**
   * GC time over pass time, per contender. Node reports GC entries from an
   * immediate after each collection, so the event loop must turn first.
   */
  async shares(): Promise<Map<string, number>> {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 10));
    this.entries.push(...this.observer.takeRecords());
    this.observer.disconnect();
    const out = new Map<string, number>();
    for (const [name, iv] of this.intervals) {
      let passMs = 0;
      let gcMs = 0;
      for (let k = 0; k < iv.length; k += 2) {
        const a = iv[k]!;
        const b = iv[k + 1]!;
        passMs += b - a;
        for (const e of this.entries) {
          const overlap = Math.min(b, e.startTime + e.duration) - Math.max(a, e.startTime);
          if (overlap > 0) gcMs += overlap;
        }
      }
      if (passMs > 0) out.set(name, gcMs / passMs);
    }
    return out;
  }
}

export function windowName(window: number): string {
  return `${window.toLocaleString("en-US")} outstanding`;
}

function outstanding(window: number, gc: GcMeter): Contender {
  const batches: Uint8Array[][] = [];
  for (let first = 1; first <= SCALE_MESSAGES; first += window) batches.push(acks(first, Math.min(window, SCALE_MESSAGES - first + 1)));
  const wire = api.encode({ type: "publish", topic: TOPIC, payload: request.payload, qos: 1, retain: false, dup: false, packetId: 1 }).length;
  return gc.wrap({
    name: windowName(window),
    packetsPerPass: SCALE_MESSAGES,
    bytesPerPass: SCALE_MESSAGES * wire,
    pass() {
      const c = connected();
      let bytes = 0;
      let done = 0;
      for (let sent = 0, b = 0; sent < SCALE_MESSAGES; sent += window, b++) {
        const n = Math.min(window, SCALE_MESSAGES - sent);
        for (let i = 0; i < n; i++) api.publish(c, 1, request);
        // Take until nothing is left: PUBLISH moves from the queue to the
        // output only up to the engine's high-water mark of untaken bytes
        // (64 KiB), so a large window takes several rounds.
        for (let chunks = api.pollTransmit(c, 1); chunks.length > 0; chunks = api.pollTransmit(c, 1)) {
          for (const chunk of chunks) bytes += chunk.length;
        }
        const inflight = api.inflight(c);
        if (inflight !== n) throw new Error(`engine: ${inflight} in flight, expected ${n}`);
        for (const chunk of batches[b]!) api.receive(c, 1, chunk);
        for (let e = api.pollEvent(c, 1); e !== undefined; e = api.pollEvent(c, 1)) {
          if (e.type !== "published" || e.reasonCode !== 0) throw new Error(`engine: unexpected ${e.type} event`);
          done++;
        }
      }
      if (bytes !== SCALE_MESSAGES * wire || done !== SCALE_MESSAGES) {
        throw new Error(`engine: ${bytes} bytes, ${done} published, expected ${SCALE_MESSAGES * wire} / ${SCALE_MESSAGES}`);
      }
    },
  });
}

export interface ScaleBench {
  id: string;
  label: string;
  make: () => Contender[];
  /** GC share per contender name, after the bench ran. */
  gcShares: () => Promise<Map<string, number>>;
}

export function scaleBench(): ScaleBench {
  const gc = new GcMeter();
  return {
    id: "engine:scale",
    label: "outgoing QoS 1, 5.0, publish → PUBACK → published, per message",
    make: () => {
      const contenders = SCALE_WINDOWS.map((w) => outstanding(w, gc));
      gc.start();
      return contenders;
    },
    gcShares: () => gc.shares(),
  };
}
