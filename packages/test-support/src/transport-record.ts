// Test helpers shared by the transport packages' tests: what a transport
// reported, the servers a test started (closed after each test), and a
// transport that must fail to open.
import { afterEach, expect } from "vitest";
import { TransportError, type Transport, type TransportHandlers } from "@sansmqtt/core";
import type { TestServer } from "./servers.js";

export interface TransportRecord {
  handlers: TransportHandlers;
  /** "open", "data", "drain", "close:<code or clean>", in order. */
  log: string[];
  chunks: Uint8Array[];
  opened: Promise<void>;
  closed: Promise<TransportError | undefined>;
}

/** Handlers that record what a transport reports, in order. */
export function recordTransport(): TransportRecord {
  const log: string[] = [];
  const chunks: Uint8Array[] = [];
  let resolveClosed!: (e: TransportError | undefined) => void;
  let resolveOpened!: () => void;
  const closed = new Promise<TransportError | undefined>((r) => (resolveClosed = r));
  const opened = new Promise<void>((r) => (resolveOpened = r));
  return {
    log,
    chunks,
    opened,
    closed,
    handlers: {
      onOpen: () => (log.push("open"), resolveOpened()),
      onData: (c) => (log.push("data"), chunks.push(c)),
      onDrain: () => log.push("drain"),
      onClose: (e) => (log.push(`close:${e?.code ?? "clean"}`), resolveClosed(e)),
    },
  };
}

/** Servers a test started, closed after the test: `await server(start...)`, or `server.add(s)` for one made by hand. */
export interface ServerTracker {
  <T extends TestServer>(s: Promise<T>): Promise<T>;
  add(s: TestServer): void;
}

/** A ServerTracker for this test file (registers the afterEach that closes them). */
export function trackServers(): ServerTracker {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const track = async <T extends TestServer>(s: Promise<T>): Promise<T> => {
    const started = await s;
    servers.push(started);
    return started;
  };
  return Object.assign(track, { add: (s: TestServer): void => void servers.push(s) });
}

/** Opens `t`, which must not open: resolves with the TransportError it closes with, its only report. */
export async function transportFailure(t: Transport): Promise<TransportError> {
  const r = recordTransport();
  t.open(r.handlers);
  const err = await r.closed;
  expect(r.log).toEqual([`close:${err?.code}`]);
  expect(err).toBeInstanceOf(TransportError);
  expect(t.state).toBe("closed");
  return err!;
}
