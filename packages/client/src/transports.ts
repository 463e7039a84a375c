/**
 * The transport factory. Each transport package is loaded with a dynamic
 * import the first time it is chosen, so a bundle for a browser that uses
 * `transport: "websockets"` pulls in neither node:net nor node:tls, and a
 * program that never uses WebSockets never loads `ws`. On Node the ws package
 * resolves to its Node entry (the `ws` library) through its export conditions;
 * elsewhere to the global WebSocket.
 *
 * Only types are imported statically (erased at build time).
 */
import type { Transport } from "@sansmqtt/core";
import type { ProxyOptions } from "@sansmqtt/transport-tcp";
import type { TlsSecurityOptions } from "@sansmqtt/transport-tls";

export type TransportName = "tcp" | "websockets" | "unix";

/** Everything the client knows about where and how to connect, for one attempt. */
export interface TransportSettings {
  readonly transport: TransportName;
  readonly host: string;
  readonly port: number;
  readonly bindAddress: string | undefined;
  readonly bindPort: number | undefined;
  readonly connectTimeoutMs: number;
  readonly tls: TlsSecurityOptions | undefined;
  readonly proxy: ProxyOptions | undefined;
  readonly wsPath: string;
  readonly wsHeaders: Readonly<Record<string, string>> | ((request: { readonly url: string }) => Readonly<Record<string, string>>) | undefined;
}

/** A synchronous factory (ExternalLoop calls it inside `connect()`), made once the module is loaded. */
export type TransportFactory = () => Transport;

type TcpModule = typeof import("@sansmqtt/transport-tcp");
type TlsModule = typeof import("@sansmqtt/transport-tls");
type WsModule = typeof import("@sansmqtt/transport-ws");

let tcpModule: Promise<TcpModule> | undefined;
let tlsModule: Promise<TlsModule> | undefined;
let wsModule: Promise<WsModule> | undefined;

// Each import is written out in full (not through a variable) so bundlers see it and can split it off.
const loadTcp = (): Promise<TcpModule> => (tcpModule ??= import("@sansmqtt/transport-tcp"));
const loadTls = (): Promise<TlsModule> => (tlsModule ??= import("@sansmqtt/transport-tls"));
const loadWs = (): Promise<WsModule> => (wsModule ??= import("@sansmqtt/transport-ws"));

/** Host names that are IPv6 literals go in brackets in a URL. */
function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** The WebSocket URL for these settings (ws:// or wss:// when TLS is configured). */
export function websocketUrl(s: TransportSettings): string {
  const path = s.wsPath.startsWith("/") ? s.wsPath : `/${s.wsPath}`;
  return `${s.tls !== undefined ? "wss" : "ws"}://${urlHost(s.host)}:${s.port}${path}`;
}

/**
 * Loads the module these settings need and returns a factory that makes a
 * new transport per connection attempt. Configuration errors (a missing CA
 * file, a bad URL) surface when the factory runs, as the transport's
 * ERR_TRANSPORT_CONFIG.
 */
export async function transportFactory(s: TransportSettings): Promise<TransportFactory> {
  const tcp = {
    connectTimeoutMs: s.connectTimeoutMs,
    ...(s.bindAddress ? { bindAddress: s.bindAddress } : {}),
    ...(s.bindPort ? { bindPort: s.bindPort } : {}),
    ...(s.proxy !== undefined ? { proxy: s.proxy } : {}),
  };
  const where = s.transport === "unix" ? { path: s.host } : { host: s.host, port: s.port };
  if (s.transport === "websockets") {
    const { WsTransport } = await loadWs();
    const url = websocketUrl(s);
    // The standard (browser) entry takes url and connectTimeoutMs only; the extra fields are the Node entry's.
    const options = {
      url,
      connectTimeoutMs: s.connectTimeoutMs,
      ...(s.wsHeaders !== undefined ? { headers: s.wsHeaders } : {}),
      ...(s.tls !== undefined ? { tls: s.tls } : {}),
    };
    return () => new WsTransport(options);
  }
  if (s.tls !== undefined) {
    const { TlsTransport } = await loadTls();
    const options = { ...tcp, ...where, ...s.tls };
    return () => new TlsTransport(options);
  }
  const { TcpTransport } = await loadTcp();
  const options = { ...tcp, ...where };
  return () => new TcpTransport(options);
}
