/**
 * Port of Paho's examples/client_session_present.py: three connections with
 * the same client id, each printing the CONNACK's session present flag and
 * disconnecting from on_connect (which ends loop_forever):
 *   1. clean session false: no session yet, so "Session present: false";
 *   2. clean session false again: the broker kept it, "Session present: true";
 *   3. clean session true: the session is dropped, "Session present: false".
 * The userdata (0, 1, 2) says which connection it is, as in Paho's.
 *
 * MQTT 5 has no clean session flag: `protocol: 5` runs the same three steps
 * with connect()'s cleanStart (true / false / true) and a SessionExpiryInterval
 * property so the broker keeps the session between them.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t client-session-present
 */
import { CallbackAPIVersion, Client, MQTTv311, MQTTv5, type ConnectFlags, type ReasonCode } from "@sansmqtt/client";
import { printer, type ExampleOptions } from "./common.js";

export interface SessionPresentOptions extends ExampleOptions {
  /** Paho uses the fixed id "asdfj"; a unique one keeps runs from seeing each other's sessions. */
  clientId?: string;
  protocol?: typeof MQTTv311 | typeof MQTTv5;
}

export async function run(options: SessionPresentOptions): Promise<boolean[]> {
  const print = printer(options);
  const clientId = options.clientId ?? "asdfj";
  const mqtt5 = options.protocol === MQTTv5;
  const seen: boolean[] = [];

  const onConnect = (mqttc: Client, obj: unknown, flags: ConnectFlags, reasonCode: ReasonCode): void => {
    if (obj === 0) print("First connection:");
    else if (obj === 1) print("Second connection:");
    else if (obj === 2) print("Third connection (with clean session=True):");
    print(`    Session present: ${flags.sessionPresent}`);
    print(`    Connection result: ${reasonCode}`);
    seen.push(flags.sessionPresent);
    // Disconnect at once: that ends loopForever, and the next step begins.
    mqttc.disconnect();
  };

  const connectOnce = async (step: number, clean: boolean): Promise<void> => {
    const mqttc = mqtt5
      ? new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2, clientId, protocol: MQTTv5 })
      : new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2, clientId, cleanSession: clean });
    mqttc.onConnect = onConnect;
    mqttc.userDataSet(step);
    if (mqtt5) {
      // The session outlives the connection only with an expiry (0, the default, ends it with the connection).
      await mqttc.connect(options.host, options.port, 60, { cleanStart: clean, properties: { sessionExpiryInterval: 60 } });
    } else {
      await mqttc.connect(options.host, options.port, 60);
    }
    await mqttc.loopForever();
  };

  await connectOnce(0, false);
  await connectOnce(1, false);
  await connectOnce(2, true);
  return seen;
}
