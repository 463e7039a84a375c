/**
 * A durable publisher: sends the numbered messages 0..total-1 with a file
 * store, and may be killed (SIGKILL) at any instant and started again. The
 * next number to publish is the client's checkpoint, set after each publish,
 * so it is saved in the same write as the message: after a crash the program
 * resumes exactly after the last message its store holds, and the store
 * sends again what was in flight. Nothing is published twice, nothing skipped.
 *
 *   node publisher.mjs '<ChildConfig JSON>'
 * stdout lines: "start <next> <restored>", "at <next>" every 250 messages,
 * "failed <mid> <code>", "done <published by this run>".
 */
import { Client, MQTT_LOG_ERR, MQTT_LOG_WARNING, PublishError, type MQTTMessageInfo } from "@sansmqtt/client";
import { FileStore } from "@sansmqtt/store-file";
import { qosOf, type ChildConfig } from "./numbered.js";

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const window = config.window ?? 200;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const store = new FileStore(config.dir, config.clientId);
const client = new Client({ clientId: config.clientId, protocol: config.protocol, ...(config.protocol === 5 ? {} : { cleanSession: false }), store });
client.reconnectDelaySet(0.05, 0.5);
client.onLog = (_c, _u, level, line) => {
  if (level === MQTT_LOG_ERR || level === MQTT_LOG_WARNING) process.stderr.write(`publisher: ${line}\n`); // errors and warnings
};

const pending: MQTTMessageInfo[] = [];
/** A message that can no longer be delivered: the test counts it as lost. */
const watch = (info: MQTTMessageInfo): void => {
  pending.push(info);
  info.waitForPublish().catch((e: unknown) => say(`failed ${info.mid} ${e instanceof PublishError ? String((e.cause as { code?: string } | undefined)?.code ?? e.rc) : String(e)}`));
};

const restored = await client.loadSession();
for (const info of restored) watch(info);
let next = Number(client.checkpointGet() ?? "0");
say(`start ${next} ${restored.length}`);
const connectOptions = config.protocol === 5 ? { cleanStart: false, properties: { sessionExpiryInterval: 3600 } } : {};
client.connectAsync(config.host, config.port, 5, connectOptions);
client.loopStart();

let published = 0;
while (next < config.total) {
  // Flow control: wait for the oldest before going further than the window.
  while (pending.length >= window) await pending.shift()!.waitForPublish().catch(() => undefined);
  const k = next++;
  watch(client.publish(config.topic, String(k), qosOf(k)));
  client.checkpointSet(String(next));
  published++;
  if (next % 250 === 0) say(`at ${next}`);
  // Let the loop run now and then (the publish loop itself never waits otherwise).
  if (published % 50 === 0) await new Promise((r) => setImmediate(r));
}
for (const info of pending) await info.waitForPublish().catch(() => undefined);
await client.saveSession();
say(`done ${published}`);
client.disconnect();
await client.loopStop();
await store.close();
