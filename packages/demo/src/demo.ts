/// <reference types="node" />
// The sansmqtt demo, through the Paho-style Client of @sansmqtt/client: for each
// MQTT version (3.1.1, 5.0) and each transport (TCP, TLS with the run's CA,
// WebSocket), connect, subscribe to a topic of its own, publish at QoS 0, 1 and 2
// (MQTT 5: with content type, payload format and a user property), wait for each
// waitForPublish and for each message to come back, unsubscribe, disconnect. One line per
// callback, a one-line summary at the end.
//
// Everything is in functions (parseDemoArgs, runDemo) with the output injected,
// so a test runs the demo in-process; main.ts is the command-line entry.
import { randomBytes } from "node:crypto";
import {
  Client,
  MQTTv311,
  MQTTv5,
  type MQTTMessage,
  type MQTTMessageInfo,
  type Properties,
  type ReasonCode,
} from "@sansmqtt/client";
import { describeProperties, tapSocket } from "./trace.js";

export const USAGE = `usage: node packages/demo/dist/main.js [--v311] [--v5] [--trace] [--broker HOST:PORT]
  --v311, --v5         only this MQTT version (default: both, 3.1.1 then 5.0)
  --trace              also print every MQTT packet on the wire ("->" sent, "<-" received)
  --broker HOST:PORT   that broker, plain TCP only (also MQTT_BROKER=HOST:PORT)
Without --broker it uses the throwaway broker of scripts/with-broker.sh (MQTT_HOST,
MQTT_TCP_PORT, MQTT_TLS_PORT, MQTT_WS_PORT, MQTT_CA_FILE) over TCP, TLS and WebSocket.
MQTT_USERNAME and MQTT_PASSWORD log in (the password is never printed).`;

/** The whole demo finishes within this, or fails. */
export const DEMO_TIMEOUT_MS = 15_000;

export type TransportKind = "tcp" | "tls" | "ws";
type Version = typeof MQTTv311 | typeof MQTTv5;

export interface Target {
  readonly kind: TransportKind;
  readonly host: string;
  readonly port: number;
}

export interface DemoOptions {
  readonly targets: readonly Target[];
  readonly versions: readonly Version[];
  readonly caFile: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly trace: boolean;
  /** Set when --broker / MQTT_BROKER chose the broker (plain TCP only). */
  readonly external: boolean;
}

export interface DemoIO {
  out(line: string): void;
  err(line: string): void;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

function parseHostPort(value: string, from: string): { host: string; port: number } {
  // HOST:PORT or [IPv6]:PORT
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  const port = Number(m?.[2]);
  if (!m || !m[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`${from} must be HOST:PORT (e.g. test.mosquitto.org:1883), not "${value}"`);
  }
  return { host: m[1], port };
}

function envPort(env: NodeJS.ProcessEnv, name: string): number {
  const port = Number(env[name]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`${name} is not a port: "${env[name] ?? ""}"`);
  return port;
}

/** The options from the command line and the environment; throws UsageError. `undefined` means --help. */
export function parseDemoArgs(argv: readonly string[], env: NodeJS.ProcessEnv): DemoOptions | undefined {
  let v311 = false;
  let v5 = false;
  let trace = false;
  let broker: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--v311") v311 = true;
    else if (arg === "--v5") v5 = true;
    else if (arg === "--trace") trace = true;
    else if (arg === "--broker") {
      broker = argv[++i];
      if (broker === undefined) throw new UsageError("--broker needs HOST:PORT");
    } else if (arg.startsWith("--broker=")) broker = arg.slice("--broker=".length);
    else if (arg === "--help" || arg === "-h") return undefined;
    else throw new UsageError(`unknown argument "${arg}"`);
  }
  // Neither or both flags: both versions.
  const versions: Version[] = v311 === v5 ? [MQTTv311, MQTTv5] : v311 ? [MQTTv311] : [MQTTv5];
  const login = { username: env.MQTT_USERNAME || undefined, password: env.MQTT_PASSWORD || undefined };
  broker ??= env.MQTT_BROKER || undefined;
  if (broker !== undefined) {
    const at = parseHostPort(broker, broker === env.MQTT_BROKER ? "MQTT_BROKER" : "--broker");
    return { targets: [{ kind: "tcp", ...at }], versions, caFile: undefined, trace, external: true, ...login };
  }
  const host = env.MQTT_HOST;
  if (!host) throw new UsageError("no broker: run `bash scripts/demo.sh`, which starts one, or pass --broker HOST:PORT");
  const caFile = env.MQTT_CA_FILE;
  if (!caFile) throw new UsageError("MQTT_CA_FILE is not set (scripts/with-broker.sh sets it): the TLS run needs the broker's CA");
  const targets: Target[] = [
    { kind: "tcp", host, port: envPort(env, "MQTT_TCP_PORT") },
    { kind: "tls", host, port: envPort(env, "MQTT_TLS_PORT") },
    { kind: "ws", host, port: envPort(env, "MQTT_WS_PORT") },
  ];
  return { targets, versions, caFile, trace, external: false, ...login };
}

