/**
 * One-call helpers, the counterparts of Paho's `paho.mqtt.publish` and
 * `paho.mqtt.subscribe` modules, exported from the package root as the
 * `publish` and `subscribe` namespaces so a Paho call ports word for word:
 *
 * ```ts
 * import { publish, subscribe } from "@sansmqtt/client";
 *
 * // paho: publish.single("paho/test/topic", "payload", hostname="mqtt.eclipseprojects.io")
 * await publish.single("paho/test/topic", "payload", { hostname: "mqtt.eclipseprojects.io" });
 *
 * // paho: publish.multiple([{"topic": "a", "payload": "1"}, ("b", "2", 0, False)], hostname=...)
 * await publish.multiple([{ topic: "a", payload: "1" }, ["b", "2", 0, false]], { hostname: "..." });
 *
 * // paho: msg = subscribe.simple("paho/test/topic", hostname=...)
 * const msg = await subscribe.simple("paho/test/topic", { hostname: "..." });
 *
 * // paho: subscribe.callback(on_message, "paho/test/topic", hostname=...)  (blocks forever)
 * await subscribe.callback((client, _userdata, msg) => { ...; client.disconnect(); }, "paho/test/topic", { hostname: "..." });
 * ```
 *
 * Paho's keyword arguments are one options object here, in camelCase
 * (`client_id` → `clientId`, `proxy_args` → `proxyArgs`, `msg_count` →
 * `msgCount`, ...). What differs from Paho, on purpose:
 *
 * - Each helper returns a Promise. `single` / `multiple` resolve once every
 *   message is published (QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP) and the
 *   client has disconnected; `simple` resolves with its message(s);
 *   `callback` resolves when the callback calls `client.disconnect()` (Paho's
 *   `subscribe.callback` never returns).
 * - Failures reject instead of raising out of `loop_forever`: a transport
 *   failure (refused, DNS, TLS, WebSocket upgrade) with the `TransportError`;
 *   a CONNACK refusal, a refused subscription or an expired `timeoutMs` with a
 *   {@link HelperError} (Paho: MQTTException, or nothing); a publish the
 *   broker refused (MQTT 5 PUBACK/PUBREC ≥ 0x80) with the `PublishError`
 *   (Paho carries on). An exception thrown by the `callback` rejects too.
 * - `single` / `multiple` are bounded: `timeoutMs` (default 30 s) covers the
 *   whole call, so they never hang on a broker that accepts the connection
 *   but never answers. `simple` / `callback` wait for messages for as long as
 *   it takes, as Paho does, unless given a `timeoutMs` or an AbortSignal.
 * - With MQTT 5, `cleanSession` is not passed to the Client (Paho's helpers
 *   raise ValueError on MQTT 5 unless it is None); `cleanSession: false` then
 *   means clean start off (give `connectProperties.sessionExpiryInterval` to
 *   keep the session).
 * - A connection lost mid-way is reconnected with the Client's backoff, as
 *   Paho's loop does; messages not yet acknowledged are sent again and
 *   `callback` / `simple` subscribe again, within the time bound.
 */
import type { Properties } from "@sansmqtt/core";
import { Client, type Payload, type ProxySetOptions, type TlsSetOptions } from "./client.js";
import type { TransportName } from "./transports.js";
import { MQTTMessage, ReasonCode, host, type MQTTProtocolVersion } from "./types.js";

/** The part of an AbortSignal the helpers use (declared here: the build has neither DOM nor Node types). */
export interface HelperAbortSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** Why a helper gave up, when it was not a transport or publish error (Paho: MQTTException). */
export class HelperError extends Error {
  override readonly name = "HelperError";
  constructor(
    /**
     * ERR_CONNACK_REFUSED: the broker refused the connection (reasonCode says why);
     * ERR_SUBSCRIBE_REFUSED: the broker refused a subscription (reasonCode);
     * ERR_TIMEOUT: `timeoutMs` ran out; ERR_ARGUMENT: a bad argument (Paho's ValueError).
     */
    readonly code: "ERR_CONNACK_REFUSED" | "ERR_SUBSCRIBE_REFUSED" | "ERR_TIMEOUT" | "ERR_ARGUMENT",
    message: string,
    /** The MQTT 5 reason code (a 3.1.1 CONNACK return code converted) of a refusal. */
    readonly reasonCode?: ReasonCode,
  ) {
    super(message);
  }
}

