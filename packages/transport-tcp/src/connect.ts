// Opening a TCP (or unix socket) connection, directly or through a SOCKS5 or
// HTTP CONNECT proxy. No timer here: the transport's connect timeout cancels.
import { lookup as dnsLookup } from "node:dns";
import { request } from "node:http";
import net from "node:net";
import { SocksClient, type SocksClientError } from "socks";
import { refuseUnknownOptions, TransportError, TransportErrorCode as C } from "@sansmqtt/core";
import { messageOf, netError } from "./errors.js";

/** SOCKS5 (RFC 1928), with optional username/password (RFC 1929). Paho's `proxy_set(proxy_type=socks.SOCKS5, ...)`. */
export interface Socks5ProxyOptions {
  readonly type: "socks5";
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  /** Let the proxy resolve the broker's host name (default true, as Paho's `proxy_rdns`); false resolves it here. */
  readonly remoteDns?: boolean;
}

/** An HTTP proxy that tunnels with CONNECT; username/password go in a Basic Proxy-Authorization header. */
export interface HttpProxyOptions {
  readonly type: "http";
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  /** Extra headers for the CONNECT request. */
  readonly headers?: Readonly<Record<string, string>>;
}

export type ProxyOptions = Socks5ProxyOptions | HttpProxyOptions;

/** Where and how to open the byte stream. */
export interface TcpOptions {
  /** The broker's host name or address (default "localhost"). */
  readonly host?: string;
  /** The broker's port (default 1883; the TLS transport defaults to 8883). */
  readonly port?: number;
  /** A unix domain socket path instead of host and port (Paho's `transport="unix"`). */
  readonly path?: string;
  /** Local address to bind before connecting (Paho's `bind_address`). */
  readonly bindAddress?: string;
  /** Local port to bind before connecting (Paho's `bind_port`). */
  readonly bindPort?: number;
  /** IP family for the host name lookup: 4, 6, or 0 for either (default 0). */
  readonly family?: 0 | 4 | 6;
  /** Host name lookup, as net.connect's `lookup` (default dns.lookup). */
  readonly lookup?: net.LookupFunction;
  /** TCP_NODELAY (default true: MQTT packets are small and latency matters). */
  readonly noDelay?: boolean;
  /**
   * Milliseconds from `open()` until the transport is open: TCP connect, proxy
   * tunnel, and (TLS, WebSocket) handshake. Default 30 000; 0 waits forever.
   */
  readonly connectTimeoutMs?: number;
  /** Tunnel through a proxy (TCP and TLS; not with `path`). */
  readonly proxy?: ProxyOptions;
}

export const DEFAULT_CONNECT_TIMEOUT = 30_000;

/** Every option of TcpOptions: anything else is refused. */
export const TCP_OPTION_NAMES: readonly string[] = [
  "host",
  "port",
  "path",
  "bindAddress",
  "bindPort",
  "family",
  "lookup",
  "noDelay",
  "connectTimeoutMs",
  "proxy",
];

