// TcpTransport against the real mosquitto (TCP and unix socket listeners of
// scripts/with-broker.sh), through local SOCKS5 and HTTP CONNECT proxies, and
// against faults: every failure is a TransportError with a stable code, never a hang.
import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { TransportError, type ProtocolVersion, type TransportHandlers } from "@sansmqtt/core";
import {
  brokerEnv,
  brokerPort,
  EngineDriver,
  qosRoundTrip,
  startHttpConnectProxy,
  startSilentServer,
  startSocks5Proxy,
  uniqueClientId,
  type TestServer,
  recordTransport,
  trackServers,
  transportFailure,
} from "@sansmqtt/test-support";
import { TcpTransport, type TcpOptions } from "../src/index.js";

const VERSIONS: [string, ProtocolVersion][] = [["3.1.1", 4], ["5.0", 5]];
const broker = (): TcpOptions => ({ host: brokerEnv("MQTT_HOST"), port: brokerPort("MQTT_TCP_PORT") });

const server = trackServers();

const record = recordTransport;

const failure = transportFailure;

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("TcpTransport against mosquitto: QoS 0, 1 and 2 out and back, through the engine", () => {
  for (const [name, version] of VERSIONS) {
    it(`TCP, MQTT ${name}`, async () => {
      const t = new TcpTransport(broker());
      await qosRoundTrip(t, version, `tcp-v${version}`);
    });
    it(`unix domain socket (MQTT_UNIX_SOCKET), MQTT ${name}`, async () => {
      const t = new TcpTransport({ path: brokerEnv("MQTT_UNIX_SOCKET") });
      await qosRoundTrip(t, version, `unix-v${version}`);
    });
    it(`through a SOCKS5 proxy with username and password, MQTT ${name}`, async () => {
      const proxy = await server(startSocks5Proxy({ auth: { username: "u", password: "p" } }));
      const t = new TcpTransport({ ...broker(), proxy: { type: "socks5", host: "127.0.0.1", port: proxy.port, username: "u", password: "p" } });
      await qosRoundTrip(t, version, `socks5-v${version}`);
      expect(proxy.destinations).toEqual([`127.0.0.1:${brokerPort("MQTT_TCP_PORT")}`]);
    });
    it(`through an HTTP CONNECT proxy with Basic auth, MQTT ${name}`, async () => {
      const proxy = await server(startHttpConnectProxy({ auth: { username: "u", password: "p" } }));
      const t = new TcpTransport({ ...broker(), proxy: { type: "http", host: "127.0.0.1", port: proxy.port, username: "u", password: "p" } });
      await qosRoundTrip(t, version, `http-proxy-v${version}`);
      expect(proxy.destinations).toEqual([`127.0.0.1:${brokerPort("MQTT_TCP_PORT")}`]);
    });
  }
});

