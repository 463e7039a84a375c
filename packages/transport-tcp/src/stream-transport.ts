// The Transport contract over a Node stream socket (net.Socket, tls.TLSSocket):
// state, handlers, write with drain, graceful and abortive close, the connect
// timeout and the bound on a graceful close. TcpTransport and TlsTransport
// differ only in how they open and how they name errors.
import type net from "node:net";
import { TransportError, TransportErrorCode as C, type Transport, type TransportHandlers, type TransportState } from "@sansmqtt/core";
import { DEFAULT_CLOSE_TIMEOUT } from "./connect.js";
import { messageOf } from "./errors.js";

export abstract class StreamTransport<S extends net.Socket = net.Socket> implements Transport {
  #state: TransportState = "idle";
  #handlers: TransportHandlers | undefined;
  #socket: S | undefined;
  #socketClosed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #cancelOpening: (() => void) | undefined;
  #error: TransportError | undefined;
  #graceful = false;
  #needDrain = false;
  #done = false;

  readonly #connectTimeoutMs: number;
  readonly #closeTimeoutMs: number | undefined;
  /**
   * @param connectTimeoutMs milliseconds from open() to onOpen; 0 for none.
   * @param closeTimeoutMs milliseconds a graceful close() waits for the peer to
   *   close its side; 0 for no bound. When not given: the subclass's
   *   `options.closeTimeoutMs` if it has one (read at close(), so a subclass
   *   that passes only the connect timeout still honours the option), else
   *   DEFAULT_CLOSE_TIMEOUT (2 000).
   */
  constructor(
    connectTimeoutMs: number,
    closeTimeoutMs?: number,
  ) {
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#closeTimeoutMs = closeTimeoutMs;
  }

  get state(): TransportState {
    return this.#state;
  }

  socket(): S | undefined {
    return this.#socket;
  }

  open(handlers: TransportHandlers): void {
    if (this.#state !== "idle") throw new Error("Transport.open: called twice; make a new transport to reconnect");
    this.#handlers = handlers;
    this.#state = "opening";
    if (this.#connectTimeoutMs > 0) {
      this.#timer = setTimeout(() => this.fail(this.timeoutError(this.#connectTimeoutMs)), this.#connectTimeoutMs);
    }
    try {
      this.#cancelOpening = this.start();
    } catch (err) {
      this.fail(this.mapError(err));
    }
  }

  write(chunks: readonly Uint8Array[]): boolean {
    const state = this.#state;
    if (state === "idle" || state === "opening") throw new Error("Transport.write: not open yet (wait for onOpen)");
    const socket = this.#socket;
    if (state !== "open" || socket === undefined || socket.destroyed) return true;
    let ok = !socket.writableNeedDrain;
    if (chunks.length === 1) ok = socket.write(chunks[0]!);
    else if (chunks.length > 1) {
      socket.cork();
      for (const chunk of chunks) ok = socket.write(chunk);
      socket.uncork();
    }
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
        error instanceof TransportError
          ? error
          : new TransportError(C.Aborted, `closed by the caller: ${messageOf(error)}`, { cause: error });
      this.#graceful = false;
      this.#state = "closing";
      this.#teardown();
      return;
    }
    if (state === "closing") return;
    this.#graceful = true;
    this.#state = "closing";
    const socket = this.#socket;
    if (state !== "open" || socket === undefined) {
      this.#teardown(); // still opening: give up
      return;
    }
    // FIN after the queued bytes; "close" comes once the peer closes its side too.
    socket.end();
    this.#boundClose(socket);
  }

  /** Starts opening; returns how to cancel whatever is still pending. */
  protected abstract start(): (() => void) | undefined;
  /** An error of this transport's socket as a TransportError. */
  protected abstract mapError(err: unknown): TransportError;
  /** The connect timeout ran out; what was still pending? */
  protected abstract timeoutError(ms: number): TransportError;

  /** Takes `socket` as the one that carries the data (and whose "close" ends the transport). */
  protected attach(socket: S): void {
    this.#cancelOpening = undefined;
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      if (this.#state === "open") this.#handlers!.onData(chunk);
    });
    socket.on("drain", () => {
      if (this.#needDrain && this.#state === "open") {
        this.#needDrain = false;
        this.#handlers!.onDrain();
      }
    });
    socket.on("error", (err) => {
      this.#error ??= this.mapError(err);
    });
    socket.on("close", () => {
      this.#socketClosed = true;
      this.#finish();
    });
    if (this.#done || this.#state === "closing") socket.destroy();
  }

  /** The attached socket is ready: report onOpen. */
  protected opened(): void {
    if (this.#state !== "opening") return;
    clearTimeout(this.#timer);
    this.#state = "open";
    this.#handlers!.onOpen();
  }

  /** Ends the attempt or the connection with `error` (the first error wins). */
  protected fail(error: TransportError): void {
    if (this.#done) return;
    this.#error ??= error;
    if (this.#state !== "closed") this.#state = "closing";
    this.#teardown();
  }

  /**
   * A peer that never closes its side would keep a graceful close waiting for
   * ever ("close" never fires). After closeTimeoutMs the socket is destroyed.
   * If our side had gone out by then (every queued byte handed to the system,
   * then FIN: the socket's "finish"), that is a clean close: onClose(undefined).
   * We asked to close and said all we had to say; what the peer does with its
   * half no longer matters, as for Paho, whose disconnect() closes the socket
   * without waiting at all. If bytes written before close() were still queued
   * (a peer that stopped reading), they are lost, and that is reported:
   * onClose(ERR_TRANSPORT_TIMEOUT). The timer is unref'd: it never keeps a
   * process alive by itself; finish() clears it when the close completes.
   */
  #boundClose(socket: S): void {
    const ms = this.#closeTimeoutMs ?? closeTimeoutOption(this) ?? DEFAULT_CLOSE_TIMEOUT;
    if (!(ms > 0) || this.#socketClosed) return;
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      if (this.#done || this.#socketClosed) return;
      if (!socket.writableFinished) {
        const unsent = socket.writableLength;
        this.#graceful = false;
        this.#error = new TransportError(
          C.Timeout,
          `close: ${unsent > 0 ? `${unsent} bytes` : "bytes written before close()"} still unsent after ${ms} ms (the peer did not read them); dropped`,
        );
      }
      socket.destroy(); // "close" follows and calls finish
    }, ms);
    this.#closeTimer.unref();
  }

  #teardown(): void {
    clearTimeout(this.#timer);
    const cancel = this.#cancelOpening;
    this.#cancelOpening = undefined;
    cancel?.();
    const socket = this.#socket;
    if (socket !== undefined && !this.#socketClosed) {
      socket.destroy(); // "close" follows and calls finish
    } else {
      queueMicrotask(() => this.#finish());
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#cancelOpening?.();
    this.#cancelOpening = undefined;
    this.#state = "closed";
    this.#handlers?.onClose(this.#graceful ? undefined : this.#error);
  }
}

/** `options.closeTimeoutMs` of a subclass that keeps its options there (TcpTransport, TlsTransport). */
function closeTimeoutOption(t: object): number | undefined {
  const options = (t as { options?: { closeTimeoutMs?: unknown } }).options;
  const ms = typeof options === "object" && options !== null ? options.closeTimeoutMs : undefined;
  return typeof ms === "number" ? ms : undefined;
}
