/**
 * `sansmqtt pub` and `sansmqtt sub` on the Paho-style Client. Everything the
 * commands touch outside the client (arguments, stdin, stdout, stderr, files,
 * an interrupt) comes in through `main(argv, io)`, so a test runs them
 * in-process; src/cli.ts binds them to the process.
 *
 * Exit codes: 0 success, 1 connection / publish / subscription failure (or -W
 * timeout), 2 usage error.
 */
import { Client } from "../client.js";
// host and utf8: timers and TextEncoder without DOM or Node types, as the rest of the package builds.
import { host, utf8, type MQTTMessage, type MQTTMessageInfo, type ReasonCode } from "../types.js";
import { MAIN_USAGE, PUB_USAGE, SUB_USAGE, UsageError, parseCommand, randomId, type CommonSettings, type PubSettings, type SubSettings } from "./options.js";

export interface CliIO {
  /** Standard input as chunks (a Node Readable is one); read only for -l and -s. */
  readonly stdin?: AsyncIterable<Uint8Array | string>;
  readonly stdout: { write(data: string | Uint8Array): unknown };
  readonly stderr: { write(data: string): unknown };
  /** Reads a file (-f); default: node:fs/promises readFile. */
  readonly readFile?: (path: string) => Promise<Uint8Array>;
  /** Resolves when the command should end (SIGINT): sub disconnects and exits 0, pub stops reading stdin. */
  readonly stop?: Promise<void>;
}

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/** How long to wait for each message's acknowledgement, and for the end of the connection. */
const PUBLISH_TIMEOUT_MS = 10_000;
const DISCONNECT_TIMEOUT_MS = 2_000;

/** A failure to report (one line) with exit code 1. */
class CliFailure extends Error {
  override readonly name = "CliFailure";
}

const encoder = new utf8.TextEncoder();

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${e.message}${typeof code === "string" && !e.message.includes(code) ? ` (${code})` : ""}`;
  }
  return String(e);
}

/** Runs `sansmqtt <argv>`; resolves with the exit code. Never throws for what a user can cause. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "help") {
    (command === undefined ? io.stderr : io.stdout).write(`${MAIN_USAGE}\n`);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (command !== "pub" && command !== "sub") {
    io.stderr.write(`sansmqtt: unknown command "${command}"\n${MAIN_USAGE}\n`);
    return EXIT_USAGE;
  }
  let settings;
  try {
    settings = await parseCommand(command, rest);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    // One line and a pointer, as the full usage would bury the message.
    io.stderr.write(`sansmqtt ${command}: ${e.message}\nTry "sansmqtt ${command} --help".\n`);
    return EXIT_USAGE;
  }
  if (settings === undefined) {
    io.stdout.write(`${command === "pub" ? PUB_USAGE : SUB_USAGE}\n`);
    return EXIT_OK;
  }
  try {
    return settings.command === "pub" ? await runPub(settings, io) : await runSub(settings, io);
  } catch (e) {
    io.stderr.write(`sansmqtt ${command}: ${e instanceof CliFailure ? e.message : `Error: ${errorText(e)}`}\n`);
    return EXIT_FAILURE;
  }
}

// ---- the connection both commands share ---------------------------------------------

interface Session {
  readonly client: Client;
  /** Rejects with a CliFailure when the connection is refused or ends unexpectedly. */
  readonly failed: Promise<never>;
  /** Disconnects (DISCONNECT, the end of the connection, loop stopped); after a failure also cuts the socket. */
  close(failed: boolean): Promise<void>;
}

function target(s: CommonSettings): string {
  return `${s.tls !== undefined ? "mqtts" : "mqtt"}://${s.host.includes(":") ? `[${s.host}]` : s.host}:${s.port}`;
}

/** A promise that rejects after `ms` with `message` (made then), and the way to cancel it. */
function timeout(ms: number, message: string | (() => string)): { promise: Promise<never>; cancel(): void } {
  let timer: unknown;
  const promise = new Promise<never>((_, reject) => {
    timer = host.setTimeout(() => reject(new CliFailure(typeof message === "string" ? message : message())), ms);
  });
  promise.catch(() => undefined);
  return { promise, cancel: () => host.clearTimeout(timer) };
}

/**
 * Connects and waits for an accepting CONNACK. `onConnected` runs inside
 * onConnect (sub subscribes there, before any message can arrive).
 */
