// CuttingProxy against servers started here on loopback (no broker needed).
import { once } from "node:events";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { CuttingProxy } from "../src/cutting-proxy.js";

/** What a server saw on one connection: its bytes, and how it ended. */
interface Seen {
  readonly bytes: Buffer;
  closed: Promise<{ error: string | undefined }>;
}

interface Target {
  port: number;
  seen: Seen[];
  /** Resolves with the n-th (0-based) connection's record once it is accepted. */
  connection(n: number): Promise<Seen>;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/**
 * A server for the proxy to forward to: records every byte it receives; `echo`
 * sends them back, `greeting` is written on accept, and `pause` reads nothing
 * until the test resumes the socket. Unless echoing, it answers a FIN with a
 * last byte: after a reset that write fails, so a reset reads as ECONNRESET even
 * when Node reports the reset as an end (libuv does when the reset comes right
 * behind data).
 */
async function startTarget(mode: { echo?: boolean; greeting?: Buffer; pause?: boolean } = {}): Promise<Target> {
  const seen: Seen[] = [];
  const sockets = new Set<net.Socket>();
  const waiters = new Map<number, (s: Seen) => void>();
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: mode.pause ?? false }, (socket) => {
    sockets.add(socket);
    const chunks: Buffer[] = [];
    const record: Seen = {
      get bytes() {
        return Buffer.concat(chunks);
      },
      closed: new Promise((resolve) => {
        let error: string | undefined;
        socket.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
        socket.on("close", () => (sockets.delete(socket), resolve({ error })));
      }),
    };
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      if (mode.echo) socket.write(d);
    });
    socket.on("end", () => (mode.echo ? socket.end() : socket.end("z")));
    if (mode.greeting) socket.write(mode.greeting);
    seen.push(record);
    waiters.get(seen.length - 1)?.(record);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    sockets,
    connection: (n) => (seen[n] ? Promise.resolve(seen[n]!) : new Promise((resolve) => waiters.set(n, resolve))),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A client through the proxy that keeps what it receives and how it ended. Like
 * the target, it answers a FIN with a byte if it has not ended its side.
 */
async function dial(port: number): Promise<{ socket: net.Socket; received: () => Buffer; closed: Promise<{ error: string | undefined }> }> {
  const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("end", () => (socket.writable ? socket.end("z") : undefined));
  let error: string | undefined;
  socket.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
  const closed = new Promise<{ error: string | undefined }>((resolve) => socket.on("close", () => resolve({ error })));
  await once(socket, "connect");
  return { socket, received: () => Buffer.concat(chunks), closed };
}

/** Waits until `cond` holds, polling each event-loop turn with a short backoff; bounded. */
/** A reset: the read or the farewell write fails (ECONNRESET, or EPIPE if the write came late). */
async function expectReset(closed: Promise<{ error: string | undefined }>): Promise<void> {
  expect((await closed).error).toMatch(/^(ECONNRESET|EPIPE)$/);
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; !cond(); delay = Math.min(delay * 2, 50)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  options: { seed?: number; cutAfterBytes?: [number, number]; cutting?: boolean },
  mode?: Parameters<typeof startTarget>[0],
): Promise<{ proxy: CuttingProxy; target: Target }> {
  const target = await startTarget(mode);
  cleanups.push(() => target.close());
  const proxy = new CuttingProxy({
    target: { host: "127.0.0.1", port: target.port },
    seed: options.seed ?? 1,
    cutAfterBytes: options.cutAfterBytes ?? [1, 1],
    ...(options.cutting === undefined ? {} : { cutting: options.cutting }),
  });
  cleanups.push(() => proxy.close());
  await proxy.listen();
  return { proxy, target };
}

