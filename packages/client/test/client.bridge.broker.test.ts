// enableBridgeMode (Paho's enable_bridge_mode) against the throwaway mosquitto:
// the CONNECT's protocol level carries the bridge bit, so mosquitto does not
// send a bridge its own messages back; an ordinary client gets its own.
import { uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { MQTTv31, MQTTv311, type Client } from "../src/index.js";
import { Clients, connectStarted, sleep, waitFor } from "./helpers.js";

const clients = new Clients();
afterEach(() => clients.cleanup());

async function echoOfOwn(c: Client): Promise<string[]> {
  const topic = uniqueTopic("bridge");
  const got: string[] = [];
  c.onMessage = (_c, _u, m) => got.push(m.text());
  await connectStarted(c);
  let granted = false;
  c.onSubscribe = () => (granted = true);
  c.subscribe(topic, 1);
  await waitFor("SUBACK", () => granted);
  await c.publish(topic, "own", 1).waitForPublish(5_000);
  // A marker from another client: once it is here, our own message would have been too.
  const other = clients.make("bridge-other");
  await connectStarted(other);
  await other.publish(topic, "marker", 1).waitForPublish(5_000);
  await waitFor("the marker", () => got.includes("marker"));
  await sleep(50);
  return got;
}

describe("enableBridgeMode", () => {
  for (const [name, protocol] of [["3.1.1", MQTTv311], ["3.1", MQTTv31]] as const) {
    it(`${name}: mosquitto accepts the bridge CONNECT and does not send the bridge its own message back; an ordinary client gets it`, async () => {
      const id = (label: string): string => `${label}-${Math.random().toString(36).slice(2, 10)}`;
      const bridge = clients.make("unused", { clientId: id("br"), protocol });
      bridge.enableBridgeMode();
      expect(await echoOfOwn(bridge)).toEqual(["marker"]);
      const plain = clients.make("unused", { clientId: id("pl"), protocol });
      expect((await echoOfOwn(plain)).sort()).toEqual(["marker", "own"]);
    });
  }
});
