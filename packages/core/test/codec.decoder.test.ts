/**
 * The streaming decoder under hostile chunking (hardening defect 5: reassembly
 * was quadratic in the number of chunks and held ~100 bytes per buffered byte).
 *
 * - Work is linear in the bytes whatever the chunking: one byte per push, any
 *   mix of chunk sizes, a pull after every push or only at the end, thousands
 *   of chunks before the first pull.
 * - Memory stays within a small factor of the bytes buffered, and
 *   `bufferedBytes` is always what was pushed minus what was consumed.
 * - A payload handed out earlier never changes when more bytes are pushed (the
 *   decoder copies small chunks into a buffer of its own, and never reuses it).
 *
 * Nothing is timed tightly: the budgets are seconds where the linear decoder
 * takes milliseconds and the quadratic one took minutes (1 MiB one byte per
 * push: ~0.2 s now; 512 KiB took 137 s before), so a loaded 2-core machine
 * does not make them flake. The memory check forces a GC first.
 *
 * A fast-check failure prints "Replay: FC_SEED=... FC_PATH=..."; rerun it with
 *   FC_SEED=<seed> FC_PATH=<path> pnpm exec vitest run --config ../../vitest.config.ts test/codec.decoder.test.ts -t "<test name>"
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodePacket, type Packet, PacketDecoder, type PublishPacket } from "../src/codec/index.js";
import { type ProtocolVersion } from "../src/index.js";
import { type ArbitraryOptions, arbPacketStream, concatBytes } from "@sansmqtt/core/testing";
import { check } from "./helpers/fc.js";

// ---------------------------------------------------------------------------
// Running properties (as in codec.prop.test.ts)


const RUNS = { chunkings: 60, views: 100 };

/** Generous budgets: a loaded machine may be 10x slower, the quadratic decoder was 1000x. */
const BUDGET = {
  /** Any single push() or next() call. */
  callMs: 1_500,
  /** 1 MiB one byte per push, whatever the pull pattern (about 0.2 s unloaded). */
  mebibyteMs: 12_000,
};

// ---------------------------------------------------------------------------
// Helpers

function publish(payload: Uint8Array, topic = "a/b"): PublishPacket {
  return { type: "publish", topic, payload, qos: 0, retain: false, dup: false };
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Every Uint8Array a packet holds (payloads, password, correlation and authentication data), each with its path. */
function binaryFields(p: unknown, path = ""): [string, Uint8Array][] {
  if (p instanceof Uint8Array) return [[path, p]];
  if (typeof p !== "object" || p === null) return [];
  return Object.entries(p).flatMap(([k, v]) => binaryFields(v, `${path}.${k}`));
}

/** How to pull: after every push, only at the end, or after a push when `at(i)` says so. */
type Pulls = "each" | "end" | { every: number };

interface FeedResult {
  packets: Packet[];
  maxCallMs: number;
  totalMs: number;
}

/**
 * Pushes `chunks` into a decoder, pulling as `pulls` says (and all that is left
 * at the end). Checks after every call that bufferedBytes is what was pushed
 * minus what was consumed, and that no call takes longer than BUDGET.callMs.
 */
function feed(chunks: readonly Uint8Array[], version: ProtocolVersion, pulls: Pulls, frameSizes?: readonly number[]): FeedResult {
  const d = new PacketDecoder({ protocolVersion: version });
  const packets: Packet[] = [];
  let pushed = 0;
  let consumed = 0;
  let maxCallMs = 0;
  const start = performance.now();
  // Fails within the budget rather than hanging for minutes on a slow decoder.
  const overBudget = (t: number): void => {
    if (maxCallMs > BUDGET.callMs || t - start > BUDGET.mebibyteMs) {
      throw new Error(`over budget after ${pushed} bytes pushed: slowest call ${maxCallMs.toFixed(0)} ms, ${(t - start).toFixed(0)} ms in all`);
    }
  };
  const drain = (): void => {
    for (;;) {
      const t = performance.now();
      const p = d.next();
      maxCallMs = Math.max(maxCallMs, performance.now() - t);
      overBudget(t);
      if (p === undefined) break;
      if (frameSizes !== undefined) consumed += frameSizes[packets.length]!;
      packets.push(p);
      if (frameSizes !== undefined && d.bufferedBytes !== pushed - consumed) {
        throw new Error(`bufferedBytes ${d.bufferedBytes} after a packet, expected ${pushed - consumed}`);
      }
    }
  };
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i]!;
    const t = performance.now();
    d.push(c);
    maxCallMs = Math.max(maxCallMs, performance.now() - t);
    overBudget(t);
    pushed += c.length;
    if (frameSizes !== undefined && d.bufferedBytes !== pushed - consumed) {
      throw new Error(`bufferedBytes ${d.bufferedBytes} after a push, expected ${pushed - consumed}`);
    }
    if (pulls === "each" || (typeof pulls === "object" && i % pulls.every === 0)) drain();
  }
  drain();
  const totalMs = performance.now() - start;
  if (frameSizes !== undefined) expect(d.bufferedBytes).toBe(pushed - consumed);
  expect(maxCallMs, `slowest call ${maxCallMs.toFixed(1)} ms`).toBeLessThan(BUDGET.callMs);
  return { packets, maxCallMs, totalMs };
}