/** Paho's `will` dict: the arguments of `willSet`. */
export interface HelperWill {
  topic: string;
  payload?: Payload;
  qos?: number;
  retain?: boolean;
  properties?: Properties;
}

/** Paho's `auth` dict. */
export interface HelperAuth {
  username: string;
  password?: string | Uint8Array;
}

/**
 * Paho's `tls`: the arguments of `tlsSet` plus `insecure` (tlsInsecureSet),
 * or a ready-made Node `tls.SecureContext` as `{ secureContext }` (Paho: an SSLContext).
 */
export type HelperTls = (TlsSetOptions & { insecure?: boolean }) | { secureContext: Parameters<Client["tlsSetContext"]>[0] };

/** The connection options every helper takes (Paho's keyword arguments after the message ones). */
export interface HelperConnectionOptions {
  /** Default "localhost"; the socket path for transport "unix". */
  hostname?: string;
  /** Default 1883. */
  port?: number;
  /** Default "": the broker assigns one (MQTT 3.1 gets a random id, as Paho). */
  clientId?: string;
  /** Seconds, default 60. */
  keepalive?: number;
  will?: HelperWill;
  auth?: HelperAuth;
  tls?: HelperTls;
  /** Default MQTTv311, as Paho. */
  protocol?: MQTTProtocolVersion;
  /** "tcp" (default), "websockets" or "unix". */
  transport?: TransportName;
  /** WebSocket path and headers (`wsSetOptions`); Paho's helpers have no way to set them. */
  wsOptions?: { path?: string; headers?: Readonly<Record<string, string>> };
  /** The arguments of `proxySet` (Paho's proxy_args). */
  proxyArgs?: ProxySetOptions;
  /** MQTT 5 CONNECT properties (Paho's helpers cannot send them). */
  connectProperties?: Properties;
  /** Seconds to open the connection and get the CONNACK (Client.connectTimeout, default 5). */
  connectTimeout?: number;
  /** Bound on the whole call, in milliseconds; rejects with HelperError ERR_TIMEOUT when it runs out. */
  timeoutMs?: number;
  /** Aborting rejects the call with the signal's reason and disconnects. */
  signal?: HelperAbortSignal;
}

/** One message for `multiple`: Paho's dict form. */
export interface HelperMessage {
  topic: string;
  payload?: Payload;
  qos?: number;
  retain?: boolean;
  /** MQTT 5 PUBLISH properties. */
  properties?: Properties;
}

/** One message for `multiple`: Paho's tuple form `(topic, payload, qos, retain)`. */
export type HelperMessageTuple = readonly [topic: string, payload?: Payload, qos?: number, retain?: boolean];

export interface SingleOptions extends HelperConnectionOptions {
  qos?: number;
  retain?: boolean;
  /** MQTT 5 PUBLISH properties of the message. */
  properties?: Properties;
}

export interface SubscribeHelperOptions extends HelperConnectionOptions {
  /** QoS of every subscription, default 0. */
  qos?: number;
  /** Handed to the callback as its `userdata`. */
  userdata?: unknown;
  /** MQTT 3.x clean session, default true. With MQTT 5: false means clean start off. */
  cleanSession?: boolean;
}

export interface SimpleOptions extends Omit<SubscribeHelperOptions, "userdata"> {
  /** How many messages to wait for, default 1: one MQTTMessage for 1, an array otherwise. */
  msgCount?: number;
  /** false: retained messages (sent at subscribe time) are skipped and not counted. Default true. */
  retained?: boolean;
}

/** The `callback` helper's callback: `onMessage`'s arguments; call `client.disconnect()` to end. */
export type HelperCallback = (client: Client, userdata: unknown, message: MQTTMessage) => void;

const DEFAULT_PUBLISH_TIMEOUT_MS = 30_000;
/** How long teardown waits for DISCONNECT to be written before it stops the loop anyway. */
const DISCONNECT_GRACE_MS = 2_000;

