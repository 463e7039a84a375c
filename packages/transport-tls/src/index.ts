/**
 * @sansmqtt/transport-tls: MQTT's byte stream over node:tls, directly or
 * through a SOCKS5 or HTTP CONNECT proxy. Certificates and host names are
 * verified by default; `insecure` turns that off, explicitly. No MQTT, no
 * retries; the connect timeout is its only timer. See README.md.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { refuseUnknownOptions, TransportError, TransportErrorCode as C } from "@sansmqtt/core";
import {
  checkTcpOptions,
  connectTcp,
  DEFAULT_CONNECT_TIMEOUT,
  describeTarget,
  errorCode,
  messageOf,
  netError,
  StreamTransport,
  TCP_OPTION_NAMES,
  type TcpOptions,
} from "@sansmqtt/transport-tcp";

export type { Transport, TransportHandlers, TransportState, TransportErrorCode } from "@sansmqtt/core";
export { TransportError } from "@sansmqtt/core";
export type { HttpProxyOptions, ProxyOptions, Socks5ProxyOptions, TcpOptions } from "@sansmqtt/transport-tcp";

type Pem = string | Uint8Array;

/**
 * Everything Paho's `tls_set`, `tls_set_context` and `tls_insecure_set` offer.
 * Files are read when the transport is made (errors then are ERR_TRANSPORT_CONFIG).
 */
export interface TlsSecurityOptions {
  /** Trusted CA certificates, PEM, in memory. Default: Node's bundled roots. */
  readonly ca?: Pem | readonly Pem[];
  /** Trusted CA certificates, PEM files (Paho's `ca_certs`). Added to `ca`. */
  readonly caFile?: string | readonly string[];
  /** Client certificate (chain), PEM, in memory. */
  readonly cert?: Pem;
  /** Client certificate (chain), PEM file (Paho's `certfile`). */
  readonly certFile?: string;
  /** Client private key, PEM, in memory. */
  readonly key?: Pem;
  /** Client private key, PEM file (Paho's `keyfile`). */
  readonly keyFile?: string;
  /** Passphrase of an encrypted key (Paho's `keyfile_password`). */
  readonly passphrase?: string;
  /** OpenSSL cipher list for TLS 1.2 and below (Paho's `ciphers`). */
  readonly ciphers?: string;
  /** Lowest TLS version to accept (Paho's `tls_version`), default Node's (TLSv1.2). */
  readonly minVersion?: tls.SecureVersion;
  /** Highest TLS version to offer, default TLSv1.3. */
  readonly maxVersion?: tls.SecureVersion;
  /** ALPN protocol names to offer, in order of preference (Paho's `alpn_protocols`). */
  readonly alpn?: readonly string[];
  /** SNI and the name the certificate must carry. Default `host` (no SNI when `host` is an IP address). */
  readonly servername?: string;
  /** A ready-made secure context (Paho's `tls_set_context`); then ca, cert, key, passphrase, ciphers and versions must not be set. */
  readonly secureContext?: tls.SecureContext;
  /**
   * Turns verification off, explicitly (Paho's `tls_insecure_set(True)` and
   * `cert_reqs=CERT_NONE`). Anyone on the path can then read and change the traffic.
   */
  readonly insecure?: {
    /** Accept a certificate for another host name. */
    readonly skipHostnameCheck?: boolean;
    /** Accept any certificate: unknown CA, expired, self-signed. */
    readonly skipCertificateCheck?: boolean;
  };
}

export interface TlsOptions extends TcpOptions, TlsSecurityOptions {}

/** Every option of TlsSecurityOptions (the WebSocket transport's `tls` takes these too). */
export const TLS_SECURITY_OPTION_NAMES: readonly string[] = [
  "ca",
  "caFile",
  "cert",
  "certFile",
  "key",
  "keyFile",
  "passphrase",
  "ciphers",
  "minVersion",
  "maxVersion",
  "alpn",
  "servername",
  "secureContext",
  "insecure",
];
const TLS_OPTION_NAMES: readonly string[] = [...TCP_OPTION_NAMES, ...TLS_SECURITY_OPTION_NAMES];
const INSECURE_OPTION_NAMES: readonly string[] = ["skipHostnameCheck", "skipCertificateCheck"];

