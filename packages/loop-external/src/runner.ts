/**
 * LoopRunner: an ExternalLoop driven by the host's own event loop (Node,
 * browsers, Deno, Bun), for callers who do not bring a loop of their own. It
 * is what Paho's loop_start / loop_forever do with select(), made of the
 * loop's readiness hooks: any readiness schedules one turn (a microtask) that
 * runs loopRead, loopWrite when it may, and loopMisc, then re-arms a single
 * timer at `miscDelay()`. Uses only `queueMicrotask`, `setTimeout` and
 * `clearTimeout`, which every runtime has.
 *
 * It chains the readiness hooks it needs (onReadable, onWritable,
 * onSocketRegisterWrite): hooks set on the loop before the runner is made are
 * still called first.
 */
import { MQTT_ERR_NO_CONN, MQTT_ERR_SUCCESS, type MqttErrorCode } from "./codes.js";
import type { ExternalLoop } from "./loop.js";

/** The three host functions used, typed here so the package needs no DOM or Node types. */
const host = globalThis as unknown as {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  queueMicrotask(callback: () => void): void;
};

export class LoopRunner {
  /** Called with every result code other than MQTT_ERR_SUCCESS or MQTT_ERR_NO_CONN that a turn got. */
  onResult: ((rc: MqttErrorCode) => void) | undefined;
  #timer: unknown;
  #scheduled = false;
  #stopped = false;

  constructor(readonly loop: ExternalLoop) {
    const { onReadable, onWritable, onSocketRegisterWrite } = loop;
    loop.onReadable = () => {
      onReadable?.();
      this.schedule();
    };
    loop.onWritable = () => {
      onWritable?.();
      this.schedule();
    };
    loop.onSocketRegisterWrite = (socket) => {
      onSocketRegisterWrite?.(socket);
      this.schedule();
    };
  }

  /** Runs a turn soon (after the current call stack), once however often it is asked. */
  schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    host.queueMicrotask(() => {
      this.#scheduled = false;
      this.turn();
    });
  }

  /** One turn now: what Paho's loop() does after select() returns. */
  turn(): void {
    if (this.#stopped) return;
    const loop = this.loop;
    this.#report(loop.loopRead());
    if (loop.wantWrite() && !loop.writeBlocked) this.#report(loop.loopWrite());
    this.#report(loop.loopMisc());
    host.clearTimeout(this.#timer);
    const delay = loop.miscDelay();
    this.#timer = delay === undefined ? undefined : host.setTimeout(() => this.turn(), delay);
  }

  /** No more turns and no timer; the loop and its connection are left as they are. */
  stop(): void {
    this.#stopped = true;
    host.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #report(rc: MqttErrorCode): void {
    if (rc !== MQTT_ERR_SUCCESS && rc !== MQTT_ERR_NO_CONN) this.onResult?.(rc);
  }
}
