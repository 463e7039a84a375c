// Smoke test of the throwaway broker's WebSocket listeners, ws:// and wss://
// (scripts/with-broker.sh), spoken to with nothing but the codec from
// @sansmqtt/core in binary frames of the "mqtt" subprotocol, over the ws package.
// wss:// verifies the certificate ("localhost", CA in MQTT_CA_FILE).
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import WebSocket from "ws";
import type { ProtocolVersion } from "@sansmqtt/core";
import { brokerEnv, brokerPort, MqttWire, publishRoundTrip } from "@sansmqtt/test-support";

/** ws passes `servername` on to tls.connect; @types/ws leaves it out. */
type Options = WebSocket.ClientOptions & { servername?: string };

function bytesOf(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

async function openWs(url: string, version: ProtocolVersion, options: Options = {}): Promise<{ ws: WebSocket; wire: MqttWire }> {
  const ws = new WebSocket(url, "mqtt", options);
  const wire = new MqttWire(version, (bytes) => ws.send(bytes, { binary: true }));
  ws.on("message", (data, isBinary) => {
    if (isBinary) wire.receive(bytesOf(data));
    else wire.fail(new Error("the broker sent a text frame; MQTT over WebSockets uses binary frames"));
  });
  ws.on("error", (err) => wire.fail(err));
  ws.on("close", () => wire.close());
  await once(ws, "open"); // rejects on "error"
  return { ws, wire };
}

async function roundTrip(url: string, version: ProtocolVersion, label: string, options?: Options): Promise<void> {
  const { ws, wire } = await openWs(url, version, options);
  try {
    expect(ws.protocol).toBe("mqtt");
    await publishRoundTrip(wire, label);
    const closed = once(ws, "close");
    ws.close(1000);
    await closed;
  } finally {
    ws.terminate();
  }
}

describe("broker over WebSockets (MQTT_WS_PORT, MQTT_WSS_PORT)", () => {
  for (const [name, version] of [["3.1.1", 4], ["5", 5]] as const) {
    test(`ws:// MQTT ${name}: CONNECT, SUBSCRIBE, PUBLISH QoS 1 comes back with its PUBACK`, async () => {
      const url = `ws://${brokerEnv("MQTT_HOST")}:${brokerPort("MQTT_WS_PORT")}/`;
      await roundTrip(url, version, `ws-v${version}`);
    });

    test(`wss:// MQTT ${name}: verified TLS, CONNECT, SUBSCRIBE, PUBLISH QoS 1 comes back with its PUBACK`, async () => {
      const url = `wss://${brokerEnv("MQTT_HOST")}:${brokerPort("MQTT_WSS_PORT")}/`;
      const ca = readFileSync(brokerEnv("MQTT_CA_FILE"));
      await roundTrip(url, version, `wss-v${version}`, { ca, servername: "localhost", rejectUnauthorized: true });
    });
  }
});
