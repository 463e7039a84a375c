// LoopRunner on fake timers: readiness hooks schedule a turn (one per burst),
// the single timer follows miscDelay, earlier hooks still run, stop() ends it.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { encodePacket } from "@sansmqtt/core/codec";
import { MqttConnection } from "@sansmqtt/core";
import { ExternalLoop, LoopRunner } from "../src/index.js";
import { ScriptedTransport } from "./scripted.js";

const flush = (): Promise<void> => new Promise((r) => queueMicrotask(r));

beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] }));
afterEach(() => vi.useRealTimers());

function setup(keepAlive: number) {
  let t!: ScriptedTransport;
  const events: string[] = [];
  const hooks: string[] = [];
  const loop = new ExternalLoop({
    engine: new MqttConnection({ protocolVersion: 5, clientId: "runner", keepAlive }),
    transport: () => (t = new ScriptedTransport()),
    clock: () => Date.now(),
    onEvent: (e) => events.push(e.type),
    onSocketRegisterWrite: () => hooks.push("register"),
    onReadable: () => hooks.push("readable"),
  });
  const runner = new LoopRunner(loop);
  return { loop, runner, events, hooks, t: () => t };
}

describe("LoopRunner", () => {
  it("[MQTT-3.1.2-20] runs the loop from its hooks: CONNECT out, CONNACK in, PINGREQ at the keep alive by its one timer; earlier hooks still called", async () => {
    const s = setup(2);
    const opened = s.loop.connect();
    s.t().accept();
    await opened;
    await flush();
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect"]);
    s.t().deliver(encodePacket({ type: "connack", sessionPresent: false, reasonCode: 0 }, 5));
    await flush();
    expect(s.events).toEqual(["connected"]);
    expect(s.hooks).toEqual(["register", "readable"]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect", "pingreq"]);
    s.runner.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect", "pingreq"]);
  });

  it("one turn per burst of readiness; a result other than success reaches onResult", async () => {
    const s = setup(0);
    const results: number[] = [];
    s.runner.onResult = (rc) => results.push(rc);
    const turn = vi.spyOn(s.runner, "turn");
    const opened = s.loop.connect();
    s.t().accept();
    await opened;
    await flush();
    s.t().deliver(encodePacket({ type: "connack", sessionPresent: false, reasonCode: 0 }, 5));
    for (let i = 0; i < 5; i++) s.t().deliver(encodePacket({ type: "pingresp" }, 5));
    await flush();
    expect(turn).toHaveBeenCalledTimes(2);
    s.t().end();
    await flush();
    expect(results).toEqual([7]); // MQTT_ERR_CONN_LOST
    expect(s.events).toEqual(["connected", "closed"]);
  });
});
