// Smoke test of the throwaway broker's MQTT-over-TLS listener (scripts/with-broker.sh),
// spoken to with nothing but the codec from @sansmqtt/core over a node:tls socket.
// Certificate and host name verification stay on: the broker's certificate is for
// "localhost", signed by the run's throwaway CA in MQTT_CA_FILE.
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { describe, expect, test } from "vitest";
import type { ProtocolVersion } from "@sansmqtt/core";
import { brokerEnv, brokerPort, MqttWire, publishRoundTrip } from "@sansmqtt/test-support";

function tlsOptions(extra: ConnectionOptions): ConnectionOptions {
  return { host: brokerEnv("MQTT_HOST"), port: brokerPort("MQTT_TLS_PORT"), rejectUnauthorized: true, ...extra };
}

async function openTls(version: ProtocolVersion, options: ConnectionOptions): Promise<{ socket: TLSSocket; wire: MqttWire }> {
  const socket = connect(options);
  const wire = new MqttWire(version, (bytes) => socket.write(bytes));
  socket.on("data", (chunk: Buffer) => wire.receive(chunk));
  socket.on("error", (err) => wire.fail(err));
  socket.on("close", () => wire.close());
  await once(socket, "secureConnect"); // rejects on "error"
  return { socket, wire };
}

/** Connects, expecting the handshake to fail; resolves with the error. */
async function tlsError(options: ConnectionOptions): Promise<NodeJS.ErrnoException> {
  const socket = connect(options);
  try {
    const [err] = (await Promise.race([
      once(socket, "error"),
      once(socket, "secureConnect").then(() => {
        throw new Error("the TLS handshake succeeded; it should have been refused");
      }),
    ])) as [NodeJS.ErrnoException];
    return err;
  } finally {
    socket.destroy();
  }
}

describe("broker over TLS (MQTT_HOST:MQTT_TLS_PORT, CA in MQTT_CA_FILE)", () => {
  for (const [name, version] of [["3.1.1", 4], ["5", 5]] as const) {
    test(`MQTT ${name}: verified TLS, CONNECT, SUBSCRIBE, PUBLISH QoS 1 comes back with its PUBACK`, async () => {
      const ca = readFileSync(brokerEnv("MQTT_CA_FILE"));
      const { socket, wire } = await openTls(version, tlsOptions({ ca, servername: "localhost" }));
      try {
        expect(socket.authorized).toBe(true);
        expect(socket.getPeerCertificate().subject.CN).toBe("localhost");
        await publishRoundTrip(wire, `tls-v${version}`);
        const closed = once(socket, "close");
        socket.end();
        await closed;
      } finally {
        socket.destroy();
      }
    });
  }

  test("without the CA the broker's certificate is refused", async () => {
    const err = await tlsError(tlsOptions({ servername: "localhost" }));
    // The chain ends at the throwaway CA, which Node does not trust by default.
    expect(err.code).toMatch(/^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN)$/);
  });

  test("with the CA but another host name the certificate is refused", async () => {
    const ca = readFileSync(brokerEnv("MQTT_CA_FILE"));
    const err = await tlsError(tlsOptions({ ca, servername: "not-the-broker.example" }));
    expect(err.code).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
  });
});
