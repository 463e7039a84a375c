/**
 * Port of Paho's examples/subscribe_simple.py: subscribe.simple() for two
 * messages, retained ones skipped (retained=False), then print each topic and
 * payload. Paho subscribes to "#"; the test passes its own topic.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t subscribe-simple
 */
import { subscribe, type MQTTMessage } from "@sansmqtt/client";
import { printer, pyBytes, type ExampleOptions } from "./common.js";

export async function run(options: ExampleOptions & { topics?: string[]; signal?: AbortSignal }): Promise<MQTTMessage[]> {
  const print = printer(options);
  const topics = options.topics ?? ["#"];
  const m = (await subscribe.simple(topics, {
    hostname: options.host,
    port: options.port,
    retained: false,
    msgCount: 2,
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  })) as MQTTMessage[];
  for (const a of m) {
    print(a.topic);
    print(pyBytes(a.payload));
  }
  return m;
}
