// Tiny servers the transport tests start on loopback: a SOCKS5 proxy, a SOCKS4/4a
// proxy, an HTTP CONNECT proxy (each with a mode that refuses and one that never answers), a
// TCP server that accepts and never answers, and an HTTP server that refuses
// WebSocket upgrades. Test code only; they forward to loopback destinations only.
import { once } from "node:events";
import http from "node:http";
import net from "node:net";

export interface TestServer {
  readonly port: number;
  /** How many connections it accepted. */
  readonly accepted: number;
  close(): Promise<void>;
}

function track(server: net.Server | http.Server): { sockets: Set<net.Socket>; count: () => number } {
  const sockets = new Set<net.Socket>();
  let n = 0;
  server.on("connection", (s: net.Socket) => {
    n++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => undefined);
  });
  return { sockets, count: () => n };
}

async function listen(server: net.Server | http.Server, extra: () => void = () => undefined): Promise<TestServer> {
  const t = track(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get accepted() {
      return t.count();
    },
    async close() {
      extra();
      for (const s of t.sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** Connects to a loopback destination and splices the two sockets together. */
function splice(client: net.Socket, host: string, port: number, onUp: () => void, onFail: () => void): void {
  if (!LOOPBACK.has(host)) return onFail();
  const upstream = net.connect({ host, port });
  upstream.once("connect", () => {
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    onUp();
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.once("error", onFail);
  client.on("close", () => upstream.destroy());
}

/** Accepts TCP connections and never sends a byte. */
export function startSilentServer(): Promise<TestServer> {
  return listen(net.createServer(() => undefined));
}

/** Answers every request, WebSocket upgrades included, with `status`. */
export function startRefusingHttpServer(status: number): Promise<TestServer> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, status === 401 ? { "www-authenticate": 'Basic realm="mqtt"' } : {});
    res.end(`refused with ${status}\n`);
  });
  server.on("upgrade", (_req, socket: net.Socket) => {
    const reason = http.STATUS_CODES[status] ?? "Refused";
    const auth = status === 401 ? 'WWW-Authenticate: Basic realm="mqtt"\r\n' : "";
    socket.end(`HTTP/1.1 ${status} ${reason}\r\n${auth}Content-Length: 0\r\nConnection: close\r\n\r\n`);
  });
  return listen(server);
}

export type ProxyMode = "forward" | "refuse" | "silent";

export interface ProxyServer extends TestServer {
  /** Destinations asked for, as the proxy saw them ("localhost:1883", "127.0.0.1:1883"). */
  readonly destinations: readonly string[];
  /**
   * For SOCKS5: the address type of each request (1 IPv4, 3 domain name, 4 IPv6).
   * For SOCKS4: 1 for an IPv4 address, 3 for a host name (the SOCKS4a form).
   */
  readonly addressTypes: readonly number[];
}

export interface ProxyServerOptions {
  readonly mode?: ProxyMode;
  /** Require these credentials (SOCKS5 username/password, HTTP Basic). */
  readonly auth?: { readonly username: string; readonly password: string };
}

/** Reads exactly `n` bytes at a time from a socket, in order. */
class Reader {
  private buf = Buffer.alloc(0);
  private want: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  constructor(private readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.settle();
    });
    socket.on("close", () => this.want?.reject(new Error("closed")));
  }
  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.want = { n, resolve, reject };
      this.settle();
    });
  }
  /** Bytes up to a NUL (not included), which is consumed; at most `max` before it. */
  async readString(max = 1024): Promise<string> {
    const bytes: number[] = [];
    for (;;) {
      const [b] = await this.read(1);
      if (b === 0) return Buffer.from(bytes).toString();
      if (bytes.push(b!) > max) throw new Error("string too long");
    }
  }
  /** Stops reading; returns what was read beyond the last `read`. */
  detach(): Buffer {
    this.socket.removeAllListeners("data");
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }
  private settle(): void {
    const w = this.want;
    if (w && this.buf.length >= w.n) {
      this.want = undefined;
      const out = this.buf.subarray(0, w.n);
      this.buf = this.buf.subarray(w.n);
      w.resolve(out);
    }
  }
}

