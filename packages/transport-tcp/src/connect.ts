// Opening a TCP (or unix socket) connection, directly or through a SOCKS4/4a,
// SOCKS5 or HTTP CONNECT proxy. No timer here: the transport's connect timeout cancels.
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

/**
 * SOCKS4, or SOCKS4a when the proxy resolves the broker's host name. Paho's
 * `proxy_set(proxy_type=socks.SOCKS4, ...)`. SOCKS4 has a user id and no
 * password: `username` is sent as the user id, and a `password` is refused
 * (ERR_TRANSPORT_CONFIG). It carries IPv4 addresses only: an IPv6 broker
 * address is refused, and a host name resolved here must have an IPv4 address.
 */
export interface Socks4ProxyOptions {
  readonly type: "socks4";
  readonly host: string;
  readonly port: number;
  /** The SOCKS4 user id (default empty). */
  readonly username?: string;
  /** Refused: SOCKS4 has no password (use a SOCKS5 proxy for username/password). Here so that passing one fails loudly. */
  readonly password?: never;
  /**
   * Let the proxy resolve the broker's host name: SOCKS4a (default true, as
   * Paho's `proxy_rdns`); false resolves it here, to an IPv4 address, and speaks
   * plain SOCKS4. A broker given as an IPv4 address is always plain SOCKS4.
   */
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

export type ProxyOptions = Socks5ProxyOptions | Socks4ProxyOptions | HttpProxyOptions;

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
  /**
   * Milliseconds a graceful `close()` waits for the peer to close its side
   * after ours (FIN, TLS close_notify) went out; then the socket is destroyed
   * and onClose reports it. Default 2 000; 0 waits forever.
   */
  readonly closeTimeoutMs?: number;
  /** Tunnel through a proxy (TCP and TLS; not with `path`). */
  readonly proxy?: ProxyOptions;
}

export const DEFAULT_CONNECT_TIMEOUT = 30_000;
export const DEFAULT_CLOSE_TIMEOUT = 2_000;
/** The longest delay setTimeout takes (longer ones fire at once). */
const MAX_TIMER_MS = 2_147_483_647;

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
  "closeTimeoutMs",
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
  if (o.closeTimeoutMs !== undefined && !(o.closeTimeoutMs >= 0 && o.closeTimeoutMs <= MAX_TIMER_MS)) {
    bad(`closeTimeoutMs ${o.closeTimeoutMs} is not a number of milliseconds from 0 to ${MAX_TIMER_MS}`);
  }
  const p = o.proxy;
  if (p !== undefined) {
    if (p.type !== "socks5" && p.type !== "socks4" && p.type !== "http") bad(`unknown proxy type ${String((p as { type: unknown }).type)}`);
    if (!(Number.isInteger(p.port) && p.port > 0 && p.port < 65536)) bad(`proxy port ${p.port} is not a TCP port`);
    if (p.type === "socks4") {
      if ((p as { password?: unknown }).password !== undefined) {
        bad("a SOCKS4 proxy takes no password: SOCKS4 has only a user id (username); use a socks5 proxy for username and password");
      }
      if (p.username?.includes("\0")) bad("a SOCKS4 user id (username) cannot contain a NUL character");
      const host = o.host ?? "localhost";
      if (net.isIPv6(host)) bad(`SOCKS4 carries IPv4 addresses only, not the IPv6 address ${host}; use a socks5 proxy`);
      if (p.remoteDns === false && o.family === 6) bad("SOCKS4 without remoteDns needs an IPv4 address: family 6 cannot work; use a socks5 proxy");
    }
  }
}

const PROXY_NAMES = { socks5: "SOCKS5", socks4: "SOCKS4", http: "HTTP" } as const;

