// The client with a session store, against the throwaway mosquitto: the
// session is loaded before the first connection and saved before the bytes
// that depend on it go out; a new Client on the same store (a restarted
// program) resumes the messages, the checkpoint and the expiry clock. The
// crash tests with a file store and killed processes are in packages/durability.
import { uniqueClientId, uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore, MQTTv311, MQTTv5, PublishError, type Client, type MQTTMessage, type SessionStore, type StoredSession } from "../src/index.js";
import { Clients, HOST, TCP_PORT, connectStarted, waitFor } from "./helpers.js";

const clients = new Clients();
afterEach(() => clients.cleanup());

/** A MemoryStore that counts saves and can hold them until released, or fail them. */
class GateStore implements SessionStore {
  readonly inner = new MemoryStore();
  saves = 0;
  held: Array<() => void> | undefined;
  failWith: Error | undefined;
  load(): Promise<StoredSession | undefined> {
    return this.inner.load();
  }
  async save(stored: StoredSession): Promise<void> {
    if (this.failWith !== undefined) throw this.failWith;
    if (this.held !== undefined) await new Promise<void>((r) => this.held!.push(r));
    this.saves++;
    await this.inner.save(stored);
  }
  clear(): Promise<void> {
    return this.inner.clear();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function subscriber(topic: string, qos: 1 | 2, protocol: 4 | 5 = MQTTv311): Promise<{ c: Client; got: MQTTMessage[] }> {
  const c = clients.make("store-sub", { protocol });
  const got: MQTTMessage[] = [];
  c.onMessage = (_c, _u, m) => got.push(m);
  await connectStarted(c);
  let granted = false;
  c.onSubscribe = () => (granted = true);
  c.subscribe(topic, qos);
  await waitFor("SUBACK", () => granted);
  return { c, got };
}

describe("Client with a store", () => {
  it("publish() before the session is loaded is refused (ERR_CLIENT_STATE); loadSession() on an empty store gives no messages", async () => {
    const store = new MemoryStore();
    const c = clients.make("store-early", { cleanSession: false, store });
    expect(() => c.publish("t", "x", 1)).toThrow(expect.objectContaining({ code: "ERR_CLIENT_STATE" }));
    expect(() => c.checkpointSet("x")).toThrow(expect.objectContaining({ code: "ERR_CLIENT_STATE" }));
    expect(await c.loadSession()).toEqual([]);
    expect(c.publish("t", "x", 1).rc).toBeDefined();
    // Without a store there is nothing to load, and nothing waits for it.
    const plain = clients.make("store-none");
    await expect(plain.loadSession()).rejects.toMatchObject({ code: "ERR_CLIENT_STATE" });
    expect(() => plain.checkpointSet("x")).toThrow(expect.objectContaining({ code: "ERR_CLIENT_STATE" }));
    await plain.saveSession();
  });

  it("bytes wait for the save: while the store holds its save, CONNECT is not sent; it goes once the save is done", async () => {
    const store = new GateStore();
    const c = clients.make("store-gate", { cleanSession: false, store });
    store.held = [];
    let connected = false;
    c.onConnect = () => (connected = true);
    await c.connect(HOST(), TCP_PORT(), 30);
    c.loopStart();
    await waitFor("a save to be asked for", () => store.held!.length > 0);
    await new Promise((r) => setTimeout(r, 200));
    expect(connected).toBe(false);
    const waiting = store.held;
    store.held = undefined;
    for (const r of waiting) r();
    await waitFor("onConnect after the save", () => connected);
    expect(store.saves).toBeGreaterThan(0);
  });

  it("a store that fails its save: nothing is sent, the connection is cut and the failure logged", async () => {
    const store = new GateStore();
    store.failWith = new Error("disk full");
    const c = clients.make("store-fail", { cleanSession: false, store, reconnectOnFailure: false });
    const logs: string[] = [];
    c.onLog = (_c, _u, _level, line) => logs.push(line);
    let connected = false;
    let disconnected = false;
    c.onConnect = () => (connected = true);
    c.onDisconnect = () => (disconnected = true);
    await c.connect(HOST(), TCP_PORT(), 30);
    c.loopStart();
    await waitFor("onDisconnect", () => disconnected);
    expect(connected).toBe(false);
    expect(logs.some((l) => l.includes("the session could not be saved: disk full"))).toBe(true);
  });

  for (const [name, protocol] of [["3.1.1", MQTTv311], ["5.0", MQTTv5]] as const) {
    it(`${name}: messages published while offline survive a restart of the program (a new Client on the same store) and are delivered once`, async () => {
      const topic = uniqueTopic("store-restart");
      const { got } = await subscriber(topic, 2, protocol);
      const store = new MemoryStore();
      const id = uniqueClientId("store-pub");
      const sessionOpts = protocol === MQTTv5 ? {} : { cleanSession: false };
      const first = clients.make("unused", { clientId: id, protocol, store, ...sessionOpts });
      await first.loadSession();
      for (let i = 0; i < 30; i++) first.publish(topic, `m${i}`, (i % 2) + 1);
      first.checkpointSet("30");
      await first.saveSession();
      // The program dies here: the first Client is dropped without a word.
      const second = clients.make("unused", { clientId: id, protocol, store, ...sessionOpts });
      const restored = await second.loadSession();
      expect(restored.map((i) => i.mid)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect(second.checkpointGet()).toBe("30");
      const props = protocol === MQTTv5 ? { cleanStart: false, properties: { sessionExpiryInterval: 300 } } : {};
      await second.connect(HOST(), TCP_PORT(), 30, props);
      second.loopStart();
      await Promise.all(restored.map((i) => i.waitForPublish(5_000)));
      await waitFor("30 messages", () => got.length >= 30);
      await new Promise((r) => setTimeout(r, 100));
      expect(got.map((m) => m.text()).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`).sort());
      // Acknowledged messages leave the stored session.
      await second.saveSession();
      expect((await store.load())!.session.outgoing).toEqual([]);
    });
  }

  it("[MQTT-3.3.2-6] MQTT 5 message expiry counts the time the program was down: an expired queued message is dropped at load, a live one goes with the interval reduced", async () => {
    const topic = uniqueTopic("store-expiry");
    const { got } = await subscriber(topic, 1, MQTTv5);
    const store = new MemoryStore();
    const id = uniqueClientId("store-exp");
    const first = clients.make("unused", { clientId: id, protocol: MQTTv5, store });
    await first.loadSession();
    first.publish(topic, "short", 1, false, { messageExpiryInterval: 5 });
    first.publish(topic, "long", 1, false, { messageExpiryInterval: 100 });
    await first.saveSession();
    // As if the program had been down 30 s: the save's wall clock moves back.
    const saved = (await store.load())!;
    await store.save({ ...saved, savedAt: saved.savedAt - 30_000 });
    const second = clients.make("unused", { clientId: id, protocol: MQTTv5, store });
    const logs: string[] = [];
    second.onLog = (_c, _u, _l, line) => logs.push(line);
    const restored = await second.loadSession();
    const short = restored.find((i) => i.mid === 1);
    const long = restored.find((i) => i.mid === 2);
    await expect(short!.waitForPublish()).rejects.toBeInstanceOf(PublishError);
    await expect(short!.waitForPublish()).rejects.toMatchObject({ cause: { code: "ERR_MESSAGE_EXPIRED" } });
    expect(logs.some((l) => /message 1 expired while the program was not running/.test(l))).toBe(true);
    await second.connect(HOST(), TCP_PORT(), 30, { cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    second.loopStart();
    await long!.waitForPublish(5_000);
    await waitFor("the live message", () => got.length >= 1);
    expect(got.map((m) => m.text())).toEqual(["long"]);
    const interval = got[0]!.properties!.messageExpiryInterval!;
    expect(interval).toBeLessThanOrEqual(70);
    expect(interval).toBeGreaterThan(60);
  });

  it("a stored session of another client id is refused (ERR_CLIENT_ARGUMENT); a later loadSession() may succeed once the store is fixed", async () => {
    const store = new MemoryStore();
    const a = clients.make("unused", { clientId: "store-id-a", cleanSession: false, store });
    await a.loadSession();
    a.publish("t", "x", 1);
    await a.saveSession();
    const b = clients.make("unused", { clientId: "store-id-b", cleanSession: false, store });
    await expect(b.loadSession()).rejects.toMatchObject({ code: "ERR_CLIENT_ARGUMENT" });
    await store.clear();
    expect(await b.loadSession()).toEqual([]);
  });

  it("with a store, subscriptions are restored when the broker lost the session (resubscribeOnSessionLoss defaults to true)", async () => {
    const topic = uniqueTopic("store-resub");
    const store = new MemoryStore();
    const id = uniqueClientId("store-resub");
    const first = clients.make("unused", { clientId: id, cleanSession: false, store });
    await connectStarted(first);
    let granted = false;
    first.onSubscribe = () => (granted = true);
    first.subscribe(topic, 1);
    await waitFor("SUBACK", () => granted);
    await first.saveSession();
    first.disconnect();
    await first.loopStop();
    // The broker forgets the session: a clean-session connection with the same id.
    const wipe = clients.make("unused", { clientId: id, cleanSession: true });
    await connectStarted(wipe);
    wipe.disconnect();
    await wipe.loopStop();
    const second = clients.make("unused", { clientId: id, cleanSession: false, store });
    const got: string[] = [];
    second.onMessage = (_c, _u, m) => got.push(m.text());
    let present: boolean | undefined;
    second.onConnect = (_c, _u, flags) => (present = flags.sessionPresent);
    await connectStarted(second);
    expect(present).toBe(false);
    const pub = clients.make("store-resub-pub");
    await connectStarted(pub);
    // The SUBSCRIBE sent again after the CONNACK may still be on its way: publish until one arrives.
    await waitFor("a message through the restored subscription", () => {
      pub.publish(topic, "back", 1);
      return got.length > 0;
    }, 5_000);
    expect(got[0]).toBe("back");
  });
});
