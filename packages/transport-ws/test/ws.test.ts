// WsTransport against the real mosquitto (ws:// and wss:// listeners of
// scripts/with-broker.sh), in Node (the ws package) and through the standard
// WebSocket API entry; MQTT packets across and within frames against a scripted
// WebSocket server; and faults as typed errors.
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { encodePacket, PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import { TransportError, type ProtocolVersion, type TransportHandlers } from "@sansmqtt/core";
import {
  brokerEnv,
  brokerPort,
  EngineDriver,
  qosRoundTrip,
  startRefusingHttpServer,
  startSilentServer,
  text,
  uniqueClientId,
  type TestServer,
  recordTransport,
  trackServers,
  transportFailure,
} from "@sansmqtt/test-support";
import { WsTransport, type TlsSecurityOptions } from "../src/node.js";
import { WsTransport as StandardWsTransport, type StandardWebSocketConstructor } from "../src/index.js";

const VERSIONS: [string, ProtocolVersion][] = [["3.1.1", 4], ["5.0", 5]];
const wsUrl = (): string => `ws://${brokerEnv("MQTT_HOST")}:${brokerPort("MQTT_WS_PORT")}/mqtt`;
const wssUrl = (): string => `wss://${brokerEnv("MQTT_HOST")}:${brokerPort("MQTT_WSS_PORT")}/mqtt`;
const verifiedTls = (): TlsSecurityOptions => ({ caFile: brokerEnv("MQTT_CA_FILE"), servername: "localhost" });

const server = trackServers();

const record = recordTransport;

const failure = transportFailure;

/**
 * A scripted MQTT-over-WebSocket peer on loopback: agrees to "mqtt", decodes
 * what the client sends, and lets the test answer with raw frames.
 */
async function scriptedPeer(
  onPacket: (p: Packet, send: (frame: Uint8Array | string) => void, socket: WebSocket) => void,
  options: { protocol?: string | false } = {},
): Promise<TestServer & { frames: number[] }> {
  const frames: number[] = [];
  const wss = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (offered) => (options.protocol === undefined ? (offered.has("mqtt") ? "mqtt" : false) : options.protocol),
  });
  await once(wss, "listening");
  wss.on("connection", (socket) => {
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    socket.on("message", (data: Buffer, isBinary) => {
      frames.push(data.length);
      expect(isBinary).toBe(true);
      decoder.push(new Uint8Array(data));
      for (let p = decoder.next(); p !== undefined; p = decoder.next()) onPacket(p, (f) => socket.send(f), socket);
    });
  });
  const started = {
    port: (wss.address() as net.AddressInfo).port,
    accepted: 0,
    frames,
    close: () => new Promise<void>((r) => (wss.clients.forEach((c) => c.terminate()), wss.close(() => r()))),
  };
  server.add(started);
  return started;
}

const connack = (): Uint8Array => encodePacket({ type: "connack", sessionPresent: false, reasonCode: 0 }, 5);

describe("WsTransport (Node, ws package) against mosquitto: QoS 0, 1 and 2 out and back, through the engine", () => {
  for (const [name, version] of VERSIONS) {
    it(`ws://, MQTT ${name}`, async () => {
      const t = new WsTransport({ url: wsUrl() });
      await qosRoundTrip(t, version, `ws-v${version}`);
    });
    it(`wss:// with the CA and host name verified, MQTT ${name}`, async () => {
      const t = new WsTransport({ url: wssUrl(), tls: verifiedTls() });
      await qosRoundTrip(t, version, `wss-v${version}`);
    });
  }
});

