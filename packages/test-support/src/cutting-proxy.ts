// A loopback TCP proxy for fault-injection tests: it forwards each connection to
// one target and cuts it after a random number of bytes, typically in the middle
// of an MQTT packet, with a TCP reset (no FIN), the way a dead NAT entry or a
// pulled cable looks to both ends. Seeded, so that a failing run replays.
import net from "node:net";
import { rng } from "./random.js";

export interface CuttingProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** Seeds the PRNG that draws each connection's byte budget. */
  readonly seed: number;
  /**
   * Each connection's budget is drawn uniformly from [min, max] (integers,
   * inclusive), counting the bytes of both directions together. When the budget
   * is reached, exactly that many bytes have been forwarded and both sockets are reset.
   */
  readonly cutAfterBytes: readonly [min: number, max: number];
  /** Initial value of `cutting` (default true). */
  readonly cutting?: boolean;
}

export interface CuttingProxyStats {
  /** Connections accepted. */
  readonly connections: number;
  /** Connections cut, by the budget or by `cutAll`. */
  readonly cuts: number;
  /** Bytes forwarded towards the target. */
  readonly bytesUp: number;
  /** Bytes forwarded towards the client. */
  readonly bytesDown: number;
}


interface Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  readonly budget: number;
  used: number;
  cut: boolean;
}

/** A reset where the platform has one (Node >= 18.3, TCP handles); a plain destroy otherwise. */
function reset(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    if (typeof socket.resetAndDestroy === "function" && !socket.pending) return void socket.resetAndDestroy();
  } catch {
    // resetAndDestroy throws on a handle that is not TCP: fall through
  }
  socket.destroy();
}

export class CuttingProxy {
  /** Off: connections pass through untouched (open ones included) until it is turned on again. */
  cutting: boolean;
  private readonly server: net.Server;
  private readonly links = new Set<Link>();
  private readonly sockets = new Set<net.Socket>();
  private readonly random: () => number;
  private readonly min: number;
  private readonly max: number;
  private counters = { connections: 0, cuts: 0, bytesUp: 0, bytesDown: 0 };
  private listeningPort: number | undefined;

  constructor(private readonly options: CuttingProxyOptions) {
    const [min, max] = options.cutAfterBytes;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) {
      throw new RangeError(`cutAfterBytes must be integers 0 <= min <= max, got [${min}, ${max}]`);
    }
    this.min = min;
    this.max = max;
    this.random = rng(options.seed);
    this.cutting = options.cutting ?? true;
    // allowHalfOpen: a FIN from one end is passed on as a FIN, and the other
    // direction keeps flowing (an MQTT DISCONNECT followed by close looks the same behind the proxy).
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.accept(client));
  }

  /** Listens on 127.0.0.1, on a port of the system's choosing; resolves that port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.listeningPort = (this.server.address() as net.AddressInfo).port;
    return this.listeningPort;
  }

  get port(): number {
    if (this.listeningPort === undefined) throw new Error("CuttingProxy: call listen() first");
    return this.listeningPort;
  }

  stats(): CuttingProxyStats {
    return { ...this.counters };
  }

  /** Cuts every open connection now (a reset both ways); returns how many it cut. */
  cutAll(): number {
    let n = 0;
    for (const link of this.links) {
      if (link.cut) continue;
      this.cut(link);
      n++;
    }
    return n;
  }

  /** Stops listening and destroys every connection; resolves once all of them are closed. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const sockets = [...this.sockets].map(
      (s) => new Promise<void>((resolve) => (s.closed ? resolve() : (s.once("close", () => resolve()), s.destroy()))),
    );
    await Promise.all([closed, ...sockets]);
  }

  private accept(client: net.Socket): void {
    this.counters.connections++;
    // Drawn at accept, whether cutting or not, so that the n-th connection of a
    // run always gets the same budget for the same seed.
    const budget = this.min + Math.floor(this.random() * (this.max - this.min + 1));
    const { host, port } = this.options.target;
    const upstream = net.connect({ host, port, allowHalfOpen: true });
    const link: Link = { client, upstream, budget, used: 0, cut: false };
    this.links.add(link);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.setNoDelay(true);
      // An error (a reset from either end, a refused target) ends both: the proxy
      // is a wire, not an endpoint.
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
      s.once("close", () => {
        this.sockets.delete(s);
        if (client.closed && upstream.closed) this.links.delete(link);
      });
    }
    // Nothing is read from the client before the target answers, so that nothing
    // piles up in the proxy and the budget counts forwarded bytes only.
    client.pause();
    upstream.once("connect", () => {
      this.pipe(link, client, upstream, "bytesUp");
      this.pipe(link, upstream, client, "bytesDown");
      client.resume();
    });
  }

  private pipe(link: Link, from: net.Socket, to: net.Socket, counter: "bytesUp" | "bytesDown"): void {
    from.on("data", (chunk: Buffer) => {
      if (link.cut) return;
      let out = chunk;
      const left = link.budget - link.used;
      const cutNow = this.cutting && out.length >= left;
      if (cutNow) out = out.subarray(0, Math.max(0, left));
      link.used += out.length;
      this.counters[counter] += out.length;
      if (cutNow) return this.cut(link, to, out);
      // Back-pressure: stop reading this side until the other side's buffer drains.
      if (!to.write(out)) {
        from.pause();
        to.once("drain", () => from.resume());
      }
    });
    from.on("end", () => {
      if (!link.cut) to.end();
    });
  }

  /**
   * Resets both sockets; with `last`, after writing those bytes to `to`. The
   * reset waits for the write to reach the kernel: a reset (SO_LINGER 0) drops
   * whatever is still in our send buffer, and the cut must land after exactly
   * the budget. On loopback the kernel hands the bytes on at once, so the far
   * end reads them, then the reset.
   */
  private cut(link: Link, to?: net.Socket, last?: Buffer): void {
    link.cut = true;
    this.counters.cuts++;
    link.client.pause();
    link.upstream.pause();
    const both = (): void => {
      reset(link.client);
      reset(link.upstream);
    };
    if (!to || !last || last.length === 0 || to.destroyed) return both();
    // Bounded: a far end that never reads must not keep the connection alive.
    const timer = setTimeout(both, 2000);
    timer.unref();
    to.write(last, () => {
      clearTimeout(timer);
      both();
    });
  }
}