describe("TcpTransport options", () => {
  it("SOCKS5 resolves the host name at the proxy by default (remote DNS), here when remoteDns is false", async () => {
    const proxy = await server(startSocks5Proxy());
    const port = brokerPort("MQTT_TCP_PORT");
    for (const remoteDns of [undefined, false]) {
      const t = new TcpTransport({
        host: "localhost",
        port,
        family: 4,
        proxy: { type: "socks5", host: "127.0.0.1", port: proxy.port, ...(remoteDns === false ? { remoteDns } : {}) },
      });
      const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("rdns") });
      expect(await d.open()).toMatchObject({ type: "connected" });
      d.close();
      await d.transportClosed;
    }
    expect(proxy.destinations).toEqual([`localhost:${port}`, `127.0.0.1:${port}`]);
    expect(proxy.addressTypes).toEqual([3, 1]); // a domain name, then an IPv4 address
  });

  it("binds the local address and port (bind_address, bind_port) and exposes the net.Socket", async () => {
    const bindPort = await closedPort();
    const t = new TcpTransport({ ...broker(), bindAddress: "127.0.0.1", bindPort });
    expect(t.socket()).toBeUndefined();
    const d = new EngineDriver(t, { protocolVersion: 4, clientId: uniqueClientId("bind") });
    expect(await d.open()).toMatchObject({ type: "connected" });
    const s = t.socket()!;
    expect(s).toBeInstanceOf(net.Socket);
    expect(s.localAddress).toBe("127.0.0.1");
    expect(s.localPort).toBe(bindPort);
    d.close();
    expect(await d.transportClosed).toMatchObject({ code: "ERR_TRANSPORT_ABORTED" });
  });

  it("noDelay is passed to the socket (true by default, false when asked)", async () => {
    const seen: (boolean | undefined)[] = [];
    const orig = net.Socket.prototype.setNoDelay;
    net.Socket.prototype.setNoDelay = function (this: net.Socket, v?: boolean) {
      seen.push(v);
      return orig.call(this, v);
    };
    try {
      for (const noDelay of [undefined, false]) {
        const r = record();
        const t = new TcpTransport({ ...broker(), ...(noDelay === false ? { noDelay } : {}) });
        t.open(r.handlers);
        await new Promise<void>((res) => {
          const onOpen = r.handlers.onOpen;
          r.handlers.onOpen = () => (onOpen(), res());
        });
        t.close();
        expect(await r.closed).toBeUndefined();
      }
    } finally {
      net.Socket.prototype.setNoDelay = orig;
    }
    expect(seen).toEqual([true, false]);
  });

  it("rejects options that cannot work, at construction, with ERR_TRANSPORT_CONFIG", () => {
    expect(() => new TcpTransport({ path: "/x", proxy: { type: "http", host: "127.0.0.1", port: 8080 } })).toThrow(
      expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG" }),
    );
    expect(() => new TcpTransport({ port: 70000 })).toThrow(expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG" }));
  });

  it("refuses an option it does not know, naming it (a misspelt or renamed option never passes silently)", () => {
    const unknown = { port: 1883, connectTimeout: 5000 } as unknown as ConstructorParameters<typeof TcpTransport>[0];
    expect(() => new TcpTransport(unknown)).toThrow(expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG", message: expect.stringContaining('"connectTimeout"') }));
  });
});

