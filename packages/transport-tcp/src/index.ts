/**
 * @sansmqtt/transport-tcp: MQTT's byte stream over node:net, TCP or a unix
 * domain socket, directly or through a SOCKS4/4a, SOCKS5 or HTTP CONNECT proxy.
 * No MQTT, no retries; its only timers are the connect timeout and the bound on
 * a graceful close (closeTimeoutMs). See README.md.
 */
import net from "node:net";
import type { TransportError } from "@sansmqtt/core";
import { checkTcpOptions, connectTcp, DEFAULT_CLOSE_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, describeTarget, type TcpOptions } from "./connect.js";
import { netError } from "./errors.js";
import { StreamTransport } from "./stream-transport.js";
import { TransportError as TE, TransportErrorCode as C } from "@sansmqtt/core";

export type { Transport, TransportHandlers, TransportState, TransportErrorCode } from "@sansmqtt/core";
export { TransportError } from "@sansmqtt/core";
export {
  authority,
  checkTcpOptions,
  connectTcp,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_CONNECT_TIMEOUT,
  describeTarget,
  TCP_OPTION_NAMES,
  type Connected,
  type HttpProxyOptions,
  type ProxyOptions,
  type Socks4ProxyOptions,
  type Socks5ProxyOptions,
  type TcpOptions,
} from "./connect.js";
export { errorCode, messageOf, netError } from "./errors.js";
export { StreamTransport } from "./stream-transport.js";

/** MQTT over TCP (default port 1883) or a unix domain socket. `socket()` is the net.Socket. */
export class TcpTransport extends StreamTransport<net.Socket> {
  readonly options: TcpOptions;
  readonly #where: string;

  /** Throws a TransportError (ERR_TRANSPORT_CONFIG) for options that cannot work. */
  constructor(options: TcpOptions = {}) {
    checkTcpOptions(options);
    super(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT, options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT);
    this.options = options;
    this.#where = describeTarget(options, 1883);
  }

  protected start(): () => void {
    return connectTcp(this.options, 1883, (err, socket) => {
      if (err) return this.fail(err);
      this.attach(socket!);
      this.opened();
    });
  }

  protected mapError(err: unknown): TransportError {
    return netError(err, this.#where);
  }

  protected timeoutError(ms: number): TransportError {
    const via = this.options.proxy ? ` through the ${this.options.proxy.type} proxy` : "";
    return new TE(C.Timeout, `no connection to ${this.#where}${via} within ${ms} ms`);
  }
}
