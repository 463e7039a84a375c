/**
 * The client's own messages: the queue, the messages in flight with their
 * stage, the server's flow-control quota, resends on a resumed session,
 * delivery attempts (`maxSendAttempts`), and completion. Session state,
 * except what is per network connection (which messages count against the
 * quota, which PUBLISHes were handed out and which PUBRELs went out on this
 * connection), which `reset` clears.
 *
 * Cost per message is flat in how many are outstanding, and a message costs
 * no object of its own while the engine holds it: its fields live in
 * `Slots` (typed arrays for numbers and flags, plain arrays for the caller's
 * topic, payload, properties and token), one slot per message, reused. The
 * queue is a list of slots; the messages in flight are an IdMap from packet id
 * to slot, and a list linked through the slots in the order first sent, the
 * order resends keep [MQTT-4.6.0-1]. A message
 * kept as an object until its ack would outlive the young generation when
 * thousands are outstanding, and every old-space collection would then walk
 * all of them.
 */
import { SLAB_MAX_PIECE } from "../codec/bytes.js";
import { packetSize, writePacket, writePacketChunks } from "../codec/client.js";
import type { Properties, ProtocolVersion, PublishPacket, QoS } from "../codec/types.js";
import { type LocalProtocolError } from "../errors.js";
import type { TopicAliases } from "./aliases.js";
import { misuse } from "./errors.js";
import type { EventQueue } from "./event-queue.js";
import type { PublishedEvent } from "./events.js";
import { publishRefusal, type ServerLimits } from "./limits.js";
import type { Outbox } from "./outbox.js";
import type { PacketIds } from "./packet-ids.js";
import type { OutgoingMessage } from "./session.js";
import { IdMap } from "./id-set.js";
import { Column, IntList } from "./columns.js";
import * as RC from "../codec/rc.js";
import * as E from "../codes.js";

// ---- a slot's flags ----
const QOS_MASK = 3;
const RETAIN = 1 << 2;
/** Stage "pubrel" (PUBREC received); a slot with a packet id and without it is at stage "publish". */
const PUBREL = 1 << 3;
/** Its PUBLISH went out on this connection and counts against the server's Receive Maximum. */
const IN_QUOTA = 1 << 4;
/** Its PUBREL went out on this connection. */
const REL_SENT = 1 << 5;
/** `sent` is known (absent in an older session: counts as true). */
const SENT_KNOWN = 1 << 6;
/** `sent` is true: a PUBLISH of it was handed out by `pollTransmit` (only with SENT_KNOWN). */
const SENT = 1 << 7;
/** Its PUBLISH is in the output, not handed out yet. */
const UNFLUSHED = 1 << 8;
/** A PUBLISH of it was handed out by `pollTransmit` on this connection: an attempt, if the connection ends before PUBACK / PUBREC. */
const HANDED = 1 << 9;

/** No packet id (a queued or QoS 0 message). */
const NO_ID = 0;
/** No size checked by `publish()` (a message restored from a session). */
const NO_SIZE = -1;
const EMPTY = new Uint8Array(0);
/** No slot (the ends of the in-flight list). */
const NONE = -1;

/**
 * The messages the engine holds, one slot each, as columns. Freed slots are
 * reused (last freed first), so the columns only grow to the most messages
 * held at once. References are cleared when a slot is freed: the engine
 * keeps no caller's payload past its message's end.
 */
class Slots {
  #cap = 0;
  mid = new Float64Array(0);
  flags = new Uint16Array(0);
  packetId = new Uint16Array(0);
  /** The PUBLISH's size as `publish()` checked it, NO_SIZE when unknown. */
  size = new Int32Array(0);
  /** MQTT 5 Message Expiry: when it expires on the engine's clock (ms); NaN until first seen. */
  expiresAt = new Float64Array(0);
  /** Delivery attempts used: connections that ended between its PUBLISH and PUBACK / PUBREC (see `reset`). */
  attempts = new Float64Array(0);
  /** The list of messages in flight, in send order: the slots before and after (NONE at the ends). */
  prev = new Int32Array(0);
  next = new Int32Array(0);
  // References in paged columns, numbers in typed arrays: see columns.ts for why.
  readonly topic = new Column<string>();
  readonly payload = new Column<Uint8Array>();
  readonly props = new Column<Properties>();
  /** The caller's token from `publish`, handed back in `published`. */
  readonly token = new Column<unknown>();
  /** Slots in use or freed: the next never-used slot. */
  #used = 0;
  readonly #free = new IntList();

