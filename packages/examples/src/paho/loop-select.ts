/**
 * Port of Paho's examples/loop_select.py: the application owns the loop. It
 * waits with select() for the client's socket to be readable, or writable when
 * want_write() says there is something to send (at most 1 s), then calls
 * loop_read / loop_write itself, and loop_misc after every wait for keep alive.
 * A small state machine publishes once subscribed and disconnects once every
 * message came back; the loop ends at on_disconnect.
 *
 * Node has no select() over sockets, so `doSelect` is made the way an event
 * loop does it, from the Client's socket hooks: onSocketOpen hands over the
 * net.Socket, whose "data" / "end" / "close" / "error" events mean readable;
 * onSocketRegisterWrite and the socket's "drain" mean worth asking wantWrite().
 * Nothing else drives the Client: no loopStart, no loopForever.
 *
 * Run: cd packages/examples && bash ../../scripts/with-broker.sh pnpm exec vitest run --config ../../vitest.config.ts test/paho.examples.test.ts -t loop-select
 */
import type { Socket } from "node:net";
import { CallbackAPIVersion, Client, MQTT_ERR_SUCCESS, type MQTTMessage, type ReasonCode } from "@sansmqtt/client";
import { printer, type ExampleOptions } from "./common.js";

export interface LoopSelectOptions extends ExampleOptions {
  topic?: string;
  /** Messages to publish (and receive back) before disconnecting. */
  count?: number;
  qos?: 0 | 1 | 2;
}

export interface LoopSelectResult {
  received: number;
  selects: number;
  reads: number;
  writes: number;
  timeouts: number;
  disconnectReason: string | undefined;
}

class SelectMqttExample {
  private readonly client = new Client({ callbackApiVersion: CallbackAPIVersion.VERSION2 });
  private disconnected: [boolean, ReasonCode | undefined] = [false, undefined];
  private state = 0;
  private received = 0;
  private readonly stats = { selects: 0, reads: 0, writes: 0, timeouts: 0 };
  private readable = false;
  private poke: (() => void) | undefined;
  private readonly print: (line: string) => void;

  constructor(
    private readonly options: LoopSelectOptions,
    private readonly topic: string,
    private readonly count: number,
  ) {
    this.print = printer(options);
  }

  onConnect = (client: Client, _ud: unknown, _flags: unknown, reasonCode: ReasonCode): void => {
    this.print(`Connected: ${reasonCode}`);
    this.print(`Subscribing: ${JSON.stringify(client.subscribe(this.topic, this.options.qos ?? 0))}`);
  };

  onSubscribe = (): void => {
    // State 0 → 1: subscribed, now publish (state 1 runs in main's loop).
    if (this.state === 0) this.state = 1;
  };

  onMessage = (_client: Client, _ud: unknown, msg: MQTTMessage): void => {
    this.received++;
    this.print(`Got response ${this.received} on ${msg.topic}: ${msg.text()}`);
  };

  onDisconnect = (_client: Client, _ud: unknown, _flags: unknown, reasonCode: ReasonCode): void => {
    this.disconnected = [true, reasonCode];
  };

  /** The socket hooks: what select() would watch, as events. */
  private hookSocket(): void {
    const wake = (): void => {
      const p = this.poke;
      this.poke = undefined;
      p?.();
    };
    this.client.onSocketOpen = (_c, _ud, sock) => {
      const s = sock as Socket;
      const readable = (): void => {
        this.readable = true;
        wake();
      };
      s.on("data", readable).on("end", readable).on("close", readable).on("error", readable).on("drain", wake);
    };
    this.client.onSocketRegisterWrite = wake;
  }

  /** select([sock], [sock] if want_write else [], [], timeout): resolves [readable, writable]. */
  private select(timeoutMs: number): Promise<[boolean, boolean]> {
    const sock = this.client.socket() as Socket | undefined;
    const writable = (): boolean => this.client.wantWrite() && sock !== undefined && !sock.writableNeedDrain;
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (!this.readable && !writable()) return false;
        clearTimeout(timer);
        const r = this.readable;
        this.readable = false;
        resolve([r, writable()]);
        return true;
      };
      const timer = setTimeout(() => {
        this.poke = undefined;
        // Readable data that came with no wake-up armed is still readable.
        if (this.readable) {
          this.readable = false;
          resolve([true, writable()]);
          return;
        }
        resolve([false, false]);
      }, timeoutMs);
      // Re-armed until it resolves: a wake-up may come while the socket still needs to drain.
      const arm = (): void => {
        if (!check()) this.poke = arm;
      };
      arm();
    });
  }

  private async doSelect(): Promise<void> {
    const sock = this.client.socket();
    if (sock === undefined) throw new Error("Socket is gone");
    this.print(`Selecting for reading${this.client.wantWrite() ? " and writing" : ""}`);
    this.stats.selects++;
    const [r, w] = await this.select(1_000);
    if (r) {
      this.print("Socket is readable");
      this.stats.reads++;
      this.client.loopRead();
    }
    if (w) {
      this.print("Socket is writable");
      this.stats.writes++;
      this.client.loopWrite();
    }
    if (!r && !w) {
      this.print("Timeout");
      this.stats.timeouts++;
    }
  }

  async main(): Promise<LoopSelectResult> {
    const client = this.client;
    client.onConnect = this.onConnect;
    client.onSubscribe = this.onSubscribe;
    client.onMessage = this.onMessage;
    client.onDisconnect = this.onDisconnect;
    this.hookSocket();

    await client.connect(this.options.host, this.options.port, 60);
    this.print("Socket opened");
    (client.socket() as Socket).setNoDelay(true);

    while (!this.disconnected[0]) {
      await this.doSelect();
      // loopMisc after every wait: keep alive and time-outs, as Paho's calls it.
      const rc = client.loopMisc();
      if (rc !== MQTT_ERR_SUCCESS && !this.disconnected[0]) this.print(`loop_misc: ${rc}`);

      if (this.state === 1) {
        for (let i = 0; i < this.count; i++) client.publish(this.topic, `message ${i}`, this.options.qos ?? 0);
        this.state = 2;
      } else if (this.state === 2 && this.received >= this.count) {
        this.print("Disconnecting");
        client.disconnect();
        this.state = 3;
      }
    }
    this.print(`Disconnected: ${this.disconnected[1]}`);
    return { received: this.received, ...this.stats, disconnectReason: this.disconnected[1]?.getName() };
  }
}

export async function run(options: LoopSelectOptions): Promise<LoopSelectResult> {
  return new SelectMqttExample(options, options.topic ?? "paho/test/select", options.count ?? 5).main();
}
