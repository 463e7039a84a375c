/**
 * MqttConnection: a client's whole MQTT session as a pure object.
 *
 * Inputs: commands (connect, publish, subscribe, unsubscribe, disconnect, auth,
 * ack), bytes (`receiveData`), transport loss (`connectionLost`) and time (`now`,
 * milliseconds on the caller's monotonic clock, never decreasing).
 * Outputs: events (`pollEvent`), bytes (`dataToSend`) and the next deadline
 * (`nextTimeout`, served by `handleTimeout`).
 *
 * Polling order, after any input: drain `pollEvent()` until undefined, then
 * write `dataToSend(now)`, then sleep until `nextTimeout()` or the next input.
 *
 * Errors: a command that misuses the API throws LocalProtocolError before any
 * state changes. A server that breaks the protocol never throws out of the
 * receive path: it becomes a final `closed` event, with the MQTT 5 DISCONNECT
 * already queued in `dataToSend`.
 */
import { show } from "../codec/bytes.js";
import { encodePacket } from "../codec/encode.js";
import { isValidReasonCode } from "../codec/reason-codes.js";
import { PacketDecoder, MQTT_MAX_PACKET_SIZE } from "../codec/decoder.js";
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  Subscription,
  UnsubackPacket,
  Will,
} from "../codec/types.js";
import { ErrorCode, LocalProtocolError, type MqttError, RemoteProtocolError } from "../errors.js";
import { isSharedSubscription, isValidTopicFilter, isValidTopicName } from "../topic.js";
import type { CloseReason, Event } from "./events.js";
import type { IncomingQos2, OutgoingMessage, SessionRequest, SessionState, SessionSubscription } from "./session.js";
import { PacketIdAllocator, validateSession } from "./session.js";
import { type ConnectionState, nextState, type Trigger } from "./state.js";
import { TimerTable } from "./timers.js";
import { Outbox } from "./outbox.js";

export interface ConnectionOptions {
  /** 3 = MQTT 3.1, 4 = MQTT 3.1.1 (default, as Paho), 5 = MQTT 5.0. */
  protocolVersion?: ProtocolVersion;
  /** "" lets an MQTT 3.1.1 / 5 server assign one (3.1.1 needs clean). Generating ids is the caller's job. */
  clientId?: string;
  /** Clean session (3.x) / clean start (5) for `connect()` calls that do not say otherwise. Default true. */
  clean?: boolean;
  /** Keep alive in seconds; 0 turns it off. Default 60. */
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
  /** Milliseconds to wait for CONNACK after `connect()`. Default 30,000. */
  connectTimeout?: number;
  /** Milliseconds to wait for PINGRESP; default the keep alive interval. */
  pingTimeout?: number;
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
   * publish unacknowledged QoS 1/2 messages again as new messages. Default true;
   * false reports them as failed `published` events (reason 0x80).
   */
  republishOnSessionLoss?: boolean;
  /** When the server has lost the session, subscribe again to what it had granted. Default false. */
  resubscribeOnSessionLoss?: boolean;
}

/** What the server announced in CONNACK, with the spec's defaults where it said nothing. */
export interface ServerLimits {
  receiveMaximum: number;
  maximumQoS: QoS;
  retainAvailable: boolean;
  maximumPacketSize: number;
  topicAliasMaximum: number;
  wildcardSubscriptionAvailable: boolean;
  subscriptionIdentifierAvailable: boolean;
  sharedSubscriptionAvailable: boolean;
  /** The keep alive in force (seconds): the server's if it sent one [MQTT-3.1.2-21], else ours. */
  keepAlive: number;
}

export interface PublishRequest {
  topic: string;
  payload: Uint8Array;
  qos?: QoS;
  retain?: boolean;
  properties?: Properties;
}

export interface SubscribeRequest extends Subscription {}

interface Request {
  mid: number;
  packetId: number;
  kind: "subscribe" | "unsubscribe";
  subscriptions: Subscription[];
  topicFilters: string[];
  properties: Properties | undefined;
}

interface PendingAck {
  packetId: number;
  qos: 1 | 2;
  done: boolean;
  reasonCode: number;
  properties: Properties | undefined;
}

const DEFAULT_LIMITS: ServerLimits = {
  receiveMaximum: 65535,
  maximumQoS: 2,
  retainAvailable: true,
  maximumPacketSize: MQTT_MAX_PACKET_SIZE,
  topicAliasMaximum: 0,
  wildcardSubscriptionAvailable: true,
  subscriptionIdentifierAvailable: true,
  sharedSubscriptionAvailable: true,
  keepAlive: 0,
};

const NO_CHUNKS: Uint8Array[] = [];

/**
 * The smallest server Maximum Packet Size the engine works with: a PUBACK /
 * PUBREC / PUBREL / PUBCOMP with a reason code and no properties (5 bytes).
 */
const MIN_SERVER_PACKET_SIZE = 5;

/** The longest reason string the engine puts in a DISCONNECT it sends on an error. */
const REASON_STRING_MAX = 160;

/**
 * An outgoing message as the engine holds it: the session's plain data plus,
 * until it first goes out, the PUBLISH bytes `publish()` encoded to validate it
 * (packet id 0 and DUP 0 stand in), so the common path encodes once.
 */
interface OutEntry extends OutgoingMessage {
  wire?: Uint8Array | undefined;
}

type TrimmablePacket = Extract<Packet, { type: "puback" | "pubrec" | "pubrel" | "pubcomp" | "disconnect" | "auth" }>;

function misuse(code: ErrorCode, message: string, reasonCode?: number): LocalProtocolError {
  return new LocalProtocolError(code, message, reasonCode);
}

/**
 * The server broke the protocol. Reason code 0x82 (Protocol Error) unless the
 * code says otherwise: every invalid topic alias (0, above our maximum, never
 * mapped) is 0x94 Topic Alias invalid, as its name says.
 */
function remote(code: ErrorCode, message: string, reasonCode?: number): RemoteProtocolError {
  return new RemoteProtocolError(code, message, reasonCode ?? (code === ErrorCode.TopicAliasInvalid ? 0x94 : 0x82));
}

function checkCount(v: unknown, what: string, min: number, max: number): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw misuse(ErrorCode.InvalidArgument, `${what} must be an integer in ${min}..${max}, got ${String(v)}`);
  }
}

export class MqttConnection {
  readonly protocolVersion: ProtocolVersion;
  private readonly opts: Required<
    Pick<
      ConnectionOptions,
      "keepAlive" | "connectTimeout" | "maxInflight" | "maxQueued" | "manualAck" | "autoTopicAlias" | "republishOnSessionLoss" | "resubscribeOnSessionLoss" | "clean"
    >
  > &
    ConnectionOptions;

  // ---- lifecycle ----
  private st: ConnectionState = "idle";
  private clientIdentifier: string;
  private limits: ServerLimits = { ...DEFAULT_LIMITS };
  private readonly timers = new TimerTable();
  private now = 0;

  // ---- per network connection ----
  private decoder: PacketDecoder;
  private readonly out = new Outbox();
  /** QoS 1/2 messages whose PUBLISH is in `out`, not yet handed out by `dataToSend`. */
  private unflushed: OutgoingMessage[] = [];
  private events: Event[] = [];
  private eventHead = 0;
  private lastSent = 0;
  private pingOutstanding = false;
  private connectedClean = true;
  /** Packet ids whose PUBLISH went out on this connection and count against the server's quota. */
  private readonly quota = new Set<number>();
  private readonly relSent = new Set<number>();
  private readonly requestSent = new Set<number>();
  /** Incoming QoS 1/2 counted against our Receive Maximum on this connection. */
  private readonly inCount = new Set<number>();
  private ackOrder: PendingAck[] = [];
  private readonly aliasIn = new Map<number, string>();
  private readonly aliasOut = new Map<number, string>();
  private readonly topicOut = new Map<string, number>();

  // ---- session ----
  private readonly ids = new PacketIdAllocator();
  private nextMid = 1;
  private readonly inflight = new Map<number, OutgoingMessage>();
  private queue: OutgoingMessage[] = [];
  private queueHead = 0;
  private readonly incomingQos2 = new Map<number, IncomingQos2>();
  private readonly subscriptions = new Map<string, SessionSubscription>();
  private readonly requests = new Map<number, Request>();
  /**
   * Packet ids of QoS 2 messages given up after their PUBLISH went out (too
   * large to resend on a later connection): the server may hold the message,
   * so the id stays reserved until a PUBREC/PUBCOMP exchange frees it or the
   * session ends.
   */
  private readonly retired = new Set<number>();
  /** Inflight messages not yet (re)sent on this connection: `pump` walks the inflight list only then. */
  private resendPending = false;
  /** The session ends with the network connection (3.x clean session, or MQTT 5 session expiry 0). */
  private sessionEndsWithConnection = false;
  /** We sent AUTH 0x19 and the server has not finished the re-authentication. */
  private reauthenticating = false;

