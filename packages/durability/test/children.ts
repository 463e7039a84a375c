// The child programs (src/publisher.ts, src/subscriber.ts) bundled from the
// sources with rolldown (no dist/ of any package is read: other packages'
// test runs may rebuild theirs meanwhile), and a handle on a running child.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";
import type { ChildConfig } from "../src/numbered.js";

const src = fileURLToPath(new URL("../src/", import.meta.url));

/** Bundles both programs into a temp directory; returns their paths and a cleanup. */
export async function bundleChildren(): Promise<{ publisher: string; subscriber: string; remove(): void }> {
  const out = mkdtempSync(join(tmpdir(), "sansmqtt-durability-"));
  const b = await rolldown({
    input: { publisher: join(src, "publisher.ts"), subscriber: join(src, "subscriber.ts") },
    platform: "node",
    resolve: { conditionNames: ["@sansmqtt/source", "import", "node", "default"] },
    // Only TCP is used: the WebSocket transport's library stays out (its chunk is never loaded).
    external: [/^node:/, "ws"],
    logLevel: "silent",
  });
  try {
    await b.write({ dir: out, format: "esm", entryFileNames: "[name].mjs", chunkFileNames: "[name]-[hash].mjs" });
  } finally {
    await b.close();
  }
  return { publisher: join(out, "publisher.mjs"), subscriber: join(out, "subscriber.mjs"), remove: () => rmSync(out, { recursive: true, force: true }) };
}

/** A running child: its stdout lines, a way to wait for one, and its end. */
export class Child {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;
  private wake: () => void = () => undefined;
  private partial = "";

  constructor(program: string, config: ChildConfig) {
    this.proc = spawn(process.execPath, [program, JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stdout!.setEncoding("utf8");
    this.proc.stdout!.on("data", (d: string) => {
      const parts = (this.partial + d).split("\n");
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.wake();
    });
    this.proc.stderr!.setEncoding("utf8");
    this.proc.stderr!.on("data", (d: string) => this.stderr.push(d));
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => this.wake());
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The highest "at <n>" progress line printed so far (0 before any). */
  progress(): number {
    let n = 0;
    for (const l of this.lines) if (l.startsWith("at ")) n = Math.max(n, Number(l.slice(3)));
    return n;
  }

  /** Waits until the child reports progress of at least `n`, exits, or `ms` pass; returns its progress then. */
  async reach(n: number, ms: number): Promise<number> {
    const until = Date.now() + ms;
    while (this.progress() < n && this.running && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    return this.progress();
  }

  /** The first line starting with `prefix` (or one of several; waits for it; rejects after `ms` or when the child exits without it). */
  async line(prefix: string | readonly string[], ms: number): Promise<string> {
    const until = Date.now() + ms;
    const prefixes = typeof prefix === "string" ? [prefix] : prefix;
    for (;;) {
      const found = this.lines.find((l) => prefixes.some((p) => l.startsWith(p)));
      if (found !== undefined) return found;
      if (!this.running) throw new Error(`the child exited without printing "${prefix}"; stderr: ${this.stderr.join("").slice(-2000)}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no "${prefix}" line within ${ms} ms; stdout: ${this.lines.slice(-5).join(" | ")}; stderr: ${this.stderr.join("").slice(-2000)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    if (this.running) this.proc.kill("SIGKILL");
    await this.exited;
  }
}
