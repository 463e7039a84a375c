// The Transport contract over a WebSocket, shared by the browser entry (the
// global WebSocket) and the Node entry (the ws package). No platform API here:
// the entries create the socket and report its events.
import { TransportError, TransportErrorCode as C, type Transport, type TransportHandlers, type TransportState } from "@sansmqtt/core";

/** What both entries take. */
export interface WsBaseOptions {
  /** ws://host:port/path or wss://host:port/path (Paho's `transport="websockets"` and `ws_set_options(path=...)`). */
  readonly url: string;
  /** Milliseconds from `open()` until the upgrade is done (TCP, TLS, HTTP); default 30 000; 0 waits forever. */
  readonly connectTimeoutMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT = 30_000;
/** The subprotocol MQTT over WebSockets uses [MQTT-6.0.0-3]. */
export const MQTT_SUBPROTOCOL = "mqtt";

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Checks the URL; throws ERR_TRANSPORT_CONFIG. */
export function checkWsOptions(o: WsBaseOptions): URL {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch (err) {
    throw new TransportError(C.Config, `not a URL: ${String(o.url)}`, { cause: err });
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TransportError(C.Config, `a WebSocket URL starts with ws:// or wss://, not ${url.protocol}//`);
  }
  if (o.connectTimeoutMs !== undefined && !(o.connectTimeoutMs >= 0)) {
    throw new TransportError(C.Config, `connectTimeoutMs ${o.connectTimeoutMs} is not a number of milliseconds`);
  }
  return url;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let n = 0;
  for (const c of chunks) n += c.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * The state machine; subclasses open the socket (`connectSocket`), send,
 * close, and report socket events through the `socket*` methods. One write()
 * is one binary WebSocket message; MQTT packets may span messages and a
 * message may hold several packets [MQTT-6.0.0-2], which the receiver's
 * decoder handles since onData hands on bytes, not packets.
 */
export abstract class WsTransportBase<S> implements Transport {
  #state: TransportState = "idle";
  #handlers: TransportHandlers | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #error: TransportError | undefined;
  #graceful = false;
  #opened = false;
  #needDrain = false;
  #done = false;
  protected ws: S | undefined;
  readonly url: string;

  readonly #connectTimeoutMs: number;
  constructor(
    options: WsBaseOptions,
    connectTimeoutMs: number = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT,
  ) {
    this.#connectTimeoutMs = connectTimeoutMs;
    
    this.url = checkWsOptions(options).href;
  }

  get state(): TransportState {
    return this.#state;
  }

  socket(): S | undefined {
    return this.ws;
  }

  open(handlers: TransportHandlers): void {
    if (this.#state !== "idle") throw new Error("Transport.open: called twice; make a new transport to reconnect");
    this.#handlers = handlers;
    this.#state = "opening";
    if (this.#connectTimeoutMs > 0) {
      const ms = this.#connectTimeoutMs;
      this.#timer = setTimeout(() => this.fail(new TransportError(C.Timeout, `no WebSocket connection to ${this.url} within ${ms} ms`)), ms);
    }
    try {
      this.ws = this.connectSocket();
    } catch (err) {
      this.fail(this.socketErrorToTransportError(err));
    }
  }

  write(chunks: readonly Uint8Array[]): boolean {
    const state = this.#state;
    if (state === "idle" || state === "opening") throw new Error("Transport.write: not open yet (wait for onOpen)");
    if (state !== "open" || this.ws === undefined) return true;
    const bytes = concat(chunks);
    if (bytes.byteLength === 0) return !this.#needDrain;
    const ok = this.sendBytes(bytes);
    if (!ok) this.#needDrain = true;
    return ok;
  }

  close(error?: unknown): void {
    const state = this.#state;
    if (state === "closed" || this.#done) return;
    if (state === "idle") {
      this.#state = "closed";
      this.#done = true;
      return;
    }
    if (error !== undefined) {
      this.#error =
        error instanceof TransportError ? error : new TransportError(C.Aborted, `closed by the caller: ${messageOf(error)}`, { cause: error });
      this.#graceful = false;
      this.#teardown();
      return;
    }
    if (state === "closing") return;
    this.#graceful = true;
    if (state === "opening") {
      this.#teardown();
      return;
    }
    this.#state = "closing";
    this.closeSocket(1000); // the close handshake; onClose when it completes
  }

  /** Creates the socket and wires its events to the `socket*` methods. */
  protected abstract connectSocket(): S;
  /** Sends one binary message; false when the caller should wait for drain. */
  protected abstract sendBytes(bytes: Uint8Array): boolean;
  /** Starts the WebSocket close handshake with `code`. */
  protected abstract closeSocket(code: number): void;
  /** Drops the connection at once; its later events are ignored. */
  protected abstract abortSocket(): void;
  /** An error thrown or emitted by the socket as a TransportError. */
  protected abstract socketErrorToTransportError(err: unknown): TransportError;

  protected socketOpen(protocol: string): void {
    if (this.#state !== "opening") return;
    if (protocol !== MQTT_SUBPROTOCOL) {
      this.fail(new TransportError(C.WsProtocol, `${this.url}: the server did not agree to the "mqtt" subprotocol (got ${JSON.stringify(protocol)})`));
      return;
    }
    clearTimeout(this.#timer);
    this.#opened = true;
    this.#state = "open";
    this.#handlers!.onOpen();
  }

  protected socketData(chunk: Uint8Array): void {
    if (this.#state === "open") this.#handlers!.onData(chunk);
  }

  /** A text frame: MQTT is binary only; the connection is closed [MQTT-6.0.0-1]. */
  protected socketText(): void {
    if (this.#done) return;
    this.fail(new TransportError(C.WsTextFrame, `${this.url}: the server sent a text frame; MQTT over WebSockets uses binary frames only`));
  }

  protected socketDrained(): void {
    if (this.#needDrain && this.#state === "open") {
      this.#needDrain = false;
      this.#handlers!.onDrain();
    }
  }

  /** The first error wins; the close event that follows reports it. */
  protected socketError(error: TransportError): void {
    this.#error ??= error;
  }

  protected socketClose(code: number, reason: string): void {
    if (this.#done) return;
    if (!this.#graceful && this.#error === undefined) {
      const why = reason ? `: ${reason}` : "";
      if (!this.#opened) {
        this.#error = new TransportError(C.WsUpgrade, `${this.url}: the WebSocket connection failed before it opened (close code ${code}${why})`);
      } else if (code === 1006) {
        this.#error = new TransportError(C.Reset, `${this.url}: the connection closed without a WebSocket close frame (1006)`, { status: code });
      } else if (code !== 1000 && code !== 1001 && code !== 1005) {
        this.#error = new TransportError(C.WsClosed, `${this.url}: the server closed the WebSocket with code ${code}${why}`, { status: code });
      }
    }
    this.#finish();
  }

  /** Ends with `error` at once (the first error wins). */
  protected fail(error: TransportError): void {
    if (this.#done) return;
    this.#error ??= error;
    this.#graceful = false;
    this.#teardown();
  }

  #teardown(): void {
    clearTimeout(this.#timer);
    this.#state = "closing";
    if (this.ws !== undefined) {
      try {
        this.abortSocket();
      } catch {
        // already gone
      }
    }
    queueMicrotask(() => this.#finish());
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#state = "closed";
    this.#handlers?.onClose(this.#graceful ? undefined : this.#error);
  }
}