  alloc(mid: number, topic: string, payload: Uint8Array, qos: QoS, retain: boolean, props: Properties | undefined, token: unknown, size: number): number {
    let s: number;
    if (this.#free.n > 0) s = this.#free.a[--this.#free.n]!;
    else {
      s = this.#used++;
      if (s === this.#cap) this.#grow();
    }
    this.topic.set(s, topic);
    this.payload.set(s, payload);
    this.props.set(s, props);
    this.token.set(s, token);
    this.mid[s] = mid;
    this.flags[s] = qos | (retain ? RETAIN : 0);
    this.packetId[s] = NO_ID;
    this.size[s] = size;
    this.expiresAt[s] = Number.NaN;
    this.attempts[s] = 0;
    return s;
  }

  release(s: number): void {
    this.flags[s] = 0;
    this.topic.set(s, undefined);
    this.payload.set(s, undefined);
    this.props.set(s, undefined);
    this.token.set(s, undefined);
    this.#free.push(s);
  }

  #grow(): void {
    const cap = this.#cap === 0 ? 16 : this.#cap * 2;
    const widen = <T extends Float64Array | Uint16Array | Int32Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.mid = widen(this.mid, new Float64Array(cap));
    this.flags = widen(this.flags, new Uint16Array(cap));
    this.packetId = widen(this.packetId, new Uint16Array(cap));
    this.size = widen(this.size, new Int32Array(cap));
    this.expiresAt = widen(this.expiresAt, new Float64Array(cap));
    this.attempts = widen(this.attempts, new Float64Array(cap));
    this.prev = widen(this.prev, new Int32Array(cap));
    this.next = widen(this.next, new Int32Array(cap));
    this.#cap = cap;
  }
}

/**
 * A PUBLISH whose optional fields are always present (undefined when unused),
 * so the one scratch object keeps one shape; the codec reads an undefined
 * field as an absent one.
 */
type ScratchPublish = Omit<PublishPacket, "packetId" | "properties"> & { packetId: number | undefined; properties: Properties | undefined };

/** What `liveProperties` returns for a message whose expiry has passed (never sent). */
const EXPIRED: Properties = Object.freeze({});

/**
 * New PUBLISH packets stop moving from the queue to the output while this
 * many bytes wait there untaken: a caller that stops taking bytes (its socket
 * is full) then fills the queue, which `maxQueued` bounds, instead of the
 * output growing without limit (Paho's unbounded out-queue). Acks, PINGREQ
 * and resends are not held: they are bounded by input and the window.
 */
export const OUTPUT_HIGH_WATER = 64 * 1024;

export interface OutgoingOptions {
  maxInflight: number;
  maxQueued: number;
  autoTopicAlias: boolean;
  republishOnSessionLoss: boolean;
  maxSendAttempts: number;
}

export class OutgoingFlow {
  readonly #slots = new Slots();
  /** Packet id → slot, for the messages in flight. */
  readonly #inflight = new IdMap();
  /** The messages in flight in the order first sent, linked through the slots. */
  #first = NONE;
  #last = NONE;
  #queue = new IntList();
  #head = 0;
  /** Messages in flight counted against the server's Receive Maximum on this connection. */
  #quota = 0;
  /**
   * Packet ids of QoS 2 messages given up after their PUBLISH went out: the
   * server may hold the message, so the id stays reserved until a
   * PUBREC/PUBCOMP exchange frees it or the session ends.
   */
  readonly #retired = new Set<number>();
  /** Messages in flight not yet (re)sent on this connection: `pump` walks the inflight list only then. */
  #resendPending = false;
  /** Slots of QoS 1/2 messages whose PUBLISH is in the output (UNFLUSHED tells which still are). */
  readonly #unflushed = new IntList();
  /** Slots of QoS 0 messages in the output: `published` when `pollTransmit` hands them out. */
  #unflushed0 = new IntList();
  /** The PUBLISH being written: one object for every send, nothing kept from it. */
  readonly #scratch: ScratchPublish = { type: "publish", topic: "", payload: EMPTY, qos: 0, retain: false, dup: false, packetId: undefined, properties: undefined };

  readonly #version: ProtocolVersion;
  readonly #out: Outbox;
  readonly #ids: PacketIds;
  readonly #aliases: TopicAliases;
  readonly #events: EventQueue;
  readonly #opts: OutgoingOptions;
  readonly #connected: () => ServerLimits | undefined;
  readonly #clock: () => number;
  constructor(
    version: ProtocolVersion,
    out: Outbox,
    ids: PacketIds,
    aliases: TopicAliases,
    events: EventQueue,
    opts: OutgoingOptions,
    /** The connection's state: the server's limits when connected, undefined otherwise. */
    connected: () => ServerLimits | undefined,
    /** The engine's clock: the latest `now` it was given (ms). */
    clock: () => number,
  ) {
    this.#version = version;
    this.#out = out;
    this.#ids = ids;
    this.#aliases = aliases;
    this.#events = events;
    this.#opts = opts;
    this.#connected = connected;
    this.#clock = clock;
  }