describe("the Transport contract (TcpTransport)", () => {
  it("write before onOpen throws; open twice throws; chunks written together arrive in order; close() is clean", async () => {
    const got: Buffer[] = [];
    const echo = net.createServer((s) => s.on("data", (d: Buffer) => got.push(d)));
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    try {
      const t = new TcpTransport({ host: "127.0.0.1", port: (echo.address() as net.AddressInfo).port });
      expect(t.state).toBe("idle");
      const r = record();
      const opened = new Promise<void>((res) => {
        const onOpen = r.handlers.onOpen;
        r.handlers.onOpen = () => (onOpen(), res());
      });
      t.open(r.handlers);
      expect(t.state).toBe("opening");
      expect(r.log).toEqual([]); // never called from inside open()
      expect(() => t.write([new Uint8Array([1])])).toThrow(/not open/);
      expect(() => t.open(r.handlers)).toThrow(/twice/);
      await opened;
      expect(t.state).toBe("open");
      expect(t.write([new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5])])).toBe(true);
      t.close();
      expect(t.state).toBe("closing");
      expect(t.write([new Uint8Array([9])])).toBe(true); // dropped after close()
      expect(await r.closed).toBeUndefined();
      expect(Buffer.concat(got)).toEqual(Buffer.from([1, 2, 3, 4, 5]));
      expect(r.log).toEqual(["open", "close:clean"]);
      t.close(); // again: nothing
    } finally {
      echo.close();
    }
  });

  it("write returns false when the peer does not read, and onDrain follows when it does", async () => {
    let peer!: net.Socket;
    const accepted = new Promise<void>((res) => {
      const s = net.createServer((sock) => {
        peer = sock;
        sock.pause();
        res();
      });
      s.listen(0, "127.0.0.1", () => (port = (s.address() as net.AddressInfo).port));
      server.add({ port: 0, accepted: 0, close: () => new Promise((r) => (peer?.destroy(), s.close(() => r()))) });
    });
    let port = 0;
    while (port === 0) await new Promise((r) => setTimeout(r, 5));
    const t = new TcpTransport({ host: "127.0.0.1", port });
    const r = record();
    const drained = new Promise<void>((res) => {
      const onDrain = r.handlers.onDrain;
      r.handlers.onDrain = () => (onDrain(), res());
    });
    const opened = new Promise<void>((res) => {
      const onOpen = r.handlers.onOpen;
      r.handlers.onOpen = () => (onOpen(), res());
    });
    t.open(r.handlers);
    await opened;
    await accepted;
    const block = new Uint8Array(1 << 20);
    let writes = 0;
    while (t.write([block])) if (++writes > 256) throw new Error("write never asked to wait");
    peer.resume();
    await drained;
    expect(r.log).toEqual(["open", "drain"]);
    t.close(new Error("enough"));
    const err = await r.closed;
    expect(err).toMatchObject({ code: "ERR_TRANSPORT_ABORTED", message: expect.stringContaining("enough") });
    expect((err!.cause as Error).message).toBe("enough");
  });

  it("close() while opening: onClose(undefined), never onOpen", async () => {
    const silent = await server(startSilentServer());
    const r = record();
    const t = new TcpTransport({ host: "127.0.0.1", port: silent.port, proxy: { type: "socks5", host: "127.0.0.1", port: silent.port } });
    t.open(r.handlers);
    t.close();
    expect(await r.closed).toBeUndefined();
    expect(r.log).toEqual(["close:clean"]);
  });

  it("the broker closing the connection is a clean onClose; data before it arrives as Uint8Array", async () => {
    const t = new TcpTransport(broker());
    const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("kick") });
    await d.open();
    // A second CONNECT is a protocol error: mosquitto closes the connection.
    t.write([new Uint8Array([0x10, 0x0d, 0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 2, 0, 30, 0, 0, 0])]);
    const err = await d.transportClosed;
    expect(err === undefined || err.code === "ERR_TRANSPORT_RESET").toBe(true);
    expect(d.events.at(-1)).toMatchObject({ type: "closed" });
  });
});

