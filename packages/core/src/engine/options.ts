/**
 * The engine's options: what each means, its unit and default, and their
 * checks. Units, in one place:
 *
 * | option              | unit                                  | default |
 * |---------------------|---------------------------------------|---------|
 * | keepAlive           | seconds (MQTT's unit, as Paho's)      | 60      |
 * | connectTimeoutMs    | milliseconds                          | 30,000  |
 * | pingTimeoutMs       | milliseconds                          | the keep alive interval |
 * | maximumPacketSize   | bytes                                 | 268,435,460 (MQTT's maximum) |
 * | maxInflight         | messages                              | 20      |
 * | maxQueued           | messages                              | 10,000  |
 * | maxSendAttempts     | network connections (per message)     | 10      |
 * | bridge              | boolean (mosquitto's bridge mode)     | false   |
 * | properties.sessionExpiryInterval, messageExpiryInterval | seconds (MQTT 5) | |
 *
 * Every `now` the engine is given is in milliseconds on the caller's
 * monotonic clock.
 */
import { mustBe, show } from "../codec/bytes.js";
import { MQTT_MAX_PACKET_SIZE } from "../codec/decoder.js";
import type { ConnectPacket, Properties, ProtocolVersion, Will } from "../codec/types.js";
import { type LocalProtocolError } from "../errors.js";
import { misuse } from "./errors.js";
import * as E from "../codes.js";

export interface ConnectionOptions {
  /** 3 = MQTT 3.1, 4 = MQTT 3.1.1 (default, as Paho), 5 = MQTT 5.0. */
  protocolVersion?: ProtocolVersion;
  /** "" lets an MQTT 3.1.1 / 5 server assign one (3.1.1 needs clean). Generating ids is the caller's job. */
  clientId?: string;
  /** Clean session (3.x) / clean start (5) for `connect()` calls that do not say otherwise. Default true. */
  clean?: boolean;
  /** Keep alive in **seconds** (MQTT's unit); 0 turns it off. Default 60. */
  keepAlive?: number;
  will?: Will;
  username?: string;
  password?: Uint8Array;
  /**
   * MQTT 5 CONNECT properties. `receiveMaximum`, `maximumPacketSize` and
   * `topicAliasMaximum` are also enforced on what the server sends.
   */
  properties?: Properties;
  /**
   * The largest packet accepted from the server, in bytes; a larger one ends the
   * connection (0x95) as soon as its fixed header arrives, before its body is
   * buffered. In MQTT 5 it is also sent as the CONNECT Maximum Packet Size
   * (unless `properties.maximumPacketSize` says otherwise). Default: the MQTT
   * maximum (268,435,460), bounded by memory only.
   */
  maximumPacketSize?: number;
  /** **Milliseconds** to wait for CONNACK after `connect()`. Default 30,000. */
  connectTimeoutMs?: number;
  /** **Milliseconds** to wait for PINGRESP; default the keep alive interval. */
  pingTimeoutMs?: number;
  /** Our own cap on unacknowledged outgoing QoS 1/2 messages. Default 20 (Paho's max_inflight_messages). */
  maxInflight?: number;
  /**
   * Messages waiting for the flow-control window (or a connection), at most.
   * Policy when full: `publish()` throws ERR_QUEUE_FULL and nothing is queued.
   * Default 10,000.
   */
  maxQueued?: number;
  /** The application acknowledges QoS 1/2 messages with `ack()`. Default false. */
  manualAck?: boolean;
  /** Assign outgoing topic aliases automatically (LRU) within the server's maximum. Default false. */
  autoTopicAlias?: boolean;
  /**
   * When the server has lost the session (or a clean start discards it),
   * publish unacknowledged messages again as new messages. Default true:
   * QoS 1 messages go again (at least once allows a duplicate), and so do
   * QoS 2 messages whose PUBLISH was never handed out by `pollTransmit`. A
   * QoS 2 message whose PUBLISH may have reached the server is not sent
   * again: the server may have delivered it before it lost the session, so a
   * new PUBLISH could deliver it twice. It ends with a failed `published`
   * event, ERR_SESSION_LOST (reason 0x80): it may or may not have been
   * delivered. A QoS 2 message whose PUBREC came (PUBREL sent) is complete.
   * False reports every unacknowledged QoS 1/2 message as a failed
   * `published` event (ERR_STATE, reason 0x80).
   */
  republishOnSessionLoss?: boolean;
  /** When the server has lost the session, subscribe again to what it had granted. Default false. */
  resubscribeOnSessionLoss?: boolean;
  /**
   * How many times a QoS 1/2 message is tried before the engine gives up on
   * it, counted in **network connections**: a connection that ends (for any
   * reason) charges one attempt to one message, the first in send order whose
   * PUBLISH was handed out on it by `pollTransmit` and whose PUBACK (QoS 1) or
   * PUBREC (QoS 2) had not come (a server handles packets in order, so the
   * messages behind a poison message are not charged). PUBREL resends never
   * count. Once a message has used them all it is not sent
   * again: it ends with a failed `published` event, ERR_SEND_ATTEMPTS
   * (reason 0x80). This stops a message the server kills the connection over
   * (a poison message) from being resent on every reconnect forever. A QoS 2
   * message given up keeps its packet id reserved (the server may hold it).
   * The count is part of the session (`OutgoingMessage.attempts`). An integer
   * of 1 or more; default 10.
   */
  maxSendAttempts?: number;
  /**
   * Bridge mode, as Paho's `enable_bridge_mode()`: CONNECT carries the
   * protocol level with its top bit set (0x83 for 3.1, 0x84 for 3.1.1, 0x85
   * for 5.0). Not part of MQTT: it is mosquitto's private extension
   * (`try_private`), which tells a mosquitto broker the client is a bridge,
   * so it does not send the client its own messages back (as MQTT 5's No
   * Local would) and keeps retain flags as published. A broker without the
   * extension refuses the CONNECT (unacceptable protocol level). mosquitto
   * (2.0) takes it with 3.1 and 3.1.1 only: an MQTT 5 bridge CONNECT (0x85)
   * is dropped without a CONNACK. Default false.
   */
  bridge?: boolean;
}

