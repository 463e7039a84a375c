/**
 * Save throughput with fsync (durable: true), for sessions of 100 and 10,000
 * outgoing messages, each save acknowledging one message, adding one and
 * moving one a stage on. Prints the numbers; asserts only that saves go on
 * and the last one loads (the numbers depend on the disk).
 */
import { describe, expect, it } from "vitest";
import type { OutgoingMessage, SessionState, StoredSession } from "@sansmqtt/core";
import { FileStore } from "../src/index.js";
import { tempDir, track } from "./tmp.js";

function message(mid: number): OutgoingMessage {
  const payload = new Uint8Array(100);
  for (let i = 0; i < payload.length; i++) payload[i] = (mid + i) & 0xff;
  return { mid, topic: `sensors/${mid % 100}/value`, payload, qos: 2, retain: false, state: "publish", packetId: (mid % 65535) + 1, sent: true };
}

class Session {
  private readonly outgoing: OutgoingMessage[] = [];
  private nextMid = 1;
  constructor(size: number) {
    for (let i = 0; i < size; i++) this.outgoing.push(message(this.nextMid++));
  }
  /** One save's worth of change: the oldest acknowledged, one published, one PUBREC'd. */
  step(): StoredSession {
    this.outgoing.shift();
    this.outgoing.push(message(this.nextMid++));
    const i = this.nextMid % this.outgoing.length;
    const m = this.outgoing[i]!;
    if (m.state === "publish") this.outgoing[i] = { ...m, state: "pubrel" };
    const session: SessionState = { format: 1, clientId: "bench", nextPacketId: 1, nextMid: this.nextMid, outgoing: [...this.outgoing], incomingQos2: [], subscriptions: [{ topicFilter: "cmd/#", qos: 1 }] };
    return { session, savedAt: Date.now() };
  }
}

async function measure(size: number, concurrency: number, ms: number): Promise<{ perSecond: number; first: number; syncs: number; saves: number; full: number }> {
  let syncs = 0;
  const store = track(new FileStore(tempDir(), "bench", { onSync: () => syncs++ }));
  const session = new Session(size);
  let t = performance.now();
  await store.save(session.step()); // the first save writes the whole session
  const first = performance.now() - t;
  let saves = 0;
  let last: StoredSession | undefined;
  t = performance.now();
  const end = t + ms;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      last = session.step();
      await store.save(last);
      saves++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const perSecond = saves / ((performance.now() - t) / 1000);
  expect(await store.load()).toEqual(last);
  return { perSecond, first, syncs, saves, full: store.stats().fullRecords };
}

describe("throughput (durable: fsync on every write)", () => {
  it("saves per second for 100 and 10,000 outgoing messages, one at a time and 8 at a time (group commit)", async () => {
    const lines: string[] = [];
    for (const size of [100, 10_000]) {
      for (const concurrency of [1, 8]) {
        const r = await measure(size, concurrency, 1_500);
        expect(r.saves).toBeGreaterThan(10);
        lines.push(
          `${String(size).padStart(6)} messages, ${concurrency} outstanding: ${r.perSecond.toFixed(0).padStart(5)} saves/s ` +
            `(${r.saves} saves, ${r.syncs} fsyncs, ${r.full} full records; first save ${r.first.toFixed(1)} ms)`,
        );
      }
    }
    console.log(`throughput:\n  ${lines.join("\n  ")}`);
  }, 60_000);
});
