// The in-memory session store (the default): a copy in, a copy out; closed means closed.
// SerialStore, what the IO stores build on: one operation at a time, group commit, closed, checked input.
import { describe, expect, it } from "vitest";
import { MemoryStore, MqttConnection, SerialStore, StoreError, type StoredSession } from "../src/index.js";

describe("MemoryStore", () => {
  it("keeps a copy of what was saved, gives a copy back, forgets on clear, refuses after close", async () => {
    const store = new MemoryStore();
    expect(await store.load()).toBeUndefined();
    const c = new MqttConnection({ protocolVersion: 5, clientId: "m" });
    c.publish(0, { topic: "t", payload: Uint8Array.of(1, 2, 3), qos: 1 });
    const stored = { session: c.exportSession(0), savedAt: 1_700_000_000_000 };
    await store.save(stored);
    stored.session.outgoing.length = 0; // the caller's object changes later: the store's copy does not
    const back = await store.load();
    expect(back?.session.outgoing).toHaveLength(1);
    expect(back?.session.outgoing[0]?.payload).toEqual(Uint8Array.of(1, 2, 3));
    expect(back?.savedAt).toBe(1_700_000_000_000);
    new MqttConnection({ protocolVersion: 5, clientId: "m" }).importSession(0, back!.session);
    await store.clear();
    expect(await store.load()).toBeUndefined();
    await store.close();
    await expect(store.load()).rejects.toBeInstanceOf(StoreError);
    await expect(store.save(stored)).rejects.toMatchObject({ code: "ERR_STORE_CLOSED" });
  });
});

/** A SerialStore whose IO steps wait until the test lets them finish, and log what ran. */
class GatedStore extends SerialStore {
  readonly log: string[] = [];
  readonly gates: (() => void)[] = [];
  value: StoredSession | undefined;
  failNextWrite = false;
  constructor() {
    super("GatedStore");
  }
  #step<T>(what: string, result: () => T): Promise<T> {
    this.log.push(`${what} start`);
    return new Promise<T>((resolve, reject) =>
      this.gates.push(() => {
        this.log.push(`${what} end`);
        if (what.startsWith("write") && this.failNextWrite) {
          this.failNextWrite = false;
          reject(new Error("disk full"));
        } else resolve(result());
      }),
    );
  }
  protected read(): Promise<StoredSession | undefined> {
    return this.#step("read", () => this.value);
  }
  protected write(stored: StoredSession): Promise<void> {
    return this.#step(`write ${stored.savedAt}`, () => void (this.value = stored));
  }
  protected erase(): Promise<void> {
    return this.#step("erase", () => void (this.value = undefined));
  }
  protected release(): Promise<void> {
    return this.#step("release", () => undefined);
  }
  /** Lets the oldest waiting step finish, then lets the promise callbacks run. */
  async next(): Promise<void> {
    for (let i = 0; i < 5 && this.gates.length === 0; i++) await Promise.resolve();
    this.gates.shift()?.();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

const session = () => new MqttConnection({ protocolVersion: 5, clientId: "s" }).exportSession(0);

describe("SerialStore", () => {
  it("runs one step at a time in call order; saves made while a write waits join it, the last one wins", async () => {
    const store = new GatedStore();
    const settled: string[] = [];
    const track = (name: string, p: Promise<unknown>) => p.then(() => settled.push(name), (e: Error) => settled.push(`${name}: ${e.message}`));
    track("save 1", store.save({ session: session(), savedAt: 1 }));
    await store.next(); // write 1 starts and ends; nothing waits
    track("save 2", store.save({ session: session(), savedAt: 2 }));
    for (let i = 0; i < 5; i++) await Promise.resolve(); // write 2 starts
    track("save 3", store.save({ session: session(), savedAt: 3 }));
    track("load", store.load());
    track("save 4", store.save({ session: session(), savedAt: 4 }));
    expect(store.log).toEqual(["write 1 start", "write 1 end", "write 2 start"]);
    // Saves 3 and 4 were made while save 2's write was under way: it had started, so they form the next batch.
    await store.next();
    await store.next();
    await store.next();
    expect(store.log).toEqual(["write 1 start", "write 1 end", "write 2 start", "write 2 end", "write 4 start", "write 4 end", "read start", "read end"]);
    expect(settled).toEqual(["save 1", "save 2", "save 3", "save 4", "load"]);
    expect(store.value?.savedAt).toBe(4);
  });

  it("a failed write rejects every save of its batch and the store goes on", async () => {
    const store = new GatedStore();
    const results: string[] = [];
    const track = (name: string, p: Promise<unknown>) => p.then(() => results.push(name), (e: Error) => results.push(`${name}: ${e.message}`));
    track("a", store.save({ session: session(), savedAt: 1 }));
    track("b", store.clear());
    track("c", store.save({ session: session(), savedAt: 2 }));
    track("d", store.save({ session: session(), savedAt: 3 }));
    store.failNextWrite = true;
    await store.next(); // write 1 fails
    await store.next(); // erase
    store.failNextWrite = true;
    await store.next(); // write 3 (c and d joined) fails
    track("e", store.save({ session: session(), savedAt: 5 }));
    await store.next();
    expect(results).toEqual(["a: disk full", "b", "c: disk full", "d: disk full", "e"]);
    expect(store.log.filter((l) => l.endsWith("start"))).toEqual(["write 1 start", "erase start", "write 3 start", "write 5 start"]);
  });

  it("a save made after clear() does not join a write queued before it", async () => {
    const store = new GatedStore();
    void store.load();
    void store.save({ session: session(), savedAt: 1 }); // waits behind the load, not started
    void store.clear();
    void store.save({ session: session(), savedAt: 2 });
    for (let i = 0; i < 4; i++) await store.next();
    expect(store.log.filter((l) => l.endsWith("start"))).toEqual(["read start", "write 1 start", "erase start", "write 2 start"]);
    expect(store.value?.savedAt).toBe(2);
  });

  it("close lets what was asked before it finish, releases once, and refuses everything after", async () => {
    const store = new GatedStore();
    const saved = store.save({ session: session(), savedAt: 1 });
    const closing = store.close();
    const again = store.close();
    await expect(store.load()).rejects.toMatchObject({ code: "ERR_STORE_CLOSED" });
    await expect(store.save({ session: session(), savedAt: 2 })).rejects.toBeInstanceOf(StoreError);
    await expect(store.clear()).rejects.toMatchObject({ code: "ERR_STORE_CLOSED" });
    await store.next();
    await store.next();
    await Promise.all([saved, closing, again]);
    expect(store.log).toEqual(["write 1 start", "write 1 end", "release start", "release end"]);
  });

  it("checks what save is given before anything runs, naming the store", async () => {
    const store = new GatedStore();
    await expect(store.save(undefined as unknown as StoredSession)).rejects.toThrow(/^GatedStore\.save: stored must be/);
    await expect(store.save({ session: session(), savedAt: Number.NaN })).rejects.toThrow(/savedAt must be a finite number/);
    await expect(store.save({ session: session(), savedAt: 1, checkpoint: 5 as unknown as string })).rejects.toThrow(/checkpoint must be a string/);
    expect(store.log).toEqual([]);
  });
});
