/**
 * The Paho-style Client: Paho's Python `Client` API in camelCase over the
 * Sans-IO engine (@sansmqtt/core), Paho's external loop (@sansmqtt/loop-external)
 * and a transport chosen at connect time.
 *
 * Structure:
 * - settings (host, credentials, will, TLS, ...) live here; the engine is made
 *   from them, and made again (its session carried over) when one that the
 *   CONNECT carries changed since;
 * - one ExternalLoop per engine does the IO; `loop()`, `loopRead()` ... are its
 *   calls, `loopStart()` / `loopForever()` drive it with a LoopRunner on the
 *   host's event loop and reconnect with jittered exponential backoff;
 * - engine events become Paho's VERSION2 callbacks in `handleEvent`;
 * - with a `store`, the session is loaded before the first connection and
 *   saved before the bytes that depend on it are written (persistence.ts).
 *
 * Where Paho blocks (connect, loop, loop_forever, loop_stop, wait_for_publish)
 * this returns a Promise.
 */
import {
  ErrorCode,
  LocalProtocolError,
  MqttConnection,
  MqttError,
  TransportError,
  type OutgoingMessage,
  type SessionStore,
  type StoredSession,
  isValidTopicFilter,
  topicMatchesSub,
  type ConnectionOptions,
  type Event,
  type Properties,
  type QoS,
  type Subscription,
  type Will,
} from "@sansmqtt/core";
import {
  ExternalLoop,
  LoopRunner,
  MQTT_ERR_CONN_LOST,
  MQTT_ERR_INVAL,
  MQTT_ERR_NO_CONN,
  MQTT_ERR_QUEUE_SIZE,
  MQTT_ERR_SUCCESS,
  resultOfClose,
  resultOfError,
  type MqttErrorCode,
} from "@sansmqtt/loop-external";
import type { ProxyOptions } from "@sansmqtt/transport-tcp";
import type { TlsSecurityOptions } from "@sansmqtt/transport-tls";
import { SessionSaver } from "./persistence.js";
import { transportFactory, type TransportFactory, type TransportName, type TransportSettings } from "./transports.js";
import {
  CallbackAPIVersion,
  MQTTMessage,
  MQTTMessageInfo,
  MQTT_CLEAN_START_FIRST_ONLY,
  MQTT_LOG_DEBUG,
  MQTT_LOG_ERR,
  MQTT_LOG_INFO,
  MQTT_LOG_NOTICE,
  MQTT_LOG_WARNING,
  PacketTypes,
  PublishError,
  ReasonCode,
  SubscribeOptions,
  connackCodeToReasonCode,
  host,
  refusedInfo,
  utf8,
  type ConnectFlags,
  type DisconnectFlags,
  type MQTTProtocolVersion,
} from "./types.js";

/** What `tlsSet` / `tlsSetContext` / `tlsInsecureSet` have configured. */
type TlsSettings = { -readonly [K in keyof TlsSecurityOptions]: TlsSecurityOptions[K] };

/** Errors the client itself throws; `code` is stable, messages may change. */
export class ClientError extends Error {
  override readonly name = "ClientError";
  constructor(
    /** ERR_CLIENT_ARGUMENT (Paho's ValueError), ERR_CLIENT_STATE (RuntimeError), ERR_NOT_SUPPORTED. */
    readonly code: "ERR_CLIENT_ARGUMENT" | "ERR_CLIENT_STATE" | "ERR_NOT_SUPPORTED",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const argError = (m: string): ClientError => new ClientError("ERR_CLIENT_ARGUMENT", m);

/**
 * SRV targets in the order RFC 2782 tries them: by priority, lowest first;
 * within a priority, picked at random in proportion to weight (weight 0 ones
 * first in the list, so they still get a small chance).
 */
export function srvOrder<T extends { priority: number; weight: number }>(records: readonly T[]): T[] {
  const out: T[] = [];
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  for (const p of priorities) {
    const left = records.filter((r) => r.priority === p).sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (left.length > 0) {
      const total = left.reduce((n, r) => n + r.weight, 0);
      const target = Math.floor(Math.random() * (total + 1)); // 0..total
      let running = 0;
      let i = 0;
      for (; i < left.length - 1; i++) {
        running += left[i]!.weight;
        if (running >= target) break;
      }
      out.push(left.splice(i, 1)[0]!);
    }
  }
  return out;
}

/** An error's message for a log line. */
const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A message payload as Paho takes it: text (UTF-8), bytes, a number (its text), or nothing. */
export type Payload = string | Uint8Array | ArrayBuffer | number | null | undefined;

const encoder = new utf8.TextEncoder();

/** The bytes of a payload; a Uint8Array is used as it is (not copied), as the engine does. */
export function payloadBytes(payload: Payload): Uint8Array {
  if (payload === null || payload === undefined) return new Uint8Array(0);
  if (typeof payload === "string") return encoder.encode(payload);
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (typeof payload === "number") return encoder.encode(String(payload));
  throw new TypeError(`payload must be a string, Uint8Array, ArrayBuffer, number, null or undefined, got ${typeof payload}`);
}

/** A console-like logger (Paho: a `logging.Logger`). */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

type Userdata = unknown;
export type OnConnect = (client: Client, userdata: Userdata, flags: ConnectFlags, reasonCode: ReasonCode, properties: Properties) => void;
export type OnConnectFail = (client: Client, userdata: Userdata) => void;
export type OnDisconnect = (client: Client, userdata: Userdata, flags: DisconnectFlags, reasonCode: ReasonCode, properties: Properties) => void;
export type OnMessage = (client: Client, userdata: Userdata, message: MQTTMessage) => void;
export type OnPublish = (client: Client, userdata: Userdata, mid: number, reasonCode: ReasonCode, properties: Properties) => void;
export type OnSubscribe = (client: Client, userdata: Userdata, mid: number, reasonCodes: ReasonCode[], properties: Properties) => void;
export type OnUnsubscribe = (client: Client, userdata: Userdata, mid: number, reasonCodes: ReasonCode[], properties: Properties) => void;
export type OnLog = (client: Client, userdata: Userdata, level: number, buf: string) => void;
export type OnPreConnect = (client: Client, userdata: Userdata) => void;
/** MQTT 5 enhanced authentication: the broker's AUTH (0x18 continue: answer with `auth()`; 0x00 after a re-authentication). */
export type OnAuth = (client: Client, userdata: Userdata, reasonCode: ReasonCode, properties: Properties) => void;
export type OnSocket = (client: Client, userdata: Userdata, socket: unknown) => void;

export interface ClientOptions {
  /** Paho's callback_api_version: only VERSION2 (the default here) is implemented. */
  callbackApiVersion?: CallbackAPIVersion;
  /** "" or undefined: MQTT 3.1 gets a random id (as Paho); 3.1.1 and 5 send it empty and the broker assigns one. */
  clientId?: string;
  /** MQTT 3.x clean session (default true); must stay undefined for MQTT 5 (use connect's cleanStart). */
  cleanSession?: boolean;
  userdata?: unknown;
  /** MQTTProtocolVersion.MQTTv311 by default, as Paho. */
  protocol?: MQTTProtocolVersion;
  transport?: TransportName;
  /** loopStart / loopForever reconnect after a lost connection (default true). */
  reconnectOnFailure?: boolean;
  /** The application acknowledges QoS 1/2 messages with `ack(mid, qos)`. */
  manualAck?: boolean;
  /**
   * Where the session is kept between runs of the program (not in Paho, whose
   * sessions live in memory only). Default: none, the session lives as long
   * as the Client. With a store, the session is loaded before the first
   * connection (`loadSession()`), and every change that no-loss or exactly-once
   * depends on is saved before the packet that covers it is sent (a QoS 2
   * PUBLISH, PUBREL, the ack of a received message, SUBSCRIBE, UNSUBSCRIBE; a
   * QoS 0/1 PUBLISH does not wait). The application opens and closes the store.
   * For a session that outlives a connection, use `cleanSession: false`
   * (MQTT 3.x) or `cleanStart: false` with a SessionExpiryInterval (MQTT 5).
   */
  store?: SessionStore;
  /**
   * When the broker no longer has the session (CONNACK session present 0, or
   * a clean start): publish QoS 1 messages that were not acknowledged, and
   * QoS 2 messages that were never sent, again as new messages (default
   * true; false: they fail, rc MQTT_ERR_INVAL). A QoS 2 message the broker
   * may already have received is never sent again: it fails with
   * ERR_SESSION_LOST, so it cannot arrive twice.
   */
  republishOnSessionLoss?: boolean;
  /** When the broker no longer has the session: subscribe again to what it had granted. Default: true with a store, false without (Paho: subscribe in onConnect). */
  resubscribeOnSessionLoss?: boolean;
  /**
   * A message is sent on at most this many network connections that end
   * before the broker acknowledges it (a broker that closes the connection
   * over it every time); then it fails with ERR_SEND_ATTEMPTS instead of
   * being resent forever. Default 10. Paho resends without a bound.
   */
  maxSendAttempts?: number;
}

export interface ConnectOptions {
  bindAddress?: string;
  bindPort?: number;
  /** MQTT 5 clean start: true, false, or MQTT_CLEAN_START_FIRST_ONLY (3, the default). */
  cleanStart?: boolean | typeof MQTT_CLEAN_START_FIRST_ONLY;
  /** MQTT 5 CONNECT properties. */
  properties?: Properties;
}

export interface TlsSetOptions {
  /** CA certificate file(s), PEM (Paho's ca_certs). Default: Node's bundled roots. */
  caCerts?: string | string[];
  certfile?: string;
  keyfile?: string;
  keyfilePassword?: string;
  /** "required" (default) verifies the server; "none" accepts any certificate (Paho's cert_reqs=CERT_NONE). */
  certReqs?: "required" | "none";
  /** Lowest TLS version: "TLSv1.2" or "TLSv1.3" (Paho's tls_version). */
  tlsVersion?: "TLSv1.2" | "TLSv1.3";
  ciphers?: string;
  alpnProtocols?: string[];
}

export interface ProxySetOptions {
  /** "socks5", "socks4" or "http" (PROXY_SOCKS5 / PROXY_SOCKS4 / PROXY_HTTP). */
  proxyType: "socks5" | "socks4" | "http";
  proxyAddr: string;
  /** Default 1080 (SOCKS) or 8080 (HTTP). */
  proxyPort?: number;
  /** SOCKS: let the proxy resolve the broker's name (default true; for SOCKS4 that is SOCKS4a). */
  proxyRdns?: boolean;
  proxyUsername?: string;
  proxyPassword?: string;
}

export const PROXY_SOCKS5 = "socks5";
export const PROXY_SOCKS4 = "socks4";
export const PROXY_HTTP = "http";

type WsHeaders = Readonly<Record<string, string>> | ((request: { readonly url: string }) => Readonly<Record<string, string>>);

/** Paho's _ConnectionState. */
type ConnState = "new" | "connect-async" | "connecting" | "connected" | "connection-lost" | "disconnecting" | "disconnected";

const EMPTY_PROPERTIES: Properties = Object.freeze({}) as Properties;

function checkQos(qos: unknown, what: string): QoS {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw argError(`${what}: qos must be 0, 1 or 2, got ${String(qos)}`);
  return qos;
}

/** 22 characters of base 62 from the runtime's random source (Paho's generated MQTT 3.1 client id). */
function randomClientId(): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const bytes = host.crypto.getRandomValues(new Uint8Array(22));
  let s = "";
  for (const b of bytes) s += alphabet[b % 62];
  return s;
}

export class Client {
  // ==== callbacks (VERSION2 signatures) ====
  onConnect: OnConnect | undefined;
  onConnectFail: OnConnectFail | undefined;
  onDisconnect: OnDisconnect | undefined;
  onMessage: OnMessage | undefined;
  onPublish: OnPublish | undefined;
  onSubscribe: OnSubscribe | undefined;
  onUnsubscribe: OnUnsubscribe | undefined;
  onLog: OnLog | undefined;
  /** Not in Paho (it has no enhanced authentication): the broker's AUTH packets. */
  onAuth: OnAuth | undefined;
  onPreConnect: OnPreConnect | undefined;
  onSocketOpen: OnSocket | undefined;
  onSocketClose: OnSocket | undefined;
  onSocketRegisterWrite: OnSocket | undefined;
  onSocketUnregisterWrite: OnSocket | undefined;
  /**
   * false (default, as Paho): an exception thrown by a callback is logged and
   * then rethrown from the loop call that ran it (loop, loopRead ...), or
   * rejects loopForever's promise. true: logged only. Under loopStart it is
   * always logged only (rethrowing would crash the process).
   */
  suppressExceptions = false;

