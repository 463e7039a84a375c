/**
 * @sansmqtt/transport-ws, the Node entry (export condition "node"): MQTT over
 * WebSockets through the ws package, with the "mqtt" subprotocol, binary
 * frames, extra headers (Paho's ws_set_options), and for wss:// every TLS
 * option of @sansmqtt/transport-tls. See README.md.
 */
import { refuseUnknownOptions, TransportError, TransportErrorCode as C } from "@sansmqtt/core";
import { errorCode, messageOf, netError } from "@sansmqtt/transport-tcp";
import { checkTlsOptionNames, prepareTls, TLS_SECURITY_OPTION_NAMES, tlsError, type PreparedTls, type TlsSecurityOptions } from "@sansmqtt/transport-tls";
import WebSocket from "ws";
import { checkWsOptions, MQTT_SUBPROTOCOL, WsTransportBase, type WsBaseOptions } from "./common.js";

export type { Transport, TransportHandlers, TransportState, TransportErrorCode } from "@sansmqtt/core";
export { TransportError } from "@sansmqtt/core";
export type { TlsSecurityOptions } from "@sansmqtt/transport-tls";
export { DEFAULT_CONNECT_TIMEOUT, MQTT_SUBPROTOCOL, type WsBaseOptions } from "./common.js";

export type Headers = Readonly<Record<string, string>>;

export interface WsOptions extends WsBaseOptions {
  /**
   * Extra HTTP headers for the upgrade request (Paho's `ws_set_options(headers=...)`):
   * an object, or a function called on every `open()` (fresh tokens) with the URL.
   */
  readonly headers?: Headers | ((request: { readonly url: string }) => Headers);
  /** TLS for wss:// (CA, client certificate, versions, ALPN, SNI, context, insecure); verified by default. */
  readonly tls?: TlsSecurityOptions;
  /** Host name lookup for the HTTP request, as net.connect's `lookup`. */
  readonly lookup?: import("node:net").LookupFunction;
}

/**
 * The ws package's WebSocket as `socket()` types it, so that consumers need no
 * @types/ws (with it installed, cast to `import("ws").WebSocket` for the rest).
 */
export interface NodeWebSocket {
  readonly url: string;
  readonly protocol: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  readonly extensions: string;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** Node's writable high-water mark: above it, write() asks the caller to wait. */
const HIGH_WATER_MARK = 16 * 1024;

/** MQTT over WebSockets in Node (the ws package). `socket()` is the ws WebSocket. */
export class WsTransport extends WsTransportBase<NodeWebSocket> {
  readonly options: WsOptions;
  readonly #tls: PreparedTls | undefined;
  readonly #secure: boolean;
  #raw: WebSocket | undefined;
  readonly #afterSend = (): void => {
    if (this.#raw !== undefined && this.#raw.bufferedAmount < HIGH_WATER_MARK) this.socketDrained();
  };

  /** Throws a TransportError (ERR_TRANSPORT_CONFIG) for options that cannot work. */
  constructor(options: WsOptions) {
    super(options);
    refuseUnknownOptions(options, ["url", "connectTimeoutMs", "headers", "tls", "lookup"], "WsTransport");
    if (options.tls !== undefined) checkTlsOptionNames(options.tls, TLS_SECURITY_OPTION_NAMES, "WsTransport tls");
    const url = checkWsOptions(options);
    this.#secure = url.protocol === "wss:";
    if (options.tls !== undefined && !this.#secure) throw new TransportError(C.Config, "tls options given for a ws:// URL (use wss://)");
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    this.#tls = this.#secure ? prepareTls(options.tls ?? {}, host) : undefined;
    this.options = options;
  }

  protected connectSocket(): NodeWebSocket {
    const h = this.options.headers;
    const headers = typeof h === "function" ? h({ url: this.url }) : h;
    const ws = new WebSocket(this.url, MQTT_SUBPROTOCOL, {
      perMessageDeflate: false,
      ...(headers !== undefined ? { headers: { ...headers } } : {}),
      ...(this.options.lookup !== undefined ? { lookup: this.options.lookup } : {}),
      ...(this.#tls ?? {}),
    } as unknown as WebSocket.ClientOptions);
    this.#raw = ws;
    ws.on("open", () => this.socketOpen(ws.protocol));
    ws.on("message", (data, isBinary) => {
      if (!isBinary) return this.socketText();
      if (Array.isArray(data)) this.socketData(Buffer.concat(data));
      else this.socketData(data instanceof ArrayBuffer ? new Uint8Array(data) : data);
    });
    ws.on("unexpected-response", (req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      this.fail(new TransportError(C.WsUpgrade, `${this.url}: the server refused the WebSocket upgrade: HTTP ${status} ${res.statusMessage ?? ""}`.trimEnd(), { status }));
      req.destroy();
    });
    ws.on("error", (err) => this.socketError(this.socketErrorToTransportError(err)));
    ws.on("close", (code, reason) => this.socketClose(code, reason.toString()));
    return ws;
  }

  protected sendBytes(bytes: Uint8Array): boolean {
    const ws = this.#raw!;
    ws.send(bytes, { binary: true }, this.#afterSend);
    return ws.bufferedAmount < HIGH_WATER_MARK;
  }

  protected closeSocket(code: number): void {
    this.#raw!.close(code);
  }

  protected abortSocket(): void {
    const ws = this.#raw!;
    ws.removeAllListeners();
    ws.on("error", () => undefined);
    ws.terminate();
  }

  protected socketErrorToTransportError(err: unknown): TransportError {
    if (err instanceof TransportError) return err;
    const code = errorCode(err) ?? "";
    const m = messageOf(err);
    if (code.startsWith("WS_ERR_") || /subprotocol/i.test(m)) {
      return new TransportError(C.WsProtocol, `${this.url}: ${m}`, { cause: err });
    }
    const status = /^Unexpected server response: (\d+)/.exec(m);
    if (status) return new TransportError(C.WsUpgrade, `${this.url}: the server refused the WebSocket upgrade: HTTP ${status[1]}`, { cause: err, status: Number(status[1]) });
    if (/Invalid Sec-WebSocket-Accept|Invalid Upgrade header/i.test(m)) {
      return new TransportError(C.WsUpgrade, `${this.url}: ${m}`, { cause: err });
    }
    return this.#secure ? tlsError(err, this.url, this.state === "opening") : netError(err, this.url);
  }
}