describe("TcpTransport faults: typed errors, not hangs", () => {
  it("connection refused: ERR_TRANSPORT_REFUSED", async () => {
    const err = await failure(new TcpTransport({ host: "127.0.0.1", port: await closedPort() }));
    expect(err.code).toBe("ERR_TRANSPORT_REFUSED");
    expect((err.cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("a unix socket path with nothing there: ERR_TRANSPORT_REFUSED", async () => {
    const err = await failure(new TcpTransport({ path: `${brokerEnv("MQTT_UNIX_SOCKET")}.missing` }));
    expect(err.code).toBe("ERR_TRANSPORT_REFUSED");
  });

  it("a connection reset after it opened: ERR_TRANSPORT_RESET", async () => {
    const rst = net.createServer((s) => setTimeout(() => s.resetAndDestroy(), 20));
    rst.listen(0, "127.0.0.1");
    await once(rst, "listening");
    server.add({ port: 0, accepted: 0, close: () => new Promise((r) => rst.close(() => r())) });
    const r = record();
    new TcpTransport({ host: "127.0.0.1", port: (rst.address() as net.AddressInfo).port }).open(r.handlers);
    const err = await r.closed;
    expect(r.log).toEqual(["open", "close:ERR_TRANSPORT_RESET"]);
    expect((err!.cause as NodeJS.ErrnoException).code).toBe("ECONNRESET");
  });

  it("DNS failure: ERR_TRANSPORT_DNS (lookup answers ENOTFOUND, as getaddrinfo does for an unknown name)", async () => {
    const lookup: net.LookupFunction = (hostname, _o, cb) => {
      const e = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname });
      setImmediate(() => cb(e, "", 4));
    };
    const err = await failure(new TcpTransport({ host: "no-such-broker.invalid", port: 1883, lookup }));
    expect(err.code).toBe("ERR_TRANSPORT_DNS");
    expect(err.message).toContain("no-such-broker.invalid");
  });

  it("a server that accepts TCP and never answers: the transport opens (TCP knows no better); the engine's CONNACK timeout ends it", async () => {
    const silent = await server(startSilentServer());
    const t = new TcpTransport({ host: "127.0.0.1", port: silent.port });
    const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("silent"), connectTimeoutMs: 300 });
    const started = Date.now();
    expect(await d.open()).toMatchObject({ type: "closed", reason: { kind: "timeout" } });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(d.transportOpened).toBe(true);
    // The loop closed it gracefully; the silent peer never closed its side, so
    // the driver's bound (1 000 ms) cut it off, before the transport's own
    // closeTimeoutMs (2 000 ms by default) would have.
    expect(await d.transportClosed).toMatchObject({ code: "ERR_TRANSPORT_ABORTED" });
  });

  for (const type of ["socks5", "http"] as const) {
    const name = type === "socks5" ? "SOCKS5" : "HTTP CONNECT";
    it(`${name} proxy that refuses: ERR_PROXY${type === "http" ? " with the HTTP status" : ""}`, async () => {
      const make = type === "socks5" ? startSocks5Proxy : startHttpConnectProxy;
      const proxy = await server(make({ mode: "refuse" }));
      const err = await failure(new TcpTransport({ ...broker(), proxy: { type, host: "127.0.0.1", port: proxy.port } }));
      expect(err.code).toBe("ERR_PROXY");
      expect(err.message).toMatch(type === "socks5" ? /SOCKS5 proxy .* did not connect us to 127\.0\.0\.1:\d+: Socks5 proxy rejected connection/ : /HTTP proxy .* refused to connect to 127\.0\.0\.1:\d+: HTTP 403 Forbidden/);
      if (type === "http") expect(err.status).toBe(403);
    });

    it(`${name} proxy with wrong credentials: ERR_PROXY_AUTH`, async () => {
      const make = type === "socks5" ? startSocks5Proxy : startHttpConnectProxy;
      const proxy = await server(make({ auth: { username: "u", password: "right" } }));
      const err = await failure(
        new TcpTransport({ ...broker(), proxy: { type, host: "127.0.0.1", port: proxy.port, username: "u", password: "wrong" } }),
      );
      expect(err.code).toBe("ERR_PROXY_AUTH");
      if (type === "http") expect(err.status).toBe(407);
    });

    it(`${name} proxy that accepts TCP and never answers: ERR_TRANSPORT_TIMEOUT after connectTimeoutMs`, async () => {
      const make = type === "socks5" ? startSocks5Proxy : startHttpConnectProxy;
      const proxy = await server(make({ mode: "silent" }));
      const started = Date.now();
      const err = await failure(new TcpTransport({ ...broker(), connectTimeoutMs: 200, proxy: { type, host: "127.0.0.1", port: proxy.port } }));
      expect(err.code).toBe("ERR_TRANSPORT_TIMEOUT");
      expect(err.message).toContain("within 200 ms");
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    });

    it(`${name} proxy not listening: ERR_PROXY naming the proxy`, async () => {
      const port = await closedPort();
      const err = await failure(new TcpTransport({ ...broker(), proxy: { type, host: "127.0.0.1", port } }));
      expect(err.code).toBe("ERR_PROXY");
      expect(err.message).toContain(`could not reach the ${name === "SOCKS5" ? "SOCKS5" : "HTTP"} proxy 127.0.0.1:${port}`);
    });
  }
});
