// RestartableBroker: a mosquitto of the test's own, killed and restarted with its
// persistence db. Needs mosquitto, as every test run under scripts/with-broker.sh
// has; a missing one fails the test (RestartableBroker.start says how to get it).
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { RestartableBroker } from "../src/restartable-broker.js";

// MQTT 3.1.1 CONNECT by hand: protocol "MQTT" level 4, flags 0 (clean session
// 0: the broker keeps the session), keep alive 60, client id "p".
const CONNECT_P = Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 60, 0, 1, 0x70]);
const DISCONNECT = Buffer.from([0xe0, 0]);

/** CONNECT as "p" and read the CONNACK; resolves its session-present flag and return code. */
async function connectP(port: number): Promise<{ sessionPresent: boolean; returnCode: number; socket: net.Socket }> {
  const socket = net.connect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  socket.write(CONNECT_P);
  let got = Buffer.alloc(0);
  while (got.length < 4) {
    const [chunk] = (await once(socket, "data")) as [Buffer];
    got = Buffer.concat([got, chunk]);
  }
  expect([...got.subarray(0, 2)], "CONNACK fixed header").toEqual([0x20, 2]);
  return { sessionPresent: (got[2]! & 1) === 1, returnCode: got[3]!, socket };
}

/** DISCONNECT and wait for the broker to close the connection. */
async function disconnect(socket: net.Socket): Promise<void> {
  socket.end(DISCONNECT);
  if (!socket.closed) await once(socket, "close");
}

const brokers: RestartableBroker[] = [];
afterEach(async () => {
  for (const b of brokers.splice(0)) await b.stop();
});

async function start(options?: Parameters<typeof RestartableBroker.start>[0]): Promise<RestartableBroker> {
  const broker = await RestartableBroker.start(options);
  brokers.push(broker);
  return broker;
}

describe("RestartableBroker", () => {
  it("keeps a persistent session across kill(SIGTERM) and restart on the same port", { timeout: 15_000 }, async () => {
    const broker = await start({ persistence: true });
    const { port } = broker;
    expect(broker.host).toBe("127.0.0.1");
    expect(broker.pid).toBeTypeOf("number");

    const first = await connectP(port);
    expect(first).toMatchObject({ returnCode: 0, sessionPresent: false });
    await disconnect(first.socket);

    const oldPid = broker.pid;
    await broker.kill("SIGTERM");
    expect(broker.running).toBe(false);
    expect(fs.existsSync(path.join(broker.dir, "mosquitto.db")), "the db written at exit").toBe(true);

    // The broker closed the client's connection first: its port has a TIME_WAIT entry now.
    await broker.restart();
    expect(broker.port).toBe(port);
    expect(broker.pid).not.toBe(oldPid);

    const second = await connectP(port);
    expect(second, broker.logTail()).toMatchObject({ returnCode: 0, sessionPresent: true });
    await disconnect(second.socket);

    const dir = broker.dir;
    await broker.stop();
    expect(fs.existsSync(dir)).toBe(false);
    expect(broker.running).toBe(false);
    const refused = net.connect({ host: "127.0.0.1", port });
    const [err] = (await once(refused, "error")) as [NodeJS.ErrnoException];
    expect(err.code).toBe("ECONNREFUSED");
  });

  it("loses the session on SIGKILL when nothing was autosaved (autosaveInterval 0)", { timeout: 15_000 }, async () => {
    const broker = await start({ autosaveInterval: 0 });
    const first = await connectP(broker.port);
    expect(first.sessionPresent).toBe(false);
    await disconnect(first.socket);
    await broker.kill("SIGKILL");
    await broker.restart();
    const second = await connectP(broker.port);
    expect(second, broker.logTail()).toMatchObject({ returnCode: 0, sessionPresent: false });
    await disconnect(second.socket);
  });

  it("restart retries while the port is still taken", { timeout: 15_000 }, async () => {
    const broker = await start();
    await broker.kill();
    // Someone else holds the port for a moment: mosquitto exits with "Address already in use".
    const squatter = net.createServer();
    squatter.listen(broker.port, "127.0.0.1");
    await once(squatter, "listening");
    const released = new Promise<void>((resolve) => setTimeout(() => squatter.close(() => resolve()), 300));
    await broker.restart();
    await released;
    expect(broker.logTail(100)).toMatch(/address already in use/i);
    const c = await connectP(broker.port);
    expect(c.returnCode).toBe(0);
    await disconnect(c.socket);
  });

  it("rejects with mosquitto's own words when it cannot start", async () => {
    await expect(RestartableBroker.start({ extraConfig: ["no_such_option 1"] })).rejects.toThrow(/exited at start[\s\S]*no_such_option/);
  });

  it("says how to get mosquitto when the binary is missing", async () => {
    await expect(RestartableBroker.start({ mosquitto: "/nonexistent/mosquitto" })).rejects.toThrow(/mosquitto not found.*bootstrap/);
  });
});
