/**
 * ExternalLoop: Paho's external event loop contract (loop_read, loop_write,
 * loop_misc, want_write, socket and the on_socket_* hooks) over the Sans-IO
 * engine and any Transport. The caller's own loop decides when to call what;
 * this class never sets a timer and never calls itself back: readiness is
 * reported through hooks (`onReadable`, `onWritable`, `onSocketRegisterWrite`),
 * the way select() or an event loop's add_reader/add_writer would report it.
 *
 * Mapping to the engine (quinn / h11 vocabulary in parentheses):
 *   loopRead  = receiveData for every buffered chunk, then pollEvent until empty
 *   loopWrite = pollTransmit, written to the transport (held while it asks to wait for drain)
 *   loopMisc  = handleTimeout when pollTimeout is due, then pollEvent until empty
 *
 * Events go out through `onEvent`, from inside loopRead, loopWrite and
 * loopMisc only, never from inside a command.
 *
 * Hook order over one connection, as Paho's: onSocketOpen, then zero or more
 * onSocketRegisterWrite / onSocketUnregisterWrite pairs, then onSocketClose.
 * When the caller disconnects, the `closed` event comes before the
 * unregister/close hooks; when the network, the broker or a timeout ends it,
 * the hooks come first and the `closed` event after (Paho does the same with
 * on_disconnect).
 */
import {
  ErrorCode,
  LocalProtocolError,
  TransportError,
  TransportErrorCode,
  type ClosedEvent,
  type Event,
  type MqttConnection,
  type Properties,
  type PublishRequest,
  type Subscription,
  type Transport,
} from "@sansmqtt/core";
import { MQTT_ERR_NO_CONN, MQTT_ERR_SUCCESS, resultOfClose, type MqttErrorCode } from "./codes.js";

/** What the loop reports; each is optional and may be set or replaced at any time. */
export interface LoopHooks {
  /** A connection's socket is up (TCP connected, TLS verified, WebSocket upgraded), before CONNECT is queued. */
  onSocketOpen?: ((socket: unknown) => void) | undefined;
  /** The connection is over; no more reads or writes on `socket`. Last hook of a connection. */
  onSocketClose?: ((socket: unknown) => void) | undefined;
  /** Bytes wait to be written: watch for writability (`onWritable`) and call `loopWrite`. */
  onSocketRegisterWrite?: ((socket: unknown) => void) | undefined;
  /** Nothing waits to be written any more. */
  onSocketUnregisterWrite?: ((socket: unknown) => void) | undefined;
  /**
   * Something waits for `loopRead`: bytes arrived, the connection ended, or
   * events are ready. Called once, then not again until `loopRead` has run.
   * This is what select() reporting the socket readable is to Paho.
   */
  onReadable?: (() => void) | undefined;
  /** A write that had to wait (the transport's buffer was full) can go on: call `loopWrite`. */
  onWritable?: (() => void) | undefined;
  /** Every engine event (connected, message, published, subscribed, unsubscribed, auth, closed). */
  onEvent?: ((event: Event) => void) | undefined;
}

export interface ExternalLoopOptions extends LoopHooks {
  /** The engine to drive. The loop owns its IO: do not call its IO inputs or outputs yourself. */
  engine: MqttConnection;
  /** Makes the transport for each connection attempt (a Transport is single-use). */
  transport: () => Transport;
  /** Milliseconds, monotonic. Default: `performance.now()`. */
  clock?: () => number;
  /**
   * **Milliseconds** a graceful close waits for the broker to close its side
   * after our DISCONNECT before the socket is cut; `loopMisc` enforces it.
   * Default 2,000.
   */
  closeTimeoutMs?: number;
  /**
   * A durability barrier, for a session store: called when bytes have been
   * taken from the engine that carry a change of the session
   * (`engine.transmitNeedsSave`: a QoS 2 PUBLISH, PUBREL, an acknowledgement,
   * SUBSCRIBE, UNSUBSCRIBE), before any of them is written (the engine has
   * already recorded what they carry: packet ids, stages). When it returns a
   * promise, those bytes, and everything after them, wait until it resolves;
   * the loop reports `writeBlocked` meanwhile and calls `onWritable` after.
   * A rejection cuts the connection with that error as the cause. A graceful
   * close waits for it too, so DISCONNECT still goes out after them.
   * Undefined (default), or returning undefined: bytes are written at once.
   */
  commit?: (() => Promise<void> | undefined) | undefined;
}

/** At most this many batches, or bytes, wait for commits before the loop stops taking more from the engine. */
const HELD_BATCHES = 4;
const HELD_BYTES = 64 * 1024;

