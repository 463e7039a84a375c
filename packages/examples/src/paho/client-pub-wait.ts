/**
 * Port of Paho's examples/client_pub-wait.py: loop_start(), then two QoS 2
 * publishes, one read as the (rc, mid) tuple and one kept as the
 * MQTTMessageInfo whose wait_for_publish() blocks until PUBCOMP. Here
 * waitForPublish is a Promise (with a timeout, which Paho's lacks).
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t client-pub-wait
 */
import { CallbackAPIVersion, Client, type ReasonCode } from "@sansmqtt/client";
import { printer, type ExampleOptions } from "./common.js";

export interface ClientPubWaitOptions extends ExampleOptions {
  /** Paho publishes to "tuple" and "class"; a prefix keeps test runs apart. */
  topicPrefix?: string;
}

export async function run(options: ClientPubWaitOptions): Promise<{ tupleMid: number; infoMid: number; published: number[]; isPublished: boolean }> {
  const print = printer(options);
  const prefix = options.topicPrefix ?? "";
  const published: number[] = [];

  const mqttc = new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2 });
  mqttc.onConnect = (_c, _obj, _flags, reasonCode: ReasonCode) => print(`reason_code: ${reasonCode}`);
  mqttc.onPublish = (_c, _obj, mid) => {
    print(`mid: ${mid}`);
    published.push(mid);
  };
  await mqttc.connect(options.host, options.port, 60);
  mqttc.loopStart();

  // Paho: (rc, mid) = mqttc.publish("tuple", "bar", qos=2)
  // MQTTMessageInfo iterates as Paho's (rc, mid) tuple.
  const [rc, tupleMid] = [...mqttc.publish(`${prefix}tuple`, "bar", 2)] as [number, number];
  print(`tuple: rc=${rc} mid=${tupleMid}`);
  // Paho: infot = mqttc.publish("class", "bar", qos=2); infot.wait_for_publish()
  const infot = mqttc.publish(`${prefix}class`, "bar", 2);
  await infot.waitForPublish(5_000);
  const isPublished = infot.isPublished();
  print(`class: mid=${infot.mid} published=${isPublished}`);

  mqttc.disconnect();
  await mqttc.loopStop();
  return { tupleMid, infoMid: infot.mid, published, isPublished };
}
