// Fault injection against durable sessions (issue: nothing lost, nothing
// delivered twice). Each scenario sends the numbered messages 0..9,999 (QoS 1
// for even numbers, QoS 2 for odd) from a publisher with a file store to a
// subscriber with a persistent session, through a mosquitto of the test's own
// (persistence on), while the faults of the scenario happen at random moments:
//   1. the publisher process is killed with SIGKILL and started again;
//   2. ... while the broker is also stopped and started again;
//   3. ... through a loopback proxy that cuts connections at random bytes;
//   4. the subscriber process (with its own file store) is killed and started again.
// Every QoS 1 message must arrive at least once, every QoS 2 message exactly
// once. Each scenario prints its counts. Loopback only; bounded in time.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@sansmqtt/client";
import { FileStore } from "@sansmqtt/store-file";
import { CuttingProxy, RestartableBroker, rng } from "@sansmqtt/test-support";
import { qosOf, Tally, type ChildConfig } from "../src/numbered.js";
import { bundleChildren, Child } from "./children.js";

const TOTAL = 10_000;
/** A scenario that has not finished in this time fails (it normally takes 5-20 s). */
const SCENARIO_MS = 120_000;

let programs: Awaited<ReturnType<typeof bundleChildren>>;
beforeAll(async () => {
  programs = await bundleChildren();
}, 60_000);
afterAll(() => programs?.remove());