/** Refuses unknown names in TlsSecurityOptions and in its `insecure` (a misspelt switch must not pass silently). */
export function checkTlsOptionNames(o: TlsSecurityOptions, known: readonly string[], who: string): void {
  refuseUnknownOptions(o, known, who);
  if (o.insecure !== undefined) refuseUnknownOptions(o.insecure, INSECURE_OPTION_NAMES, `${who} insecure`);
}

/** The tls.connect options that carry TlsSecurityOptions (for tls.connect, https, ws). */
export type PreparedTls = Pick<
  tls.ConnectionOptions,
  "secureContext" | "rejectUnauthorized" | "checkServerIdentity" | "ALPNProtocols" | "servername"
>;

const CONTEXT_FIELDS = ["ca", "caFile", "cert", "certFile", "key", "keyFile", "passphrase", "ciphers", "minVersion", "maxVersion"] as const;

/**
 * Reads the files and builds the secure context once. Throws TransportError
 * ERR_TRANSPORT_CONFIG for a missing file, a key that does not decrypt or
 * match, an unknown cipher list, or `secureContext` mixed with the fields it replaces.
 */
export function prepareTls(o: TlsSecurityOptions, host: string | undefined): PreparedTls {
  const config = (message: string, cause?: unknown): never => {
    throw new TransportError(C.Config, message, cause === undefined ? {} : { cause });
  };
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      return config(`cannot read the ${what} ${path}: ${messageOf(err)}`, err);
    }
  };
  let secureContext = o.secureContext;
  if (secureContext !== undefined) {
    const mixed = CONTEXT_FIELDS.filter((f) => o[f] !== undefined);
    if (mixed.length > 0) config(`secureContext replaces ${mixed.join(", ")}: set those on the context instead`);
  } else {
    const ca: Pem[] = o.ca === undefined ? [] : Array.isArray(o.ca) ? [...(o.ca as readonly Pem[])] : [o.ca as Pem];
    const caFiles = o.caFile === undefined ? [] : typeof o.caFile === "string" ? [o.caFile] : o.caFile;
    for (const f of caFiles) ca.push(read(f, "CA file"));
    if (o.cert !== undefined && o.certFile !== undefined) config("give cert or certFile, not both");
    if (o.key !== undefined && o.keyFile !== undefined) config("give key or keyFile, not both");
    const cert = o.certFile !== undefined ? read(o.certFile, "certificate file") : o.cert;
    const key = o.keyFile !== undefined ? read(o.keyFile, "key file") : o.key;
    if ((cert === undefined) !== (key === undefined)) config("a client certificate needs its key, and a key its certificate");
    try {
      secureContext = tls.createSecureContext({
        ...(ca.length > 0 ? { ca: ca.map((c) => (typeof c === "string" ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength))) } : {}),
        ...(cert !== undefined ? { cert: typeof cert === "string" ? cert : Buffer.from(cert) } : {}),
        ...(key !== undefined ? { key: typeof key === "string" ? key : Buffer.from(key) } : {}),
        ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}),
        ...(o.ciphers !== undefined ? { ciphers: o.ciphers } : {}),
        ...(o.minVersion !== undefined ? { minVersion: o.minVersion } : {}),
        ...(o.maxVersion !== undefined ? { maxVersion: o.maxVersion } : {}),
      });
    } catch (err) {
      const m = messageOf(err);
      const hint = /bad decrypt|bad password|decrypt/i.test(m) ? " (wrong passphrase for the key?)" : "";
      config(`the TLS options do not make a secure context: ${m}${hint}`, err);
    }
  }
  const servername = o.servername ?? (host !== undefined && net.isIP(host) === 0 ? host : undefined);
  return {
    secureContext: secureContext!,
    rejectUnauthorized: o.insecure?.skipCertificateCheck !== true,
    ...(o.insecure?.skipHostnameCheck === true ? { checkServerIdentity: () => undefined } : {}),
    ...(o.alpn !== undefined ? { ALPNProtocols: [...o.alpn] } : {}),
    ...(servername !== undefined ? { servername } : {}),
  };
}