function oneBytePerPush(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = new Array<Uint8Array>(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.subarray(i, i + 1);
  return out;
}

/** Cuts `bytes` into chunks whose sizes cycle through `sizes`. */
function cutBySizes(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let k = 0;
  for (let off = 0; off < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    out.push(bytes.subarray(off, Math.min(bytes.length, off + n)));
    off += n;
  }
  return out;
}

/** A version and a stream of packets of that version. */
function streamOf(options: ArbitraryOptions): fc.Arbitrary<[ProtocolVersion, Packet[]]> {
  return fc.constantFrom<ProtocolVersion>(3, 4, 5).chain((v) => arbPacketStream(v, options).map((ps): [ProtocolVersion, Packet[]] => [v, ps]));
}

/** A real GC, so the memory check measures what is held, not garbage (no --expose-gc needed). */
function gcNow(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

// ---------------------------------------------------------------------------

describe("streaming decoder: linear in bytes, bounded memory, stable views", () => {
  it("decoder is linear in bytes whatever the chunking (hardening defect 5)", () => {
    // A PUBLISH one byte per push: 128 KiB first, so that a quadratic decoder
    // fails in seconds (its joining call took ~6 s there, over the per-call
    // budget) instead of hanging; then 1 MiB, ~1M chunks, where it took 137 s
    // for 512 KiB (pull at the end) and 586 s for 1 MiB (pull after each push).
    for (const size of [128 * 1024, 1024 * 1024]) {
      const payload = pattern(size, 7);
      const bytes = encodePacket(publish(payload), 4);
      const chunks = oneBytePerPush(bytes);
      const patterns: Pulls[] = size < 1024 * 1024 ? ["each", "end", { every: 4096 }] : ["each", "end"];
      for (const pulls of patterns) {
        const r = feed(chunks, 4, pulls, [bytes.length]);
        expect(r.packets).toHaveLength(1);
        expect(sameBytes((r.packets[0] as PublishPacket).payload, payload)).toBe(true);
        expect(r.totalMs, `${size} bytes, ${JSON.stringify(pulls)}: ${r.totalMs.toFixed(0)} ms`).toBeLessThan(BUDGET.mebibyteMs);
      }
    }
    const payload = pattern(1024 * 1024, 9);
    const bytes = encodePacket(publish(payload), 4);
    // Any mix of sizes around the copy threshold (1 KiB), small and large, one pull at the end or after each push.
    for (const sizes of [
      [1, 1023, 1024, 1, 1025, 3],
      [65_536, 1, 1, 1, 700, 4096],
      [2, 3, 5, 7, 11, 13, 2000],
    ]) {
      for (const pulls of ["each", "end"] as const) {
        const r = feed(cutBySizes(bytes, sizes), 4, pulls, [bytes.length]);
        expect(sameBytes((r.packets[0] as PublishPacket).payload, payload)).toBe(true);
        expect(r.totalMs, `${sizes.join(",")} ${pulls}: ${r.totalMs.toFixed(0)} ms`).toBeLessThan(BUDGET.mebibyteMs);
      }
    }
  });

  it("thousands of small packets in tens of thousands of chunks, all pushed before the first pull", () => {
    const packets = Array.from({ length: 5000 }, (_, i) => publish(pattern(16 + (i % 50), i), `t/${i % 97}`));
    const frames = packets.map((p) => encodePacket(p, 4));
    const bytes = concatBytes(frames);
    const chunks = cutBySizes(bytes, [1, 2, 3, 5, 8, 13, 1, 1]); // ~100,000 chunks, frames straddle them
    expect(chunks.length).toBeGreaterThan(50_000);
    const r = feed(chunks, 4, "end", frames.map((f) => f.length));
    expect(r.packets).toHaveLength(packets.length);
    r.packets.forEach((p, i) => {
      expect((p as PublishPacket).topic).toBe(packets[i]!.topic);
      expect(sameBytes((p as PublishPacket).payload, packets[i]!.payload)).toBe(true);
    });
    expect(r.totalMs).toBeLessThan(BUDGET.mebibyteMs);
  });

  it("holds a small constant factor of the bytes buffered, not an object per pushed byte", () => {
    const gc = gcNow();
    const bytes = encodePacket(publish(pattern(1024 * 1024, 3)), 4);
    const heldNow = (): number => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    for (const pulls of ["each", "end"] as const) {
      const before = heldNow();
      const d = new PacketDecoder({ protocolVersion: 4 });
      // Each chunk made as it is pushed, as a transport does: one the decoder keeps counts.
      for (let i = 0; i < bytes.length - 1; i++) {
        d.push(bytes.subarray(i, i + 1));
        if (pulls === "each" && d.next() !== undefined) throw new Error(`a packet after ${i + 1} of ${bytes.length} bytes`);
      }
      const held = heldNow() - before;
      expect(d.bufferedBytes).toBe(bytes.length - 1);
      // About 1 to 2 bytes per buffered byte (a buffer that doubles); the quadratic decoder held ~105.
      expect(held / d.bufferedBytes, `${held} bytes held for ${d.bufferedBytes} buffered (${pulls})`).toBeLessThan(6);
      d.push(bytes.subarray(bytes.length - 1));
      expect((d.next() as PublishPacket).payload.length).toBe(1024 * 1024);
      expect(d.bufferedBytes).toBe(0);
    }
  });

  it("any chunking (sizes 1 to 70,000, pulls after every push, at the end, or now and then): same packets, bufferedBytes exact, every call within budget", () => {
    const size = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 8 }) },
      { weight: 2, arbitrary: fc.integer({ min: 9, max: 1023 }) },
      { weight: 1, arbitrary: fc.constantFrom(1023, 1024, 1025) },
      { weight: 2, arbitrary: fc.integer({ min: 1024, max: 70_000 }) },
    );
    const pulls = fc.oneof(fc.constant<Pulls>("each"), fc.constant<Pulls>("end"), fc.integer({ min: 1, max: 64 }).map((every): Pulls => ({ every })));
    check(
      fc.property(
        streamOf({ maxPackets: 6, maxPayloadLength: 40_000 }),
        fc.array(size, { minLength: 1, maxLength: 12 }),
        pulls,
        ([version, packets], sizes, pull) => {
          const frames = packets.map((p) => encodePacket(p, version));
          const r = feed(cutBySizes(concatBytes(frames), sizes), version, pull, frames.map((f) => f.length));
          expect(r.packets.length).toBe(packets.length);
          r.packets.forEach((p, i) => expect(sameBytes(encodePacket(p, version), frames[i]!)).toBe(true));
        },
      ),
      RUNS.chunkings,
    );
  });

  it("a payload decoded earlier does not change when more bytes are pushed", () => {
    // Packet A and the start of B arrive in small chunks, so they are copied into
    // the decoder's own buffer and A is decoded in place from it; then much
    // more arrives, small chunks again (appended to that buffer, then moved to
    // a larger one) with other bytes. A's payload must still read the same.
    const a = publish(pattern(300, 1));
    const frames = [a, ...Array.from({ length: 200 }, (_, i) => publish(pattern(100 + i * 13, 100 + i)))].map((p) => encodePacket(p, 4));
    const bytes = concatBytes(frames);
    const chunks = cutBySizes(bytes, [7, 1, 200, 3]);
    const d = new PacketDecoder({ protocolVersion: 4 });
    let i = 0;
    let first: PublishPacket | undefined;
    while (first === undefined) {
      d.push(chunks[i++]!);
      first = d.next() as PublishPacket | undefined;
    }
    const snapshot = first.payload.slice();
    expect(sameBytes(snapshot, a.payload)).toBe(true);
    const later: [PublishPacket, Uint8Array][] = [];
    for (; i < chunks.length; i++) {
      d.push(chunks[i]!);
      for (let p = d.next(); p !== undefined; p = d.next()) later.push([p as PublishPacket, (p as PublishPacket).payload.slice()]);
      expect(sameBytes(first.payload, snapshot), `after chunk ${i}`).toBe(true);
    }
    expect(later).toHaveLength(200);
    for (const [p, copy] of later) expect(sameBytes(p.payload, copy)).toBe(true);
    expect(d.bufferedBytes).toBe(0);
  });

  it("no binary field handed out (payload, password, correlation or authentication data) ever changes, and pushed chunks are never written", () => {
    check(
      fc.property(
        streamOf({ maxPackets: 12, maxPayloadLength: 3000, maxBinaryLength: 300 }),
        fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 3000 })), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 8 }),
        ([version, packets], sizes, every) => {
          const bytes = concatBytes(packets.map((p) => encodePacket(p, version)));
          const original = bytes.slice();
          const d = new PacketDecoder({ protocolVersion: version });
          const seen: [string, Uint8Array, Uint8Array][] = [];
          const chunks = cutBySizes(bytes, sizes);
          chunks.forEach((c, i) => {
            d.push(c);
            if (i % every !== 0 && i !== chunks.length - 1) return;
            for (let p = d.next(); p !== undefined; p = d.next()) {
              for (const [path, v] of binaryFields(p)) seen.push([`${p.type}${path}`, v, v.slice()]);
            }
            for (const [path, v, copy] of seen) expect(sameBytes(v, copy), `${path} changed`).toBe(true);
          });
          expect(d.bufferedBytes).toBe(0);
          expect(sameBytes(bytes, original), "a pushed chunk was written").toBe(true);
        },
      ),
      RUNS.views,
    );
  });
});
