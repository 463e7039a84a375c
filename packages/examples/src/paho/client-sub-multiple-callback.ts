/**
 * Port of Paho's examples/client_sub-multiple-callback.py: one subscription to
 * a whole tree, with message_callback_add() routing part of it to their own
 * callbacks: "<base>/broker/messages/#" to on_message_msgs,
 * "<base>/broker/bytes/#" to on_message_bytes, and everything else to
 * on_message. Paho's tree is "$SYS"; the test passes a base it publishes
 * under. Paho's runs loop_forever() until interrupted; this one disconnects
 * after `count` messages.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t client-sub-multiple-callback
 */
import { CallbackAPIVersion, Client, type MQTTMessage } from "@sansmqtt/client";
import { printer, pyBytes, type ExampleOptions } from "./common.js";

export interface MultipleCallbackOptions extends ExampleOptions {
  base?: string;
  count?: number;
  /** Called once the subscription is in place (the test publishes then). */
  onReady?: () => void;
}

export type Route = "msgs" | "bytes" | "other";

export async function run(options: MultipleCallbackOptions): Promise<Array<[Route, string]>> {
  const print = printer(options);
  const base = options.base ?? "$SYS";
  const count = options.count ?? 3;
  const routed: Array<[Route, string]> = [];
  const seen = (mqttc: Client, route: Route, msg: MQTTMessage): void => {
    routed.push([route, msg.topic]);
    if (routed.length === count) mqttc.disconnect();
  };

  const onMessageMsgs = (mqttc: Client, _obj: unknown, msg: MQTTMessage): void => {
    print(`MESSAGES: ${msg.topic} ${msg.qos} ${pyBytes(msg.payload)}`);
    seen(mqttc, "msgs", msg);
  };
  const onMessageBytes = (mqttc: Client, _obj: unknown, msg: MQTTMessage): void => {
    print(`BYTES: ${msg.topic} ${msg.qos} ${pyBytes(msg.payload)}`);
    seen(mqttc, "bytes", msg);
  };
  const onMessage = (mqttc: Client, _obj: unknown, msg: MQTTMessage): void => {
    print(`${msg.topic} ${msg.qos} ${pyBytes(msg.payload)}`);
    seen(mqttc, "other", msg);
  };

  const mqttc = new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2 });
  // Add the specific callbacks before connecting, so no message misses its route.
  mqttc.messageCallbackAdd(`${base}/broker/messages/#`, onMessageMsgs);
  mqttc.messageCallbackAdd(`${base}/broker/bytes/#`, onMessageBytes);
  mqttc.onMessage = onMessage;
  mqttc.onSubscribe = () => options.onReady?.();
  await mqttc.connect(options.host, options.port, 60);
  mqttc.subscribe(`${base}/#`, 0);
  await mqttc.loopForever();
  return routed;
}
