/**
 * A small simulated MQTT 3.1.1 / 5 broker for model-based engine tests. It
 * speaks packets through the codec (encodePacket / PacketDecoder), keeps its
 * own session per client id (QoS 2 ids waiting for PUBREL, its messages to the
 * client in flight and queued, subscriptions; a new `generation` for every new
 * session), and checks what the client sends as it reads it: a rule the client
 * breaks throws BrokerViolation out of `receive()`. It checks that every byte
 * decodes, that what the client wrote after it read our CONNACK keeps every
 * limit the CONNACK announced (Maximum Packet Size, Maximum QoS, Retain
 * Available, Topic Alias Maximum, Wildcard / Shared Subscription and
 * Subscription Identifier Available: the test tells us where in the byte
 * stream the client read it, `clientReadConnack`), packet ids are not reused while in
 * flight (across PUBLISH, SUBSCRIBE and UNSUBSCRIBE, and while a QoS 2 message
 * waits for its PUBREL), no more QoS 1/2 PUBLISH are unacknowledged than its Receive Maximum
 * (or the client's maxInflight), DUP only on resends of a resumed session and
 * resends first and in their original order, topic aliases within its maximum
 * and set before use, and PUBACK / PUBREC in the order of its PUBLISH.
 *
 * It has no sockets and no clock. The test owns the wires: bytes from the
 * client go in with `receive()`, and `takeBytes()` hands out what the broker
 * has to send (its outbox, encoded). Fault knobs act on acknowledgements it has
 * not put on the wire yet: hold them (`delayAcks`), send one twice
 * (`duplicateAck`), send them in another order (`reorderAcks`); and
 * `rejectNext` refuses client messages (MQTT 5, 0x80). Per connection
 * (`accept`) it can lose the session and announce a Receive Maximum, Topic
 * Alias Maximum, Maximum Packet Size, Maximum QoS, Retain Available, Wildcard /
 * Shared Subscription and Subscription Identifier Available, Server Keep Alive
 * and (MQTT 5) a Session Expiry Interval. The session outlives the connection as the spec says: 3.1.1
 * unless CONNECT was clean; MQTT 5 with a non-zero Session Expiry Interval (from
 * CONNECT, replaced by our CONNACK's, replaced by the client's DISCONNECT's).
 *
 * Simplifications, on purpose: one client id; every PUBLISH from the client is
 * logged as "received" (no routing); the broker publishes to the client on one
 * topic (with alias 1 when the client takes aliases) when told to, whatever the
 * subscriptions; the resend-order check takes ids as allocated in a cycle (a
 * step forward of less than half the id space).
 */
import { type ConnackPacket, encodePacket, type Packet, PacketDecoder, type PublishPacket } from "../../src/codec/index.js";
import { type Properties, type QoS } from "../../src/index.js";

const td = new TextDecoder();
const te = new TextEncoder();

/** The client broke a rule the broker checks. */
export class BrokerViolation extends Error {
  override name = "BrokerViolation";
}

export interface BrokerOptions {
  version: 4 | 5;
  /**
   * The most unacknowledged QoS 1/2 PUBLISH the client may have (its
   * maxInflight); checked as well as our Receive Maximum. Default unlimited.
   */
  clientMaxInflight?: number;
  /** Topic of the broker's own publications. Default "s/t". */
  topic?: string;
  /** The first packet id of a new session's messages to the client (to test wrap-around). Default 1. */
  firstPacketId?: number;
}

/** Choices for one network connection. */
export interface AcceptOptions {
  /** MQTT 5: the Receive Maximum announced in CONNACK (absent: 65,535, not sent). */
  receiveMaximum?: number;
  /** MQTT 5: a Server Keep Alive to announce in CONNACK. */
  serverKeepAlive?: number;
  /** Forget the client's session before answering CONNECT (CONNACK session present 0). */
  loseSession?: boolean;
  /** MQTT 5: the Topic Alias Maximum announced in CONNACK (default 0: no aliases from the client). */
  topicAliasMaximum?: number;
  /** MQTT 5: the Maximum Packet Size announced in CONNACK; a larger packet from the client is a violation. */
  maximumPacketSize?: number;
  /** MQTT 5: a Session Expiry Interval announced in CONNACK (replaces CONNECT's). */
  sessionExpiryInterval?: number;
  /** MQTT 5: Maximum QoS announced in CONNACK (absent: 2). */
  maximumQoS?: 0 | 1;
  /** MQTT 5: Retain Available announced in CONNACK (absent: 1). */
  retainAvailable?: 0 | 1;
  /** MQTT 5: Wildcard Subscription Available announced in CONNACK (absent: 1). */
  wildcardSubscriptionAvailable?: 0 | 1;
  /** MQTT 5: Shared Subscription Available announced in CONNACK (absent: 1). */
  sharedSubscriptionAvailable?: 0 | 1;
  /** MQTT 5: Subscription Identifier Available announced in CONNACK (absent: 1). */
  subscriptionIdentifierAvailable?: 0 | 1;
}