  // ==== fixed at construction ====
  readonly protocol: MQTTProtocolVersion;
  readonly callbackApiVersion: CallbackAPIVersion;
  readonly #clientIdValue: string;
  readonly #cleanSession: boolean;
  readonly #reconnectOnFailure: boolean;
  readonly #republishOnSessionLoss: boolean;
  readonly #resubscribeOnSessionLoss: boolean;
  readonly #maxSendAttempts: number | undefined;
  /** enableBridgeMode() was called. */
  #bridge = false;
  #userdata: unknown;

  // ==== settings ====
  #hostValue = "";
  #portValue = 1883;
  #keepaliveValue = 60;
  #transportValue: TransportName;
  #connectTimeoutValue = 5.0;
  #usernameValue: string | undefined;
  #passwordValue: Uint8Array | undefined;
  #maxInflightValue = 20;
  #maxQueuedValue = 0;
  #manualAckValue: boolean;
  #bindAddress = "";
  #bindPort = 0;
  #cleanStart: boolean | typeof MQTT_CLEAN_START_FIRST_ONLY = MQTT_CLEAN_START_FIRST_ONLY;
  #connectProperties: Properties | undefined;
  #will: Will | undefined;
  #tls: TlsSettings | undefined;
  #proxy: ProxyOptions | undefined;
  #wsPath = "/mqtt";
  #wsHeaders: WsHeaders | undefined;
  #minDelay = 1;
  #maxDelay = 120;
  #logger: Logger | undefined;
  readonly #filters = new Map<string, OnMessage>();
  /** Bumped whenever a setting the engine is made from changes. */
  #settingsVersion = 0;

  // ==== running state ====
  #state: ConnState = "new";
  #engine: MqttConnection;
  #engineVersion = 0;
  #loopObj: ExternalLoop;
  #runner: LoopRunner | undefined;
  /** In flight / queued outgoing messages by mid (the engine's message id). */
  readonly #infos = new Map<number, MQTTMessageInfo>();
  /** MQTT 5: the next connection is the first of a connect() call (clean start FIRST_ONLY). */
  #firstConnect = true;
  /** The connection attempt under way (reconnect()). */
  #opening: Promise<void> | undefined;
  /** Network connections opened / ended (closed events handled), to wait for an end. */
  #opened = 0;
  #ended = 0;
  #lastEndRc: MqttErrorCode = MQTT_ERR_SUCCESS;
  /** Anything that waits for a change: the end of a connection, a state change, a stop. */
  #wakeups: Array<() => void> = [];
  #reconnectDelay: number | undefined;
  /** loopStart / loopForever is running. */
  #driving = false;
  #stopRequested = false;
  #background: Promise<number> | undefined;
  /** A callback's exception, to rethrow from the loop call that ran it. */
  #callbackError: unknown;
  #hasCallbackError = false;
  /** reconnect() cut a connection and waits for its end to be processed. */
  #draining = false;

  // ==== the session store (state) ====
  readonly #store: SessionStore | undefined;
  readonly #saver: SessionSaver | undefined;
  /** loadSession() under way or done (it runs once). */
  #loading: Promise<MQTTMessageInfo[]> | undefined;
  #loaded = false;
  #checkpoint: string | undefined;

