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