  constructor(options: ConnectionOptions = {}) {
    const v = options.protocolVersion ?? 4;
    if (v !== 3 && v !== 4 && v !== 5) throw misuse(ErrorCode.InvalidArgument, `protocolVersion must be 3, 4 or 5`);
    this.protocolVersion = v;
    this.opts = {
      keepAlive: 60,
      connectTimeout: 30_000,
      maxInflight: 20,
      maxQueued: 10_000,
      manualAck: false,
      autoTopicAlias: false,
      republishOnSessionLoss: true,
      resubscribeOnSessionLoss: false,
      clean: true,
      ...options,
    };
    checkCount(this.opts.keepAlive, "keepAlive", 0, 0xffff);
    checkCount(this.opts.maxInflight, "maxInflight", 1, 0xffff);
    checkCount(this.opts.maxQueued, "maxQueued", 0, Number.MAX_SAFE_INTEGER);
    checkCount(this.opts.connectTimeout, "connectTimeout", 1, Number.MAX_SAFE_INTEGER);
    if (options.pingTimeout !== undefined) checkCount(options.pingTimeout, "pingTimeout", 1, Number.MAX_SAFE_INTEGER);
    if (options.maximumPacketSize !== undefined) checkCount(options.maximumPacketSize, "maximumPacketSize", 2, MQTT_MAX_PACKET_SIZE);
    if (v !== 5 && options.properties !== undefined) {
      throw misuse(ErrorCode.VersionMismatch, "CONNECT properties need MQTT 5");
    }
    this.clientIdentifier = options.clientId ?? "";
    this.decoder = this.newDecoder();
    // Validate everything CONNECT will carry now, so a bad option fails here.
    encodePacket(this.connectPacket(this.opts.clean), v);
  }

  // ==== getters ====

  get state(): ConnectionState {
    return this.st;
  }

  /** The client id in use: the one given, or the one the server assigned. */
  get clientId(): string {
    return this.clientIdentifier;
  }

  /** What the server allows on the current (or last) connection. */
  get serverLimits(): Readonly<ServerLimits> {
    return this.limits;
  }

  /** Outgoing QoS 1/2 messages sent and not yet complete. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Messages waiting to be sent. */
  get queuedCount(): number {
    return this.queue.length - this.queueHead;
  }

  /** Whether `dataToSend` has bytes (Paho's want_write). */
  wantsWrite(): boolean {
    return this.out.bytes > 0;
  }

  /**
   * Bytes waiting in `dataToSend`. It grows only with the caller's commands
   * and with input (at most one small answer per received packet), so a loop
   * that stops reading while this is high bounds it.
   */
  get outputBytes(): number {
    return this.out.bytes;
  }

  /** The earliest time `handleTimeout` has work to do, or undefined. */
  nextTimeout(): number | undefined {
    return this.timers.next();
  }

  // ==== commands ====

  /**
   * Starts a network connection: queues CONNECT [MQTT-3.1.0-1] and arms the
   * CONNACK deadline. `clean` overrides the option for this connection (Paho's
   * clean_start). A clean start discards the session first [MQTT-3.1.2-4].
   */
  connect(now: number, options: { clean?: boolean } = {}): void {
    now = this.tick(now);
    const clean = options.clean ?? this.opts.clean;
    const v = this.protocolVersion;
    if (!clean && this.clientIdentifier === "" && v !== 5) {
      throw misuse(ErrorCode.InvalidArgument, "a persistent session needs a client id before MQTT 5");
    }
    if (v === 3 && this.clientIdentifier === "") throw misuse(ErrorCode.InvalidArgument, "MQTT 3.1 needs a client id");
    const next = nextState(this.st, "connect");
    if (this.eventHead < this.events.length) {
      // The previous connection's events (its `closed` last) belong before this
      // one's; a caller who had not pulled them would read them as this
      // connection's. Pull them first.
      throw misuse(ErrorCode.InvalidState, "pull the previous connection's events (up to its closed event) before connect()");
    }
    const bytes = encodePacket(this.connectPacket(clean), v);
    this.st = next;
    this.resetConnection();
    this.connectedClean = clean;
    // A clean start discards the session [MQTT-3.1.2-4]; so does a session that
    // ended with the previous connection (3.x clean session, MQTT 5 session
    // expiry 0 [MQTT-3.1.2-23]): nothing of it may leak into the next one.
    if (clean || this.sessionEndsWithConnection) this.discardSession();
    this.sessionEndsWithConnection = v === 5 ? (this.opts.properties?.sessionExpiryInterval ?? 0) === 0 : clean;
    this.resendPending = this.inflight.size > 0;
    this.out.push(bytes);
    this.timers.set("connack", now + this.opts.connectTimeout);
  }

  /**
   * Publishes a message; returns its message id (`mid`, the engine's own
   * counter, not the packet id). Queued while not connected or while the
   * flow-control window is full. Throws LocalProtocolError, changing nothing,
   * for an invalid message, one the server said it cannot take (QoS above its
   * maximum [MQTT-3.2.2-11], retain when unavailable [MQTT-3.2.2-14], larger
   * than its maximum packet size [MQTT-3.2.2-15]), or a full queue.
   */
  publish(request: PublishRequest, now: number): number {
    now = this.tick(now);
    if (typeof request !== "object" || request === null) {
      throw misuse(ErrorCode.InvalidArgument, `publish needs a request object, got ${show(request)}`);
    }
    if (typeof request.topic !== "string") throw misuse(ErrorCode.InvalidArgument, `topic must be a string, got ${show(request.topic)}`);
    if (!(request.payload instanceof Uint8Array)) {
      throw misuse(ErrorCode.InvalidArgument, `payload must be a Uint8Array, got ${show(request.payload)}`);
    }
    const qos = request.qos ?? 0;
    const retain = request.retain ?? false;
    const props = request.properties;
    if (!isValidTopicName(request.topic)) {
      throw misuse(ErrorCode.TopicInvalid, `${show(request.topic)} is not a valid topic name`, 0x90);
    }
    if (props?.subscriptionIdentifiers !== undefined) {
      throw misuse(ErrorCode.PropertyNotAllowed, "a client PUBLISH never carries a subscription identifier [MQTT-3.3.4-6]");
    }
    // Validates the whole packet (QoS, payload, properties, strings) the way the codec will.
    const probe: PublishPacket = { type: "publish", topic: request.topic, payload: request.payload, qos, retain, dup: false };
    if (qos > 0) probe.packetId = 1; // the real id is written into these bytes when it is known
    if (props !== undefined) probe.properties = props;
    const wire = encodePacket(probe, this.protocolVersion);
    const size = wire.length;
    if (this.st === "connected") {
      const problem = this.unsendable(qos, retain, size, props);
      if (problem !== undefined) throw problem;
    }
    if (this.queuedCount >= this.opts.maxQueued && this.wouldWait(qos)) {
      throw misuse(ErrorCode.QueueFull, `the outgoing queue holds ${this.opts.maxQueued} messages`, 0x97);
    }
    const m: OutEntry = { mid: this.nextMid++, topic: request.topic, payload: request.payload, qos, retain, state: "queued", wire };
    if (props !== undefined) m.properties = props;
    this.queue.push(m);
    this.pump();
    return m.mid;
  }

  /** Subscribes; returns the mid reported by the `subscribed` event. */
  subscribe(subscriptions: Subscription | Subscription[], now: number, properties?: Properties): number {
    now = this.tick(now);
    const subs = Array.isArray(subscriptions) ? subscriptions : [subscriptions];
    if (subs.length === 0) throw misuse(ErrorCode.Empty, "subscribe needs at least one topic filter");
    for (let i = 0; i < subs.length; i++) {
      const s = subs[i];
      if (typeof s !== "object" || s === null || typeof s.topicFilter !== "string") {
        throw misuse(ErrorCode.InvalidArgument, `subscription ${i} must be an object with a string topicFilter, got ${show(s)}`);
      }
    }
    const list = subs.map((s) => this.normalizeSubscription(s));
    if (this.st === "connected") {
      // Checked after the codec's rules (an invalid filter is ERR_TOPIC_FILTER, not this).
      for (const s of list) {
        if (!isValidTopicFilter(s.topicFilter, this.protocolVersion)) {
          throw misuse(ErrorCode.TopicFilterInvalid, `${show(s.topicFilter)} is not a valid topic filter`);
        }
      }
      const refusal = this.subscribeRefusal(list, properties);
      if (refusal !== undefined) throw refusal.error;
    }
    return this.request("subscribe", list, [], properties);
  }

  /** Unsubscribes; returns the mid reported by the `unsubscribed` event. */
  unsubscribe(topicFilters: string | string[], now: number, properties?: Properties): number {
    now = this.tick(now);
    const filters = Array.isArray(topicFilters) ? topicFilters : [topicFilters];
    if (filters.length === 0) throw misuse(ErrorCode.Empty, "unsubscribe needs at least one topic filter");
    for (const f of filters) {
      if (typeof f !== "string") throw misuse(ErrorCode.InvalidArgument, `a topic filter must be a string, got ${show(f)}`);
    }
    return this.request("unsubscribe", [], filters, properties);
  }