interface Scenario {
  protocol: 4 | 5;
  publisherKills: number;
  brokerRestarts: number;
  proxy: boolean;
  subscriberKills: number;
  seed: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function run(name: string, sc: Scenario): Promise<void> {
  const started = Date.now();
  const random = rng(sc.seed); // the scenario's moments, from its seed (printed, so a run replays its schedule)
  const dir = mkdtempSync(join(tmpdir(), "sansmqtt-durable-"));
  const broker = await RestartableBroker.start({ persistence: true });
  const proxy = sc.proxy ? new CuttingProxy({ target: { host: broker.host, port: broker.port }, seed: sc.seed, cutAfterBytes: [500, 20_000], cutting: false }) : undefined;
  const port = proxy === undefined ? broker.port : await proxy.listen();
  const topic = `durable/${name}`;
  const config = (clientId: string): ChildConfig => ({ host: broker.host, port, dir, clientId, topic, total: TOTAL, protocol: sc.protocol });
  const session = sc.protocol === 5 ? {} : { cleanSession: false };
  const connectOptions = sc.protocol === 5 ? { cleanStart: false, properties: { sessionExpiryInterval: 3600 } } : {};
  let publisher: Child | undefined;
  let subscriber: Child | undefined;
  let inProcess: Client | undefined;
  const failures: string[] = [];
  let publisherRuns = 0;
  let subscriberRuns = 0;
  const counts = { publisherKills: 0, brokerRestarts: 0, subscriberKills: 0 };
  try {
    // ---- the subscriber: in this process, or a child with its own store (scenario 4) ----
    let tally = new Tally(TOTAL);
    let deliveries = 0;
    const startSubscriber = async (): Promise<void> => {
      subscriberRuns++;
      subscriber = new Child(programs.subscriber, config("durable-sub"));
      // "complete" when everything had arrived before the kill.
      await subscriber.line(["ready", "complete"], 30_000);
    };
    if (sc.subscriberKills > 0) {
      await startSubscriber();
    } else {
      const c = new Client({ clientId: "durable-sub", protocol: sc.protocol, ...session });
      inProcess = c;
      c.reconnectDelaySet(0.05, 0.5);
      c.onMessage = (_c, _u, m) => {
        deliveries++;
        tally.add(Number(m.text()));
      };
      let granted = false;
      c.onSubscribe = () => (granted = true);
      c.onConnect = (client, _u, flags, rc) => {
        if (!rc.isFailure && !flags.sessionPresent) client.subscribe(topic, 2);
      };
      await c.connect(broker.host, port, 5, connectOptions);
      c.loopStart();
      await waitFor("the subscription", () => granted, 10_000);
    }
    // ---- the publisher: a child with a file store ----
    const startPublisher = async (): Promise<void> => {
      publisherRuns++;
      publisher = new Child(programs.publisher, config("durable-pub"));
      await publisher.line("start", 30_000);
    };
    await startPublisher();
    if (proxy !== undefined) proxy.cutting = true;

    // ---- the faults, in a seeded order, at seeded moments ----
    const actions: Array<"publisher" | "broker" | "subscriber"> = [
      ...Array<"publisher">(sc.publisherKills).fill("publisher"),
      ...Array<"broker">(sc.brokerRestarts).fill("broker"),
      ...Array<"subscriber">(sc.subscriberKills).fill("subscriber"),
    ];
    for (let i = actions.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [actions[i], actions[j]] = [actions[j]!, actions[i]!];
    }
    // Each fault comes at a seeded point of the stream (a message count the
    // process it waits on has reported), not at a time: on any machine, at any
    // speed, it lands while there is work left.
    const points = actions.map(() => Math.floor(TOTAL * (0.1 + 0.8 * random()))).sort((a, b) => a - b);
    for (const [i, action] of actions.entries()) {
      const watched = action === "subscriber" ? subscriber! : publisher!;
      await watched.reach(points[i]!, 60_000);
      await sleep(random() * 50);
      if (action === "publisher") {
        await publisher!.kill();
        failures.push(...publisher!.lines.filter((l) => l.startsWith("failed")));
        counts.publisherKills++;
        await startPublisher();
      } else if (action === "broker") {
        await broker.kill("SIGTERM");
        await sleep(random() * 300);
        await broker.restart();
        counts.brokerRestarts++;
      } else {
        await subscriber!.kill();
        counts.subscriberKills++;
        await startSubscriber();
      }
    }
    const faultsDone = Date.now();
    // ---- no more faults but the proxy's: the publisher finishes through them ----
    await publisher!.line("done", SCENARIO_MS);
    // ---- then none: everything must arrive ----
    if (proxy !== undefined) proxy.cutting = false;
    failures.push(...publisher!.lines.filter((l) => l.startsWith("failed")));
    if (subscriber !== undefined) {
      const line = await subscriber.line("complete", 60_000).catch(async (e: unknown) => {
        await subscriber!.kill();
        throw e;
      });
      tally = Tally.decode(line.slice("complete ".length));
      // The child prints "complete" before it closes its store and exits; its lock is
      // its own until then. Wait for the exit (bounded: a child that hangs is killed,
      // and a dead owner's lock is taken over).
      const exited = await Promise.race([subscriber.exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!exited) await subscriber.kill();
      // What the child's store says is what the application durably recorded.
      const stored = new FileStore(dir, "durable-sub");
      const fromStore = Tally.decode((await stored.load())!.checkpoint!);
      await stored.close();
      expect(fromStore.encode()).toBe(tally.encode());
    } else {
      await waitFor("every message at the subscriber", () => tally.distinct === TOTAL, 60_000).catch(() => undefined);
      await sleep(200); // late duplicates, if any, would show here
    }
    const lost1 = tally.missing(1);
    const lost2 = tally.missing(2);
    const summary =
      `${name}: sent ${TOTAL} (QoS 1 ${TOTAL / 2}, QoS 2 ${TOTAL / 2}) by ${publisherRuns} publisher runs; ` +
      `received ${tally.distinct} distinct${subscriber === undefined ? ` in ${deliveries} deliveries` : ` (subscriber runs ${subscriberRuns})`}; ` +
      `lost QoS 1 ${lost1.length}, QoS 2 ${lost2.length}; duplicated QoS 1 ${tally.again[1]}, QoS 2 ${tally.again[2]}; ` +
      `faults: publisher SIGKILL ${counts.publisherKills}, broker restarts ${counts.brokerRestarts}, subscriber SIGKILL ${counts.subscriberKills}` +
      (proxy !== undefined ? `, proxy cuts ${proxy.stats().cuts} of ${proxy.stats().connections} connections` : "") +
      `; publish failures ${failures.length}; seed ${sc.seed}; faults over ${faultsDone - started} ms, all in ${Date.now() - started} ms`;
    console.log(summary);
    expect(failures, summary).toEqual([]);
    expect(lost1.slice(0, 10), summary).toEqual([]);
    expect(lost2.slice(0, 10), summary).toEqual([]);
    expect(tally.again[2], summary).toBe(0);
    expect(counts.publisherKills).toBe(sc.publisherKills);
    expect(counts.subscriberKills).toBe(sc.subscriberKills);
    expect(counts.brokerRestarts).toBe(sc.brokerRestarts);
    if (proxy !== undefined) expect(proxy.stats().cuts).toBeGreaterThanOrEqual(10);
  } finally {
    await publisher?.kill();
    await subscriber?.kill();
    if (inProcess !== undefined) {
      inProcess.disconnect();
      await inProcess.loopStop();
    }
    await proxy?.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const seed = Number(process.env.DURABILITY_SEED ?? Date.now() % 1_000_000);

describe("durable sessions under faults (10,000 numbered messages, QoS 1 and 2 interleaved)", () => {
  it("1. the publisher killed with SIGKILL at random moments (6 times): no QoS 1 or 2 loss, no QoS 2 duplicate", async () => {
    await run("publisher-killed", { protocol: 4, publisherKills: 6, brokerRestarts: 0, proxy: false, subscriberKills: 0, seed });
  }, SCENARIO_MS + 60_000);

  it("2. the publisher killed (5 times) while the broker is also stopped and restarted (3 times, persistence on)", async () => {
    await run("broker-restarted", { protocol: 4, publisherKills: 5, brokerRestarts: 3, proxy: false, subscriberKills: 0, seed: seed + 1 });
  }, SCENARIO_MS + 60_000);

  it("3. MQTT 5 through a proxy that cuts every connection after 500-20,000 bytes (mid-packet), with the publisher killed (5 times)", async () => {
    await run("connections-cut", { protocol: 5, publisherKills: 5, brokerRestarts: 0, proxy: true, subscriberKills: 0, seed: seed + 2 });
  }, SCENARIO_MS + 60_000);

  it("4. the subscriber killed with SIGKILL (6 times) and restarted with its file store: no QoS 2 message handled twice", async () => {
    await run("subscriber-killed", { protocol: 4, publisherKills: 0, brokerRestarts: 0, proxy: false, subscriberKills: 6, seed: seed + 3 });
  }, SCENARIO_MS + 60_000);
});
