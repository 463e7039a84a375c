/**
 * A Client from @sansmqtt/client with an IndexedDbStore: messages published
 * offline are saved, and a second Client on a second store of the same
 * database (a reloaded page) loads them back. No broker: nothing connects.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Client, MQTTv311, MQTTv5 } from "@sansmqtt/client";
import { IndexedDbStore } from "../src/index.js";
import { codeOf, freshIndexedDb } from "./engine.js";

const stores: IndexedDbStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});
const storeOf = (clientId: string, indexedDB: IDBFactory): IndexedDbStore => {
  const s = new IndexedDbStore(clientId, { indexedDB, databaseName: "app" });
  stores.push(s);
  return s;
};

describe("Client with an IndexedDbStore", () => {
  it("3.1.1, cleanSession false: messages published offline and the checkpoint survive a reload (a new Client on a new store)", async () => {
    const idb = freshIndexedDb();
    const first = new Client({ clientId: "page-1", protocol: MQTTv311, cleanSession: false, store: storeOf("page-1", idb) });
    expect(await first.loadSession()).toEqual([]);
    const binary = new Uint8Array([0, 1, 2, 254, 255]);
    const sent = [first.publish("t/text", "hello", 1), first.publish("t/bin", binary, 2), first.publish("t/retained", "r", 1, true)];
    first.checkpointSet("3 sent");
    await first.saveSession();
    // The page goes away: its store is closed (in a browser the tab's lock goes with it).
    await stores[0]!.close();
    expect(await codeOf(stores[0]!.load())).toBe("ERR_STORE_CLOSED");

    const store = storeOf("page-1", idb);
    const second = new Client({ clientId: "page-1", protocol: MQTTv311, cleanSession: false, store });
    const restored = await second.loadSession();
    expect(restored.map((i) => i.mid)).toEqual(sent.map((i) => i.mid));
    expect(second.checkpointGet()).toBe("3 sent");
    const stored = (await store.load())!;
    expect(stored.checkpoint).toBe("3 sent");
    expect(stored.session.clientId).toBe("page-1");
    expect(stored.session.outgoing.map((m) => [m.topic, m.qos, m.retain, m.state])).toEqual([
      ["t/text", 1, false, "queued"],
      ["t/bin", 2, false, "queued"],
      ["t/retained", 1, true, "queued"],
    ]);
    expect(stored.session.outgoing[0]!.payload).toEqual(new TextEncoder().encode("hello"));
    expect(stored.session.outgoing[1]!.payload).toEqual(binary);
  });

  it("5.0: binary properties come back; a store of another client id in the same database is not touched", async () => {
    const idb = freshIndexedDb();
    const first = new Client({ clientId: "page-5", protocol: MQTTv5, store: storeOf("page-5", idb) });
    await first.loadSession();
    const info = first.publish("t/5", new Uint8Array([9, 8, 7]), 1, false, { correlationData: new Uint8Array([1, 0, 255]), userProperties: [["k", "v"]], contentType: "x" });
    await first.saveSession();
    const neighbour = new Client({ clientId: "page-6", protocol: MQTTv5, store: storeOf("page-6", idb) });
    expect(await neighbour.loadSession()).toEqual([]);
    await stores[0]!.close();

    const second = new Client({ clientId: "page-5", protocol: MQTTv5, store: storeOf("page-5", idb) });
    const restored = await second.loadSession();
    expect(restored.map((i) => i.mid)).toEqual([info.mid]);
    const stored = (await stores.at(-1)!.load())!;
    expect(stored.session.outgoing[0]!.payload).toEqual(new Uint8Array([9, 8, 7]));
    expect(stored.session.outgoing[0]!.properties).toMatchObject({ correlationData: new Uint8Array([1, 0, 255]), userProperties: [["k", "v"]], contentType: "x" });
  });
});