  /**
   * Ends the connection: queues DISCONNECT and reports `closed`. MQTT 5 may
   * carry a reason code (0x04 sends the will) and a session expiry override;
   * one cannot turn a session expiry of 0 into a non-zero one [MQTT-3.14.2-2].
   */
  disconnect(now: number, options: { reasonCode?: number; properties?: Properties } = {}): void {
    now = this.tick(now);
    const rc = options.reasonCode ?? 0;
    const p: DisconnectPacket = { type: "disconnect", reasonCode: rc };
    if (options.properties !== undefined) p.properties = options.properties;
    const requested = options.properties?.sessionExpiryInterval;
    if (requested !== undefined && requested !== 0 && (this.opts.properties?.sessionExpiryInterval ?? 0) === 0) {
      throw misuse(ErrorCode.PropertyValue, "session expiry cannot be set on DISCONNECT when CONNECT had 0 [MQTT-3.14.2-2]", 0x82);
    }
    encodePacket(p, this.protocolVersion); // validates before anything changes
    if (this.st === "connected" && p.properties !== undefined) {
      // What sendTrimmed cannot leave out (a session expiry) must fit the server's limit [MQTT-3.2.2-15].
      const { reasonString: _r, userProperties: _u, ...kept } = p.properties;
      const size = encodePacket({ ...p, properties: kept }, this.protocolVersion).length;
      const max = this.limits.maximumPacketSize;
      if (size > max) throw misuse(ErrorCode.PacketTooLarge, `DISCONNECT of ${size} bytes exceeds the server's maximum packet size of ${max} [MQTT-3.2.2-15]`, 0x95);
    }
    const next = nextState(this.st, "local-disconnect");
    if (requested !== undefined) this.sessionEndsWithConnection = requested === 0;
    this.sendTrimmed(p); // [MQTT-3.14.2-3] [MQTT-3.14.2-4]
    this.close(next, { kind: "local", reasonCode: rc });
  }

  /**
   * Sends AUTH (MQTT 5 enhanced authentication): 0x18 to continue an exchange
   * the server started [MQTT-4.12.0-3], 0x19 to re-authenticate when connected.
   * The method is the CONNECT's; it is filled in when left out [MQTT-4.12.0-5].
   */
  auth(now: number, options: { reasonCode: number; properties?: Properties }): void {
    now = this.tick(now);
    if (this.protocolVersion !== 5) throw misuse(ErrorCode.VersionMismatch, "AUTH needs MQTT 5");
    const method = this.opts.properties?.authenticationMethod;
    if (method === undefined) throw misuse(ErrorCode.AuthInvalid, "AUTH needs an authentication method in CONNECT [MQTT-4.12.0-7]");
    const given = options.properties?.authenticationMethod;
    if (given !== undefined && given !== method) {
      throw misuse(ErrorCode.AuthInvalid, "AUTH must use the CONNECT's authentication method [MQTT-4.12.1-1]");
    }
    const rc = options.reasonCode;
    const ok = (this.st === "connecting" && rc === 0x18) || (this.st === "connected" && (rc === 0x18 || rc === 0x19));
    if (!ok) throw misuse(ErrorCode.InvalidState, `AUTH 0x${rc.toString(16)} is not allowed while ${this.st}`);
    const p: AuthPacket = { type: "auth", reasonCode: rc, properties: { ...options.properties, authenticationMethod: method } };
    encodePacket(p, 5); // validates before anything changes
    this.sendTrimmed(p); // [MQTT-3.15.2-2] [MQTT-3.15.2-3]
    if (rc === 0x19) this.reauthenticating = true;
  }

  /**
   * Manual-ack mode: acknowledges a QoS 1/2 message by packet id. Acks may come
   * in any order; the engine sends PUBACK/PUBREC in the order the messages
   * arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3]. Returns false when no message with
   * that id waits for an ack on this connection (e.g. it came on an earlier one:
   * the server will send it again).
   */
  ack(packetId: number, options: { reasonCode?: number; properties?: Properties } = {}): boolean {
    checkCount(packetId, "packetId", 1, 0xffff);
    const rc = options.reasonCode ?? 0;
    if (rc !== 0 && this.protocolVersion !== 5) throw misuse(ErrorCode.VersionMismatch, "ack reason codes need MQTT 5");
    for (const a of this.ackOrder) {
      if (a.packetId === packetId && !a.done) {
        // Validate before changing anything.
        encodePacket({ type: a.qos === 1 ? "puback" : "pubrec", packetId, reasonCode: rc, ...(options.properties ? { properties: options.properties } : {}) }, this.protocolVersion);
        a.done = true;
        a.reasonCode = rc;
        a.properties = options.properties;
        this.flushAcks();
        return true;
      }
    }
    const q2 = this.incomingQos2.get(packetId);
    if (q2 !== undefined && q2.state === "delivered") {
      // Delivered on an earlier connection: PUBREC goes out when the server resends it.
      q2.state = "received";
      return true;
    }
    return false;
  }

  // ==== IO inputs ====

  /** Buffers received bytes; they are parsed as events are pulled. */
  receiveData(bytes: Uint8Array, now: number): void {
    if (!(bytes instanceof Uint8Array)) throw misuse(ErrorCode.InvalidArgument, `receiveData needs a Uint8Array, got ${show(bytes)}`);
    now = this.tick(now);
    if (this.st === "connecting" || this.st === "connected") this.decoder.push(bytes);
  }

  /** The transport is gone (EOF or error). Reports `closed` unless already closed. */
  connectionLost(now: number, cause?: unknown): void {
    now = this.tick(now);
    if (this.st !== "connecting" && this.st !== "connected") return;
    this.dropOutput();
    const reason: CloseReason = cause === undefined ? { kind: "transport", reasonCode: 0x80 } : { kind: "transport", reasonCode: 0x80, cause };
    this.close(nextState(this.st, "connection-lost"), reason);
  }

  /** Fires what is due at `now`: CONNACK and PINGRESP deadlines, keep-alive pings. Early calls do nothing. */
  handleTimeout(now: number): void {
    now = this.tick(now);
    const t = this.timers;
    if (t.due("connack", now) && this.st === "connecting") {
      this.close(nextState(this.st, "timeout"), { kind: "timeout", timer: "connack", reasonCode: 0x80 });
      return;
    }
    if (t.due("pingresp", now) && this.st === "connected") {
      // No PINGRESP in time: the connection is dead [MQTT-3.1.2-20]; nothing more is sent on it.
      this.dropOutput();
      this.close(nextState(this.st, "timeout"), { kind: "timeout", timer: "pingresp", reasonCode: 0x8d });
      return;
    }
    if (t.due("keepalive", now) && this.st === "connected") {
      t.stop("keepalive");
      if (!this.pingOutstanding) {
        // Nothing was sent for a keep alive interval: PINGREQ [MQTT-3.1.2-20].
        this.out.push(new Uint8Array([0xc0, 0]));
        this.pingOutstanding = true;
        t.set("pingresp", now + (this.opts.pingTimeout ?? Math.max(1, this.limits.keepAlive) * 1000));
      }
    }
  }

  // ==== outputs ====

  /**
   * The next event, or undefined when there is none until more input. Packets
   * are parsed and handled here, one at a time, so not pulling is back-pressure.
   */
  pollEvent(): Event | undefined {
    for (;;) {
      if (this.eventHead < this.events.length) {
        const e = this.events[this.eventHead++]!;
        if (this.eventHead === this.events.length) {
          this.events = [];
          this.eventHead = 0;
        }
        return e;
      }
      if (this.st !== "connecting" && this.st !== "connected") return undefined;
      let packet: Packet | undefined;
      try {
        packet = this.decoder.next();
        if (packet === undefined) return undefined;
        this.handlePacket(packet);
      } catch (e) {
        // Nothing the server sends may make the receive path throw: its
        // protocol errors end the connection; anything else is our bug, and it
        // ends the connection too (0x83) instead of wedging the caller's loop.
        if (e instanceof RemoteProtocolError) this.protocolError(e);
        else this.internalError(e);
      }
    }
  }

  /** Drains every event available now. */
  *drainEvents(): Generator<Event, void, undefined> {
    for (let e = this.pollEvent(); e !== undefined; e = this.pollEvent()) yield e;
  }

  /**
   * The bytes to write, in order, as chunks (empty when there are none). Taking
   * them counts as sending for keep alive, so pass the current time.
   */
  dataToSend(now: number): Uint8Array[] {
    now = this.tick(now);
    if (this.out.bytes === 0) return NO_CHUNKS;
    const chunks = this.out.take();
    // What was handed out reached the wire as far as the engine can know: a
    // resend of these messages is a redelivery (DUP) [MQTT-3.3.1-1].
    const fresh = this.unflushed;
    for (let i = 0; i < fresh.length; i++) fresh[i]!.sent = true;
    if (fresh.length > 0) this.unflushed = [];
    this.lastSent = now;
    if (this.st === "connected" && this.limits.keepAlive > 0 && !this.pingOutstanding) {
      this.timers.set("keepalive", now + this.limits.keepAlive * 1000);
    }
    return chunks;
  }

  // ==== session export / import ====

