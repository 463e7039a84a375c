/**
 * FileStore: round trips of real sessions, churn with compaction, clear,
 * close, errors, the lock and group commit.
 */
import { readFileSync, statSync, writeFileSync, existsSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { MqttConnection, StoreError, type SessionState, type StoredSession } from "@sansmqtt/core";
import { clientDirectoryName, FileStore } from "../src/index.js";
import { bytes, Churn, Peer, rng, richSession } from "@sansmqtt/test-support";
import { codeOf, tempDir, track } from "./tmp.js";

describe("round trip", () => {
  it("a v5 session with binary payloads and properties loads as saved and imports into a fresh engine", async () => {
    const session = richSession();
    // The session has what the test means it to have.
    expect(session.outgoing.map((m) => m.state)).toEqual(["publish", "pubrel", "publish", "queued"]);
    expect(session.incomingQos2).toEqual([{ packetId: 99, state: "received" }]);
    expect(session.subscriptions).toHaveLength(1);
    expect(session.requests).toHaveLength(1);

    const dir = tempDir();
    const store = track(new FileStore(dir, "store-test"));
    expect(await store.load()).toBeUndefined();
    const stored: StoredSession = { session, savedAt: 1_700_000_000_123 };
    await store.save(stored);
    const loaded = await store.load();
    expect(loaded).toEqual(stored);
    await store.close();

    // A new store (a restarted program) reads the same; the engine takes it.
    const again = track(new FileStore(dir, "store-test"));
    const reloaded = (await again.load())!;
    expect(reloaded).toEqual(stored);
    const fresh = new MqttConnection({ protocolVersion: 5, clientId: "store-test" });
    fresh.importSession(0, reloaded.session);
    expect(fresh.exportSession(0)).toEqual(session);
  });

  it("a 3.1.1 session round trips and imports", async () => {
    const peer = new Peer({ protocolVersion: 4, clean: false });
    peer.connect();
    peer.conn.publish(0, { topic: "t", payload: new Uint8Array([1, 2, 3]), qos: 2 });
    peer.conn.publish(0, { topic: "t", payload: new Uint8Array([4]), qos: 1 });
    peer.flush();
    const session = peer.conn.exportSession(0);
    const store = track(new FileStore(tempDir(), "v4"));
    await store.save({ session, savedAt: 5 });
    const loaded = (await store.load())!;
    const fresh = new MqttConnection({ protocolVersion: 4, clientId: "x" });
    fresh.importSession(0, loaded.session);
    expect(fresh.exportSession(0)).toEqual(session);
  });

  it("client ids map to distinct, safe directory names", () => {
    const ids = ["", ".", "..", "a/b", "a\\b", "A", "a", "ü", "\u{1F600}", "\ud800", "\udc00", "x".repeat(5000), "a_b", "a b"];
    const names = ids.map(clientDirectoryName);
    expect(new Set(names).size).toBe(ids.length);
    for (const n of names) {
      expect(n).toMatch(/^c_[A-Za-z0-9_.-]{0,40}_[0-9a-f]{32}$/);
      expect(n.length).toBeLessThan(80);
    }
    // The same id gives the same name (a restarted program finds its session).
    expect(clientDirectoryName("sensor-7")).toBe(clientDirectoryName("sensor-7"));
  });

  it("stores of different client ids in one directory do not see each other's sessions", async () => {
    const dir = tempDir();
    const a = track(new FileStore(dir, "a"));
    const b = track(new FileStore(dir, "b"));
    await a.save({ session: richSession(), savedAt: 1 });
    expect(await b.load()).toBeUndefined();
  });
});

describe("churn", () => {
  it("many saves of a real engine's churning session: each load equals the last save, across compactions and reopenings", async () => {
    const dir = tempDir();
    const churn = new Churn(1);
    let store = track(new FileStore(dir, "store-test", { durable: false, compactMinBytes: 16 * 1024 }));
    let last: StoredSession | undefined;
    let fullRecords = 0;
    for (let i = 1; i <= 3_000; i++) {
      churn.step();
      // The application's checkpoint rides along, and is absent from some saves.
      last = i % 3 === 0 ? { session: churn.peer.conn.exportSession(churn.peer.now), savedAt: i } : { session: churn.peer.conn.exportSession(churn.peer.now), savedAt: i, checkpoint: `offset ${i} \u2603\n` };
      await store.save(last);
      if (i % 97 === 0) expect(await store.load()).toEqual(last);
      if (i % 1000 === 0) {
        fullRecords += store.stats().fullRecords;
        await store.close();
        store = track(new FileStore(dir, "store-test", { durable: false, compactMinBytes: 16 * 1024 }));
        expect(await store.load()).toEqual(last);
      }
    }
    expect(await store.load()).toEqual(last);
    expect(fullRecords).toBeGreaterThan(3); // compacted, not only a full record after each reopening
    const fresh = new MqttConnection({ protocolVersion: 5, clientId: "x" });
    fresh.importSession(0, (await store.load())!.session);
  });

  it("the checkpoint is saved whole with each save and loads with it; a non-string one is refused", async () => {
    const dir = tempDir();
    const store = track(new FileStore(dir, "cp", { durable: false }));
    const session = richSession();
    await store.save({ session, savedAt: 1, checkpoint: "a".repeat(10_000) });
    expect((await store.load())?.checkpoint).toBe("a".repeat(10_000));
    await store.save({ session, savedAt: 2, checkpoint: "" });
    expect((await store.load())?.checkpoint).toBe("");
    await store.save({ session, savedAt: 3 });
    expect(await store.load()).toEqual({ session, savedAt: 3 });
    await expect(store.save({ session, savedAt: 4, checkpoint: 5 as unknown as string })).rejects.toThrow(/checkpoint must be a string/);
    expect((await store.load())?.savedAt).toBe(3);
  });

  it("random edits of a hand-made session (add, remove, stage, attempts, properties, reorder) load back exactly", async () => {
    const r = rng(7);
    const store = track(new FileStore(tempDir(), "edits", { durable: false, compactMinBytes: 8 * 1024 }));
    let nextMid = 1;
    let outgoing: SessionState["outgoing"] = [];
    for (let i = 0; i < 800; i++) {
      const op = r();
      if (op < 0.3 || outgoing.length === 0) {
        outgoing.push({ mid: nextMid++, topic: `t/${i}`, payload: bytes(r, Math.floor(r() * 40)), qos: 1, retain: r() < 0.5, state: "queued" });
      } else if (op < 0.5) {
        outgoing.splice(Math.floor(r() * outgoing.length), 1);
      } else if (op < 0.62) {
        const m = outgoing[Math.floor(r() * outgoing.length)]!;
        outgoing = outgoing.map((x) => (x === m ? { ...m, state: "publish", packetId: m.mid % 65535 || 1, sent: r() < 0.5 } : x));
      } else if (op < 0.7) {
        // Only the delivery attempts change (a connection ended): the engine changes nothing else.
        const m = outgoing[Math.floor(r() * outgoing.length)]!;
        outgoing = outgoing.map((x) => (x === m ? { ...m, attempts: (m.attempts ?? 0) + 1 } : x));
      } else if (op < 0.8) {
        const m = outgoing[Math.floor(r() * outgoing.length)]!;
        // A new properties object: with new content, or the same content (no change to write).
        const props = r() < 0.5 ? { messageExpiryInterval: Math.floor(r() * 100) } : { ...(m.properties ?? {}) };
        outgoing = outgoing.map((x) => (x === m ? { ...m, properties: props } : x));
      } else if (op < 0.85) {
        // A new payload object with the same bytes, or different bytes of the same length.
        const m = outgoing[Math.floor(r() * outgoing.length)]!;
        const payload = r() < 0.5 ? m.payload.slice() : m.payload.map((b) => b ^ 1);
        outgoing = outgoing.map((x) => (x === m ? { ...m, payload } : x));
      } else if (op < 0.95) {
        // Reorder (a session loss sends messages back to the queue in another order).
        outgoing = [...outgoing].sort(() => r() - 0.5);
      } else {
        outgoing.reverse();
      }
      const stored: StoredSession = {
        session: { format: 1, clientId: "edits", nextPacketId: 1 + (i % 100), nextMid, outgoing: outgoing.map((m) => ({ ...m })), incomingQos2: [], subscriptions: [], retiredPacketIds: [], requests: [] },
        savedAt: i,
      };
      await store.save(stored);
      expect(await store.load()).toEqual(stored);
    }
  });

  it("100,000 saves of a churning session: the log stays within about twice the session's size", async () => {
    const dir = tempDir();
    const min = 16 * 1024;
    // About a hundred messages live at any time (the server answers ~1% of those in flight per step).
    const churn = new Churn(2, { receiveMaximum: 100, ackRate: 0.01, cap: 150 });
    const store = track(new FileStore(dir, "store-test", { durable: false, compactMinBytes: min }));
    let maxLog = 0;
    let maxSession = 0;
    let worst = 0;
    let messages = 0;
    let last: StoredSession | undefined;
    const t0 = performance.now();
    for (let i = 1; i <= 100_000; i++) {
      churn.step();
      last = { session: churn.peer.conn.exportSession(churn.peer.now), savedAt: i };
      messages += last.session.outgoing.length;
      await store.save(last);
      const s = store.stats();
      maxLog = Math.max(maxLog, s.logBytes);
      maxSession = Math.max(maxSession, s.sessionBytes);
      // The bound: the compaction threshold, max(2 × session, min), which a log passes only by being compacted.
      const bound = Math.max(2 * s.sessionBytes, min);
      worst = Math.max(worst, s.logBytes / bound);
      if (s.logBytes > bound) expect(s.fullRecords).toBe(-1); // (fails with a readable message)
      if (i % 10_000 === 0) expect(await store.load()).toEqual(last);
    }
    const ms = performance.now() - t0;
    const s = store.stats();
    expect(statSync(join(store.path, "log")).size).toBe(s.logBytes);
    expect(existsSync(join(store.path, "log.tmp"))).toBe(false);
    expect(await store.load()).toEqual(last);
    expect(messages / 100_000).toBeGreaterThan(50);
    expect(maxLog).toBeLessThanOrEqual(2 * maxSession + 1024);
    console.log(
      `100,000 saves (durable: false) in ${(ms / 1000).toFixed(1)} s, ${(messages / 100_000).toFixed(0)} messages on average; ` +
        `${s.fullRecords} full records (compactions); log at most ${maxLog} B for a session of at most ${maxSession} B; log/max(2×session, 16 KiB) at worst ${worst.toFixed(3)}`,
    );
  }, 120_000);
});

describe("clear and close", () => {
  it("clear() removes the session durably; a later save starts again", async () => {
    const dir = tempDir();
    const syncs: string[] = [];
    const store = track(new FileStore(dir, "c", { onSync: (w) => syncs.push(w) }));
    const session = richSession();
    await store.save({ session, savedAt: 1 });
    await store.save({ session: { ...session, nextMid: session.nextMid + 1 }, savedAt: 2 });
    syncs.length = 0;
    await store.clear();
    expect(syncs).toEqual(["directory"]);
    expect(existsSync(join(store.path, "log"))).toBe(false);
    expect(await store.load()).toBeUndefined();
    await store.save({ session, savedAt: 3 });
    expect(await store.load()).toEqual({ session, savedAt: 3 });
    await store.clear();
    await store.close();
    expect(await track(new FileStore(dir, "c")).load()).toBeUndefined();
  });

  it("a save made after clear() is not undone by it, even when both wait behind a write", async () => {
    const store = track(new FileStore(tempDir(), "order"));
    const session = richSession();
    const a = store.save({ session, savedAt: 1 });
    const c = store.clear();
    const b = store.save({ session, savedAt: 2 });
    await Promise.all([a, b, c]);
    expect((await store.load())?.savedAt).toBe(2);
  });

  it("close() waits for the saves before it, releases the lock; later calls reject with ERR_STORE_CLOSED", async () => {
    const dir = tempDir();
    const store = new FileStore(dir, "closing");
    const session = richSession();
    const saved = store.save({ session, savedAt: 9 });
    await store.close();
    await saved;
    expect(existsSync(join(store.path, "lock"))).toBe(false);
    expect(await codeOf(store.load())).toBe("ERR_STORE_CLOSED");
    expect(await codeOf(store.save({ session, savedAt: 1 }))).toBe("ERR_STORE_CLOSED");
    expect(await codeOf(store.clear())).toBe("ERR_STORE_CLOSED");
    await store.close(); // twice is fine
    expect((await track(new FileStore(dir, "closing")).load())?.savedAt).toBe(9);
  });

  it("a file system failure is ERR_STORE_IO with the cause", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "not a directory");
    const store = track(new FileStore(join(dir, "file"), "x"));
    let error: unknown;
    await store.load().catch((e: unknown) => (error = e));
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe("ERR_STORE_IO");
    expect((error as StoreError).cause).toMatchObject({ code: expect.stringMatching(/ENOTDIR|EEXIST/) });
  });

  it("a session the store cannot write (a message id twice) is refused without damaging the store", async () => {
    const store = track(new FileStore(tempDir(), "dup"));
    const session = richSession();
    await store.save({ session, savedAt: 1 });
    const twice = { ...session, outgoing: [...session.outgoing, session.outgoing[0]!] };
    await expect(store.save({ session: twice, savedAt: 2 })).rejects.toThrow(/appears twice/);
    expect(await store.load()).toEqual({ session, savedAt: 1 });
    await store.save({ session, savedAt: 3 });
    expect((await store.load())?.savedAt).toBe(3);
  });
});

