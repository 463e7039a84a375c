/**
 * Port of Paho's examples/publish_single.py: one message with
 * publish.single(topic, payload, hostname=...). The call resolves once the
 * message is published and the client has disconnected.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t publish-single
 */
import { publish } from "@sansmqtt/client";
import type { ExampleOptions } from "./common.js";

export async function run(options: ExampleOptions & { topic?: string }): Promise<void> {
  await publish.single(options.topic ?? "paho/test/topic", "payload", { hostname: options.host, port: options.port });
}