  /** The complete session as plain data (see SessionState), for a store to persist. */
  exportSession(): SessionState {
    const outgoing: OutgoingMessage[] = [];
    const copy = (m: OutgoingMessage): OutgoingMessage => {
      const c: OutgoingMessage = { mid: m.mid, topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, state: m.state };
      if (m.properties !== undefined) c.properties = m.properties;
      if (m.packetId !== undefined) c.packetId = m.packetId;
      if (m.sent !== undefined) c.sent = m.sent;
      return c;
    };
    for (const m of this.inflight.values()) outgoing.push(copy(m));
    for (let i = this.queueHead; i < this.queue.length; i++) outgoing.push(copy(this.queue[i]!));
    return {
      format: 1,
      clientId: this.clientIdentifier,
      nextPacketId: this.ids.next,
      nextMid: this.nextMid,
      outgoing,
      incomingQos2: [...this.incomingQos2.values()].map((q) => ({ ...q })),
      subscriptions: [...this.subscriptions.values()].map((s) => ({ ...s })),
      retiredPacketIds: [...this.retired],
      endsWithConnection: this.sessionEndsWithConnection,
      requests: [...this.requests.values()].map((r) => {
        const c: SessionRequest = { mid: r.mid, packetId: r.packetId, kind: r.kind };
        if (r.kind === "subscribe") c.subscriptions = r.subscriptions.map((x) => ({ ...x }));
        else c.topicFilters = [...r.topicFilters];
        if (r.properties !== undefined) c.properties = r.properties;
        return c;
      }),
    };
  }

  /**
   * Restores a session exported earlier; only before `connect()` or after
   * `closed`. The whole session is checked first (see `validateSession`): a
   * bad one is refused with ERR_ARGUMENT naming the field, and the engine is
   * left as it was. A session read back from JSON goes through `sessionFromJSON`.
   */
  importSession(session: SessionState): void {
    if (this.st === "connecting" || this.st === "connected") {
      throw misuse(ErrorCode.InvalidState, "importSession needs a closed connection");
    }
    const s = validateSession(session, this.protocolVersion, this.opts.maxQueued);
    this.ids.clear();
    this.inflight.clear();
    this.queue = [];
    this.queueHead = 0;
    this.incomingQos2.clear();
    this.subscriptions.clear();
    this.requests.clear();
    for (const m of s.outgoing) {
      if (m.state === "queued") this.queue.push(m);
      else {
        this.ids.claim(m.packetId!);
        this.inflight.set(m.packetId!, m);
      }
    }
    for (const q of s.incomingQos2) this.incomingQos2.set(q.packetId, q);
    for (const sub of s.subscriptions) this.subscriptions.set(sub.topicFilter, sub);
    for (const r of s.requests ?? []) {
      this.ids.claim(r.packetId);
      this.requests.set(r.packetId, {
        mid: r.mid,
        packetId: r.packetId,
        kind: r.kind,
        subscriptions: r.subscriptions ?? [],
        topicFilters: r.topicFilters ?? [],
        properties: r.properties,
      });
    }
    this.sessionEndsWithConnection = s.endsWithConnection ?? false;
    this.retired.clear();
    for (const id of s.retiredPacketIds ?? []) {
      this.retired.add(id);
      this.ids.claim(id);
    }
    this.ids.next = s.nextPacketId;
    this.nextMid = s.nextMid;
    this.clientIdentifier = s.clientId;
  }

  /** The subscriptions the server granted in this session. */
  get grantedSubscriptions(): readonly SessionSubscription[] {
    return [...this.subscriptions.values()];
  }

  // ==== internals: time, state, output ====

  /**
   * The engine's clock. `now` is milliseconds on the caller's monotonic clock:
   * a finite number (NaN and infinities are refused, ERR_ARGUMENT, so no
   * deadline can become infinite). A value earlier than one already seen counts
   * as the latest one seen: time never runs backwards inside the engine.
   */
  private tick(now: number): number {
    if (typeof now !== "number" || !Number.isFinite(now)) {
      throw misuse(ErrorCode.InvalidArgument, `now must be a finite number of milliseconds, got ${show(now)}`);
    }
    if (now > this.now) this.now = now;
    return this.now;
  }

  private newDecoder(): PacketDecoder {
    const max = this.opts.properties?.maximumPacketSize ?? this.opts.maximumPacketSize;
    return new PacketDecoder({ protocolVersion: this.protocolVersion, maximumPacketSize: max ?? MQTT_MAX_PACKET_SIZE });
  }

  private connectPacket(clean: boolean): ConnectPacket {
    const o = this.opts;
    const p: ConnectPacket = {
      type: "connect",
      protocolVersion: this.protocolVersion,
      clean,
      keepAlive: o.keepAlive,
      clientId: this.clientIdentifier,
    };
    if (o.will !== undefined) p.will = o.will;
    if (o.username !== undefined) p.username = o.username;
    if (o.password !== undefined) p.password = o.password;
    if (o.properties !== undefined) p.properties = o.properties;
    if (this.protocolVersion === 5 && o.maximumPacketSize !== undefined && o.properties?.maximumPacketSize === undefined) {
      p.properties = { ...o.properties, maximumPacketSize: o.maximumPacketSize };
    }
    return p;
  }

  /** Per-connection state starts afresh [MQTT-3.3.2-7]. */
  private resetConnection(): void {
    this.decoder = this.newDecoder();
    this.dropOutput();
    this.limits = { ...DEFAULT_LIMITS, keepAlive: this.opts.keepAlive };
    this.pingOutstanding = false;
    this.timers.stopAll();
    this.quota.clear();
    this.relSent.clear();
    this.requestSent.clear();
    this.inCount.clear();
    this.ackOrder = [];
    this.aliasIn.clear();
    this.aliasOut.clear();
    this.topicOut.clear();
    this.reauthenticating = false;
  }

  /** Output that can no longer reach the server: dropped, and no message in it counts as sent. */
  private dropOutput(): void {
    this.out.clear();
    this.unflushed = [];
  }

  private close(next: ConnectionState, reason: CloseReason): void {
    this.st = next;
    this.timers.stopAll();
    this.pingOutstanding = false;
    this.dropPendingAcks();
    this.events.push({ type: "closed", reason });
  }

  /**
   * The connection is over: no ack may go out on it any more [MQTT-3.14.4-1].
   * A QoS 1 message not acked yet will be resent by the server. An incoming
   * QoS 2 message the application already acked (its PUBREC held behind an
   * earlier message) keeps that ack for the resend: "received" answers it with
   * PUBREC, a failing ack forgets it so the resend is a new message [MQTT-4.3.3-9].
   */
  private dropPendingAcks(): void {
    for (const a of this.ackOrder) {
      if (a.qos !== 2 || !a.done) continue;
      const q2 = this.incomingQos2.get(a.packetId);
      if (q2 === undefined) continue;
      if (a.reasonCode >= 0x80) this.incomingQos2.delete(a.packetId);
      else q2.state = "received";
    }
    this.ackOrder = [];
  }

  private transition(trigger: Trigger): void {
    this.st = nextState(this.st, trigger);
  }

  /** The server broke the protocol: queue DISCONNECT with the reason (MQTT 5), then close. */
  private protocolError(e: RemoteProtocolError): void {
    if (this.st !== "connecting" && this.st !== "connected") return;
    const rc = e.reasonCode !== undefined && isValidReasonCode("disconnect", e.reasonCode) ? e.reasonCode : 0x82;
    this.sendDisconnectFor(rc, e.message);
    this.close(nextState(this.st, "protocol-error"), { kind: "protocol-error", reasonCode: rc, error: e });
  }

  /** A bug of ours surfaced while handling the server's bytes: end the connection (0x83 Implementation specific error). */
  private internalError(e: unknown): void {
    if (this.st !== "connecting" && this.st !== "connected") return;
    this.sendDisconnectFor(0x83, "client implementation error");
    this.close(nextState(this.st, "protocol-error"), { kind: "internal-error", reasonCode: 0x83, error: e });
  }

  /**
   * The MQTT 5 DISCONNECT that ends a connection on an error, its reason
   * string a short, clean version of `message` (at most REASON_STRING_MAX
   * characters, no control characters or surrogates: an emoji becomes "??"), so it always
   * encodes; sendTrimmed drops the string if the server's limit is smaller.
   */
  private sendDisconnectFor(reasonCode: number, message: string): void {
    if (this.protocolVersion !== 5) return;
    const reasonString = message.slice(0, REASON_STRING_MAX).replace(/[\u0000-\u001f\u007f\ud800-\udfff]/g, "?");
    this.sendTrimmed({ type: "disconnect", reasonCode, properties: { reasonString } });
  }

  private send(p: Packet): void {
    this.out.push(encodePacket(p, this.protocolVersion));
  }