describe("WsTransport (standard WebSocket API entry, ws's WHATWG interface standing in for the global) against mosquitto", () => {
  for (const [name, version] of VERSIONS) {
    it(`ws://, MQTT ${name}`, async () => {
      const t = new StandardWsTransport({ url: wsUrl(), WebSocket: WebSocket as unknown as StandardWebSocketConstructor });
      await qosRoundTrip(t, version, `ws-std-v${version}`);
    });
  }

  it("without a global WebSocket (Node 20) it says so: ERR_TRANSPORT_CONFIG", () => {
    const saved = (globalThis as { WebSocket?: unknown }).WebSocket;
    delete (globalThis as { WebSocket?: unknown }).WebSocket;
    try {
      expect(() => new StandardWsTransport({ url: wsUrl() })).toThrow(expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG" }));
    } finally {
      if (saved !== undefined) (globalThis as { WebSocket?: unknown }).WebSocket = saved;
    }
  });

  for (const entry of ["standard", "node"] as const) {
    it(`[MQTT-6.0.0-1] a text frame closes the connection with ERR_WS_TEXT_FRAME (${entry} entry)`, async () => {
      const peer = await scriptedPeer((p, send) => {
        if (p.type === "connect") send("not MQTT");
      });
      const url = `ws://127.0.0.1:${peer.port}/`;
      const t =
        entry === "node" ? new WsTransport({ url }) : new StandardWsTransport({ url, WebSocket: WebSocket as unknown as StandardWebSocketConstructor });
      const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("text") });
      void d.open();
      expect(await d.transportClosed).toMatchObject({ code: "ERR_WS_TEXT_FRAME" });
      expect(d.transportOpened).toBe(true);
    });
  }
});

describe("MQTT over WebSocket frames", () => {
  it("[MQTT-6.0.0-2] [MQTT-6.0.0-1] a packet split across frames, and several packets in one frame, both decode; client frames are binary", async () => {
    const peer = await scriptedPeer((p, send) => {
      if (p.type === "connect") {
        const bytes = connack();
        send(bytes.subarray(0, 1)); // CONNACK in three frames
        send(bytes.subarray(1, 3));
        send(bytes.subarray(3));
      }
      if (p.type === "subscribe") {
        const suback = encodePacket({ type: "suback", packetId: p.packetId, reasonCodes: [0] }, 5);
        const pub = (s: string): Uint8Array => encodePacket({ type: "publish", topic: "t", payload: text(s), qos: 0, retain: false, dup: false }, 5);
        const one = new Uint8Array([...suback, ...pub("a"), ...pub("b"), ...pub("c").subarray(0, 4)]);
        send(one); // SUBACK, two PUBLISHes and the start of a third in one frame
        send(pub("c").subarray(4)); // the rest of the third
      }
    });
    const t = new WsTransport({ url: `ws://127.0.0.1:${peer.port}/` });
    const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("frames") });
    expect(await d.open()).toMatchObject({ type: "connected" });
    d.run((c, n) => c.subscribe(n, { topicFilter: "t", qos: 0 }));
    await d.next((e) => e.type === "subscribed");
    await d.next(() => d.messages().length === 3);
    expect(d.messages()).toEqual(["a", "b", "c"]);
    d.close();
    expect(peer.frames.length).toBeGreaterThanOrEqual(2); // CONNECT and SUBSCRIBE, each binary
  });

  it("a server that does not agree to the mqtt subprotocol: ERR_WS_PROTOCOL", async () => {
    const peer = await scriptedPeer(() => undefined, { protocol: false });
    const err = await failure(new WsTransport({ url: `ws://127.0.0.1:${peer.port}/` }));
    expect(err.code).toBe("ERR_WS_PROTOCOL");
  });

  it("the server closing with an error code: ERR_WS_CLOSED with that code", async () => {
    const peer = await scriptedPeer((p, send, socket) => {
      if (p.type === "connect") {
        send(connack());
        socket.close(4001, "go away");
      }
    });
    const t = new WsTransport({ url: `ws://127.0.0.1:${peer.port}/` });
    const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("kick") });
    void d.open();
    const err = await d.transportClosed;
    expect(err).toMatchObject({ code: "ERR_WS_CLOSED", status: 4001 });
    expect(err!.message).toContain("go away");
  });

  it("write with several chunks sends one binary message; close() is a clean close handshake", async () => {
    const peer = await scriptedPeer(() => undefined);
    const t = new WsTransport({ url: `ws://127.0.0.1:${peer.port}/` });
    const r = record();
    t.open(r.handlers);
    await r.opened;
    expect(t.socket()).toBeInstanceOf(WebSocket);
    expect(t.write([new Uint8Array([0xc0]), new Uint8Array([0x00])])).toBe(true); // PINGREQ in two chunks
    t.close();
    expect(await r.closed).toBeUndefined();
    expect(peer.frames).toEqual([2]);
  });
});

