/// <reference types="node" />
// sansmqtt demo: the codec from @sansmqtt/core, driven by hand over a plain
// node:net socket. It connects, subscribes to a topic of its own, publishes one
// message at each QoS (up to the maximum QoS an MQTT 5 broker announces),
// completes every acknowledgement flow in both directions, gets its messages
// back, disconnects and exits 0. Every packet sent and received is printed on
// one line.
//
//   node packages/demo/dist/main.js [--v311] [--broker HOST:PORT]
//
// The broker comes from --broker, else MQTT_BROKER (HOST:PORT), else MQTT_HOST and
// MQTT_TCP_PORT (set by scripts/with-broker.sh). MQTT_USERNAME and MQTT_PASSWORD
// log in, if set; the password is never printed. Exits 1 on any error and after
// 10 s without finishing, 2 on bad arguments.
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { encodePacket, MqttError, PacketDecoder, type Packet, type ProtocolVersion, type QoS } from "@sansmqtt/core";

type PacketOf<T extends Packet["type"]> = Extract<Packet, { type: T }>;
type Properties = NonNullable<PacketOf<"publish">["properties"]>;

const TIMEOUT_MS = 10_000;
const USAGE = "usage: node packages/demo/dist/main.js [--v311] [--broker HOST:PORT]";

// ---- options ------------------------------------------------------------------

interface Options {
  host: string;
  port: number;
  version: ProtocolVersion;
  username: string | undefined;
  password: string | undefined;
}

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

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
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

// ---- one-line packet descriptions ----------------------------------------------

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
    case "suback":
      return `SUBACK id=${p.packetId} reasons=[${p.reasonCodes.map(hex).join(",")}]${describeProperties(p.properties)}`;
    case "unsubscribe":
      return `UNSUBSCRIBE id=${p.packetId} ${p.topicFilters.map(quote).join(" ")}${describeProperties(p.properties)}`;
    case "unsuback":
      return `UNSUBACK id=${p.packetId} reasons=[${p.reasonCodes.map(hex).join(",")}]${describeProperties(p.properties)}`;
    case "pingreq":
    case "pingresp":
      return p.type.toUpperCase();
    case "disconnect":
      return `DISCONNECT reason=${hex(p.reasonCode)}${describeProperties(p.properties)}`;
    case "auth":
      return `AUTH reason=${hex(p.reasonCode)}${describeProperties(p.properties)}`;
  }
}

// ---- the conversation -----------------------------------------------------------

