/**
 * IndexedDbStore over fake-indexeddb (an in-memory IndexedDB in Node): round
 * trips of real sessions, churn, group commit, clear, close, corrupt records,
 * a failing IndexedDB and the Web Locks lock.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { MqttConnection, StoreError, type SessionState, type StoredSession } from "@sansmqtt/core";
import { IDBDatabase as FakeIDBDatabase, IDBObjectStore as FakeIDBObjectStore, forceCloseDatabase } from "fake-indexeddb";
import { IndexedDbStore, type IDBFactoryLike } from "../src/index.js";
import { Churn, Peer, richSession } from "@sansmqtt/test-support";
import { codeOf, freshIndexedDb, raw } from "./engine.js";

const open: IndexedDbStore[] = [];
/** A store closed after the test. */
function track(store: IndexedDbStore): IndexedDbStore {
  open.push(store);
  return store;
}
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

/** The error a promise rejects with. */
async function errorOf(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    return e as StoreError;
  }
  throw new Error("resolved, expected a rejection");
}

/** Records every transaction the stores open: its mode and options, and when it completes. */
function watchTransactions(): { modes: string[]; options: unknown[]; completed: () => number; readwrite: () => number } {
  const modes: string[] = [];
  const options: unknown[] = [];
  let completed = 0;
  const original = FakeIDBDatabase.prototype.transaction;
  vi.spyOn(FakeIDBDatabase.prototype, "transaction").mockImplementation(function (this: IDBDatabase, ...args: Parameters<IDBDatabase["transaction"]>) {
    const tx = original.apply(this, args);
    if (tx.mode === "versionchange") return tx; // an upgrade, not the store's
    modes.push(tx.mode);
    options.push(args[2]);
    if (tx.mode === "readwrite") tx.addEventListener("complete", () => completed++);
    return tx;
  });
  return { modes, options, completed: () => completed, readwrite: () => modes.filter((m) => m === "readwrite").length };
}