async function open(s: CommonSettings, prefix: string, io: CliIO, onConnected?: (c: Client) => void): Promise<Session> {
  // reconnectOnFailure false: a command-line tool reports a lost connection and exits, as mosquitto_pub does.
  const client = new Client({ clientId: s.clientId ?? randomId(prefix), protocol: s.protocol, reconnectOnFailure: false });
  if (s.username !== undefined) client.usernamePwSet(s.username, s.password);
  if (s.tls !== undefined) {
    client.tlsSet({
      ...(s.tls.caFile !== undefined ? { caCerts: s.tls.caFile } : {}),
      ...(s.tls.certFile !== undefined ? { certfile: s.tls.certFile } : {}),
      ...(s.tls.keyFile !== undefined ? { keyfile: s.tls.keyFile } : {}),
    });
    if (s.tls.insecure) client.tlsInsecureSet(true);
  }
  // The client's log lines never hold credentials (its README says so), so -d may print them all.
  if (s.debug) client.onLog = (_c, _ud, _level, line) => io.stderr.write(`${line}\n`);

  let fail!: (e: CliFailure) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined); // raced below; never an unhandled rejection
  let connected!: () => void;
  const connack = new Promise<void>((resolve) => (connected = resolve));
  let closing = false;
  let isConnected = false;
  let socket: unknown;
  client.onSocketOpen = (_c, _ud, sock) => (socket = sock);
  /**
   * After a failure the transport may have closed gracefully (FIN, then waiting
   * for the peer's), which a silent peer never answers; the socket would keep
   * the process alive. Cut it: net/tls destroy(), ws terminate().
   */
  const cut = (): void => {
    const s = socket as { destroy?: () => void; terminate?: () => void } | undefined;
    if (typeof s?.destroy === "function") s.destroy();
    else if (typeof s?.terminate === "function") s.terminate();
  };
  let ended!: () => void;
  const end = new Promise<void>((resolve) => (ended = resolve));

  client.onConnect = (c, _ud, _flags, rc: ReasonCode) => {
    if (rc.isFailure) {
      fail(new CliFailure(`Connection error: the broker at ${target(s)} refused the connection: ${rc.getName()}`));
      return;
    }
    isConnected = true;
    onConnected?.(c);
    connected();
  };
  client.onDisconnect = (_c, _ud, flags, rc: ReasonCode) => {
    ended();
    if (!closing) {
      const why = `${rc.getName()}${flags.isDisconnectPacketFromServer ? " (DISCONNECT from the broker)" : ""}`;
      // Before CONNACK the client reports a missing CONNACK as "Keep alive timeout" (0x8D): say what was awaited.
      fail(new CliFailure(isConnected ? `the connection to ${target(s)} ended: ${why}` : `Connection error: no CONNACK from ${target(s)}: the connection ended: ${why}`));
    }
  };

  try {
    await client.connect(s.host, s.port, s.keepalive, s.connectProperties !== undefined ? { properties: s.connectProperties } : {});
  } catch (e) {
    throw new CliFailure(`Connection error: cannot connect to ${target(s)}: ${errorText(e)}`);
  }
  client.loopStart();
  // The client's connect timeout covers the CONNACK too; this only bounds it from outside.
  const limit = timeout(client.connectTimeout * 1000 + 1_000, `Connection error: no CONNACK from ${target(s)} within ${client.connectTimeout} s`);
  try {
    await Promise.race([connack, failed, limit.promise]);
  } catch (e) {
    closing = true;
    client.disconnect();
    await client.loopStop();
    cut();
    throw e;
  } finally {
    limit.cancel();
  }
  return {
    client,
    failed,
    close: async (failed) => {
      closing = true;
      try {
        if (client.disconnect() === 0) {
          const t = timeout(DISCONNECT_TIMEOUT_MS, "the connection did not end after DISCONNECT");
          await Promise.race([end, t.promise]).finally(t.cancel);
        }
      } finally {
        await client.loopStop();
        // Only after a failure: a clean end has the DISCONNECT queued, and cutting could drop it.
        if (failed) cut();
      }
    },
  };
}

// ---- pub --------------------------------------------------------------------------

/** Splits stdin into lines as it arrives (bytes, so that any payload passes unchanged); drops a final "\r". */
async function* lines(stdin: AsyncIterable<Uint8Array | string>): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array = new Uint8Array(0);
  for await (const chunk of stdin) {
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    const joined = new Uint8Array(pending.length + bytes.length);
    joined.set(pending);
    joined.set(bytes, pending.length);
    let start = 0;
    for (let i = joined.indexOf(0x0a); i !== -1; i = joined.indexOf(0x0a, start)) {
      const end = i > start && joined[i - 1] === 0x0d ? i - 1 : i;
      yield joined.slice(start, end);
      start = i + 1;
    }
    pending = joined.slice(start);
  }
  // A last line without a newline is still a message.
  if (pending.length > 0) yield pending;
}

