// The two examples against the throwaway mosquitto of scripts/test.sh: a loop
// the application owns (loop-select, Paho's loop_select.py) and a loop driven by
// a custom scheduler through the socket hooks (loop-scheduler, Paho's
// loop_asyncio.py). loop-select is also the "foreign loop" of the issue: 10,000
// QoS 1 messages round trip with loopRead / loopWrite / loopMisc alone, and
// keep alive kept by loopMisc alone over an idle period.
import { describe, expect, it } from "vitest";
import { PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import type { ProtocolVersion, Transport } from "@sansmqtt/core";
import { brokerEnv, brokerPort, uniqueTopic } from "@sansmqtt/test-broker";
import { TcpTransport } from "@sansmqtt/transport-tcp";
import { MQTT_ERR_SUCCESS } from "@sansmqtt/loop-external";
import { run as runSelect } from "../src/loop-select.js";
import { run as runScheduler } from "../src/loop-scheduler.js";

const host = brokerEnv("MQTT_HOST");
const port = brokerPort("MQTT_TCP_PORT");

/** A TCP transport whose traffic both ways is decoded into `sent` and `received`. */
function watched(version: ProtocolVersion): { transport: () => Transport; sent: Packet[]; received: Packet[] } {
  const sent: Packet[] = [];
  const received: Packet[] = [];
  const out = new PacketDecoder({ protocolVersion: version });
  const inn = new PacketDecoder({ protocolVersion: version });
  const drain = (d: PacketDecoder, into: Packet[]): void => {
    for (let p = d.next(); p !== undefined; p = d.next()) into.push(p);
  };
  const transport = (): Transport => {
    const t = new TcpTransport({ host, port });
    return {
      get state() {
        return t.state;
      },
      open: (h) =>
        t.open({
          ...h,
          onData: (c) => {
            inn.push(c.slice());
            drain(inn, received);
            h.onData(c);
          },
        }),
      write: (chunks) => {
        for (const c of chunks) out.push(c.slice());
        drain(out, sent);
        return t.write(chunks);
      },
      close: (e) => t.close(e),
      socket: () => t.socket(),
    };
  };
  return { transport, sent, received };
}

describe("examples/loop-select (a loop the application owns)", () => {
  it("a foreign loop drives 10,000 QoS 1 messages round trip through mosquitto with loopRead/loopWrite/loopMisc alone (MQTT 5)", async () => {
    const r = await runSelect({ host, port, topic: uniqueTopic("select-10k"), count: 10_000, qos: 1 });
    expect(r).toMatchObject({ published: 10_000, received: 10_000, lastResult: MQTT_ERR_SUCCESS });
  }, 60_000);

  it("MQTT 3.1.1: 1,000 QoS 2 messages round trip", async () => {
    // At most 20 outstanding: with more, mosquitto 2.0.11 forwarded only 40 of
    // 200 QoS 2 messages to this 3.1.1 subscriber (every PUBREC/PUBREL/PUBCOMP
    // of ours had gone out; its max_inflight_messages is 20). MQTT 5 has no such loss.
    const r = await runSelect({ host, port, topic: uniqueTopic("select-311"), count: 1_000, qos: 2, protocolVersion: 4, window: 20 });
    expect(r).toMatchObject({ published: 1_000, received: 1_000 });
  }, 60_000);

  it("[MQTT-3.1.2-20] keep alive 1 s is kept by loopMisc alone over 3.5 s idle: PINGREQ answered by PINGRESP, the connection stays up", async () => {
    const w = watched(5);
    const r = await runSelect({ host, port, topic: uniqueTopic("select-ka"), count: 1, qos: 1, keepAlive: 1, idleMs: 3_500, transport: w.transport });
    expect(r.reason).toMatchObject({ kind: "local" });
    expect(r).toMatchObject({ received: 1, lastResult: MQTT_ERR_SUCCESS });
    const pings = w.sent.filter((p) => p.type === "pingreq").length;
    expect(pings).toBeGreaterThanOrEqual(3);
    // Every PINGREQ but the last was answered before the next; the last one's PINGRESP may race our DISCONNECT.
    expect(w.received.filter((p) => p.type === "pingresp").length).toBeGreaterThanOrEqual(pings - 1);
    expect(w.sent.at(-1)).toMatchObject({ type: "disconnect" });
  }, 20_000);
});

describe("examples/loop-scheduler (Paho's loop_asyncio.py: hooks register the loop's calls with a scheduler)", () => {
  it.each([4, 5] as ProtocolVersion[])("MQTT %s: QoS 0, 1, 2 come back; hooks in Paho's order over the whole connection", async (version) => {
    const r = await runScheduler({ host, port, topic: uniqueTopic("scheduler"), protocolVersion: version });
    expect(r.messages.sort()).toEqual(["qos 0", "qos 1", "qos 2"]);
    const hooks = r.log.filter((l) => !l.startsWith("event:"));
    expect(hooks[0]).toBe("socket-open");
    expect(hooks.at(-1)).toBe("socket-close");
    // register/unregister strictly alternate, starting with register.
    const writes = hooks.slice(1, -1);
    expect(writes.length).toBeGreaterThanOrEqual(2);
    writes.forEach((h, i) => expect(h).toBe(i % 2 === 0 ? "register-write" : "unregister-write"));
    // A local disconnect: the closed event comes before the socket is closed (Paho: on_disconnect, then the hooks).
    expect(r.log.indexOf("event:closed")).toBeLessThan(r.log.indexOf("socket-close"));
    expect(r.log.indexOf("event:connected")).toBeGreaterThan(r.log.indexOf("socket-open"));
  });
});
