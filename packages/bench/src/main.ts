// sansmqtt codec benchmark: our codec next to mqtt-packet, in one process,
// interleaved round by round, medians reported. Prints a markdown report on
// stdout (progress goes to stderr). Exits 1 only when a benchmark or a
// correctness check breaks; a missed performance target is only reported.
//
// Knobs (environment): BENCH_ROUNDS (7), BENCH_MIN_SAMPLE_MS (200),
// BENCH_STREAM_MIB (16), BENCH_CHUNK_KIB (64), BENCH_ONLY (comma-separated
// benchmark ids, e.g. "parse:p16,generate:v5"; for profiling), BENCH_VERBOSE
// (set: print every sample, as pkt/s / passes, on stderr).

import os from "node:os";
import { performance } from "node:perf_hooks";
import { checkRow, encodeRow, type Encoded } from "./checks.js";
import {
  buildStream,
  framerParse,
  oursGenerate,
  oursParse,
  theirsGenerate,
  theirsParse,
} from "./contenders.js";
import { engineRows } from "./engine.js";
import { rows, type Row } from "./fixtures.js";
import { runInterleaved, type Contender, type Result, type RunOptions } from "./harness.js";
import { fmtRate, fmtMB, fmtRatio, markdownTable } from "./report.js";

function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
}

const run: RunOptions = {
  rounds: Math.round(envNumber("BENCH_ROUNDS", 7)),
  minSampleMs: envNumber("BENCH_MIN_SAMPLE_MS", 200),
  warmupRounds: 2,
  warmupMs: 200,
};
const streamBytes = Math.round(envNumber("BENCH_STREAM_MIB", 16) * 1024 * 1024);
const chunkSize = Math.round(envNumber("BENCH_CHUNK_KIB", 64) * 1024);
const only = (process.env["BENCH_ONLY"] ?? "").split(",").filter((s) => s !== "");
const verbose = (process.env["BENCH_VERBOSE"] ?? "") !== "";
const wanted = (id: string): boolean => only.length === 0 || only.includes(id);

