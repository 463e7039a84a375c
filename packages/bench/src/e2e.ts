// End to end through a real mosquitto on loopback: what the IO layer
// (@sansmqtt/loop-external's ExternalLoop and LoopRunner + @sansmqtt/transport-tcp) costs over the bare
// engine driven by the thinnest loop we can write by hand over node:net.
//
// Four contenders: the bare engine; loop-external + transport-tcp; the
// Paho-style Client (@sansmqtt/client: callbacks, MQTTMessageInfo, loopStart);
// MQTT.js 5 (the npm `mqtt` package), the most used JavaScript client. A fifth
// for scale, "c-clients": mosquitto's own C clients, mosquitto_pub and
// mosquitto_sub, as two processes (./c-clients.ts: how the same workload is
// fed to them, and how their own CPU is measured), when they are installed.
//
// One pass, per QoS and per contender: a subscriber and a publisher connection
// (MQTT 5, both in this process, both driven the contender's way), N messages
// of 64 bytes published to one topic with at most WINDOW sent and not yet
// received, until the subscriber has all N (and, for QoS 1/2, the publisher
// has every `published`). Throughput = N / wall time of the pass; CPU per
// message = this process's user + system CPU over the pass / N (mosquitto's
// CPU is its own process and not counted). Contenders alternate pass by pass.
//
// At QoS 1 and 2, two more contenders: the same Client publishing with a
// session store (MQTT 5 cleanStart false and a Session Expiry Interval, so the
// session is real; the subscriber has no store): "client+memory" (core's
// MemoryStore) and "client+file" (@sansmqtt/store-file's FileStore, durable:
// every save is written and fdatasync'ed before the bytes that depend on it go
// out; group commit: one save in flight, everything done meanwhile goes into
// the next). The FileStore gets a fresh directory per pass, removed after it.

import { mkdtemp, rm, statfs } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { MemoryStore, MqttConnection, type Event, type QoS, type SessionStore, type StoredSession } from "@sansmqtt/core";
import { ExternalLoop, LoopRunner } from "@sansmqtt/loop-external";
import { TcpTransport } from "@sansmqtt/transport-tcp";
import { Client as PahoStyleClient, MQTTv5 } from "@sansmqtt/client";
import { FileStore } from "@sansmqtt/store-file";
import mqtt from "mqtt";
import { C_CLIENTS_MISSING, cClientsPass, findCClients } from "./c-clients.js";

export const E2E_MESSAGES = 10_000;
const WINDOW = 500;
const PASS_TIMEOUT_MS = 30_000;
const payload = new Uint8Array(64).map((_, i) => i * 7);

/** One client: its commands and a way to end it. Events go to the callback given at creation. */
interface Client {
  publish(topic: string, qos: QoS): void;
  subscribe(topic: string): void;
  end(): Promise<void>;
  /** With a session store: its counters so far (cumulative; the pass takes the difference over its timed part). */
  storeCounters?(): StoreCounters;
}
/** What a pass counts: the engine's events, or the same facts from another client's callbacks. */
type Seen = Event | { type: "message" } | { type: "subscribed" } | { type: "published"; reasonCode: number };
type Connect = (id: string, onEvent: (e: Seen) => void) => Promise<Client>;

const now = (): number => performance.now();

/** The bare engine over node:net: drive after every input, write each chunk, one keep-alive timer. */
const bare =
  (host: string, port: number): Connect =>
  (id, onEvent) =>
    new Promise((resolve, reject) => {
      const conn = new MqttConnection({ protocolVersion: 5, clientId: id, keepAlive: 60, maxInflight: 1000 });
      const socket = net.connect({ host, port, noDelay: true });
      let timer: ReturnType<typeof setTimeout> | undefined;
      let closed: (() => void) | undefined;
      let scheduled = false;
      // Commands coalesce into one drive per turn (as the loop contender's microtask pump does).
      const schedule = (): void => {
        if (scheduled) return;
        scheduled = true;
        queueMicrotask(drive);
      };
      const drive = (): void => {
        scheduled = false;
        for (let e = conn.pollEvent(now()); e !== undefined; e = conn.pollEvent(now())) {
          if (e.type === "connected") resolve(client);
          onEvent(e);
        }
        const chunks = conn.pollTransmit(now());
        if (chunks.length === 1) socket.write(chunks[0]!);
        else if (chunks.length > 1) {
          socket.cork();
          for (const c of chunks) socket.write(c);
          socket.uncork();
        }
        if (conn.wantsEvents()) drive();
        clearTimeout(timer);
        const at = conn.pollTimeout();
        if (at !== undefined) timer = setTimeout(() => (conn.handleTimeout(now()), drive()), Math.max(0, at - now()));
      };
      const client: Client = {
        publish: (topic, qos) => (conn.publish(now(), { topic, payload, qos }), schedule()),
        subscribe: (topic) => (conn.subscribe(now(), { topicFilter: topic, qos: 2 }), schedule()),
        end: () =>
          new Promise<void>((done) => {
            closed = done;
            conn.disconnect(now());
            drive();
            socket.end();
          }),
      };
      socket.on("connect", () => (conn.connect(now()), drive()));
      socket.on("data", (chunk) => (conn.receiveData(now(), chunk), drive()));
      socket.on("error", reject);
      socket.on("close", () => {
        clearTimeout(timer);
        conn.connectionLost(now());
        closed?.();
      });
    });

