/**
 * The one shape every transport package has (@sansmqtt/transport-tcp, -tls,
 * -ws): a byte pipe that knows nothing about MQTT, sets no timer of its own
 * except the connect timeout and, if it chooses to, a bound on a graceful
 * close (see `Transport.close`), and never retries. The core itself opens nothing;
 * this file only describes the contract, plus the error class the transports
 * share so that `instanceof TransportError` and `code` mean the same everywhere.
 * Plain JavaScript: no platform API.
 */

/**
 * Stable transport error codes. Add new ones at the end; never rename.
 * Messages may change between versions; codes do not.
 */
export const TransportErrorCode = {
  /** The peer (or the unix socket path) refused the connection: ECONNREFUSED, ENOENT. */
  Refused: "ERR_TRANSPORT_REFUSED",
  /** The host name did not resolve (ENOTFOUND, EAI_AGAIN). */
  Dns: "ERR_TRANSPORT_DNS",
  /**
   * Opening (TCP connect, proxy, WebSocket upgrade) took longer than the
   * connect timeout; or a graceful `close()` bounded by the transport (see
   * `Transport.close`) ran out while bytes written before it were still
   * unsent: they were dropped.
   */
  Timeout: "ERR_TRANSPORT_TIMEOUT",
  /** The connection was reset or broken after it opened (ECONNRESET, EPIPE, abnormal WebSocket close 1006). */
  Reset: "ERR_TRANSPORT_RESET",
  /** Any other socket error (ENETUNREACH, EADDRINUSE for a bind address, ...); `cause` says which. */
  Io: "ERR_TRANSPORT_IO",
  /** The caller closed the transport with an error (`close(error)`); `cause` is that error. */
  Aborted: "ERR_TRANSPORT_ABORTED",
  /** Options that cannot work (a missing file, a bad key passphrase, a bad URL); thrown by the constructor. */
  Config: "ERR_TRANSPORT_CONFIG",
  /** The server's certificate chain does not end at a trusted CA. */
  TlsUnknownCa: "ERR_TLS_UNKNOWN_CA",
  /** The server's certificate is not for the host name we asked for. */
  TlsHostname: "ERR_TLS_HOSTNAME",
  /** The server's certificate has expired. */
  TlsCertExpired: "ERR_TLS_CERT_EXPIRED",
  /** The server's certificate is invalid for another reason (not yet valid, revoked, bad signature, ...). */
  TlsCertInvalid: "ERR_TLS_CERT_INVALID",
  /** The server requires a client certificate and we sent none (TLS 1.3 alert 116). */
  TlsCertRequired: "ERR_TLS_CERT_REQUIRED",
  /** The TLS handshake failed otherwise (an alert from the server, no common version or cipher, closed mid-handshake). */
  TlsHandshake: "ERR_TLS_HANDSHAKE",
  /** The TLS handshake did not finish within the connect timeout. */
  TlsHandshakeTimeout: "ERR_TLS_HANDSHAKE_TIMEOUT",
  /** The server refused the WebSocket upgrade; `status` is the HTTP status when known. */
  WsUpgrade: "ERR_WS_UPGRADE",
  /** The server sent a text frame; MQTT over WebSockets is binary only [MQTT-6.0.0-1]. */
  WsTextFrame: "ERR_WS_TEXT_FRAME",
  /** The server broke the WebSocket protocol or did not agree to the "mqtt" subprotocol. */
  WsProtocol: "ERR_WS_PROTOCOL",
  /** The server closed the WebSocket with an error close code; `status` is that code. */
  WsClosed: "ERR_WS_CLOSED",
  /** The proxy refused or failed the tunnel (HTTP status in `status`, or the SOCKS5 reply in the message). */
  Proxy: "ERR_PROXY",
  /** The proxy refused our credentials (HTTP 407, SOCKS5 authentication failure). */
  ProxyAuth: "ERR_PROXY_AUTH",
} as const;

export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

/** Why a transport failed: a stable `code`, the original error as `cause`. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  readonly code: TransportErrorCode;
  /** The HTTP status (ERR_WS_UPGRADE, ERR_PROXY) or WebSocket close code (ERR_WS_CLOSED), when there is one. */
  readonly status: number | undefined;

  constructor(code: TransportErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.code = code;
    this.status = options.status;
  }
}

