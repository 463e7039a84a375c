// The in-memory session store (the default): a copy in, a copy out; closed means closed.
import { describe, expect, it } from "vitest";
import { MemoryStore, MqttConnection, StoreError } from "../src/index.js";

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