describe("lock", () => {
  it("a second store on the same client id gets ERR_STORE_LOCKED until the first closes", async () => {
    const dir = tempDir();
    const first = track(new FileStore(dir, "locked"));
    await first.load();
    expect(readFileSync(join(first.path, "lock"), "utf8")).toBe(`${process.pid}\n`);
    const second = track(new FileStore(dir, "locked"));
    expect(await codeOf(second.load())).toBe("ERR_STORE_LOCKED");
    expect(await codeOf(second.save({ session: richSession(), savedAt: 1 }))).toBe("ERR_STORE_LOCKED");
    await first.close();
    expect(await second.load()).toBeUndefined(); // retried: the lock is free now
  });

  it("a stale lock (its process is gone) is taken over; a fresh unwritten one is not, an old one is", async () => {
    const dir = tempDir();
    const store = track(new FileStore(dir, "stale"));
    const path = join(store.path, "lock");
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    await store.load();
    await store.close();
    writeFileSync(path, `${dead}\n`);
    const taker = track(new FileStore(dir, "stale"));
    expect(await taker.load()).toBeUndefined();
    expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`);
    await taker.close();

    writeFileSync(path, ""); // a lock being written right now
    const third = track(new FileStore(dir, "stale"));
    expect(await codeOf(third.load())).toBe("ERR_STORE_LOCKED");
    utimesSync(path, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000)); // ... or left by a killed process
    expect(await third.load()).toBeUndefined();
  });
});

describe("group commit", () => {
  it("100 concurrent saves: one write and one fsync for the batch, every promise resolves after it, the last wins", async () => {
    const syncs: string[] = [];
    const store = track(new FileStore(tempDir(), "group", { onSync: (w) => syncs.push(w) }));
    const session = richSession();
    await store.save({ session, savedAt: 0 });
    syncs.length = 0;

    // One save is being written while 100 more arrive.
    const first = store.save({ session, savedAt: 1 });
    await new Promise((r) => setImmediate(r));
    const synced: number[] = [];
    const saves = Array.from({ length: 100 }, (_, i) =>
      store.save({ session: { ...session, nextMid: session.nextMid + i }, savedAt: 100 + i }).then(() => synced.push(syncs.length)),
    );
    await Promise.all([first, ...saves]);
    console.log(`101 saves → ${syncs.length} fsyncs (${syncs.join(", ")}); writes ${store.stats().writes}`);
    expect(syncs).toEqual(["file", "file"]); // the first save's, then the batch's
    expect(synced.every((n) => n === 2)).toBe(true);
    expect(await store.load()).toEqual({ session: { ...session, nextMid: session.nextMid + 99 }, savedAt: 199 });
  });

  it("a failed write rejects every save of the batch; the next save writes a whole new log", async () => {
    const store = track(new FileStore(tempDir(), "fail"));
    const session = richSession();
    await store.save({ session, savedAt: 1 });
    const bad = { ...session, outgoing: [session.outgoing[0]!, session.outgoing[0]!] };
    const results = await Promise.allSettled([store.save({ session, savedAt: 2 }), store.save({ session: bad, savedAt: 3 })]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    const before = store.stats().fullRecords;
    await store.save({ session, savedAt: 4 });
    expect(store.stats().fullRecords).toBe(before + 1);
    expect((await store.load())?.savedAt).toBe(4);
  });
});