function checkQos(qos: unknown, what: string): number {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new HelperError("ERR_ARGUMENT", `${what}: qos must be 0, 1 or 2, got ${String(qos)}`);
  return qos;
}

/**
 * A Client that reports calls to `disconnect()`, so `callback` knows the
 * application ended it (a lost connection also calls onDisconnect, and is
 * followed by a reconnect, not an end).
 */
class HelperClient extends Client {
  onDisconnectCall: (() => void) | undefined;
  /** The result of the first disconnect() call: a second one would ask the engine to end a connection already ending. */
  disconnectRc: number | undefined;

  override disconnect(...args: Parameters<Client["disconnect"]>): ReturnType<Client["disconnect"]> {
    const rc = this.disconnectRc === undefined ? super.disconnect(...args) : 0;
    this.disconnectRc ??= rc;
    this.onDisconnectCall?.();
    return rc;
  }
}

interface Session {
  readonly client: HelperClient;
  /** Settles the helper's promise (the first call wins) and tears the client down. */
  finish(error?: unknown): void;
  readonly finished: boolean;
}

/**
 * Makes a client from the options, connects, runs `onConnected` on every
 * accepted CONNACK, and resolves when `finish()` is called and the client is
 * disconnected and stopped. Everything a helper does goes through here, so the
 * bound, the abort signal and the teardown are in one place.
 */
async function runSession(
  options: HelperConnectionOptions,
  clientOptions: { userdata?: unknown; cleanSession?: boolean },
  onConnected: (session: Session) => void,
  defaultTimeoutMs: number | undefined,
): Promise<void> {
  const protocol = options.protocol ?? 4;
  const mqtt5 = protocol === 5;
  const client = new HelperClient({
    clientId: options.clientId ?? "",
    protocol,
    transport: options.transport ?? "tcp",
    userdata: clientOptions.userdata,
    // MQTT 5 has no clean session flag on the client (see the module comment).
    ...(mqtt5 || clientOptions.cleanSession === undefined ? {} : { cleanSession: clientOptions.cleanSession }),
  });
  applyConnectionOptions(client, options);

  let settled = false;
  let failure: { error: unknown } | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const session: Session = {
    client,
    get finished() {
      return settled;
    },
    finish(error?: unknown) {
      if (settled) return;
      settled = true;
      if (error !== undefined) failure = { error };
      resolveDone();
    },
  };

  // Set before connecting so a refusal is seen whichever way it comes.
  client.onConnect = (_c, _ud, _flags, rc) => {
    if (settled) return;
    if (rc.isFailure) {
      session.finish(new HelperError("ERR_CONNACK_REFUSED", `the broker refused the connection: ${rc.getName()} (${rc.value})`, rc));
      return;
    }
    try {
      onConnected(session);
    } catch (e) {
      session.finish(e);
    }
  };
  let disconnected = false;
  let onDisconnected: (() => void) | undefined;
  client.onDisconnect = () => {
    disconnected = true;
    onDisconnected?.();
  };

  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const timer =
    timeoutMs === undefined
      ? undefined
      : host.setTimeout(() => session.finish(new HelperError("ERR_TIMEOUT", `gave up after ${timeoutMs} ms`)), timeoutMs);
  const signal = options.signal;
  const onAbort = (): void => session.finish(signal?.reason ?? new HelperError("ERR_TIMEOUT", "aborted"));
  if (signal?.aborted) throw signal.reason;
  signal?.addEventListener("abort", onAbort, { once: true });

  try {
    const connectOptions = {
      ...(options.connectProperties !== undefined ? { properties: options.connectProperties } : {}),
      ...(mqtt5 && clientOptions.cleanSession === false ? { cleanStart: false } : {}),
    };
    // connect() resolves at the open socket, or rejects with the TransportError (refused, DNS, TLS ...).
    const opening = client.connect(options.hostname ?? "localhost", options.port ?? 1883, options.keepalive ?? 60, connectOptions);
    // A bound or an abort during the opening wins over it.
    await Promise.race([opening, done]);
    if (!settled) client.loopStart();
    else opening.catch(() => undefined);
    await done;
  } catch (e) {
    session.finish(e);
  } finally {
    if (timer !== undefined) host.clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    await teardown(client, () => disconnected, (f) => (onDisconnected = f));
  }
  if (failure !== undefined) throw failure.error;
}

