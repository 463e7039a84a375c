/**
 * Port of Paho's examples/client_logger.py: the client's own log through
 * enable_logger(logger) instead of an on_log callback. Paho hands it a
 * `logging.Logger`; here any object with debug/info/warn/error (console by
 * default). It subscribes, prints a message, and (unlike Paho's, which runs
 * forever) disconnects after the first one.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t client-logger
 */
import { CallbackAPIVersion, Client, type Logger } from "@sansmqtt/client";
import { printer, pyBytes, type ExampleOptions } from "./common.js";

export interface LoggerOptions extends ExampleOptions {
  topic?: string;
  /** Paho: logging.getLogger(__name__); default console. */
  logger?: Logger;
  onReady?: () => void;
}

export async function run(options: LoggerOptions): Promise<number> {
  const print = printer(options);
  const mqttc = new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2 });
  mqttc.enableLogger(options.logger ?? console);
  mqttc.onMessage = (c, _obj, msg) => {
    print(`${msg.topic} ${msg.qos} ${pyBytes(msg.payload)}`);
    c.disconnect();
  };
  mqttc.onSubscribe = () => options.onReady?.();
  await mqttc.connect(options.host, options.port, 60);
  mqttc.subscribe(options.topic ?? "$SYS/#", 0);
  return mqttc.loopForever();
}
