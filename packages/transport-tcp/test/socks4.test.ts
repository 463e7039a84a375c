// TcpTransport through a SOCKS4 / SOCKS4a proxy (test-support's startSocks4Proxy)
// to the real mosquitto of scripts/with-broker.sh: the user id, who resolves the
// host name, and the failures, each a TransportError with a stable code.
import type { LookupAddress } from "node:dns";
import { once } from "node:events";
import net from "node:net";
import { describe, expect, it } from "vitest";
import type { ProtocolVersion } from "@sansmqtt/core";
import {
  brokerEnv,
  brokerPort,
  EngineDriver,
  qosRoundTrip,
  startSocks4Proxy,
  trackServers,
  transportFailure,
  uniqueClientId,
} from "@sansmqtt/test-support";
import { TcpTransport, type ProxyOptions, type TcpOptions } from "../src/index.js";

const VERSIONS: [string, ProtocolVersion][] = [["3.1.1", 4], ["5.0", 5]];
const broker = (): TcpOptions => ({ host: brokerEnv("MQTT_HOST"), port: brokerPort("MQTT_TCP_PORT") });
const server = trackServers();

/** Opens an engine over `t`: it must reach CONNACK (connected), then stops. */
async function connects(t: TcpTransport, label: string): Promise<void> {
  const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId(label) });
  try {
    expect(await d.open()).toMatchObject({ type: "connected" });
  } finally {
    d.close();
  }
  await d.transportClosed;
}

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("TcpTransport through a SOCKS4 proxy, against mosquitto", () => {
  for (const [name, version] of VERSIONS) {
    it(`SOCKS4 to the broker's IPv4 address: CONNECT/CONNACK and QoS 0, 1, 2 out and back, MQTT ${name}`, async () => {
      const proxy = await server(startSocks4Proxy());
      const t = new TcpTransport({ ...broker(), proxy: { type: "socks4", host: "127.0.0.1", port: proxy.port } });
      await qosRoundTrip(t, version, `socks4-v${version}`);
      expect(proxy.destinations).toEqual([`127.0.0.1:${brokerPort("MQTT_TCP_PORT")}`]);
      expect(proxy.addressTypes).toEqual([1]); // plain SOCKS4: an IPv4 address
      expect(proxy.userIds).toEqual([""]);
    });
  }

  it("SOCKS4a: the proxy resolves the host name by default (remoteDns); remoteDns false resolves it here, to IPv4", async () => {
    const proxy = await server(startSocks4Proxy());
    const port = brokerPort("MQTT_TCP_PORT");
    for (const remoteDns of [undefined, true, false]) {
      const p: ProxyOptions = { type: "socks4", host: "127.0.0.1", port: proxy.port, ...(remoteDns === undefined ? {} : { remoteDns }) };
      await connects(new TcpTransport({ host: "localhost", port, proxy: p }), "socks4a");
    }
    expect(proxy.destinations).toEqual([`localhost:${port}`, `localhost:${port}`, `127.0.0.1:${port}`]);
    expect(proxy.addressTypes).toEqual([3, 3, 1]); // 0.0.0.x + host name twice, then an IPv4 address
  });

  it("resolving here, the first IPv4 address is taken even when an IPv6 one comes first", async () => {
    const proxy = await server(startSocks4Proxy());
    const port = brokerPort("MQTT_TCP_PORT");
    const asked: unknown[] = [];
    const lookup = ((hostname: string, options: unknown, cb: (e: null, a: LookupAddress[]) => void) => {
      asked.push([hostname, options]);
      setImmediate(() => cb(null, [{ address: "::1", family: 6 }, { address: "127.0.0.1", family: 4 }]));
    }) as unknown as net.LookupFunction;
    await connects(
      new TcpTransport({ host: "broker.invalid", port, lookup, proxy: { type: "socks4", host: "127.0.0.1", port: proxy.port, remoteDns: false } }),
      "socks4-lookup",
    );
    expect(asked).toEqual([["broker.invalid", { family: 0, all: true }]]);
    expect(proxy.destinations).toEqual([`127.0.0.1:${port}`]);
  });

  it("the user id (username) arrives at the proxy", async () => {
    const proxy = await server(startSocks4Proxy({ userId: "mqtt-user" }));
    await connects(new TcpTransport({ ...broker(), proxy: { type: "socks4", host: "127.0.0.1", port: proxy.port, username: "mqtt-user" } }), "socks4-user");
    expect(proxy.userIds).toEqual(["mqtt-user"]);
  });

  it("SOCKS4a carries the user id too, before the host name", async () => {
    const proxy = await server(startSocks4Proxy({ userId: "u4a" }));
    const port = brokerPort("MQTT_TCP_PORT");
    await connects(new TcpTransport({ host: "localhost", port, proxy: { type: "socks4", host: "127.0.0.1", port: proxy.port, username: "u4a" } }), "socks4a-user");
    expect(proxy.userIds).toEqual(["u4a"]);
    expect(proxy.destinations).toEqual([`localhost:${port}`]);
  });
});

