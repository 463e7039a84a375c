/**
 * Crash safety: a log cut anywhere in its last record loads the save before;
 * any damaged byte is ERR_STORE_CORRUPT; a process killed with SIGKILL while
 * saving as fast as it can leaves a store that loads a save at least as new
 * as the last one it reported durable.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreError, type StoredSession } from "@sansmqtt/core";
import { FileStore } from "../src/index.js";
import { frame } from "../src/frame.js";
import { Churn } from "@sansmqtt/test-support";
import { numbered } from "./numbered.mjs";
import { codeOf, tempDir, track } from "./tmp.js";

/** Loads the log as it is now in a fresh store (a restarted program). */
async function loadFresh(dir: string, clientId: string): Promise<StoredSession | undefined> {
  const s = new FileStore(dir, clientId);
  try {
    return await s.load();
  } finally {
    await s.close();
  }
}

/** A store with a few saves of a real churning session; returns the saves and where the last record starts. */
async function history(saves: number): Promise<{ dir: string; path: string; stored: StoredSession[]; lastStart: number }> {
  const dir = tempDir();
  const churn = new Churn(3);
  const store = new FileStore(dir, "crash", { durable: false });
  const stored: StoredSession[] = [];
  let lastStart = 0;
  for (let i = 0; i < saves; i++) {
    churn.step();
    churn.step();
    const s = { session: churn.peer.conn.exportSession(churn.peer.now), savedAt: i };
    lastStart = store.stats().logBytes;
    await store.save(s);
    stored.push(s);
  }
  await store.close();
  expect(store.stats().fullRecords).toBe(1);
  return { dir, path: join(store.path, "log"), stored, lastStart };
}

describe("torn tail", () => {
  it("a log cut at every byte offset of its last record loads the save before it", async () => {
    const { dir, path, stored, lastStart } = await history(6);
    const whole = readFileSync(path);
    expect(await loadFresh(dir, "crash")).toEqual(stored[5]);
    let cuts = 0;
    for (let cut = lastStart; cut < whole.length; cut++) {
      writeFileSync(path, whole.subarray(0, cut));
      expect(await loadFresh(dir, "crash")).toEqual(stored[4]);
      cuts++;
    }
    console.log(`torn tail: ${cuts} cuts of the last record (${whole.length - lastStart} bytes), each loaded the save before`);
    // After a torn tail the next save starts a new log, so the torn bytes never sit before a good record.
    writeFileSync(path, whole.subarray(0, lastStart + 5));
    const store = track(new FileStore(dir, "crash"));
    expect(await store.load()).toEqual(stored[4]);
    await store.save(stored[5]!);
    await store.save(stored[3]!);
    expect(await store.load()).toEqual(stored[3]);
  });

  it("a log cut inside its first record (never written so: it gets its name whole) is corrupt", async () => {
    const { dir, path } = await history(1);
    const whole = readFileSync(path);
    for (const cut of [0, 3, 8, 12, 19, 20, whole.length - 1]) {
      writeFileSync(path, whole.subarray(0, cut));
      expect(await codeOf(loadFresh(dir, "crash"))).toBe("ERR_STORE_CORRUPT");
    }
  });
});