/** A message the broker publishes to the client, from its session. */
export interface BrokerOutMessage {
  packetId: number;
  payload: string;
  qos: 1 | 2;
  state: "publish" | "pubrel";
}

export interface BrokerSession {
  readonly clientId: string;
  /** QoS 2 messages from the client, PUBREC sent, waiting for PUBREL: id → payload. */
  readonly inboundQos2: Map<number, string>;
  /** Messages to the client with a packet id, in the order first sent. */
  readonly outgoing: Map<number, BrokerOutMessage>;
  /** Messages to the client waiting for the client's Receive Maximum. */
  readonly queue: { payload: string; qos: 1 | 2 }[];
  readonly subscriptions: Map<string, QoS>;
  nextId: number;
  /** Which session this is: every new session gets a new number. */
  readonly generation: number;
}

interface HeldAck {
  packet: Packet;
  /** Runs when the ack leaves the broker (goes to the outbox). */
  onSent?: () => void;
}

const ACK_TYPES = new Set<Packet["type"]>(["puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback"]);

function ackId(p: Packet): number | undefined {
  return ACK_TYPES.has(p.type) ? (p as { packetId: number }).packetId : undefined;
}

function isSubAck(p: Packet): boolean {
  return p.type === "suback" || p.type === "unsuback";
}

/**
 * Reorders `items` in place at the positions where `movable` holds, keeping
 * the relative order of items in the same chain (`chainsOf`): a random linear
 * extension driven by `keys` (smallest key first among the items free to go).
 */
function constrainedShuffle<T>(items: T[], movable: (t: T) => boolean, chainsOf: (t: T) => string[], keys: readonly number[]): void {
  const slots: number[] = [];
  items.forEach((t, i) => {
    if (movable(t)) slots.push(i);
  });
  if (slots.length < 2 || keys.length === 0) return;
  const pool = slots.map((i, k) => ({ item: items[i]!, key: keys[k % keys.length]! + k / 1e6, chains: chainsOf(items[i]!) }));
  const order: T[] = [];
  while (pool.length > 0) {
    let best = -1;
    for (let k = 0; k < pool.length; k++) {
      const c = pool[k]!;
      // Free to go when no earlier pool item shares a chain with it.
      const blocked = pool.slice(0, k).some((e) => e.chains.some((ch) => c.chains.includes(ch)));
      if (!blocked && (best < 0 || c.key < pool[best]!.key)) best = k;
    }
    order.push(pool[best]!.item);
    pool.splice(best, 1);
  }
  slots.forEach((slot, k) => {
    items[slot] = order[k]!;
  });
}

/** One network connection, from the broker's side. */
class Link {
  readonly decoder: PacketDecoder;
  /** CONNECT received (and answered). */
  connected = false;
  disconnected = false;
  clientId = "";
  keepSession = false;
  /** MQTT 5: CONNECT's Session Expiry Interval (absent: 0). */
  connectExpiry = 0;
  sessionPresent = false;
  session: BrokerSession | undefined;
  /** Our Topic Alias Maximum on this connection, and the aliases the client set on it. */
  topicAliasMaximum = 0;
  readonly aliasesIn = new Map<number, string>();
  /** The client's Topic Alias Maximum; we use alias 1 for our topic when it is at least 1. */
  clientTopicAliasMaximum = 0;
  aliasOutSet = false;
  /** Our Receive Maximum on this connection (Infinity before MQTT 5). */
  receiveMaximum = Infinity;
  /** The client's Receive Maximum (Infinity before MQTT 5). */
  clientReceiveMaximum = Infinity;
  /** Client QoS 1/2 PUBLISH received on this connection whose final ack (PUBACK / PUBCOMP) has not left: id → payload. */
  readonly inUnacked = new Map<number, string>();
  /** Client SUBSCRIBE / UNSUBSCRIBE received on this connection whose ack has not left. */
  readonly reqUnacked = new Set<number>();
  /** Our QoS 1/2 PUBLISH sent on this connection, not yet PUBACK / PUBCOMP. */
  readonly outUnacked = new Set<number>();
  /** Ids of our QoS 1/2 PUBLISH on this connection, in send order, waiting for PUBACK / PUBREC. */
  readonly awaitingAck: number[] = [];
  /** Ids of the session's outgoing messages sent as PUBLISH on this connection. */
  readonly sentPublish = new Set<number>();
  /** A new (DUP=0) QoS 1/2 PUBLISH came on this connection. */
  sawFresh = false;
  lastDupId = 0;
  /** DUP PUBLISH received on this connection. */
  dupCount = 0;
  /** Bytes received on this connection, and where the last decoded packet ended. */
  rxBytes = 0;
  lastEnd = 0;
  /** The client's byte offset from which it had read our CONNACK (its limits apply from there). */
  limitsFrom: number | undefined;
  /** The packet being handled: its size, and whether the CONNACK's limits apply to it. */
  curSize = 0;
  curChecked = false;

