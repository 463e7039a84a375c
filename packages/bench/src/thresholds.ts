// The size thresholds of the codec, read from its source (packages/core/src/codec,
// shipped next to the dist the bench runs), so the rows beside them follow
// the codec when a limit moves. A threshold that cannot be found any more
// (renamed, removed) falls back to its value when these rows were written, and
// says so in the report: then its rows may no longer sit beside anything.

import { readFileSync } from "node:fs";

export interface Threshold {
  /** Where it lives, for the notes: "bytes.ts SLAB_MAX_PIECE". */
  where: string;
  value: number;
  /** False: not found in the source, `value` is the one the rows were written for. */
  found: boolean;
}

export interface Thresholds {
  /** Encoder outputs of at most this many bytes are carved from a shared slab. */
  slabMaxPiece: Threshold;
  /** The decoder's topic cache: slots, and the longest topic it holds. */
  decoderTopicSlots: Threshold;
  decoderTopicMax: Threshold;
  /** The encoder's topic cache: entries, and the longest topic it holds. */
  encoderTopicEntries: Threshold;
  encoderTopicMax: Threshold;
  /** decodeUtf8 builds strings of at most this many bytes by hand. */
  utf8ByHand: Threshold;
  /** The decoder copies pushed chunks shorter than this. */
  copyBelow: Threshold;
}

/** `1024`, `16 * 1024`, `65_536`: digits, underscores and products only. */
function evaluate(expr: string): number | undefined {
  const parts = expr.split("*").map((p) => p.trim().replaceAll("_", ""));
  if (parts.some((p) => !/^\d+$/.test(p))) return undefined;
  return parts.reduce((a, p) => a * Number(p), 1);
}

function sourceOf(file: string): string | undefined {
  try {
    // @sansmqtt/core resolves to dist/index.js; the source is in ../src.
    return readFileSync(new URL(`../src/codec/${file}`, import.meta.resolve("@sansmqtt/core")), "utf8");
  } catch {
    return undefined;
  }
}

function constant(file: string, name: string, known: number): Threshold {
  const m = new RegExp(`const\\s+${name}\\s*=\\s*([0-9_*\\s]+);`).exec(sourceOf(file) ?? "");
  const v = m?.[1] === undefined ? undefined : evaluate(m[1]);
  return { where: `${file} ${name}`, value: v ?? known, found: v !== undefined };
}

/** decodeUtf8's short-string branch: `if (end - start <= 24)`, or a named constant if it gets one. */
function utf8ByHand(known: number): Threshold {
  const src = sourceOf("utf8.ts") ?? "";
  const named = /const\s+(\w*(?:SHORT|BY_HAND|HAND)\w*)\s*=\s*([0-9_*\s]+);/.exec(src);
  if (named?.[1] !== undefined && named[2] !== undefined) {
    const v = evaluate(named[2]);
    if (v !== undefined) return { where: `utf8.ts ${named[1]}`, value: v, found: true };
  }
  const m = /end\s*-\s*start\s*<=\s*(\d+)/.exec(src);
  return { where: "utf8.ts decodeUtf8", value: m?.[1] === undefined ? known : Number(m[1]), found: m !== null };
}

export function readThresholds(): Thresholds {
  return {
    slabMaxPiece: constant("bytes.ts", "SLAB_MAX_PIECE", 1024),
    decoderTopicSlots: constant("decode.ts", "TOPIC_SLOTS", 256),
    decoderTopicMax: constant("decode.ts", "TOPIC_MAX_CACHED", 128),
    encoderTopicEntries: constant("encode.ts", "TOPIC_CACHE_ENTRIES", 256),
    encoderTopicMax: constant("encode.ts", "TOPIC_CACHE_MAX_LEN", 256),
    utf8ByHand: utf8ByHand(24),
    copyBelow: constant("decoder.ts", "COPY_BELOW", 1024),
  };
}

/** Thresholds not found in the source, as report lines. */
export function missingThresholds(t: Thresholds): string[] {
  return Object.values(t)
    .filter((x) => !x.found)
    .map((x) => `${x.where} not found in packages/core/src/codec: its rows use ${x.value}, the value when they were written`);
}