/** "host:port", with brackets around an IPv6 address. */
export function authority(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The peer, for messages: "127.0.0.1:1883" or "unix socket /run/mqtt.sock". */
export function describeTarget(o: TcpOptions, defaultPort: number): string {
  return o.path !== undefined ? `unix socket ${o.path}` : authority(o.host ?? "localhost", o.port ?? defaultPort);
}

/** Options that cannot work, found before any socket opens; `known` lists the option names the caller's transport takes. */
export function checkTcpOptions(o: TcpOptions, known: readonly string[] = TCP_OPTION_NAMES, who = "TcpTransport"): void {
  const bad = (m: string): never => {
    throw new TransportError(C.Config, m);
  };
  refuseUnknownOptions(o, known, who);
  if (o.path !== undefined && o.proxy !== undefined) bad("a unix socket path cannot go through a proxy");
  if (o.port !== undefined && !(Number.isInteger(o.port) && o.port > 0 && o.port < 65536)) bad(`port ${o.port} is not a TCP port`);
  if (o.connectTimeoutMs !== undefined && !(o.connectTimeoutMs >= 0)) bad(`connectTimeoutMs ${o.connectTimeoutMs} is not a number of milliseconds`);
  const p = o.proxy;
  if (p !== undefined) {
    if (p.type !== "socks5" && p.type !== "http") bad(`unknown proxy type ${String((p as { type: unknown }).type)}`);
    if (!(Number.isInteger(p.port) && p.port > 0 && p.port < 65536)) bad(`proxy port ${p.port} is not a TCP port`);
  }
}

export type Connected = (error: TransportError | undefined, socket?: net.Socket) => void;

/**
 * Opens a connected socket to the broker (or a tunnel to it through the proxy)
 * and calls `done` once, unless the returned cancel function runs first. The
 * socket comes with no listeners of ours and TCP_NODELAY as asked.
 */
export function connectTcp(o: TcpOptions, defaultPort: number, done: Connected): () => void {
  const host = o.host ?? "localhost";
  const port = o.port ?? defaultPort;
  const noDelay = o.noDelay ?? true;
  let finished = false;
  const dialed: net.Socket[] = []; // every socket opened on the way, destroyed unless delivered
  const cleanups: (() => void)[] = [];
  const stop = (keep: net.Socket | undefined): void => {
    finished = true;
    for (const c of cleanups.splice(0)) c();
    for (const s of dialed) if (s !== keep) s.destroy();
  };
  const finish = (err: TransportError | undefined, socket?: net.Socket): void => {
    if (finished) return;
    stop(err ? undefined : socket);
    if (err) socket?.destroy();
    else socket?.setNoDelay(noDelay);
    done(err, socket);
  };
  const cancel = (): void => {
    if (!finished) stop(undefined);
  };
  const deliver = (socket: net.Socket): void => finish(undefined, socket);

  /** A plain socket to `target`; `onUp` when connected, errors through `describe`. */
  const dial = (target: net.NetConnectOpts, describe: (err: unknown) => TransportError, onUp: (s: net.Socket) => void): void => {
    const socket = net.connect(target);
    dialed.push(socket);
    const onError = (err: Error): void => finish(describe(err), socket);
    const onConnect = (): void => onUp(socket);
    socket.once("error", onError);
    socket.once("connect", onConnect);
    cleanups.push(() => {
      socket.off("error", onError);
      socket.off("connect", onConnect);
    });
  };
  const local = {
    ...(o.bindAddress !== undefined ? { localAddress: o.bindAddress } : {}),
    ...(o.bindPort !== undefined ? { localPort: o.bindPort } : {}),
    ...(o.family !== undefined ? { family: o.family } : {}),
  };

  if (o.path !== undefined) {
    const where = `unix socket ${o.path}`;
    dial({ path: o.path }, (e) => netError(e, where), deliver);
    return cancel;
  }
  const where = authority(host, port);
  const proxy = o.proxy;
  if (proxy === undefined) {
    dial({ host, port, ...local, ...(o.lookup ? { lookup: o.lookup } : {}) }, (e) => netError(e, where), deliver);
    return cancel;
  }

  const proxyName = `the ${proxy.type === "socks5" ? "SOCKS5" : "HTTP"} proxy ${authority(proxy.host, proxy.port)}`;
  const unreachable = (e: unknown): TransportError => {
    const inner = netError(e, proxyName);
    return new TransportError(C.Proxy, `could not reach ${proxyName}: ${inner.message}`, { cause: e });
  };

  if (proxy.type === "http") {
    const delivered = new WeakSet<object>();
    const headers: Record<string, string> = { host: where, ...proxy.headers };
    if (proxy.username !== undefined || proxy.password !== undefined) {
      const token = Buffer.from(`${proxy.username ?? ""}:${proxy.password ?? ""}`).toString("base64");
      headers["proxy-authorization"] = `Basic ${token}`;
    }
    const req = request({ host: proxy.host, port: proxy.port, method: "CONNECT", path: where, headers, agent: false, ...local });
    const refused = (status: number | undefined, message: string | undefined): TransportError =>
      new TransportError(
        status === 407 ? C.ProxyAuth : C.Proxy,
        `${proxyName} refused to connect to ${where}: HTTP ${status ?? "?"} ${message ?? ""}`.trimEnd(),
        status === undefined ? {} : { status },
      );
    req.once("connect", (res, socket, head) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        delivered.add(socket);
        deliver(socket);
      } else {
        socket.destroy();
        finish(refused(res.statusCode, res.statusMessage));
      }
    });
    req.once("response", (res) => {
      res.resume();
      finish(refused(res.statusCode, res.statusMessage));
    });
    req.on("error", (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      // Connected, then closed without an answer: the proxy hung up on us.
      if (code === "ECONNRESET" && req.socket?.bytesRead === 0 && req.socket.bytesWritten > 0) {
        finish(new TransportError(C.Proxy, `${proxyName} closed the connection without answering CONNECT`, { cause: e }));
      } else finish(unreachable(e));
    });
    let tunnel: net.Socket | undefined;
    req.once("socket", (s) => (tunnel = s));
    cleanups.push(() => {
      req.removeAllListeners("error");
      req.on("error", () => undefined);
      if (tunnel === undefined || !delivered.has(tunnel)) req.destroy();
    });
    req.end();
    return cancel;
  }

  // SOCKS5: our socket to the proxy, the `socks` package speaks the protocol on it.
  dial({ host: proxy.host, port: proxy.port, ...local }, unreachable, (socket) => {
    const handshake = (destination: string): void => {
      const client = new SocksClient({
        proxy: {
          host: proxy.host,
          port: proxy.port,
          type: 5,
          ...(proxy.username !== undefined ? { userId: proxy.username } : {}),
          ...(proxy.password !== undefined ? { password: proxy.password } : {}),
        },
        command: "connect",
        destination: { host: destination, port },
        existing_socket: socket,
        // The transport's connect timeout governs; this only must not fire first.
        timeout: 2_147_483_647,
      });
      client.on("error", (e: SocksClientError) => {
        const m = messageOf(e);
        const code = /Authentication failed|no accepted authentication type/i.test(m) ? C.ProxyAuth : C.Proxy;
        finish(new TransportError(code, `${proxyName} did not connect us to ${where}: ${m}`, { cause: e }), socket);
      });
      client.on("established", (info) => deliver(info.socket as net.Socket));
      client.connect(socket);
    };
    if (proxy.remoteDns === false && net.isIP(host) === 0) {
      (o.lookup ?? dnsLookup)(host, { family: o.family ?? 0 }, (err, address) => {
        if (finished) return;
        if (err) finish(netError(err, where), socket);
        else handshake(typeof address === "string" ? address : String(address));
      });
    } else handshake(host);
  });
  return cancel;
}