describe("round trip", () => {
  it("a v5 session with binary payloads, properties and a checkpoint loads as saved, from a new store too, and imports into a fresh engine", async () => {
    const session = richSession();
    // The session has what the test means it to have.
    expect(session.outgoing.map((m) => m.state)).toEqual(["publish", "pubrel", "publish", "queued"]);
    expect(session.outgoing[0]!.properties?.correlationData).toEqual(new Uint8Array([0, 255, 10, 13]));
    expect(session.incomingQos2).toEqual([{ packetId: 99, state: "received" }]);
    expect(session.subscriptions).toHaveLength(1);
    expect(session.requests).toHaveLength(1);

    const idb = freshIndexedDb();
    const store = track(new IndexedDbStore("store-test", { indexedDB: idb }));
    expect(await store.load()).toBeUndefined();
    const stored: StoredSession = { session, savedAt: 1_700_000_000_123, checkpoint: "offset 42 \u2603\n" };
    await store.save(stored);
    const loaded = (await store.load())!;
    expect(loaded).toEqual(stored);
    expect(loaded.session.outgoing[0]!.payload).toBeInstanceOf(Uint8Array);
    await store.close();

    // A new store (a reloaded page) reads the same; the engine takes it.
    const again = track(new IndexedDbStore("store-test", { indexedDB: idb }));
    const reloaded = (await again.load())!;
    expect(reloaded).toEqual(stored);
    const fresh = new MqttConnection({ protocolVersion: 5, clientId: "store-test" });
    fresh.importSession(0, reloaded.session);
    expect(fresh.exportSession(0)).toEqual(session);
  });

  it("the record: { format: 1, clientId, savedAt, checkpoint?, session } under the client id, the session in the core's JSON form (base64)", async () => {
    const idb = freshIndexedDb();
    const session = richSession();
    const store = track(new IndexedDbStore("rec", { indexedDB: idb }));
    await store.save({ session, savedAt: 7, checkpoint: "cp" });
    const record = (await raw(idb, "sansmqtt").get("rec")) as Record<string, unknown> & { session: { encoding: string; outgoing: { payload: unknown; properties?: { correlationData?: unknown } }[] } };
    expect(Object.keys(record).sort()).toEqual(["checkpoint", "clientId", "format", "savedAt", "session"]);
    expect(record).toMatchObject({ format: 1, clientId: "rec", savedAt: 7, checkpoint: "cp" });
    expect(record.session.encoding).toBe("base64");
    expect(record.session.outgoing[1]!.payload).toBe("");
    expect(record.session.outgoing[0]!.properties?.correlationData).toBe("AP8KDQ==");
    // Plain data: JSON round trips it unchanged.
    expect(JSON.parse(JSON.stringify(record))).toEqual(record);
    // Without a checkpoint the record has none.
    await store.save({ session, savedAt: 8 });
    expect("checkpoint" in ((await raw(idb, "sansmqtt").get("rec")) as object)).toBe(false);
    expect(await store.load()).toEqual({ session, savedAt: 8 });
  });

  it("a 3.1.1 session round trips and imports", async () => {
    const peer = new Peer({ protocolVersion: 4, clean: false });
    peer.connect();
    peer.conn.publish(0, { topic: "t", payload: new Uint8Array([1, 2, 3]), qos: 2 });
    peer.conn.publish(0, { topic: "t", payload: new Uint8Array([4]), qos: 1 });
    peer.flush();
    const session = peer.conn.exportSession(0);
    const store = track(new IndexedDbStore("v4", { indexedDB: freshIndexedDb() }));
    await store.save({ session, savedAt: 5 });
    const loaded = (await store.load())!;
    const fresh = new MqttConnection({ protocolVersion: 4, clientId: "x" });
    fresh.importSession(0, loaded.session);
    expect(fresh.exportSession(0)).toEqual(session);
  });

  it("client ids share a database without seeing each other's sessions; databases are apart", async () => {
    const idb = freshIndexedDb();
    const a = track(new IndexedDbStore("a", { indexedDB: idb }));
    const b = track(new IndexedDbStore("b", { indexedDB: idb }));
    const other = track(new IndexedDbStore("a", { indexedDB: idb, databaseName: "other" }));
    const session = richSession();
    await a.save({ session, savedAt: 1 });
    expect(await b.load()).toBeUndefined();
    expect(await other.load()).toBeUndefined();
    await b.save({ session, savedAt: 2 });
    await b.clear();
    expect((await a.load())?.savedAt).toBe(1);
    // Any string is a client id (and a key): empty, unicode, long.
    for (const id of ["", "ü \u{1F600}", "x".repeat(5000)]) {
      const s = track(new IndexedDbStore(id, { indexedDB: idb }));
      await s.save({ session, savedAt: 3 });
      expect((await s.load())?.savedAt).toBe(3);
    }
  });

  it("defaults: globalThis.indexedDB and the database \"sansmqtt\"; without an IndexedDB the constructor throws ERR_STORE_IO; bad options are TypeErrors", async () => {
    const idb = freshIndexedDb();
    vi.stubGlobal("indexedDB", idb);
    const store = track(new IndexedDbStore("dflt"));
    expect(store.databaseName).toBe("sansmqtt");
    await store.save({ session: richSession(), savedAt: 1 });
    expect(await raw(idb, "sansmqtt").get("dflt")).toMatchObject({ clientId: "dflt" });
    vi.unstubAllGlobals();

    expect(typeof (globalThis as { indexedDB?: unknown }).indexedDB).toBe("undefined");
    let error: unknown;
    try {
      new IndexedDbStore("none");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: "ERR_STORE_IO", message: expect.stringMatching(/no IndexedDB/) });
    expect(() => new IndexedDbStore(5 as unknown as string, { indexedDB: idb })).toThrow(TypeError);
    expect(() => new IndexedDbStore("x", { indexedDB: idb, databaseName: "" })).toThrow(TypeError);
    expect(() => new IndexedDbStore("x", { indexedDB: idb, dbName: "y" } as object)).toThrow(/unknown option "dbName"/);
    expect(() => new IndexedDbStore("x", { indexedDB: {} as IDBFactoryLike })).toThrow(TypeError);
  });

  it("a save it cannot take is a TypeError and changes nothing", async () => {
    const store = track(new IndexedDbStore("bad", { indexedDB: freshIndexedDb() }));
    const session = richSession();
    await store.save({ session, savedAt: 1 });
    await expect(store.save({ session, savedAt: Number.NaN })).rejects.toThrow(TypeError);
    await expect(store.save({ session, savedAt: 2, checkpoint: 5 as unknown as string })).rejects.toThrow(/checkpoint must be a string/);
    await expect(store.save({ savedAt: 2 } as StoredSession)).rejects.toThrow(TypeError);
    expect(await store.load()).toEqual({ session, savedAt: 1 });
  });
});

