// Incoming QoS 1/2 acknowledgements against the throwaway mosquitto: acked after
// the message callbacks return (as Paho), also when one throws; with manualAck,
// only by ack(mid, qos): a message not acked comes again (dup) on the resumed
// session, an acked one does not. Every wait is bounded (helpers.waitFor).
import { uniqueClientId, uniqueTopic } from "@sansmqtt/test-broker";
import { afterEach, describe, expect, it } from "vitest";
import { MQTT_LOG_ERR, MQTTv311, MQTTv5, type Client, type MQTTMessage, type MQTTProtocolVersion } from "../src/index.js";
import { autoAck, manualAckQos1, manualAckQos2, type Broker, type SessionKeeping } from "./scenarios.js";
import { Clients, HOST, TCP_PORT, connectStarted, sleep, waitFor } from "./helpers.js";

const clients = new Clients();
afterEach(() => clients.cleanup());

/** A client whose session outlives its connections: 3.1.1 cleanSession false, MQTT 5 a session expiry. */
function persistent(label: string, protocol: MQTTProtocolVersion, options: { manualAck?: boolean } = {}): Client {
  const clientId = uniqueClientId(label);
  return protocol === 5 ? clients.make(label, { clientId, protocol, ...options }) : clients.make(label, { clientId, protocol, cleanSession: false, ...options });
}

/** connect() with the session expiry MQTT 5 needs to keep the session; loopStart. */
async function start(c: Client, connects: Array<{ sessionPresent: boolean }>): Promise<void> {
  const previous = c.onConnect;
  c.onConnect = (client, u, flags, rc, props) => {
    if (!rc.isFailure) connects.push(flags);
    previous?.(client, u, flags, rc, props);
  };
  await c.connect(HOST(), TCP_PORT(), 30, c.protocol === 5 ? { properties: { sessionExpiryInterval: 60 } } : {});
  c.loopStart();
  await waitFor("onConnect", () => connects.length > 0);
}

/** The throwaway mosquitto's plain listener, as the shared scenarios take it. */
const mosquitto = (): Broker => ({ host: HOST(), port: TCP_PORT(), setsDupOnResend: true });

/** How the tests below keep a session (see persistent and start). */
const keeping = (protocol: MQTTProtocolVersion): SessionKeeping => ({
  keep: protocol === 5 ? { protocol } : { protocol, cleanSession: false },
  first: protocol === 5 ? { properties: { sessionExpiryInterval: 60 } } : {},
  resume: protocol === 5 ? { cleanStart: false, properties: { sessionExpiryInterval: 60 } } : {},
});

/** A connected publisher on the plain listener. */
async function publisher(): Promise<Client> {
  const p = clients.make("acks-pub");
  await connectStarted(p);
  return p;
}

describe.each([
  ["3.1.1", MQTTv311],
  ["5", MQTTv5],
] as const)("MQTT %s", (_name, protocol) => {
  it.each([1, 2] as const)("QoS %i: no ack is queued while onMessage runs; it goes out after, so the resumed session has nothing to resend", (qos) =>
    autoAck(clients, mosquitto(), keeping(protocol), qos),
  );

  it("a callback that throws is logged, and its message is still acknowledged", async () => {
    const c = persistent("ack-throw", protocol);
    const topic = uniqueTopic("ack-throw");
    const texts: string[] = [];
    const errors: string[] = [];
    c.onLog = (_c, _u, level, buf) => {
      if (level === MQTT_LOG_ERR) errors.push(buf);
    };
    c.onMessage = (_c, _u, m) => {
      texts.push(m.text());
      if (m.text() === "boom") throw new Error("callback failed on purpose");
    };
    let subacks = 0;
    c.onSubscribe = () => subacks++;
    const connects: Array<{ sessionPresent: boolean }> = [];
    await start(c, connects);
    c.subscribe(topic, 1);
    await waitFor("SUBACK", () => subacks === 1);
    const p = await publisher();
    await p.publish(topic, "boom", 1).waitForPublish(5_000);
    await waitFor("the message", () => texts.length === 1);
    await waitFor("the logged exception", () => errors.some((e) => e.includes("callback failed on purpose")));
    await sleep(200);

    await c.reconnect();
    await waitFor("the second onConnect", () => connects.length === 2);
    expect(connects[1]!.sessionPresent).toBe(true);
    await p.publish(topic, "marker", 1).waitForPublish(5_000);
    await waitFor("the marker", () => texts.includes("marker"));
    expect(texts).toEqual(["boom", "marker"]);
  });

  it("manualAck, QoS 1: a message not acked comes again (dup, same packet id) after reconnecting; once acked it does not", async () => {
    await manualAckQos1(clients, mosquitto(), keeping(protocol));
  });

  it("manualAck, QoS 2: not acked, the broker's resend on the resumed session is not delivered twice (the id is session state); ack() still completes it", async () => {
    await manualAckQos2(clients, mosquitto(), keeping(protocol));
  });

  it("a callback that calls disconnect(): nothing goes out after DISCONNECT, so the message comes again (dup) on the resumed session", async () => {
    const c = persistent("ack-disconnect", protocol);
    const topic = uniqueTopic("ack-disconnect");
    const got: MQTTMessage[] = [];
    let disconnects = 0;
    c.onDisconnect = () => disconnects++;
    c.onMessage = (client, _u, m) => {
      got.push(m);
      if (got.length === 1) client.disconnect();
    };
    let subacks = 0;
    c.onSubscribe = () => subacks++;
    const connects: Array<{ sessionPresent: boolean }> = [];
    await start(c, connects);
    c.subscribe(topic, 1);
    await waitFor("SUBACK", () => subacks === 1);
    const p = await publisher();
    await p.publish(topic, "disconnect now", 1).waitForPublish(5_000);
    await waitFor("onDisconnect", () => disconnects === 1);
    await c.loopStop();

    await c.connect(HOST(), TCP_PORT(), 30, protocol === 5 ? { cleanStart: false, properties: { sessionExpiryInterval: 60 } } : {});
    c.loopStart();
    await waitFor("the message again", () => got.length === 2);
    expect(connects[1]!.sessionPresent).toBe(true);
    expect([got[1]!.text(), got[1]!.dup]).toEqual(["disconnect now", true]);
  });

  it("manualAckSet(false) applies from the next message on", async () => {
    const c = persistent("manual-off", protocol, { manualAck: true });
    const topic = uniqueTopic("manual-off");
    const got: string[] = [];
    c.onMessage = (client, _u, m) => {
      got.push(m.text());
      client.manualAckSet(false);
    };
    let subacks = 0;
    c.onSubscribe = () => subacks++;
    const connects: Array<{ sessionPresent: boolean }> = [];
    await start(c, connects);
    c.subscribe(topic, 1);
    await waitFor("SUBACK", () => subacks === 1);
    const p = await publisher();
    // manualAck was on when it was read; switching it off inside the callback acks it.
    await p.publish(topic, "first", 1).waitForPublish(5_000);
    await waitFor("the message", () => got.length === 1);
    await sleep(200);
    await c.reconnect();
    await waitFor("the second onConnect", () => connects.length === 2);
    await p.publish(topic, "marker", 1).waitForPublish(5_000);
    await waitFor("the marker", () => got.includes("marker"));
    expect(got).toEqual(["first", "marker"]);
  });
});
