/**
 * A durable subscriber: receives the numbered messages with a file store,
 * may be killed (SIGKILL) at any instant and started again. What it has
 * handled is a Tally kept as the client's checkpoint, so it is saved in the
 * same write as the session state that acknowledges the message: a message
 * whose PUBACK/PUBREC went out is in the saved tally, and one that is not in
 * the saved tally is sent again by the broker. So the saved tally counts each
 * QoS 2 message exactly once, and "again" counts only QoS 1 repeats.
 *
 *   node subscriber.mjs '<ChildConfig JSON>'
 * stdout lines: "ready <distinct>", "at <distinct>" every 250 new messages,
 * "complete <tally JSON>".
 */
import { Client, MQTT_LOG_ERR, MQTT_LOG_WARNING } from "@sansmqtt/client";
import { FileStore } from "@sansmqtt/store-file";
import { Tally, type ChildConfig } from "./numbered.js";

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const store = new FileStore(config.dir, config.clientId);
const client = new Client({ clientId: config.clientId, protocol: config.protocol, ...(config.protocol === 5 ? {} : { cleanSession: false }), store });
client.reconnectDelaySet(0.05, 0.5);
client.onLog = (_c, _u, level, line) => {
  if (level === MQTT_LOG_ERR || level === MQTT_LOG_WARNING) process.stderr.write(`subscriber: ${line}\n`);
};

await client.loadSession();
const saved = client.checkpointGet();
const tally = saved === undefined ? new Tally(config.total) : Tally.decode(saved);
let finished = false;
const finish = async (): Promise<void> => {
  finished = true;
  await client.saveSession();
  say(`complete ${tally.encode()}`);
  client.disconnect();
  await client.loopStop();
  await store.close();
};

if (tally.distinct === tally.total) {
  // Everything arrived before the last kill: nothing left to wait for.
  await finish();
  process.exit(0);
}

client.onMessage = (_c, _u, m) => {
  if (tally.add(Number(m.text())) && tally.distinct % 250 === 0) say(`at ${tally.distinct}`);
  client.checkpointSet(tally.encode());
  // Exits once the store is closed: the test reads the store after this process is gone.
  if (tally.distinct === tally.total && !finished) void finish().then(() => process.exit(0));
};
let subscribed = saved !== undefined;
client.onConnect = (c, _u, _flags, rc) => {
  if (rc.isFailure) return;
  if (!subscribed) {
    c.subscribe(config.topic, 2);
  } else say(`ready ${tally.distinct}`);
};
client.onSubscribe = () => {
  subscribed = true;
  // The tally is saved with the subscription in the session: a restart knows it subscribed.
  client.checkpointSet(tally.encode());
  void client.saveSession().then(() => say(`ready ${tally.distinct}`));
};
const connectOptions = config.protocol === 5 ? { cleanStart: false, properties: { sessionExpiryInterval: 3600 } } : {};
client.connectAsync(config.host, config.port, 5, connectOptions);
client.loopStart();