/** disconnect(), wait (bounded) for it to be written and onDisconnect to run, stop the loop. */
async function teardown(client: HelperClient, isDisconnected: () => boolean, setWaiter: (f: () => void) => void): Promise<void> {
  client.onDisconnectCall = undefined;
  client.onMessage = undefined;
  client.onConnect = undefined;
  // MQTT_ERR_SUCCESS: a DISCONNECT is on its way (ours, or the application's) and onDisconnect will follow.
  const wasOpen = (client.disconnectRc ?? client.disconnect()) === 0;
  if (wasOpen && !isDisconnected()) {
    await new Promise<void>((resolve) => {
      const t = host.setTimeout(resolve, DISCONNECT_GRACE_MS);
      setWaiter(() => {
        host.clearTimeout(t);
        resolve();
      });
    });
  }
  await client.loopStop();
}

function applyConnectionOptions(client: Client, o: HelperConnectionOptions): void {
  if (o.connectTimeout !== undefined) client.connectTimeout = o.connectTimeout;
  if (o.will !== undefined) client.willSet(o.will.topic, o.will.payload, o.will.qos ?? 0, o.will.retain ?? false, o.will.properties);
  if (o.auth !== undefined) {
    // Paho raises KeyError without a username: a password alone is never sent.
    if (typeof o.auth.username !== "string") throw new HelperError("ERR_ARGUMENT", "auth needs a username");
    client.usernamePwSet(o.auth.username, o.auth.password);
  }
  if (o.tls !== undefined) {
    if ("secureContext" in o.tls) client.tlsSetContext(o.tls.secureContext);
    else {
      // A copy without `insecure` (Paho pops it from the caller's own dict; we leave the caller's alone).
      const { insecure, ...tlsOptions } = o.tls;
      client.tlsSet(tlsOptions);
      if (insecure) client.tlsInsecureSet(true);
    }
  }
  if (o.wsOptions !== undefined) client.wsSetOptions(o.wsOptions.path ?? "/mqtt", o.wsOptions.headers);
  if (o.proxyArgs !== undefined) client.proxySet(o.proxyArgs);
}

function normaliseMessage(m: HelperMessage | HelperMessageTuple, index: number): Required<Omit<HelperMessage, "properties">> & { properties?: Properties } {
  if (Array.isArray(m)) {
    const [topic, payload, qos, retain] = m as HelperMessageTuple;
    return { topic, payload, qos: checkQos(qos ?? 0, `message ${index}`), retain: retain ?? false };
  }
  if (typeof m !== "object" || m === null) throw new HelperError("ERR_ARGUMENT", `message ${index} must be an object or a [topic, payload, qos, retain] tuple`);
  const d = m as HelperMessage;
  return {
    topic: d.topic,
    payload: d.payload,
    qos: checkQos(d.qos ?? 0, `message ${index}`),
    retain: d.retain ?? false,
    ...(d.properties !== undefined ? { properties: d.properties } : {}),
  };
}

/**
 * Paho's `publish.multiple`: connects, publishes `msgs` in order, one at a
 * time (the next once the previous is done: written for QoS 0, acknowledged
 * for QoS 1/2), disconnects, and resolves. Rejects on the first failure (see
 * the module comment) and after `timeoutMs` (default 30 s) at the latest.
 */
async function multiple(msgs: ReadonlyArray<HelperMessage | HelperMessageTuple>, options: HelperConnectionOptions = {}): Promise<void> {
  if (!Array.isArray(msgs)) throw new HelperError("ERR_ARGUMENT", "msgs must be an array of messages");
  if (msgs.length === 0) throw new HelperError("ERR_ARGUMENT", "msgs is empty");
  // Checked before connecting, so a bad message costs no connection.
  const list = msgs.map(normaliseMessage);
  let started = false;
  await runSession(
    options,
    {},
    (session) => {
      // After a reconnect onConnect runs again; the engine resends what is in flight, so the sequence goes on as it was.
      if (started) return;
      started = true;
      void (async () => {
        try {
          for (const m of list) {
            if (session.finished) return;
            const info = session.client.publish(m.topic, m.payload, m.qos, m.retain, m.properties);
            await info.waitForPublish();
          }
          session.finish();
        } catch (e) {
          session.finish(e);
        }
      })();
    },
    DEFAULT_PUBLISH_TIMEOUT_MS,
  );
}