/** The same engine through ExternalLoop and TcpTransport, run by loop-external's LoopRunner. */
const viaLoop =
  (host: string, port: number): Connect =>
  async (id, onEvent) => {
    let onClosed: (() => void) | undefined;
    let onConnected: ((c: Client) => void) | undefined;
    const loop: ExternalLoop = new ExternalLoop({
      engine: new MqttConnection({ protocolVersion: 5, clientId: id, keepAlive: 60, maxInflight: 1000 }),
      transport: () => new TcpTransport({ host, port }),
      onEvent: (e) => {
        if (e.type === "connected") onConnected?.(client);
        if (e.type === "closed") onClosed?.();
        onEvent(e);
      },
    });
    new LoopRunner(loop); // runs itself from the loop's hooks; it stops having work once the connection is closed
    const client: Client = {
      publish: (topic, qos) => void loop.publish({ topic, payload, qos }),
      subscribe: (topic) => void loop.subscribe({ topicFilter: topic, qos: 2 }),
      end: () =>
        new Promise<void>((done) => {
          onClosed = done;
          loop.disconnect();
        }),
    };
    const connected = new Promise<Client>((resolve) => (onConnected = resolve));
    await loop.connect();
    return connected;
  };

/** What a pass counts of a session store (cumulative). */
export interface StoreCounters {
  /** Saves the client made (store.save calls: one in flight at a time, group commit). */
  saves: number;
  /** Milliseconds from each save's call to its promise resolving, summed. */
  saveMs: number;
  /** FileStore only (0 for MemoryStore): its stats() and the fsyncs seen by onSync. */
  writes: number;
  records: number;
  fullRecords: number;
  /** fsyncs of the log (one per write) and of the directory (a new log: the first save, compaction). */
  fileSyncs: number;
  dirSyncs: number;
  /** Bytes written to the log (every record, full or delta), from stats() after each save. */
  bytes: number;
  /** The log's size now. */
  logBytes: number;
}

const noCounters = (): StoreCounters => ({
  saves: 0,
  saveMs: 0,
  writes: 0,
  records: 0,
  fullRecords: 0,
  fileSyncs: 0,
  dirSyncs: 0,
  bytes: 0,
  logBytes: 0,
});

