// A graceful close() (FIN after the queued bytes) waits for the peer to close
// its side; a peer that never does must not keep it waiting for ever. The bound
// is closeTimeoutMs (default 2 000 ms), a timer that is unref'd and cleared when
// the close completes on its own.
import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { recordTransport, trackServers, type TransportRecord } from "@sansmqtt/test-support";
import { DEFAULT_CLOSE_TIMEOUT, TcpTransport, type TcpOptions } from "../src/index.js";

const server = trackServers();

interface Peer {
  readonly port: number;
  /** Bytes the peer received. */
  readonly got: Buffer[];
  /** Resolves when the peer has seen our FIN. */
  readonly sawFin: Promise<void>;
  /** The peer's side of the connection, once accepted. */
  socket(): net.Socket | undefined;
}

/**
 * A loopback server for one connection. `endsItsSide` false: it keeps its half
 * open after our FIN (allowHalfOpen) and never sends its own, the peer that
 * hangs a graceful close; true: it closes its side when ours closes. `reads`
 * false: it never reads.
 */
async function startPeer(o: { endsItsSide: boolean; reads?: boolean }): Promise<Peer> {
  const got: Buffer[] = [];
  const sockets: net.Socket[] = [];
  let sawFin!: () => void;
  const fin = new Promise<void>((r) => (sawFin = r));
  const s = net.createServer({ allowHalfOpen: !o.endsItsSide }, (sock) => {
    sockets.push(sock);
    sock.on("error", () => undefined);
    if (o.reads === false) sock.pause();
    sock.on("data", (d: Buffer) => got.push(d));
    sock.on("end", () => sawFin());
  });
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  server.add({
    port: 0,
    accepted: 0,
    close: () => new Promise<void>((r) => (sockets.forEach((x) => x.destroy()), s.close(() => r()))),
  });
  return { port: (s.address() as net.AddressInfo).port, got, sawFin: fin, socket: () => sockets[0] };
}

/** Opens a TcpTransport to the peer; resolves once it is open. */
async function openTo(peer: Peer, extra: TcpOptions = {}): Promise<{ t: TcpTransport; r: TransportRecord }> {
  const t = new TcpTransport({ host: "127.0.0.1", port: peer.port, ...extra });
  const r = recordTransport();
  t.open(r.handlers);
  await r.opened;
  return { t, r };
}