describe("damage", () => {
  it("a flipped byte anywhere (earlier records, the last one, headers, the magic) is ERR_STORE_CORRUPT", async () => {
    const { dir, path, lastStart } = await history(4);
    const whole = readFileSync(path);
    let flips = 0;
    for (let at = 0; at < whole.length; at++) {
      const damaged = Buffer.from(whole);
      damaged[at]! ^= 1 << (at % 8);
      writeFileSync(path, damaged);
      const code = await codeOf(loadFresh(dir, "crash"));
      if (code !== "ERR_STORE_CORRUPT") throw new Error(`a flip at byte ${at} of ${whole.length} (last record from ${lastStart}) gave ${code}`);
      flips++;
    }
    console.log(`damage: ${flips} single-bit flips, every one ERR_STORE_CORRUPT`);
  });

  it("records that check out but do not decode are ERR_STORE_CORRUPT, with the reason", async () => {
    const { dir, path } = await history(2);
    const good = readFileSync(path);
    const cases: [string, Buffer[], RegExp][] = [
      ["not JSON", [Buffer.from("{nope")], /not JSON/],
      ["out of place", [Buffer.from(JSON.stringify({ n: 7, k: "d", savedAt: 1, rest: { format: 1 }, del: [] }))], /record 7 found where record 2 belongs/],
      ["a second full record", [Buffer.from(JSON.stringify({ n: 2, k: "f", savedAt: 1, rest: { format: 1 } }))], /not a delta/],
      ["removes what is not there", [Buffer.from(JSON.stringify({ n: 2, k: "d", savedAt: 1, rest: { format: 1, encoding: "base64" }, del: [123456] }))], /removes message 123456/],
      ["a bad order", [Buffer.from(JSON.stringify({ n: 2, k: "d", savedAt: 1, rest: { format: 1, encoding: "base64" }, del: [], order: [1] }))], /order/],
      ["bad base64", [Buffer.from(JSON.stringify({ n: 2, k: "d", savedAt: 1, rest: { format: 1, encoding: "base64" }, del: [] }) + '\n{"mid":1,"payload":"%%"}')], /does not decode/],
      ["a later format", [Buffer.from(JSON.stringify({ n: 2, k: "d", savedAt: 1, rest: { format: 2 }, del: [] }))], /format 1/],
    ];
    for (const [what, pieces, why] of cases) {
      writeFileSync(path, Buffer.concat([good, frame(pieces, false)]));
      const e = await loadFresh(dir, "crash").catch((x: unknown) => x);
      expect(e, what).toBeInstanceOf(StoreError);
      expect((e as StoreError).code, what).toBe("ERR_STORE_CORRUPT");
      expect((e as StoreError).message, what).toMatch(why);
    }
    // Another client's log under this client's name.
    writeFileSync(path, good);
    const other = new FileStore(dir, "someone-else");
    mkdirSync(other.path, { recursive: true });
    writeFileSync(join(other.path, "log"), good);
    await expect(other.load()).rejects.toThrow(/belongs to client id "crash"/);
    await other.close();
  });
});

describe("SIGKILL", () => {
  const here = fileURLToPath(new URL(".", import.meta.url));

  // The child is plain Node running one file bundled here from the sources
  // (rolldown, with the workspace's "@sansmqtt/source" condition). It reads no
  // dist/ of any package: other packages' test runs rebuild theirs meanwhile.
  const childFile = join(tmpdir(), `sansmqtt-child-saver-${process.pid}.mjs`);
  beforeAll(async () => {
    const b = await rolldown({
      input: join(here, "child-saver.mjs"),
      platform: "node",
      resolve: { conditionNames: ["@sansmqtt/source", "import", "node", "default"] },
      external: [/^node:/],
      logLevel: "silent",
    });
    try {
      await b.write({ file: childFile, format: "esm" });
    } finally {
      await b.close();
    }
  }, 60_000);
  afterAll(() => rmSync(childFile, { force: true }));

  it("a child killed at random moments while saving leaves a store that loads a save at least as new as the last it reported", async () => {
    const dir = tempDir();
    const clientId = "killed \u2603";
    const rounds: string[] = [];
    let total = 0;
    const started = Date.now();
    for (let round = 0; round < 8 && (round < 5 || Date.now() - started < 6_000); round++) {
      const child = spawn(process.execPath, [childFile, dir, clientId, String(24 * 1024)], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      let wake: () => void = () => undefined;
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (d: string) => {
        out += d;
        wake();
      });
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      // Wait until it has loaded and saved at least once, then while it runs, its lock keeps others out.
      while (out.split("\n").length < 3) await new Promise<void>((r) => (wake = r));
      const start = Number(/^start (\d+)/.exec(out)![1]);
      expect(await codeOf(loadFresh(dir, clientId))).toBe("ERR_STORE_LOCKED");
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 300));
      child.kill("SIGKILL");
      await exited;
      const printed = out.split("\n").filter((l) => /^\d+$/.test(l)).map(Number);
      const durable = Math.max(start, ...printed);
      // The dead child's lock is stale: a new store takes it over.
      const loaded = await loadFresh(dir, clientId);
      expect(loaded).toBeDefined();
      const n = loaded!.session.nextMid - 1;
      expect(n).toBeGreaterThanOrEqual(durable);
      // Exactly the session saved as number n, not a mix of two.
      expect(loaded!.session).toEqual(numbered(n, clientId));
      total += n - start;
      rounds.push(`start ${start}, ${printed.length} reported, last reported ${durable}, loaded ${n}`);
    }
    console.log(`SIGKILL: ${rounds.length} kills, ${total} saves survived in all\n  ${rounds.join("\n  ")}`);
    expect(rounds.length).toBeGreaterThanOrEqual(5);
  }, 60_000);
});
