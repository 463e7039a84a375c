// Timing: every contender does a fixed unit of work per `pass()` (and checks
// its own result, throwing on a wrong count). A sample repeats passes until at
// least `minSampleMs` have gone by; rates come from the work actually done.
// Contenders of one benchmark are sampled interleaved, round by round, so
// drift in machine speed hits them alike.
//
// No forced GC between samples or benchmarks: tried, and a freshly collected
// heap makes the 64 KiB rows (large ArrayBuffer allocations) several times
// slower until the heap has grown back, for both libraries. Samples run on
// the heap as a long-lived process would have it.

import { performance } from "node:perf_hooks";

export interface Contender {
  name: string;
  /** Packets handled by one pass. */
  packetsPerPass: number;
  /** Wire bytes handled (parsed or produced) by one pass. */
  bytesPerPass: number;
  /** One unit of work; throws if the result is wrong. */
  pass(): void;
}

export interface Sample {
  packetsPerSec: number;
  bytesPerSec: number;
  ms: number;
  passes: number;
}

export interface Result {
  name: string;
  samples: Sample[];
  /** Medians over the samples. */
  packetsPerSec: number;
  bytesPerSec: number;
  /** (max - min) / median of packets/s, in percent. */
  spreadPct: number;
}

export function sample(c: Contender, minSampleMs: number): Sample {
  let passes = 0;
  const t0 = performance.now();
  let ms: number;
  do {
    c.pass();
    passes++;
    ms = performance.now() - t0;
  } while (ms < minSampleMs);
  return {
    packetsPerSec: (passes * c.packetsPerPass * 1000) / ms,
    bytesPerSec: (passes * c.bytesPerPass * 1000) / ms,
    ms,
    passes,
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) throw new Error("median of nothing");
  const mid = n >> 1;
  return n % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface RunOptions {
  rounds: number;
  minSampleMs: number;
  warmupRounds: number;
  warmupMs: number;
}

/** Warm up, then `rounds` rounds of one sample per contender, in the given order. */
export function runInterleaved(contenders: readonly Contender[], o: RunOptions): Result[] {
  for (let r = 0; r < o.warmupRounds; r++) {
    for (const c of contenders) sample(c, o.warmupMs);
  }
  const samples: Sample[][] = contenders.map(() => []);
  for (let r = 0; r < o.rounds; r++) {
    contenders.forEach((c, i) => samples[i]!.push(sample(c, o.minSampleMs)));
  }
  return contenders.map((c, i) => {
    const s = samples[i]!;
    const pps = s.map((x) => x.packetsPerSec);
    const m = median(pps);
    return {
      name: c.name,
      samples: s,
      packetsPerSec: m,
      bytesPerSec: median(s.map((x) => x.bytesPerSec)),
      spreadPct: ((Math.max(...pps) - Math.min(...pps)) / m) * 100,
    };
  });
}
