/**
 * Port of Paho's examples/client_sub.py: a Client with on_connect, on_message,
 * on_subscribe and on_log, subscribed to a topic, printing each message as
 * "topic qos payload". Paho's runs loop_forever() until interrupted; this one
 * disconnects after `count` messages (loopForever then resolves) so a test can
 * run it. Paho subscribes to "$SYS/#"; the default here is the same.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t "client-sub:"
 */
import { CallbackAPIVersion, Client, type MQTTMessage, type ReasonCode } from "@sansmqtt/client";
import { printer, pyBytes, type ExampleOptions } from "./common.js";

export interface ClientSubOptions extends ExampleOptions {
  topic?: string;
  /** Messages to print before disconnecting (Paho's runs forever). */
  count?: number;
  /** on_log prints the client's log lines too, as Paho's example does. */
  logToo?: boolean;
}

export async function run(options: ClientSubOptions): Promise<{ messages: MQTTMessage[]; rc: number }> {
  const print = printer(options);
  const count = options.count ?? 1;
  const messages: MQTTMessage[] = [];

  const onConnect = (_mqttc: Client, _obj: unknown, _flags: unknown, reasonCode: ReasonCode): void => print(`reason_code: ${reasonCode}`);
  const onMessage = (mqttc: Client, _obj: unknown, msg: MQTTMessage): void => {
    print(`${msg.topic} ${msg.qos} ${pyBytes(msg.payload)}`);
    messages.push(msg);
    if (messages.length === count) mqttc.disconnect();
  };
  const onSubscribe = (_mqttc: Client, _obj: unknown, mid: number, reasonCodeList: ReasonCode[]): void =>
    print(`Subscribed: ${mid} [${reasonCodeList.join(", ")}]`);
  const onLog = (_mqttc: Client, _obj: unknown, _level: number, text: string): void => print(text);

  const mqttc = new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2 });
  mqttc.onMessage = onMessage;
  mqttc.onConnect = onConnect;
  mqttc.onSubscribe = onSubscribe;
  if (options.logToo) mqttc.onLog = onLog;
  await mqttc.connect(options.host, options.port, 60);
  // As Paho: subscribe() right after connect() queues the SUBSCRIBE behind the CONNECT.
  mqttc.subscribe(options.topic ?? "$SYS/#");
  const rc = await mqttc.loopForever();
  return { messages, rc };
}