// ---- printing -------------------------------------------------------------------

const quote = (s: string): string => JSON.stringify(s);
const versionName = (v: Version): string => (v === MQTTv5 ? "5.0" : "3.1.1");
const transportName: Record<TransportKind, string> = { tcp: "tcp", tls: "tls", ws: "ws" };
const reason = (rc: ReasonCode): string => `${quote(rc.getName())} (0x${rc.value.toString(16).padStart(2, "0")})`;
const withProps = (p: Properties | undefined): string => {
  const s = describeProperties(p);
  return s ? ` properties=${s}` : "";
};

/** A failure of the demo with the message to print (no stack: the message says it all). */
class DemoFailure extends Error {
  override readonly name = "DemoFailure";
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === "string" ? `${code}: ` : ""}${e.message}`;
  }
  return String(e);
}

/** Cuts a socket handed to onSocketOpen: net.Socket / tls.TLSSocket (destroy) or ws WebSocket (terminate). */
function forceClose(socket: unknown): void {
  const s = socket as { destroy?: () => void; terminate?: () => void } | undefined;
  if (typeof s?.destroy === "function") s.destroy();
  else if (typeof s?.terminate === "function") s.terminate();
}

// ---- one run: one client, one transport, one version ------------------------------------

interface RunResult {
  readonly messages: number;
}

/**
 * Rejects when the deadline passes or `failed` rejects, whichever is first;
 * otherwise settles as `p`. `what` names the wait in the timeout message.
 */
function bounded<T>(p: Promise<T>, failed: Promise<never>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DemoFailure(`timed out waiting for ${what}`)), Math.max(0, deadline - performance.now()));
  });
  return Promise.race([p, failed, timeout]).finally(() => clearTimeout(timer));
}

async function runOne(target: Target, version: Version, o: DemoOptions, io: DemoIO, deadline: number): Promise<RunResult> {
  const suffix = randomBytes(4).toString("hex");
  const clientId = `sansmqtt-demo-${suffix}`;
  const topic = `sansmqtt/demo/${suffix}`;
  const tag = `[${transportName[target.kind]} ${versionName(version)}]`;
  const say = (line: string): void => io.out(`${tag} ${line}`);

  // reconnectOnFailure false: a demo that lost its connection should say so and stop, not retry.
  const client = new Client({ clientId, protocol: version, transport: target.kind === "ws" ? "websockets" : "tcp", reconnectOnFailure: false });
  if (o.username !== undefined) client.usernamePwSet(o.username, o.password);
  if (target.kind === "tls") client.tlsSet({ caCerts: o.caFile! });

  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined); // observed through bounded(); never an unhandled rejection
  let subscribed!: (codes: ReasonCode[]) => void;
  const suback = new Promise<ReasonCode[]>((resolve) => (subscribed = resolve));
  let unsubscribed!: () => void;
  const unsuback = new Promise<void>((resolve) => (unsubscribed = resolve));
  let ended!: () => void;
  const disconnected = new Promise<void>((resolve) => (ended = resolve));
  const received: MQTTMessage[] = [];
  let messageArrived: () => void = () => undefined;
  let disconnecting = false;

  let connackSeen = false;
  client.onConnect = (c, _ud, flags, rc, props) => {
    connackSeen = true;
    say(`onConnect sessionPresent=${flags.sessionPresent} reason=${reason(rc)}${withProps(props)}`);
    if (rc.isFailure) fail(new DemoFailure(`the broker refused the connection: ${rc.getName()}`));
    else c.subscribe(topic, 2);
  };
  client.onSubscribe = (_c, _ud, mid, codes, props) => {
    say(`onSubscribe mid=${mid} reasons=[${codes.map(reason).join(", ")}]${withProps(props)}`);
    subscribed(codes);
  };
  client.onUnsubscribe = (_c, _ud, mid, codes, props) => {
    // MQTT 3.1.1's UNSUBACK has no reason codes (an empty list, as Paho gives).
    say(`onUnsubscribe mid=${mid} reasons=[${codes.map(reason).join(", ")}]${withProps(props)}`);
    unsubscribed();
  };
  client.onPublish = (_c, _ud, mid, rc, props) => say(`onPublish mid=${mid} reason=${reason(rc)}${withProps(props)}`);
  client.onMessage = (_c, _ud, m) => {
    say(`onMessage topic=${quote(m.topic)} qos=${m.qos} retain=${m.retain} payload=${quote(m.text())}${withProps(m.properties)}`);
    received.push(m);
    messageArrived();
  };
  client.onDisconnect = (_c, _ud, flags, rc, props) => {
    say(`onDisconnect reason=${reason(rc)}${flags.isDisconnectPacketFromServer ? " (DISCONNECT from the broker)" : ""}${withProps(props)}`);
    ended();
    // Before CONNACK the client reports a missing CONNACK as "Keep alive timeout" (0x8D): say what was awaited.
    if (!disconnecting) fail(new DemoFailure(`the connection ended ${connackSeen ? "unexpectedly" : "before CONNACK"}: ${rc.getName()}`));
  };
  let socket: unknown;
  client.onSocketOpen = (_c, _ud, s) => {
    socket = s;
    if (o.trace && !tapSocket(s, version, (line) => say(`  ${line}`))) say("  (trace: this socket cannot be tapped)");
  };
  let succeeded = false;

  const where = `${target.kind === "ws" ? "ws://" : target.kind === "tls" ? "mqtts://" : "mqtt://"}${target.host}:${target.port}`;
  io.out(`demo: MQTT ${versionName(version)} over ${target.kind} to ${where} as ${clientId}, topic ${topic}`);
  try {
    try {
      await bounded(client.connect(target.host, target.port, 30), failed, deadline, `the ${target.kind} connection to ${where}`);
    } catch (e) {
      throw new DemoFailure(`cannot connect to ${where}: ${errorText(e)}`);
    }
    client.loopStart();
    const codes = await bounded(suback, failed, deadline, "SUBACK");
    const granted = codes[0]?.value ?? 0x80;
    if (granted >= 0x80) throw new DemoFailure(`the broker refused the subscription: ${codes[0]?.getName() ?? "no reason code"}`);

    const infos: MQTTMessageInfo[] = [];
    const sent: Array<{ qos: 0 | 1 | 2; text: string }> = [];
    for (const qos of [0, 1, 2] as const) {
      const text = `hello at QoS ${qos} over ${target.kind}, MQTT ${versionName(version)}`;
      const properties: Properties | undefined =
        version === MQTTv5 ? { contentType: "text/plain", payloadFormatIndicator: 1, userProperties: [["sent-by", "sansmqtt demo"]] } : undefined;
      const info = client.publish(topic, text, qos, false, properties);
      say(`publish qos=${qos} mid=${info.mid} rc=${info.rc} payload=${quote(text)}`);
      infos.push(info);
      sent.push({ qos, text });
    }
    for (const info of infos) {
      try {
        await bounded(info.waitForPublish(Math.max(0, deadline - performance.now())), failed, deadline, `waitForPublish of mid ${info.mid}`);
      } catch (e) {
        throw new DemoFailure(`message ${info.mid} was not published: ${errorText(e)}`);
      }
      say(`waitForPublish mid=${info.mid} done`);
    }
    const allBack = new Promise<void>((resolve) => {
      const check = (): void => {
        if (received.length >= sent.length) resolve();
      };
      messageArrived = check;
      check();
    });
    await bounded(allBack, failed, deadline, `${sent.length - received.length} message(s) to come back`);
    // Each must come back as sent, at the lower of its QoS and the granted one.
    for (const m of received) {
      const match = sent.find((s) => s.text === m.text() && Math.min(s.qos, granted) === m.qos);
      if (m.topic !== topic || match === undefined) throw new DemoFailure(`a message came back changed: topic ${m.topic} qos ${m.qos} payload ${quote(m.text())}`);
      if (version === MQTTv5 && m.properties?.contentType !== "text/plain") throw new DemoFailure(`message ${quote(m.text())} came back without its content type`);
    }

    // UNSUBSCRIBE before DISCONNECT: the broker answers our PUBREC (QoS 2 coming
    // back) with PUBREL before it answers the UNSUBSCRIBE, so once UNSUBACK is in,
    // the PUBCOMP is queued ahead of DISCONNECT and no exchange is left half done.
    client.unsubscribe(topic);
    await bounded(unsuback, failed, deadline, "UNSUBACK");
    disconnecting = true;
    client.disconnect();
    await bounded(disconnected, failed, deadline, "the end of the connection after DISCONNECT");
    succeeded = true;
    return { messages: received.length };
  } finally {
    disconnecting = true;
    if (client.isConnected()) client.disconnect();
    await client.loopStop();
    // After a failure the transport may have closed gracefully (FIN, then waiting
    // for the peer's), which a silent peer never answers: the socket would hold
    // the process. Cut it (net/tls: destroy, ws: terminate).
    if (!succeeded) forceClose(socket);
  }
}

// ---- the whole demo ------------------------------------------------------------------

/** Runs every (version, transport) pair in turn; 0 when all succeeded, 1 at the first failure (after saying why). */
export async function runDemo(o: DemoOptions, io: DemoIO): Promise<number> {
  const started = performance.now();
  const deadline = started + DEMO_TIMEOUT_MS;
  if (o.external) io.out(`demo: --broker given: plain TCP only, to ${o.targets[0]!.host}:${o.targets[0]!.port} (TLS and WebSocket run against the throwaway broker)`);
  let messages = 0;
  for (const version of o.versions) {
    for (const target of o.targets) {
      try {
        messages += (await runOne(target, version, o, io, deadline)).messages;
      } catch (e) {
        io.err(`demo: error: MQTT ${versionName(version)} over ${target.kind}: ${e instanceof DemoFailure ? e.message : errorText(e)}`);
        return 1;
      }
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const kinds = o.targets.map((t) => transportName[t.kind]).join(", ");
  const versions = o.versions.map(versionName).join(", ");
  io.out(`demo: ${messages} messages over ${kinds} × MQTT ${versions} published and received in ${seconds} s`);
  return 0;
}