/** SOCKS4's reply codes (CD) other than 0x5A, request granted. */
const SOCKS4_GRANTED = 0x5a;
const SOCKS4_REPLIES: Readonly<Record<number, string>> = {
  0x5b: "request rejected or failed",
  0x5c: "request rejected: the proxy cannot reach identd on this host",
  0x5d: "request rejected: the user id does not match identd's",
};

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

  const proxyName = `the ${PROXY_NAMES[proxy.type]} proxy ${authority(proxy.host, proxy.port)}`;
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

  // SOCKS4/4a and SOCKS5: our socket to the proxy, the `socks` package speaks the protocol on it.
  const socks4 = proxy.type === "socks4";
  dial({ host: proxy.host, port: proxy.port, ...local }, unreachable, (socket) => {
    const handshake = (destination: string): void => {
      // SOCKS4 replies VN CD DSTPORT DSTIP: keep CD, the reply code, for the error message.
      let head = Buffer.alloc(0);
      const peek = (chunk: Buffer): void => {
        if (head.length < 2) head = Buffer.concat([head, chunk.subarray(0, 2 - head.length)]);
      };
      if (socks4) {
        socket.on("data", peek);
        cleanups.push(() => socket.off("data", peek));
      }
      const failed = (e: unknown): void => {
        socket.off("data", peek);
        const m = messageOf(e);
        let error: TransportError;
        if (!socks4) {
          const code = /Authentication failed|no accepted authentication type/i.test(m) ? C.ProxyAuth : C.Proxy;
          error = new TransportError(code, `${proxyName} did not connect us to ${where}: ${m}`, { cause: e });
        } else if (head.length === 2 && head[1] !== SOCKS4_GRANTED && /rejected/i.test(m)) {
          const reply = head[1]!;
          // 0x5D: the user id did not match what identd says; the others are refusals.
          error = new TransportError(
            reply === 0x5d ? C.ProxyAuth : C.Proxy,
            `${proxyName} did not connect us to ${where}: SOCKS4 reply 0x${reply.toString(16).toUpperCase()} (${SOCKS4_REPLIES[reply] ?? "unknown reply code"})`,
            { cause: e },
          );
        } else error = new TransportError(C.Proxy, `${proxyName} did not connect us to ${where}: ${m}`, { cause: e });
        finish(error, socket);
      };
      let client: SocksClient;
      try {
        client = new SocksClient({
          proxy: {
            host: proxy.host,
            port: proxy.port,
            type: socks4 ? 4 : 5,
            ...(proxy.username !== undefined ? { userId: proxy.username } : {}),
            ...(proxy.type === "socks5" && proxy.password !== undefined ? { password: proxy.password } : {}),
          },
          command: "connect",
          destination: { host: destination, port },
          existing_socket: socket,
          // The transport's connect timeout governs; this only must not fire first.
          timeout: 2_147_483_647,
        });
      } catch (e) {
        return failed(e); // options the package refuses (a host name over 255 bytes)
      }
      client.on("error", (e: SocksClientError) => failed(e));
      client.on("established", (info) => {
        socket.off("data", peek);
        deliver(info.socket as net.Socket);
      });
      client.connect(socket);
    };
    if (net.isIP(host) !== 0 || proxy.remoteDns !== false) return handshake(host);
    // Resolved here. SOCKS4 takes an IPv4 address only: ask for every address, keep the first IPv4 one.
    const family = o.family ?? 0;
    const lookup = o.lookup ?? dnsLookup;
    lookup(host, socks4 ? { family, all: true } : { family }, (err, address) => {
      if (finished) return;
      if (err) return finish(netError(err, where), socket);
      if (!socks4) return handshake(typeof address === "string" ? address : String(address));
      const found = (Array.isArray(address) ? address.map((a) => a.address) : [String(address)]).filter((a) => a !== "");
      const v4 = found.find((a) => net.isIPv4(a));
      if (v4 !== undefined) return handshake(v4);
      finish(
        new TransportError(
          C.Proxy,
          `${proxyName} cannot reach ${where}: ${host} has no IPv4 address (${found.join(", ") || "none"}) and SOCKS4 carries IPv4 only; ` +
            "let the proxy resolve it (remoteDns, SOCKS4a) or use a socks5 proxy",
        ),
        socket,
      );
    });
  });
  return cancel;
}