function main(): void {
  const opts = parseOptions(process.argv.slice(2), process.env);
  const suffix = randomBytes(4).toString("hex");
  const clientId = `sansmqtt-demo-${suffix}`;
  const topic = `sansmqtt/demo/${suffix}`;
  const versionName = opts.version === 5 ? "MQTT 5" : "MQTT 3.1.1";
  const outgoing: { qos: QoS; text: string }[] = [
    { qos: 0, text: "hello at QoS 0 (at most once)" },
    { qos: 1, text: "hello at QoS 1 (at least once)" },
    { qos: 2, text: "hello at QoS 2 (exactly once)" },
  ];

  let nextPacketId = 1;
  let waitingFor = "the TCP connection";
  let subscribeId = 0;
  let published = false;
  let disconnecting = false;
  /** Our QoS 1/2 publishes: the acknowledgement each one waits for next. */
  const awaitingAck = new Map<number, "puback" | "pubrec" | "pubcomp">();
  /** Incoming QoS 2 publishes we answered with PUBREC, waiting for PUBREL. */
  const awaitingPubrel = new Set<number>();
  const receivedBack: { qos: QoS; text: string }[] = [];
  /** What we publish: all of `outgoing`, unless the broker's maximum QoS is lower. */
  let toSend = outgoing;
  /** The QoS the broker granted our subscription; messages come back at most at that QoS. */
  let granted: QoS = 2;

  console.log(`demo: ${versionName} to ${opts.host}:${opts.port} as ${clientId}, topic ${topic}`);
  const socket = connect({ host: opts.host, port: opts.port });
  const packets = new PacketDecoder({ protocolVersion: opts.version });

  const timer = setTimeout(() => fail(`timed out after ${TIMEOUT_MS / 1000} s waiting for ${waitingFor}`), TIMEOUT_MS);

  function fail(message: string): never {
    console.error(`demo: error: ${message}`);
    socket.destroy();
    process.exit(1);
  }

  function send(packet: Packet): void {
    const bytes = encodePacket(packet, opts.version);
    console.log(`-> ${describe(packet)}`);
    socket.write(bytes);
  }

  function finishIfDone(): void {
    if (!published || awaitingAck.size > 0 || awaitingPubrel.size > 0 || receivedBack.length < toSend.length) {
      const parts: string[] = [];
      if (awaitingAck.size > 0) parts.push(`${[...awaitingAck.values()].map((t) => t.toUpperCase()).join(", ")} for our publishes`);
      if (awaitingPubrel.size > 0) parts.push("PUBREL for an incoming QoS 2 message");
      if (receivedBack.length < toSend.length) parts.push(`${toSend.length - receivedBack.length} of our messages to come back`);
      if (published) waitingFor = parts.join(" and ");
      return;
    }
    console.log(`demo: all ${receivedBack.length} messages came back (${receivedBack.map((m) => `QoS ${m.qos}`).join(", ")}), every flow acknowledged`);
    disconnecting = true;
    waitingFor = "the broker to close the connection after DISCONNECT";
    send({ type: "disconnect", reasonCode: 0 });
    socket.end();
  }

  function onPacket(p: Packet): void {
    console.log(`<- ${describe(p)}`);
    switch (p.type) {
      case "connack": {
        if (p.reasonCode !== 0) fail(`the broker refused the connection: CONNACK reason code ${hex(p.reasonCode)}`);
        const maximumQoS = p.properties?.maximumQoS;
        if (maximumQoS !== undefined && maximumQoS < 2) {
          toSend = outgoing.filter((m) => m.qos <= maximumQoS);
          console.log(`demo: the broker's maximum QoS is ${maximumQoS}; publishing only at QoS ${toSend.map((m) => m.qos).join(" and ")}`);
        }
        subscribeId = nextPacketId++;
        waitingFor = "SUBACK";
        send({ type: "subscribe", packetId: subscribeId, subscriptions: [{ topicFilter: topic, qos: 2 }] });
        return;
      }
      case "suback": {
        if (p.packetId !== subscribeId) fail(`SUBACK for packet ${p.packetId}, expected ${subscribeId}`);
        const code = p.reasonCodes[0];
        if (code === undefined || code > 2) fail(`the broker refused the subscription: reason code ${hex(code ?? 0x80)}`);
        granted = code as QoS;
        for (const m of toSend) {
          const properties: Properties | undefined =
            opts.version === 5 ? { payloadFormatIndicator: 1, contentType: "text/plain", userProperties: [["sent-by", "sansmqtt demo"]] } : undefined;
          const base = { type: "publish" as const, topic, payload: new TextEncoder().encode(m.text), qos: m.qos, retain: false, dup: false };
          const packet: PacketOf<"publish"> = {
            ...base,
            ...(m.qos > 0 ? { packetId: nextPacketId++ } : {}),
            ...(properties ? { properties } : {}),
          };
          if (packet.packetId !== undefined) awaitingAck.set(packet.packetId, m.qos === 1 ? "puback" : "pubrec");
          send(packet);
        }
        published = true;
        finishIfDone();
        return;
      }
      case "publish": {
        if (p.topic !== topic) return; // not ours (cannot happen with this subscription)
        if (p.qos === 1) send({ type: "puback", packetId: p.packetId!, reasonCode: 0 });
        if (p.qos === 2) {
          const again = awaitingPubrel.has(p.packetId!);
          send({ type: "pubrec", packetId: p.packetId!, reasonCode: 0 });
          awaitingPubrel.add(p.packetId!);
          if (again) return; // a redelivery of a message we already have: exactly once
        }
        const text = decoder.decode(p.payload);
        if (!toSend.some((m) => m.text === text && Math.min(m.qos, granted) === p.qos)) fail(`a message came back changed: qos ${p.qos}, ${quote(text)}`);
        receivedBack.push({ qos: p.qos, text });
        finishIfDone();
        return;
      }
      case "pubrel": {
        if (!awaitingPubrel.delete(p.packetId)) fail(`PUBREL for packet ${p.packetId}, which no PUBREC of ours answered`);
        send({ type: "pubcomp", packetId: p.packetId, reasonCode: 0 });
        finishIfDone();
        return;
      }
      case "puback":
      case "pubrec":
      case "pubcomp": {
        const expected = awaitingAck.get(p.packetId);
        if (expected !== p.type) fail(`unexpected ${p.type.toUpperCase()} for packet ${p.packetId}`);
        if (p.reasonCode >= 0x80) fail(`the broker refused publish ${p.packetId}: ${p.type.toUpperCase()} reason code ${hex(p.reasonCode)}`);
        if (p.type === "pubrec") {
          awaitingAck.set(p.packetId, "pubcomp");
          send({ type: "pubrel", packetId: p.packetId, reasonCode: 0 });
        } else {
          awaitingAck.delete(p.packetId);
        }
        finishIfDone();
        return;
      }
      case "disconnect":
        return fail(`the broker sent DISCONNECT with reason code ${hex(p.reasonCode)}`);
      case "pingresp":
        return;
      default:
        fail(`unexpected ${p.type.toUpperCase()} from the broker`);
    }
  }

  socket.on("connect", () => {
    waitingFor = "CONNACK";
    send({
      type: "connect",
      protocolVersion: opts.version,
      clean: true,
      keepAlive: 30,
      clientId,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
      ...(opts.password !== undefined ? { password: new TextEncoder().encode(opts.password) } : {}),
    });
  });

  socket.on("data", (chunk: Buffer) => {
    const decodeError = (err: unknown): never =>
      fail(`the broker sent bytes the codec rejects: ${err instanceof MqttError ? `${err.code}: ` : ""}${String((err as Error).message ?? err)}`);
    try {
      packets.push(chunk);
    } catch (err) {
      decodeError(err);
    }
    for (;;) {
      let p: Packet | undefined;
      try {
        p = packets.next();
      } catch (err) {
        decodeError(err);
      }
      if (p === undefined) return;
      try {
        onPacket(p);
      } catch (err) {
        fail(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  });

  socket.on("error", (err: NodeJS.ErrnoException) => {
    fail(disconnecting ? `after DISCONNECT: ${err.message}` : `cannot talk to ${opts.host}:${opts.port}: ${err.message}`);
  });

  socket.on("close", () => {
    if (!disconnecting) fail(`the broker closed the connection while we were waiting for ${waitingFor}`);
    clearTimeout(timer);
    console.log("demo: done");
  });
}

main();