/** The timers set with `ms`, and which of them were cleared, while `body` runs. */
async function watchTimers<T>(ms: number, body: () => Promise<T>): Promise<{ result: T; timers: NodeJS.Timeout[]; cleared: Set<unknown> }> {
  const set = vi.spyOn(globalThis, "setTimeout");
  const clear = vi.spyOn(globalThis, "clearTimeout");
  try {
    const result = await body();
    const timers = set.mock.calls.flatMap((args, i) => (args[1] === ms ? [set.mock.results[i]!.value as NodeJS.Timeout] : []));
    return { result, timers, cleared: new Set(clear.mock.calls.map((args) => args[0])) };
  } finally {
    set.mockRestore();
    clear.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe("graceful close() bounded by closeTimeoutMs", () => {
  it("a peer that never closes its side: onClose(undefined) after closeTimeoutMs; our bytes and FIN went out", async () => {
    const peer = await startPeer({ endsItsSide: false });
    const { t, r } = await openTo(peer, { closeTimeoutMs: 300 });
    t.write([new Uint8Array([1, 2, 3])]);
    const started = Date.now();
    t.close();
    expect(t.state).toBe("closing");
    await peer.sawFin; // our FIN arrived; the peer answers nothing
    expect(await r.closed).toBeUndefined();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1500);
    expect(r.log).toEqual(["open", "close:clean"]);
    expect(t.state).toBe("closed");
    expect(Buffer.concat(peer.got)).toEqual(Buffer.from([1, 2, 3]));
    expect(peer.socket()!.destroyed).toBe(false); // the peer still holds its half open: we stopped waiting
  });

  it(`the default bound is ${DEFAULT_CLOSE_TIMEOUT} ms`, async () => {
    expect(DEFAULT_CLOSE_TIMEOUT).toBe(2000);
    const peer = await startPeer({ endsItsSide: false });
    const { t, r } = await openTo(peer);
    const started = Date.now();
    t.close();
    expect(await r.closed).toBeUndefined();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1950);
    expect(took).toBeLessThan(4000);
  });

  it("a peer that closes its side: onClose comes promptly, before the bound; the timer was unref'd and is cleared", async () => {
    const peer = await startPeer({ endsItsSide: true });
    const { t, r } = await openTo(peer, { closeTimeoutMs: 1234 });
    const started = Date.now();
    const { result: err, timers, cleared } = await watchTimers(1234, async () => {
      t.close();
      return r.closed;
    });
    const took = Date.now() - started;
    expect(err).toBeUndefined();
    expect(took).toBeLessThan(1234);
    expect(timers).toHaveLength(1); // the bound was set...
    expect(timers[0]!.hasRef()).toBe(false); // ...unref'd: it would not keep the process alive...
    expect(cleared.has(timers[0])).toBe(true); // ...and cleared once the close completed
    await new Promise((res) => setTimeout(res, 1300 - took)); // past the bound: nothing more happens
    expect(r.log).toEqual(["open", "close:clean"]);
  });

  it("bytes the peer never read are still queued at the bound: ERR_TRANSPORT_TIMEOUT (they were dropped)", async () => {
    const peer = await startPeer({ endsItsSide: false, reads: false });
    const { t, r } = await openTo(peer, { closeTimeoutMs: 300 });
    const block = new Uint8Array(1 << 20);
    let writes = 0;
    while (t.write([block])) if (++writes > 256) throw new Error("write never asked to wait");
    t.close();
    const err = await r.closed;
    expect(err).toMatchObject({ code: "ERR_TRANSPORT_TIMEOUT", message: expect.stringMatching(/^close: \d+ bytes still unsent after 300 ms/) });
    expect(r.log).toEqual(["open", "close:ERR_TRANSPORT_TIMEOUT"]);
  });

  it("close(error) during the wait ends it at once with that error, and clears the bound", async () => {
    const peer = await startPeer({ endsItsSide: false });
    const { t, r } = await openTo(peer, { closeTimeoutMs: 4321 });
    const { result: err, timers, cleared } = await watchTimers(4321, async () => {
      t.close();
      await peer.sawFin;
      t.close(new Error("give up"));
      return r.closed;
    });
    expect(err).toMatchObject({ code: "ERR_TRANSPORT_ABORTED", message: expect.stringContaining("give up") });
    expect(timers).toHaveLength(1);
    expect(cleared.has(timers[0])).toBe(true);
  });

  it("closeTimeoutMs 0: no bound, the close waits for the peer", async () => {
    const peer = await startPeer({ endsItsSide: false });
    const { t, r } = await openTo(peer, { closeTimeoutMs: 0 });
    t.close();
    await peer.sawFin;
    await new Promise((res) => setTimeout(res, 300));
    expect(r.log).toEqual(["open"]);
    peer.socket()!.end(); // the peer closes its side at last
    expect(await r.closed).toBeUndefined();
  });

  it("closeTimeoutMs is validated: ERR_TRANSPORT_CONFIG for what is not a number of milliseconds", () => {
    for (const closeTimeoutMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => new TcpTransport({ closeTimeoutMs })).toThrow(
        expect.objectContaining({ code: "ERR_TRANSPORT_CONFIG", message: expect.stringContaining(`closeTimeoutMs ${closeTimeoutMs}`) }),
      );
    }
    expect(() => new TcpTransport({ closeTimeoutMs: 0 })).not.toThrow();
    expect(() => new TcpTransport({ closeTimeoutMs: 2 ** 31 - 1 })).not.toThrow();
  });
});