/** A SOCKS5 server (RFC 1928 CONNECT, RFC 1929 username/password). */
export async function startSocks5Proxy(options: ProxyServerOptions = {}): Promise<ProxyServer> {
  const mode = options.mode ?? "forward";
  const destinations: string[] = [];
  const addressTypes: number[] = [];
  const server = net.createServer((socket) => {
    if (mode === "silent") return;
    const r = new Reader(socket);
    const reply = (code: number): boolean => socket.write(Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
    void (async () => {
      const [ver, nmethods] = await r.read(2);
      const methods = [...(await r.read(nmethods!))];
      if (ver !== 5) return socket.destroy();
      const want = options.auth ? 2 : 0;
      if (!methods.includes(want)) return socket.end(Buffer.from([5, 0xff]));
      socket.write(Buffer.from([5, want]));
      if (options.auth) {
        const [, ulen] = await r.read(2);
        const user = (await r.read(ulen!)).toString();
        const [plen] = await r.read(1);
        const pass = (await r.read(plen!)).toString();
        const ok = user === options.auth.username && pass === options.auth.password;
        socket.write(Buffer.from([1, ok ? 0 : 1]));
        if (!ok) return socket.end();
      }
      const [, cmd, , atyp] = await r.read(4);
      let host: string;
      if (atyp === 1) host = [...(await r.read(4))].join(".");
      else if (atyp === 3) host = (await r.read((await r.read(1))[0]!)).toString();
      else if (atyp === 4) host = formatV6(await r.read(16));
      else return socket.destroy();
      const port = (await r.read(2)).readUInt16BE(0);
      destinations.push(`${host}:${port}`);
      addressTypes.push(atyp);
      if (cmd !== 1) return reply(7), socket.end();
      if (mode === "refuse") return reply(2), socket.end(); // connection not allowed by ruleset
      const early = r.detach();
      splice(
        socket,
        host,
        port,
        () => {
          reply(0);
          if (early.length) socket.unshift(early);
        },
        () => (reply(5), socket.end()),
      );
    })().catch(() => socket.destroy());
  });
  const base = await listen(server);
  return Object.assign(base, { destinations, addressTypes }) as ProxyServer;
}

export interface Socks4ProxyServerOptions {
  /** "refuse" answers every request with 0x5B (rejected or failed); "silent" accepts TCP and never answers. */
  readonly mode?: ProxyMode;
  /** Require this user id: any other is answered 0x5D (user id mismatch). */
  readonly userId?: string;
}

export interface Socks4ProxyServer extends ProxyServer {
  /** The user id of each request, in order ("" when none was sent). */
  readonly userIds: readonly string[];
}

/**
 * A SOCKS4 server, with SOCKS4a (CONNECT only): a request whose address is
 * 0.0.0.x (x not 0) carries a host name after the user id, which the proxy
 * resolves. Records the destination, the user id and which form was used.
 */
export async function startSocks4Proxy(options: Socks4ProxyServerOptions = {}): Promise<Socks4ProxyServer> {
  const mode = options.mode ?? "forward";
  const destinations: string[] = [];
  const addressTypes: number[] = [];
  const userIds: string[] = [];
  const server = net.createServer((socket) => {
    if (mode === "silent") return;
    const r = new Reader(socket);
    // VN 0, CD, then DSTPORT and DSTIP, which CONNECT replies may leave zero.
    const reply = (code: number): boolean => socket.write(Buffer.from([0, code, 0, 0, 0, 0, 0, 0]));
    void (async () => {
      const [ver, cmd] = await r.read(2);
      if (ver !== 4) return socket.destroy();
      const port = (await r.read(2)).readUInt16BE(0);
      const ip = await r.read(4);
      const userId = await r.readString();
      const socks4a = ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0;
      const host = socks4a ? await r.readString(255) : [...ip].join(".");
      destinations.push(`${host}:${port}`);
      addressTypes.push(socks4a ? 3 : 1);
      userIds.push(userId);
      if (cmd !== 1) return reply(0x5b), socket.end();
      if (options.userId !== undefined && userId !== options.userId) return reply(0x5d), socket.end();
      if (mode === "refuse") return reply(0x5b), socket.end();
      const early = r.detach();
      splice(
        socket,
        host,
        port,
        () => {
          reply(0x5a);
          if (early.length) socket.unshift(early);
        },
        () => (reply(0x5b), socket.end()),
      );
    })().catch(() => socket.destroy());
  });
  const base = await listen(server);
  return Object.assign(base, { destinations, addressTypes, userIds }) as Socks4ProxyServer;
}

function formatV6(b: Buffer): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
  return parts.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

/** An HTTP proxy that tunnels CONNECT requests. */
export async function startHttpConnectProxy(options: ProxyServerOptions = {}): Promise<ProxyServer> {
  const mode = options.mode ?? "forward";
  const destinations: string[] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on("connect", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on("error", () => undefined);
    destinations.push(req.url ?? "");
    if (mode === "silent") return;
    if (options.auth) {
      const expected = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString("base64")}`;
      if (req.headers["proxy-authorization"] !== expected) {
        return socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      }
    }
    if (mode === "refuse") return socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(req.url ?? "");
    if (!m) return socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    splice(
      socket,
      m[1]!,
      Number(m[2]),
      () => {
        socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        if (head.length) socket.unshift(head);
      },
      () => socket.end("HTTP/1.1 502 Bad Gateway\r\n\r\n"),
    );
  });
  const base = await listen(server);
  return Object.assign(base, { destinations, addressTypes: [] }) as ProxyServer;
}