describe("CuttingProxy", () => {
  it("passes bytes through unchanged both ways when not cutting, FIN included", async () => {
    const { proxy, target } = await setup({ cutting: false, cutAfterBytes: [1, 1] }, { echo: true });
    const client = await dial(proxy.port);
    const data = randomBytes(1 << 20);
    client.socket.end(data);
    expect(await client.closed).toEqual({ error: undefined });
    expect(client.received().equals(data)).toBe(true);
    expect((await target.connection(0)).bytes.equals(data)).toBe(true);
    expect(proxy.stats()).toEqual({ connections: 1, cuts: 0, bytesUp: data.length, bytesDown: data.length });
  });

  it("cuts upstream bytes at exactly the budget ([5,5] and [1,1]) with a reset", async () => {
    for (const budget of [5, 1]) {
      const { proxy, target } = await setup({ cutAfterBytes: [budget, budget] });
      const client = await dial(proxy.port);
      client.socket.write(Buffer.from("0123456789abcdefghij"));
      const seen = await target.connection(0);
      await expectReset(seen.closed); // a reset, not a FIN
      await expectReset(client.closed);
      expect(seen.bytes.toString()).toBe("0123456789".slice(0, budget));
      expect(proxy.stats()).toEqual({ connections: 1, cuts: 1, bytesUp: budget, bytesDown: 0 });
    }
  });

  it("cuts downstream bytes at exactly the budget", async () => {
    const { proxy } = await setup({ cutAfterBytes: [5, 5] }, { greeting: Buffer.from("hello, world") });
    const client = await dial(proxy.port);
    await expectReset(client.closed);
    expect(client.received().toString()).toBe("hello");
    expect(proxy.stats()).toMatchObject({ cuts: 1, bytesUp: 0, bytesDown: 5 });
  });

  it("counts both directions against one budget", async () => {
    // 4 bytes up, echoed: the 7-byte budget lets all 4 up and 3 of the echo down.
    const { proxy, target } = await setup({ cutAfterBytes: [7, 7] }, { echo: true });
    const client = await dial(proxy.port);
    client.socket.write("abcd");
    await expectReset(client.closed);
    expect(client.received().toString()).toBe("abc");
    expect((await target.connection(0)).bytes.toString()).toBe("abcd");
    expect(proxy.stats()).toEqual({ connections: 1, cuts: 1, bytesUp: 4, bytesDown: 3 });
  });

  it("replays the same cut points for the same seed, others for another seed", async () => {
    const cutPoints = async (seed: number): Promise<number[]> => {
      const { proxy, target } = await setup({ seed, cutAfterBytes: [1, 3000] });
      const points: number[] = [];
      for (let i = 0; i < 8; i++) {
        const client = await dial(proxy.port);
        client.socket.write(Buffer.alloc(4000, i));
        await client.closed;
        const seen = await target.connection(i);
        await seen.closed;
        points.push(seen.bytes.length);
      }
      expect(proxy.stats()).toMatchObject({ connections: 8, cuts: 8, bytesUp: points.reduce((a, b) => a + b) });
      return points;
    };
    const a = await cutPoints(42);
    const b = await cutPoints(42);
    const c = await cutPoints(43);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    for (const p of [...a, ...c]) expect(p >= 1 && p <= 3000).toBe(true);
    expect(new Set(a).size).toBeGreaterThan(1); // drawn, not constant
  });

  it("stops cutting while cutting is false, open connections included", async () => {
    const { proxy, target } = await setup({ cutAfterBytes: [3, 3], cutting: false }, { echo: true });
    const first = await dial(proxy.port);
    first.socket.write("0123456789");
    await until(() => first.received().length === 10, "the echo");
    proxy.cutting = true; // over budget already: the next byte either way cuts it, forwarding none
    first.socket.write("x");
    await expectReset(first.closed);
    expect((await target.connection(0)).bytes.toString()).toBe("0123456789");
    proxy.cutting = false;
    const second = await dial(proxy.port);
    second.socket.end("abcdefghij");
    expect(await second.closed).toEqual({ error: undefined });
    expect(second.received().toString()).toBe("abcdefghij");
    expect(proxy.stats()).toEqual({ connections: 2, cuts: 1, bytesUp: 20, bytesDown: 20 });
  });

  it("cutAll resets every open connection and keeps accepting", async () => {
    const { proxy, target } = await setup({ cutting: false }, { echo: true });
    const clients = [await dial(proxy.port), await dial(proxy.port)];
    for (const c of clients) c.socket.write("ping");
    await until(() => clients.every((c) => c.received().length === 4), "both echoes");
    expect(proxy.cutAll()).toBe(2);
    for (const c of clients) await expectReset(c.closed);
    for (const n of [0, 1]) await expectReset((await target.connection(n)).closed);
    expect(proxy.cutAll()).toBe(0);
    const later = await dial(proxy.port);
    later.socket.end("pong");
    await later.closed;
    expect(later.received().toString()).toBe("pong");
    expect(proxy.stats()).toEqual({ connections: 3, cuts: 2, bytesUp: 12, bytesDown: 12 });
  });

  it("close destroys open connections and stops listening", async () => {
    const { proxy, target } = await setup({ cutting: false }, { echo: true });
    const clients = [await dial(proxy.port), await dial(proxy.port)];
    for (const c of clients) c.socket.write("ping");
    await until(() => clients.every((c) => c.received().length === 4), "both echoes");
    await proxy.close();
    await Promise.all(clients.map((c) => c.closed));
    await Promise.all([0, 1].map(async (n) => (await target.connection(n)).closed));
    const refused = net.connect({ host: "127.0.0.1", port: proxy.port });
    const [err] = (await once(refused, "error")) as [NodeJS.ErrnoException];
    expect(err.code).toBe("ECONNREFUSED");
  });

  it("closes the client when the target refuses", async () => {
    const { proxy, target } = await setup({ cutting: false });
    await target.close();
    const client = await dial(proxy.port);
    await client.closed;
    expect(proxy.stats()).toEqual({ connections: 1, cuts: 0, bytesUp: 0, bytesDown: 0 });
  });

  it("applies back-pressure: a target that does not read stops the proxy reading", async () => {
    const { proxy, target } = await setup({ cutting: false }, { pause: true });
    const client = await dial(proxy.port);
    // Each 4-byte word holds its offset: a lost, doubled or reordered chunk shows.
    const data = Buffer.alloc(32 << 20);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i);
    client.socket.write(data);
    // Wait until the proxy stops forwarding: bytesUp holds still for 100 ms.
    let last = -1;
    let since = Date.now();
    await until(() => {
      const now = proxy.stats().bytesUp;
      if (now !== last) (last = now), (since = Date.now());
      return now > 0 && Date.now() - since >= 100;
    }, "the proxy to stall");
    // Kernel buffers on the way hold a few MB (about 4 here); without
    // back-pressure the proxy would have read all 32 MB into memory.
    expect(proxy.stats().bytesUp).toBeLessThan(16 << 20);
    const sink = target.sockets.values().next().value as net.Socket;
    sink.resume();
    client.socket.end();
    const seen = await target.connection(0);
    await until(() => proxy.stats().bytesUp === data.length, "all 32 MB forwarded", 10_000);
    await seen.closed;
    expect(seen.bytes.equals(data)).toBe(true);
  });
});