/** The options with their defaults filled in. */
export type Options = Required<
  Pick<
    ConnectionOptions,
    | "protocolVersion"
    | "clientId"
    | "keepAlive"
    | "connectTimeoutMs"
    | "maxInflight"
    | "maxQueued"
    | "manualAck"
    | "autoTopicAlias"
    | "republishOnSessionLoss"
    | "resubscribeOnSessionLoss"
    | "maxSendAttempts"
    | "clean"
    | "bridge"
  >
> &
  ConnectionOptions;

const KNOWN: ReadonlySet<string> = new Set<keyof ConnectionOptions>([
  "protocolVersion",
  "clientId",
  "clean",
  "keepAlive",
  "will",
  "username",
  "password",
  "properties",
  "maximumPacketSize",
  "connectTimeoutMs",
  "pingTimeoutMs",
  "maxInflight",
  "maxQueued",
  "manualAck",
  "autoTopicAlias",
  "republishOnSessionLoss",
  "resubscribeOnSessionLoss",
  "maxSendAttempts",
  "bridge",
]);

export function checkCount(v: unknown, what: string, min: number, max: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw wrong(what, `an integer in ${min}..${max}`, v);
  }
}

function checkBoolean(v: unknown, what: string): void {
  if (v !== undefined && typeof v !== "boolean") throw wrong(what, "a boolean", v);
}

/** ERR_ARGUMENT: "clientId must be a string, got 7". */
function wrong(what: string, expected: string, v: unknown): LocalProtocolError {
  return misuse(E.InvalidArgument, mustBe(what, expected, v));
}

/**
 * The options with their defaults, checked: an option the engine does not
 * know is refused (ERR_ARGUMENT naming it, so `{ version: 5 }` cannot
 * silently speak 3.1.1), as is a value of the wrong type or range.
 */
export function normalizeOptions(options: ConnectionOptions): Options {
  if (typeof options !== "object" || options === null) throw wrong("options", "an object", options);
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw misuse(E.InvalidArgument, `unknown option ${show(key)}`);
  }
  const v = options.protocolVersion ?? 4;
  if (v !== 3 && v !== 4 && v !== 5) throw wrong("protocolVersion", "3, 4 or 5", v);
  const o: Options = {
    keepAlive: 60,
    connectTimeoutMs: 30_000,
    maxInflight: 20,
    maxQueued: 10_000,
    manualAck: false,
    autoTopicAlias: false,
    republishOnSessionLoss: true,
    resubscribeOnSessionLoss: false,
    maxSendAttempts: 10,
    clean: true,
    bridge: false,
    ...options,
    protocolVersion: v,
    clientId: options.clientId ?? "",
  };
  if (typeof o.clientId !== "string") throw wrong("clientId", "a string", o.clientId);
  checkCount(o.keepAlive, "keepAlive (seconds)", 0, 0xffff);
  checkCount(o.maxInflight, "maxInflight", 1, 0xffff);
  checkCount(o.maxQueued, "maxQueued", 0, Number.MAX_SAFE_INTEGER);
  checkCount(o.maxSendAttempts, "maxSendAttempts (network connections)", 1, Number.MAX_SAFE_INTEGER);
  checkCount(o.connectTimeoutMs, "connectTimeoutMs", 1, Number.MAX_SAFE_INTEGER);
  if (o.pingTimeoutMs !== undefined) checkCount(o.pingTimeoutMs, "pingTimeoutMs", 1, Number.MAX_SAFE_INTEGER);
  if (o.maximumPacketSize !== undefined) checkCount(o.maximumPacketSize, "maximumPacketSize", 2, MQTT_MAX_PACKET_SIZE);
  for (const k of ["clean", "manualAck", "autoTopicAlias", "republishOnSessionLoss", "resubscribeOnSessionLoss", "bridge"] as const) checkBoolean(o[k], k);
  if (o.password !== undefined && !(o.password instanceof Uint8Array)) {
    // Only its type: a credential never appears in a message or a log.
    throw misuse(E.InvalidArgument, `password must be a Uint8Array (the bytes to send), got a ${typeof o.password}`);
  }
  if (o.username !== undefined && typeof o.username !== "string") throw wrong("username", "a string", o.username);
  if (o.will !== undefined && (typeof o.will !== "object" || o.will === null || !(o.will.payload instanceof Uint8Array))) {
    throw wrong("will", "an object with a Uint8Array payload", o.will);
  }
  if (v !== 5 && o.properties !== undefined) throw misuse(E.VersionMismatch, "CONNECT properties need MQTT 5");
  return o;
}

/** The CONNECT these options make, for `clientId` and `clean`. */
export function connectPacket(o: Options, clientId: string, clean: boolean): ConnectPacket {
  const p: ConnectPacket = { type: "connect", protocolVersion: o.protocolVersion, clean, keepAlive: o.keepAlive, clientId };
  if (o.will !== undefined) p.will = o.will;
  if (o.username !== undefined) p.username = o.username;
  if (o.password !== undefined) p.password = o.password;
  if (o.properties !== undefined) p.properties = o.properties;
  if (o.bridge) p.bridge = true;
  if (o.protocolVersion === 5 && o.maximumPacketSize !== undefined && o.properties?.maximumPacketSize === undefined) {
    p.properties = { ...o.properties, maximumPacketSize: o.maximumPacketSize };
  }
  return p;
}