describe("churn", () => {
  it("1,000 saves of a real engine's churning session: each load equals the last save, across reopenings", async () => {
    const idb = freshIndexedDb();
    const churn = new Churn(1, { ackRate: 0.1, cap: 200 });
    let store = track(new IndexedDbStore("store-test", { indexedDB: idb }));
    let last: StoredSession | undefined;
    let most = 0;
    for (let i = 1; i <= 1_000; i++) {
      churn.step();
      const session = churn.peer.conn.exportSession(churn.peer.now);
      most = Math.max(most, session.outgoing.length);
      // The application's checkpoint rides along, and is absent from some saves.
      last = i % 3 === 0 ? { session, savedAt: i } : { session, savedAt: i, checkpoint: `offset ${i}` };
      await store.save(last);
      expect(await store.load()).toEqual(last);
      if (i % 250 === 0) {
        await store.close();
        store = track(new IndexedDbStore("store-test", { indexedDB: idb }));
        expect(await store.load()).toEqual(last);
      }
    }
    console.log(`1,000 saves: at most ${most} messages in the session`);
    expect(most).toBeGreaterThan(10);
    const fresh = new MqttConnection({ protocolVersion: 5, clientId: "store-test" });
    fresh.importSession(0, (await store.load())!.session);
    expect(fresh.exportSession(0)).toEqual(last!.session);
  }, 60_000);
});