/**
 * Refuses options a transport does not know (ERR_TRANSPORT_CONFIG, naming
 * the option), so that a misspelt or renamed option never passes silently.
 * For the transport packages' constructors.
 */
export function refuseUnknownOptions(options: object, known: readonly string[], who: string): void {
  for (const name of Object.keys(options)) {
    if (!known.includes(name)) {
      throw new TransportError(TransportErrorCode.Config, `${who}: unknown option "${name}" (known: ${known.join(", ")})`);
    }
  }
}

/** Where a transport is: `open()` moves "idle" to "opening"; "closed" is final. */
export type TransportState = "idle" | "opening" | "open" | "closing" | "closed";

/**
 * What a transport calls. Never from inside one of the transport's own methods
 * (always later, from the event loop), so a handler may call any method.
 */
export interface TransportHandlers {
  /** The connection is up (TCP connected; TLS handshake done and verified; WebSocket upgraded). At most once. */
  onOpen(): void;
  /**
   * Bytes arrived, in order, cut anywhere (not on MQTT packet boundaries).
   * Ownership of `chunk` passes to the receiver: the transport never reads,
   * reuses or modifies it again, so it may be kept without copying. It may be
   * a view into a larger buffer (a Node buffer is a Uint8Array), so mind
   * `byteOffset` when taking its `.buffer`. Only between onOpen and onClose,
   * and not after `close()`.
   */
  onData(chunk: Uint8Array): void;
  /** After `write` returned false: the buffered bytes have gone out; write again. */
  onDrain(): void;
  /**
   * The connection is gone, exactly once per `open()`, last of all calls: after
   * `close()` (error undefined), after the peer ended it cleanly (undefined), or
   * with the error that ended it, including failures to open (then onOpen was
   * never called).
   */
  onClose(error: TransportError | undefined): void;
}

/**
 * A byte pipe for MQTT. One instance is one connection attempt: `open` once;
 * to reconnect, make a new transport (a client keeps a factory).
 */
export interface Transport {
  readonly state: TransportState;
  /**
   * Starts connecting. Calls `handlers.onOpen` when connected, or
   * `handlers.onClose(error)` if that fails. Throws if called twice.
   */
  open(handlers: TransportHandlers): void;
  /**
   * Queues bytes to send, in order. The transport keeps references to the
   * chunks until they are sent: do not modify them afterwards. Returns false
   * when the caller should wait for `onDrain` before writing more (the bytes
   * are still queued). Throws before `onOpen`; after `close()` or a failure,
   * the bytes are dropped (onClose says why) and it returns true.
   */
  write(chunks: readonly Uint8Array[]): boolean;
  /**
   * Ends the connection. Safe to call in any state, more than once.
   *
   * Without an error: gracefully, after the bytes already written have gone
   * out (TCP FIN, TLS close_notify, WebSocket close 1000); onClose(undefined)
   * follows once the peer has closed its side too.
   *
   * A peer that never closes its side would keep that wait going for ever. A
   * transport MAY bound it, with a close timeout of its own that it documents
   * with its default and that 0 turns off; the timer starts at this call, is
   * cleared when the close completes first, and never keeps a Node program
   * running by itself. When it runs out, the transport destroys the
   * connection and reports exactly one of:
   * - onClose(undefined), when everything written before `close()` had gone
   *   out by then, our end of the stream included (for TCP, every byte
   *   handed to the system, then FIN): we said all we had to say, so the
   *   close counts as clean whatever the peer does with its half (Paho's
   *   disconnect() does not wait for the peer at all);
   * - onClose(ERR_TRANSPORT_TIMEOUT), when some of those bytes were still
   *   unsent (a peer that stopped reading): they are dropped, and that is
   *   reported.
   * @sansmqtt/transport-tcp and -tls (one implementation) bound it with
   * `closeTimeoutMs`, default 2,000 ms. A transport without a bound waits for
   * the peer as long as it takes; with any transport, close(error) ends the
   * wait sooner.
   *
   * With an error: at once, unsent bytes dropped; onClose gets it (a
   * TransportError as is, anything else wrapped as ERR_TRANSPORT_ABORTED).
   */
  close(error?: unknown): void;
  /** The underlying socket object (net.Socket, tls.TLSSocket, a WebSocket), once `open` made it. */
  socket(): unknown;
}
