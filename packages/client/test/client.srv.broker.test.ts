// connectSrv (Paho's connect_srv) against a DNS server of the test's own on
// loopback (UDP, answering SRV queries), which points at the throwaway
// mosquitto: targets are tried in RFC 2782 order, a refused one is skipped.
import dgram from "node:dgram";
import dns from "node:dns";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, ClientError } from "../src/index.js";
import { srvOrder } from "../src/client.js";
import { HOST, TCP_PORT, waitFor } from "./helpers.js";

type Srv = { priority: number; weight: number; port: number; target: string };

/** The labels of a DNS name, encoded. */
function encodeName(name: string): Buffer {
  const parts = name.split(".").filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "ascii")]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** A DNS server that answers SRV queries from a table (NXDOMAIN for names it does not have). */
async function srvServer(table: Record<string, Srv[]>): Promise<{ address: string; queries: string[]; close(): void }> {
  const socket = dgram.createSocket("udp4");
  const queries: string[] = [];
  socket.on("message", (msg, from) => {
    // The question: the name's labels from byte 12, then type and class.
    let at = 12;
    const labels: string[] = [];
    while (msg[at]! !== 0) {
      labels.push(msg.subarray(at + 1, at + 1 + msg[at]!).toString("ascii"));
      at += msg[at]! + 1;
    }
    const question = msg.subarray(12, at + 5);
    const name = labels.join(".").toLowerCase();
    queries.push(name);
    const records = table[name];
    const answers = (records ?? []).map((r) => {
      const target = encodeName(r.target);
      const rdata = Buffer.alloc(6);
      rdata.writeUInt16BE(r.priority, 0);
      rdata.writeUInt16BE(r.weight, 2);
      rdata.writeUInt16BE(r.port, 4);
      const head = Buffer.alloc(12);
      head.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      head.writeUInt16BE(33, 2); // SRV
      head.writeUInt16BE(1, 4); // IN
      head.writeUInt32BE(60, 6);
      head.writeUInt16BE(rdata.length + target.length, 10);
      return Buffer.concat([head, rdata, target]);
    });
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // the query's id
    header.writeUInt16BE(records === undefined ? 0x8183 : 0x8180, 2); // response, RD+RA; rcode 3 (NXDOMAIN) or 0
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    socket.send(Buffer.concat([header, question, ...answers]), from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  return { address: `127.0.0.1:${socket.address().port}`, queries, close: () => socket.close() };
}

/** A port nothing listens on (a connection to it is refused). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let server: Awaited<ReturnType<typeof srvServer>>;
let previousServers: string[];
beforeAll(async () => {
  const refused = await closedPort();
  server = await srvServer({
    "_mqtt._tcp.sansmqtt.test": [
      { priority: 20, weight: 0, port: TCP_PORT(), target: HOST() },
      { priority: 10, weight: 5, port: refused, target: HOST() },
    ],
    "_mqtt._tcp.dead.test": [{ priority: 1, weight: 0, port: refused, target: HOST() }],
  });
  previousServers = dns.getServers();
  dns.setServers([server.address]);
  dns.promises.setServers([server.address]);
});
afterAll(() => {
  dns.setServers(previousServers);
  dns.promises.setServers(previousServers);
  server.close();
});

describe("connectSrv", () => {
  it("queries _mqtt._tcp.<domain>, skips the refused priority-10 target and connects to the priority-20 one", async () => {
    const c = new Client({ clientId: "srv-test" });
    let connected = false;
    c.onConnect = (_c, _u, _f, rc) => (connected = !rc.isFailure);
    try {
      expect(await c.connectSrv("sansmqtt.test", 30)).toBe(0);
      c.loopStart();
      await waitFor("onConnect", () => connected);
      expect(server.queries).toContain("_mqtt._tcp.sansmqtt.test");
      expect(c.port).toBe(TCP_PORT());
    } finally {
      c.disconnect();
      await c.loopStop();
    }
  });

  it("no records, or no target that opens: ERR_CLIENT_ARGUMENT (Paho's ValueError), with the failures as the cause", async () => {
    const c = new Client();
    await expect(c.connectSrv("nothing.test")).rejects.toMatchObject({ code: "ERR_CLIENT_ARGUMENT", message: expect.stringContaining("no SRV records for _mqtt._tcp.nothing.test") });
    const e = await c.connectSrv("dead.test").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClientError);
    expect((e as ClientError).message).toMatch(/No SRV hosts responded/);
    expect(((e as ClientError).cause as AggregateError).errors[0]).toMatchObject({ code: "ERR_TRANSPORT_REFUSED" });
  });

  it("RFC 2782 order: by priority; within one, weighted at random (a weight-9 target comes first in about 9 of 11 draws against a weight-1 one)", () => {
    const records = [
      { priority: 2, weight: 0, id: "late" },
      { priority: 1, weight: 1, id: "light" },
      { priority: 1, weight: 9, id: "heavy" },
    ];
    let heavyFirst = 0;
    for (let i = 0; i < 2_000; i++) {
      const order = srvOrder(records).map((r) => r.id);
      expect(order.at(-1)).toBe("late");
      if (order[0] === "heavy") heavyFirst++;
    }
    // RFC 2782 draws 0..total (11 values); the weight-1 target takes 0 and 1: 9/11 → 1,636 expected, σ ≈ 17.
    expect(heavyFirst).toBeGreaterThan(1_500);
    expect(heavyFirst).toBeLessThan(1_780);
  });
});