  constructor(options: ClientOptions = {}) {
    const api = options.callbackApiVersion ?? CallbackAPIVersion.VERSION2;
    if (api === CallbackAPIVersion.VERSION1) {
      throw new ClientError(
        "ERR_NOT_SUPPORTED",
        "callbackApiVersion VERSION1 is not supported: use CallbackAPIVersion.VERSION2 (Paho's VERSION1 callbacks are deprecated)",
      );
    }
    if (api !== CallbackAPIVersion.VERSION2) throw argError(`unsupported callbackApiVersion ${String(api)}`);
    this.callbackApiVersion = api;
    const protocol = options.protocol ?? 4;
    if (protocol !== 3 && protocol !== 4 && protocol !== 5) throw argError(`protocol must be MQTTv31 (3), MQTTv311 (4) or MQTTv5 (5), got ${String(protocol)}`);
    this.protocol = protocol;
    if (protocol === 5 && options.cleanSession !== undefined) {
      throw argError("cleanSession is not used with MQTT 5: use connect()'s cleanStart (and the SessionExpiryInterval property)");
    }
    this.#cleanSession = options.cleanSession ?? true;
    let id = options.clientId ?? "";
    if (id === "" && !this.#cleanSession) throw argError("a client id must be given when cleanSession is false");
    if (id === "" && protocol === 3) id = randomClientId();
    // The MQTT 3.1 spec allows 1 to 23 characters; Paho leaves the refusal to the broker, we say it here.
    if (protocol === 3 && id.length > 23) throw argError(`MQTT 3.1 allows client ids of 1 to 23 characters, got ${id.length}`);
    this.#clientIdValue = id;
    this.#userdata = options.userdata;
    const transport = (options.transport ?? "tcp").toLowerCase();
    if (transport !== "tcp" && transport !== "websockets" && transport !== "unix") {
      throw argError(`transport must be "tcp", "websockets" or "unix", got ${JSON.stringify(options.transport)}`);
    }
    this.#transportValue = transport;
    this.#reconnectOnFailure = options.reconnectOnFailure ?? true;
    this.#manualAckValue = options.manualAck ?? false;
    const store = options.store;
    if (store !== undefined && (typeof store !== "object" || store === null || typeof store.load !== "function" || typeof store.save !== "function")) {
      throw argError("store must be a SessionStore (load, save, clear, close)");
    }
    this.#store = store;
    this.#saver = store === undefined ? undefined : new SessionSaver(store, () => this.#snapshot(), (e) => this.#log(MQTT_LOG_ERR, `the session could not be saved: ${describe(e)}`));
    this.#republishOnSessionLoss = options.republishOnSessionLoss ?? true;
    this.#resubscribeOnSessionLoss = options.resubscribeOnSessionLoss ?? store !== undefined;
    if (options.maxSendAttempts !== undefined && !(Number.isSafeInteger(options.maxSendAttempts) && options.maxSendAttempts >= 1)) {
      throw argError(`maxSendAttempts must be an integer of 1 or more, got ${String(options.maxSendAttempts)}`);
    }
    this.#maxSendAttempts = options.maxSendAttempts;
    this.#engine = this.#makeEngine();
    this.#loopObj = this.#makeLoop(this.#engine);
  }

  // ==== guarded properties ====

  #guard(name: string): void {
    const idle =
      this.#state === "new" ||
      ((this.#state === "disconnecting" || this.#state === "disconnected" || this.#state === "connection-lost") &&
        !this.#loopObj.isOpen &&
        this.#opening === undefined);
    if (!idle) throw new ClientError("ERR_CLIENT_STATE", `updating ${name} on established connection is not supported`);
  }

  get host(): string {
    return this.#hostValue;
  }
  set host(value: string) {
    this.#guard("host");
    if (typeof value !== "string" || value === "") throw argError("Invalid host.");
    this.#hostValue = value;
  }

  get port(): number {
    return this.#portValue;
  }
  set port(value: number) {
    this.#guard("port");
    if (!Number.isInteger(value) || value <= 0 || value > 65535) throw argError(`Invalid port number ${String(value)}.`);
    this.#portValue = value;
  }

  /** Keep alive, seconds. */
  get keepalive(): number {
    return this.#keepaliveValue;
  }
  set keepalive(value: number) {
    this.#guard("keepalive");
    if (!Number.isInteger(value) || value < 0 || value > 65535) throw argError(`Keepalive must be 0..65535 seconds, got ${String(value)}`);
    this.#keepaliveValue = value;
    this.#settingsVersion++;
  }

  get transport(): TransportName {
    return this.#transportValue;
  }
  set transport(value: TransportName) {
    this.#guard("transport");
    const t = String(value).toLowerCase();
    if (t !== "tcp" && t !== "websockets" && t !== "unix") throw argError(`transport must be "tcp", "websockets" or "unix"`);
    this.#transportValue = t;
  }

  /** Seconds to open the connection (TCP, TLS, WebSocket upgrade) and, once open, to get the CONNACK. Default 5, as Paho. */
  get connectTimeout(): number {
    return this.#connectTimeoutValue;
  }
  set connectTimeout(value: number) {
    this.#guard("connect_timeout");
    if (!(typeof value === "number" && value > 0 && Number.isFinite(value))) throw argError("timeout must be a positive number of seconds");
    this.#connectTimeoutValue = value;
    this.#settingsVersion++;
  }

  get username(): string | undefined {
    return this.#usernameValue;
  }
  set username(value: string | undefined) {
    this.#guard("username");
    this.#usernameValue = value ?? undefined;
    this.#settingsVersion++;
  }

  /** The password as text (UTF-8), or undefined. */
  get password(): string | undefined {
    return this.#passwordValue === undefined ? undefined : new utf8.TextDecoder().decode(this.#passwordValue);
  }
  set password(value: string | Uint8Array | undefined) {
    this.#guard("password");
    this.#passwordValue = value === undefined || value === null ? undefined : typeof value === "string" ? encoder.encode(value) : value;
    this.#settingsVersion++;
  }

  get maxInflightMessages(): number {
    return this.#maxInflightValue;
  }
  set maxInflightMessages(value: number) {
    this.#guard("max_inflight_messages");
    if (!Number.isInteger(value) || value < 0) throw argError("maxInflightMessages must be an integer >= 0");
    this.#maxInflightValue = value;
    this.#settingsVersion++;
  }

  get maxQueuedMessages(): number {
    return this.#maxQueuedValue;
  }
  set maxQueuedMessages(value: number) {
    this.#guard("max_queued_messages");
    if (!Number.isInteger(value) || value < 0) throw argError("maxQueuedMessages must be an integer >= 0");
    this.#maxQueuedValue = value;
    this.#settingsVersion++;
  }

  /** The client id given (or generated for MQTT 3.1); with MQTT 5 and an empty id, the one the broker assigned once connected. */
  get clientId(): string {
    return this.#engine.clientId || this.#clientIdValue;
  }

  get willTopic(): string {
    return this.#will?.topic ?? "";
  }

  get willPayload(): Uint8Array | undefined {
    return this.#will?.payload;
  }

  // ==== settings methods ====

  maxInflightMessagesSet(inflight: number): void {
    this.maxInflightMessages = inflight;
  }

  maxQueuedMessagesSet(queueSize: number): this {
    this.maxQueuedMessages = queueSize;
    return this;
  }

  userDataSet(userdata: unknown): void {
    this.#userdata = userdata;
  }

  userDataGet(): unknown {
    return this.#userdata;
  }

  /** Credentials for the next CONNECT. The password is sent only with a username, as Paho (and MQTT 3.1.1) does. */
  usernamePwSet(username: string | null | undefined, password?: string | Uint8Array | null): void {
    this.#guard("username");
    this.#usernameValue = username ?? undefined;
    this.#passwordValue = password === undefined || password === null ? undefined : typeof password === "string" ? encoder.encode(password) : password;
    this.#settingsVersion++;
  }

  willSet(topic: string, payload?: Payload, qos: number = 0, retain = false, properties?: Properties): void {
    if (typeof topic !== "string" || topic === "") throw argError("Invalid topic.");
    if (topic.includes("+") || topic.includes("#")) throw argError("Will topic must not contain wildcards.");
    const q = checkQos(qos, "willSet");
    if (properties !== undefined && this.protocol !== 5) throw argError("will properties need MQTT 5");
    const will: Will = { topic, payload: payloadBytes(payload), qos: q, retain: Boolean(retain) };
    if (properties !== undefined) will.properties = properties;
    this.#will = will;
    this.#settingsVersion++;
  }

  willClear(): void {
    this.#will = undefined;
    this.#settingsVersion++;
  }

  tlsSet(options: TlsSetOptions = {}): void {
    if (this.#tls !== undefined) throw argError("SSL/TLS has already been configured.");
    const t: TlsSettings = {};
    if (options.caCerts !== undefined) t.caFile = options.caCerts;
    if (options.certfile !== undefined) t.certFile = options.certfile;
    if (options.keyfile !== undefined) t.keyFile = options.keyfile;
    if (options.keyfilePassword !== undefined) t.passphrase = options.keyfilePassword;
    if (options.ciphers !== undefined) t.ciphers = options.ciphers;
    if (options.tlsVersion !== undefined) t.minVersion = options.tlsVersion;
    if (options.alpnProtocols !== undefined) t.alpn = options.alpnProtocols;
    if (options.certReqs === "none") t.insecure = { skipCertificateCheck: true, skipHostnameCheck: true };
    this.#tls = t;
  }

  /** TLS from a ready-made `tls.SecureContext` (Node), or with Node's defaults when none is given. */
  tlsSetContext(context?: TlsSecurityOptions["secureContext"]): void {
    if (this.#tls !== undefined) throw argError("SSL/TLS has already been configured.");
    this.#tls = context !== undefined ? { secureContext: context } : {};
  }

  /** true: accept a server certificate for another host name (still signed by a trusted CA). Dangerous; for tests. */
  tlsInsecureSet(value: boolean): void {
    if (this.#tls === undefined) throw argError("Must configure SSL context before using tlsInsecureSet.");
    const current = this.#tls.insecure ?? {};
    this.#tls.insecure = { ...current, skipHostnameCheck: Boolean(value) };
  }

  /** WebSocket path and extra upgrade headers: an object, or a function called on every connection with the URL. */
  wsSetOptions(path = "/mqtt", headers?: WsHeaders): void {
    if (headers !== undefined && typeof headers !== "function" && (typeof headers !== "object" || headers === null)) {
      throw argError("'headers' option to wsSetOptions must be an object or a function");
    }
    this.#wsPath = path;
    this.#wsHeaders = headers;
  }

  proxySet(options: ProxySetOptions): void {
    if (options === undefined || options.proxyType === undefined || !options.proxyAddr) {
      throw argError("proxyType and proxyAddr are required");
    }
    if (options.proxyType === "socks5") {
      this.#proxy = {
        type: "socks5",
        host: options.proxyAddr,
        port: options.proxyPort ?? 1080,
        remoteDns: options.proxyRdns ?? true,
        ...(options.proxyUsername !== undefined ? { username: options.proxyUsername } : {}),
        ...(options.proxyPassword !== undefined ? { password: options.proxyPassword } : {}),
      };
    } else if (options.proxyType === "socks4") {
      // SOCKS4 carries a user id and no password: refused rather than dropped.
      if (options.proxyPassword !== undefined) throw argError("SOCKS4 has no password (use socks5 for a user name and password)");
      this.#proxy = {
        type: "socks4",
        host: options.proxyAddr,
        port: options.proxyPort ?? 1080,
        remoteDns: options.proxyRdns ?? true,
        ...(options.proxyUsername !== undefined ? { username: options.proxyUsername } : {}),
      };
    } else if (options.proxyType === "http") {
      this.#proxy = {
        type: "http",
        host: options.proxyAddr,
        port: options.proxyPort ?? 8080,
        ...(options.proxyUsername !== undefined ? { username: options.proxyUsername } : {}),
        ...(options.proxyPassword !== undefined ? { password: options.proxyPassword } : {}),
      };
    } else {
      throw new ClientError("ERR_NOT_SUPPORTED", `proxy type ${String(options.proxyType)} is not supported (socks5, socks4 or http)`);
    }
  }

  /** Bounds of the reconnect backoff, in seconds; also resets the current delay. */
  reconnectDelaySet(minDelay = 1, maxDelay = 120): void {
    if (!(minDelay > 0) || !(maxDelay >= minDelay)) throw argError("reconnectDelaySet needs 0 < minDelay <= maxDelay");
    this.#minDelay = minDelay;
    this.#maxDelay = maxDelay;
    this.#reconnectDelay = undefined;
  }

  enableLogger(logger?: Logger): void {
    this.#logger = logger ?? this.#logger ?? (globalThis as unknown as { console: Logger }).console;
  }

  disableLogger(): void {
    this.#logger = undefined;
  }

  /** Takes effect from the next message on (the engine always waits for an ack; handleEvent gives it unless this is on). */
  manualAckSet(on: boolean): void {
    this.#manualAckValue = Boolean(on);
  }

  /**
   * Paho's enable_bridge_mode: the CONNECT's protocol level gets its top bit
   * (mosquitto's bridge extension, try_private), so the broker treats this
   * client as a bridge: it does not send the client's own messages back and
   * keeps retain flags as published, so a subscription to # makes no loop.
   * Applies from the next connection. MQTT 3.1 and 3.1.1 only: MQTT 5 has no
   * such bit (mosquitto drops the CONNECT without an answer); subscribe with
   * noLocal and retainAsPublished instead, which MQTT 5 defines for this.
   */
  enableBridgeMode(): void {
    if (this.protocol === 5) {
      throw new ClientError("ERR_NOT_SUPPORTED", "bridge mode is for MQTT 3.1 / 3.1.1: with MQTT 5, subscribe with SubscribeOptions noLocal and retainAsPublished");
    }
    if (this.#bridge) return;
    this.#bridge = true;
    this.#settingsVersion++;
  }

  /** Every matching filter's callback runs for a message; onMessage runs only when none matched. */
  messageCallbackAdd(sub: string, callback: OnMessage): void {
    if (typeof sub !== "string" || typeof callback !== "function") throw argError("sub and callback must be defined.");
    this.#filters.set(sub, callback);
  }

  messageCallbackRemove(sub: string): void {
    if (typeof sub !== "string") throw argError("sub must be defined.");
    this.#filters.delete(sub);
  }

  // ==== connecting ====

  /**
   * Opens the connection: resolves once the socket is up and CONNECT is
   * queued (the CONNACK comes to onConnect, through a loop), or rejects with
   * the TransportError. Paho's connect() blocks for the same span.
   */
  async connect(host: string, port = 1883, keepalive = 60, options: ConnectOptions = {}): Promise<MqttErrorCode> {
    if (this.protocol !== 5 && ((options.cleanStart !== undefined && options.cleanStart !== MQTT_CLEAN_START_FIRST_ONLY) || options.properties !== undefined)) {
      throw argError("cleanStart and properties are only used with MQTT 5");
    }
    this.connectAsync(host, port, keepalive, options);
    return this.reconnect();
  }

  /**
   * Paho's connect_srv: finds the broker through DNS SRV records,
   * `_mqtt._tcp.<domain>` (`_secure-mqtt._tcp.<domain>` after tlsSet), and
   * connects to the first target that opens, trying them in RFC 2782 order:
   * lowest priority first, and within a priority a random order weighted by
   * the records' weights (Paho keeps the order DNS gave and ignores both).
   * `domain` defaults to the host's own domain (its name minus the first
   * label). Node only: node:dns is loaded (srv.ts) when this is called. Rejects with
   * ERR_CLIENT_ARGUMENT when there are no records or no target opened (as
   * Paho's ValueError "No SRV hosts responded"), the failures as its cause.
   */
  async connectSrv(domain?: string, keepalive = 60, options: ConnectOptions = {}): Promise<MqttErrorCode> {
    const { lookupSrv, hostDomain } = await import("./srv.js");
    if (domain === undefined) {
      const own = await hostDomain();
      if (own.domain === undefined) throw argError(`connectSrv needs a domain: the host name ${JSON.stringify(own.name)} has none`);
      domain = own.domain;
    }
    const service = `${this.#tls !== undefined ? "_secure-mqtt" : "_mqtt"}._tcp.${domain}`;
    let records: Array<{ name: string; port: number; priority: number; weight: number }>;
    try {
      records = await lookupSrv(service);
    } catch (e) {
      throw new ClientError("ERR_CLIENT_ARGUMENT", `no SRV records for ${service}: ${describe(e)}`, { cause: e });
    }
    const failures: unknown[] = [];
    for (const r of srvOrder(records)) {
      try {
        this.#log(MQTT_LOG_DEBUG, `${service}: trying ${r.name}:${r.port} (priority ${r.priority}, weight ${r.weight})`);
        return await this.connect(r.name, r.port, keepalive, options);
      } catch (e) {
        if (!(e instanceof TransportError)) throw e;
        failures.push(e);
      }
    }
    throw new ClientError("ERR_CLIENT_ARGUMENT", `No SRV hosts responded (${service}: ${records.length} records)`, { cause: new AggregateError(failures, "every SRV target failed") });
  }

  /** Records where to connect; loopStart / loopForever (or reconnect()) connects. */
  connectAsync(host: string, port = 1883, keepalive = 60, options: ConnectOptions = {}): void {
    if (options.bindPort !== undefined && options.bindPort < 0) throw argError("Invalid bind port number.");
    if (this.#loopObj.isOpen) this.#loopObj.abort();
    this.#state = "new";
    this.host = host;
    this.port = port;
    this.keepalive = keepalive;
    this.#bindAddress = options.bindAddress ?? "";
    this.#bindPort = options.bindPort ?? 0;
    this.#cleanStart = options.cleanStart ?? MQTT_CLEAN_START_FIRST_ONLY;
    if (options.properties !== this.#connectProperties) {
      this.#connectProperties = options.properties;
      this.#settingsVersion++;
    }
    this.#firstConnect = true;
    this.#setState("connect-async");
  }

  /**
   * Opens a new connection with the recorded settings (a connection still open
   * is cut first). Resolves once the socket is up and CONNECT queued; rejects
   * with the TransportError.
   */
  async reconnect(): Promise<MqttErrorCode> {
    if (this.#hostValue === "") throw argError("Invalid host.");
    if (this.#opening !== undefined) {
      this.#loopObj.abort();
      await this.#opening.catch(() => undefined);
    }
    this.#setState("connecting");
    const attempt = this.#openConnection();
    this.#opening = attempt;
    try {
      await attempt;
    } finally {
      if (this.#opening === attempt) this.#opening = undefined;
    }
    return MQTT_ERR_SUCCESS;
  }

  async #openConnection(): Promise<void> {
    if (this.#loopObj.isOpen) {
      // Paho's reconnect() closes the socket it had; here the loss is reported as usual (onDisconnect once).
      await this.#drain();
    }
    if (this.#store !== undefined && !this.#loaded) await this.loadSession();
    this.#refreshEngine();
    const factory = await transportFactory(this.#transportSettings());
    this.#pendingFactory = factory;
    this.#callUser(() => this.onPreConnect?.(this, this.#userdata));
    const clean = this.protocol === 5 ? (this.#cleanStart === MQTT_CLEAN_START_FIRST_ONLY ? this.#firstConnect : this.#cleanStart) : this.#cleanSession;
    this.#log(
      MQTT_LOG_DEBUG,
      `Sending CONNECT (u${this.#usernameValue !== undefined ? 1 : 0}, p${this.#usernameValue !== undefined && this.#passwordValue !== undefined ? 1 : 0}, ` +
        `wr${this.#will?.retain ? 1 : 0}, wq${this.#will?.qos ?? 0}, wf${this.#will ? 1 : 0}, c${clean ? 1 : 0}, k${this.#keepaliveValue}) client_id=${this.#clientIdValue}`,
    );
    try {
      await this.#loopObj.connect({ clean });
    } catch (e) {
      this.#log(MQTT_LOG_WARNING, `connection to ${this.#describeTarget()} failed: ${describe(e)}`);
      if (this.#state === "connecting") this.#setState("connection-lost");
      throw e;
    }
    this.#opened++;
    this.#runner?.schedule();
    this.#throwCallbackError();
  }

  /** Cuts the open connection and waits until its end is handled (the closed event, onDisconnect). */
  async #drain(): Promise<void> {
    const target = this.#opened;
    this.#draining = true;
    try {
      this.#loopObj.abort();
      if (this.#loopObj.wantRead()) this.#loopObj.loopRead();
      while (this.#ended < target && this.#loopObj.isOpen) await this.#nextWakeup();
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Ends the connection: DISCONNECT (with a reason code and properties on
   * MQTT 5), then onDisconnect with "Normal disconnection" once a loop has
   * written it. Without a connection: MQTT_ERR_NO_CONN and no onDisconnect.
   * Also ends loopForever and stops reconnecting.
   */
  disconnect(reasonCode?: number | ReasonCode, properties?: Properties): MqttErrorCode {
    const wasOpen = this.#loopObj.isOpen;
    if (!wasOpen) {
      this.#setState("disconnected");
      if (this.#opening !== undefined) this.#loopObj.abort();
      this.#rejectPending(MQTT_ERR_NO_CONN, "disconnect() was called; the message was not sent");
      return MQTT_ERR_NO_CONN;
    }
    this.#setState("disconnecting");
    const options: { reasonCode?: number; properties?: Properties } = {};
    if (reasonCode !== undefined) options.reasonCode = typeof reasonCode === "number" ? reasonCode : reasonCode.value;
    if (properties !== undefined) options.properties = properties;
    this.#log(MQTT_LOG_DEBUG, `Sending DISCONNECT${options.reasonCode !== undefined ? ` reasonCode=${options.reasonCode}` : ""}`);
    this.#loopObj.disconnect(options);
    return MQTT_ERR_SUCCESS;
  }

  isConnected(): boolean {
    return this.#state === "connected";
  }

  // ==== commands ====

  /**
   * Publishes; returns an MQTTMessageInfo (mid, rc, isPublished, waitForPublish).
   * Without a connection the message is queued and sent after the next
   * CONNACK, whatever its QoS, and rc says MQTT_ERR_NO_CONN (Paho drops QoS 0
   * then). A full queue: rc MQTT_ERR_QUEUE_SIZE, nothing queued.
   */
  publish(topic: string, payload?: Payload, qos: number = 0, retain = false, properties?: Properties): MQTTMessageInfo {
    if (typeof topic !== "string" || (topic === "" && this.protocol !== 5)) throw argError("Invalid topic.");
    if (topic.includes("+") || topic.includes("#")) throw argError("Publish topic cannot contain wildcards.");
    const q = checkQos(qos, "publish");
    if (properties !== undefined && this.protocol !== 5) throw argError("properties need MQTT 5");
    this.#checkLoaded("publish");
    const bytes = payloadBytes(payload);
    const request = { topic, payload: bytes, qos: q, retain: Boolean(retain), ...(properties !== undefined ? { properties } : {}) };
    // Settings changed while offline (maxQueuedMessages ...) apply to what is queued from now on.
    if (!this.#loopObj.isOpen && this.#opening === undefined) this.#refreshEngine();
    let mid: number;
    try {
      mid = this.#loopObj.publish(request);
    } catch (e) {
      if (e instanceof MqttError && e.code === ErrorCode.QueueFull) return refusedInfo(0, MQTT_ERR_QUEUE_SIZE);
      throw e;
    }
    const info = new MQTTMessageInfo(mid, this.#loopObj.isOpen ? MQTT_ERR_SUCCESS : MQTT_ERR_NO_CONN);
    this.#infos.set(mid, info);
    this.#saver?.schedule();
    this.#log(MQTT_LOG_DEBUG, `Sending PUBLISH (d0, q${q}, r${retain ? 1 : 0}, m${mid}), '${topic}', ... (${bytes.byteLength} bytes)`);
    return info;
  }

  /**
   * Subscribes, in Paho's forms: `subscribe("t", qos)`, `subscribe("t", 0, options)`,
   * `subscribe(["t", qos | SubscribeOptions])`, `subscribe([["t", qos | options], ...])`.
   * Returns [rc, mid]; without a connection [MQTT_ERR_NO_CONN, undefined] and
   * nothing is remembered (subscribe in onConnect, as with Paho).
   */
  subscribe(
    topic: string | readonly [string, number | SubscribeOptions] | ReadonlyArray<readonly [string, number | SubscribeOptions]>,
    qos: number = 0,
    options?: SubscribeOptions,
    properties?: Properties,
  ): [MqttErrorCode, number | undefined] {
    const list: Array<[string, number | SubscribeOptions]> = [];
    if (typeof topic === "string") {
      if (options !== undefined && qos !== 0) throw argError("Subscribe options and qos parameters cannot be combined.");
      list.push([topic, options ?? qos]);
    } else if (Array.isArray(topic) && topic.length === 2 && typeof topic[0] === "string" && !Array.isArray(topic[1])) {
      const t = topic as unknown as readonly [string, number | SubscribeOptions];
      list.push([t[0], t[1]]);
    } else if (Array.isArray(topic)) {
      if (topic.length === 0) throw argError("Empty topic list");
      for (const item of topic as ReadonlyArray<readonly [string, number | SubscribeOptions]>) {
        if (!Array.isArray(item) || item.length !== 2) throw argError("a topic list holds [topic, qos | SubscribeOptions] pairs");
        list.push([item[0], item[1]]);
      }
    } else {
      throw argError("No topic specified, or incorrect topic type.");
    }
    if (properties !== undefined && this.protocol !== 5) throw argError("properties need MQTT 5");
    const subs: Subscription[] = list.map(([filter, q]) => {
      if (typeof filter !== "string" || !isValidTopicFilter(filter, this.protocol)) throw argError(`Invalid subscription filter ${JSON.stringify(filter)}.`);
      if (q instanceof SubscribeOptions) {
        const s: Subscription = { topicFilter: filter, qos: q.qos };
        // Before MQTT 5 the options byte is the QoS alone; the rest is dropped, as Paho ignores it.
        if (this.protocol === 5) Object.assign(s, { noLocal: q.noLocal, retainAsPublished: q.retainAsPublished, retainHandling: q.retainHandling });
        return s;
      }
      return { topicFilter: filter, qos: checkQos(q, "subscribe") };
    });
    if (!this.#loopObj.isOpen) return [MQTT_ERR_NO_CONN, undefined];
    const mid = this.#loopObj.subscribe(subs, properties);
    this.#saver?.schedule();
    this.#log(MQTT_LOG_DEBUG, `Sending SUBSCRIBE (d0, m${mid}) ${subs.map((s) => `[${s.topicFilter}, ${s.qos}]`).join(", ")}`);
    return [MQTT_ERR_SUCCESS, mid];
  }

  /** Unsubscribes from one filter or a list; [rc, mid] as subscribe. */
  unsubscribe(topic: string | readonly string[], properties?: Properties): [MqttErrorCode, number | undefined] {
    const filters = typeof topic === "string" ? [topic] : Array.isArray(topic) ? [...topic] : undefined;
    if (filters === undefined || filters.length === 0) throw argError("Invalid topic.");
    for (const f of filters) if (typeof f !== "string" || f === "") throw argError("Invalid topic.");
    if (properties !== undefined && this.protocol !== 5) throw argError("properties need MQTT 5");
    if (!this.#loopObj.isOpen) return [MQTT_ERR_NO_CONN, undefined];
    const mid = this.#loopObj.unsubscribe(filters, properties);
    this.#saver?.schedule();
    this.#log(MQTT_LOG_DEBUG, `Sending UNSUBSCRIBE (d0, m${mid}) ${filters.join(", ")}`);
    return [MQTT_ERR_SUCCESS, mid];
  }

  /** Manual-ack mode: acknowledges the message whose `mid` (packet id) and QoS are given. */
  ack(mid: number, qos: number): MqttErrorCode {
    if (!this.#manualAckValue) return MQTT_ERR_SUCCESS;
    if (qos !== 1 && qos !== 2) return MQTT_ERR_SUCCESS;
    if (!this.#loopObj.isOpen) return MQTT_ERR_NO_CONN;
    return this.#loopObj.ack(mid) ? MQTT_ERR_SUCCESS : MQTT_ERR_INVAL;
  }

  /**
   * MQTT 5 enhanced authentication (not in Paho): sends AUTH. Answer the
   * broker's 0x18 (Continue authentication) with 0x18 and the next
   * authenticationData; start a re-authentication while connected with 0x19
   * (Re-authenticate) and the same authenticationMethod as the CONNECT (set
   * it and the first data in connect()'s properties). Returns
   * MQTT_ERR_SUCCESS, or MQTT_ERR_NO_CONN without a connection; a packet the
   * spec forbids (another method, a reason code AUTH cannot carry) throws the
   * engine's typed error.
   */
  auth(reasonCode: number | ReasonCode = 0x18, properties?: Properties): MqttErrorCode {
    if (this.protocol !== 5) throw argError("enhanced authentication needs MQTT 5");
    if (!this.#loopObj.isOpen) return MQTT_ERR_NO_CONN;
    const code = typeof reasonCode === "number" ? reasonCode : reasonCode.value;
    this.#log(MQTT_LOG_DEBUG, `Sending AUTH (${code})`);
    this.#loopObj.auth(properties === undefined ? { reasonCode: code } : { reasonCode: code, properties });
    return MQTT_ERR_SUCCESS;
  }

  // ==== the session store ====

  /**
   * Loads the session from the store (once: later calls give the same
   * result; `connect()` and `reconnect()` call it when the application has
   * not). Resolves with an MQTTMessageInfo per outgoing message the session
   * held, in send order: they go out (again) after the next CONNACK. A queued
   * message whose Message Expiry Interval passed while the program was not
   * running is dropped: its info is already failed (ERR_MESSAGE_EXPIRED); one
   * still valid goes out with the interval reduced by the time waited.
   * Rejects with the store's StoreError (a damaged store stays as it is: the
   * application decides, e.g. `store.clear()`), or ERR_CLIENT_ARGUMENT when
   * the stored session is another client id's. Call it before publishing.
   */
  loadSession(): Promise<MQTTMessageInfo[]> {
    const store = this.#store;
    if (store === undefined) return Promise.reject(new ClientError("ERR_CLIENT_STATE", "loadSession() needs the store option"));
    this.#loading ??= this.#restore(store).catch((e: unknown) => {
      // A later call tries again (the application may have repaired the store).
      this.#loading = undefined;
      throw e;
    });
    return this.#loading;
  }

  /**
   * Records the application's progress (a source offset, the last message
   * number it handled ...) to be saved with the session in the same write:
   * after a crash, the loaded checkpoint and the loaded session are from the
   * same instant. A publisher that sets it after each publish never repeats
   * or skips a message; a subscriber that records in it what its onMessage
   * handled sees each QoS 2 message exactly once. Needs the store option.
   */
  checkpointSet(value: string): void {
    if (this.#saver === undefined) throw new ClientError("ERR_CLIENT_STATE", "checkpointSet() needs the store option");
    if (typeof value !== "string") throw argError("a checkpoint is a string");
    this.#checkLoaded("checkpointSet");
    this.#checkpoint = value;
    this.#saver.schedule();
  }

  /** The checkpoint last set, or loaded with the session; undefined when there is none. */
  checkpointGet(): string | undefined {
    return this.#checkpoint;
  }

  /**
   * Resolves when everything done so far (publishes, acks, the checkpoint) is
   * in the store; rejects with the store's error. Call it before closing the
   * store. Without a store: resolves at once.
   */
  saveSession(): Promise<void> {
    if (this.#saver === undefined || !this.#loaded) return Promise.resolve();
    return this.#saver.request();
  }

  #checkLoaded(what: string): void {
    if (this.#store !== undefined && !this.#loaded) {
      throw new ClientError("ERR_CLIENT_STATE", `${what}() before the stored session was loaded: await loadSession() (or connect()) first`);
    }
  }

  async #restore(store: SessionStore): Promise<MQTTMessageInfo[]> {
    const stored = await store.load();
    if (this.#loaded) return [];
    if (this.#loopObj.isOpen) throw new ClientError("ERR_CLIENT_STATE", "loadSession() while connected");
    const infos: MQTTMessageInfo[] = [];
    if (stored !== undefined) {
      const session = stored.session;
      if (this.#clientIdValue !== "" && session.clientId !== this.#clientIdValue) {
        throw argError(`the stored session belongs to client id ${JSON.stringify(session.clientId)}, not ${JSON.stringify(this.#clientIdValue)}`);
      }
      // The engine's expiry clock is monotonic and did not run while the
      // program was down: count that time from the wall clock of the save.
      const waited = Math.max(0, Date.now() - stored.savedAt);
      const expired: OutgoingMessage[] = [];
      const outgoing: OutgoingMessage[] = [];
      for (const m of session.outgoing) {
        const interval = m.properties?.messageExpiryInterval;
        if (interval === undefined) {
          outgoing.push(m);
          continue;
        }
        const left = Math.max(0, Math.ceil((interval * 1000 - waited) / 1000));
        // Never sent: nobody has it, drop it now. Sent: the engine settles it
        // at its resend (a QoS 2 one keeps its packet id until the broker lets go).
        if (left === 0 && (m.state === "queued" || m.sent === false)) expired.push(m);
        else outgoing.push(left === interval ? m : { ...m, properties: { ...m.properties, messageExpiryInterval: left } });
      }
      const now = this.#loopObj.now();
      this.#engine.importSession(now, { ...session, outgoing });
      this.#checkpoint = stored.checkpoint;
      for (const m of outgoing) {
        const info = new MQTTMessageInfo(m.mid, MQTT_ERR_NO_CONN);
        this.#infos.set(m.mid, info);
        infos.push(info);
      }
      for (const m of expired) {
        const info = new MQTTMessageInfo(m.mid, MQTT_ERR_NO_CONN);
        const why = `message ${m.mid} expired while the program was not running (Message Expiry Interval ${m.properties!.messageExpiryInterval} s, saved ${Math.round(waited / 1000)} s ago)`;
        info._fail(new PublishError(why, MQTT_ERR_NO_CONN, undefined, { cause: new LocalProtocolError(ErrorCode.MessageExpired, why) }));
        this.#log(MQTT_LOG_WARNING, why);
        infos.push(info);
      }
      this.#log(MQTT_LOG_INFO, `session loaded: ${outgoing.length} outgoing messages, ${expired.length} expired, ${session.incomingQos2.length} incoming QoS 2 in progress, ${session.subscriptions.length} subscriptions`);
    }
    this.#loaded = true;
    return infos;
  }

  /** What a save writes: the session as it is now, the wall-clock time, the checkpoint. */
  #snapshot(): StoredSession {
    const session = this.#engine.exportSession(this.#loopObj.now());
    return this.#checkpoint === undefined ? { session, savedAt: Date.now() } : { session, savedAt: Date.now(), checkpoint: this.#checkpoint };
  }

  // ==== the external loop ====

  loopRead(maxPackets = 1): MqttErrorCode {
    const rc = this.#loopObj.loopRead(maxPackets);
    this.#throwCallbackError();
    return rc;
  }

  loopWrite(): MqttErrorCode {
    const rc = this.#loopObj.loopWrite();
    this.#throwCallbackError();
    return rc;
  }

  loopMisc(): MqttErrorCode {
    const rc = this.#loopObj.loopMisc();
    this.#throwCallbackError();
    return rc;
  }

  wantWrite(): boolean {
    return this.#loopObj.wantWrite();
  }

  /** The socket of the open connection (net.Socket, tls.TLSSocket, a WebSocket), or undefined. */
  socket(): unknown {
    return this.#loopObj.socket();
  }

  /**
   * One turn of the loop: waits up to `timeoutMs` for the connection to be
   * readable or writable (or for keep alive work), then reads, writes and runs
   * the timers. Resolves with the first result other than success, as Paho's
   * loop() returns it.
   */
  async loop(timeoutMs = 1000): Promise<MqttErrorCode> {
    if (!(timeoutMs >= 0)) throw argError("Invalid timeout.");
    const loop = this.#loopObj;
    if (!loop.isOpen && this.#opening === undefined) return MQTT_ERR_NO_CONN;
    const ready = (): boolean => loop.wantRead() || (loop.wantWrite() && !loop.writeBlocked);
    if (!ready()) {
      const misc = loop.miscDelay();
      await this.#nextWakeup(misc === undefined ? timeoutMs : Math.min(timeoutMs, misc));
    }
    let rc: MqttErrorCode = this.loopRead();
    if (rc === MQTT_ERR_SUCCESS && loop.wantWrite() && !loop.writeBlocked) rc = this.loopWrite();
    else if (loop.wantWrite() && !loop.writeBlocked) this.loopWrite();
    const misc = this.loopMisc();
    return rc !== MQTT_ERR_SUCCESS ? rc : misc;
  }

  /**
   * Runs the loop on the host's event loop (LoopRunner) and reconnects after a
   * lost connection; returns MQTT_ERR_SUCCESS, or MQTT_ERR_INVAL if it runs already.
   */
  loopStart(): MqttErrorCode {
    if (this.#driving) return MQTT_ERR_INVAL;
    const run = this.#drive(true, true);
    this.#background = run;
    run.catch((e: unknown) => this.#log(MQTT_LOG_ERR, `the loop stopped: ${describe(e)}`));
    return MQTT_ERR_SUCCESS;
  }

  /** Stops loopStart's loop (the connection stays as it is); resolves when it has stopped. */
  async loopStop(): Promise<MqttErrorCode> {
    if (!this.#driving || this.#background === undefined) return MQTT_ERR_INVAL;
    this.#stopRequested = true;
    this.#wake();
    await this.#background.catch(() => undefined);
    return MQTT_ERR_SUCCESS;
  }

  /**
   * Runs the loop until disconnect() (or loopStop()) ends it, reconnecting
   * after lost connections when reconnectOnFailure is set. Resolves with the
   * result code of the last connection's end. With `retryFirstConnection`
   * false (default), a first connection that cannot be opened rejects.
   */
  loopForever(options: { retryFirstConnection?: boolean } = {}): Promise<MqttErrorCode> {
    if (this.#driving) return Promise.resolve(MQTT_ERR_INVAL);
    return this.#drive(options.retryFirstConnection ?? false, false);
  }

  // ==== loop driving and reconnecting ====

  async #drive(retryFirst: boolean, background: boolean): Promise<MqttErrorCode> {
    this.#driving = true;
    this.#stopRequested = false;
    this.#backgroundMode = background;
    this.#startRunner();
    try {
      // Before any connect(): wait for one (Paho's thread would die on "Invalid host").
      while (this.#state === "new" && !this.#stopRequested) await this.#nextWakeup();
      if (this.#opening !== undefined) {
        try {
          await this.#opening;
        } catch (e) {
          if (!(e instanceof TransportError) || !(retryFirst || this.#reconnectOnFailure)) throw e;
        }
      } else if (this.#state === "connect-async" && !this.#stopRequested) {
        try {
          await this.reconnect();
        } catch (e) {
          if (!(e instanceof TransportError)) throw e;
          this.#callUser(() => this.onConnectFail?.(this, this.#userdata), true);
          if (!retryFirst) throw e;
        }
      }
      for (;;) {
        this.#throwDriveError();
        if (this.#stopRequested) return MQTT_ERR_SUCCESS;
        if (this.#loopObj.isOpen) {
          const target = this.#opened;
          while (this.#ended < target && this.#loopObj.isOpen && !this.#stopRequested && this.#driveError === undefined) await this.#nextWakeup();
          this.#throwDriveError();
          if (this.#stopRequested) return MQTT_ERR_SUCCESS;
        }
        // The application's reconnect() (or connect()) cut the connection and opens
        // the next one: that is the reconnect; a second one here would cut it again.
        if (await this.#applicationAttempt()) continue;
        if (this.#state === "disconnecting" || this.#state === "disconnected" || !this.#reconnectOnFailure) return this.#lastEndRc;
        // Lost (or never opened): wait, then try again until one opens.
        await this.#backoff();
        if (this.#stopRequested || this.#disconnectRequested()) return this.#lastEndRc;
        if (await this.#applicationAttempt()) continue;
        try {
          await this.reconnect();
        } catch (e) {
          if (!(e instanceof TransportError)) throw e;
          this.#callUser(() => this.onConnectFail?.(this, this.#userdata), true);
          this.#lastEndRc = resultOfError(e);
        }
      }
    } finally {
      this.#runner?.stop();
      this.#runner = undefined;
      this.#driving = false;
      this.#background = undefined;
      this.#stopRequested = false;
    }
  }

  /**
   * Whether the application opened a connection (reconnect(), connect()) while
   * the loop waited: waits for that attempt to settle and returns true, so the
   * loop watches the connection it made instead of making another. A failed
   * attempt also returns true: the loop then goes round and backs off as after
   * any failure.
   */
  async #applicationAttempt(): Promise<boolean> {
    const attempt = this.#opening;
    if (attempt === undefined) return this.#opened > this.#ended && this.#loopObj.isOpen;
    try {
      await attempt;
    } catch (e) {
      if (!(e instanceof TransportError)) throw e;
      this.#lastEndRc = resultOfError(e);
    }
    return true;
  }

  /** disconnect() was called (read through a method: the state changes behind TypeScript's narrowing, in callbacks). */
  #disconnectRequested(): boolean {
    return this.#state === "disconnected" || this.#state === "disconnecting";
  }

  #backgroundMode = false;
  #driveError: { error: unknown } | undefined;

  #throwDriveError(): void {
    const e = this.#driveError;
    if (e !== undefined) {
      this.#driveError = undefined;
      throw e.error;
    }
  }

  /** Waits the current backoff delay (interruptible by disconnect / loopStop), then doubles it. */
  async #backoff(): Promise<void> {
    const base = this.#reconnectDelay ?? this.#minDelay;
    this.#reconnectDelay = Math.min(base * 2, this.#maxDelay);
    // Equal jitter: half the delay fixed, half random, kept within the bounds, so
    // clients that lost the same broker do not come back in lockstep.
    const seconds = Math.max(this.#minDelay, Math.min(this.#maxDelay, base / 2 + (Math.random() * base) / 2));
    this.#log(MQTT_LOG_DEBUG, `reconnecting in ${seconds.toFixed(2)} s`);
    const until = host.performance.now() + seconds * 1000;
    // An attempt the application started (reconnect()) ends the wait too.
    while (!this.#stopRequested && this.#state !== "disconnected" && this.#state !== "disconnecting" && this.#opening === undefined) {
      const left = until - host.performance.now();
      if (left <= 0) break;
      await this.#nextWakeup(left);
    }
  }

  #startRunner(): void {
    this.#runner?.stop();
    const runner = new LoopRunner(this.#loopObj);
    this.#runner = runner;
    runner.schedule();
  }

  /** Resolves at the next wake() or after `ms`. */
  #nextWakeup(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: unknown;
      const done = (): void => {
        host.clearTimeout(timer);
        resolve();
      };
      this.#wakeups.push(done);
      if (ms !== undefined) timer = host.setTimeout(done, Math.max(0, ms));
    });
  }

  #wake(): void {
    const w = this.#wakeups;
    this.#wakeups = [];
    for (const f of w) f();
  }

  #setState(s: ConnState): void {
    this.#state = s;
    this.#wake();
  }

  // ==== engine and loop construction ====

  #engineOptions(): ConnectionOptions {
    const o: ConnectionOptions = {
      protocolVersion: this.protocol,
      clientId: this.#clientIdValue,
      clean: this.#cleanSession,
      keepAlive: this.#keepaliveValue,
      connectTimeoutMs: Math.round(this.#connectTimeoutValue * 1000),
      // Paho's 0 means "no limit"; the engine wants a number.
      maxInflight: this.#maxInflightValue === 0 ? 0xffff : Math.min(this.#maxInflightValue, 0xffff),
      maxQueued: this.#maxQueuedValue === 0 ? Number.MAX_SAFE_INTEGER : this.#maxQueuedValue,
      // Always manual at the engine: without the user's manualAck, handleEvent
      // acks each QoS 1/2 message after its callbacks return, as Paho does, so a
      // program that dies in onMessage has not acknowledged the message.
      manualAck: true,
      republishOnSessionLoss: this.#republishOnSessionLoss,
      resubscribeOnSessionLoss: this.#resubscribeOnSessionLoss,
    };
    // The engine checks it (ERR_ARGUMENT naming it) when the Client is made.
    if (this.#maxSendAttempts !== undefined) o.maxSendAttempts = this.#maxSendAttempts;
    if (this.#bridge) o.bridge = true;
    if (this.#will !== undefined) o.will = this.#will;
    if (this.#usernameValue !== undefined) {
      o.username = this.#usernameValue;
      // MQTT 3.1.1 allows no password without a user name; Paho never sends one alone.
      if (this.#passwordValue !== undefined) o.password = this.#passwordValue;
    }
    if (this.#connectProperties !== undefined && this.protocol === 5) o.properties = this.#connectProperties;
    return o;
  }

  #makeEngine(): MqttConnection {
    this.#engineVersion = this.#settingsVersion;
    return new MqttConnection(this.#engineOptions());
  }

  /** A new engine when settings changed since this one was made, with the session carried over. */
  #refreshEngine(): void {
    if (this.#engineVersion === this.#settingsVersion) return;
    const old = this.#engine;
    const now = host.performance.now();
    const next = this.#makeEngine();
    try {
      next.importSession(now, old.exportSession(now));
    } catch (e) {
      this.#log(MQTT_LOG_WARNING, `the session could not be carried over to the new settings: ${describe(e)}`);
    }
    this.#engine = next;
    this.#loopObj = this.#makeLoop(next);
    if (this.#runner !== undefined) this.#startRunner();
  }

  #makeLoop(engine: MqttConnection): ExternalLoop {
    const loop = new ExternalLoop({
      engine,
      transport: () => {
        const f = this.#pendingFactory;
        if (f === undefined) throw new ClientError("ERR_CLIENT_STATE", "no transport chosen");
        return f();
      },
      onSocketOpen: (sock) => {
        this.#log(MQTT_LOG_DEBUG, `socket open to ${this.#describeTarget()}`);
        this.#callUser(() => this.onSocketOpen?.(this, this.#userdata, sock));
      },
      onSocketClose: (sock) => this.#callUser(() => this.onSocketClose?.(this, this.#userdata, sock)),
      onSocketRegisterWrite: (sock) => this.#callUser(() => this.onSocketRegisterWrite?.(this, this.#userdata, sock)),
      onSocketUnregisterWrite: (sock) => this.#callUser(() => this.onSocketUnregisterWrite?.(this, this.#userdata, sock)),
      onReadable: () => {
        this.#wake();
        // reconnect() waits for the end of the connection it cut; read it when no runner will.
        if (this.#draining && this.#runner === undefined) host.queueMicrotask(() => this.#loopObj.loopRead());
      },
      onWritable: () => this.#wake(),
      onEvent: (e) => this.#handleEvent(e, loop),
      commit: this.#saver === undefined ? undefined : () => this.#saver!.request(),
    });
    return loop;
  }

  #pendingFactory: TransportFactory | undefined;

  #transportSettings(): TransportSettings {
    return {
      transport: this.#transportValue,
      host: this.#hostValue,
      port: this.#portValue,
      bindAddress: this.#bindAddress || undefined,
      bindPort: this.#bindPort || undefined,
      connectTimeoutMs: Math.round(this.#connectTimeoutValue * 1000),
      tls: this.#tls,
      proxy: this.#proxy,
      wsPath: this.#wsPath,
      wsHeaders: this.#wsHeaders,
    };
  }

  #describeTarget(): string {
    return this.#transportValue === "unix" ? `unix:${this.#hostValue}` : `${this.#transportValue}://${this.#hostValue}:${this.#portValue}`;
  }

  // ==== events → callbacks ====

  /** `loop` is the one that delivered the event: an automatic ack goes back through it. */
  #handleEvent(e: Event, loop: ExternalLoop): void {
    // Every event is a change of the session (or follows one): save it soon.
    // Bytes that depend on it wait for the save anyway (the loop's commit).
    this.#saver?.schedule();
    switch (e.type) {
      case "connected": {
        this.#firstConnect = false;
        this.#reconnectDelay = undefined;
        this.#setState("connected");
        this.#log(MQTT_LOG_DEBUG, `Received CONNACK (${e.sessionPresent ? 1 : 0}, ${e.reasonCode})`);
        const rc = new ReasonCode(PacketTypes.CONNACK, e.reasonCode);
        this.#callUser(() => this.onConnect?.(this, this.#userdata, { sessionPresent: e.sessionPresent }, rc, e.properties ?? EMPTY_PROPERTIES));
        break;
      }
      case "message": {
        // MQTT 5 messages always carry a properties object (Paho gives an empty Properties); before 5, none.
        const props = this.protocol === 5 ? (e.properties ?? {}) : undefined;
        const m = new MQTTMessage(e.topic, e.payload, e.qos, e.retain, e.packetId ?? 0, e.dup, props, host.performance.now());
        this.#log(MQTT_LOG_DEBUG, `Received PUBLISH (d${e.dup ? 1 : 0}, q${e.qos}, r${e.retain ? 1 : 0}, m${m.mid}), '${e.topic}', ...  (${e.payload.byteLength} bytes)`);
        let matched = false;
        for (const [sub, cb] of [...this.#filters]) {
          if (topicMatchesSub(sub, e.topic)) {
            matched = true;
            this.#callUser(() => cb(this, this.#userdata, m));
          }
        }
        if (!matched) this.#callUser(() => this.onMessage?.(this, this.#userdata, m));
        // After the callbacks (which may have thrown: callUser logged it), unless
        // the application acks itself. The manual-ack check is made now, so
        // manualAckSet applies from the next message on.
        if (e.packetId !== undefined && !this.#manualAckValue) this.#autoAck(loop, e.packetId);
        break;
      }
      case "published": {
        const info = this.#infos.get(e.mid);
        this.#infos.delete(e.mid);
        if (e.error !== undefined) {
          // Given up by the engine (dropped QoS 0, expired, too large ...): no ack came, so no onPublish.
          info?._fail(new PublishError(e.error.message, resultOfError(e.error), undefined, { cause: e.error }));
          this.#log(MQTT_LOG_WARNING, `message ${e.mid} not published: ${e.error.message}`);
          break;
        }
        const packet = e.qos === 2 ? (e.reasonCode >= 0x80 ? PacketTypes.PUBREC : PacketTypes.PUBCOMP) : PacketTypes.PUBACK;
        const rc = new ReasonCode(packet, e.reasonCode);
        if (rc.isFailure) info?._fail(new PublishError(`the broker refused message ${e.mid}: ${rc.getName()}`, MQTT_ERR_INVAL, rc));
        else info?._complete();
        this.#callUser(() => this.onPublish?.(this, this.#userdata, e.mid, rc, e.properties ?? EMPTY_PROPERTIES));
        break;
      }
      case "subscribed": {
        const codes = e.reasonCodes.map((c) => new ReasonCode(PacketTypes.SUBACK, c));
        this.#log(MQTT_LOG_DEBUG, `Received SUBACK (m${e.mid}) [${e.reasonCodes.join(", ")}]`);
        this.#callUser(() => this.onSubscribe?.(this, this.#userdata, e.mid, codes, e.properties ?? EMPTY_PROPERTIES));
        break;
      }
      case "unsubscribed": {
        // Before MQTT 5 UNSUBACK carries no codes: an empty list, as Paho gives.
        const codes = this.protocol === 5 ? e.reasonCodes.map((c) => new ReasonCode(PacketTypes.UNSUBACK, c)) : [];
        this.#log(MQTT_LOG_DEBUG, `Received UNSUBACK (m${e.mid})`);
        this.#callUser(() => this.onUnsubscribe?.(this, this.#userdata, e.mid, codes, e.properties ?? EMPTY_PROPERTIES));
        break;
      }
      case "auth": {
        this.#log(MQTT_LOG_DEBUG, `Received AUTH (${e.reasonCode})`);
        const rc = new ReasonCode(PacketTypes.AUTH, e.reasonCode);
        if (this.onAuth === undefined) this.#log(MQTT_LOG_WARNING, `Received AUTH (${rc.getName()}) and no onAuth is set to answer it`);
        this.#callUser(() => this.onAuth?.(this, this.#userdata, rc, e.properties ?? EMPTY_PROPERTIES));
        break;
      }
      case "closed":
        this.#connectionClosed(e.reason);
        break;
    }
  }

  /** The engine's one `closed` event per connection: onConnect for a refusal, then onDisconnect, exactly once. */
  #connectionClosed(reason: Extract<Event, { type: "closed" }>["reason"]): void {
    const rcResult = resultOfClose(reason);
    this.#lastEndRc = rcResult;
    this.#ended = this.#opened;
    let code: ReasonCode;
    let fromServer = false;
    let properties: Properties = EMPTY_PROPERTIES;
    switch (reason.kind) {
      case "refused": {
        this.#firstConnect = false;
        const refusal = this.protocol === 5 ? new ReasonCode(PacketTypes.CONNACK, reason.reasonCode) : connackCodeToReasonCode(reason.reasonCode);
        this.#log(MQTT_LOG_DEBUG, `Received CONNACK (0, ${reason.reasonCode})`);
        this.#callUser(() => this.onConnect?.(this, this.#userdata, { sessionPresent: false }, refusal, reason.properties ?? EMPTY_PROPERTIES));
        code = new ReasonCode(PacketTypes.DISCONNECT, refusal.value);
        break;
      }
      case "local":
        code = new ReasonCode(PacketTypes.DISCONNECT, 0);
        break;
      case "server-disconnect":
        // The server's own reason code (Paho bug #860 reports "Normal disconnection" for most).
        fromServer = true;
        code = new ReasonCode(PacketTypes.DISCONNECT, reason.reasonCode);
        properties = reason.properties ?? EMPTY_PROPERTIES;
        break;
      case "timeout":
        code = new ReasonCode(PacketTypes.DISCONNECT, 0x8d);
        break;
      case "protocol-error":
      case "internal-error":
        code = new ReasonCode(PacketTypes.DISCONNECT, reason.reasonCode);
        break;
      default:
        code = new ReasonCode(PacketTypes.DISCONNECT, 0x80);
    }
    const local = this.#state === "disconnecting" || this.#state === "disconnected";
    this.#setState(local ? "disconnected" : "connection-lost");
    this.#log(local ? MQTT_LOG_DEBUG : MQTT_LOG_NOTICE, `connection ended (${reason.kind}): ${code.getName()}`);
    const willReconnect = !local && this.#driving && this.#reconnectOnFailure;
    if (!willReconnect) {
      this.#rejectPending(local ? MQTT_ERR_NO_CONN : MQTT_ERR_CONN_LOST, local ? "disconnected before the message was acknowledged" : "the connection was lost and the client will not reconnect");
    }
    this.#callUser(() => this.onDisconnect?.(this, this.#userdata, { isDisconnectPacketFromServer: fromServer }, code, properties));
  }

  /**
   * The automatic ack of a QoS 1/2 message. The callback may have ended the
   * connection (disconnect(), a cut socket): the engine then keeps the ack for
   * the session or the server resends the message, so a refusal here is only
   * logged.
   */
  #autoAck(loop: ExternalLoop, packetId: number): void {
    try {
      if (!loop.ack(packetId)) this.#log(MQTT_LOG_DEBUG, `message ${packetId}: nothing to acknowledge on this connection any more`);
    } catch (e) {
      this.#log(MQTT_LOG_WARNING, `message ${packetId} could not be acknowledged: ${describe(e)}`);
    }
  }

  /**
   * Messages whose waiters would otherwise wait for a reconnect that will not
   * come: their promises reject. The messages stay queued in the engine's
   * session and still go out if the application connects again, but their
   * infos keep the failure: the application was told, and decides.
   */
  #rejectPending(rc: number, why: string): void {
    for (const [mid, info] of this.#infos) {
      if (info._pending) info._fail(new PublishError(`message ${mid}: ${why}`, rc));
    }
    this.#infos.clear();
  }

  /** Runs a user callback; its exception is logged and kept to rethrow (see suppressExceptions). */
  #callUser(f: () => void, swallow = false): void {
    try {
      f();
    } catch (e) {
      this.#log(MQTT_LOG_ERR, `Caught exception in callback: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      if (swallow || this.suppressExceptions || this.#hasCallbackError) return;
      if (this.#driving) {
        if (!this.#backgroundMode) {
          this.#driveError = { error: e };
          this.#wake();
        }
        return;
      }
      this.#callbackError = e;
      this.#hasCallbackError = true;
    }
  }

  #throwCallbackError(): void {
    if (!this.#hasCallbackError) return;
    const e = this.#callbackError;
    this.#hasCallbackError = false;
    this.#callbackError = undefined;
    throw e;
  }

  #log(level: number, message: string): void {
    const onLog = this.onLog;
    if (onLog !== undefined) {
      try {
        onLog(this, this.#userdata, level, message);
      } catch {
        // Paho swallows on_log's exceptions too: logging must not break the loop.
      }
    }
    const logger = this.#logger;
    if (logger === undefined) return;
    if (level === MQTT_LOG_ERR) logger.error(message);
    else if (level === MQTT_LOG_WARNING) logger.warn(message);
    else if (level === MQTT_LOG_INFO || level === MQTT_LOG_NOTICE) logger.info(message);
    else logger.debug(message);
  }
}