const defaultClock = (): number => (globalThis as unknown as { performance: { now(): number } }).performance.now();

function misuse(message: string): LocalProtocolError {
  return new LocalProtocolError(ErrorCode.InvalidState, message);
}

type Phase =
  /** No transport. */
  | "idle"
  /** `connect()` called, the transport is opening. */
  | "opening"
  /** onSocketOpen reported; the engine has a network connection. */
  | "open"
  /** The engine is done with the connection; the transport is closing gracefully. */
  | "closing";

export class ExternalLoop implements LoopHooks {
  readonly engine: MqttConnection;
  onSocketOpen: LoopHooks["onSocketOpen"];
  onSocketClose: LoopHooks["onSocketClose"];
  onSocketRegisterWrite: LoopHooks["onSocketRegisterWrite"];
  onSocketUnregisterWrite: LoopHooks["onSocketUnregisterWrite"];
  onReadable: LoopHooks["onReadable"];
  onWritable: LoopHooks["onWritable"];
  onEvent: LoopHooks["onEvent"];

  readonly #makeTransport: () => Transport;
  readonly #clock: () => number;
  readonly #closeTimeoutMs: number;
  readonly #commit: (() => Promise<void> | undefined) | undefined;
  #phase: Phase = "idle";
  #transport: Transport | undefined;
  #sock: unknown = undefined;
  /** Received chunks not yet given to the engine (loopRead gives them). Ownership passed to us by the transport. */
  #inbox: Uint8Array[] = [];
  /** The transport's onClose arrived and loopRead/loopMisc have not handled it yet. */
  #ended: { error: TransportError | undefined } | undefined;
  /** The transport asked us to wait for drain. */
  #blocked = false;
  /**
   * Batches taken from the engine that wait for their commit, or behind one
   * that does, in order. Commits are pipelined: while one is being saved the
   * next batch may be taken and its commit asked for (a store combines them:
   * group commit), up to HELD_BATCHES / HELD_BYTES.
   */
  #held: Array<{ chunks: Uint8Array[]; bytes: number; ready: boolean }> = [];
  #heldBytes = 0;
  /** The engine ended the connection while a commit was pending: close the transport once the held bytes are out. */
  #closeAfterCommit = false;
  #registered = false;
  #readSignalled = false;
  /** When a graceful close gives up waiting for the broker (loop clock). */
  #closeBy: number | undefined;

  constructor(options: ExternalLoopOptions) {
    this.engine = options.engine;
    this.#makeTransport = options.transport;
    this.#clock = options.clock ?? defaultClock;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
    this.#commit = options.commit;
    this.onSocketOpen = options.onSocketOpen;
    this.onSocketClose = options.onSocketClose;
    this.onSocketRegisterWrite = options.onSocketRegisterWrite;
    this.onSocketUnregisterWrite = options.onSocketUnregisterWrite;
    this.onReadable = options.onReadable;
    this.onWritable = options.onWritable;
    this.onEvent = options.onEvent;
  }

  /** The loop's clock, in milliseconds: the `now` it gives the engine. */
  now(): number {
    return this.#clock();
  }

  // ==== connecting ====

