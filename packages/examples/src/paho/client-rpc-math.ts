/**
 * Port of Paho's examples/client_rpc_math.py and server_rpc_math.py: MQTT 5
 * request / response. The server subscribes to "requests/math/#", adds the
 * numbers of each request and publishes the sum to the request's
 * ResponseTopic with the same CorrelationData. The client subscribes to its
 * own reply topic, publishes "add" with those two properties, and waits for
 * the reply whose CorrelationData matches.
 *
 * Both sides are here: `runServer` (resolves a stop function) and `runClient`;
 * `run` starts the server, asks once, and stops it.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t client-rpc-math
 */
import { CallbackAPIVersion, Client, MQTTv5, type MQTTMessage } from "@sansmqtt/client";
import { printer, type ExampleOptions } from "./common.js";

export interface RpcOptions extends ExampleOptions {
  /** Paho's topics are "requests/math/<func>" and "replies/math/<id>"; a prefix keeps test runs apart. */
  prefix?: string;
  /** How long the client waits for its reply, default 5 s. */
  timeoutMs?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Starts the math server; resolves (subscribed) with a function that stops it. */
export async function runServer(options: RpcOptions): Promise<() => Promise<void>> {
  const print = printer(options);
  const prefix = options.prefix ?? "";
  const mqttc = new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2, protocol: MQTTv5 });
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));

  mqttc.onConnect = (c, _ud, _flags, reasonCode) => {
    print(`Server connected: ${reasonCode}`);
    // In on_connect, so a reconnect subscribes again.
    c.subscribe(`${prefix}requests/math/#`, 1);
  };
  mqttc.onSubscribe = () => subscribed();
  mqttc.onMessage = (c, _ud, msg: MQTTMessage) => {
    const func = msg.topic.split("/").at(-1);
    const props = msg.properties ?? {};
    if (props.responseTopic === undefined) {
      print(`No reply requested for ${msg.topic}`);
      return;
    }
    const args = JSON.parse(msg.text()) as number[];
    let result: number | string;
    if (func === "add") result = args.reduce((a, b) => a + b, 0);
    else if (func === "mult") result = args.reduce((a, b) => a * b, 1);
    else result = `Unknown function: ${String(func)}`;
    print(`Server: ${func}(${args.join(", ")}) = ${result}`);
    // The reply carries the request's CorrelationData back, so the client can match it.
    const reply = props.correlationData !== undefined ? { correlationData: props.correlationData } : {};
    c.publish(props.responseTopic, JSON.stringify(result), 1, false, reply);
  };

  await mqttc.connect(options.host, options.port, 60);
  mqttc.loopStart();
  await ready;
  return async () => {
    mqttc.disconnect();
    await mqttc.loopStop();
  };
}

/** Asks the server to apply `func` to `args`; resolves with the reply. */
export async function runClient(options: RpcOptions & { func?: string; args?: number[] }): Promise<{ reply: unknown; correlated: boolean }> {
  const print = printer(options);
  const prefix = options.prefix ?? "";
  const func = options.func ?? "add";
  const args = options.args ?? [7, 5];
  const clientId = `rpc-client-${Math.random().toString(36).slice(2, 10)}`;
  const replyTo = `${prefix}replies/math/${clientId}`;
  const correlationData = encoder.encode(`${clientId}-1`);

  const mqttc = new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2, clientId, protocol: MQTTv5 });
  let resolveReply!: (m: MQTTMessage) => void;
  const replied = new Promise<MQTTMessage>((resolve) => (resolveReply = resolve));

  mqttc.onConnect = (c) => c.subscribe(replyTo, 1);
  mqttc.onSubscribe = (c) => {
    // Only once the reply topic is subscribed: a reply sent before would be lost.
    print(`Client: sending ${func}(${args.join(", ")})`);
    c.publish(`${prefix}requests/math/${func}`, JSON.stringify(args), 1, false, { responseTopic: replyTo, correlationData });
  };
  mqttc.onMessage = (_c, _ud, msg) => resolveReply(msg);

  await mqttc.connect(options.host, options.port, 60);
  mqttc.loopStart();
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Bounded: no server, no reply (Paho's example would wait forever).
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${options.timeoutMs ?? 5_000} ms`)), options.timeoutMs ?? 5_000);
  });
  try {
    const msg = await Promise.race([replied, timedOut]);
    const got = msg.properties?.correlationData;
    const correlated = got !== undefined && decoder.decode(got) === decoder.decode(correlationData);
    const reply = JSON.parse(msg.text()) as unknown;
    print(`Client: reply ${String(reply)} (correlated: ${correlated})`);
    return { reply, correlated };
  } finally {
    clearTimeout(timer);
    mqttc.disconnect();
    await mqttc.loopStop();
  }
}

/** The server and one request: 7 + 5. */
export async function run(options: RpcOptions & { func?: string; args?: number[] }): Promise<{ reply: unknown; correlated: boolean }> {
  const stop = await runServer(options);
  try {
    return await runClient(options);
  } finally {
    await stop();
  }
}
