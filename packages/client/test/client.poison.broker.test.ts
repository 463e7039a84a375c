// A message the broker will never take: mosquitto (a broker of the test's own,
// max_packet_size 1000) closes the connection on every 3.1.1 PUBLISH over 1,000
// bytes. Paho resends it on every reconnect, forever; here it is sent on at
// most maxSendAttempts connections and then fails with ERR_SEND_ATTEMPTS, and
// the messages behind it get through.
import { RestartableBroker, uniqueClientId, uniqueTopic } from "@sansmqtt/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, PublishError } from "../src/index.js";
import { waitFor } from "./helpers.js";

let broker: RestartableBroker;
beforeAll(async () => {
  broker = await RestartableBroker.start({ persistence: false, extraConfig: ["max_packet_size 1000"] });
});
afterAll(() => broker?.stop());

describe("a message the broker refuses on every send", () => {
  it("is sent on maxSendAttempts connections, then fails with ERR_SEND_ATTEMPTS; the messages behind it are delivered", async () => {
    const topic = uniqueTopic("poison");
    const sub = new Client({ clientId: uniqueClientId("poison-sub") });
    const got: string[] = [];
    sub.onMessage = (_c, _u, m) => got.push(m.text());
    let granted = false;
    sub.onSubscribe = () => (granted = true);
    sub.onConnect = (c) => c.subscribe(topic, 1);
    await sub.connect(broker.host, broker.port, 30);
    sub.loopStart();
    await waitFor("SUBACK", () => granted);

    const pub = new Client({ clientId: uniqueClientId("poison-pub"), cleanSession: false, maxSendAttempts: 3 });
    pub.reconnectDelaySet(0.05, 0.1);
    let connections = 0;
    let disconnects = 0;
    pub.onConnect = () => connections++;
    pub.onDisconnect = () => disconnects++;
    try {
      await pub.connect(broker.host, broker.port, 30);
      pub.loopStart();
      await waitFor("onConnect", () => connections > 0);
      const poison = pub.publish(topic, new Uint8Array(2_000), 1);
      const fine = [1, 2, 3].map((i) => pub.publish(topic, `fine ${i}`, 1));
      const failure = await poison.waitForPublish(20_000).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(PublishError);
      expect((failure as PublishError).cause).toMatchObject({ code: "ERR_SEND_ATTEMPTS" });
      // One connection per attempt ended by the broker; the next one carries on without it.
      expect(disconnects).toBe(3);
      for (const f of fine) await f.waitForPublish(10_000);
      await waitFor("the three messages behind it", () => got.length >= 3);
      expect(got).toEqual(["fine 1", "fine 2", "fine 3"]);
    } finally {
      pub.disconnect();
      await pub.loopStop();
      sub.disconnect();
      await sub.loopStop();
    }
  });

  it("maxSendAttempts is checked at construction (ERR_CLIENT_ARGUMENT)", () => {
    expect(() => new Client({ maxSendAttempts: 0 })).toThrow(expect.objectContaining({ code: "ERR_CLIENT_ARGUMENT" }));
    expect(() => new Client({ maxSendAttempts: 1.5 })).toThrow(expect.objectContaining({ code: "ERR_CLIENT_ARGUMENT" }));
  });
});
