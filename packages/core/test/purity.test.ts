/**
 * The core is Sans-IO: it runs unchanged in Node, browsers, Deno and Bun, so its
 * source reads no clock, sets no timer, opens no socket, draws no random number,
 * imports nothing from Node and has no runtime dependency. This test reads the
 * source and fails on any of these.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const srcDir = join(root, "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Source without comments, so a comment may name what the code must not use. */
function code(path: string): string {
  return readFileSync(path, "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:])\/\/.*$/gm, "$1");
}

const FORBIDDEN: ReadonlyArray<[RegExp, string]> = [
  [/\bDate\.now\b|\bnew Date\b|\bperformance\.now\b|\bprocess\.hrtime\b/, "reads a clock"],
  [/\bsetTimeout\b|\bsetInterval\b|\bsetImmediate\b|\bqueueMicrotask\b|\brequestAnimationFrame\b/, "sets a timer"],
  [/\bMath\.random\b|\bcrypto\b/, "uses randomness"],
  [/\bBuffer\b|\bprocess\.|\brequire\(/, "uses a Node global"],
  [/\bWebSocket\b|\bfetch\(|\bXMLHttpRequest\b/, "opens a connection"],
  [/from\s+["'](node:|fs|net|tls|dns|events|stream|ws|http|https|os|path|crypto|timers)["'/]/, "imports from Node"],
];

describe("Sans-IO core", () => {
  const sources = files(srcDir);

  it("has source files to check", () => {
    expect(sources.length).toBeGreaterThan(10);
  });

  for (const path of sources) {
    const rel = path.slice(root.length);
    it(`${rel} does no IO, reads no clock, sets no timer, uses no randomness`, () => {
      const text = code(path);
      for (const [re, what] of FORBIDDEN) {
        const m = re.exec(text);
        expect(m, `${rel} ${what}: ${m?.[0]}`).toBeNull();
      }
      // Only relative imports, and fast-check in the opt-in testing entry point.
      for (const m of text.matchAll(/\bfrom\s+["']([^"']+)["']/g)) {
        const spec = m[1]!;
        const allowed = spec.startsWith(".") || (spec === "fast-check" && rel.includes("testing"));
        expect(allowed, `${rel} imports ${spec}`).toBe(true);
      }
    });
  }

  it("has no runtime dependencies", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
  });
});