/** Paho's `publish.single`: `multiple` with one message. */
async function single(topic: string, payload?: Payload, options: SingleOptions = {}): Promise<void> {
  const { qos, retain, properties, ...connection } = options;
  await multiple([{ topic, payload, qos: qos ?? 0, retain: retain ?? false, ...(properties !== undefined ? { properties } : {}) }], connection);
}

/**
 * Paho's `subscribe.callback`: connects, subscribes to `topics` (one SUBSCRIBE
 * each, again after every reconnect) and calls `cb(client, userdata, message)`
 * for every message. Resolves once `cb` (or anything holding the client) calls
 * `client.disconnect()` and the DISCONNECT is out; Paho's version never returns.
 * Rejects when `cb` throws, when a subscription is refused, and on the
 * failures in the module comment.
 */
async function callback(cb: HelperCallback, topics: string | readonly string[], options: SubscribeHelperOptions = {}): Promise<void> {
  if (typeof cb !== "function") throw new HelperError("ERR_ARGUMENT", "callback must be a function");
  const list = typeof topics === "string" ? [topics] : [...topics];
  if (list.length === 0) throw new HelperError("ERR_ARGUMENT", "no topics to subscribe to");
  const qos = checkQos(options.qos ?? 0, "subscribe.callback");
  const { userdata, cleanSession, ...connection } = options;
  await runSession(
    connection,
    { userdata, ...(cleanSession !== undefined ? { cleanSession } : {}) },
    (session) => {
      const client = session.client;
      client.onDisconnectCall ??= () => session.finish();
      client.onMessage ??= (c, ud, message) => {
        if (session.finished) return;
        // Paho's loop_forever raises the callback's exception out of subscribe.callback; the promise rejects with it here.
        try {
          cb(c, ud, message);
        } catch (e) {
          session.finish(e);
        }
      };
      client.onSubscribe ??= (_c, _ud, _mid, codes) => {
        const refused = codes.find((rc) => rc.isFailure);
        // Paho ignores a refused subscription and waits forever; here it is an error.
        if (refused !== undefined) session.finish(new HelperError("ERR_SUBSCRIBE_REFUSED", `the broker refused a subscription: ${refused.getName()}`, refused));
      };
      for (const t of list) client.subscribe(t, qos);
    },
    undefined,
  );
}

/**
 * Paho's `subscribe.simple`: `callback` that collects `msgCount` messages
 * (skipping retained ones when `retained` is false) and disconnects. Resolves
 * with one MQTTMessage when `msgCount` is 1, otherwise with an array.
 */
async function simple(topics: string | readonly string[], options?: SimpleOptions & { msgCount?: 1 }): Promise<MQTTMessage>;
async function simple(topics: string | readonly string[], options: SimpleOptions): Promise<MQTTMessage | MQTTMessage[]>;
async function simple(topics: string | readonly string[], options: SimpleOptions = {}): Promise<MQTTMessage | MQTTMessage[]> {
  const { msgCount = 1, retained = true, ...rest } = options;
  if (!Number.isInteger(msgCount) || msgCount < 1) throw new HelperError("ERR_ARGUMENT", `msgCount must be an integer >= 1, got ${String(msgCount)}`);
  const got: MQTTMessage[] = [];
  await callback(
    (client, _ud, message) => {
      if (!retained && message.retain) return;
      // Messages still arriving between disconnect() and the close are not counted.
      if (got.length >= msgCount) return;
      got.push(message);
      if (got.length === msgCount) client.disconnect();
    },
    topics,
    rest,
  );
  return msgCount === 1 ? (got[0] as MQTTMessage) : got;
}

/** Paho's `paho.mqtt.publish` module: `publish.single(...)`, `publish.multiple(...)`. */
export const publish = Object.freeze({ single, multiple });

/** Paho's `paho.mqtt.subscribe` module: `subscribe.simple(...)`, `subscribe.callback(...)`. */
export const subscribe = Object.freeze({ simple, callback });
