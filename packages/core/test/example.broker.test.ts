/**
 * examples/engine-over-net.ts, the program the READMEs show, against the
 * throwaway mosquitto of scripts/test.sh (MQTT_HOST, MQTT_TCP_PORT).
 */
import { describe, expect, it } from "vitest";
import { run } from "../examples/engine-over-net.js";

describe("examples", () => {
  it("engine-over-net: connect, subscribe, publish at QoS 1, receive it back, disconnect", async () => {
    const host = process.env.MQTT_HOST;
    const port = Number(process.env.MQTT_TCP_PORT);
    if (!host || !port) throw new Error("MQTT_HOST / MQTT_TCP_PORT are not set: run under bash scripts/with-broker.sh (scripts/test.sh does)");
    const message = await run({ host, port, topic: `sansmqtt/example/${process.pid}/${Date.now()}` });
    expect(message).toBe("hello");
  });
});
