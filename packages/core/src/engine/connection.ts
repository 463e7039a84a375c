/**
 * MqttConnection: a client's whole MQTT session as a pure object.
 *
 * Inputs: commands (connect, publish, subscribe, unsubscribe, disconnect, auth,
 * ack), bytes (`receiveData`), transport loss (`connectionLost`) and time (`now`,
 * milliseconds on the caller's monotonic clock).
 * Outputs: events (`pollEvent`), bytes (`pollTransmit`) and the next deadline
 * (`pollTimeout`, served by `handleTimeout`).
 *
 * Polling order, after any input: drain `pollEvent(now)` until undefined, then
 * write `pollTransmit(now)`, then sleep until `pollTimeout()` or the next input.
 *
 * Errors: a command that misuses the API throws LocalProtocolError before any
 * state changes. A server that breaks the protocol never throws out of the
 * receive path: it becomes a final `closed` event, with the MQTT 5 DISCONNECT
 * already queued in `pollTransmit`.
 *
 * This class validates commands, takes the inputs, dispatches packets and
 * orchestrates the CONNACK; the state lives in parts that own it:
 * OutgoingFlow (our messages), IncomingFlow (the server's messages),
 * Requests (SUBSCRIBE / UNSUBSCRIBE and granted subscriptions), TopicAliases,
 * KeepAlive, Limits (the CONNACK's), EnhancedAuth, PacketIds, the Outbox
 * (bytes out) and the EventQueue (events out). Each resets itself for a new
 * network connection and for a discarded session, and exports and imports
 * its own share of `SessionState`; the SessionKeeper holds the session's own
 * fields (client id, mids, its lifetime) and moves the whole through the parts.
 */
import { show } from "../codec/bytes.js";
import { checkPacket, ClientDecoder, encodePacket } from "../codec/client.js";
import { MQTT_MAX_PACKET_SIZE } from "../codec/decoder.js";
import { isValidReasonCode } from "../codec/reason-codes.js";
import type { ConnackPacket, DisconnectPacket, Packet, Properties, ProtocolVersion, PublishPacket, QoS, Subscription } from "../codec/types.js";
import { type MqttError, RemoteProtocolError } from "../errors.js";
import { isValidTopicName } from "../topic.js";
import { TopicAliases } from "./aliases.js";
import { EnhancedAuth } from "./auth.js";
import { misuse, PUBLISH_SUBSCRIPTION_ID, remote } from "./errors.js";
import { EventQueue } from "./event-queue.js";
import type { CloseReason, Event } from "./events.js";
import { IncomingFlow } from "./incoming.js";
import { KeepAlive } from "./keepalive.js";
import { disconnectRefusal, Limits, publishRefusal, type ServerLimits } from "./limits.js";
import { OutgoingFlow } from "./outgoing.js";
import { Outbox } from "./outbox.js";
import { PacketIds } from "./packet-ids.js";
import { normalizeSubscription, Requests } from "./requests.js";
import type { SessionState, SessionSubscription } from "./session.js";
import { SessionKeeper } from "./session-keeper.js";
import { type ConnectionState, nextState, type Trigger } from "./state.js";
import { sendErrorDisconnect, sendTrimmed } from "./wire.js";
import { checkCount, type ConnectionOptions, connectPacket, normalizeOptions, type Options } from "./options.js";
import * as RC from "../codec/rc.js";
import * as E from "../codes.js";

export type { ServerLimits } from "./limits.js";
export type { ConnectionOptions } from "./options.js";

export interface PublishRequest {
  topic: string;
  payload: Uint8Array;
  qos?: QoS;
  retain?: boolean;
  properties?: Properties;
  /**
   * Anything of the caller's, handed back in this message's `published`
   * event (a callback, a promise's resolver, its own id), so a layer above
   * needs no map from mid to state. Not part of the exported session.
   */
  token?: unknown;
}

const NO_CHUNKS: Uint8Array[] = [];

const PINGREQ = Uint8Array.of(0xc0, 0);

export class MqttConnection {
  readonly protocolVersion: ProtocolVersion;
  readonly #opts: Options;

  // ---- lifecycle ----
  #st: ConnectionState = "idle";
  /** The CONNACK deadline (ms), while connecting. */
  #connackBy: number | undefined;
  /** The latest `now` seen: the engine's clock never runs backwards. */
  #clock = Number.NEGATIVE_INFINITY;
  #decoder: ClientDecoder;

