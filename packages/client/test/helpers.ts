// Test helpers for the client's broker tests: bounded waits and a client made
// for the throwaway broker (scripts/with-broker.sh). No broker mocks.
import { brokerEnv, brokerPort, uniqueClientId } from "@sansmqtt/test-broker";
import { Client, type ClientOptions } from "../src/index.js";

export const HOST = (): string => brokerEnv("MQTT_HOST");
export const TCP_PORT = (): number => brokerPort("MQTT_TCP_PORT");

/** Resolves once `check` returns a value other than undefined/false; rejects after `ms`, naming `what`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, ms = 5_000): Promise<T> {
  const until = performance.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Clients made by a test, disconnected and stopped by `cleanup()`. */
export class Clients {
  private readonly all: Client[] = [];

  make(label: string, options: ClientOptions = {}): Client {
    const c = new Client({ clientId: uniqueClientId(label), ...options });
    this.all.push(c);
    return c;
  }

  async cleanup(): Promise<void> {
    for (const c of this.all) {
      try {
        c.disconnect();
        await c.loopStop();
      } catch {
        // best effort: the test already failed or ended the client itself
      }
    }
    this.all.length = 0;
  }
}

/** Connects with loopStart and waits for onConnect (which must accept). Returns the onConnect calls seen. */
export async function connectStarted(c: Client, port = TCP_PORT(), host = HOST()): Promise<void> {
  let connected = false;
  const previous = c.onConnect;
  c.onConnect = (client, userdata, flags, rc, props) => {
    previous?.(client, userdata, flags, rc, props);
    if (!rc.isFailure) connected = true;
  };
  await c.connect(host, port, 30);
  c.loopStart();
  await waitFor("onConnect", () => connected);
}
