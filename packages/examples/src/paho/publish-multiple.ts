/**
 * Port of Paho's examples/publish_multiple.py: publish.multiple() with one
 * message as a dict (an object here) and one as a (topic, payload, qos,
 * retain) tuple (an array here), sent in order over one connection.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t publish-multiple
 */
import { publish, type HelperMessage, type HelperMessageTuple } from "@sansmqtt/client";
import type { ExampleOptions } from "./common.js";

export async function run(options: ExampleOptions & { topic?: string }): Promise<void> {
  const topic = options.topic ?? "paho/test/topic";
  const msgs: Array<HelperMessage | HelperMessageTuple> = [{ topic, payload: "multiple 1" }, [topic, "multiple 2", 0, false]];
  await publish.multiple(msgs, { hostname: options.host, port: options.port });
}