async function readAll(stdin: AsyncIterable<Uint8Array | string>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stdin) parts.push(typeof chunk === "string" ? encoder.encode(chunk) : chunk);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function defaultReadFile(path: string): Promise<Uint8Array> {
  const specifier = "node:fs/promises"; // not resolved by TypeScript: see options.ts
  const fs = (await import(specifier)) as { readFile(path: string): Promise<Uint8Array> };
  return fs.readFile(path);
}

async function runPub(s: PubSettings, io: CliIO): Promise<number> {
  // The payload of -f / -s is read before connecting, so a missing file costs no connection.
  let single: Uint8Array | undefined;
  if (s.source.kind === "message") single = encoder.encode(s.source.text);
  else if (s.source.kind === "null") single = new Uint8Array(0);
  else if (s.source.kind === "file") {
    try {
      single = await (io.readFile ?? defaultReadFile)(s.source.path);
    } catch (e) {
      throw new CliFailure(`Error: cannot read ${s.source.path}: ${errorText(e)}`);
    }
  } else if (s.source.kind === "stdin") {
    if (io.stdin === undefined) throw new CliFailure("Error: no standard input");
    single = await readAll(io.stdin);
  }

  const session = await open(s, "sansmqtt-pub-", io);
  const { client } = session;
  const infos: MQTTMessageInfo[] = [];
  const publish = (payload: Uint8Array): void => {
    // A message the client cannot take (full queue) comes back failed: its waitForPublish below says why.
    infos.push(client.publish(s.topic, payload, s.qos, s.retain, s.publishProperties));
  };
  let ok = false;
  try {
    if (single !== undefined) publish(single);
    else {
      if (io.stdin === undefined) throw new CliFailure("Error: no standard input");
      const stopped = io.stop?.then(() => "stop" as const);
      const it = lines(io.stdin)[Symbol.asyncIterator]();
      for (;;) {
        // A lost connection or an interrupt ends the reading, not only the next line.
        const next = await Promise.race([it.next(), session.failed, ...(stopped !== undefined ? [stopped] : [])]);
        if (next === "stop" || next.done === true) break;
        publish(next.value);
      }
    }
    for (const info of infos) {
      try {
        await Promise.race([info.waitForPublish(PUBLISH_TIMEOUT_MS), session.failed]);
      } catch (e) {
        throw e instanceof CliFailure ? e : new CliFailure(`Error: publish failed: ${errorText(e)}`);
      }
    }
    ok = true;
  } finally {
    await session.close(!ok);
  }
  return EXIT_OK;
}

// ---- sub --------------------------------------------------------------------------

/** Properties as JSON: binary values (correlation data ...) in hex. */
function propertiesJson(m: MQTTMessage): string {
  return JSON.stringify(m.properties ?? {}, (_k, v: unknown) =>
    v instanceof Uint8Array ? Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("") : v,
  );
}

async function runSub(s: SubSettings, io: CliIO): Promise<number> {
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  let subscribed!: (codes: ReasonCode[]) => void;
  const suback = new Promise<ReasonCode[]>((resolve) => (subscribed = resolve));
  let received = 0;

  const session = await open(s, "sansmqtt-sub-", io, (c) => {
    c.onSubscribe = (_c, _ud, _mid, codes) => subscribed(codes);
    c.onMessage = (_c, _ud, m) => {
      if (s.count !== undefined && received >= s.count) return;
      if (s.noStale && m.retain) return;
      received++;
      if (s.verbose) io.stdout.write(`${m.topic} `);
      // A copy: the payload is a view of the transport's buffer, and stdout may write later.
      io.stdout.write(m.payload.slice());
      if (s.printProperties) io.stdout.write(`\t${propertiesJson(m)}`);
      if (!s.noNewline) io.stdout.write("\n");
      if (s.count !== undefined && received >= s.count) done();
    };
    c.subscribe(
      s.topics.map((t) => [t, s.qos] as const),
      0,
      undefined,
      s.subscribeProperties,
    );
  });
  const limit = s.timeoutSeconds !== undefined ? timeout(s.timeoutSeconds * 1000, () => `Timed out after ${s.timeoutSeconds} s (${received} message(s) received)`) : undefined;
  let ok = false;
  try {
    const codes = await Promise.race([suback, session.failed, ...(limit ? [limit.promise] : [])]);
    const refused = codes.map((rc, i) => [s.topics[i], rc] as const).filter(([, rc]) => rc.isFailure);
    if (refused.length > 0) {
      throw new CliFailure(`Error: subscription refused: ${refused.map(([t, rc]) => `${t}: ${rc.getName()}`).join(", ")}`);
    }
    await Promise.race([finished, session.failed, ...(io.stop ? [io.stop] : []), ...(limit ? [limit.promise] : [])]);
    ok = true;
  } finally {
    limit?.cancel();
    await session.close(!ok);
  }
  return EXIT_OK;
}