describe("SOCKS4 faults: typed errors, not hangs", () => {
  it("a refusal (reply 0x5B): ERR_PROXY with the reply code in the message", async () => {
    const proxy = await server(startSocks4Proxy({ mode: "refuse" }));
    const err = await transportFailure(new TcpTransport({ ...broker(), proxy: { type: "socks4", host: "127.0.0.1", port: proxy.port } }));
    expect(err.code).toBe("ERR_PROXY");
    expect(err.message).toMatch(/SOCKS4 proxy 127\.0\.0\.1:\d+ did not connect us to 127\.0\.0\.1:\d+: SOCKS4 reply 0x5B \(request rejected or failed\)/);
    expect(proxy.destinations).toHaveLength(1);
  });

  it("a user id the proxy does not accept (reply 0x5D): ERR_PROXY_AUTH", async () => {
    const proxy = await server(startSocks4Proxy({ userId: "right" }));
    const err = await transportFailure(
      new TcpTransport({ ...broker(), proxy: { type: "socks4", host: "127.0.0.1", port: proxy.port, username: "wrong" } }),
    );
    expect(err.code).toBe("ERR_PROXY_AUTH");
    expect(err.message).toContain("SOCKS4 reply 0x5D");
    expect(proxy.userIds).toEqual(["wrong"]);
  });

  it("a proxy that accepts TCP and never answers: ERR_TRANSPORT_TIMEOUT after connectTimeoutMs", async () => {
    const proxy = await server(startSocks4Proxy({ mode: "silent" }));
    const started = Date.now();
    const err = await transportFailure(
      new TcpTransport({ ...broker(), connectTimeoutMs: 200, proxy: { type: "socks4", host: "127.0.0.1", port: proxy.port } }),
    );
    expect(err.code).toBe("ERR_TRANSPORT_TIMEOUT");
    expect(err.message).toContain("through the socks4 proxy within 200 ms");
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(proxy.accepted).toBe(1);
  });

  it("a password is refused at construction (SOCKS4 has none), before any connection", async () => {
    const proxy = await server(startSocks4Proxy());
    const withPassword = { type: "socks4", host: "127.0.0.1", port: proxy.port, username: "u", password: "p" } as unknown as ProxyOptions;
    expect(() => new TcpTransport({ ...broker(), proxy: withPassword })).toThrow(
      expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG", message: expect.stringMatching(/SOCKS4 proxy takes no password.*socks5/) }),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.accepted).toBe(0);
  });

  it("an IPv6 broker address, a user id with NUL, family 6 without remote DNS: ERR_TRANSPORT_CONFIG at construction", () => {
    const p = { type: "socks4", host: "127.0.0.1", port: 1080 } as const;
    const config = (message: RegExp) => expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG", message: expect.stringMatching(message) });
    expect(() => new TcpTransport({ host: "::1", port: 1883, proxy: p })).toThrow(config(/IPv4 addresses only, not the IPv6 address ::1/));
    expect(() => new TcpTransport({ host: "::1", port: 1883, proxy: { ...p, remoteDns: false } })).toThrow(config(/IPv4 addresses only/));
    expect(() => new TcpTransport({ port: 1883, proxy: { ...p, username: "a\0b" } })).toThrow(config(/NUL/));
    expect(() => new TcpTransport({ port: 1883, family: 6, proxy: { ...p, remoteDns: false } })).toThrow(config(/family 6/));
    expect(() => new TcpTransport({ port: 1883, proxy: { ...p, type: "socks4a" } as unknown as ProxyOptions })).toThrow(config(/unknown proxy type socks4a/));
  });

  it("a host name with IPv6 addresses only, resolved here: ERR_PROXY saying SOCKS4 needs IPv4", async () => {
    const proxy = await server(startSocks4Proxy());
    const lookup = ((_h: string, _o: unknown, cb: (e: null, a: LookupAddress[]) => void) =>
      setImmediate(() => cb(null, [{ address: "::1", family: 6 }]))) as unknown as net.LookupFunction;
    const err = await transportFailure(
      new TcpTransport({ host: "v6only.invalid", port: 1883, lookup, proxy: { type: "socks4", host: "127.0.0.1", port: proxy.port, remoteDns: false } }),
    );
    expect(err.code).toBe("ERR_PROXY");
    expect(err.message).toMatch(/v6only\.invalid has no IPv4 address \(::1\) and SOCKS4 carries IPv4 only/);
    expect(proxy.destinations).toEqual([]); // nothing was asked of the proxy
  });

  it("a proxy not listening: ERR_PROXY naming the SOCKS4 proxy", async () => {
    const port = await closedPort();
    const err = await transportFailure(new TcpTransport({ ...broker(), proxy: { type: "socks4", host: "127.0.0.1", port } }));
    expect(err.code).toBe("ERR_PROXY");
    expect(err.message).toContain(`could not reach the SOCKS4 proxy 127.0.0.1:${port}`);
  });
});