  /**
   * Sends an ack, DISCONNECT or AUTH, leaving out the reason string and then
   * the user properties when they would make it larger than the server's
   * maximum packet size [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.14.2-3] [MQTT-3.14.2-4].
   */
  private sendTrimmed(p: TrimmablePacket): void {
    let bytes = encodePacket(p, this.protocolVersion);
    const max = this.limits.maximumPacketSize;
    if (bytes.length > max && p.properties !== undefined) {
      const { reasonString: _r, ...rest } = p.properties;
      bytes = encodePacket({ ...p, properties: rest }, this.protocolVersion);
      if (bytes.length > max) {
        const { userProperties: _u, ...bare } = rest;
        bytes = encodePacket({ ...p, properties: bare }, this.protocolVersion);
      }
    }
    this.out.push(bytes);
  }

  private emit(e: Event): void {
    this.events.push(e);
  }

  // ==== internals: session ====

  /**
   * Discards the session state (clean start [MQTT-3.1.2-4], or the server lost
   * it [MQTT-3.2.2-5]). Application messages are not protocol state: by
   * default unacknowledged ones are published again as new messages; those the
   * server already received (PUBREL sent) are complete.
   */
  private discardSession(): void {
    const requeue: OutgoingMessage[] = [];
    for (const m of this.inflight.values()) {
      this.ids.release(m.packetId!);
      if (m.state === "pubrel") {
        this.emit({ type: "published", mid: m.mid, qos: m.qos, reasonCode: 0, packetId: m.packetId! });
      } else if (this.opts.republishOnSessionLoss) {
        m.state = "queued";
        delete m.packetId;
        delete m.sent; // a new message again (a queued message has no `sent`: importSession drops it)
        requeue.push(m);
      } else {
        this.emit({
          type: "published",
          mid: m.mid,
          qos: m.qos,
          reasonCode: 0x80,
          error: misuse(ErrorCode.InvalidState, "the session was discarded before the message was acknowledged", 0x80),
        });
      }
    }
    this.inflight.clear();
    for (const id of this.retired) this.ids.release(id);
    this.retired.clear();
    if (requeue.length > 0) {
      this.queue = [...requeue, ...this.queue.slice(this.queueHead)];
      this.queueHead = 0;
    }
    this.incomingQos2.clear();
    if (this.opts.resubscribeOnSessionLoss) {
      // Kept, marked unconfirmed, until the server grants them again: a restart
      // in between (through exportSession) still knows to ask.
      for (const s of this.subscriptions.values()) s.unconfirmed = true;
    } else {
      this.subscriptions.clear();
    }
  }

  /** Subscribes again to what the server lost, unless a request for it is pending. */
  private resubscribe(): void {
    const pending = new Set<string>();
    const leaving = new Set<string>();
    for (const r of this.requests.values()) {
      for (const s of r.subscriptions) pending.add(s.topicFilter);
      for (const f of r.topicFilters) leaving.add(f);
    }
    for (const s of [...this.subscriptions.values()]) {
      if (s.unconfirmed !== true || pending.has(s.topicFilter)) continue;
      if (leaving.has(s.topicFilter)) {
        // The application is unsubscribing from it: do not undo that.
        this.subscriptions.delete(s.topicFilter);
        continue;
      }
      const { subscriptionIdentifier, unconfirmed: _u, ...sub } = s;
      const props: Properties | undefined =
        subscriptionIdentifier !== undefined ? { subscriptionIdentifiers: [subscriptionIdentifier] } : undefined;
      this.addRequest("subscribe", [sub], [], props);
    }
  }

  private normalizeSubscription(s: Subscription): Subscription {
    const out: Subscription = { topicFilter: s.topicFilter, qos: s.qos };
    if (this.protocolVersion === 5) {
      out.noLocal = s.noLocal ?? false;
      out.retainAsPublished = s.retainAsPublished ?? false;
      out.retainHandling = s.retainHandling ?? 0;
    } else {
      if (s.noLocal !== undefined) out.noLocal = s.noLocal;
      if (s.retainAsPublished !== undefined) out.retainAsPublished = s.retainAsPublished;
      if (s.retainHandling !== undefined) out.retainHandling = s.retainHandling;
    }
    return out;
  }

  /** A SUBSCRIBE / UNSUBSCRIBE the caller asked for: checked (throwing, nothing changed), then made. */
  private request(kind: "subscribe" | "unsubscribe", subscriptions: Subscription[], topicFilters: string[], properties: Properties | undefined): number {
    // Validate with the codec first (filters, options, properties); id 1 stands in.
    const probe: Packet =
      kind === "subscribe"
        ? { type: "subscribe", packetId: 1, subscriptions, ...(properties ? { properties } : {}) }
        : { type: "unsubscribe", packetId: 1, topicFilters, ...(properties ? { properties } : {}) };
    const size = encodePacket(probe, this.protocolVersion).length;
    if (this.st === "connected" && size > this.limits.maximumPacketSize) {
      throw misuse(ErrorCode.PacketTooLarge, `${kind.toUpperCase()} of ${size} bytes exceeds the server's maximum packet size`, 0x95);
    }
    if (this.ids.inUse >= 0xffff) throw misuse(ErrorCode.PacketIdsExhausted, "all 65,535 packet identifiers are in use");
    return this.addRequest(kind, subscriptions, topicFilters, properties);
  }

  /**
   * Makes a request and sends it when connected. Never throws (the engine's
   * own resubscriptions come through here from the receive path): what cannot
   * be sent is reported as a failed `subscribed` / `unsubscribed` event.
   */
  private addRequest(kind: "subscribe" | "unsubscribe", subscriptions: Subscription[], topicFilters: string[], properties: Properties | undefined): number {
    const mid = this.nextMid++;
    const id = this.ids.allocate();
    if (id === undefined) {
      const error = misuse(ErrorCode.PacketIdsExhausted, "all 65,535 packet identifiers are in use");
      this.failRequest({ mid, packetId: 0, kind, subscriptions, topicFilters, properties }, error, () => 0x80);
      return mid;
    }
    const r: Request = { mid, packetId: id, kind, subscriptions, topicFilters, properties };
    this.requests.set(id, r);
    if (this.st === "connected") this.sendRequest(r);
    return mid;
  }

  /** Reports a request that will not be sent: one reason code per filter, from `codeFor`, and the error. */
  private failRequest(r: Request, error: MqttError, codeFor: (filter: string) => number): void {
    const filters = r.kind === "subscribe" ? r.subscriptions.map((x) => x.topicFilter) : r.topicFilters;
    const e = { mid: r.mid, packetId: r.packetId, reasonCodes: filters.map(codeFor), error };
    this.emit(r.kind === "subscribe" ? { type: "subscribed", ...e } : { type: "unsubscribed", ...e });
  }