const t0 = performance.now();
const log = (msg: string): void => {
  process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${msg}\n`);
};

interface Bench {
  id: string;
  label: string;
  results: Result[] | undefined;
  error: string | undefined;
}

const benches: Bench[] = [];
const problems: string[] = [];
const notes: string[] = [];

function bench(id: string, label: string, make: () => Contender[]): void {
  if (!wanted(id)) return;
  log(`${id}: ${label}`);
  try {
    const results = runInterleaved(make(), run);
    if (verbose) {
      for (const r of results) {
        log(`  ${r.name.padEnd(11)} ${r.samples.map((x) => `${fmtRate(x.packetsPerSec)}/${x.passes}`).join("  ")}`);
      }
    }
    benches.push({ id, label, results, error: undefined });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log(`${id}: FAILED: ${msg}`);
    problems.push(`${id}: ${msg}`);
    benches.push({ id, label, results: undefined, error: msg });
  }
}

// ---- fixtures, checks, streams ----

const prepared: { row: Row; enc: Encoded }[] = [];
for (const row of rows()) {
  let enc: Encoded;
  try {
    enc = encodeRow(row);
  } catch (e) {
    // Our encoder (or mqtt-packet) rejects a fixture: nothing of this row can run.
    const msg = `encoding the fixtures threw ${e instanceof Error ? e.message : String(e)}`;
    problems.push(`${row.id}: ${msg}`);
    notes.push(`${row.id} (${row.label}): CHECK FAILED: ${msg}`);
    for (const op of ["parse", "generate"]) {
      if (wanted(`${op}:${row.id}`)) benches.push({ id: `${op}:${row.id}`, label: `${op} · ${row.label}`, results: undefined, error: msg });
    }
    continue;
  }
  const check = checkRow(row, enc);
  for (const p of check.problems) problems.push(`${row.id}: ${p}`);
  notes.push(`${row.id} (${row.label}): ${[...check.notes, ...check.problems.map((p) => `CHECK FAILED: ${p}`)].join("; ")}`);
  prepared.push({ row, enc });
}

// ---- parse ----

for (const { row, enc } of prepared) {
  const id = `parse:${row.id}`;
  if (!wanted(id)) continue;
  const label = `parse · ${row.label} (${fmtBytesPerPacket(enc.theirs.length / row.theirs.length)})`;
  bench(id, label, () => {
    // Both parsers read the same bytes: mqtt-packet's encoding of the row.
    const stream = buildStream(enc.theirs, row.theirs.length, enc.payloadBytes, streamBytes, chunkSize);
    const contenders = [oursParse(stream, row.version), theirsParse(stream, row.version)];
    // The framer runs on the 16 B row's stream, in the same rounds.
    if (row.id === "p16") contenders.push(framerParse(stream));
    return contenders;
  });
}

// ---- generate ----

for (const { row, enc } of prepared) {
  const label = `generate · ${row.label} (${fmtBytesPerPacket(enc.ours.length / row.ours.length)})`;
  bench(`generate:${row.id}`, label, () => [oursGenerate(row, enc.ours.length), theirsGenerate(row, enc.theirs.length)]);
}

function fmtBytesPerPacket(n: number): string {
  return `${Number.isInteger(n) ? n : n.toFixed(1)} B/pkt on the wire`;
}

// ---- engine ----

for (const r of engineRows()) bench(r.id, `engine · ${r.label}`, r.make);

const elapsed = (performance.now() - t0) / 1000;
log("done");

// ---- report ----

const find = (id: string, name: string): Result | undefined =>
  benches.find((b) => b.id === id)?.results?.find((r) => r.name === name);
const ratioOf = (id: string): number | undefined => {
  const a = find(id, "ours");
  const b = find(id, "mqtt-packet");
  return a && b ? a.packetsPerSec / b.packetsPerSec : undefined;
};

const cpus = os.cpus();
const out: string[] = [];
out.push("## sansmqtt codec vs mqtt-packet 9.0.2");
out.push("");
out.push(
  `- Node ${process.version} (V8 ${process.versions.v8}), ${process.platform}/${process.arch}, ` +
    `${cpus[0]?.model.trim() ?? "unknown CPU"} × ${cpus.length}`,
);
out.push(
  `- ${run.rounds} rounds per benchmark, contenders interleaved within each round (ours, mqtt-packet[, framer]); ` +
    `medians shown; each sample ≥ ${run.minSampleMs} ms, after ${run.warmupRounds} warm-up rounds.`,
);
out.push(
  `- Parse: ~${Math.round(streamBytes / 1048576)} MiB per row, fed in ${chunkSize / 1024} KiB chunks ` +
    `(packets straddle chunk boundaries); both parsers get the same bytes (mqtt-packet's encoding); ` +
    `every pass checks the packet count and the PUBLISH payload bytes decoded.`,
);
out.push("- Generate: the row's packets built once, encoded repeatedly (~1 MiB of output per pass).");
out.push("- MB/s = 10^6 wire bytes per second. pkt/s in millions (M) or thousands (k).");
out.push(
  "- The 64 KiB rows mostly measure allocating and copying large buffers (each packet straddles chunks, so " +
    "both parsers join it); their absolute numbers move with the heap's state, their ratio much less.",
);
out.push(
  "- **Compare the ratios, not the absolute numbers**: absolute rates depend on the machine and its load; " +
    "the ratio of two contenders measured side by side in the same rounds is what carries over.",
);
out.push("");

const tableRows: string[][] = [];
for (const b of benches) {
  if (b.results === undefined) {
    tableRows.push([b.label, "ERROR", "", "", "", b.error ?? ""]);
    continue;
  }
  const ours = b.results.find((r) => r.name === "ours");
  const theirs = b.results.find((r) => r.name === "mqtt-packet");
  const framer = b.results.find((r) => r.name === "framer");
  if (ours && theirs) {
    tableRows.push([
      b.label,
      fmtRate(ours.packetsPerSec),
      fmtMB(ours.bytesPerSec),
      fmtRate(theirs.packetsPerSec),
      fmtMB(theirs.bytesPerSec),
      fmtRatio(ours.packetsPerSec / theirs.packetsPerSec),
    ]);
  }
  if (framer && ours) {
    tableRows.push([
      "parse · framer ceiling (fixed header + a view per frame, nothing else), the 16 B row's stream; figures in the ours columns",
      fmtRate(framer.packetsPerSec),
      fmtMB(framer.bytesPerSec),
      "—",
      "—",
      `ours / framer = ${(ours.packetsPerSec / framer.packetsPerSec).toFixed(2)}`,
    ]);
  }
}
out.push(
  markdownTable(
    ["benchmark", "ours pkt/s", "ours MB/s", "mqtt-packet pkt/s", "mqtt-packet MB/s", "ours / mqtt-packet"],
    tableRows,
    ["l", "r", "r", "r", "r", "r"],
  ),
);
out.push("");

const engineTable: string[][] = [];
for (const b of benches) {
  const engine = b.results?.find((r) => r.name === "engine");
  const codec = b.results?.find((r) => r.name === "codec");
  if (engine && codec) {
    engineTable.push([
      b.label,
      fmtRate(engine.packetsPerSec),
      fmtRate(codec.packetsPerSec),
      fmtRatio(engine.packetsPerSec / codec.packetsPerSec),
    ]);
  }
}
if (engineTable.length > 0) {
  out.push("Engine (MqttConnection: codec + session, flow control, acks, events) next to the codec alone doing the same wire work:");
  out.push("");
  out.push(markdownTable(["benchmark", "engine msg/s", "codec-only msg/s", "engine / codec"], engineTable, ["l", "r", "r", "r"]));
  out.push("");
}

out.push("Spread of the samples ((max − min) / median of pkt/s over the rounds):");
out.push("");
for (const b of benches) {
  if (b.results === undefined) continue;
  out.push(`- ${b.id}: ${b.results.map((r) => `${r.name} ${r.spreadPct.toFixed(1)}%`).join(", ")}`);
}
out.push("");

// ---- targets ----

interface Target {
  what: string;
  value: number | undefined;
  /** value must be >= min, or <= max. */
  min?: number;
  max?: number;
  unit: string;
}
const framerOverOurs = ((): number | undefined => {
  const o = find("parse:p16", "ours");
  const f = find("parse:p16", "framer");
  return o && f ? f.packetsPerSec / o.packetsPerSec : undefined;
})();
const targets: Target[] = [
  { what: "parse 16 B (3.1.1 QoS0): ours ≥ 8x mqtt-packet", value: ratioOf("parse:p16"), min: 8, unit: "x" },
  { what: "parse 5.0 QoS1 + properties: ours ≥ 5x mqtt-packet", value: ratioOf("parse:v5"), min: 5, unit: "x" },
  { what: "parse 64 KiB: ours ≥ 1x mqtt-packet", value: ratioOf("parse:p64k"), min: 1, unit: "x" },
  { what: "parse 16 B: framer / ours ≤ 3 (ours within 3x of the ceiling)", value: framerOverOurs, max: 3, unit: "" },
  { what: "generate 16 B (3.1.1 QoS0): ours ≥ 4x mqtt-packet", value: ratioOf("generate:p16"), min: 4, unit: "x" },
  { what: "generate 5.0 QoS1 + properties: ours ≥ 4x mqtt-packet", value: ratioOf("generate:v5"), min: 4, unit: "x" },
];
out.push("Targets:");
out.push("");
for (const t of targets) {
  if (t.value === undefined) {
    out.push(`- **n/a** ${t.what}: not measured`);
    continue;
  }
  const v = `${t.value.toFixed(2)}${t.unit}`;
  let pass: boolean;
  let margin: string;
  if (t.min !== undefined) {
    pass = t.value >= t.min;
    margin = pass
      ? `${((t.value / t.min - 1) * 100).toFixed(0)}% above the bar`
      : `short by ${((1 - t.value / t.min) * 100).toFixed(0)}% (needs ${(t.min / t.value).toFixed(2)}x more speed)`;
  } else {
    const max = t.max!;
    pass = t.value <= max;
    margin = pass
      ? `${((1 - t.value / max) * 100).toFixed(0)}% below the bar`
      : `over by ${((t.value / max - 1) * 100).toFixed(0)}% (ours needs ${(t.value / max).toFixed(2)}x more speed)`;
  }
  out.push(`- **${pass ? "PASS" : "FAIL"}** ${t.what}: ${v}, ${margin}`);
}
out.push("");

out.push("Checks (before timing; ours decodes mqtt-packet's bytes, mqtt-packet parses ours):");
out.push("");
for (const n of notes) out.push(`- ${n}`);
out.push("");
out.push(`Benchmark wall time: ${elapsed.toFixed(1)} s.`);
if (problems.length > 0) {
  out.push("");
  out.push(`**${problems.length} problem(s)** — results above may be meaningless:`);
  for (const p of problems) out.push(`- ${p}`);
}
process.stdout.write(out.join("\n") + "\n");
if (problems.length > 0) process.exitCode = 1;
