/**
 * The client's own messages: the queue, the messages in flight with their
 * stage, the server's flow-control quota, resends on a resumed session, and
 * completion. Session state, except what is per network connection (which
 * messages count against the quota, which PUBRELs went out on this
 * connection), which `reset` clears.
 *
 * Cost per message is flat in how many are in flight: one Map entry per
 * message in flight (its order is the send order resends keep
 * [MQTT-4.6.0-1]), and per-connection flags on the message itself.
 */
import { packetSize, writePacket } from "../codec/encode.js";
import { ReasonCode } from "../codec/reason-codes.js";
import type { Properties, ProtocolVersion, PublishPacket, QoS } from "../codec/types.js";
import { ErrorCode, type LocalProtocolError } from "../errors.js";
import type { TopicAliases } from "./aliases.js";
import { misuse } from "./errors.js";
import type { Event, PublishedEvent } from "./events.js";
import { publishRefusal, type ServerLimits } from "./limits.js";
import type { Outbox } from "./outbox.js";
import type { PacketIds } from "./packet-ids.js";
import type { OutgoingMessage } from "./session.js";

/**
 * An outgoing message as the engine holds it: the session's plain data plus
 * per-connection flags and, until it first goes out, the PUBLISH bytes that
 * `publish()` encoded to validate it (packet id 0 and DUP 0 stand in).
 */
export interface OutEntry extends OutgoingMessage {
  /** The PUBLISH's size as `publish()` checked it (packet id and DUP do not change it); written unchecked from it. */
  size?: number | undefined;
  /** Its PUBLISH went out on this connection and counts against the server's Receive Maximum. */
  inQuota?: boolean;
  /** Its PUBREL went out on this connection. */
  relSent?: boolean;
  /** MQTT 5 Message Expiry: when it expires, on the engine's clock (ms); set when it is first seen. */
  expiresAt?: number;
  /** The caller's token from `publish`, handed back in `published`. */
  token?: unknown;
}

export interface OutgoingOptions {
  maxInflight: number;
  autoTopicAlias: boolean;
  republishOnSessionLoss: boolean;
}

export class OutgoingFlow {
  private readonly inflight = new Map<number, OutEntry>();
  private queue: (OutEntry | undefined)[] = [];
  private head = 0;
  /** Messages in flight counted against the server's Receive Maximum on this connection. */
  private quota = 0;
  /**
   * Packet ids of QoS 2 messages given up after their PUBLISH went out: the
   * server may hold the message, so the id stays reserved until a
   * PUBREC/PUBCOMP exchange frees it or the session ends.
   */
  private readonly retired = new Set<number>();
  /** Messages in flight not yet (re)sent on this connection: `pump` walks the inflight list only then. */
  private resendPending = false;
  /** QoS 1/2 messages whose PUBLISH is in the output, not yet handed out by `pollTransmit`. */
  private unflushed: OutEntry[] = [];
  /** QoS 0 messages in the output: `published` when `pollTransmit` hands them out. */
  private unflushed0: OutEntry[] = [];

  constructor(
    private readonly version: ProtocolVersion,
    private readonly out: Outbox,
    private readonly ids: PacketIds,
    private readonly aliases: TopicAliases,
    private readonly emit: (e: Event) => void,
    private readonly opts: OutgoingOptions,
    /** The connection's state: the server's limits when connected, undefined otherwise. */
    private readonly connected: () => ServerLimits | undefined,
    /** The engine's clock: the latest `now` it was given (ms). */
    private readonly clock: () => number,
  ) {}

  /**
   * MQTT 5 Message Expiry for the client's own messages: the seconds of life
   * `m` has left at `now` (0 or less: expired), or undefined when it never
   * expires. The clock starts when the engine first holds the message
   * (`publish`, or `importSession` for a restored one); an interval of 0 has
   * no life left. A message whose interval passes before it is sent is
   * dropped with a failed `published` event (ERR_MESSAGE_EXPIRED); one still
   * alive goes with the interval reduced by the time it waited, as a server
   * forwards one [MQTT-3.3.2-6].
   */
  private lifeLeft(m: OutEntry, now: number): number | undefined {
    const interval = m.properties?.messageExpiryInterval;
    if (interval === undefined) return undefined;
    if (m.expiresAt === undefined) m.expiresAt = now + interval * 1000;
    return Math.ceil((m.expiresAt - now) / 1000);
  }