  /**
   * Why this connection's server cannot take a SUBSCRIBE, if it cannot:
   * wildcards (0xA2), shared subscriptions (0x9E) or subscription identifiers
   * (0xA1) it said it does not support [MQTT-3.2.2-17..]. Checked for every
   * request, also those made before the CONNACK and the engine's resubscriptions.
   */
  private subscribeRefusal(subs: readonly Subscription[], properties: Properties | undefined): { error: LocalProtocolError; codeFor: (f: string) => number } | undefined {
    const l = this.limits;
    if (!l.subscriptionIdentifierAvailable && properties?.subscriptionIdentifiers !== undefined) {
      return { error: misuse(ErrorCode.NotSupported, "the server does not support subscription identifiers", 0xa1), codeFor: () => 0xa1 };
    }
    const wildcard = (f: string): boolean => !l.wildcardSubscriptionAvailable && /[+#]/.test(f);
    const shared = (f: string): boolean => !l.sharedSubscriptionAvailable && isSharedSubscription(f);
    const codeFor = (f: string): number => (shared(f) ? 0x9e : wildcard(f) ? 0xa2 : 0x80);
    for (const s of subs) {
      if (shared(s.topicFilter)) return { error: misuse(ErrorCode.NotSupported, "the server does not support shared subscriptions", 0x9e), codeFor };
      if (wildcard(s.topicFilter)) return { error: misuse(ErrorCode.NotSupported, "the server does not support wildcard subscriptions", 0xa2), codeFor };
    }
    return undefined;
  }

  private sendRequest(r: Request): void {
    const props = r.properties ? { properties: r.properties } : {};
    const bytes = encodePacket(
      r.kind === "subscribe"
        ? { type: "subscribe", packetId: r.packetId, subscriptions: r.subscriptions, ...props }
        : { type: "unsubscribe", packetId: r.packetId, topicFilters: r.topicFilters, ...props },
      this.protocolVersion,
    );
    const max = this.limits.maximumPacketSize;
    if (bytes.length > max) {
      // Asked for before this server said its limit [MQTT-3.2.2-15]: fails, is not sent.
      this.finishRequest(r);
      this.failRequest(r, misuse(ErrorCode.PacketTooLarge, `${r.kind.toUpperCase()} of ${bytes.length} bytes exceeds the server's maximum packet size of ${max}`, 0x95), () => 0x80);
      return;
    }
    const refusal = r.kind === "subscribe" ? this.subscribeRefusal(r.subscriptions, r.properties) : undefined;
    if (refusal !== undefined) {
      this.finishRequest(r);
      this.failRequest(r, refusal.error, refusal.codeFor);
      return;
    }
    this.out.push(bytes);
    this.requestSent.add(r.packetId);
  }

  /** Whether a new message of this QoS would wait in the queue rather than go out at once (see `pump`). */
  private wouldWait(qos: QoS): boolean {
    if (this.st !== "connected" || this.queuedCount > 0) return true;
    return qos > 0 && (this.inflight.size >= this.opts.maxInflight || this.quota.size >= this.limits.receiveMaximum);
  }

  /** Why the connected server cannot take this message, if it cannot. */
  private unsendable(qos: QoS, retain: boolean, size: number, props: Properties | undefined): LocalProtocolError | undefined {
    const l = this.limits;
    if (qos > l.maximumQoS) return misuse(ErrorCode.NotSupported, `the server's maximum QoS is ${l.maximumQoS} [MQTT-3.2.2-11]`, 0x9b);
    if (retain && !l.retainAvailable) return misuse(ErrorCode.NotSupported, "the server does not support retained messages [MQTT-3.2.2-14]", 0x9a);
    if (size > l.maximumPacketSize) {
      return misuse(ErrorCode.PacketTooLarge, `PUBLISH of ${size} bytes exceeds the server's maximum packet size of ${l.maximumPacketSize} [MQTT-3.2.2-15]`, 0x95);
    }
    const alias = props?.topicAlias;
    if (alias !== undefined && alias > l.topicAliasMaximum) {
      return misuse(ErrorCode.TopicAliasInvalid, `topic alias ${alias} is above the server's maximum of ${l.topicAliasMaximum} [MQTT-3.2.2-17]`, 0x94);
    }
    return undefined;
  }

  /**
   * Moves messages onto the wire within the flow-control window: first the
   * inflight ones not yet sent on this connection, in their original order
   * [MQTT-4.6.0-1], then the queue. At most min(maxInflight, the server's
   * Receive Maximum) QoS 1/2 PUBLISH are unacknowledged [MQTT-3.3.4-7]
   * [MQTT-4.9.0-2]; only PUBLISH waits, everything else goes out [MQTT-3.3.4-8].
   */
  private pump(): void {
    if (this.st !== "connected") return;
    const quotaMax = this.limits.receiveMaximum;
    if (this.resendPending) {
      let waiting = false;
      for (const m of this.inflight.values()) {
        const id = m.packetId!;
        if (m.state === "pubrel") {
          if (!this.relSent.has(id)) {
            this.send({ type: "pubrel", packetId: id, reasonCode: 0 });
            this.relSent.add(id);
          }
        } else if (!this.quota.has(id)) {
          // Only PUBLISH waits for the window; a PUBREL further on still goes out [MQTT-3.3.4-8].
          if (this.quota.size >= quotaMax) {
            waiting = true;
            continue;
          }
          if (this.resendRefused(m)) continue;
          // A resend on a resumed session: same packet id [MQTT-4.4.0-1], DUP set
          // when an earlier PUBLISH of it was handed out [MQTT-3.3.1-1].
          this.sendPublish(m, m.sent !== false);
        }
      }
      this.resendPending = waiting;
    }
    while (this.queueHead < this.queue.length) {
      const m = this.queue[this.queueHead]!;
      if (m.qos > 0 && (this.inflight.size >= this.opts.maxInflight || this.quota.size >= quotaMax)) break;
      this.queue[this.queueHead++] = undefined as unknown as OutgoingMessage;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      this.startMessage(m);
    }
  }

  /**
   * A resend is checked against every limit of this connection's CONNACK, as
   * a new message is: Maximum QoS [MQTT-3.2.2-11], Retain Available
   * [MQTT-3.2.2-14] and Maximum Packet Size [MQTT-3.2.2-15]. One that breaks a
   * limit cannot go out: the engine gives up on it and reports it as a failed
   * `published` event with the limit's reason code (0x9B, 0x9A, 0x95) and the
   * error. Returns whether it did.
   */
  private resendRefused(m: OutgoingMessage): boolean {
    let props = m.properties;
    if (props?.topicAlias !== undefined && props.topicAlias > this.limits.topicAliasMaximum) {
      const { topicAlias: _a, ...rest } = props;
      props = rest;
    }
    const size = encodePacket(this.publishPacket(m, m.topic, true, m.packetId, props), this.protocolVersion).length;
    const problem = this.unsendable(m.qos, m.retain, size, props);
    if (problem === undefined) return false;
    const id = m.packetId!;
    this.inflight.delete(id);
    // A QoS 2 PUBLISH that went out before may be held by the server, which
    // waits for a PUBREL: its id stays reserved. A QoS 1 id is free (a late
    // PUBACK is ignored), and so is the id of a PUBLISH that never left.
    if (m.qos === 2 && m.sent !== false) this.retired.add(id);
    else this.ids.release(id);
    this.emit({ type: "published", mid: m.mid, qos: m.qos, reasonCode: problem.reasonCode ?? 0x80, packetId: id, error: problem });
    return true;
  }

  /** A message leaves the queue: checked against the server's limits, given an id, sent. */
  private startMessage(m: OutgoingMessage): void {
    const wire = (m as OutEntry).wire;
    const size = wire !== undefined ? wire.length : encodePacket(this.publishPacket(m, m.topic, false, m.qos > 0 ? 1 : undefined, m.properties), this.protocolVersion).length;
    const problem = this.unsendable(m.qos, m.retain, size, m.properties);
    if (problem !== undefined) {
      this.emit({ type: "published", mid: m.mid, qos: m.qos, reasonCode: problem.reasonCode ?? 0x80, error: problem });
      return;
    }
    if (m.qos === 0) {
      this.sendPublish(m, false);
      this.emit({ type: "published", mid: m.mid, qos: 0, reasonCode: 0 });
      return;
    }
    const id = this.ids.allocate();
    if (id === undefined) {
      this.emit({ type: "published", mid: m.mid, qos: m.qos, reasonCode: 0x83, error: misuse(ErrorCode.PacketIdsExhausted, "no free packet identifier") });
      return;
    }
    m.packetId = id;
    m.state = "publish";
    m.sent = false;
    this.inflight.set(id, m);
    this.sendPublish(m, false);
  }

  private publishPacket(m: OutgoingMessage, topic: string, dup: boolean, packetId: number | undefined, props: Properties | undefined): PublishPacket {
    const p: PublishPacket = { type: "publish", topic, payload: m.payload, qos: m.qos, retain: m.retain, dup };
    if (packetId !== undefined) p.packetId = packetId;
    if (props !== undefined) p.properties = props;
    return p;
  }

  /**
   * Puts a PUBLISH in the output with this connection's topic alias choice
   * [MQTT-3.3.2-9] [MQTT-3.2.2-18]. An automatic alias is used only when the
   * PUBLISH still fits the server's Maximum Packet Size with it: the size
   * checks ran on the message as the caller gave it [MQTT-3.2.2-15].
   */
  private sendPublish(m: OutEntry, dup: boolean): void {
    const wire = m.wire;
    if (wire !== undefined) {
      // Taken once: a later resend is encoded afresh (DUP, this connection's aliases).
      m.wire = undefined;
      if (!dup && m.properties?.topicAlias === undefined && !(this.opts.autoTopicAlias && this.limits.topicAliasMaximum > 0)) {
        if (m.qos > 0) {
          const id = m.packetId!;
          let at = 1;
          while ((wire[at]! & 0x80) !== 0) at++;
          at += 1; // past the Remaining Length
          at += 2 + ((wire[at]! << 8) | wire[at + 1]!); // past the topic name
          wire[at] = id >> 8;
          wire[at + 1] = id & 0xff;
        }
        this.out.push(wire);
        this.sentPublish(m);
        return;
      }
    }
    let props = m.properties;
    const max = this.limits.topicAliasMaximum;
    let alias = props?.topicAlias;
    if (alias !== undefined && alias > max) {
      // A resend on a new connection whose server allows fewer aliases: the
      // alias is not part of the message, so it goes with the full topic only [MQTT-3.3.2-9].
      const { topicAlias: _a, ...rest } = props!;
      props = Object.keys(rest).length > 0 ? rest : undefined;
      alias = undefined;
    }
    const auto = alias === undefined && this.opts.autoTopicAlias && max > 0;
    if (auto) alias = this.autoAlias(m.topic, max);
    if (alias !== undefined) {
      const mapped = this.aliasOut.get(alias) === m.topic;
      const bytes = encodePacket(this.publishPacket(m, mapped ? "" : m.topic, dup, m.packetId, { ...props, topicAlias: alias }), this.protocolVersion);
      if (!auto || bytes.length <= this.limits.maximumPacketSize) {
        if (mapped) {
          this.topicOut.delete(m.topic);
          this.topicOut.set(m.topic, alias); // most recently used last
        } else {
          const old = this.aliasOut.get(alias);
          if (old !== undefined) this.topicOut.delete(old);
          this.aliasOut.set(alias, m.topic);
          this.topicOut.set(m.topic, alias);
        }
        this.out.push(bytes);
        this.sentPublish(m);
        return;
      }
      // The alias property would take it over the server's limit: no alias.
    }
    this.send(this.publishPacket(m, m.topic, dup, m.packetId, props));
    this.sentPublish(m);
  }

  /** A QoS 1/2 PUBLISH is in the output: it counts against the server's quota, and is sent once `dataToSend` hands it out. */
  private sentPublish(m: OutgoingMessage): void {
    if (m.qos === 0) return;
    this.quota.add(m.packetId!);
    if (m.sent !== true) this.unflushed.push(m);
  }

  /** The alias for `topic`: its own, a free one, or the least recently used one. */
  private autoAlias(topic: string, max: number): number {
    const known = this.topicOut.get(topic);
    if (known !== undefined) return known;
    if (this.aliasOut.size < max) {
      for (let a = 1; a <= max; a++) if (!this.aliasOut.has(a)) return a;
    }
    // topicOut iterates least recently used first.
    return this.topicOut.values().next().value ?? 1;
  }

  private complete(m: OutgoingMessage, reasonCode: number, properties: Properties | undefined): void {
    const id = m.packetId!;
    this.inflight.delete(id);
    this.ids.release(id);
    this.quota.delete(id);
    this.relSent.delete(id);
    const e: { type: "published"; mid: number; qos: QoS; reasonCode: number; packetId: number; properties?: Properties } = {
      type: "published",
      mid: m.mid,
      qos: m.qos,
      reasonCode,
      packetId: id,
    };
    if (properties !== undefined) e.properties = properties;
    this.emit(e);
    this.pump();
  }

  // ==== internals: the receive path ====

  private handlePacket(p: Packet): void {
    if (this.st === "connecting") {
      if (p.type === "connack") return this.onConnack(p);
      if (p.type === "auth") return this.onAuth(p);
      if (p.type === "disconnect" && this.protocolVersion === 5) return this.onDisconnect(p);
      throw remote(ErrorCode.UnexpectedPacket, `${p.type.toUpperCase()} before CONNACK`);
    }
    switch (p.type) {
      case "publish":
        return this.onPublish(p);
      case "puback":
        return this.onPuback(p.packetId, p.reasonCode, p.properties);
      case "pubrec":
        return this.onPubrec(p.packetId, p.reasonCode, p.properties);
      case "pubrel":
        return this.onPubrel(p.packetId);
      case "pubcomp":
        return this.onPubcomp(p.packetId, p.reasonCode, p.properties);
      case "suback":
        return this.onSuback(p);
      case "unsuback":
        return this.onUnsuback(p);
      case "pingresp":
        this.pingOutstanding = false;
        this.timers.stop("pingresp");
        if (this.limits.keepAlive > 0 && this.timers.get("keepalive") === undefined) {
          this.timers.set("keepalive", this.lastSent + this.limits.keepAlive * 1000);
        }
        return;
      case "disconnect":
        if (this.protocolVersion === 5) return this.onDisconnect(p);
        break;
      case "auth":
        return this.onAuth(p);
      default:
        break;
    }
    throw remote(ErrorCode.UnexpectedPacket, `a server does not send ${p.type.toUpperCase()} here`);
  }

  private onConnack(p: ConnackPacket): void {
    this.timers.stop("connack");
    const v5 = this.protocolVersion === 5;
    const props = p.properties;
    if (p.reasonCode !== 0) {
      // A refusal ends the connection [MQTT-4.13.2-1]; the session is kept.
      this.close(nextState(this.st, "connack-refused"), { kind: "refused", reasonCode: p.reasonCode, connack: p });
      return;
    }
    const method = this.opts.properties?.authenticationMethod;
    if (v5 && props?.authenticationMethod !== method) {
      throw remote(ErrorCode.AuthInvalid, "CONNACK authentication method differs from CONNECT's [MQTT-4.12.0-5]");
    }
    // [MQTT-3.2.2-4] a session the client does not hold cannot be present.
    if (p.sessionPresent && this.connectedClean) {
      throw remote(ErrorCode.SessionPresentInvalid, "CONNACK reports a session present after a clean start");
    }
    const maxSize = props?.maximumPacketSize;
    if (maxSize !== undefined && maxSize < MIN_SERVER_PACKET_SIZE) {
      // Acks have a fixed size: under this limit the client could not answer
      // a QoS 1/2 message or report a failure without breaking [MQTT-3.2.2-15].
      // Such a connection cannot work, so it ends here, visibly.
      // The DISCONNECT that ends it keeps this limit too (sendTrimmed leaves its reason string out).
      this.limits.maximumPacketSize = maxSize;
      throw remote(ErrorCode.PropertyValue, `a Maximum Packet Size of ${maxSize} is too small for the acks a client must send (${MIN_SERVER_PACKET_SIZE} bytes)`);
    }
    const l: ServerLimits = { ...DEFAULT_LIMITS, keepAlive: this.opts.keepAlive };
    if (props !== undefined) {
      if (props.receiveMaximum !== undefined) l.receiveMaximum = props.receiveMaximum;
      if (props.maximumQoS !== undefined) l.maximumQoS = props.maximumQoS as QoS;
      if (props.retainAvailable !== undefined) l.retainAvailable = props.retainAvailable === 1;
      if (props.maximumPacketSize !== undefined) l.maximumPacketSize = props.maximumPacketSize;
      if (props.topicAliasMaximum !== undefined) l.topicAliasMaximum = props.topicAliasMaximum;
      if (props.wildcardSubscriptionAvailable !== undefined) l.wildcardSubscriptionAvailable = props.wildcardSubscriptionAvailable === 1;
      if (props.subscriptionIdentifierAvailable !== undefined) l.subscriptionIdentifierAvailable = props.subscriptionIdentifierAvailable === 1;
      if (props.sharedSubscriptionAvailable !== undefined) l.sharedSubscriptionAvailable = props.sharedSubscriptionAvailable === 1;
      // The server's keep alive replaces ours [MQTT-3.1.2-21] [MQTT-3.2.2-21].
      if (props.serverKeepAlive !== undefined) l.keepAlive = props.serverKeepAlive;
      if (props.assignedClientIdentifier !== undefined) this.clientIdentifier = props.assignedClientIdentifier;
      // The server may set the session expiry it will use (v5 3.2.2.3.2).
      if (props.sessionExpiryInterval !== undefined) this.sessionEndsWithConnection = props.sessionExpiryInterval === 0;
    }
    this.limits = l;
    this.transition("connack-accepted");
    // [MQTT-3.2.2-5] the server has no session: discard ours.
    if (!p.sessionPresent && !this.connectedClean) this.discardSession();
    if (l.keepAlive > 0) this.timers.set("keepalive", this.lastSent + l.keepAlive * 1000);
    this.emit({ type: "connected", sessionPresent: p.sessionPresent, connack: p });
    // Resume: pending SUBSCRIBE/UNSUBSCRIBE, then PUBLISH (DUP) and PUBREL in order, then the queue.
    for (const r of [...this.requests.values()]) if (!this.requestSent.has(r.packetId)) this.sendRequest(r);
    if (this.opts.resubscribeOnSessionLoss) this.resubscribe();
    this.pump();
  }

  private onPublish(p: PublishPacket): void {
    let message = p;
    const alias = p.properties?.topicAlias;
    if (alias !== undefined) {
      // [MQTT-3.3.2-10] aliases 1..our Topic Alias Maximum; mappings last one connection [MQTT-3.3.2-7].
      const max = this.opts.properties?.topicAliasMaximum ?? 0;
      if (alias > max) throw remote(ErrorCode.TopicAliasInvalid, `topic alias ${alias} is above our maximum of ${max}`, 0x94);
      if (p.topic === "") {
        const t = this.aliasIn.get(alias);
        if (t === undefined) throw remote(ErrorCode.TopicAliasInvalid, `topic alias ${alias} was never set on this connection`);
        message = { ...p, topic: t };
      } else {
        this.aliasIn.set(alias, p.topic);
      }
    }
    if (p.qos === 0) {
      this.emit({ type: "message", message });
      return;
    }
    const id = p.packetId!;
    const unacked = this.inCount.has(id);
    if (!unacked) {
      // Our Receive Maximum [MQTT-3.3.4-7] from the server's side: it may not exceed it.
      const max = this.opts.properties?.receiveMaximum ?? 65535;
      if (this.inCount.size >= max) throw remote(ErrorCode.ReceiveMaximumExceeded, `more than ${max} unacknowledged QoS 1/2 messages`, 0x93);
      this.inCount.add(id);
    }
    const manual = this.opts.manualAck;
    if (p.qos === 1) {
      // Every QoS 1 PUBLISH is a new message once its PUBACK went out
      // [MQTT-4.3.2-5]; before that, the same id again is the same message: it
      // is delivered once and the one pending ack answers both, so a server
      // repeating an id cannot grow the pending acks.
      if (unacked && manual) return;
      this.emit({ type: "message", message });
      if (!manual && this.ackOrder.length === 0) {
        // Nothing ahead of it: acknowledge at once (the common, automatic case).
        this.out.pushAck(0x40, id);
        this.inCount.delete(id);
        return;
      }
      this.ackOrder.push({ packetId: id, qos: 1, done: !manual, reasonCode: 0, properties: undefined });
      this.flushAcks();
      return;
    }
    const known = this.incomingQos2.get(id);
    if (known === undefined) {
      this.incomingQos2.set(id, { packetId: id, state: manual ? "delivered" : "received" });
      this.emit({ type: "message", message });
      this.ackOrder.push({ packetId: id, qos: 2, done: !manual, reasonCode: 0, properties: undefined });
    } else {
      // A resend before PUBREL: deliver once, answer PUBREC again [MQTT-4.3.3-10].
      const pending = this.ackOrder.some((a) => a.packetId === id && !a.done);
      if (!pending) this.ackOrder.push({ packetId: id, qos: 2, done: known.state === "received", reasonCode: 0, properties: undefined });
    }
    this.flushAcks();
  }

  /** Sends the acks that are ready, stopping at the first that is not: arrival order on the wire. */
  private flushAcks(): void {
    const q = this.ackOrder;
    let i = 0;
    while (i < q.length && q[i]!.done) {
      const a = q[i++]!;
      const plain = a.reasonCode === 0 && a.properties === undefined;
      const base = { packetId: a.packetId, reasonCode: a.reasonCode, ...(a.properties ? { properties: a.properties } : {}) };
      if (a.qos === 1) {
        if (plain) this.out.pushAck(0x40, a.packetId);
        else this.sendTrimmed({ type: "puback", ...base });
        this.inCount.delete(a.packetId);
      } else {
        const q2 = this.incomingQos2.get(a.packetId);
        if (a.reasonCode >= 0x80) {
          // A failed PUBREC ends the exchange; the id is free again [MQTT-4.3.3-9].
          this.incomingQos2.delete(a.packetId);
          this.inCount.delete(a.packetId);
        } else if (q2 !== undefined) {
          q2.state = "received";
        }
        if (plain) this.out.pushAck(0x50, a.packetId);
        else this.sendTrimmed({ type: "pubrec", ...base });
      }
    }
    if (i > 0) this.ackOrder = i === q.length ? [] : q.slice(i);
  }

  private onPubrel(id: number): void {
    const known = this.incomingQos2.delete(id);
    this.inCount.delete(id);
    // [MQTT-4.3.3-11] PUBCOMP with the same id; 0x92 when we hold no such message.
    if (known || this.protocolVersion !== 5) this.out.pushAck(0x70, id);
    else this.sendTrimmed({ type: "pubcomp", packetId: id, reasonCode: 0x92 });
  }

  private onPuback(id: number, rc: number, props: Properties | undefined): void {
    const m = this.inflight.get(id);
    if (m === undefined) return; // a late duplicate: nothing is waiting for it
    if (m.qos !== 1) throw remote(ErrorCode.AckMismatch, `PUBACK for QoS ${m.qos} message ${id}`);
    this.complete(m, rc, props);
  }

  private onPubrec(id: number, rc: number, props: Properties | undefined): void {
    const m = this.inflight.get(id);
    if (m === undefined && this.retired.has(id)) {
      // The server did hold the message we gave up on: finish the exchange to free the id.
      if (rc >= 0x80) this.unretire(id);
      else this.send({ type: "pubrel", packetId: id, reasonCode: 0 });
      return;
    }
    if (m === undefined) {
      this.send({ type: "pubrel", packetId: id, reasonCode: this.protocolVersion === 5 ? 0x92 : 0 });
      return;
    }
    if (m.qos !== 2) throw remote(ErrorCode.AckMismatch, `PUBREC for QoS ${m.qos} message ${id}`);
    if (rc >= 0x80) {
      // A failing PUBREC ends the message; it is never retransmitted [MQTT-4.4.0-2].
      this.complete(m, rc, props);
      return;
    }
    // [MQTT-4.3.3-4] PUBREL with the same id, in the order the PUBRECs came [MQTT-4.6.0-4].
    // A repeated PUBREC is answered again.
    m.state = "pubrel";
    this.send({ type: "pubrel", packetId: id, reasonCode: 0 });
    this.relSent.add(id);
  }

  private onPubcomp(id: number, rc: number, props: Properties | undefined): void {
    const m = this.inflight.get(id);
    if (m === undefined) {
      if (this.retired.has(id)) this.unretire(id);
      return;
    }
    if (m.qos !== 2 || m.state !== "pubrel") throw remote(ErrorCode.AckMismatch, `PUBCOMP for message ${id} before its PUBREL`);
    // 0x92 answers a PUBREL resent after the server completed: not a failure
    // during recovery (v5 3.7.2.1); the PUBREC already accepted the message.
    this.complete(m, rc === 0x92 ? 0 : rc, props);
  }

  private unretire(id: number): void {
    this.retired.delete(id);
    this.ids.release(id);
  }

  private onSuback(p: SubackPacket): void {
    const r = this.requests.get(p.packetId);
    if (r === undefined || !this.requestSent.has(p.packetId)) return;
    if (r.kind !== "subscribe") throw remote(ErrorCode.AckMismatch, `SUBACK for UNSUBSCRIBE ${p.packetId}`);
    // [MQTT-3.8.4-6] one reason code per filter, in order [MQTT-3.9.3-1].
    if (p.reasonCodes.length !== r.subscriptions.length) {
      throw remote(ErrorCode.AckMismatch, `SUBACK has ${p.reasonCodes.length} reason codes for ${r.subscriptions.length} filters`);
    }
    this.finishRequest(r);
    const subId = r.properties?.subscriptionIdentifiers?.[0];
    r.subscriptions.forEach((s, i) => {
      const rc = p.reasonCodes[i]!;
      if (rc < 0x80) {
        const granted: SessionSubscription = { ...s, qos: rc as QoS };
        if (subId !== undefined) granted.subscriptionIdentifier = subId;
        this.subscriptions.set(s.topicFilter, granted);
      } else if (this.subscriptions.get(s.topicFilter)?.unconfirmed === true) {
        this.subscriptions.delete(s.topicFilter); // the server refused it again
      }
    });
    const e = { type: "subscribed" as const, mid: r.mid, packetId: p.packetId, reasonCodes: p.reasonCodes };
    this.emit(p.properties ? { ...e, properties: p.properties } : e);
  }

  private onUnsuback(p: UnsubackPacket): void {
    const r = this.requests.get(p.packetId);
    if (r === undefined || !this.requestSent.has(p.packetId)) return;
    if (r.kind !== "unsubscribe") throw remote(ErrorCode.AckMismatch, `UNSUBACK for SUBSCRIBE ${p.packetId}`);
    const codes = this.protocolVersion === 5 ? p.reasonCodes : r.topicFilters.map(() => 0);
    if (codes.length !== r.topicFilters.length) {
      throw remote(ErrorCode.AckMismatch, `UNSUBACK has ${codes.length} reason codes for ${r.topicFilters.length} filters`);
    }
    this.finishRequest(r);
    r.topicFilters.forEach((f, i) => {
      if (codes[i]! < 0x80) this.subscriptions.delete(f);
    });
    const e = { type: "unsubscribed" as const, mid: r.mid, packetId: p.packetId, reasonCodes: codes };
    this.emit(p.properties ? { ...e, properties: p.properties } : e);
  }

  private finishRequest(r: Request): void {
    this.requests.delete(r.packetId);
    this.requestSent.delete(r.packetId);
    this.ids.release(r.packetId);
  }

  private onDisconnect(p: DisconnectPacket): void {
    if (p.reasonCode === 0x04) {
      // 0x04 (Disconnect with Will Message) is the client's to send, never the server's (MQTT 5 3.14.2.1).
      throw remote(ErrorCode.ReasonCodeInvalid, "a server does not send DISCONNECT 0x04 (Disconnect with Will Message)");
    }
    const reason: CloseReason = p.properties
      ? { kind: "server-disconnect", reasonCode: p.reasonCode, properties: p.properties }
      : { kind: "server-disconnect", reasonCode: p.reasonCode };
    this.close(nextState(this.st, "server-disconnect"), reason);
  }

  private onAuth(p: AuthPacket): void {
    const method = this.opts.properties?.authenticationMethod;
    if (method === undefined) throw remote(ErrorCode.AuthInvalid, "AUTH from the server although CONNECT named no authentication method");
    if (p.properties?.authenticationMethod !== method) {
      throw remote(ErrorCode.AuthInvalid, "AUTH with another authentication method [MQTT-4.12.0-5]");
    }
    if (p.reasonCode === 0x19 || (p.reasonCode === 0 && this.st === "connecting")) {
      throw remote(ErrorCode.AuthInvalid, `AUTH reason 0x${p.reasonCode.toString(16)} from the server ${this.st === "connecting" ? "before CONNACK" : ""}`);
    }
    // Once connected, only the client starts a re-authentication (4.12.1).
    if (this.st === "connected" && !this.reauthenticating) {
      throw remote(ErrorCode.AuthInvalid, "AUTH from the server without a re-authentication in progress");
    }
    if (p.reasonCode === 0) this.reauthenticating = false;
    this.emit(p.properties ? { type: "auth", reasonCode: p.reasonCode, properties: p.properties } : { type: "auth", reasonCode: p.reasonCode });
  }
}

export type { MqttError };