/** The store the Client gets: the real one, counting its saves (one promise and two clock reads per save). */
class CountingStore implements SessionStore {
  readonly counters = noCounters();
  constructor(
    private readonly inner: SessionStore,
    private readonly file: FileStore | undefined,
  ) {}
  load(): Promise<StoredSession | undefined> {
    return this.inner.load();
  }
  async save(stored: StoredSession): Promise<void> {
    const t = performance.now();
    await this.inner.save(stored);
    const k = this.counters;
    k.saveMs += performance.now() - t;
    k.saves++;
    if (this.file !== undefined) {
      const s = this.file.stats();
      // A full record starts a new log: its size is what was written; a delta grew the log.
      k.bytes += s.fullRecords > k.fullRecords ? s.logBytes : s.logBytes - k.logBytes;
      k.writes = s.writes;
      k.records = s.records;
      k.fullRecords = s.fullRecords;
      k.logBytes = s.logBytes;
    }
  }
  clear(): Promise<void> {
    return this.inner.clear();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export type StoreKind = "memory" | "file";

/** Where the FileStores of the passes go (a fresh directory per pass under it). */
export interface StoreSetup {
  dir: string;
}

/** The Paho-style Client: loopStart on Node's event loop, VERSION2 callbacks, a MQTTMessageInfo per publish. */
const viaClient =
  (host: string, port: number, storeKind?: StoreKind, setup?: StoreSetup): Connect =>
  async (id, onEvent) => {
    let store: CountingStore | undefined;
    let tmp: string | undefined;
    if (storeKind === "memory") store = new CountingStore(new MemoryStore(), undefined);
    else if (storeKind === "file") {
      tmp = await mkdtemp(join(setup!.dir, "sansmqtt-bench-store-"));
      // durable: true (the default): a real fdatasync per write.
      const file = new FileStore(tmp, id, {
        durable: true,
        onSync: (what) => (what === "file" ? store!.counters.fileSyncs++ : store!.counters.dirSyncs++),
      });
      store = new CountingStore(file, file);
    }
    const c = new PahoStyleClient({ clientId: id, protocol: MQTTv5, ...(store !== undefined ? { store } : {}) });
    c.maxInflightMessagesSet(1000);
    let onClosed: (() => void) | undefined;
    const connected = new Promise<void>((resolve, reject) => {
      c.onConnect = (_c, _u, _f, rc) => (rc.isFailure ? reject(new Error(`client: CONNACK ${rc.getName()}`)) : resolve());
    });
    // The pass counts events; the callbacks carry what the engine's events would.
    c.onSubscribe = () => onEvent({ type: "subscribed" });
    c.onMessage = () => onEvent({ type: "message" });
    c.onPublish = (_c, _u, _mid, rc) => onEvent({ type: "published", reasonCode: rc.value });
    c.onDisconnect = () => onClosed?.();
    if (store !== undefined) {
      // publish() throws before the stored session is loaded (connect() would load it too).
      await c.loadSession();
      // A session that outlives the connection: what a store is for.
      await c.connect(host, port, 60, { cleanStart: false, properties: { sessionExpiryInterval: 60 } });
    } else {
      await c.connect(host, port, 60);
    }
    c.loopStart();
    await connected;
    return {
      publish: (topic, qos) => void c.publish(topic, payload, qos),
      subscribe: (topic) => void c.subscribe(topic, 2),
      end: async () => {
        await new Promise<void>((done) => {
          onClosed = () => {
            void c.loopStop().then(() => done());
          };
          c.disconnect();
        });
        if (store !== undefined) {
          await c.saveSession();
          await store.close();
        }
        if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
      },
      ...(store !== undefined ? { storeCounters: () => ({ ...store.counters }) } : {}),
    };
  };

/** MQTT.js 5: its own client and loop, on Node's event loop. */
const viaMqttJs =
  (host: string, port: number): Connect =>
  async (id, onEvent) => {
    const c = await mqtt.connectAsync({ host, port, protocolVersion: 5, clientId: id, keepalive: 60, reconnectPeriod: 0 });
    c.on("message", () => onEvent({ type: "message" }));
    const body = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
    // MQTT.js does not keep to the broker's Receive Maximum (mosquitto's is 20): beyond it mosquitto answers
    // 0x97 Quota exceeded. An MQTT.js user has to hold messages back by hand, as this does.
    const connack = (c as unknown as { connackPacket?: { properties?: { receiveMaximum?: number } } }).connackPacket;
    const quota = connack?.properties?.receiveMaximum ?? 65_535;
    let unacked = 0;
    const waiting: [string, 0 | 1 | 2][] = [];
    const send = (topic: string, qos: 0 | 1 | 2): void => {
      if (qos > 0) unacked++;
      c.publish(topic, body, { qos }, (err) => {
        if (err) throw new Error(`MQTT.js publish failed: ${err.message}`);
        if (qos === 0) return;
        unacked--;
        onEvent({ type: "published", reasonCode: 0 });
        const next = waiting.shift();
        if (next !== undefined) send(...next);
      });
    };
    return {
      publish: (topic, qos) => {
        if (qos > 0 && unacked >= quota) waiting.push([topic, qos]);
        else send(topic, qos);
      },
      subscribe: (topic) => void c.subscribe(topic, { qos: 2 }, () => onEvent({ type: "subscribed" })),
      end: () => c.endAsync(),
    };
  };

export interface E2EPass {
  ms: number;
  cpuUs: number;
  /** With a session store: its counters over the timed part of the pass. */
  store?: StoreCounters;
}

/** One pass: N messages at `qos` from a fresh publisher (made by `connect`) to a fresh subscriber (by `subConnect`). */
async function pass(connect: Connect, qos: QoS, n: number, tag: string, subConnect: Connect = connect): Promise<E2EPass> {
  const topic = `sansmqtt/bench/${process.pid}/${tag}`;
  let received = 0;
  let published = 0;
  let sent = 0;
  let finish!: () => void;
  let fail!: (e: Error) => void;
  const done = new Promise<void>((resolve, reject) => ((finish = resolve), (fail = reject)));
  let subscribed!: () => void;
  const ready = new Promise<void>((r) => (subscribed = r));
  let pub: Client | undefined;
  const complete = (): boolean => received === n && (qos === 0 || published === n);
  const more = (): void => {
    while (pub !== undefined && sent < n && sent - received < WINDOW) {
      pub.publish(topic, qos);
      sent++;
    }
  };
  const sub = await subConnect(`bench-sub-${tag}`, (e) => {
    if (e.type === "subscribed") subscribed();
    if (e.type === "message") {
      received++;
      if (complete()) finish();
      else more();
    }
    if (e.type === "closed" && !complete()) fail(new Error(`subscriber closed: ${e.reason.kind}`));
  });
  sub.subscribe(topic);
  await ready;
  pub = await connect(`bench-pub-${tag}`, (e) => {
    if (e.type === "published") {
      if (e.reasonCode >= 0x80) fail(new Error(`${tag}: publish failed: 0x${e.reasonCode.toString(16)}`));
      published++;
      if (complete()) finish();
    }
    if (e.type === "closed" && !complete()) fail(new Error(`publisher closed: ${e.reason.kind}`));
  });
  const bound = setTimeout(() => fail(new Error(`pass not done in ${PASS_TIMEOUT_MS} ms: ${received}/${n} received`)), PASS_TIMEOUT_MS);
  const store0 = pub.storeCounters?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  more();
  try {
    await done;
  } catch (e) {
    // Still try to close both ends (and the publisher's store and its directory), for a while, then report the failure.
    let giveUp: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([pub.end(), sub.end()]),
      new Promise<void>((r) => (giveUp = setTimeout(r, 5_000))),
    ]);
    clearTimeout(giveUp);
    throw e;
  } finally {
    clearTimeout(bound);
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const store1 = pub.storeCounters?.();
  await Promise.all([pub.end(), sub.end()]);
  const result: E2EPass = { ms, cpuUs: cpu.user + cpu.system };
  if (store0 !== undefined && store1 !== undefined) {
    const d = noCounters();
    for (const k of Object.keys(d) as (keyof StoreCounters)[]) d[k] = store1[k] - store0[k];
    d.logBytes = store1.logBytes;
    result.store = d;
  }
  return result;
}

/**
 * The contenders: the four of every QoS, the mosquitto C clients (when installed), then the Client with a
 * session store (QoS 1 and 2 only).
 */
export const CONTENDERS = ["bare", "loop", "client", "mqttjs", "c-clients", "client+memory", "client+file"] as const;
export type ContenderName = (typeof CONTENDERS)[number];
const STORE_CONTENDERS: readonly ContenderName[] = ["client+memory", "client+file"];

export interface E2ERow {
  qos: QoS;
  /** Per contender that ran at this QoS: msg/s and CPU µs per message, medians over the passes. */
  figures: Partial<Record<ContenderName, E2EFigures>>;
  /** Why "c-clients" did not run at this QoS, when it was meant to (not installed). */
  cClientsMissing?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface E2EFigures {
  /** Messages per pass. */
  n: number;
  msgPerSec: number;
  cpuUsPerMsg: number;
  spreadPct: number;
  /** With a session store: its counters per pass (timed part), each the median over the passes. */
  store?: StoreCounters;
}

function summarize(passes: E2EPass[], n: number): E2EFigures {
  const rates = passes.map((p) => (n * 1000) / p.ms);
  const med = median(rates);
  const figures: E2EFigures = {
    n,
    msgPerSec: med,
    cpuUsPerMsg: median(passes.map((p) => p.cpuUs / n)),
    spreadPct: ((Math.max(...rates) - Math.min(...rates)) / med) * 100,
  };
  const stores = passes.map((p) => p.store).filter((x): x is StoreCounters => x !== undefined);
  if (stores.length > 0) {
    const m = noCounters();
    for (const k of Object.keys(m) as (keyof StoreCounters)[]) m[k] = median(stores.map((x) => x[k]));
    figures.store = m;
  }
  return figures;
}

export interface E2EOptions {
  /** Only the Client with and without a store, QoS 1 and 2 (BENCH_ONLY=e2e:store). */
  storeOnly: boolean;
  /** Where each client+file pass makes its store's directory (then removes it). */
  storeDir: string;
}

/** Messages per pass of the store contenders: the N of the other rows (a client+file pass takes 1-3 s here, well within PASS_TIMEOUT_MS). */
export const E2E_STORE_MESSAGES: number = E2E_MESSAGES;

/** The file system of `dir`, for the report: fsync on tmpfs costs nothing. */
export async function describeStoreDir(dir: string): Promise<{ dir: string; tmpfs: boolean; type: string }> {
  try {
    const s = await statfs(dir);
    const TMPFS_MAGIC = 0x01021994;
    const names: Record<number, string> = { 0xef53: "ext2/3/4", 0x58465342: "xfs", 0x9123683e: "btrfs", [TMPFS_MAGIC]: "tmpfs", 0x794c7630: "overlayfs" };
    return { dir, tmpfs: s.type === TMPFS_MAGIC, type: names[s.type] ?? `0x${s.type.toString(16)}` };
  } catch {
    return { dir, tmpfs: false, type: "unknown" };
  }
}

/** Every QoS, the contenders taking turns pass by pass (the order rotating) after one warm-up pass each. */
export async function runE2E(host: string, port: number, rounds: number, log: (s: string) => void, options: E2EOptions): Promise<E2ERow[]> {
  const setup: StoreSetup = { dir: options.storeDir };
  // Missing C clients leave their row out (the report says why); the bench goes on.
  const cBins = options.storeOnly ? undefined : findCClients();
  const contenders: Record<Exclude<ContenderName, "c-clients">, Connect> = {
    bare: bare(host, port),
    loop: viaLoop(host, port),
    client: viaClient(host, port),
    mqttjs: viaMqttJs(host, port),
    "client+memory": viaClient(host, port, "memory", setup),
    "client+file": viaClient(host, port, "file", setup),
  };
  const messagesOf = (name: ContenderName): number => (STORE_CONTENDERS.includes(name) ? E2E_STORE_MESSAGES : E2E_MESSAGES);
  const onePass = (name: ContenderName, qos: QoS, tag: string): Promise<E2EPass> => {
    if (name === "c-clients") return cClientsPass(cBins!, host, port, qos, messagesOf(name), tag, PASS_TIMEOUT_MS);
    // The subscriber of a store contender's pass: the Client without a store.
    const subscriber = STORE_CONTENDERS.includes(name) ? contenders.client : contenders[name];
    return pass(contenders[name], qos, messagesOf(name), tag, subscriber);
  };
  const rows: E2ERow[] = [];
  for (const qos of options.storeOnly ? ([1, 2] as const) : ([0, 1, 2] as const)) {
    const names: ContenderName[] = CONTENDERS.filter(
      (c) =>
        (qos > 0 || !STORE_CONTENDERS.includes(c)) &&
        (!options.storeOnly || c === "client" || STORE_CONTENDERS.includes(c)) &&
        (c !== "c-clients" || cBins !== undefined),
    );
    const got: Partial<Record<ContenderName, E2EPass[]>> = {};
    for (let r = -1; r < rounds; r++) {
      // Rotate who goes first, so a slow moment of the machine does not always hit the same one.
      const k = ((r % names.length) + names.length) % names.length;
      const order = [...names.slice(k), ...names.slice(0, k)];
      for (const name of order) {
        const p = await onePass(name, qos, `${name.replace("+", "-")}-q${qos}-${r + 1}`);
        if (r >= 0) (got[name] ??= []).push(p);
      }
    }
    const row: E2ERow = { qos, figures: {} };
    for (const name of names) row.figures[name] = summarize(got[name]!, messagesOf(name));
    if (!options.storeOnly && cBins === undefined) {
      row.cClientsMissing = C_CLIENTS_MISSING;
      log(`  e2e QoS ${qos}: c-clients not measured: ${C_CLIENTS_MISSING}`);
    }
    log(
      `  e2e QoS ${qos}: ` +
        names
          .map((name) => {
            const f = row.figures[name]!;
            return `${name} ${Math.round(f.msgPerSec)} msg/s ${f.cpuUsPerMsg.toFixed(1)} µs`;
          })
          .join(", "),
    );
    for (const name of names) {
      const st = row.figures[name]!.store;
      if (st === undefined) continue;
      const n = messagesOf(name);
      log(
        `    ${name} QoS ${qos} per pass: ${st.saves} saves (${(n / st.saves).toFixed(1)} msg/save, ${(st.saveMs / st.saves).toFixed(2)} ms/save)` +
          (name === "client+file"
            ? `, ${st.writes} writes, ${st.fileSyncs}+${st.dirSyncs} fsyncs (${(n / (st.fileSyncs + st.dirSyncs)).toFixed(1)} msg/fsync), ` +
              `${st.records} records (${st.fullRecords} full), ${st.bytes} B written`
            : ""),
      );
    }
    rows.push(row);
  }
  return rows;
}