describe("WsTransport flow control and abrupt ends (Node entry)", () => {
  it("write returns false while the peer does not read, then onDrain", async () => {
    let peerSocket: net.Socket | undefined;
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => "mqtt" });
    await once(wss, "listening");
    wss.on("connection", (_ws, req) => {
      peerSocket = req.socket;
      peerSocket.pause();
    });
    server.add({ port: 0, accepted: 0, close: () => new Promise<void>((r) => (wss.clients.forEach((c) => c.terminate()), wss.close(() => r()))) });
    const t = new WsTransport({ url: `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}/` });
    const r = record();
    let drained!: () => void;
    const drain = new Promise<void>((res) => (drained = res));
    const onDrain = r.handlers.onDrain;
    r.handlers.onDrain = () => (onDrain(), drained());
    t.open(r.handlers);
    await r.opened;
    while (peerSocket === undefined) await new Promise((res) => setTimeout(res, 5));
    const block = new Uint8Array(256 * 1024);
    let writes = 0;
    while (t.write([block])) if (++writes > 1024) throw new Error("write never asked to wait");
    expect(r.log).toEqual(["open"]);
    peerSocket.resume();
    await drain;
    expect(r.log).toEqual(["open", "drain"]);
    t.close(new Error("done"));
    expect(await r.closed).toMatchObject({ code: "ERR_TRANSPORT_ABORTED" });
  });

  it("a connection dropped without a close frame (1006): ERR_TRANSPORT_RESET", async () => {
    const peer = await scriptedPeer((p, send, socket) => {
      if (p.type === "connect") {
        send(connack());
        setTimeout(() => socket.terminate(), 20);
      }
    });
    const t = new WsTransport({ url: `ws://127.0.0.1:${peer.port}/` });
    const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("drop") });
    expect(await d.open()).toMatchObject({ type: "connected" });
    expect(await d.transportClosed).toMatchObject({ code: "ERR_TRANSPORT_RESET" });
  });
});