  // ---- the parts ----
  readonly #events = new EventQueue();
  readonly #out = new Outbox();
  readonly #limits: Limits;
  readonly #ids = new PacketIds();
  readonly #aliases = new TopicAliases();
  readonly #keepAlive: KeepAlive;
  readonly #outgoing: OutgoingFlow;
  readonly #incoming: IncomingFlow;
  readonly #requests: Requests;
  readonly #enhancedAuth: EnhancedAuth;
  readonly #session: SessionKeeper;

  constructor(options: ConnectionOptions = {}) {
    const o = normalizeOptions(options);
    const v = o.protocolVersion;
    this.#opts = o;
    this.protocolVersion = v;
    this.#limits = new Limits(o.keepAlive);
    this.#decoder = this.#newDecoder();
    const connected = (): ServerLimits | undefined => (this.#st === "connected" ? this.#limits.current : undefined);
    this.#keepAlive = new KeepAlive(o.pingTimeoutMs);
    this.#outgoing = new OutgoingFlow(v, this.#out, this.#ids, this.#aliases, this.#events, o, connected, () => this.#clock);
    const serverMaximum = (): number => this.#limits.current.maximumPacketSize;
    const our = o.properties;
    this.#incoming = new IncomingFlow(v, this.#out, this.#aliases, this.#events, o.manualAck, our?.receiveMaximum ?? 65535, our?.topicAliasMaximum ?? 0, serverMaximum);
    this.#requests = new Requests(v, this.#out, this.#ids, this.#events);
    this.#enhancedAuth = new EnhancedAuth(our?.authenticationMethod);
    this.#session = new SessionKeeper(o, this.#ids, this.#outgoing, this.#incoming, this.#requests);
    // Validate everything CONNECT will carry now, so a bad option fails here.
    // The client id rules wait for connect(): an empty id may still come from importSession.
    const probe = connectPacket(o, o.clientId, o.clean);
    checkPacket(probe.clientId === "" ? { ...probe, clientId: "id" } : probe, v);
  }

  // ==== getters ====

  get state(): ConnectionState {
    return this.#st;
  }

  /** The client id in use: the one given, or the one the server assigned. */
  get clientId(): string {
    return this.#session.clientId;
  }

  /** What the server allows on the current (or last) connection. */
  get serverLimits(): Readonly<ServerLimits> {
    return this.#limits.current;
  }

  /** Outgoing QoS 1/2 messages sent and not yet complete. */
  get inflightCount(): number {
    return this.#outgoing.inflightCount;
  }

  /** Messages waiting to be sent. */
  get queuedCount(): number {
    return this.#outgoing.queuedCount;
  }

  /** Whether `pollTransmit` has bytes (Paho's want_write). */
  wantsWrite(): boolean {
    return this.#out.bytes > 0 || this.#outgoing.readyToSend();
  }

  /** Whether `pollEvent` has events ready without more input (e.g. QoS 0 `published` after `pollTransmit`). */
  wantsEvents(): boolean {
    return this.#events.pending;
  }

  /**
   * Bytes waiting in `pollTransmit`. It grows only with the caller's commands
   * and with input (at most one small answer per received packet), so a loop
   * that stops reading while this is high bounds it.
   */
  get outputBytes(): number {
    return this.#out.bytes;
  }

  /**
   * Whether the bytes the last `pollTransmit` returned must wait until a
   * session store holds the session as it is now: true when they carry a QoS 2
   * PUBLISH, PUBREL, an acknowledgement of a received message, SUBSCRIBE or
   * UNSUBSCRIBE; false for QoS 0/1 PUBLISH, PINGREQ, DISCONNECT and AUTH (a
   * QoS 1 message whose state is lost in a crash only goes again: at least once).
   */
  get transmitNeedsSave(): boolean {
    return this.#out.takenNeedsSave;
  }

  /** The earliest time (ms, the caller's clock) `handleTimeout` has work to do, or undefined. */
  pollTimeout(): number | undefined {
    const a = this.#connackBy;
    const b = this.#keepAlive.next();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return a < b ? a : b;
  }

  /** The subscriptions the server granted in this session. */
  get grantedSubscriptions(): readonly SessionSubscription[] {
    return this.#requests.subscriptions;
  }

  // ==== commands ====

  /**
   * Starts a network connection: queues CONNECT [MQTT-3.1.0-1] and arms the
   * CONNACK deadline. `clean` overrides the option for this connection (Paho's
   * clean_start). A clean start discards the session first [MQTT-3.1.2-4].
   */
  connect(now: number, options: { clean?: boolean } = {}): void {
    now = this.#tick(now);
    const clean = options.clean ?? this.#opts.clean;
    const v = this.protocolVersion;
    const clientId = this.#session.clientId;
    if (!clean && clientId === "" && v !== 5) {
      throw misuse(E.InvalidArgument, "a persistent session needs a client id before MQTT 5");
    }
    if (v === 3 && clientId === "") throw misuse(E.InvalidArgument, "MQTT 3.1 needs a client id");
    const next = nextState(this.#st, "connect");
    if (this.#events.pending) {
      // The previous connection's events (its `closed` last) belong before this
      // one's; a caller who had not pulled them would read them as this
      // connection's. Pull them first.
      throw misuse(E.InvalidState, "pull the previous connection's events (up to its closed event) before connect()");
    }
    const bytes = encodePacket(connectPacket(this.#opts, clientId, clean), v);
    this.#st = next;
    this.#resetConnection();
    this.#session.connect(clean); // a clean start discards the session [MQTT-3.1.2-4]
    this.#out.push(bytes);
    this.#connackBy = now + this.#opts.connectTimeoutMs;
  }

  /**
   * Publishes a message; returns its message id (`mid`, the engine's own
   * counter, not the packet id). Queued while not connected or while the
   * flow-control window is full. Throws LocalProtocolError, changing nothing,
   * for an invalid message, one the server said it cannot take (QoS above its
   * maximum [MQTT-3.2.2-11], retain when unavailable [MQTT-3.2.2-14], larger
   * than its maximum packet size [MQTT-3.2.2-15]), or a full queue.
   *
   * The engine keeps `request.payload` itself, not a copy, until the
   * message's `published` event: a resend encodes it again, and a PUBLISH
   * larger than the codec's slab piece (8 KiB) is handed out by
   * `pollTransmit` as two chunks, its header and then this very array. Do not
   * modify the payload before `published` (copy it first if you must).
   */
  publish(now: number, request: PublishRequest): number {
    now = this.#tick(now);
    if (typeof request !== "object" || request === null) {
      throw misuse(E.InvalidArgument, `publish needs a request object, got ${show(request)}`);
    }
    if (typeof request.topic !== "string") throw misuse(E.InvalidArgument, `topic must be a string, got ${show(request.topic)}`);
    if (!(request.payload instanceof Uint8Array)) {
      throw misuse(E.InvalidArgument, `payload must be a Uint8Array, got ${show(request.payload)}`);
    }
    const qos = request.qos ?? 0;
    const retain = request.retain ?? false;
    const props = request.properties;
    if (!isValidTopicName(request.topic)) {
      throw misuse(E.TopicInvalid, `${show(request.topic)} is not a valid topic name`, RC.TopicNameInvalid);
    }
    if (props?.subscriptionIdentifiers !== undefined) {
      throw misuse(E.PropertyNotAllowed, PUBLISH_SUBSCRIPTION_ID);
    }
    // Validates the whole packet (QoS, payload, properties, strings) the way the codec will.
    const probe: PublishPacket = { type: "publish", topic: request.topic, payload: request.payload, qos, retain, dup: false };
    if (qos > 0) probe.packetId = 1; // the real id is written into these bytes when it is known
    if (props !== undefined) probe.properties = props;
    const size = checkPacket(probe, this.protocolVersion); // validated once; written unchecked when sent
    if (this.#st === "connected") {
      const problem = publishRefusal(this.#limits.current, qos, retain, size, props);
      if (problem !== undefined) throw problem;
    }
    this.#outgoing.checkRoom(qos);
    const mid = this.#session.newMid();
    this.#outgoing.enqueue(mid, request.topic, request.payload, qos, retain, props, request.token, size);
    return mid;
  }

  /** Subscribes; returns the mid reported by the `subscribed` event. */
  subscribe(now: number, subscriptions: Subscription | Subscription[], properties?: Properties): number {
    now = this.#tick(now);
    const subs = Array.isArray(subscriptions) ? subscriptions : [subscriptions];
    if (subs.length === 0) throw misuse(E.Empty, "subscribe needs at least one topic filter");
    for (let i = 0; i < subs.length; i++) {
      const s = subs[i];
      if (typeof s !== "object" || s === null || typeof s.topicFilter !== "string") {
        throw misuse(E.InvalidArgument, `subscription ${i} must be an object with a string topicFilter, got ${show(s)}`);
      }
    }
    const list = subs.map((s) => normalizeSubscription(s, this.protocolVersion));
    return this.#request("subscribe", list, [], properties);
  }

  /** Unsubscribes; returns the mid reported by the `unsubscribed` event. */
  unsubscribe(now: number, topicFilters: string | string[], properties?: Properties): number {
    now = this.#tick(now);
    const filters = Array.isArray(topicFilters) ? topicFilters : [topicFilters];
    if (filters.length === 0) throw misuse(E.Empty, "unsubscribe needs at least one topic filter");
    for (const f of filters) {
      if (typeof f !== "string") throw misuse(E.InvalidArgument, `a topic filter must be a string, got ${show(f)}`);
    }
    return this.#request("unsubscribe", [], filters, properties);
  }

  /**
   * Ends the connection: queues DISCONNECT and reports `closed`. MQTT 5 may
   * carry a reason code (0x04 sends the will) and a session expiry override;
   * one cannot turn a session expiry of 0 into a non-zero one [MQTT-3.14.2-2].
   */
  disconnect(now: number, options: { reasonCode?: number; properties?: Properties } = {}): void {
    now = this.#tick(now);
    const rc = options.reasonCode ?? RC.NormalDisconnection;
    const p: DisconnectPacket = { type: "disconnect", reasonCode: rc };
    if (options.properties !== undefined) p.properties = options.properties;
    const requested = options.properties?.sessionExpiryInterval;
    if (requested !== undefined && requested !== 0 && (this.#opts.properties?.sessionExpiryInterval ?? 0) === 0) {
      throw misuse(E.PropertyValue, "session expiry cannot be set on DISCONNECT when CONNECT had 0 [MQTT-3.14.2-2]", RC.ProtocolError);
    }
    checkPacket(p, this.protocolVersion); // validates before anything changes
    if (this.#st === "connected") {
      const problem = disconnectRefusal(this.#limits.current, p, this.protocolVersion);
      if (problem !== undefined) throw problem;
    }
    const next = nextState(this.#st, "local-disconnect");
    if (requested !== undefined) this.#session.onDisconnect(requested);
    this.#sendTrimmed(p); // [MQTT-3.14.2-3] [MQTT-3.14.2-4]
    this.#close(next, { kind: "local", reasonCode: rc });
  }

  /**
   * Sends AUTH (MQTT 5 enhanced authentication): 0x18 to continue an exchange
   * the server started [MQTT-4.12.0-3], 0x19 to re-authenticate when connected.
   * The method is the CONNECT's; it is filled in when left out [MQTT-4.12.0-5].
   */
  auth(now: number, options: { reasonCode: number; properties?: Properties }): void {
    now = this.#tick(now);
    if (this.protocolVersion !== 5) throw misuse(E.VersionMismatch, "AUTH needs MQTT 5");
    const p = this.#enhancedAuth.request(this.#st === "connecting" || this.#st === "connected" ? this.#st : "other", options);
    checkPacket(p, 5); // validates before anything changes
    this.#sendTrimmed(p); // [MQTT-3.15.2-2] [MQTT-3.15.2-3]
    this.#enhancedAuth.sent(p);
  }

  /**
   * Manual-ack mode: acknowledges a QoS 1/2 message by packet id. Acks may come
   * in any order; the engine sends PUBACK/PUBREC in the order the messages
   * arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3]. Returns false when no message with
   * that id waits for an ack on this connection (e.g. it came on an earlier one:
   * the server will send it again).
   */
  ack(now: number, packetId: number, options: { reasonCode?: number; properties?: Properties } = {}): boolean {
    this.#tick(now);
    checkCount(packetId, "packetId", 1, 0xffff);
    const rc = options.reasonCode ?? RC.Success;
    if (rc !== 0 && this.protocolVersion !== 5) throw misuse(E.VersionMismatch, "ack reason codes need MQTT 5");
    return this.#incoming.ack(packetId, rc, options.properties); // checks the ack before it changes anything
  }

  // ==== IO inputs ====

  /** Buffers received bytes; they are parsed as events are pulled. */
  receiveData(now: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw misuse(E.InvalidArgument, `receiveData needs a Uint8Array, got ${show(bytes)}`);
    now = this.#tick(now);
    if (this.#st === "connecting" || this.#st === "connected") this.#decoder.push(bytes);
  }

  /** The transport is gone (EOF or error). Reports `closed` unless already closed. */
  connectionLost(now: number, cause?: unknown): void {
    now = this.#tick(now);
    if (this.#st !== "connecting" && this.#st !== "connected") return;
    this.#dropOutput();
    const reason: CloseReason = cause === undefined ? { kind: "transport", reasonCode: 0x80 } : { kind: "transport", reasonCode: 0x80, cause };
    this.#close(nextState(this.#st, "connection-lost"), reason);
  }

  /** Fires what is due at `now`: CONNACK and PINGRESP deadlines, keep-alive pings. Early calls do nothing. */
  handleTimeout(now: number): void {
    now = this.#tick(now);
    if (this.#st === "connecting" && this.#connackBy !== undefined && this.#connackBy <= now) {
      this.#close(nextState(this.#st, "timeout"), { kind: "timeout", timer: "connack", reasonCode: RC.UnspecifiedError });
      return;
    }
    if (this.#st !== "connected") return;
    if (this.#keepAlive.expired(now)) {
      // No PINGRESP in time: the connection is dead [MQTT-3.1.2-20]; nothing more is sent on it.
      this.#dropOutput();
      this.#close(nextState(this.#st, "timeout"), { kind: "timeout", timer: "pingresp", reasonCode: RC.KeepAliveTimeout });
      return;
    }
    // Nothing was sent for a keep alive interval: PINGREQ [MQTT-3.1.2-20].
    if (this.#keepAlive.pingDue(now)) this.#out.push(PINGREQ, false);
  }

  // ==== outputs ====

  /**
   * The next event, or undefined when there is none until more input. Packets
   * are parsed and handled here, one at a time, so not pulling is back-pressure.
   */
  pollEvent(now: number): Event | undefined {
    this.#tick(now);
    for (;;) {
      const e = this.#events.next();
      if (e !== undefined) return e;
      if (this.#st !== "connecting" && this.#st !== "connected") return undefined;
      try {
        const packet = this.#decoder.next();
        if (packet === undefined) return undefined;
        this.#handlePacket(packet);
      } catch (e) {
        // Nothing the server sends may make the receive path throw: its
        // protocol errors end the connection; anything else is our bug, and it
        // ends the connection too (0x83) instead of wedging the caller's loop.
        if (e instanceof RemoteProtocolError) this.#protocolError(e);
        else this.#internalError(e);
      }
    }
  }

  /**
   * The bytes to write, in order, as chunks (empty when there are none). Taking
   * them counts as sending for keep alive, so pass the current time.
   */
  pollTransmit(now: number): Uint8Array[] {
    now = this.#tick(now);
    // Messages held back by the output's high-water mark move up first.
    if (this.#outgoing.readyToSend()) this.#outgoing.pump();
    if (this.#out.bytes === 0) return NO_CHUNKS;
    const chunks = this.#out.take();
    // What was handed out reached the wire as far as the engine can know: a
    // resend of these messages is a redelivery (DUP) [MQTT-3.3.1-1].
    this.#outgoing.flushed();
    this.#keepAlive.sent(now);
    return chunks;
  }

  // ==== session export / import ====

  /** The complete session as plain data (see SessionState), for a store to persist. */
  exportSession(now: number): SessionState {
    this.#tick(now);
    return this.#session.export();
  }

  /**
   * Restores a session exported earlier; only before `connect()` or after
   * `closed`. The whole session is checked first (see `validateSession`): a
   * bad one is refused with ERR_ARGUMENT naming the field, and the engine is
   * left as it was. A session read back from JSON goes through `sessionFromJSON`.
   */
  importSession(now: number, session: SessionState): void {
    this.#tick(now);
    if (this.#st === "connecting" || this.#st === "connected") {
      throw misuse(E.InvalidState, "importSession needs a closed connection");
    }
    this.#session.import(session);
  }

  // ==== internals: time, state, output ====

  /**
   * The engine's clock. `now` is milliseconds on the caller's monotonic clock:
   * a finite number (NaN and infinities are refused, ERR_ARGUMENT, so no
   * deadline can become infinite). A value earlier than one already seen counts
   * as the latest one seen: time never runs backwards inside the engine.
   */
  #tick(now: number): number {
    if (typeof now !== "number" || !Number.isFinite(now)) {
      throw misuse(E.InvalidArgument, `now must be a finite number of milliseconds, got ${show(now)}`);
    }
    if (now > this.#clock) this.#clock = now;
    return this.#clock;
  }

  #newDecoder(): ClientDecoder {
    const max = this.#opts.properties?.maximumPacketSize ?? this.#opts.maximumPacketSize;
    return new ClientDecoder({ protocolVersion: this.protocolVersion, maximumPacketSize: max ?? MQTT_MAX_PACKET_SIZE });
  }

  /** Per-connection state starts afresh [MQTT-3.3.2-7]. */
  #resetConnection(): void {
    this.#decoder = this.#newDecoder();
    this.#dropOutput();
    this.#limits.reset();
    this.#connackBy = undefined;
    this.#keepAlive.reset();
    this.#outgoing.reset();
    this.#incoming.reset();
    this.#requests.reset();
    this.#aliases.reset();
    this.#enhancedAuth.reset();
  }

  /** Output that can no longer reach the server: dropped, and no message in it counts as sent. */
  #dropOutput(): void {
    this.#out.clear();
    this.#outgoing.dropped();
  }

  #close(next: ConnectionState, reason: CloseReason): void {
    this.#st = next;
    this.#connackBy = undefined;
    this.#keepAlive.stop();
    this.#incoming.endConnection();
    this.#events.push({ type: "closed", reason });
  }

  #transition(trigger: Trigger): void {
    this.#st = nextState(this.#st, trigger);
  }

  /** The server broke the protocol: queue DISCONNECT with the reason (MQTT 5), then close. */
  #protocolError(e: RemoteProtocolError): void {
    if (this.#st !== "connecting" && this.#st !== "connected") return;
    const rc = e.reasonCode !== undefined && isValidReasonCode("disconnect", e.reasonCode) ? e.reasonCode : RC.ProtocolError;
    this.#sendDisconnectFor(rc, e.message);
    this.#close(nextState(this.#st, "protocol-error"), { kind: "protocol-error", reasonCode: rc, error: e });
  }

  /** A bug of ours surfaced while handling the server's bytes: end the connection (0x83 Implementation specific error). */
  #internalError(e: unknown): void {
    if (this.#st !== "connecting" && this.#st !== "connected") return;
    this.#sendDisconnectFor(RC.ImplementationSpecificError, "client implementation error");
    this.#close(nextState(this.#st, "protocol-error"), { kind: "internal-error", reasonCode: RC.ImplementationSpecificError, error: e });
  }

  /** The MQTT 5 DISCONNECT that ends a connection on an error (see sendErrorDisconnect). */
  #sendDisconnectFor(reasonCode: number, message: string): void {
    sendErrorDisconnect(this.#out, this.protocolVersion, this.#limits.current.maximumPacketSize, reasonCode, message);
  }

  #sendTrimmed(p: Parameters<typeof sendTrimmed>[3]): void {
    sendTrimmed(this.#out, this.protocolVersion, this.#limits.current.maximumPacketSize, p);
  }

  /** A SUBSCRIBE / UNSUBSCRIBE the caller asked for: checked (throwing, nothing changed), then made. */
  #request(kind: "subscribe" | "unsubscribe", subscriptions: Subscription[], topicFilters: string[], properties: Properties | undefined): number {
    const limits = this.#st === "connected" ? this.#limits.current : undefined;
    return this.#requests.request(kind, subscriptions, topicFilters, properties, limits, () => this.#session.newMid());
  }

  // ==== internals: the receive path ====

  #handlePacket(p: Packet): void {
    if (this.#st === "connecting") {
      if (p.type === "connack") return this.#onConnack(p);
      if (p.type === "auth") return this.#events.push(this.#enhancedAuth.onAuth(p, false));
      if (p.type === "disconnect" && this.protocolVersion === 5) return this.#onDisconnect(p);
      throw remote(E.UnexpectedPacket, `${p.type.toUpperCase()} before CONNACK`);
    }
    switch (p.type) {
      case "publish":
        return this.#incoming.onPublish(p);
      case "puback":
        if (!this.#outgoing.onPuback(p.packetId, p.reasonCode, p.properties)) throw remote(E.AckMismatch, `PUBACK for QoS 2 message ${p.packetId}`);
        return;
      case "pubrec":
        if (!this.#outgoing.onPubrec(p.packetId, p.reasonCode, p.properties)) throw remote(E.AckMismatch, `PUBREC for QoS 1 message ${p.packetId}`);
        return;
      case "pubrel":
        return this.#incoming.onPubrel(p.packetId);
      case "pubcomp":
        if (!this.#outgoing.onPubcomp(p.packetId, p.reasonCode, p.properties)) throw remote(E.AckMismatch, `PUBCOMP for message ${p.packetId} before its PUBREL`);
        return;
      case "suback":
        return this.#requests.onSuback(p);
      case "unsuback":
        return this.#requests.onUnsuback(p);
      case "pingresp":
        return this.#keepAlive.pingresp();
      case "disconnect":
        if (this.protocolVersion === 5) return this.#onDisconnect(p);
        break;
      case "auth":
        return this.#events.push(this.#enhancedAuth.onAuth(p, true));
      default:
        break;
    }
    throw remote(E.UnexpectedPacket, `a server does not send ${p.type.toUpperCase()} here`);
  }

  #onConnack(p: ConnackPacket): void {
    this.#connackBy = undefined;
    const v5 = this.protocolVersion === 5;
    const props = p.properties;
    if (p.reasonCode !== 0) {
      // A refusal ends the connection [MQTT-4.13.2-1]; the session is kept.
      const reason: CloseReason = props !== undefined ? { kind: "refused", reasonCode: p.reasonCode, properties: props } : { kind: "refused", reasonCode: p.reasonCode };
      this.#close(nextState(this.#st, "connack-refused"), reason);
      return;
    }
    if (v5) this.#enhancedAuth.checkConnack(props);
    // [MQTT-3.2.2-4] a session the client does not hold cannot be present.
    if (p.sessionPresent && this.#session.startedClean) {
      throw remote(E.SessionPresentInvalid, "CONNACK reports a session present after a clean start");
    }
    this.#limits.onConnack(props); // throws for a Maximum Packet Size too small to work with
    this.#session.onConnack(props);
    this.#transition("connack-accepted");
    // [MQTT-3.2.2-5] the server has no session: discard ours.
    if (!p.sessionPresent && !this.#session.startedClean) this.#session.discard();
    const limits = this.#limits.current;
    this.#keepAlive.start(limits.keepAlive);
    this.#events.push(props !== undefined ? { type: "connected", sessionPresent: p.sessionPresent, reasonCode: 0, properties: props } : { type: "connected", sessionPresent: p.sessionPresent, reasonCode: 0 });
    // Resume: pending SUBSCRIBE/UNSUBSCRIBE (then resubscriptions), then PUBLISH (DUP) and PUBREL in order, then the queue.
    this.#requests.resume(limits, () => this.#session.newMid(), this.#opts.resubscribeOnSessionLoss);
    this.#outgoing.pump();
  }

  #onDisconnect(p: DisconnectPacket): void {
    if (p.reasonCode === RC.DisconnectWithWillMessage) {
      // 0x04 (Disconnect with Will Message) is the client's to send, never the server's (MQTT 5 3.14.2.1).
      throw remote(E.ReasonCodeInvalid, "a server does not send DISCONNECT 0x04 (Disconnect with Will Message)", RC.ProtocolError);
    }
    const reason: CloseReason = p.properties
      ? { kind: "server-disconnect", reasonCode: p.reasonCode, properties: p.properties }
      : { kind: "server-disconnect", reasonCode: p.reasonCode };
    this.#close(nextState(this.#st, "server-disconnect"), reason);
  }
}

export type { MqttError };
