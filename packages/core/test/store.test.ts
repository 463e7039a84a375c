// The in-memory session store (the default): a copy in, a copy out; closed means closed.
// SerialStore, what the IO stores build on: one operation at a time, group commit, closed, checked input.
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fcParams } from "./helpers/fc.js";
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

type Op = { kind: "save" } | { kind: "load" } | { kind: "clear" } | { kind: "close" } | { kind: "step"; fail: boolean } | { kind: "tick" };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Op>({ kind: "save" }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: "load" }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: "clear" }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: "close" }) },
  { weight: 4, arbitrary: fc.boolean().map((fail): Op => ({ kind: "step", fail })) },
  { weight: 2, arbitrary: fc.constant<Op>({ kind: "tick" }) },
);

describe("SerialStore under any interleaving (fast-check; FC_SEED / FC_PATH replay a failure)", () => {
  it("one step at a time; every save settles with the one write that carried it, never a stale or a repeated one; nothing after close", async () => {
    const property = fc.asyncProperty(fc.array(arbOp, { maxLength: 40 }), async (ops) => {
      const store = new GatedStore();
      /** Per save: its savedAt, the log's length when it was made, and how it settled (log length then, ok or not). */
      const saves: { savedAt: number; madeAt: number; call: number; refused?: boolean; settled?: { at: number; ok: boolean; error?: unknown }; carrier?: number }[] = [];
      /** When each clear() was called, in the same count of calls as the saves' `call`. */
      const clears: number[] = [];
      let calls = 0;
      const afterClose: Promise<unknown>[] = [];
      let unsettled = 0;
      const all = {
        push(p: Promise<unknown>): void {
          unsettled++;
          const done = () => void unsettled--;
          p.then(done, done); // also marks a rejection as handled
        },
      };
      let closed = false;
      let n = 0;
      const flush = async () => {
        for (let i = 0; i < 5; i++) await Promise.resolve();
      };
      for (const op of ops) {
        switch (op.kind) {
          case "save": {
            const entry: (typeof saves)[number] = { savedAt: ++n, madeAt: store.log.length, call: calls++ };
            saves.push(entry);
            const p = store.save({ session: session(), savedAt: entry.savedAt }).then(
              () => void (entry.settled = { at: store.log.length, ok: true }),
              (error: unknown) => void (entry.settled = { at: store.log.length, ok: false, error }),
            );
            all.push(p);
            entry.refused = closed;
            break;
          }
          case "load":
          case "clear": {
            if (op.kind === "clear") clears.push(calls++);
            const p = op.kind === "load" ? store.load() : store.clear();
            all.push(p);
            if (closed) afterClose.push(p.then(() => "resolved", (e: unknown) => e));
            break;
          }
          case "close":
            all.push(store.close());
            closed = true;
            break;
          case "step":
            store.failNextWrite = op.fail;
            await store.next();
            break;
          case "tick":
            await flush();
        }
      }
      store.failNextWrite = false;
      // Let every step left finish (bounded: each op queues at most one step).
      for (let i = 0; i <= ops.length; i++) {
        await flush();
        if (store.gates.length === 0) break;
        await store.next();
      }
      // Every call settled (a lost waiter would hang its caller for ever).
      expect(unsettled).toBe(0);

      // One step at a time: starts and ends alternate, each end the step that started.
      const log = store.log;
      for (let i = 0; i < log.length; i++) {
        const [what, edge] = [log[i]!.slice(0, log[i]!.lastIndexOf(" ")), log[i]!.slice(log[i]!.lastIndexOf(" ") + 1)];
        expect(edge).toBe(i % 2 === 0 ? "start" : "end");
        if (edge === "end") expect(log[i - 1]).toBe(`${what} start`);
      }
      // Writes go out in the order saves were made, each session at most once.
      const written = log.filter((l) => l.startsWith("write") && l.endsWith("start")).map((l) => Number(l.split(" ")[1]));
      for (let i = 1; i < written.length; i++) expect(written[i]).toBeGreaterThan(written[i - 1]!);
      for (const s of saves) {
        expect(s.settled).toBeDefined();
        if (s.refused) {
          expect(s.settled).toMatchObject({ ok: false, error: { code: "ERR_STORE_CLOSED" } });
          continue;
        }
        // The write that carried it: the last one to end before it settled. Closed: rejected without a write.
        const ends = log.slice(0, s.settled!.at).map((l, i) => [l, i] as const).filter(([l]) => l.startsWith("write") && l.endsWith("end"));
        const carrier = ends.at(-1);
        // Its write ran, whether it failed or not (close() waits for what was asked before it).
        expect(carrier).toBeDefined();
        if (carrier === undefined) continue;
        const carried = Number(carrier[0].split(" ")[1]);
        // The last one wins: the write carries this save or a later one, never an earlier one.
        expect(carried).toBeGreaterThanOrEqual(s.savedAt);
        // And it started after the save was made unless it carried the save itself (joined before it started).
        const started = log.indexOf(`write ${carried} start`);
        expect(started >= s.madeAt || carried === s.savedAt).toBe(true);
        s.carrier = carried;
      }
      // A clear() called between two saves cuts the batch: they are never carried by the same write.
      for (let i = 0; i < saves.length; i++) {
        for (let j = i + 1; j < saves.length; j++) {
          const [a, b] = [saves[i]!, saves[j]!];
          if (a.carrier !== undefined && a.carrier === b.carrier) expect(clears.some((c) => c > a.call && c < b.call)).toBe(false);
        }
      }
      // After close: everything refused with ERR_STORE_CLOSED, release once and last.
      for (const e of await Promise.all(afterClose)) expect(e).toMatchObject({ code: "ERR_STORE_CLOSED" });
      const releases = log.filter((l) => l === "release start").length;
      expect(releases).toBe(closed ? 1 : 0);
      if (closed) expect(log.at(-1)).toBe("release end");
    });
    await fc.assert(property, fcParams(300));
  });
});
