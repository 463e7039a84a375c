/**
 * Port of Paho's examples/subscribe_callback.py: subscribe.callback() with a
 * function printing "topic : payload" for every message. Paho's call never
 * returns; here the callback disconnects after `count` messages, which
 * resolves the Promise.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t subscribe-callback
 */
import { subscribe, type Client, type MQTTMessage } from "@sansmqtt/client";
import { printer, pyBytes, type ExampleOptions } from "./common.js";

export async function run(options: ExampleOptions & { topic?: string; count?: number; signal?: AbortSignal }): Promise<number> {
  const print = printer(options);
  const count = options.count ?? 1;
  let seen = 0;

  const printMsg = (client: Client, _userdata: unknown, message: MQTTMessage): void => {
    print(`${message.topic} : ${pyBytes(message.payload)}`);
    if (++seen === count) client.disconnect();
  };

  await subscribe.callback(printMsg, options.topic ?? "#", {
    hostname: options.host,
    port: options.port,
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  return seen;
}