describe("durability and group commit", () => {
  it("a save is one readwrite transaction with durability \"strict\", resolved on its complete, not on the put's success", async () => {
    const watch = watchTransactions();
    const events: string[] = [];
    const put = FakeIDBObjectStore.prototype.put;
    vi.spyOn(FakeIDBObjectStore.prototype, "put").mockImplementation(function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore["put"]>) {
      const request = put.apply(this, args);
      request.addEventListener("success", () => events.push("put success"));
      this.transaction.addEventListener("complete", () => events.push(`complete (${this.transaction.durability})`));
      return request;
    });
    const store = track(new IndexedDbStore("strict", { indexedDB: freshIndexedDb() }));
    await store.save({ session: richSession(), savedAt: 1 }).then(() => events.push("save resolved"));
    expect(events).toEqual(["put success", "complete (strict)", "save resolved"]);
    expect(watch.modes).toEqual(["readwrite"]);
    expect(watch.options).toEqual([{ durability: "strict" }]);
    await store.clear();
    expect(watch.options.at(-1)).toEqual({ durability: "strict" });
  });

  it("100 saves made while one is written: one more write for all of them, every promise resolves after it, the last wins", async () => {
    const store = track(new IndexedDbStore("group", { indexedDB: freshIndexedDb() }));
    const session = richSession();
    await store.save({ session, savedAt: 0 });
    const watch = watchTransactions();

    // One save is being written while 100 more arrive.
    const first = store.save({ session, savedAt: 1 });
    await Promise.resolve();
    const completedAt: number[] = [];
    const saves = Array.from({ length: 100 }, (_, i) =>
      store.save({ session: { ...session, nextMid: session.nextMid + i }, savedAt: 100 + i }).then(() => completedAt.push(watch.completed())),
    );
    await Promise.all([first, ...saves]);
    expect(watch.readwrite()).toBe(2); // the first save's, then the batch's
    expect(completedAt).toHaveLength(100);
    expect(completedAt.every((n) => n === 2)).toBe(true);
    expect(await store.load()).toEqual({ session: { ...session, nextMid: session.nextMid + 99 }, savedAt: 199 });
  });

  it("a save made after clear() is not undone by it, even when both wait behind a write", async () => {
    const store = track(new IndexedDbStore("order", { indexedDB: freshIndexedDb() }));
    const session = richSession();
    const a = store.save({ session, savedAt: 1 });
    const c = store.clear();
    const b = store.save({ session, savedAt: 2 });
    await Promise.all([a, b, c]);
    expect((await store.load())?.savedAt).toBe(2);
  });

  it("a failed write rejects every save of its batch; the next save writes", async () => {
    const store = track(new IndexedDbStore("fail", { indexedDB: freshIndexedDb() }));
    const session = richSession();
    await store.save({ session, savedAt: 1 });
    const writing = store.save({ session, savedAt: 2 });
    await Promise.resolve(); // its write has started
    // These two join the next batch, whose write fails.
    const put = FakeIDBObjectStore.prototype.put;
    vi.spyOn(FakeIDBObjectStore.prototype, "put")
      .mockImplementationOnce(put)
      .mockImplementationOnce(() => {
        throw new DOMException("the quota has been exceeded", "QuotaExceededError");
      });
    const results = await Promise.allSettled([writing, store.save({ session, savedAt: 3 }), store.save({ session, savedAt: 4 })]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected"]);
    expect(results.slice(1).map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(["ERR_STORE_IO", "ERR_STORE_IO"]);
    expect((await store.load())?.savedAt).toBe(2);
    await store.save({ session, savedAt: 5 });
    expect((await store.load())?.savedAt).toBe(5);
  });
});

describe("clear and close", () => {
  it("clear() deletes the record (durably); a later save starts again", async () => {
    const idb = freshIndexedDb();
    const watch = watchTransactions();
    const store = track(new IndexedDbStore("c", { indexedDB: idb }));
    const session = richSession();
    await store.save({ session, savedAt: 1 });
    await store.clear();
    expect(watch.options.at(-1)).toEqual({ durability: "strict" });
    expect(await raw(idb, "sansmqtt").get("c")).toBeUndefined();
    expect(await store.load()).toBeUndefined();
    await store.clear(); // nothing there: fine
    await store.save({ session, savedAt: 3 });
    expect(await store.load()).toEqual({ session, savedAt: 3 });
    await store.clear();
    await store.close();
    expect(await track(new IndexedDbStore("c", { indexedDB: idb })).load()).toBeUndefined();
  });

  it("close() waits for the saves before it; later calls reject with ERR_STORE_CLOSED; a second close() resolves", async () => {
    const idb = freshIndexedDb();
    const store = new IndexedDbStore("closing", { indexedDB: idb });
    const session = richSession();
    const saved = store.save({ session, savedAt: 9 });
    await store.close();
    await saved;
    expect(await codeOf(store.load())).toBe("ERR_STORE_CLOSED");
    expect(await codeOf(store.save({ session, savedAt: 1 }))).toBe("ERR_STORE_CLOSED");
    expect(await codeOf(store.clear())).toBe("ERR_STORE_CLOSED");
    await store.close();
    expect((await track(new IndexedDbStore("closing", { indexedDB: idb })).load())?.savedAt).toBe(9);
  });

  it("close() closes the connection: the database can then be deleted", async () => {
    const idb = freshIndexedDb();
    const store = new IndexedDbStore("del", { indexedDB: idb });
    await store.save({ session: richSession(), savedAt: 1 });
    await store.close();
    const deleted = await new Promise<string>((resolve) => {
      const req = idb.deleteDatabase("sansmqtt");
      req.onsuccess = () => resolve("deleted");
      req.onblocked = () => resolve("blocked");
    });
    expect(deleted).toBe("deleted");
  });
});

describe("corrupt records", () => {
  const session = (): SessionState => richSession();

  it("what a save never writes is ERR_STORE_CORRUPT with the reason; a save then replaces it", async () => {
    const idb = freshIndexedDb();
    const store = track(new IndexedDbStore("bad", { indexedDB: idb }));
    await store.save({ session: session(), savedAt: 1, checkpoint: "c" });
    const good = (await raw(idb, "sansmqtt").get("bad")) as Record<string, unknown> & { session: Record<string, unknown> & { outgoing: Record<string, unknown>[] } };
    const cases: [unknown, RegExp][] = [
      ["garbage", /the record is "garbage", not a session record/],
      [new Uint8Array([1, 2, 3]), /format undefined is not known/],
      [[1, 2], /is an array/],
      [null, /is null/],
      [{ ...good, format: 2 }, /record format 2 is not known/],
      [{ ...good, clientId: 7 }, /client id 7's, not "bad"'s/],
      [{ ...good, savedAt: "yesterday" }, /savedAt is "yesterday"/],
      [{ ...good, checkpoint: 3 }, /checkpoint is 3/],
      [{ ...good, session: "x" }, /the session does not decode/],
      [{ ...good, session: { ...good.session, encoding: "hex" } }, /the session does not decode: .*encoding/],
      [{ ...good, session: { ...good.session, outgoing: [{ ...good.session.outgoing[0], payload: "not base64!" }] } }, /the session does not decode: .*outgoing\[0\]\.payload/],
      [{ ...good, session: { ...good.session, outgoing: { length: 1 } } }, /the session does not decode: .*outgoing/],
    ];
    for (const [value, why] of cases) {
      await raw(idb, "sansmqtt").put("bad", value);
      const e = await errorOf(store.load());
      expect(e).toBeInstanceOf(StoreError);
      expect(e.code).toBe("ERR_STORE_CORRUPT");
      expect(e.message).toMatch(why);
      expect(e.message).toMatch(/^IndexedDB "sansmqtt", sessions\["bad"\]: /);
    }
    // The store still works: a save writes a good record over the bad one.
    await store.save({ session: session(), savedAt: 2 });
    expect((await store.load())?.savedAt).toBe(2);
  });

  it("another client id's record under this one's key is ERR_STORE_CORRUPT", async () => {
    const idb = freshIndexedDb();
    const other = track(new IndexedDbStore("other", { indexedDB: idb }));
    await other.save({ session: session(), savedAt: 1 });
    await raw(idb, "sansmqtt").put("mine", await raw(idb, "sansmqtt").get("other"));
    const mine = track(new IndexedDbStore("mine", { indexedDB: idb }));
    const e = await errorOf(mine.load());
    expect(e.code).toBe("ERR_STORE_CORRUPT");
    expect(e.message).toMatch(/client id "other"'s, not "mine"'s/);
  });
});

describe("IndexedDB failures are ERR_STORE_IO with the cause", () => {
  it("an IDBFactory whose open() throws (storage disabled, an opaque origin)", async () => {
    const failing: IDBFactoryLike = {
      open: () => {
        throw new DOMException("access to IndexedDB is denied", "SecurityError");
      },
    };
    const store = track(new IndexedDbStore("x", { indexedDB: failing }));
    for (const op of [() => store.load(), () => store.save({ session: richSession(), savedAt: 1 }), () => store.clear()]) {
      const e = await errorOf(op());
      expect(e).toBeInstanceOf(StoreError);
      expect(e.code).toBe("ERR_STORE_IO");
      expect(e.message).toMatch(/cannot open the IndexedDB database "sansmqtt": SecurityError: access to IndexedDB is denied/);
      expect((e.cause as DOMException).name).toBe("SecurityError");
    }
  });

  it("an IDBFactory whose open request fails (the database is at a later version)", async () => {
    const idb = freshIndexedDb();
    await new Promise<void>((resolve, reject) => {
      const req = idb.open("sansmqtt", 2);
      req.onsuccess = () => {
        req.result.close();
        resolve();
      };
      req.onerror = () => reject(req.error);
    });
    const store = track(new IndexedDbStore("x", { indexedDB: idb }));
    const e = await errorOf(store.load());
    expect(e.code).toBe("ERR_STORE_IO");
    expect((e.cause as DOMException).name).toBe("VersionError");
  });

  it("a write the database refuses (QuotaExceededError), and a transaction aborted under it: the save rejects, the next one writes", async () => {
    const store = track(new IndexedDbStore("quota", { indexedDB: freshIndexedDb() }));
    const session = richSession();
    await store.save({ session, savedAt: 1 });
    const put = vi.spyOn(FakeIDBObjectStore.prototype, "put").mockImplementation(() => {
      throw new DOMException("the quota has been exceeded", "QuotaExceededError");
    });
    const e = await errorOf(store.save({ session, savedAt: 2 }));
    expect(e.code).toBe("ERR_STORE_IO");
    expect(e.message).toMatch(/cannot write: QuotaExceededError/);
    expect((e.cause as DOMException).name).toBe("QuotaExceededError");
    put.mockRestore();

    const original = FakeIDBObjectStore.prototype.put;
    const aborting = vi.spyOn(FakeIDBObjectStore.prototype, "put").mockImplementation(function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore["put"]>) {
      const request = original.apply(this, args);
      this.transaction.abort();
      return request;
    });
    const aborted = await errorOf(store.save({ session, savedAt: 3 }));
    expect(aborted.code).toBe("ERR_STORE_IO");
    expect((aborted.cause as DOMException).name).toBe("AbortError");
    aborting.mockRestore();

    expect((await store.load())?.savedAt).toBe(1);
    await store.save({ session, savedAt: 4 });
    expect((await store.load())?.savedAt).toBe(4);
  });

  it("a connection the browser closes (storage cleared): the next operation opens a new one", async () => {
    const idb = freshIndexedDb();
    let db: IDBDatabase | undefined;
    const original = FakeIDBDatabase.prototype.transaction;
    vi.spyOn(FakeIDBDatabase.prototype, "transaction").mockImplementation(function (this: IDBDatabase, ...args: Parameters<IDBDatabase["transaction"]>) {
      db = this;
      return original.apply(this, args);
    });
    const store = track(new IndexedDbStore("forced", { indexedDB: idb }));
    const session = richSession();
    await store.save({ session, savedAt: 1 });
    const first = db!;
    forceCloseDatabase(first as unknown as Parameters<typeof forceCloseDatabase>[0]);
    await new Promise((r) => setTimeout(r, 10));
    await store.save({ session, savedAt: 2 });
    expect(db).not.toBe(first);
    expect((await store.load())?.savedAt).toBe(2);
  });

  it("a newer version of the database opened elsewhere is not blocked: the store lets its connection go", async () => {
    const idb = freshIndexedDb();
    const store = track(new IndexedDbStore("upgrade", { indexedDB: idb }));
    await store.save({ session: richSession(), savedAt: 1 });
    const outcome = await new Promise<string>((resolve) => {
      const req = idb.open("sansmqtt", 2);
      req.onsuccess = () => {
        req.result.close();
        resolve("opened");
      };
      req.onblocked = () => resolve("blocked");
      req.onerror = () => resolve(`error ${req.error?.name}`);
    });
    expect(outcome).toBe("opened");
    // This version's store cannot open version 2: ERR_STORE_IO, not a hang.
    expect(await codeOf(store.load())).toBe("ERR_STORE_IO");
  });
});