  constructor(
    version: 4 | 5,
    readonly options: AcceptOptions,
  ) {
    // Sizes are checked per packet in checkLimits, from where the client read our CONNACK.
    this.decoder = new PacketDecoder({ protocolVersion: version });
  }
}

export class BrokerSim {
  readonly version: 4 | 5;
  readonly topic: string;
  private readonly clientMaxInflight: number;
  private readonly firstPacketId: number;
  private readonly sessions = new Map<string, BrokerSession>();
  private link: Link | undefined;
  private outbox: Packet[] = [];
  private held: HeldAck[] = [];
  private dupNext = 0;
  private generations = 0;

  // ---- fault knobs ----
  /** Hold acknowledgements instead of sending them (until `releaseHeld`). */
  delayAcks = false;
  /** MQTT 5: answer this many next new QoS 1/2 PUBLISH from the client with PUBACK / PUBREC 0x80. */
  rejectNext = 0;

  // ---- what happened ----
  /** Application messages received from the client: payload → how many times (QoS 2 counted once per exchange). */
  readonly received = new Map<string, number>();
  /** Every PUBLISH received, in order. */
  readonly publishLog: { payload: string; topic: string; qos: QoS; dup: boolean; retain: boolean; packetId?: number }[] = [];
  /** Packets checked against the limits of a CONNACK the client had read. */
  limitChecks = 0;
  /** Our messages to the client dropped with a session (or published with no session). */
  readonly lostServerMessages = new Set<string>();
  /** Packet id (and session generation) each of our QoS 1/2 messages got, by payload. */
  readonly assigned = new Map<string, { packetId: number; generation: number }>();
  /** Client messages we refused (PUBACK / PUBREC 0x80): not in `received`. */
  readonly rejected = new Set<string>();
  /** Our messages the client refused with PUBACK / PUBREC 0x80 (MQTT 5). */
  readonly refusedByClient = new Set<string>();
  /** Every CONNACK sent, in order. */
  readonly connacks: ConnackPacket[] = [];
  pingsAnswered = 0;
  resendsReceived = 0;
  duplicatesSent = 0;
  strayAcks = 0;

  constructor(options: BrokerOptions) {
    this.version = options.version;
    this.topic = options.topic ?? "s/t";
    this.clientMaxInflight = options.clientMaxInflight ?? Infinity;
    this.firstPacketId = options.firstPacketId ?? 1;
  }

  // ==== network connections ====

  /** A new network connection; the previous one must be closed. */
  accept(options: AcceptOptions = {}): void {
    if (this.link !== undefined) throw new Error("broker-sim: accept() while a connection is open");
    this.link = new Link(this.version, options);
    this.outbox = [];
    this.held = [];
  }

  /** The network connection ends (either side, any reason). Unsent bytes and held acks are lost. */
  close(): void {
    const l = this.link;
    if (l === undefined) return;
    if (l.connected && !l.keepSession) this.discardSession(l.clientId);
    this.link = undefined;
    this.outbox = [];
    this.held = [];
    this.dupNext = 0;
  }

  get isOpen(): boolean {
    return this.link !== undefined;
  }

  /** CONNECT received and CONNACK sent on the open connection. */
  get isConnected(): boolean {
    return this.link?.connected === true && !this.link.disconnected;
  }

  get lastConnack(): ConnackPacket | undefined {
    return this.connacks[this.connacks.length - 1];
  }

  session(clientId: string): BrokerSession | undefined {
    return this.sessions.get(clientId);
  }

  /** Unacknowledged client PUBLISH on this connection (what the Receive Maximum bounds). */
  get inflightFromClient(): number {
    return this.link?.inUnacked.size ?? 0;
  }

  /** The effective cap on `inflightFromClient` for this connection. */
  get inflightLimit(): number {
    return Math.min(this.link?.receiveMaximum ?? Infinity, this.clientMaxInflight);
  }