describe("WsTransport options (Paho's ws_set_options)", () => {
  it("[MQTT-6.0.0-3] path, extra headers (object or function, called on each open) and the mqtt subprotocol reach the server", async () => {
    const seen: { url: string | undefined; auth: string | undefined; proto: string | undefined }[] = [];
    const s = http.createServer();
    s.on("upgrade", (req, socket: net.Socket) => {
      seen.push({ url: req.url, auth: req.headers["authorization"], proto: req.headers["sec-websocket-protocol"] });
      socket.end("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
    });
    s.listen(0, "127.0.0.1");
    await once(s, "listening");
    server.add({ port: 0, accepted: 0, close: () => new Promise((r) => s.close(() => r())) });
    const port = (s.address() as net.AddressInfo).port;
    let n = 0;
    for (const headers of [{ authorization: "Bearer fixed" }, () => ({ authorization: `Bearer t${++n}` })]) {
      const err = await failure(new WsTransport({ url: `ws://127.0.0.1:${port}/custom/path?x=1`, headers }));
      expect(err).toMatchObject({ code: "ERR_WS_UPGRADE", status: 401 });
    }
    expect(seen).toEqual([
      { url: "/custom/path?x=1", auth: "Bearer fixed", proto: "mqtt" },
      { url: "/custom/path?x=1", auth: "Bearer t1", proto: "mqtt" },
    ]);
  });

  it("rejects options that cannot work, at construction: ERR_TRANSPORT_CONFIG", () => {
    const config = expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG" });
    expect(() => new WsTransport({ url: "http://127.0.0.1/" })).toThrow(config);
    expect(() => new WsTransport({ url: "not a url" })).toThrow(config);
    expect(() => new WsTransport({ url: wsUrl(), tls: { caFile: brokerEnv("MQTT_CA_FILE") } })).toThrow(config);
  });

  it("refuses an option it does not know, in either entry and inside `tls`, naming it", () => {
    const config = (name: string) => expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG", message: expect.stringContaining(`"${name}"`) });
    expect(() => new WsTransport({ url: wsUrl(), path: "/mqtt" } as unknown as ConstructorParameters<typeof WsTransport>[0])).toThrow(config("path"));
    expect(() => new WsTransport({ url: wsUrl(), tls: { caFiles: "x" } } as unknown as ConstructorParameters<typeof WsTransport>[0])).toThrow(config("caFiles"));
    const WebSocketStub = function () {} as unknown as StandardWebSocketConstructor;
    expect(() => new StandardWsTransport({ url: wsUrl(), WebSocket: WebSocketStub, headers: {} } as unknown as ConstructorParameters<typeof StandardWsTransport>[0])).toThrow(
      config("headers"),
    );
  });
});

describe("WsTransport faults: typed errors, not hangs", () => {
  for (const status of [404, 401]) {
    it(`upgrade refused with HTTP ${status}: ERR_WS_UPGRADE with status ${status}`, async () => {
      const srv = await server(startRefusingHttpServer(status));
      const err = await failure(new WsTransport({ url: `ws://127.0.0.1:${srv.port}/mqtt` }));
      expect(err).toMatchObject({ code: "ERR_WS_UPGRADE", status });
      expect(err.message).toContain(`HTTP ${status}`);
    });
  }

  it("upgrade refused, standard API entry: ERR_WS_UPGRADE (the API gives no status)", async () => {
    const srv = await server(startRefusingHttpServer(404));
    const err = await failure(new StandardWsTransport({ url: `ws://127.0.0.1:${srv.port}/mqtt`, WebSocket: WebSocket as unknown as StandardWebSocketConstructor }));
    expect(err.code).toBe("ERR_WS_UPGRADE");
  });

  it("connection refused: ERR_TRANSPORT_REFUSED", async () => {
    const s = net.createServer().listen(0, "127.0.0.1");
    await once(s, "listening");
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    expect((await failure(new WsTransport({ url: `ws://127.0.0.1:${port}/` }))).code).toBe("ERR_TRANSPORT_REFUSED");
  });

  it("a server that accepts TCP and never answers the upgrade: ERR_TRANSPORT_TIMEOUT", async () => {
    const silent = await server(startSilentServer());
    const started = Date.now();
    const err = await failure(new WsTransport({ url: `ws://127.0.0.1:${silent.port}/`, connectTimeoutMs: 300 }));
    expect(err.code).toBe("ERR_TRANSPORT_TIMEOUT");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("DNS failure: ERR_TRANSPORT_DNS (lookup answers ENOTFOUND)", async () => {
    const lookup: net.LookupFunction = (hostname, _o, cb) => {
      setImmediate(() => cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" }), "", 4));
    };
    const err = await failure(new WsTransport({ url: "ws://no-such-broker.invalid/", lookup }));
    expect(err.code).toBe("ERR_TRANSPORT_DNS");
  });

  it("wss:// refuses an unknown CA (ERR_TLS_UNKNOWN_CA) and a wrong host name (ERR_TLS_HOSTNAME); insecure connects", async () => {
    expect((await failure(new WsTransport({ url: wssUrl(), tls: { servername: "localhost" } }))).code).toBe("ERR_TLS_UNKNOWN_CA");
    const wrong = await failure(new WsTransport({ url: wssUrl(), tls: { caFile: brokerEnv("MQTT_CA_FILE"), servername: "not-the-broker.example" } }));
    expect(wrong.code).toBe("ERR_TLS_HOSTNAME");
    const t = new WsTransport({ url: wssUrl(), tls: { servername: "localhost", insecure: { skipCertificateCheck: true } } });
    const d = new EngineDriver(t, { protocolVersion: 5, clientId: uniqueClientId("wss-insecure") });
    expect(await d.open()).toMatchObject({ type: "connected" });
    d.close();
    await d.transportClosed;
  });
});