  /**
   * MQTT 5 Message Expiry for the client's own messages: the seconds of life
   * slot `s` has left at `now` (0 or less: expired), or undefined when it never
   * expires. The clock starts when the engine first holds the message
   * (`publish`, or `importSession` for a restored one); an interval of 0 has
   * no life left. A message whose interval passes before it is sent is
   * dropped with a failed `published` event (ERR_MESSAGE_EXPIRED); one still
   * alive goes with the interval reduced by the time it waited, as a server
   * forwards one [MQTT-3.3.2-6].
   */
  #lifeLeft(s: number, now: number): number | undefined {
    const interval = this.#slots.props.get(s)?.messageExpiryInterval;
    if (interval === undefined) return undefined;
    let at = this.#slots.expiresAt[s]!;
    if (Number.isNaN(at)) this.#slots.expiresAt[s] = at = now + interval * 1000;
    return Math.ceil((at - now) / 1000);
  }

  /** The properties to send slot `s` with at `now`: the expiry reduced by its wait; EXPIRED when it has expired. */
  #liveProperties(s: number, now: number): Properties | undefined {
    const props = this.#slots.props.get(s);
    const left = this.#lifeLeft(s, now);
    if (left === undefined) return props;
    if (left <= 0) return EXPIRED;
    if (left === props!.messageExpiryInterval) return props;
    return { ...props, messageExpiryInterval: left };
  }

  #expired(s: number, packetId: number | undefined): void {
    const mid = this.#slots.mid[s]!;
    const interval = this.#slots.props.get(s)?.messageExpiryInterval;
    this.#fail(s, misuse(E.MessageExpired, `message ${mid} expired before it could be sent (Message Expiry Interval ${interval} s)`), packetId);
  }

  /**
   * Whether slot `s` has used every delivery attempt (`maxSendAttempts`). It
   * is then given up where it would be sent again: failed with
   * ERR_SEND_ATTEMPTS (reason 0x80). Returns whether it was (its event reported).
   */
  #attemptsUsed(s: number, packetId: number | undefined): boolean {
    const n = this.#slots.attempts[s]!;
    if (n < this.#opts.maxSendAttempts) return false;
    const mid = this.#slots.mid[s]!;
    const why = `message ${mid} was given up after ${n} delivery attempts (maxSendAttempts ${this.#opts.maxSendAttempts}): each connection its PUBLISH went out on ended before the server acknowledged it`;
    this.#fail(s, misuse(E.SendAttemptsExhausted, why, RC.UnspecifiedError), packetId);
    return true;
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  get queuedCount(): number {
    return this.#queue.n - this.#head;
  }

  get retiredIds(): ReadonlySet<number> {
    return this.#retired;
  }

  /** Whether the queue's next message could go out now but for the output's high-water mark. */
  readyToSend(): boolean {
    const l = this.#connected();
    if (l === undefined || this.#head >= this.#queue.n) return false;
    const s = this.#queue.a[this.#head]!;
    return (this.#slots.flags[s]! & QOS_MASK) === 0 || (this.#inflight.size < this.#opts.maxInflight && this.#quota < l.receiveMaximum);
  }

  /**
   * Refuses a new message of this QoS when it would have to wait in the queue
   * (see `wouldWait`) and the queue holds `maxQueued` already: ERR_QUEUE_FULL,
   * 0x97, before anything changes.
   */
  checkRoom(qos: QoS): void {
    if (this.queuedCount >= this.#opts.maxQueued && this.#wouldWait(qos)) {
      throw misuse(E.QueueFull, `the outgoing queue holds ${this.#opts.maxQueued} messages`, RC.QuotaExceeded);
    }
  }

  /** Whether a new message of this QoS would wait in the queue rather than go out at once (see `pump`). */
  #wouldWait(qos: QoS): boolean {
    const l = this.#connected();
    if (l === undefined || this.queuedCount > 0 || this.#out.bytes >= OUTPUT_HIGH_WATER) return true;
    return qos > 0 && (this.#inflight.size >= this.#opts.maxInflight || this.#quota >= l.receiveMaximum);
  }

  /**
   * Queues a message `publish()` accepted (its expiry clock starts now), and
   * sends what the window allows. `size` is its PUBLISH's size as checked
   * (packet id and DUP do not change it): it is written unchecked from it.
   */
  enqueue(mid: number, topic: string, payload: Uint8Array, qos: QoS, retain: boolean, props: Properties | undefined, token: unknown, size: number): void {
    const s = this.#slots.alloc(mid, topic, payload, qos, retain, props, token, size);
    this.#lifeLeft(s, this.#clock());
    this.#queue.push(s);
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
    const l = this.#connected();
    if (l === undefined) return;
    const quotaMax = l.receiveMaximum;
    const flags = this.#slots.flags;
    if (this.#resendPending) {
      let waiting = false;
      // A message given up during the walk leaves the list; none joins it.
      for (let s = this.#first, n = NONE; s !== NONE; s = n) {
        n = this.#slots.next[s]!;
        const id = this.#slots.packetId[s]!;
        const f = flags[s]!;
        if ((f & PUBREL) !== 0) {
          if ((f & REL_SENT) === 0) {
            this.#out.pushAck(0x62, id); // PUBREL, reason 0: four bytes in every version
            flags[s] = f | REL_SENT;
          }
        } else if ((f & IN_QUOTA) === 0) {
          // Attempts used up: given up now, not after waiting for the window.
          if (this.#attemptsUsed(s, id)) {
            this.#giveUp(id, s);
            continue;
          }
          // Only PUBLISH waits for the window; a PUBREL further on still goes out [MQTT-3.3.4-8].
          if (this.#quota >= quotaMax) {
            waiting = true;
            continue;
          }
          const live = this.#liveProperties(s, this.#clock());
          if (live === EXPIRED) {
            this.#expired(s, id);
            this.#giveUp(id, s);
            continue;
          }
          if (this.#resendRefused(id, s, l, live)) continue;
          // A resend on a resumed session: same packet id [MQTT-4.4.0-1], DUP set
          // when an earlier PUBLISH of it was handed out [MQTT-3.3.1-1].
          this.#sendPublish(s, (f & (SENT_KNOWN | SENT)) !== SENT_KNOWN, l, live);
        }
      }
      this.#resendPending = waiting;
    }
    while (this.#head < this.#queue.n && this.#out.bytes < OUTPUT_HIGH_WATER) {
      const s = this.#queue.a[this.#head]!;
      if ((flags[s]! & QOS_MASK) > 0 && (this.#inflight.size >= this.#opts.maxInflight || this.#quota >= quotaMax)) break;
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.n) {
        this.#queue.shift(this.#head);
        this.#head = 0;
      }
      this.#start(s, l);
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
  #resendRefused(id: number, s: number, l: ServerLimits, live: Properties | undefined): boolean {
    let props = live;
    if (props?.topicAlias !== undefined && props.topicAlias > l.topicAliasMaximum) {
      const { topicAlias: _a, ...rest } = props;
      props = rest;
    }
    const slots = this.#slots;
    const qos = (slots.flags[s]! & QOS_MASK) as QoS;
    const retain = (slots.flags[s]! & RETAIN) !== 0;
    // Checked when published (or imported): only measured here.
    const size = packetSize(this.#packet(s, slots.topic.get(s)!, true, id, props), this.#version);
    const problem = publishRefusal(l, qos, retain, size, props);
    if (problem === undefined) return false;
    this.#fail(s, problem, id);
    this.#giveUp(id, s);
    return true;
  }

  /**
   * Stops trying a message in flight (its event already reported). A QoS 2
   * PUBLISH that went out before may be held by the server, which waits for a
   * PUBREL: its id stays reserved. A QoS 1 id is free (a late PUBACK is
   * ignored), and so is the id of a PUBLISH that never left.
   */
  #giveUp(id: number, s: number): void {
    const f = this.#slots.flags[s]!;
    this.#inflight.delete(id);
    this.#unlink(s);
    if ((f & IN_QUOTA) !== 0) this.#quota--;
    if ((f & QOS_MASK) === 2 && (f & (SENT_KNOWN | SENT)) !== SENT_KNOWN) this.#retired.add(id);
    else this.#ids.release(id);
    this.#slots.release(s);
  }

  /** A message leaves the queue: checked against the server's limits, given an id, sent. */
  #start(s: number, l: ServerLimits): void {
    const slots = this.#slots;
    // A message sent again as new after a lost session keeps its attempts.
    if ((slots.flags[s]! & QOS_MASK) > 0 && this.#attemptsUsed(s, undefined)) {
      slots.release(s);
      return;
    }
    const live = this.#liveProperties(s, this.#clock());
    if (live === EXPIRED) {
      this.#expired(s, undefined);
      this.#slots.release(s);
      return;
    }
    const f = slots.flags[s]!;
    const qos = (f & QOS_MASK) as QoS;
    // A reduced expiry changes a value, not the size.
    const checked = slots.size[s]!;
    const size = checked !== NO_SIZE ? checked : packetSize(this.#packet(s, slots.topic.get(s)!, false, qos > 0 ? 1 : undefined, live), this.#version);
    const problem = publishRefusal(l, qos, (f & RETAIN) !== 0, size, live);
    if (problem !== undefined) {
      this.#fail(s, problem, undefined);
      this.#slots.release(s);
      return;
    }
    if (qos === 0) {
      this.#sendPublish(s, false, l, live);
      this.#unflushed0.push(s);
      return;
    }
    const id = this.#ids.allocate();
    if (id === undefined) {
      this.#fail(s, misuse(E.PacketIdsExhausted, "no free packet identifier"), undefined);
      this.#slots.release(s);
      return;
    }
    slots.packetId[s] = id;
    slots.flags[s] = (f & ~(PUBREL | SENT)) | SENT_KNOWN; // stage "publish", not sent
    this.#inflight.set(id, s);
    this.#link(s);
    this.#sendPublish(s, false, l, live);
  }

  #fail(s: number, error: LocalProtocolError, packetId: number | undefined): void {
    this.#report(s, error.reasonCode ?? RC.UnspecifiedError, packetId, undefined, error);
  }

  /** The message's one `published` event. */
  #report(s: number, reasonCode: number, packetId: number | undefined, properties: Properties | undefined, error: LocalProtocolError | undefined): void {
    const slots = this.#slots;
    const e: { -readonly [K in keyof PublishedEvent]: PublishedEvent[K] } = {
      type: "published",
      mid: slots.mid[s]!,
      qos: (slots.flags[s]! & QOS_MASK) as QoS,
      reasonCode,
    };
    const token = slots.token.get(s);
    if (token !== undefined) e.token = token;
    if (packetId !== undefined) e.packetId = packetId;
    if (properties !== undefined) e.properties = properties;
    if (error !== undefined) e.error = error;
    this.#events.push(e);
  }

  /** The PUBLISH of slot `s` (in the scratch object: write it before building another). */
  #packet(s: number, topic: string, dup: boolean, packetId: number | undefined, props: Properties | undefined): PublishPacket {
    const slots = this.#slots;
    const p = this.#scratch;
    const f = slots.flags[s]!;
    p.topic = topic;
    p.payload = slots.payload.get(s)!;
    p.qos = (f & QOS_MASK) as QoS;
    p.retain = (f & RETAIN) !== 0;
    p.dup = dup;
    p.packetId = packetId;
    p.properties = props;
    return p as PublishPacket;
  }

  /**
   * Puts a checked PUBLISH of `size` bytes in the output. Up to the codec's
   * slab piece (SLAB_MAX_PIECE) it is written whole into the output's run
   * buffer. A larger one goes as two chunks: the bytes before the payload (in
   * the run buffer), then the caller's payload itself, uncopied. Copying it
   * would cost a buffer of its own (the codec's slab stops at that size) and a
   * pass over every byte, for bytes that are already in one piece; with the
   * split, a PUBLISH one byte over the limit costs less than one at it, not
   * several times more. A PUBLISH whose bytes before the payload alone pass
   * the limit (a topic or properties of kilobytes) goes as the codec's
   * `writePacketChunks` writes it.
   */
  #write(p: PublishPacket, size: number): void {
    if (size <= SLAB_MAX_PIECE) {
      this.#out.write(p, this.#version, size);
      return;
    }
    const payload = p.payload;
    if (size - payload.length <= SLAB_MAX_PIECE) {
      this.#out.write(p, this.#version, size, false);
      this.#out.push(payload, p.qos === 2);
      return;
    }
    for (const chunk of writePacketChunks(p, this.#version, size)) this.#out.push(chunk, p.qos === 2);
  }

  /**
   * Puts a PUBLISH in the output with this connection's topic alias choice
   * [MQTT-3.3.2-9] [MQTT-3.2.2-18]. An automatic alias is used only when the
   * PUBLISH still fits the server's Maximum Packet Size with it: the size
   * checks ran on the message as the caller gave it [MQTT-3.2.2-15].
   */
  #sendPublish(s: number, dup: boolean, l: ServerLimits, properties: Properties | undefined): void {
    const slots = this.#slots;
    const topic = slots.topic.get(s)!;
    const id = slots.packetId[s]!;
    const packetId = id === NO_ID ? undefined : id;
    const checked = slots.size[s]!;
    const plain = !dup && checked !== NO_SIZE && properties?.topicAlias === undefined && !(this.#opts.autoTopicAlias && l.topicAliasMaximum > 0);
    if (plain) {
      // The common case: as checked by publish(), with this packet id; written without checking again.
      this.#write(this.#packet(s, topic, false, packetId, properties), checked);
      this.#sent(s);
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
    const auto = alias === undefined && this.#opts.autoTopicAlias && max > 0;
    if (auto) alias = this.#aliases.choose(topic, max);
    if (alias !== undefined) {
      const mapped = this.#aliases.maps(alias, topic);
      const variant = this.#packet(s, mapped ? "" : topic, dup, packetId, { ...props, topicAlias: alias });
      const size = packetSize(variant, this.#version);
      if (!auto || size <= l.maximumPacketSize) {
        this.#aliases.use(alias, topic);
        this.#write(variant, size);
        this.#sent(s);
        return;
      }
      // The alias property would take it over the server's limit: no alias.
    }
    const p = this.#packet(s, topic, dup, packetId, props);
    this.#write(p, packetSize(p, this.#version));
    this.#sent(s);
  }

  /**
   * A QoS 1/2 PUBLISH is in the output: it counts against the server's quota,
   * and is sent (on this connection: HANDED) once `pollTransmit` hands it out.
   */
  #sent(s: number): void {
    const flags = this.#slots.flags;
    const f = flags[s]!;
    if ((f & QOS_MASK) === 0) return;
    this.#quota++;
    flags[s] = f | IN_QUOTA | UNFLUSHED;
    this.#unflushed.push(s);
  }

  /** The output was handed out: every PUBLISH in it reached the wire as far as the engine can know. */
  flushed(): void {
    const fresh = this.#unflushed;
    if (fresh.n > 0) {
      const flags = this.#slots.flags;
      for (let i = 0; i < fresh.n; i++) {
        const s = fresh.a[i]!;
        const f = flags[s]!;
        // A slot freed since (an early ack) has no UNFLUSHED bit, nor has one reused for a message not in this output.
        if ((f & UNFLUSHED) !== 0) flags[s] = (f & ~UNFLUSHED) | SENT_KNOWN | SENT | HANDED;
      }
      fresh.n = 0;
    }
    // QoS 0 is done once its bytes are handed out: the engine can know no more.
    const q0 = this.#unflushed0;
    if (q0.n > 0) {
      this.#unflushed0 = new IntList();
      for (let i = 0; i < q0.n; i++) {
        this.#report(q0.a[i]!, RC.Success, undefined, undefined, undefined);
        this.#slots.release(q0.a[i]!);
      }
    }
  }

  /** Forgets which PUBLISH are in the output (it was dropped): none of them counts as sent. */
  #forgetUnflushed(): void {
    const fresh = this.#unflushed;
    const flags = this.#slots.flags;
    for (let i = 0; i < fresh.n; i++) flags[fresh.a[i]!]! &= ~UNFLUSHED;
    fresh.n = 0;
  }

  /** The output was dropped: no PUBLISH in it counts as sent, and a QoS 0 message in it is lost. */
  dropped(): void {
    this.#forgetUnflushed();
    const q0 = this.#unflushed0;
    if (q0.n === 0) return;
    this.#unflushed0 = new IntList();
    for (let i = 0; i < q0.n; i++) {
      const s = q0.a[i]!;
      this.#fail(s, misuse(E.InvalidState, "the connection ended before this QoS 0 message was handed out", RC.UnspecifiedError), undefined);
      this.#slots.release(s);
    }
  }

  /** Appends slot `s` to the in-flight list. */
  #link(s: number): void {
    const { prev, next } = this.#slots;
    prev[s] = this.#last;
    next[s] = NONE;
    if (this.#last === NONE) this.#first = s;
    else next[this.#last] = s;
    this.#last = s;
  }

  /** Takes slot `s` out of the in-flight list. */
  #unlink(s: number): void {
    const { prev, next } = this.#slots;
    const p = prev[s]!;
    const n = next[s]!;
    if (p === NONE) this.#first = n;
    else next[p] = n;
    if (n === NONE) this.#last = p;
    else prev[n] = p;
  }

  #complete(id: number, s: number, reasonCode: number, properties: Properties | undefined): void {
    this.#inflight.delete(id);
    this.#unlink(s);
    this.#ids.release(id);
    if ((this.#slots.flags[s]! & IN_QUOTA) !== 0) this.#quota--;
    this.#report(s, reasonCode, id, properties, undefined);
    this.#slots.release(s);
    this.pump();
  }

  // ==== acknowledgements from the server (the connection checks the state) ====

  /** PUBACK: a QoS 1 message is done. Returns false for an ack that matches a QoS 2 message (the server broke the protocol). */
  onPuback(id: number, rc: number, props: Properties | undefined): boolean {
    const s = this.#inflight.get(id);
    if (s === NONE) return true; // a late duplicate: nothing is waiting for it
    if ((this.#slots.flags[s]! & QOS_MASK) !== 1) return false;
    this.#complete(id, s, rc, props);
    return true;
  }

  /**
   * PUBREC: PUBREL with the same id [MQTT-4.3.3-4], in the order the PUBRECs
   * came [MQTT-4.6.0-4]; a failing PUBREC ends the message, never
   * retransmitted [MQTT-4.4.0-2]. Returns false when it matches a QoS 1 message.
   */
  onPubrec(id: number, rc: number, props: Properties | undefined): boolean {
    const s = this.#inflight.get(id);
    if (s === NONE) {
      if (this.#retired.has(id)) {
        // The server did hold the message we gave up on: finish the exchange to free the id.
        if (rc >= 0x80) this.#unretire(id);
        else this.#out.pushAck(0x62, id); // PUBREL, reason 0: four bytes in every version
      } else {
        const reasonCode = this.#version === 5 ? RC.PacketIdentifierNotFound : 0;
        this.#out.push(writePacket({ type: "pubrel", packetId: id, reasonCode }, this.#version));
      }
      return true;
    }
    const flags = this.#slots.flags;
    if ((flags[s]! & QOS_MASK) !== 2) return false;
    if (rc >= 0x80) {
      this.#complete(id, s, rc, props);
      return true;
    }
    // A repeated PUBREC is answered again.
    this.#out.pushAck(0x62, id); // PUBREL, reason 0: four bytes in every version
    flags[s]! |= PUBREL | REL_SENT;
    return true;
  }

  /**
   * PUBCOMP: a QoS 2 message is done. 0x92 answers a PUBREL resent after the
   * server completed: not a failure during recovery (MQTT 5 3.7.2.1); the
   * PUBREC already accepted the message. Returns false before its PUBREL.
   */
  onPubcomp(id: number, rc: number, props: Properties | undefined): boolean {
    const s = this.#inflight.get(id);
    if (s === NONE) {
      if (this.#retired.has(id)) this.#unretire(id);
      return true;
    }
    const f = this.#slots.flags[s]!;
    if ((f & QOS_MASK) !== 2 || (f & PUBREL) === 0) return false;
    this.#complete(id, s, rc === RC.PacketIdentifierNotFound ? 0 : rc, props);
    return true;
  }

  #unretire(id: number): void {
    this.#retired.delete(id);
    this.#ids.release(id);
  }

  // ==== lifecycle ====

  /**
   * A new network connection: nothing counts against its quota yet; what is
   * in flight goes again.
   *
   * The previous connection's delivery attempt is counted here, for one
   * message: the first, in send order, at stage "publish" whose PUBLISH was
   * handed out on it (HANDED), since that connection ended before its PUBACK /
   * PUBREC came (a PUBREL resend, stage "pubrel", never counts). Only the
   * first: a server handles packets in order, so a connection it ends over a
   * message it will not take ends at that message, and the ones sent behind
   * it are not to blame; a network that fails now and then charges one
   * message per failure, not the whole window. This is the one place
   * every connection end goes through, whatever its reason, once: `dropped`
   * runs when the transport is lost or the keep alive times out, not when the
   * server sends DISCONNECT, the server breaks the protocol or the caller
   * disconnects, and runs again at the next `connect()`. And after those
   * ends the caller still takes what `pollTransmit` holds (the DISCONNECT
   * and any PUBLISH before it), so a message can be handed out on a
   * connection after its `closed` event; by `connect()` nothing more can be.
   * The count is only taken here (an export before then adds the pending
   * one itself: `exportMessages`); a message that has used its attempts is
   * given up where it would be sent again (`pump`, `start`).
   */
  reset(): void {
    const { flags, attempts, next } = this.#slots;
    const charged = this.#charged();
    if (charged !== NONE) attempts[charged]!++;
    for (let s = this.#first; s !== NONE; s = next[s]!) flags[s] = flags[s]! & ~(IN_QUOTA | REL_SENT | HANDED);
    this.#quota = 0;
    this.#forgetUnflushed();
    this.#resendPending = this.#inflight.size > 0;
  }

  /**
   * The session is gone (clean start [MQTT-3.1.2-4], or the server lost it
   * [MQTT-3.2.2-5]). Application messages are not protocol state: by default
   * unacknowledged ones are published again as new messages; those the server
   * already received (PUBREL sent) are complete. Not a QoS 2 message whose
   * PUBLISH may have reached the server (handed out, or not known): the
   * server may have delivered it before it lost the session, and a new
   * PUBLISH would deliver it again. Exactly once cannot be kept across a lost
   * session; at most once can: it fails with ERR_SESSION_LOST and is never
   * sent again. (QoS 1 allows a duplicate: it goes again.) A message sent
   * again keeps its delivery attempts.
   */
  discardSession(): void {
    const requeue = new IntList();
    const slots = this.#slots;
    const flags = slots.flags;
    for (let s = this.#first, n = NONE; s !== NONE; s = n) {
      n = slots.next[s]!;
      const id = slots.packetId[s]!;
      this.#ids.release(id);
      const f = flags[s]!;
      if ((f & PUBREL) !== 0) {
        this.#report(s, RC.Success, id, undefined, undefined);
        slots.release(s);
      } else if (this.#opts.republishOnSessionLoss && (f & QOS_MASK) === 2 && (f & (SENT_KNOWN | SENT)) !== SENT_KNOWN) {
        const why = `the session was lost after message ${slots.mid[s]!} was sent: it may or may not have been delivered, and it is not sent again, so it is never delivered twice`;
        this.#fail(s, misuse(E.SessionLost, why, RC.UnspecifiedError), undefined);
        slots.release(s);
      } else if (this.#opts.republishOnSessionLoss) {
        // Queued again, as new: no packet id, not sent, stage "queued".
        slots.packetId[s] = NO_ID;
        flags[s]! &= QOS_MASK | RETAIN;
        requeue.push(s);
      } else {
        this.#fail(s, misuse(E.InvalidState, "the session was discarded before the message was acknowledged", RC.UnspecifiedError), undefined);
        slots.release(s);
      }
    }
    this.#inflight.clear();
    this.#first = this.#last = NONE;
    this.#quota = 0;
    this.#resendPending = false;
    for (const id of this.#retired) this.#ids.release(id);
    this.#retired.clear();
    if (requeue.n > 0) {
      for (let i = this.#head; i < this.#queue.n; i++) requeue.push(this.#queue.a[i]!);
      this.#queue = requeue;
      this.#head = 0;
    }
  }

  /** The message the current connection's end would charge an attempt to (see `reset`), or NONE. */
  #charged(): number {
    const { flags, next } = this.#slots;
    for (let s = this.#first; s !== NONE; s = next[s]!) if ((flags[s]! & (HANDED | PUBREL)) === HANDED) return s;
    return NONE;
  }

  /** In send order: in flight first (in the order first sent), then the queue. */
  exportMessages(): OutgoingMessage[] {
    const out: OutgoingMessage[] = [];
    const now = this.#clock();
    const slots = this.#slots;
    const charged = this.#charged();
    const copy = (s: number): OutgoingMessage => {
      const f = slots.flags[s]!;
      const id = slots.packetId[s]!;
      const state = id === NO_ID ? "queued" : (f & PUBREL) !== 0 ? "pubrel" : "publish";
      const c: OutgoingMessage = { mid: slots.mid[s]!, topic: slots.topic.get(s)!, payload: slots.payload.get(s)!, qos: (f & QOS_MASK) as QoS, retain: (f & RETAIN) !== 0, state };
      const props = slots.props.get(s);
      if (props !== undefined) c.properties = props;
      // The life it has left, so a restored session does not extend it (0: expired).
      const left = Number.isFinite(now) ? this.#lifeLeft(s, now) : undefined;
      if (left !== undefined && left !== props!.messageExpiryInterval) c.properties = { ...props, messageExpiryInterval: Math.max(0, left) };
      if (id !== NO_ID) c.packetId = id;
      if ((f & SENT_KNOWN) !== 0) c.sent = (f & SENT) !== 0;
      // The connection in use counts as ended: a session read back from a store goes on a new one.
      const attempts = slots.attempts[s]! + (s === charged ? 1 : 0);
      if (attempts > 0) c.attempts = attempts;
      return c;
    };
    for (let s = this.#first; s !== NONE; s = slots.next[s]!) out.push(copy(s));
    for (let i = this.#head; i < this.#queue.n; i++) out.push(copy(this.#queue.a[i]!));
    return out;
  }

  /** Restores a validated session's messages and reserved ids, claiming their packet ids. */
  importSession(messages: readonly OutgoingMessage[], retired: readonly number[]): void {
    const slots = this.#slots;
    for (let s = this.#first; s !== NONE; s = slots.next[s]!) slots.release(s);
    for (let i = this.#head; i < this.#queue.n; i++) slots.release(this.#queue.a[i]!);
    this.#inflight.clear();
    this.#first = this.#last = NONE;
    this.#queue.n = 0;
    this.#head = 0;
    this.#quota = 0;
    this.#forgetUnflushed();
    for (const m of messages) {
      const s = slots.alloc(m.mid, m.topic, m.payload, m.qos, m.retain, m.properties, undefined, NO_SIZE);
      slots.attempts[s] = m.attempts ?? 0;
      if (m.state === "queued") this.#queue.push(s);
      else {
        const id = m.packetId!;
        this.#ids.claim(id);
        slots.packetId[s] = id;
        let f = slots.flags[s]!;
        if (m.state === "pubrel") f |= PUBREL;
        if (m.sent !== undefined) f |= m.sent ? SENT_KNOWN | SENT : SENT_KNOWN;
        slots.flags[s] = f;
        this.#inflight.set(id, s);
        this.#link(s);
      }
    }
    this.#retired.clear();
    for (const id of retired) {
      this.#retired.add(id);
      this.#ids.claim(id);
    }
    // Expiry clocks start now, or when the engine is first given a time.
    const now = this.#clock();
    if (Number.isFinite(now)) {
      for (let s = this.#first; s !== NONE; s = slots.next[s]!) this.#lifeLeft(s, now);
      for (let i = this.#head; i < this.#queue.n; i++) this.#lifeLeft(this.#queue.a[i]!, now);
    }
  }
}
