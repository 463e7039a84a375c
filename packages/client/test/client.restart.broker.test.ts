// Reconnecting after the broker itself goes away: each test starts its own
// mosquitto on a free loopback port (no persistence, so the session is lost
// with it), stops it with SIGTERM and starts it again on the same port. The
// client, under loopStart with small backoff bounds, must come back, subscribe
// again in onConnect and receive; onDisconnect fires once per lost connection.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { MQTTv311, MQTTv5, type MQTTMessage, type ReasonCode } from "../src/index.js";
import { Clients, sleep, waitFor } from "./helpers.js";

const HOST = "127.0.0.1";
const clients = new Clients();

/** A mosquitto this test owns: started, stopped and started again on one port. */
class OwnBroker {
  private proc: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), "sansmqtt-restart-"));
  private readonly conf = join(this.dir, "mosquitto.conf");

  constructor(readonly port: number) {
    writeFileSync(
      this.conf,
      [
        // mosquitto started as root drops to the "mosquitto" user unless told otherwise.
        `user ${userInfo().username}`,
        "persistence false",
        `listener ${port} ${HOST}`,
        "allow_anonymous true",
        "",
      ].join("\n"),
    );
  }

  async start(): Promise<void> {
    const proc = spawn(process.env.MOSQUITTO ?? "mosquitto", ["-c", this.conf], {
      stdio: "ignore",
      env: { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin` },
    });
    this.proc = proc;
    let exited = false;
    proc.once("exit", () => (exited = true));
    await waitForAsync(`mosquitto listening on ${this.port}`, async () => {
      if (exited) throw new Error(`mosquitto exited at start (port ${this.port})`);
      return listening(this.port);
    }, 5_000);
  }

  /** SIGTERM, and waits for the process to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Whether something accepts TCP connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: HOST, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** A port free on loopback now (the kernel's choice, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr !== null ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** helpers.waitFor for an asynchronous check. */
async function waitForAsync(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

let broker: OwnBroker | undefined;
afterEach(async () => {
  await clients.cleanup();
  await broker?.dispose();
  broker = undefined;
});

describe.each([
  ["3.1.1", MQTTv311],
  ["5", MQTTv5],
] as const)("MQTT %s", (_name, protocol) => {
  it("the broker stops and starts again twice: the client reconnects, subscribes again in onConnect and receives; onDisconnect once per lost connection", async () => {
    const b = new OwnBroker(await freePort());
    broker = b;
    await b.start();

    const c = clients.make("restart", { protocol });
    c.reconnectDelaySet(0.1, 0.5);
    const topic = uniqueTopic("restart");
    const connects: boolean[] = [];
    const disconnects: ReasonCode[] = [];
    const got: MQTTMessage[] = [];
    let subacks = 0;
    let connectFails = 0;
    c.onConnect = (client, _u, flags, rc) => {
      if (rc.isFailure) return;
      connects.push(flags.sessionPresent);
      client.subscribe(topic, 1);
    };
    c.onSubscribe = () => subacks++;
    c.onDisconnect = (_c, _u, _f, rc) => disconnects.push(rc);
    c.onConnectFail = () => connectFails++;
    c.onMessage = (_c, _u, m) => got.push(m);
    await c.connect(HOST, b.port, 30);
    c.loopStart();
    await waitFor("the first SUBACK", () => subacks === 1);
    await c.publish(topic, "before", 1).waitForPublish(5_000);
    await waitFor("the first message", () => got.some((m) => m.text() === "before"));

    for (let round = 1; round <= 2; round++) {
      await b.stop();
      await waitFor(`onDisconnect ${round}`, () => disconnects.length === round);
      expect(c.isConnected()).toBe(false);
      // Published while the broker is down: queued, sent after the next CONNACK.
      const offline = c.publish(topic, `during outage ${round}`, 1);
      // Let at least one attempt fail against the closed port.
      await waitFor(`a failed attempt in round ${round}`, () => connectFails >= round, 5_000);
      await b.start();
      await waitFor(`onConnect ${round + 1}`, () => connects.length === round + 1, 5_000);
      // No persistence: the broker forgot the session, so onConnect had to subscribe again.
      expect(connects[round]).toBe(false);
      await waitFor(`SUBACK ${round + 1}`, () => subacks === round + 1);
      await offline.waitForPublish(5_000);
      await c.publish(topic, `after restart ${round}`, 1).waitForPublish(5_000);
      await waitFor(`the message after restart ${round}`, () => got.some((m) => m.text() === `after restart ${round}`));
      expect(disconnects).toHaveLength(round);
    }
    await sleep(100);
    expect(disconnects).toHaveLength(2);
    // SIGTERM closes the sockets without a DISCONNECT: a lost connection (0x80) each time.
    expect(disconnects.map((rc) => rc.value)).toEqual([0x80, 0x80]);
  });
});

describe("reconnect() called by the application under loopStart", () => {
  it("opens one new connection: the loop does not reconnect again behind it (onDisconnect once)", async () => {
    const b = new OwnBroker(await freePort());
    broker = b;
    await b.start();
    const c = clients.make("app-reconnect");
    c.reconnectDelaySet(0.1, 0.2);
    let connects = 0;
    let disconnects = 0;
    c.onConnect = () => connects++;
    c.onDisconnect = () => disconnects++;
    await c.connect(HOST, b.port, 30);
    c.loopStart();
    await waitFor("onConnect", () => connects === 1);
    await c.reconnect();
    await waitFor("the second onConnect", () => connects === 2);
    // Well past the backoff bounds: a reconnect by the loop itself would have come by now.
    await sleep(800);
    expect([connects, disconnects]).toEqual([2, 1]);
    expect(c.isConnected()).toBe(true);
  });

  it("during the loop's backoff wait: the application's attempt ends the wait, and the loop keeps it", async () => {
    const b = new OwnBroker(await freePort());
    broker = b;
    await b.start();
    const c = clients.make("app-reconnect-backoff");
    c.reconnectDelaySet(2, 2);
    let connects = 0;
    let disconnects = 0;
    let fails = 0;
    c.onConnect = () => connects++;
    c.onDisconnect = () => disconnects++;
    c.onConnectFail = () => fails++;
    await c.connect(HOST, b.port, 30);
    c.loopStart();
    await waitFor("onConnect", () => connects === 1);
    await b.stop();
    await waitFor("onDisconnect", () => disconnects === 1);
    await b.start();
    // The loop waits 2 s before its first attempt; the application does not.
    const t0 = performance.now();
    await c.reconnect();
    await waitFor("the second onConnect", () => connects === 2, 1_000);
    expect(performance.now() - t0).toBeLessThan(1_000);
    await sleep(2_500);
    expect([connects, disconnects, fails]).toEqual([2, 1, 0]);
  });
});
