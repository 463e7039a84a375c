// TlsTransport against the real mosquitto (the TLS listeners of
// scripts/with-broker.sh: plain, client certificate required, expired
// certificate, wrong host name), through local proxies, against local node:tls
// servers (ALPN, SNI, versions, ciphers), and against faults.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
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
import { TlsTransport, type TlsOptions } from "../src/index.js";

const VERSIONS: [string, ProtocolVersion][] = [["3.1.1", 4], ["5.0", 5]];
const env = brokerEnv;
/** The broker's TLS listener on 127.0.0.1, verified as "localhost" with the run's CA file. */
const verified = (port = brokerPort("MQTT_TLS_PORT")): TlsOptions => ({
  host: env("MQTT_HOST"),
  port,
  servername: "localhost",
  caFile: env("MQTT_CA_FILE"),
});
const clientCert = (): TlsOptions => ({ certFile: env("MQTT_CLIENT_CERT"), keyFile: env("MQTT_CLIENT_KEY") });

const server = trackServers();

const record = recordTransport;

const failure = transportFailure;

/** Connects (CONNECT/CONNACK through the engine) and disconnects. */
async function connects(t: TlsTransport, check: () => void = () => undefined): Promise<void> {
  const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("tls") });
  try {
    expect(await d.open()).toMatchObject({ type: "connected" });
    check();
    d.run((c, n) => c.disconnect(n));
    expect(await d.transportClosed).toBeUndefined();
  } finally {
    d.close();
  }
}

type Seen = { servername?: string | false | null; alpn?: string | false | null; protocol?: string | null; cipher?: string };
/** A node:tls server with the broker's certificate; records what clients asked for. */
async function tlsServer(options: tls.TlsOptions): Promise<TestServer & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const s = tls.createServer({ cert: readFileSync(env("MQTT_SERVER_CERT")), key: readFileSync(env("MQTT_SERVER_KEY")), ...options }, (sock) => {
    seen.push({ servername: sock.servername, alpn: sock.alpnProtocol, protocol: sock.getProtocol(), cipher: sock.getCipher().name });
    sock.end();
  });
  const sockets = new Set<net.Socket>();
  s.on("connection", (c: net.Socket) => (sockets.add(c), c.on("close", () => sockets.delete(c))));
  s.on("tlsClientError", () => undefined);
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const started = {
    port: (s.address() as net.AddressInfo).port,
    accepted: 0,
    seen,
    close: () => new Promise<void>((r) => (sockets.forEach((c) => c.destroy()), s.close(() => r()))),
  };
  server.add(started);
  return started;
}

describe("TlsTransport against mosquitto: QoS 0, 1 and 2 out and back, through the engine", () => {
  for (const [name, version] of VERSIONS) {
    it(`verified TLS (CA file, host name localhost), MQTT ${name}`, async () => {
      const t = new TlsTransport(verified());
      await qosRoundTrip(t, version, `tls-v${version}`);
      expect(t.socket()!.authorized).toBe(true);
    });
    it(`client certificate on a listener that requires one (require_certificate true), MQTT ${name}`, async () => {
      const t = new TlsTransport({ ...verified(brokerPort("MQTT_TLS_CLIENT_CERT_PORT")), ...clientCert() });
      await qosRoundTrip(t, version, `mtls-v${version}`);
    });
    it(`through a SOCKS5 proxy, MQTT ${name}`, async () => {
      const proxy = await server(startSocks5Proxy());
      const t = new TlsTransport({ ...verified(), proxy: { type: "socks5", host: "127.0.0.1", port: proxy.port } });
      await qosRoundTrip(t, version, `tls-socks5-v${version}`);
      expect(proxy.destinations).toEqual([`127.0.0.1:${brokerPort("MQTT_TLS_PORT")}`]);
    });
    it(`through an HTTP CONNECT proxy, MQTT ${name}`, async () => {
      const proxy = await server(startHttpConnectProxy());
      const t = new TlsTransport({ ...verified(), proxy: { type: "http", host: "127.0.0.1", port: proxy.port } });
      await qosRoundTrip(t, version, `tls-http-proxy-v${version}`);
      expect(proxy.destinations).toEqual([`127.0.0.1:${brokerPort("MQTT_TLS_PORT")}`]);
    });
  }
});