  /** The properties to send `m` with at `now`: the expiry reduced by its wait; undefined when it has expired. */
  private liveProperties(m: OutEntry, now: number): { props: Properties | undefined } | undefined {
    const left = this.lifeLeft(m, now);
    if (left === undefined) return { props: m.properties };
    if (left <= 0) return undefined;
    if (left === m.properties!.messageExpiryInterval) return { props: m.properties };
    return { props: { ...m.properties, messageExpiryInterval: left } };
  }

  private expired(m: OutgoingMessage, packetId: number | undefined): void {
    this.fail(m, misuse(ErrorCode.MessageExpired, `message ${m.mid} expired before it could be sent (Message Expiry Interval ${m.properties?.messageExpiryInterval} s)`), packetId);
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  get queuedCount(): number {
    return this.queue.length - this.head;
  }

  get retiredIds(): ReadonlySet<number> {
    return this.retired;
  }

  /** Whether a new message of this QoS would wait in the queue rather than go out at once (see `pump`). */
  wouldWait(qos: QoS): boolean {
    const l = this.connected();
    if (l === undefined || this.queuedCount > 0) return true;
    return qos > 0 && (this.inflight.size >= this.opts.maxInflight || this.quota >= l.receiveMaximum);
  }

  /** Queues a message `publish()` accepted (its expiry clock starts now), and sends what the window allows. */
  enqueue(m: OutEntry): void {
    this.lifeLeft(m, this.clock());
    this.queue.push(m);
    this.pump();
  }

  /**
   * Moves messages onto the wire within the flow-control window: first the
   * ones in flight not yet sent on this connection, in their original order
   * [MQTT-4.6.0-1], then the queue. At most min(maxInflight, the server's
   * Receive Maximum) QoS 1/2 PUBLISH are unacknowledged [MQTT-3.3.4-7]
   * [MQTT-4.9.0-2]; only PUBLISH waits, everything else goes out [MQTT-3.3.4-8].
   */
  pump(): void {
    const l = this.connected();
    if (l === undefined) return;
    const quotaMax = l.receiveMaximum;
    if (this.resendPending) {
      let waiting = false;
      for (const m of this.inflight.values()) {
        const id = m.packetId!;
        if (m.state === "pubrel") {
          if (m.relSent !== true) {
            this.out.pushAck(0x62, id); // PUBREL, reason 0: four bytes in every version
            m.relSent = true;
          }
        } else if (m.inQuota !== true) {
          // Only PUBLISH waits for the window; a PUBREL further on still goes out [MQTT-3.3.4-8].
          if (this.quota >= quotaMax) {
            waiting = true;
            continue;
          }
          const live = this.liveProperties(m, this.clock());
          if (live === undefined) {
            this.giveUp(m);
            this.expired(m, id);
            continue;
          }
          if (this.resendRefused(m, l, live.props)) continue;
          // A resend on a resumed session: same packet id [MQTT-4.4.0-1], DUP set
          // when an earlier PUBLISH of it was handed out [MQTT-3.3.1-1].
          this.sendPublish(m, m.sent !== false, l, live.props);
        }
      }
      this.resendPending = waiting;
    }
    while (this.head < this.queue.length) {
      const m = this.queue[this.head]!;
      if (m.qos > 0 && (this.inflight.size >= this.opts.maxInflight || this.quota >= quotaMax)) break;
      this.queue[this.head++] = undefined;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.start(m, l);
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
  private resendRefused(m: OutEntry, l: ServerLimits, live: Properties | undefined): boolean {
    let props = live;
    if (props?.topicAlias !== undefined && props.topicAlias > l.topicAliasMaximum) {
      const { topicAlias: _a, ...rest } = props;
      props = rest;
    }
    // Checked when published (or imported): only measured here.
    const size = packetSize(publishPacket(m, m.topic, true, m.packetId, props), this.version);
    const problem = publishRefusal(l, m.qos, m.retain, size, props);
    if (problem === undefined) return false;
    this.giveUp(m);
    this.fail(m, problem, m.packetId);
    return true;
  }

  /**
   * Stops trying a message in flight. A QoS 2 PUBLISH that went out before
   * may be held by the server, which waits for a PUBREL: its id stays
   * reserved. A QoS 1 id is free (a late PUBACK is ignored), and so is the id
   * of a PUBLISH that never left.
   */
  private giveUp(m: OutEntry): void {
    const id = m.packetId!;
    this.inflight.delete(id);
    if (m.qos === 2 && m.sent !== false) this.retired.add(id);
    else this.ids.release(id);
  }

  /** A message leaves the queue: checked against the server's limits, given an id, sent. */
  private start(m: OutEntry, l: ServerLimits): void {
    const live = this.liveProperties(m, this.clock());
    if (live === undefined) {
      this.expired(m, undefined);
      return;
    }
    // A reduced expiry changes the bytes (not their size): encode afresh.
    // A reduced expiry changes a value, not the size.
    const size = m.size ?? packetSize(publishPacket(m, m.topic, false, m.qos > 0 ? 1 : undefined, live.props), this.version);
    const problem = publishRefusal(l, m.qos, m.retain, size, live.props);
    if (problem !== undefined) {
      this.fail(m, problem, undefined);
      return;
    }
    if (m.qos === 0) {
      this.sendPublish(m, false, l, live.props);
      this.unflushed0.push(m);
      return;
    }
    const id = this.ids.allocate();
    if (id === undefined) {
      this.fail(m, misuse(ErrorCode.PacketIdsExhausted, "no free packet identifier"), undefined);
      return;
    }
    m.packetId = id;
    m.state = "publish";
    m.sent = false;
    this.inflight.set(id, m);
    this.sendPublish(m, false, l, live.props);
  }

  private fail(m: OutEntry, error: LocalProtocolError, packetId: number | undefined): void {
    this.report(m, error.reasonCode ?? ReasonCode.UnspecifiedError, packetId, undefined, error);
  }

  /** The message's one `published` event. */
  private report(m: OutEntry, reasonCode: number, packetId: number | undefined, properties: Properties | undefined, error: LocalProtocolError | undefined): void {
    const e: { -readonly [K in keyof PublishedEvent]: PublishedEvent[K] } = { type: "published", mid: m.mid, qos: m.qos, reasonCode };
    if (m.token !== undefined) e.token = m.token;
    if (packetId !== undefined) e.packetId = packetId;
    if (properties !== undefined) e.properties = properties;
    if (error !== undefined) e.error = error;
    this.emit(e);
  }

  /**
   * Puts a PUBLISH in the output with this connection's topic alias choice
   * [MQTT-3.3.2-9] [MQTT-3.2.2-18]. An automatic alias is used only when the
   * PUBLISH still fits the server's Maximum Packet Size with it: the size
   * checks ran on the message as the caller gave it [MQTT-3.2.2-15].
   */
  private sendPublish(m: OutEntry, dup: boolean, l: ServerLimits, properties: Properties | undefined): void {
    const plain = !dup && m.size !== undefined && properties?.topicAlias === undefined && !(this.opts.autoTopicAlias && l.topicAliasMaximum > 0);
    if (plain) {
      // The common case: as checked by publish(), with this packet id; written without checking again.
      this.out.push(writePacket(publishPacket(m, m.topic, false, m.packetId, properties), this.version, m.size));
      this.sent(m);
      return;
    }
    let props = properties;
    const max = l.topicAliasMaximum;
    let alias = props?.topicAlias;
    if (alias !== undefined && alias > max) {
      // A resend on a new connection whose server allows fewer aliases: the
      // alias is not part of the message, so it goes with the full topic only [MQTT-3.3.2-9].
      const { topicAlias: _a, ...rest } = props!;
      props = Object.keys(rest).length > 0 ? rest : undefined;
      alias = undefined;
    }
    const auto = alias === undefined && this.opts.autoTopicAlias && max > 0;
    if (auto) alias = this.aliases.choose(m.topic, max);
    if (alias !== undefined) {
      const mapped = this.aliases.maps(alias, m.topic);
      const variant = publishPacket(m, mapped ? "" : m.topic, dup, m.packetId, { ...props, topicAlias: alias });
      const size = packetSize(variant, this.version);
      const bytes = writePacket(variant, this.version, size);
      if (!auto || bytes.length <= l.maximumPacketSize) {
        this.aliases.use(alias, m.topic);
        this.out.push(bytes);
        this.sent(m);
        return;
      }
      // The alias property would take it over the server's limit: no alias.
    }
    this.out.push(writePacket(publishPacket(m, m.topic, dup, m.packetId, props), this.version));
    this.sent(m);
  }

  /** A QoS 1/2 PUBLISH is in the output: it counts against the server's quota, and is sent once `pollTransmit` hands it out. */
  private sent(m: OutEntry): void {
    if (m.qos === 0) return;
    m.inQuota = true;
    this.quota++;
    if (m.sent !== true) this.unflushed.push(m);
  }

  /** The output was handed out: every PUBLISH in it reached the wire as far as the engine can know. */
  flushed(): void {
    const fresh = this.unflushed;
    if (fresh.length > 0) {
      for (let i = 0; i < fresh.length; i++) fresh[i]!.sent = true;
      this.unflushed = [];
    }
    // QoS 0 is done once its bytes are handed out: the engine can know no more.
    const q0 = this.unflushed0;
    if (q0.length > 0) {
      this.unflushed0 = [];
      for (let i = 0; i < q0.length; i++) this.report(q0[i]!, ReasonCode.Success, undefined, undefined, undefined);
    }
  }

  /** The output was dropped: no PUBLISH in it counts as sent, and a QoS 0 message in it is lost. */
  dropped(): void {
    this.unflushed = [];
    const q0 = this.unflushed0;
    if (q0.length === 0) return;
    this.unflushed0 = [];
    for (const m of q0) {
      this.fail(m, misuse(ErrorCode.InvalidState, "the connection ended before this QoS 0 message was handed out", ReasonCode.UnspecifiedError), undefined);
    }
  }

  private complete(m: OutEntry, reasonCode: number, properties: Properties | undefined): void {
    const id = m.packetId!;
    this.inflight.delete(id);
    this.ids.release(id);
    if (m.inQuota === true) {
      m.inQuota = false;
      this.quota--;
    }
    m.relSent = false;
    this.report(m, reasonCode, id, properties, undefined);
    this.pump();
  }

  // ==== acknowledgements from the server (the connection checks the state) ====

  /** PUBACK: a QoS 1 message is done. Returns false for an ack that matches a QoS 2 message (the server broke the protocol). */
  onPuback(id: number, rc: number, props: Properties | undefined): boolean {
    const m = this.inflight.get(id);
    if (m === undefined) return true; // a late duplicate: nothing is waiting for it
    if (m.qos !== 1) return false;
    this.complete(m, rc, props);
    return true;
  }

  /**
   * PUBREC: PUBREL with the same id [MQTT-4.3.3-4], in the order the PUBRECs
   * came [MQTT-4.6.0-4]; a failing PUBREC ends the message, never
   * retransmitted [MQTT-4.4.0-2]. Returns false when it matches a QoS 1 message.
   */
  onPubrec(id: number, rc: number, props: Properties | undefined): boolean {
    const m = this.inflight.get(id);
    if (m === undefined) {
      if (this.retired.has(id)) {
        // The server did hold the message we gave up on: finish the exchange to free the id.
        if (rc >= 0x80) this.unretire(id);
        else this.out.pushAck(0x62, id); // PUBREL, reason 0: four bytes in every version
      } else {
        const reasonCode = this.version === 5 ? ReasonCode.PacketIdentifierNotFound : 0;
        this.out.push(writePacket({ type: "pubrel", packetId: id, reasonCode }, this.version));
      }
      return true;
    }
    if (m.qos !== 2) return false;
    if (rc >= 0x80) {
      this.complete(m, rc, props);
      return true;
    }
    // A repeated PUBREC is answered again.
    m.state = "pubrel";
    this.out.pushAck(0x62, id); // PUBREL, reason 0: four bytes in every version
    m.relSent = true;
    return true;
  }

  /**
   * PUBCOMP: a QoS 2 message is done. 0x92 answers a PUBREL resent after the
   * server completed: not a failure during recovery (MQTT 5 3.7.2.1); the
   * PUBREC already accepted the message. Returns false before its PUBREL.
   */
  onPubcomp(id: number, rc: number, props: Properties | undefined): boolean {
    const m = this.inflight.get(id);
    if (m === undefined) {
      if (this.retired.has(id)) this.unretire(id);
      return true;
    }
    if (m.qos !== 2 || m.state !== "pubrel") return false;
    this.complete(m, rc === ReasonCode.PacketIdentifierNotFound ? 0 : rc, props);
    return true;
  }

  private unretire(id: number): void {
    this.retired.delete(id);
    this.ids.release(id);
  }

  // ==== lifecycle ====

  /** A new network connection: nothing counts against its quota yet; what is in flight goes again. */
  reset(): void {
    for (const m of this.inflight.values()) {
      m.inQuota = false;
      m.relSent = false;
    }
    this.quota = 0;
    this.unflushed = [];
    this.resendPending = this.inflight.size > 0;
  }

  /**
   * The session is gone (clean start [MQTT-3.1.2-4], or the server lost it
   * [MQTT-3.2.2-5]). Application messages are not protocol state: by default
   * unacknowledged ones are published again as new messages; those the server
   * already received (PUBREL sent) are complete.
   */
  discardSession(): void {
    const requeue: OutEntry[] = [];
    for (const m of this.inflight.values()) {
      this.ids.release(m.packetId!);
      if (m.state === "pubrel") {
        this.report(m, ReasonCode.Success, m.packetId!, undefined, undefined);
      } else if (this.opts.republishOnSessionLoss) {
        m.state = "queued";
        delete m.packetId;
        delete m.sent;
        m.inQuota = false;
        requeue.push(m);
      } else {
        this.fail(m, misuse(ErrorCode.InvalidState, "the session was discarded before the message was acknowledged", ReasonCode.UnspecifiedError), undefined);
      }
    }
    this.inflight.clear();
    this.quota = 0;
    this.resendPending = false;
    for (const id of this.retired) this.ids.release(id);
    this.retired.clear();
    if (requeue.length > 0) {
      this.queue = [...requeue, ...this.queue.slice(this.head)];
      this.head = 0;
    }
  }

  /** In send order: in flight first (in the order first sent), then the queue. */
  exportMessages(): OutgoingMessage[] {
    const out: OutgoingMessage[] = [];
    const now = this.clock();
    const copy = (m: OutEntry): OutgoingMessage => {
      const c: OutgoingMessage = { mid: m.mid, topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, state: m.state };
      if (m.properties !== undefined) c.properties = m.properties;
      // The life it has left, so a restored session does not extend it (0: expired).
      const left = Number.isFinite(now) ? this.lifeLeft(m, now) : undefined;
      if (left !== undefined && left !== m.properties!.messageExpiryInterval) c.properties = { ...m.properties, messageExpiryInterval: Math.max(0, left) };
      if (m.packetId !== undefined) c.packetId = m.packetId;
      if (m.sent !== undefined) c.sent = m.sent;
      return c;
    };
    for (const m of this.inflight.values()) out.push(copy(m));
    for (let i = this.head; i < this.queue.length; i++) out.push(copy(this.queue[i]!));
    return out;
  }

  /** Restores a validated session's messages and reserved ids, claiming their packet ids. */
  importSession(messages: readonly OutgoingMessage[], retired: readonly number[]): void {
    this.inflight.clear();
    this.queue = [];
    this.head = 0;
    this.quota = 0;
    this.unflushed = [];
    for (const m of messages) {
      if (m.state === "queued") this.queue.push({ ...m });
      else {
        this.ids.claim(m.packetId!);
        this.inflight.set(m.packetId!, { ...m });
      }
    }
    this.retired.clear();
    for (const id of retired) {
      this.retired.add(id);
      this.ids.claim(id);
    }
    // Expiry clocks start now, or when the engine is first given a time.
    const now = this.clock();
    if (Number.isFinite(now)) {
      for (const m of this.inflight.values()) this.lifeLeft(m, now);
      for (let i = this.head; i < this.queue.length; i++) this.lifeLeft(this.queue[i]!, now);
    }
  }
}

function publishPacket(m: OutgoingMessage, topic: string, dup: boolean, packetId: number | undefined, props: Properties | undefined): PublishPacket {
  const p: PublishPacket = { type: "publish", topic, payload: m.payload, qos: m.qos, retain: m.retain, dup };
  if (packetId !== undefined) p.packetId = packetId;
  if (props !== undefined) p.properties = props;
  return p;
}
