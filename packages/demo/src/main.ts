/// <reference types="node" />
// sansmqtt demo: the Sans-IO engine (MqttConnection) of @sansmqtt/core, driven by
// @sansmqtt/loop-external (ExternalLoop, run by its LoopRunner) over
// @sansmqtt/transport-tcp. It connects, subscribes to a topic of its own, publishes at QoS
// 0, 1 and 2 (up to an MQTT 5 broker's maximum QoS), waits until each is `published`
// and has come back, idles until keep alive (1 s) pings, disconnects and exits 0.
// The engine makes and answers every packet; loop-external moves bytes and time;
// the demo prints each packet on one line ("->" sent, "<-" received) by decoding
// a copy of the bytes, and the engine's events ("event ...").
//
//   node packages/demo/dist/main.js [--v311] [--broker HOST:PORT]
//
// The broker comes from --broker, else MQTT_BROKER (HOST:PORT), else MQTT_HOST and
// MQTT_TCP_PORT (set by scripts/with-broker.sh). MQTT_USERNAME and MQTT_PASSWORD
// log in, if set; the password is never printed. Exits 1 on any error and after
// 10 s without finishing, 2 on bad arguments.
import { randomBytes } from "node:crypto";
import { connackReturnCodeName, MqttConnection, MqttError, reasonCodeName, type Transport } from "@sansmqtt/core";
import { ExternalLoop, LoopRunner } from "@sansmqtt/loop-external";
import { TcpTransport } from "@sansmqtt/transport-tcp";
import { PacketDecoder } from "@sansmqtt/core/codec";
import type { CloseReason, Event, Properties, ProtocolVersion, QoS } from "@sansmqtt/core";
import type { Packet } from "@sansmqtt/core/codec";

const TIMEOUT_MS = 10_000;
const KEEP_ALIVE_S = 1;
const PING_WAIT_MS = 1_500; // how long the demo idles, at most, for the keep-alive PINGREQ / PINGRESP
const USAGE = "usage: node packages/demo/dist/main.js [--v311] [--broker HOST:PORT]";

// ---- options ------------------------------------------------------------------