/** The Web Locks API as far as the store uses it (navigator.locks.request with ifAvailable), in memory. */
class FakeLocks {
  readonly held = new Set<string>();
  readonly requests: { name: string; options: unknown }[] = [];
  async request(name: string, options: { ifAvailable?: boolean }, callback: (lock: unknown) => unknown): Promise<unknown> {
    this.requests.push({ name, options });
    await Promise.resolve();
    if (this.held.has(name)) {
      if (options.ifAvailable !== true) throw new Error("the fake only grants with ifAvailable");
      return callback(null);
    }
    this.held.add(name);
    try {
      return await callback({ name, mode: "exclusive" });
    } finally {
      this.held.delete(name);
    }
  }
}

describe("lock", () => {
  it("with navigator.locks: a second store of the same database and client id gets ERR_STORE_LOCKED until the first closes", async () => {
    const locks = new FakeLocks();
    vi.stubGlobal("navigator", { locks });
    const idb = freshIndexedDb();
    const first = track(new IndexedDbStore("locked", { indexedDB: idb }));
    await first.load();
    expect([...locks.held]).toEqual([first.lockName]);
    expect(locks.requests[0]).toEqual({ name: '@sansmqtt/store-indexeddb ["sansmqtt","locked"]', options: { mode: "exclusive", ifAvailable: true } });
    const second = track(new IndexedDbStore("locked", { indexedDB: idb }));
    const e = await errorOf(second.load());
    expect(e.code).toBe("ERR_STORE_LOCKED");
    expect(e.message).toMatch(/another store .* uses client id "locked"/);
    expect(await codeOf(second.save({ session: richSession(), savedAt: 1 }))).toBe("ERR_STORE_LOCKED");
    expect(await codeOf(second.clear())).toBe("ERR_STORE_LOCKED");
    // Other client ids, and the same id in another database, are other locks.
    await track(new IndexedDbStore("free", { indexedDB: idb })).load();
    await track(new IndexedDbStore("locked", { indexedDB: idb, databaseName: "other" })).load();
    // The first one keeps working; its lock goes at close().
    await first.save({ session: richSession(), savedAt: 5 });
    await first.close();
    expect(locks.held.has(first.lockName)).toBe(false);
    expect((await second.load())?.savedAt).toBe(5); // tried again: the lock is free now
    expect(locks.held.has(second.lockName)).toBe(true);
  });

  it("a Locks API that fails is ERR_STORE_IO", async () => {
    vi.stubGlobal("navigator", { locks: { request: () => Promise.reject(new DOMException("no locks in an opaque origin", "SecurityError")) } });
    const store = track(new IndexedDbStore("x", { indexedDB: freshIndexedDb() }));
    const e = await errorOf(store.load());
    expect(e.code).toBe("ERR_STORE_IO");
    expect((e.cause as DOMException).name).toBe("SecurityError");
  });

  it("without a Locks API (as in Node 20) nothing is locked: two stores of one client id both work", async () => {
    vi.stubGlobal("navigator", {});
    const idb = freshIndexedDb();
    const a = track(new IndexedDbStore("nolock", { indexedDB: idb }));
    const b = track(new IndexedDbStore("nolock", { indexedDB: idb }));
    await a.save({ session: richSession(), savedAt: 1 });
    expect((await b.load())?.savedAt).toBe(1);
  });
});