  get pendingOutput(): number {
    return this.outbox.length;
  }

  get heldCount(): number {
    return this.held.length;
  }

  // ==== input ====

  /** Bytes from the client. Throws BrokerViolation when the client broke a rule. */
  receive(bytes: Uint8Array): void {
    const l = this.link;
    if (l === undefined) throw new Error("broker-sim: receive() with no open connection");
    l.decoder.push(bytes);
    l.rxBytes += bytes.length;
    for (;;) {
      let p: Packet | undefined;
      try {
        p = l.decoder.next();
      } catch (e) {
        this.violate(`client bytes do not decode: ${(e as Error).message}`);
      }
      if (p === undefined) return;
      const end = l.rxBytes - l.decoder.bufferedBytes;
      l.curSize = end - l.lastEnd;
      l.curChecked = l.limitsFrom !== undefined && l.lastEnd >= l.limitsFrom;
      l.lastEnd = end;
      this.handle(l, p);
    }
  }

  /**
   * The client read our CONNACK after it had written `offset` bytes on this
   * connection: what it writes from there must keep the CONNACK's limits
   * (before, it could not know them: a DISCONNECT written then may be larger).
   */
  clientReadConnack(offset: number): void {
    if (this.link !== undefined) this.link.limitsFrom = offset;
  }

  // ==== output ====

  /** The outbox, encoded, in order; empties it. */
  takeBytes(): Uint8Array[] {
    const out = this.outbox.map((p) => encodePacket(p, this.version));
    this.outbox = [];
    return out;
  }

  /** Packets waiting in the outbox (for tests that look). */
  get outboxPackets(): readonly Packet[] {
    return this.outbox;
  }

  // ==== the broker's own publications ====

  /**
   * Publishes `payload` to `clientId`. QoS 0 goes out only while it is
   * connected; QoS 1/2 goes into its session (sent within its Receive
   * Maximum). With no session the message is lost.
   */
  publishToClient(clientId: string, payload: string, qos: QoS): "sent" | "queued" | "dropped" {
    const l = this.link;
    const online = l !== undefined && l.connected && !l.disconnected && l.clientId === clientId;
    if (qos === 0) {
      if (!online) return "dropped";
      this.outbox.push(this.publishPacket(l, payload, 0, false, undefined));
      return "sent";
    }
    const s = this.sessions.get(clientId);
    if (s === undefined) {
      this.lostServerMessages.add(payload);
      return "dropped";
    }
    s.queue.push({ payload, qos });
    if (online) this.pump(l);
    return "queued";
  }

  // ==== fault knobs ====

  /** Sends a copy of an ack: the `index`-th one in the outbox, or else the next one made. */
  duplicateAck(index: number): void {
    const acks = this.outbox.filter((p) => ACK_TYPES.has(p.type));
    if (acks.length === 0) {
      this.dupNext++;
      return;
    }
    this.outbox.push({ ...acks[index % acks.length]! } as Packet);
    this.duplicatesSent++;
  }

  /**
   * Sends the acks in the outbox in another order (driven by `keys`). Acks for
   * the same packet id keep their order, and so do SUBACK / UNSUBACK among
   * themselves (their effects do not commute).
   */
  reorderAcks(keys: readonly number[]): void {
    constrainedShuffle(this.outbox, (p) => ACK_TYPES.has(p.type), (p) => this.chains(p), keys);
  }

  /** Sends the held acks, in an order driven by `keys` (held order when empty). */
  releaseHeld(keys: readonly number[] = []): void {
    const h = this.held;
    this.held = [];
    constrainedShuffle(h, () => true, (a) => this.chains(a.packet), keys);
    for (const a of h) {
      this.outbox.push(a.packet);
      a.onSent?.();
    }
  }

  private chains(p: Packet): string[] {
    const c = [`id:${ackId(p) ?? -1}`];
    if (isSubAck(p)) c.push("sub");
    return c;
  }

  // ==== internals ====

  private violate(message: string): never {
    throw new BrokerViolation(message);
  }

  private sendAck(p: Packet, onSent?: () => void): void {
    const copies = this.dupNext > 0 ? 2 : 1;
    if (copies === 2) {
      this.dupNext--;
      this.duplicatesSent++;
    }
    for (let i = 0; i < copies; i++) {
      const a: HeldAck = i === 0 && onSent !== undefined ? { packet: p, onSent } : { packet: { ...p } as Packet };
      // An ack stays behind a held one it must not overtake (same id, or both SUBACK / UNSUBACK).
      const chains = this.chains(a.packet);
      if (this.delayAcks || this.held.some((h) => this.chains(h.packet).some((c) => chains.includes(c)))) this.held.push(a);
      else {
        this.outbox.push(a.packet);
        a.onSent?.();
      }
    }
  }