const UNKNOWN_CA = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_UNTRUSTED",
]);
const CERT_INVALID = new Set([
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "HOSTNAME_MISMATCH",
]);

/**
 * A TLS socket's error as a TransportError. `handshaking`: the TCP connection
 * is up and the handshake not done, so a closed connection means a failed handshake.
 */
export function tlsError(err: unknown, where: string, handshaking: boolean): TransportError {
  if (err instanceof TransportError) return err;
  const code = errorCode(err) ?? "";
  const m = messageOf(err);
  const t = (c: (typeof C)[keyof typeof C], text: string): TransportError => new TransportError(c, `${where}: ${text} (${code || m})`, { cause: err });
  if (UNKNOWN_CA.has(code)) return t(C.TlsUnknownCa, "the server's certificate is not signed by a trusted CA");
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return t(C.TlsHostname, `the server's certificate is not for this host name: ${m}`);
  if (code === "CERT_HAS_EXPIRED") return t(C.TlsCertExpired, "the server's certificate has expired");
  if (CERT_INVALID.has(code)) return t(C.TlsCertInvalid, "the server's certificate is not valid");
  if (code.includes("CERTIFICATE_REQUIRED")) return t(C.TlsCertRequired, "the server requires a client certificate");
  if (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || (err as { library?: unknown })?.library === "SSL routines") {
    return t(C.TlsHandshake, `TLS failed: ${m}`);
  }
  if (handshaking && (code === "ECONNRESET" || code === "EPIPE" || /before secure TLS connection/.test(m))) {
    return t(C.TlsHandshake, "the server closed the connection during the TLS handshake");
  }
  return netError(err, where);
}

/** MQTT over TLS (default port 8883). `socket()` is the tls.TLSSocket. */
export class TlsTransport extends StreamTransport<tls.TLSSocket> {
  readonly options: TlsOptions;
  readonly #where: string;
  readonly #tls: PreparedTls;
  #handshaking = false;

  /** Throws a TransportError (ERR_TRANSPORT_CONFIG) for options that cannot work. */
  constructor(options: TlsOptions = {}) {
    checkTlsOptionNames(options, TLS_OPTION_NAMES, "TlsTransport");
    checkTcpOptions(options, TLS_OPTION_NAMES, "TlsTransport");
    const tlsOptions = prepareTls(options, options.path === undefined ? (options.host ?? "localhost") : options.host);
    super(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT);
    this.options = options;
    this.#tls = tlsOptions;
    this.#where = describeTarget(options, 8883);
  }

  protected start(): () => void {
    return connectTcp(this.options, 8883, (err, raw) => {
      if (err) return this.fail(err);
      this.#handshaking = true;
      raw!.on("error", (e) => this.fail(this.mapError(e)));
      const socket = tls.connect({ socket: raw!, host: this.options.host ?? "localhost", ...this.#tls });
      this.attach(socket);
      socket.once("secureConnect", () => {
        this.#handshaking = false;
        this.opened();
      });
    });
  }

  protected mapError(err: unknown): TransportError {
    return tlsError(err, this.#where, this.#handshaking);
  }

  protected timeoutError(ms: number): TransportError {
    if (this.#handshaking) return new TransportError(C.TlsHandshakeTimeout, `${this.#where}: no TLS handshake within ${ms} ms`);
    const via = this.options.proxy ? ` through the ${this.options.proxy.type} proxy` : "";
    return new TransportError(C.Timeout, `no connection to ${this.#where}${via} within ${ms} ms`);
  }
}