describe("TlsTransport options (Paho's tls_set, tls_set_context, tls_insecure_set)", () => {
  it("an in-memory CA, and host name localhost verified through DNS (no servername option)", async () => {
    await connects(new TlsTransport({ host: "localhost", family: 4, port: brokerPort("MQTT_TLS_PORT"), ca: readFileSync(env("MQTT_CA_FILE"), "utf8") }));
  });

  it("a client key encrypted with a passphrase", async () => {
    await connects(
      new TlsTransport({
        ...verified(brokerPort("MQTT_TLS_CLIENT_CERT_PORT")),
        certFile: env("MQTT_CLIENT_CERT"),
        keyFile: env("MQTT_CLIENT_KEY_ENCRYPTED"),
        passphrase: env("MQTT_CLIENT_KEY_PASSPHRASE"),
      }),
    );
  });

  it("a wrong passphrase, a missing file, or secureContext mixed with ca: ERR_TRANSPORT_CONFIG at construction", () => {
    const config = expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG" });
    expect(
      () => new TlsTransport({ ...verified(), certFile: env("MQTT_CLIENT_CERT"), keyFile: env("MQTT_CLIENT_KEY_ENCRYPTED"), passphrase: "wrong" }),
    ).toThrow(config);
    expect(() => new TlsTransport({ ...verified(), caFile: "/nonexistent/ca.pem" })).toThrow(config);
    expect(() => new TlsTransport({ ...verified(), secureContext: tls.createSecureContext({}) })).toThrow(config);
    expect(() => new TlsTransport({ ...verified(), ciphers: "NO-SUCH-CIPHER" })).toThrow(config);
  });

  it("refuses an option it does not know, and a misspelt `insecure` switch, naming it: verification is never turned off by a typo, nor silently kept on", () => {
    const config = (name: string) => expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG", message: expect.stringContaining(`"${name}"`) });
    const cast = (o: object): ConstructorParameters<typeof TlsTransport>[0] => o as ConstructorParameters<typeof TlsTransport>[0];
    expect(() => new TlsTransport(cast({ ...verified(), ca_certs: "x" }))).toThrow(config("ca_certs"));
    expect(() => new TlsTransport(cast({ ...verified(), insecure: { skipHostCheck: true } }))).toThrow(config("skipHostCheck"));
  });

  it("a ready-made secure context (tls_set_context)", async () => {
    const secureContext = tls.createSecureContext({ ca: readFileSync(env("MQTT_CA_FILE")), minVersion: "TLSv1.3" });
    const t = new TlsTransport({ host: "127.0.0.1", port: brokerPort("MQTT_TLS_PORT"), servername: "localhost", secureContext });
    await connects(t, () => expect(t.socket()!.getProtocol()).toBe("TLSv1.3"));
  });

  it("SNI and ALPN reach the server; the negotiated protocol is on the socket", async () => {
    const srv = await tlsServer({ ALPNProtocols: ["mqtt"] });
    const t = new TlsTransport({ ...verified(srv.port), alpn: ["x-other", "mqtt"] });
    const r = record();
    t.open(r.handlers);
    await r.opened;
    expect(t.socket()!.alpnProtocol).toBe("mqtt");
    await r.closed;
    expect(srv.seen).toEqual([expect.objectContaining({ servername: "localhost", alpn: "mqtt" })]);
  });

  it("minimum TLS version: refused by a server that stops at TLS 1.2 (ERR_TLS_HANDSHAKE); ciphers are offered as set", async () => {
    const srv = await tlsServer({ maxVersion: "TLSv1.2" });
    const err = await failure(new TlsTransport({ ...verified(srv.port), minVersion: "TLSv1.3" }));
    expect(err.code).toBe("ERR_TLS_HANDSHAKE");
    const t = new TlsTransport({ ...verified(srv.port), maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256" });
    const r = record();
    t.open(r.handlers);
    await r.closed;
    expect(r.log[0]).toBe("open");
    expect(srv.seen.at(-1)).toMatchObject({ protocol: "TLSv1.2", cipher: "ECDHE-ECDSA-AES128-GCM-SHA256" });
  });
});

describe("TlsTransport verifies by default, and turns it off only when told", () => {
  it("an unknown CA is refused (ERR_TLS_UNKNOWN_CA); insecure.skipCertificateCheck connects", async () => {
    const plain: TlsOptions = { host: "127.0.0.1", port: brokerPort("MQTT_TLS_PORT"), servername: "localhost" };
    const err = await failure(new TlsTransport(plain));
    expect(err.code).toBe("ERR_TLS_UNKNOWN_CA");
    expect(err.message).toContain("trusted CA");
    await connects(new TlsTransport({ ...plain, insecure: { skipCertificateCheck: true } }));
  });

  it("a certificate for another host name is refused (ERR_TLS_HOSTNAME); insecure.skipHostnameCheck connects", async () => {
    const wrong = verified(brokerPort("MQTT_TLS_WRONG_HOST_PORT"));
    const err = await failure(new TlsTransport(wrong));
    expect(err.code).toBe("ERR_TLS_HOSTNAME");
    expect(err.message).toContain("wrong-host.example");
    await connects(new TlsTransport({ ...wrong, insecure: { skipHostnameCheck: true } }));
    // The right certificate asked for under another name is refused too.
    expect((await failure(new TlsTransport({ ...verified(), servername: "not-the-broker.example" }))).code).toBe("ERR_TLS_HOSTNAME");
  });

  it("an expired certificate is refused (ERR_TLS_CERT_EXPIRED); insecure.skipCertificateCheck connects", async () => {
    const expired = verified(brokerPort("MQTT_TLS_EXPIRED_PORT"));
    const err = await failure(new TlsTransport(expired));
    expect(err.code).toBe("ERR_TLS_CERT_EXPIRED");
    expect((err.cause as NodeJS.ErrnoException).code).toBe("CERT_HAS_EXPIRED");
    await connects(new TlsTransport({ ...expired, insecure: { skipCertificateCheck: true } }));
  });

  it("a listener that requires a client certificate refuses a client without one", async () => {
    // TLS 1.3: the server says so after our side of the handshake is done (alert 116),
    // so onOpen may come first; TLS 1.2: the handshake itself fails.
    const r = record();
    const t = new TlsTransport(verified(brokerPort("MQTT_TLS_CLIENT_CERT_PORT")));
    t.open(r.handlers);
    const err = await r.closed;
    expect(err?.code).toBe("ERR_TLS_CERT_REQUIRED");
    const r12 = record();
    new TlsTransport({ ...verified(brokerPort("MQTT_TLS_CLIENT_CERT_PORT")), maxVersion: "TLSv1.2" }).open(r12.handlers);
    const err12 = await r12.closed;
    expect(r12.log).toEqual([`close:${err12?.code}`]);
    expect(err12?.code).toBe("ERR_TLS_HANDSHAKE");
  });
});

describe("TlsTransport faults: typed errors, not hangs", () => {
  it("connection refused: ERR_TRANSPORT_REFUSED", async () => {
    const s = net.createServer().listen(0, "127.0.0.1");
    await once(s, "listening");
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    expect((await failure(new TlsTransport({ ...verified(), port }))).code).toBe("ERR_TRANSPORT_REFUSED");
  });

  it("a server that accepts TCP and never answers the handshake: ERR_TLS_HANDSHAKE_TIMEOUT", async () => {
    const silent = await server(startSilentServer());
    const started = Date.now();
    const err = await failure(new TlsTransport({ ...verified(silent.port), connectTimeoutMs: 300 }));
    expect(err.code).toBe("ERR_TLS_HANDSHAKE_TIMEOUT");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("a server that does not speak TLS (mosquitto's plain MQTT port): ERR_TLS_HANDSHAKE", async () => {
    const err = await failure(new TlsTransport({ ...verified(brokerPort("MQTT_TCP_PORT")), connectTimeoutMs: 5000 }));
    expect(err.code).toBe("ERR_TLS_HANDSHAKE");
  });

  it("a proxy that refuses: ERR_PROXY", async () => {
    const proxy = await server(startSocks5Proxy({ mode: "refuse" }));
    const err = await failure(new TlsTransport({ ...verified(), proxy: { type: "socks5", host: "127.0.0.1", port: proxy.port } }));
    expect(err.code).toBe("ERR_PROXY");
  });
});
