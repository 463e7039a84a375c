// Smoke test of the throwaway broker's plain TCP listener (scripts/with-broker.sh),
// spoken to with nothing but the codec from @sansmqtt/core over a node:net socket.
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { describe, expect, test } from "vitest";
import type { ProtocolVersion } from "@sansmqtt/core";
import { brokerEnv, brokerPort, MqttWire, publishRoundTrip } from "@sansmqtt/test-support";

async function openTcp(version: ProtocolVersion): Promise<{ socket: Socket; wire: MqttWire }> {
  const host = brokerEnv("MQTT_HOST");
  const port = brokerPort("MQTT_TCP_PORT");
  const socket = connect({ host, port });
  const wire = new MqttWire(version, (bytes) => socket.write(bytes));
  socket.on("data", (chunk) => wire.receive(chunk));
  socket.on("error", (err) => wire.fail(err));
  socket.on("close", () => wire.close());
  await once(socket, "connect"); // rejects on "error"
  return { socket, wire };
}

describe("broker over TCP (MQTT_HOST:MQTT_TCP_PORT)", () => {
  for (const [name, version] of [["3.1.1", 4], ["5", 5]] as const) {
    test(`MQTT ${name}: CONNECT, SUBSCRIBE, PUBLISH QoS 1 comes back with its PUBACK`, async () => {
      const { socket, wire } = await openTcp(version);
      try {
        await publishRoundTrip(wire, `tcp-v${version}`);
        const closed = once(socket, "close");
        socket.end();
        await closed;
        expect(socket.destroyed).toBe(true);
      } finally {
        socket.destroy();
      }
    });
  }
});