  /**
   * Opens a new transport; when it is up: onSocketOpen, then the engine's
   * CONNECT is queued (onSocketRegisterWrite follows). Resolves then, or
   * rejects with the transport's TransportError (refused, DNS, TLS, proxy,
   * WebSocket upgrade, timeout) without any hook: what Paho's connect() raises
   * as OSError. The CONNACK comes later, as a `connected` or `closed` event.
   * `clean` is the engine's `connect` option. Throws if a connection is open
   * or opening; a previous connection still closing gracefully is cut.
   */
  connect(options: { clean?: boolean } = {}): Promise<void> {
    if (this.#phase === "opening" || this.#phase === "open") throw misuse(`connect() while a connection is ${this.#phase}`);
    if (this.#phase === "closing") this.#forget(new TransportError(TransportErrorCode.Aborted, "replaced by a new connection"));
    const transport = this.#makeTransport();
    this.#transport = transport;
    this.#phase = "opening";
    return new Promise<void>((resolve, reject) => {
      transport.open({
        onOpen: () => {
          if (this.#transport !== transport) return;
          this.#phase = "open";
          this.#sock = transport.socket();
          this.onSocketOpen?.(this.#sock);
          try {
            this.engine.connect(this.now(), options);
          } catch (e) {
            // The engine refused (for example a connection already up): undo the socket.
            this.#teardown();
            this.#forget(e);
            reject(e);
            return;
          }
          this.#updateWriteInterest();
          resolve();
        },
        onData: (chunk) => {
          if (this.#transport !== transport || this.#phase !== "open") return;
          this.#inbox.push(chunk);
          this.#signalReadable();
        },
        onDrain: () => {
          if (this.#transport !== transport) return;
          this.#blocked = false;
          if (this.#phase === "open") this.onWritable?.();
        },
        onClose: (error) => {
          if (this.#transport !== transport) return;
          if (this.#phase === "opening") {
            this.#transport = undefined;
            this.#phase = "idle";
            reject(error ?? new TransportError(TransportErrorCode.Reset, "the connection closed before it opened"));
            return;
          }
          this.#ended = { error };
          this.#signalReadable();
        },
      });
    });
  }

  // ==== Paho's loop calls ====

  /**
   * Gives the engine every received chunk, then delivers its events. Returns
   * MQTT_ERR_SUCCESS; MQTT_ERR_NO_CONN without a connection; when the
   * connection ends in this call, the code for how it ended (CONN_LOST,
   * CONN_REFUSED, PROTOCOL, KEEPALIVE, TLS ...). `maxPackets` is accepted for
   * Paho's signature and, as in Paho 2.x, does not limit anything: everything
   * received is handled (the engine parses lazily, so this costs no memory).
   */
  loopRead(_maxPackets = 1): MqttErrorCode {
    this.#readSignalled = false;
    if (this.#phase === "closing") {
      this.#inbox = [];
      if (this.#ended !== undefined) this.#finishClosing();
      return MQTT_ERR_NO_CONN;
    }
    if (this.#phase !== "open") return MQTT_ERR_NO_CONN;
    const now = this.now();
    const inbox = this.#inbox;
    if (inbox.length > 0) {
      this.#inbox = [];
      for (const chunk of inbox) this.engine.receiveData(now, chunk);
    }
    let rc = this.#dispatch(now);
    if (this.#ended !== undefined && this.#phase === "open") rc = this.#lost(now);
    this.#updateWriteInterest();
    return rc;
  }

  /**
   * Writes what the engine has to send. While the transport asks to wait for
   * drain, writes nothing (the bytes stay in the engine, whose queue limit
   * then bounds memory) until `onWritable`. Returns MQTT_ERR_SUCCESS, or
   * MQTT_ERR_NO_CONN without a connection.
   */
  loopWrite(): MqttErrorCode {
    if (this.#phase !== "open") return MQTT_ERR_NO_CONN;
    const now = this.now();
    this.#flush(now);
    // QoS 0 `published` events are ready once their bytes are handed out.
    const rc = this.#dispatch(now);
    this.#updateWriteInterest();
    return rc;
  }

  /**
   * The engine's tick: keep alive (PINGREQ, PINGRESP deadline), the CONNACK
   * deadline, events left by commands, a lost connection not yet reported by
   * `loopRead`, and the bound on a graceful close. Call it at `miscDelay()`
   * (or every second, as Paho's examples do). Returns MQTT_ERR_SUCCESS,
   * MQTT_ERR_NO_CONN without a connection, or how the connection ended.
   */
  loopMisc(): MqttErrorCode {
    const now = this.now();
    if (this.#phase === "closing") {
      if (this.#ended !== undefined) this.#finishClosing();
      else if (this.#closeBy !== undefined && now >= this.#closeBy) {
        // Cut by us: the transport reports it as ERR_TRANSPORT_ABORTED with this cause.
        this.#forget(new Error(`the broker did not close within ${this.#closeTimeoutMs} ms`));
      }
      return MQTT_ERR_NO_CONN;
    }
    if (this.#phase !== "open") return MQTT_ERR_NO_CONN;
    if (this.#ended !== undefined) {
      // Bytes that arrived before the end are the engine's first.
      return this.loopRead();
    }
    const due = this.engine.pollTimeout();
    if (due !== undefined && due <= now) this.engine.handleTimeout(now);
    const rc = this.#dispatch(now);
    this.#updateWriteInterest();
    return rc;
  }

  /** Whether `loopWrite` has work: bytes in the engine, or bytes the transport holds until drain (Paho's want_write). */
  wantWrite(): boolean {
    return this.#phase === "open" && (this.#blocked || this.#held.length > 0 || this.engine.wantsWrite());
  }

  /**
   * The transport asked to wait for drain, or bytes wait for `commit`: a
   * `loopWrite` now would write nothing (select would not report the socket
   * writable). `onWritable` says when this ends.
   */
  get writeBlocked(): boolean {
    return this.#blocked || (this.#held.length > 0 && (this.#heldFull() || !this.engine.wantsWrite()));
  }

  /** Whether `loopRead` has work now (what `onReadable` announced). */
  wantRead(): boolean {
    return this.#ended !== undefined || (this.#phase === "open" && (this.#inbox.length > 0 || this.engine.wantsEvents()));
  }

  /**
   * Milliseconds until `loopMisc` has work (0: now), or undefined when it has
   * none until something else happens. Paho's examples call loop_misc every
   * second; this lets a loop sleep exactly as long as it may.
   */
  miscDelay(): number | undefined {
    let at: number | undefined;
    if (this.#phase === "open") at = this.engine.pollTimeout();
    else if (this.#phase === "closing") at = this.#closeBy;
    if (this.#ended !== undefined) return 0;
    return at === undefined ? undefined : Math.max(0, at - this.now());
  }

  /** The socket of the current connection (net.Socket, tls.TLSSocket, a WebSocket), or undefined. */
  socket(): unknown {
    return this.#phase === "open" ? this.#sock : undefined;
  }

  /** Whether a network connection is open (between onSocketOpen and onSocketClose). */
  get isOpen(): boolean {
    return this.#phase === "open";
  }

  // ==== commands: the engine's, with the loop's clock ====

  /** `engine.publish` with the loop's clock; returns the mid. Throws the engine's typed errors. */
  publish(request: PublishRequest): number {
    return this.#command((now) => this.engine.publish(now, request));
  }

  subscribe(subscriptions: Subscription | Subscription[], properties?: Properties): number {
    return this.#command((now) => this.engine.subscribe(now, subscriptions, properties));
  }

  unsubscribe(topicFilters: string | string[], properties?: Properties): number {
    return this.#command((now) => this.engine.unsubscribe(now, topicFilters, properties));
  }

  /** Queues DISCONNECT; `loopWrite` sends it, then the `closed` event comes and the socket closes. */
  disconnect(options: { reasonCode?: number; properties?: Properties } = {}): void {
    this.#command((now) => this.engine.disconnect(now, options));
  }

  auth(options: { reasonCode: number; properties?: Properties }): void {
    this.#command((now) => this.engine.auth(now, options));
  }

  /** Acknowledges a QoS 1/2 message in manual-ack mode. */
  ack(packetId: number, options: { reasonCode?: number; properties?: Properties } = {}): boolean {
    return this.#command((now) => this.engine.ack(now, packetId, options));
  }

  /**
   * Ends the current connection at once, without DISCONNECT (the broker then
   * publishes the will): the transport is cut, and the loss is reported like
   * any other by the next `loopRead`/`loopMisc`. Does nothing without one.
   */
  abort(error?: unknown): void {
    if (this.#phase === "opening") this.#transport?.close(error ?? new TransportError(TransportErrorCode.Aborted, "aborted"));
    else if (this.#phase === "open" && this.#ended === undefined) {
      this.#transport?.close(error ?? new TransportError(TransportErrorCode.Aborted, "aborted"));
    } else if (this.#phase === "closing") this.#forget(error);
  }

  // ==== internals ====

  #command<T>(run: (now: number) => T): T {
    const result = run(this.now());
    this.#updateWriteInterest();
    if (this.engine.wantsEvents()) this.#signalReadable();
    return result;
  }

  #signalReadable(): void {
    if (this.#readSignalled) return;
    this.#readSignalled = true;
    this.onReadable?.();
  }

  #flush(now: number): void {
    const transport = this.#transport;
    if (this.#blocked || this.#heldFull() || transport === undefined) return;
    const chunks = this.engine.pollTransmit(now);
    if (chunks.length === 0) return;
    // Only bytes that carry a change the store must hold wait (a QoS 1 PUBLISH does not: at least once).
    const pending = this.#commit !== undefined && this.engine.transmitNeedsSave ? this.#commit() : undefined;
    if (pending === undefined && this.#held.length === 0) {
      if (!transport.write(chunks)) this.#blocked = true;
      return;
    }
    // Behind a batch that waits, even bytes that need no commit wait: order is kept.
    const batch = { chunks, bytes: chunks.reduce((n, c) => n + c.length, 0), ready: pending === undefined };
    this.#held.push(batch);
    this.#heldBytes += batch.bytes;
    pending?.then(
      () => {
        batch.ready = true;
        this.#release(transport, true);
      },
      (e: unknown) => {
        if (this.#transport !== transport) return;
        this.#held = [];
        this.#heldBytes = 0;
        this.#closeAfterCommit = false;
        // The bytes never go out: the store could not make them safe to send.
        transport.close(e);
      },
    );
  }

  /** Held batches stop the loop taking more from the engine past these (the engine's own output bound then holds). */
  #heldFull(): boolean {
    return this.#held.length >= HELD_BATCHES || this.#heldBytes >= HELD_BYTES;
  }

  /**
   * Writes the held batches whose commits are done, in order (and closes, if
   * the engine ended the connection meanwhile and nothing is left). From a
   * commit's resolution (`later`), it tells the caller's loop it may go on.
   */
  #release(transport: Transport, later: boolean): void {
    if (this.#transport !== transport) return; // that connection is gone: its bytes with it
    let wrote = false;
    while (this.#held.length > 0 && this.#held[0]!.ready) {
      const batch = this.#held.shift()!;
      this.#heldBytes -= batch.bytes;
      if (!transport.write(batch.chunks)) this.#blocked = true;
      wrote = true;
    }
    if (this.#closeAfterCommit) {
      if (this.#held.length === 0) {
        this.#closeAfterCommit = false;
        transport.close();
      }
      return;
    }
    if (wrote && later && this.#phase === "open") {
      this.#updateWriteInterest();
      this.onWritable?.();
    }
  }

  /** Delivers the engine's events; a `closed` one ends the connection. Returns the code for this call. */
  #dispatch(now: number): MqttErrorCode {
    let rc: MqttErrorCode = MQTT_ERR_SUCCESS;
    for (let e = this.engine.pollEvent(now); e !== undefined; e = this.engine.pollEvent(now)) {
      if (e.type === "closed") rc = this.#engineClosed(now, e);
      else this.onEvent?.(e);
    }
    return rc;
  }

  /** The engine ended the connection: send what it left (DISCONNECT), close gracefully, report. */
  #engineClosed(now: number, e: ClosedEvent): MqttErrorCode {
    if (this.#phase !== "open") {
      // Already torn down (the transport was lost first): only the event is left.
      this.onEvent?.(e);
      return resultOfClose(e.reason);
    }
    const local = e.reason.kind === "local";
    this.#blocked = false; // a graceful close queues behind whatever the transport holds
    const chunks = this.engine.pollTransmit(now);
    // Behind bytes that wait for a commit, the last ones (DISCONNECT) wait too.
    if (this.#held.length > 0) {
      this.#held.push({ chunks, bytes: 0, ready: true });
      this.#closeAfterCommit = true;
    } else if (chunks.length > 0) this.#transport?.write(chunks);
    // Paho: disconnect() → on_disconnect, then the socket hooks; anything else → hooks first.
    if (local) this.onEvent?.(e);
    this.#teardown();
    this.#phase = "closing";
    this.#closeBy = now + this.#closeTimeoutMs;
    if (!this.#closeAfterCommit) this.#transport?.close();
    if (!local) this.onEvent?.(e);
    if (this.#ended !== undefined) this.#finishClosing();
    return resultOfClose(e.reason);
  }

  /** The transport ended on its own (the broker closed, a reset, a TLS alert): hooks, then the engine's `closed`. */
  #lost(now: number): MqttErrorCode {
    const error = this.#ended?.error;
    this.#teardown();
    this.#transport = undefined;
    this.#phase = "idle";
    this.#ended = undefined;
    this.#blocked = false;
    this.#held = [];
    this.#heldBytes = 0;
    this.#closeAfterCommit = false;
    this.engine.connectionLost(now, error);
    return this.#dispatch(now);
  }

  /** The socket hooks that end a connection: unregister (if registered), then close. */
  #teardown(): void {
    const sock = this.#sock;
    if (this.#registered) {
      this.#registered = false;
      this.onSocketUnregisterWrite?.(sock);
    }
    this.onSocketClose?.(sock);
    this.#sock = undefined;
  }

  /** A graceful close is over (the transport reported its close). */
  #finishClosing(): void {
    this.#transport = undefined;
    this.#phase = "idle";
    this.#ended = undefined;
    this.#closeBy = undefined;
    this.#blocked = false;
    this.#held = [];
    this.#heldBytes = 0;
    this.#closeAfterCommit = false;
    this.#inbox = [];
  }

  /** Drops the current transport at once (cut, no more notifications from it). */
  #forget(error: unknown): void {
    const t = this.#transport;
    this.#finishClosing();
    this.#sock = undefined;
    t?.close(error ?? new TransportError(TransportErrorCode.Aborted, "closed"));
  }

  #updateWriteInterest(): void {
    const want = this.wantWrite();
    if (want && !this.#registered) {
      this.#registered = true;
      this.onSocketRegisterWrite?.(this.#sock);
    } else if (!want && this.#registered) {
      this.#registered = false;
      this.onSocketUnregisterWrite?.(this.#sock);
    }
  }
}
