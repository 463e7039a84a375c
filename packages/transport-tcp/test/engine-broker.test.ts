// The Sans-IO engine (MqttConnection) against the real mosquitto over the
// TcpTransport, driven by loop-external (test-support's EngineDriver: an
// ExternalLoop run by its LoopRunner). Proves the engine interoperates with a real broker for MQTT
// 3.1.1 and 5: QoS 0/1/2 both ways, flow control with topic aliases, and a
// persistent session resumed across connections.
import { afterEach, describe, expect, it } from "vitest";
import type { ConnectionOptions, ProtocolVersion } from "@sansmqtt/core";
import { brokerEnv, brokerPort, EngineDriver, text, uniqueClientId, uniqueTopic } from "@sansmqtt/test-support";
import { TcpTransport } from "../src/index.js";

const open: EngineDriver[] = [];
/** The engine over a TcpTransport, driven by test-support's one loop. */
function client(options: ConnectionOptions): EngineDriver {
  const d = new EngineDriver(new TcpTransport({ host: brokerEnv("MQTT_HOST"), port: brokerPort("MQTT_TCP_PORT") }), options);
  open.push(d);
  return d;
}
afterEach(() => {
  for (const d of open.splice(0)) d.close();
});

const messages = (d: EngineDriver): string[] => d.messages();

describe.each([4, 5] as ProtocolVersion[])("engine against mosquitto, MQTT %s", (version) => {
  const v = version === 5 ? "5.0" : "3.1.1";

  it(`${v}: QoS 0, 1 and 2 go out, come back once each, and complete`, async () => {
    const d = client({ protocolVersion: version, clientId: uniqueClientId("engine"), keepAlive: 30 });
    expect(await d.open()).toMatchObject({ type: "connected", sessionPresent: false });
    const topic = uniqueTopic("engine");
    const sub = d.run((c, t) => c.subscribe(t, { topicFilter: topic, qos: 2 }));
    expect(await d.next((e) => e.type === "subscribed")).toMatchObject({ mid: sub, reasonCodes: [2] });
    const mids = ([0, 1, 2] as const).map((qos) => d.run((c, t) => c.publish(t, { topic, payload: text(`q${qos}`), qos })));
    for (const mid of mids) {
      expect(await d.next((e) => e.type === "published" && e.mid === mid)).toMatchObject({ reasonCode: 0 });
    }
    await d.next(() => messages(d).length === 3);
    expect(messages(d).sort()).toEqual(["q0", "q1", "q2"]);
    d.run((c, t) => c.disconnect(t));
    expect(await d.next((e) => e.type === "closed")).toMatchObject({ reason: { kind: "local" } });
  });

  it(`${v}: 200 QoS 1 messages through a window of 5${version === 5 ? ", with automatic topic aliases" : ""}, in order`, async () => {
    const d = client({
      protocolVersion: version,
      clientId: uniqueClientId("window"),
      maxInflight: 5,
      ...(version === 5 ? { autoTopicAlias: true, properties: { topicAliasMaximum: 10 } } : {}),
    });
    await d.open();
    const base = uniqueTopic("window");
    d.run((c, t) => c.subscribe(t, { topicFilter: `${base}/+`, qos: 1 }));
    await d.next((e) => e.type === "subscribed");
    for (let i = 0; i < 200; i++) d.run((c, t) => c.publish(t, { topic: `${base}/${i % 3}`, payload: text(String(i)), qos: 1 }));
    expect(d.conn.inflightCount).toBeLessThanOrEqual(5);
    // The last PUBACK may come after the last message is back (the broker's order): wait for both.
    const published = (): number => d.events.filter((e) => e.type === "published").length;
    await d.next(() => messages(d).length === 200 && published() === 200, 10_000);
    expect(messages(d)).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
  });

  it(`${v}: a persistent session is resumed: messages published while away arrive on reconnect`, async () => {
    const id = uniqueClientId("persist");
    const topic = uniqueTopic("persist");
    const options: ConnectionOptions = { protocolVersion: version, clientId: id, clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) };
    const a = client(options);
    // MQTT 5 can start clean and keep the session afterwards; in 3.1.1 a clean
    // session ends with its connection, so it starts persistent (a new client id).
    await a.open(version === 5);
    a.run((c, t) => c.subscribe(t, { topicFilter: topic, qos: 1 }));
    await a.next((e) => e.type === "subscribed");
    a.run((c, t) => c.disconnect(t));
    await a.next((e) => e.type === "closed");

    const b = client({ protocolVersion: version, clientId: uniqueClientId("sender") });
    await b.open();
    const mid = b.run((c, t) => c.publish(t, { topic, payload: text("while away"), qos: 1 }));
    await b.next((e) => e.type === "published" && e.mid === mid);

    const back = client(options);
    back.conn.importSession(0, a.conn.exportSession(0));
    expect(await back.open()).toMatchObject({ type: "connected", sessionPresent: true });
    await back.next((e) => e.type === "message");
    expect(messages(back)).toEqual(["while away"]);
    // Clean up the broker's session.
    back.run((c, t) => c.disconnect(t, version === 5 ? { properties: { sessionExpiryInterval: 0 } } : {}));
    await back.next((e) => e.type === "closed");
  });
});
