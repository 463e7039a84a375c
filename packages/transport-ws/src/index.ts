/**
 * @sansmqtt/transport-ws, the entry for browsers, Deno, Bun and other runtimes
 * with a global WebSocket: MQTT over WebSockets with the "mqtt" subprotocol and
 * binary frames. No Node built-in, no dependency but the core. In Node the
 * package's "node" export condition picks ./node.js instead (the ws package,
 * with TLS options and headers). See README.md.
 */
import { refuseUnknownOptions, TransportError, TransportErrorCode as C } from "@sansmqtt/core";
import { DEFAULT_CONNECT_TIMEOUT, messageOf, MQTT_SUBPROTOCOL, WsTransportBase, type WsBaseOptions } from "./common.js";

export type { Transport, TransportHandlers, TransportState, TransportErrorCode } from "@sansmqtt/core";
export { TransportError } from "@sansmqtt/core";
export { DEFAULT_CONNECT_TIMEOUT, MQTT_SUBPROTOCOL, type WsBaseOptions } from "./common.js";

/** The standard WebSocket API, as far as this transport uses it. */
export interface StandardWebSocket {
  readonly protocol: string;
  readonly bufferedAmount: number;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type StandardWebSocketConstructor = new (url: string, protocols: string | string[]) => StandardWebSocket;

export interface WsOptions extends WsBaseOptions {
  /** The WebSocket class; default the global one. */
  readonly WebSocket?: StandardWebSocketConstructor;
}

/**
 * MQTT over the standard (global) WebSocket. The browser gives no HTTP status
 * for a refused upgrade and no drain event: a failed upgrade is ERR_WS_UPGRADE
 * without `status`, and `write` always returns true (watch
 * `socket().bufferedAmount` to throttle). Custom headers cannot be set here.
 */
export class WsTransport extends WsTransportBase<StandardWebSocket> {
  readonly #Ctor: StandardWebSocketConstructor;

  constructor(options: WsOptions) {
    super(options);
    refuseUnknownOptions(options, ["url", "connectTimeoutMs", "WebSocket"], "WsTransport");
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: StandardWebSocketConstructor }).WebSocket;
    if (Ctor === undefined) {
      throw new TransportError(C.Config, "no global WebSocket here; in Node, import @sansmqtt/transport-ws under the node condition (it uses the ws package)");
    }
    this.#Ctor = Ctor;
  }

  protected connectSocket(): StandardWebSocket {
    const ws = new this.#Ctor(this.url, MQTT_SUBPROTOCOL);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => this.socketOpen(ws.protocol);
    ws.onmessage = (ev) => {
      const data = ev.data;
      if (typeof data === "string") this.socketText();
      else if (data instanceof ArrayBuffer) this.socketData(new Uint8Array(data));
      else if (ArrayBuffer.isView(data)) this.socketData(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      else this.fail(new TransportError(C.WsProtocol, `${this.url}: a message of an unexpected kind (binaryType is not arraybuffer)`));
    };
    ws.onerror = (ev) => {
      const inner = (ev as { error?: unknown; message?: unknown }).error;
      this.socketError(this.socketErrorToTransportError(inner ?? ev));
    };
    ws.onclose = (ev) => this.socketClose(ev.code, ev.reason);
    return ws;
  }

  protected sendBytes(bytes: Uint8Array): boolean {
    this.ws!.send(bytes);
    return true;
  }

  protected closeSocket(code: number): void {
    this.ws!.close(code);
  }

  protected abortSocket(): void {
    const ws = this.ws!;
    ws.onopen = ws.onmessage = ws.onerror = null;
    ws.onclose = null;
    ws.close();
  }

  protected socketErrorToTransportError(err: unknown): TransportError {
    if (err instanceof TransportError) return err;
    // The standard API says nothing about why (no status, no errno).
    const detail = err instanceof Error ? `: ${messageOf(err)}` : "";
    return new TransportError(C.WsUpgrade, `${this.url}: the WebSocket connection failed${detail}`, { cause: err });
  }
}
