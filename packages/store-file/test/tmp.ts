import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import { StoreError, type SessionStore } from "@sansmqtt/core";

const dirs: string[] = [];
const stores: SessionStore[] = [];

/** A fresh directory under the OS temp dir, removed after the test. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "sansmqtt-store-"));
  dirs.push(d);
  return d;
}

/** Closes the store after the test (so its lock goes with it). */
export function track<S extends SessionStore>(s: S): S {
  stores.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The StoreError code a promise rejects with. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StoreError) return e.code;
    throw e;
  }
  return "resolved";
}