  private discardSession(clientId: string): void {
    const s = this.sessions.get(clientId);
    if (s === undefined) return;
    for (const m of s.outgoing.values()) if (m.state === "publish") this.lostServerMessages.add(m.payload);
    for (const m of s.queue) this.lostServerMessages.add(m.payload);
    this.sessions.delete(clientId);
  }

  private handle(l: Link, p: Packet): void {
    if (l.disconnected) this.violate(`${p.type.toUpperCase()} after DISCONNECT [MQTT-3.14.4-1]`);
    if (!l.connected && p.type !== "connect") this.violate(`${p.type.toUpperCase()} before CONNECT [MQTT-3.1.0-1]`);
    if (l.curChecked) this.checkLimits(l, p);
    switch (p.type) {
      case "connect":
        if (l.connected) this.violate("a second CONNECT on one connection [MQTT-3.1.0-2]");
        return this.onConnect(l, p);
      case "publish":
        return this.onPublish(l, p);
      case "puback":
      case "pubrec":
      case "pubcomp":
        return this.onClientAck(l, p.type, p.packetId, p.reasonCode);
      case "pubrel":
        return this.onPubrel(l, p.packetId);
      case "subscribe": {
        const s = l.session!;
        this.checkRequestId(l, p.type, p.packetId);
        for (const sub of p.subscriptions) s.subscriptions.set(sub.topicFilter, sub.qos);
        this.sendAck({ type: "suback", packetId: p.packetId, reasonCodes: p.subscriptions.map((sub) => sub.qos) }, () => l.reqUnacked.delete(p.packetId));
        return;
      }
      case "unsubscribe": {
        const s = l.session!;
        this.checkRequestId(l, p.type, p.packetId);
        const codes = p.topicFilters.map((f) => (s.subscriptions.delete(f) ? 0 : 0x11));
        this.sendAck({ type: "unsuback", packetId: p.packetId, reasonCodes: this.version === 5 ? codes : [] }, () => l.reqUnacked.delete(p.packetId));
        return;
      }
      case "pingreq":
        this.outbox.push({ type: "pingresp" });
        this.pingsAnswered++;
        return;
      case "disconnect": {
        l.disconnected = true;
        const sei = p.properties?.sessionExpiryInterval;
        if (sei !== undefined) {
          if (l.connectExpiry === 0 && sei !== 0) this.violate(`DISCONNECT sets a Session Expiry Interval of ${sei} after CONNECT's 0 [MQTT-3.14.2-2]`);
          l.keepSession = sei > 0;
        }
        return;
      }
      default:
        this.violate(`a client does not send ${p.type.toUpperCase()}`);
    }
  }

