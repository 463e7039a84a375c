// Number formatting and a markdown table that lines up in a terminal too.

export function fmtRate(perSec: number): string {
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)} M`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} k`;
  return perSec.toFixed(0);
}

export function fmtMB(bytesPerSec: number): string {
  const mb = bytesPerSec / 1e6;
  return mb >= 100 ? mb.toFixed(0) : mb.toFixed(1);
}

export function fmtRatio(r: number): string {
  return `${r.toFixed(2)}x`;
}

export function markdownTable(head: string[], body: string[][], align: ("l" | "r")[]): string {
  const all = [head, ...body];
  const width = head.map((_, c) => Math.max(3, ...all.map((r) => (r[c] ?? "").length)));
  const cell = (s: string, c: number): string =>
    align[c] === "r" ? s.padStart(width[c]!) : s.padEnd(width[c]!);
  const line = (r: string[]): string => `| ${head.map((_, c) => cell(r[c] ?? "", c)).join(" | ")} |`;
  const rule = `|${head.map((_, c) => (align[c] === "r" ? `${"-".repeat(width[c]! + 1)}:` : `:${"-".repeat(width[c]! + 1)}`)).join("|")}|`;
  return [line(head), rule, ...body.map(line)].join("\n");
}

/** Every line of the report fits this many columns. */
export const WIDTH = 120;

/**
 * Footnotes of one table: numbered in order of first use, a text used twice
 * keeps its number.
 */
export class Footnotes {
  private readonly texts: string[] = [];

  /** The marker for `text`, e.g. "[2]". */
  ref(text: string): string {
    let i = this.texts.indexOf(text);
    if (i < 0) i = this.texts.push(text) - 1;
    return `[${i + 1}]`;
  }

  get size(): number {
    return this.texts.length;
  }

  /** The footnotes as lines, wrapped to WIDTH. */
  lines(): string[] {
    return this.texts.flatMap((t, i) => wrap(`[${i + 1}] ${t}`, "    "));
  }
}

/**
 * A markdown table that fits WIDTH columns: a first-column label too long for
 * the room left by the other columns is cut at a word boundary and given a
 * footnote with the whole label.
 */
export function fittedTable(head: string[], body: string[][], align: ("l" | "r")[], notes: Footnotes): string {
  // Width of everything but the first column: "| " + cells joined by " | " + " |".
  const others = head.slice(1).map((_, k) => Math.max(3, ...[head, ...body].map((r) => (r[k + 1] ?? "").length)));
  const room = WIDTH - 4 - others.reduce((a, w) => a + w + 3, 0);
  const fitted = body.map((r) => {
    const label = r[0] ?? "";
    if (label.length <= room) return r;
    const marker = notes.ref(label);
    let cut = label.slice(0, room - marker.length - 2);
    const space = cut.lastIndexOf(" ");
    if (space > room / 2) cut = cut.slice(0, space);
    return [`${cut.replace(/[ ,;·(]+$/, "")}… ${marker}`, ...r.slice(1)];
  });
  return markdownTable(head, fitted, align);
}

/** `text` as lines of at most WIDTH columns, broken at spaces; continuation lines start with `indent`. */
export function wrap(text: string, indent = "  "): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > WIDTH) {
      out.push(line);
      line = indent + word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") out.push(line);
  return out;
}