function usageError(message: string): never {
  console.error(`demo: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseHostPort(value: string, from: string): { host: string; port: number } {
  // HOST:PORT, [IPv6]:PORT
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  const port = Number(m?.[2]);
  if (!m || !m[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    usageError(`${from} must be HOST:PORT (e.g. test.mosquitto.org:1883), not "${value}"`);
  }
  return { host: m[1], port };
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv) {
  let version: ProtocolVersion = 5;
  let broker: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--v311") version = 4;
    else if (arg === "--v5") version = 5;
    else if (arg === "--broker") {
      broker = argv[++i];
      if (broker === undefined) usageError("--broker needs HOST:PORT");
    } else if (arg.startsWith("--broker=")) broker = arg.slice("--broker=".length);
    else if (arg === "--help" || arg === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else usageError(`unknown argument "${arg}"`);
  }

  let address: { host: string; port: number };
  if (broker !== undefined) address = parseHostPort(broker, "--broker");
  else if (env.MQTT_BROKER) address = parseHostPort(env.MQTT_BROKER, "MQTT_BROKER");
  else if (env.MQTT_HOST && env.MQTT_TCP_PORT) address = parseHostPort(`${env.MQTT_HOST}:${env.MQTT_TCP_PORT}`, "MQTT_HOST:MQTT_TCP_PORT");
  else usageError("no broker: run `bash scripts/demo.sh`, which starts one, or pass --broker HOST:PORT");

  return { ...address, version, username: env.MQTT_USERNAME || undefined, password: env.MQTT_PASSWORD || undefined };
}

// ---- one-line descriptions of packets and events ----------------------------------

const decoder = new TextDecoder();
const hex = (n: number): string => `0x${n.toString(16).padStart(2, "0")}`;
const quote = (s: string): string => JSON.stringify(s);
const payloadText = (b: Uint8Array): string => quote(decoder.decode(b));

function describeProperties(props: Properties | undefined): string {
  if (!props) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(props) as [string, unknown][]) {
    if (value === undefined) continue;
    if (value instanceof Uint8Array) parts.push(`${key}=<${value.length} bytes>`); // may be secret (auth data)
    else if (typeof value === "string") parts.push(`${key}=${quote(value)}`);
    else parts.push(`${key}=${JSON.stringify(value)}`);
  }
  return parts.length ? ` {${parts.join(" ")}}` : "";
}

function describe(p: Packet): string {
  switch (p.type) {
    case "connect": {
      const version = p.protocolVersion === 5 ? "5" : p.protocolVersion === 4 ? "3.1.1" : "3.1";
      const login = (p.username !== undefined ? ` username=${quote(p.username)}` : "") + (p.password !== undefined ? " password=<hidden>" : "");
      const will = p.will ? ` will=${quote(p.will.topic)}@qos${p.will.qos}` : "";
      return `CONNECT MQTT ${version} clientId=${quote(p.clientId)} clean=${p.clean} keepAlive=${p.keepAlive}s${login}${will}${describeProperties(p.properties)}`;
    }
    case "connack":
      return `CONNACK reason=${hex(p.reasonCode)} sessionPresent=${p.sessionPresent}${describeProperties(p.properties)}`;
    case "publish": {
      const id = p.packetId !== undefined ? ` id=${p.packetId}` : "";
      const flags = (p.retain ? " retain" : "") + (p.dup ? " dup" : "");
      return `PUBLISH topic=${quote(p.topic)} qos=${p.qos}${id}${flags} payload=${payloadText(p.payload)}${describeProperties(p.properties)}`;
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return `${p.type.toUpperCase()} id=${p.packetId} reason=${hex(p.reasonCode)}${describeProperties(p.properties)}`;
    case "subscribe":
      return `SUBSCRIBE id=${p.packetId} ${p.subscriptions.map((s) => `${quote(s.topicFilter)}@qos${s.qos}`).join(" ")}${describeProperties(p.properties)}`;
    case "unsubscribe":
      return `UNSUBSCRIBE id=${p.packetId} ${p.topicFilters.map(quote).join(" ")}${describeProperties(p.properties)}`;
    case "suback":
    case "unsuback":
      return `${p.type.toUpperCase()} id=${p.packetId} reasons=[${p.reasonCodes.map(hex).join(",")}]${describeProperties(p.properties)}`;
    case "pingreq":
    case "pingresp":
      return p.type.toUpperCase();
    case "disconnect":
    case "auth":
      return `${p.type.toUpperCase()} reason=${hex(p.reasonCode)}${describeProperties(p.properties)}`;
  }
}

function describeEvent(e: Event): string {
  if (e.type === "connected") return `connected sessionPresent=${e.sessionPresent}`;
  if (e.type === "message") return `message topic=${quote(e.topic)} qos=${e.qos} payload=${payloadText(e.payload)}`;
  if (e.type === "published") return `published mid=${e.mid} qos=${e.qos} reason=${hex(e.reasonCode)}${e.error ? ` error=${e.error.code}` : ""}`;
  if (e.type === "subscribed" || e.type === "unsubscribed") return `${e.type} mid=${e.mid} reasons=[${e.reasonCodes.map(hex).join(",")}]`;
  if (e.type === "closed") return `closed ${e.reason.kind} reason=${hex(e.reason.reasonCode)}`;
  return `${e.type} reason=${hex(e.reasonCode)}`;
}

function describeClose(r: CloseReason, version: ProtocolVersion): string {
  const code = `reason code ${hex(r.reasonCode)} (${reasonCodeName(r.reasonCode, r.kind === "refused" ? "connack" : "disconnect")})`;
  if (r.kind === "refused") return `the broker refused the connection: CONNACK ${version === 5 ? code : `return code ${r.reasonCode} (${connackReturnCodeName(r.reasonCode)})`}`;
  if (r.kind === "protocol-error") return `the broker broke the protocol: ${r.error.code}: ${r.error.message}`;
  if (r.kind === "timeout") return `no ${r.timer.toUpperCase()} from the broker in time`;
  if (r.kind === "server-disconnect") return `the broker sent DISCONNECT with ${code}`;
  return r.kind === "transport" ? "the broker closed the connection" : "the connection was closed";
}

// ---- the conversation: the engine speaks MQTT, loop-external moves bytes and time ------

function main(): void {
  const opts = parseOptions(process.argv.slice(2), process.env);
  const suffix = randomBytes(4).toString("hex");
  const clientId = `sansmqtt-demo-${suffix}`;
  const topic = `sansmqtt/demo/${suffix}`;
  const outgoing = (["at most once", "at least once", "exactly once"] as const).map((how, qos) => ({ qos: qos as QoS, text: `hello at QoS ${qos} (${how})` }));
  const properties: Properties = { payloadFormatIndicator: 1, contentType: "text/plain", userProperties: [["sent-by", "sansmqtt demo"]] };
  const password = opts.password !== undefined ? { password: new TextEncoder().encode(opts.password) } : {};
  const username = opts.username !== undefined ? { username: opts.username } : {};
  const engine = new MqttConnection({ protocolVersion: opts.version, clientId, keepAlive: KEEP_ALIVE_S, ...username, ...password });
  // Two decoders only to print what goes over the wire; the engine has its own.
  const sentTap = new PacketDecoder({ protocolVersion: opts.version });
  const receivedTap = new PacketDecoder({ protocolVersion: opts.version });

  let phase: "tcp" | "connack" | "suback" | "exchange" | "keepalive" | "disconnecting" = "tcp";
  let toSend = outgoing; // all of them, unless the broker's maximum QoS is lower
  let granted: QoS = 2; // messages come back at most at the QoS granted to the subscription
  const unpublished = new Set<number>(); // mids still waiting for their `published` event
  const cameBack: QoS[] = [];
  let pingTimer: ReturnType<typeof setTimeout> | undefined;
  const waitingFor = (): string =>
    phase === "exchange"
      ? `${unpublished.size} published event(s) and ${toSend.length - cameBack.length} message(s) to come back`
      : { tcp: "the TCP connection", connack: "CONNACK", suback: "SUBACK", keepalive: "PINGRESP", disconnecting: "the broker to close the connection" }[phase];

  console.log(`demo: ${opts.version === 5 ? "MQTT 5" : "MQTT 3.1.1"} to ${opts.host}:${opts.port} as ${clientId}, topic ${topic}`);
  const deadline = setTimeout(() => fail(`timed out after ${TIMEOUT_MS / 1000} s waiting for ${waitingFor()}`), TIMEOUT_MS);

  function fail(message: string): never {
    console.error(`demo: error: ${message}`);
    loop.abort();
    process.exit(1);
  }

  /** Prints the packets in a copy of `chunk` (decoded payloads are views of it); returns them. */
  function tap(packets: PacketDecoder, chunk: Uint8Array, arrow: "->" | "<-"): Packet[] {
    const out: Packet[] = [];
    try {
      packets.push(chunk.slice());
      for (let p = packets.next(); p !== undefined; p = packets.next()) out.push(p);
    } catch (err) {
      fail(`undecodable bytes (${arrow}): ${err instanceof MqttError ? `${err.code}: ` : ""}${err instanceof Error ? err.message : String(err)}`);
    }
    for (const p of out) console.log(`${arrow} ${describe(p)}`);
    return out;
  }

  /** TCP to the broker, with every byte both ways printed as packets on its way. */
  function tappedTcp(): Transport {
    const tcp = new TcpTransport({ host: opts.host, port: opts.port });
    return {
      get state() {
        return tcp.state;
      },
      open: (h) =>
        tcp.open({
          ...h,
          onData: (chunk) => {
            const packets = tap(receivedTap, chunk, "<-");
            h.onData(chunk);
            if (phase === "keepalive" && packets.some((p) => p.type === "pingresp")) queueMicrotask(disconnect);
          },
        }),
      write: (chunks) => {
        for (const chunk of chunks) tap(sentTap, chunk, "->");
        return tcp.write(chunks);
      },
      close: (error) => tcp.close(error),
      socket: () => tcp.socket(),
    };
  }

  /** Handles one event. What a command issued here queues, the runner's next turn sends. */
  function onEvent(e: Event): void {
    console.log(`event ${describeEvent(e)}`);
    if (e.type === "connected") {
      const max = engine.serverLimits.maximumQoS;
      toSend = outgoing.filter((m) => m.qos <= max);
      if (max < 2) console.log(`demo: the broker's maximum QoS is ${max}; publishing only at QoS ${toSend.map((m) => m.qos).join(" and ")}`);
      phase = "suback";
      loop.subscribe({ topicFilter: topic, qos: 2 });
    } else if (e.type === "subscribed") {
      const code = e.reasonCodes[0] ?? 0x80;
      if (code >= 0x80) fail(`the broker refused the subscription: reason code ${hex(code)}`);
      granted = code as QoS;
      phase = "exchange";
      for (const m of toSend) {
        const request = { topic, payload: new TextEncoder().encode(m.text), qos: m.qos, ...(opts.version === 5 ? { properties } : {}) };
        unpublished.add(loop.publish(request));
      }
    } else if (e.type === "published") {
      if (e.reasonCode >= 0x80 || e.error) fail(`message ${e.mid} failed: reason code ${hex(e.reasonCode)}${e.error ? ` (${e.error.message})` : ""}`);
      unpublished.delete(e.mid);
    } else if (e.type === "message") {
      const { topic: t, qos, payload } = e;
      const text = decoder.decode(payload);
      if (t !== topic || !toSend.some((m) => m.text === text && Math.min(m.qos, granted) === qos)) fail(`a message came back changed: ${describeEvent(e)}`);
      cameBack.push(qos);
    } else if (e.type === "closed") {
      if (phase !== "disconnecting") fail(`${describeClose(e.reason, opts.version)}${e.reason.kind === "refused" ? "" : ` while waiting for ${waitingFor()}`}`);
    }
    if (phase === "exchange" && unpublished.size === 0 && cameBack.length === toSend.length) {
      console.log(`demo: all ${toSend.length} published and received (QoS ${cameBack.join(", ")}); idle until keep alive (${KEEP_ALIVE_S} s) pings`);
      phase = "keepalive";
      pingTimer = setTimeout(() => {
        console.log(`demo: no PINGRESP within ${PING_WAIT_MS / 1000} s (keep alive in force: ${engine.serverLimits.keepAlive} s); disconnecting anyway`);
        disconnect();
      }, PING_WAIT_MS);
    }
  }

  function disconnect(): void {
    if (phase === "disconnecting") return;
    clearTimeout(pingTimer);
    phase = "disconnecting";
    loop.disconnect(); // queues DISCONNECT; the loop writes it, reports `closed`, then closes the socket
  }

  const startedAt = performance.now();
  const loop = new ExternalLoop({
    engine,
    transport: tappedTcp,
    onEvent,
    onSocketOpen: () => (phase = "connack"),
    onSocketClose: () => {
      if (phase !== "disconnecting") return; // the `closed` event that follows says why
      clearTimeout(deadline);
      console.log(`demo: done in ${((performance.now() - startedAt) / 1000).toFixed(2)} s`);
    },
  });
  new LoopRunner(loop); // runs the loop on Node's event loop; failures arrive as the `closed` event
  loop.connect().catch((err: unknown) => fail(`cannot talk to ${opts.host}:${opts.port}: ${err instanceof Error ? err.message : String(err)}`));
}

main();