  /** What the client wrote after it read our CONNACK keeps the CONNACK's limits. */
  private checkLimits(l: Link, p: Packet): void {
    const o = l.options;
    this.limitChecks++;
    const max = o.maximumPacketSize;
    if (max !== undefined && l.curSize > max) {
      this.violate(`${p.type.toUpperCase()} of ${l.curSize} bytes, above our Maximum Packet Size of ${max} [MQTT-3.2.2-15]`);
    }
    if (this.version !== 5) return;
    if (p.type === "publish") {
      const what = `PUBLISH ${td.decode(p.payload)}`;
      if (o.maximumQoS !== undefined && p.qos > o.maximumQoS) this.violate(`${what} at QoS ${p.qos}, above our Maximum QoS of ${o.maximumQoS} [MQTT-3.2.2-11]`);
      if (p.retain && o.retainAvailable === 0) this.violate(`${what} with RETAIN, which we said is not available [MQTT-3.2.2-14]`);
    }
    if (p.type === "subscribe") {
      if (o.subscriptionIdentifierAvailable === 0 && p.properties?.subscriptionIdentifiers !== undefined) {
        this.violate("SUBSCRIBE with a Subscription Identifier, which we said is not available (0xA1)");
      }
      for (const sub of p.subscriptions) {
        const f = sub.topicFilter;
        if (o.sharedSubscriptionAvailable === 0 && f.startsWith("$share/")) this.violate(`SUBSCRIBE to shared ${f}, which we said is not available (0x9E)`);
        if (o.wildcardSubscriptionAvailable === 0 && /[+#]/.test(f)) this.violate(`SUBSCRIBE to wildcard ${f}, which we said is not available (0xA2)`);
      }
    }
  }

  /** A SUBSCRIBE / UNSUBSCRIBE id must not be in use by the client [MQTT-2.2.1-3]. */
  private checkRequestId(l: Link, type: string, id: number): void {
    const what = type.toUpperCase();
    const pub = l.inUnacked.get(id);
    if (pub !== undefined) this.violate(`${what} with packet id ${id} while PUBLISH ${pub} is unacknowledged [MQTT-2.2.1-3]`);
    if (l.reqUnacked.has(id)) this.violate(`${what} with packet id ${id} while another request with it is unacknowledged [MQTT-2.2.1-3]`);
    const q2 = l.session!.inboundQos2.get(id);
    if (q2 !== undefined) this.violate(`${what} with packet id ${id} while QoS 2 message ${q2} waits for its PUBREL [MQTT-2.2.1-3]`);
    l.reqUnacked.add(id);
  }

  private onConnect(l: Link, p: Extract<Packet, { type: "connect" }>): void {
    if (p.protocolVersion !== this.version) this.violate(`CONNECT for protocol ${p.protocolVersion}, expected ${this.version}`);
    if (p.clientId === "") this.violate("the model client always has a client id");
    l.connected = true;
    l.clientId = p.clientId;
    const v5 = this.version === 5;
    if (p.clean || l.options.loseSession === true) this.discardSession(p.clientId);
    let s = this.sessions.get(p.clientId);
    const present = !p.clean && s !== undefined;
    if (s === undefined) {
      s = {
        clientId: p.clientId,
        inboundQos2: new Map(),
        outgoing: new Map(),
        queue: [],
        subscriptions: new Map(),
        nextId: this.firstPacketId,
        generation: ++this.generations,
      };
      this.sessions.set(p.clientId, s);
    }
    l.session = s;
    l.sessionPresent = present;
    // MQTT 5: the session outlives the connection only with a Session Expiry Interval [MQTT-3.1.2-23],
    // ours in CONNACK if we announce one.
    l.connectExpiry = v5 ? (p.properties?.sessionExpiryInterval ?? 0) : 0;
    l.keepSession = v5 ? (l.options.sessionExpiryInterval ?? l.connectExpiry) > 0 : !p.clean;
    l.clientReceiveMaximum = v5 ? (p.properties?.receiveMaximum ?? 65535) : Infinity;
    l.receiveMaximum = v5 ? (l.options.receiveMaximum ?? 65535) : Infinity;
    l.topicAliasMaximum = v5 ? (l.options.topicAliasMaximum ?? 0) : 0;
    l.clientTopicAliasMaximum = v5 ? (p.properties?.topicAliasMaximum ?? 0) : 0;
    const connack: ConnackPacket = { type: "connack", sessionPresent: present, reasonCode: 0 };
    if (v5) {
      const props: Properties = {};
      if (l.options.receiveMaximum !== undefined) props.receiveMaximum = l.options.receiveMaximum;
      if (l.options.serverKeepAlive !== undefined) props.serverKeepAlive = l.options.serverKeepAlive;
      if (l.options.sessionExpiryInterval !== undefined) props.sessionExpiryInterval = l.options.sessionExpiryInterval;
      if (l.topicAliasMaximum > 0) props.topicAliasMaximum = l.topicAliasMaximum;
      // Checked in checkLimits on what the client writes once it has read this [MQTT-3.2.2-15].
      if (l.options.maximumPacketSize !== undefined) props.maximumPacketSize = l.options.maximumPacketSize;
      const o = l.options;
      if (o.maximumQoS !== undefined) props.maximumQoS = o.maximumQoS;
      if (o.retainAvailable !== undefined) props.retainAvailable = o.retainAvailable;
      if (o.wildcardSubscriptionAvailable !== undefined) props.wildcardSubscriptionAvailable = o.wildcardSubscriptionAvailable;
      if (o.sharedSubscriptionAvailable !== undefined) props.sharedSubscriptionAvailable = o.sharedSubscriptionAvailable;
      if (o.subscriptionIdentifierAvailable !== undefined) props.subscriptionIdentifierAvailable = o.subscriptionIdentifierAvailable;
      if (Object.keys(props).length > 0) connack.properties = props;
    }
    this.outbox.push(connack);
    this.connacks.push(connack);
    // Resume: unacknowledged PUBLISH again with DUP (within the client's
    // Receive Maximum; the rest as it frees up) and PUBREL again, in their
    // original order [MQTT-4.4.0-1].
    if (present) {
      for (const m of s.outgoing.values()) {
        if (m.state === "pubrel") this.outbox.push({ type: "pubrel", packetId: m.packetId, reasonCode: 0 });
        else if (l.outUnacked.size < l.clientReceiveMaximum) this.sendPublish(l, m, true);
      }
    }
    this.pump(l);
  }

  /** Sends what the client's Receive Maximum allows: unsent session messages (DUP), then the queue. */
  private pump(l: Link): void {
    if (!l.connected || l.disconnected) return;
    const s = l.session!;
    for (const m of s.outgoing.values()) {
      if (m.state !== "publish" || l.sentPublish.has(m.packetId)) continue;
      if (l.outUnacked.size >= l.clientReceiveMaximum) return;
      this.sendPublish(l, m, true);
    }
    while (s.queue.length > 0 && l.outUnacked.size < l.clientReceiveMaximum) {
      const q = s.queue.shift()!;
      let id = s.nextId;
      while (s.outgoing.has(id)) id = id === 0xffff ? 1 : id + 1;
      s.nextId = id === 0xffff ? 1 : id + 1;
      const m: BrokerOutMessage = { packetId: id, payload: q.payload, qos: q.qos, state: "publish" };
      s.outgoing.set(id, m);
      this.assigned.set(m.payload, { packetId: id, generation: s.generation });
      this.sendPublish(l, m, false);
    }
  }

  /** A PUBLISH to the client; with alias 1 for our topic when the client takes aliases (set once per connection). */
  private publishPacket(l: Link, payload: string, qos: QoS, dup: boolean, packetId: number | undefined): PublishPacket {
    const p: PublishPacket = { type: "publish", topic: this.topic, payload: te.encode(payload), qos, retain: false, dup };
    if (packetId !== undefined) p.packetId = packetId;
    if (l.clientTopicAliasMaximum >= 1) {
      if (l.aliasOutSet) p.topic = "";
      l.aliasOutSet = true;
      p.properties = { topicAlias: 1 };
    }
    return p;
  }

  private sendPublish(l: Link, m: BrokerOutMessage, dup: boolean): void {
    this.outbox.push(this.publishPacket(l, m.payload, m.qos, dup, m.packetId));
    l.sentPublish.add(m.packetId);
    l.outUnacked.add(m.packetId);
    l.awaitingAck.push(m.packetId);
  }

  private onPublish(l: Link, p: PublishPacket): void {
    const payload = td.decode(p.payload);
    let topic = p.topic;
    const alias = p.properties?.topicAlias;
    if (alias !== undefined) {
      if (alias > l.topicAliasMaximum) this.violate(`topic alias ${alias} above our Topic Alias Maximum of ${l.topicAliasMaximum} [MQTT-3.3.2-9]`);
      if (topic === "") {
        const known = l.aliasesIn.get(alias);
        if (known === undefined) this.violate(`topic alias ${alias} used before it was set on this connection [MQTT-3.3.2-12]`);
        topic = known;
      } else {
        l.aliasesIn.set(alias, topic);
      }
    } else if (topic === "") {
      this.violate("PUBLISH with an empty topic and no topic alias [MQTT-3.3.2-1]");
    }
    const entry: { payload: string; topic: string; qos: QoS; dup: boolean; retain: boolean; packetId?: number } = { payload, topic, qos: p.qos, dup: p.dup, retain: p.retain };
    if (p.packetId !== undefined) entry.packetId = p.packetId;
    this.publishLog.push(entry);
    if (p.qos === 0) {
      this.received.set(payload, (this.received.get(payload) ?? 0) + 1);
      return;
    }
    const id = p.packetId!;
    if (p.dup && !l.sessionPresent) {
      this.violate(`PUBLISH ${payload} (id ${id}) with DUP=1 on a connection that resumed no session: nothing to resend [MQTT-3.3.1-1]`);
    }
    if (l.reqUnacked.has(id)) this.violate(`PUBLISH ${payload} with packet id ${id} while a SUBSCRIBE / UNSUBSCRIBE with it is unacknowledged [MQTT-2.2.1-3]`);
    const old = l.inUnacked.get(id);
    if (old !== undefined) {
      this.violate(
        old === payload
          ? `PUBLISH ${payload} (id ${id}) sent twice on one connection before its ack left the broker`
          : `packet id ${id} reused by ${payload} while ${old} is unacknowledged [MQTT-2.2.1-3]`,
      );
    }
    if (p.dup) {
      if (l.sawFresh) this.violate(`resend of ${payload} (id ${id}, DUP=1) after a new QoS>0 PUBLISH on the same connection`);
      // Ids are given in a cycle, so "later" is a short step forward from the last (ids do not wrap within a test).
      const step = (id - l.lastDupId + 0xffff) % 0xffff;
      if (l.lastDupId !== 0 && (step === 0 || step > 0x7fff)) {
        this.violate(`resends out of their original order: id ${id} after id ${l.lastDupId} [MQTT-4.6.0-1]`);
      }
      l.lastDupId = id;
      l.dupCount++;
      this.resendsReceived++;
    } else {
      l.sawFresh = true;
    }
    l.inUnacked.set(id, payload);
    const limit = this.inflightLimit;
    if (l.inUnacked.size > limit) {
      this.violate(`${l.inUnacked.size} unacknowledged QoS 1/2 PUBLISH, above the limit of ${limit} [MQTT-3.3.4-7]`);
    }
    const s = l.session!;
    const known = p.qos === 2 ? s.inboundQos2.get(id) : undefined;
    const held = s.inboundQos2.get(id);
    if (p.qos === 1 && held !== undefined) this.violate(`QoS 1 PUBLISH ${payload} with id ${id}, which still waits for PUBREL of ${held} [MQTT-2.2.1-3]`);
    if (known === undefined && this.rejectNext > 0 && this.version === 5) {
      // Refused: the exchange ends with this ack, the id is free again [MQTT-4.3.3-9].
      this.rejectNext--;
      this.rejected.add(payload);
      this.sendAck({ type: p.qos === 1 ? "puback" : "pubrec", packetId: id, reasonCode: 0x80 }, () => l.inUnacked.delete(id));
      return;
    }
    if (p.qos === 1) {
      this.received.set(payload, (this.received.get(payload) ?? 0) + 1);
      this.sendAck({ type: "puback", packetId: id, reasonCode: 0 }, () => l.inUnacked.delete(id));
      return;
    }
    if (known === undefined) {
      s.inboundQos2.set(id, payload);
      this.received.set(payload, (this.received.get(payload) ?? 0) + 1);
    } else {
      if (!p.dup) this.violate(`new QoS 2 PUBLISH ${payload} (DUP=0) with id ${id}, which still waits for PUBREL of ${known} [MQTT-2.2.1-3]`);
      if (known !== payload) this.violate(`QoS 2 resend with id ${id} carries ${payload}, but the id holds ${known}`);
    }
    this.sendAck({ type: "pubrec", packetId: id, reasonCode: 0 });
  }

  private onPubrel(l: Link, id: number): void {
    const known = l.session!.inboundQos2.delete(id);
    const rc = known || this.version !== 5 ? 0 : 0x92;
    this.sendAck({ type: "pubcomp", packetId: id, reasonCode: rc }, known ? () => l.inUnacked.delete(id) : undefined);
  }

  private onClientAck(l: Link, type: "puback" | "pubrec" | "pubcomp", id: number, rc: number): void {
    const s = l.session!;
    const m = s.outgoing.get(id);
    if (type === "pubcomp") {
      if (m === undefined) {
        // The answer to a duplicated PUBREL (0x92 in MQTT 5).
        this.strayAcks++;
        return;
      }
      if (m.state !== "pubrel") this.violate(`PUBCOMP ${id} before PUBREL`);
      s.outgoing.delete(id);
      l.outUnacked.delete(id);
      this.pump(l);
      return;
    }
    // PUBACK / PUBREC in the order the PUBLISH packets went out [MQTT-4.6.0-2] [MQTT-4.6.0-3].
    const head = l.awaitingAck[0];
    if (head !== id) this.violate(`${type.toUpperCase()} ${id} out of order: PUBLISH ${String(head)} was sent first`);
    l.awaitingAck.shift();
    if (m === undefined || m.state !== "publish") this.violate(`${type.toUpperCase()} ${id} for no PUBLISH in flight`);
    if (rc >= 0x80) {
      if (this.version !== 5) this.violate(`${type.toUpperCase()} ${id} with a reason code before MQTT 5`);
      // The client refused it: done, no PUBREL [MQTT-4.3.3-9] [MQTT-4.4.0-2].
      this.refusedByClient.add(m.payload);
      s.outgoing.delete(id);
      l.outUnacked.delete(id);
      this.pump(l);
      return;
    }
    if (type === "puback") {
      if (m.qos !== 1) this.violate(`PUBACK for QoS 2 message ${id}`);
      s.outgoing.delete(id);
      l.outUnacked.delete(id);
      this.pump(l);
      return;
    }
    if (m.qos !== 2) this.violate(`PUBREC for QoS 1 message ${id}`);
    m.state = "pubrel";
    this.sendAck({ type: "pubrel", packetId: id, reasonCode: 0 });
  }
}
