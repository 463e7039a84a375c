/**
 * SUBSCRIBE / UNSUBSCRIBE requests and the subscriptions the server granted.
 * Pending requests are session state: they go (again) on every new network
 * connection until answered. With resubscribeOnSessionLoss, subscriptions the
 * server lost are kept, marked unconfirmed, and asked for again.
 */
import { show } from "../codec/bytes.js";
import { checkPacket, encodePacket } from "../codec/client.js";
import type { Packet, Properties, ProtocolVersion, QoS, SubackPacket, Subscription, UnsubackPacket } from "../codec/types.js";
import { type MqttError } from "../errors.js";
import { isValidTopicFilter } from "../topic.js";
import type { EventQueue } from "./event-queue.js";
import { misuse, remote } from "./errors.js";
import { overServerMax, type ServerLimits, subscribeRefusal } from "./limits.js";
import type { Outbox } from "./outbox.js";
import type { PacketIds } from "./packet-ids.js";
import type { SessionRequest, SessionSubscription } from "./session.js";
import * as RC from "../codec/rc.js";
import * as E from "../codes.js";

interface Request {
  mid: number;
  packetId: number;
  kind: "subscribe" | "unsubscribe";
  subscriptions: Subscription[];
  topicFilters: string[];
  properties: Properties | undefined;
  /** Sent on this network connection (an answer is expected). */
  sent: boolean;
}

function idsExhausted(): MqttError {
  return misuse(E.PacketIdsExhausted, "all 65,535 packet identifiers are in use");
}

export class Requests {
  readonly #pending = new Map<number, Request>();
  readonly #granted = new Map<string, SessionSubscription>();

  readonly #version: ProtocolVersion;
  readonly #out: Outbox;
  readonly #ids: PacketIds;
  readonly #events: EventQueue;
  constructor(
    version: ProtocolVersion,
    out: Outbox,
    ids: PacketIds,
    events: EventQueue,
  ) {
    this.#version = version;
    this.#out = out;
    this.#ids = ids;
    this.#events = events;
  }

  get subscriptions(): readonly SessionSubscription[] {
    return [...this.#granted.values()];
  }

  /**
   * A SUBSCRIBE / UNSUBSCRIBE the caller asks for: checked (throwing, nothing
   * changed, see `check`), then made with the mid `newMid` gives, which it
   * returns. `limits`: the server's, when connected (it is then sent).
   */
  request(
    kind: "subscribe" | "unsubscribe",
    subscriptions: Subscription[],
    topicFilters: string[],
    properties: Properties | undefined,
    limits: ServerLimits | undefined,
    newMid: () => number,
  ): number {
    this.#check(kind, subscriptions, topicFilters, properties, limits);
    const mid = newMid();
    this.add(mid, kind, subscriptions, topicFilters, properties, limits);
    return mid;
  }

  /**
   * Checks a request the caller makes (throwing LocalProtocolError, nothing
   * changed). When connected, a SUBSCRIBE's filters first (after the codec's
   * rules for its options, which `normalizeSubscription` applied: an invalid
   * filter is ERR_TOPIC_FILTER, not a refusal) and what the server said it
   * does not support (`subscribeRefusal`). Then the codec's rules (filters,
   * options, properties; id 1 stands in), the server's Maximum Packet Size
   * when connected, and a free id.
   */
  #check(kind: "subscribe" | "unsubscribe", subscriptions: Subscription[], topicFilters: string[], properties: Properties | undefined, limits: ServerLimits | undefined): void {
    if (limits !== undefined && kind === "subscribe") {
      for (const s of subscriptions) {
        if (!isValidTopicFilter(s.topicFilter, this.#version)) throw misuse(E.TopicFilterInvalid, `${show(s.topicFilter)} is not a valid topic filter`);
      }
      const refusal = subscribeRefusal(limits, subscriptions, properties);
      if (refusal !== undefined) throw refusal.error;
    }
    const probe: Packet =
      kind === "subscribe"
        ? { type: "subscribe", packetId: 1, subscriptions, ...(properties ? { properties } : {}) }
        : { type: "unsubscribe", packetId: 1, topicFilters, ...(properties ? { properties } : {}) };
    const size = checkPacket(probe, this.#version);
    if (limits !== undefined && size > limits.maximumPacketSize) throw overServerMax(kind.toUpperCase(), size, limits.maximumPacketSize);
    if (this.#ids.inUse >= 0xffff) throw idsExhausted();
  }

  /**
   * Makes a request and sends it when `limits` is given (connected). Never
   * throws (the engine's own resubscriptions come through here from the
   * receive path): what cannot be sent is reported as a failed event.
   */
  add(mid: number, kind: "subscribe" | "unsubscribe", subscriptions: Subscription[], topicFilters: string[], properties: Properties | undefined, limits: ServerLimits | undefined): void {
    const id = this.#ids.allocate();
    const r: Request = { mid, packetId: id ?? 0, kind, subscriptions, topicFilters, properties, sent: false };
    if (id === undefined) {
      this.#fail(r, idsExhausted(), () => RC.UnspecifiedError);
      return;
    }
    this.#pending.set(id, r);
    if (limits !== undefined) this.#send(r, limits);
  }

  /** A new connection was accepted: every pending request goes (again), then the resubscriptions. */
  resume(limits: ServerLimits, nextMid: () => number, resubscribe: boolean): void {
    for (const r of [...this.#pending.values()]) if (!r.sent) this.#send(r, limits);
    if (resubscribe) this.#resubscribe(limits, nextMid);
  }

  #send(r: Request, limits: ServerLimits): void {
    const props = r.properties ? { properties: r.properties } : {};
    const bytes = encodePacket(
      r.kind === "subscribe"
        ? { type: "subscribe", packetId: r.packetId, subscriptions: r.subscriptions, ...props }
        : { type: "unsubscribe", packetId: r.packetId, topicFilters: r.topicFilters, ...props },
      this.#version,
    );
    const max = limits.maximumPacketSize;
    if (bytes.length > max) {
      // Asked for before this server said its limit [MQTT-3.2.2-15]: fails, is not sent.
      this.#finish(r);
      this.#fail(r, overServerMax(r.kind.toUpperCase(), bytes.length, max), () => RC.UnspecifiedError);
      return;
    }
    const refusal = r.kind === "subscribe" ? subscribeRefusal(limits, r.subscriptions, r.properties) : undefined;
    if (refusal !== undefined) {
      this.#finish(r);
      this.#fail(r, refusal.error, refusal.codeFor);
      return;
    }
    this.#out.push(bytes);
    r.sent = true;
  }

  /** Reports a request that will not be sent: one reason code per filter, from `codeFor`, and the error. */
  #fail(r: Request, error: MqttError, codeFor: (filter: string) => number): void {
    const filters = r.kind === "subscribe" ? r.subscriptions.map((x) => x.topicFilter) : r.topicFilters;
    const e = { mid: r.mid, packetId: r.packetId, reasonCodes: filters.map(codeFor), error };
    this.#events.push(r.kind === "subscribe" ? { type: "subscribed", ...e } : { type: "unsubscribed", ...e });
  }

  #finish(r: Request): void {
    this.#pending.delete(r.packetId);
    this.#ids.release(r.packetId);
  }

  /** Subscribes again to what the server lost, unless a request for it is pending. */
  #resubscribe(limits: ServerLimits, nextMid: () => number): void {
    const subscribing = new Set<string>();
    const leaving = new Set<string>();
    for (const r of this.#pending.values()) {
      for (const s of r.subscriptions) subscribing.add(s.topicFilter);
      for (const f of r.topicFilters) leaving.add(f);
    }
    for (const s of [...this.#granted.values()]) {
      if (s.unconfirmed !== true || subscribing.has(s.topicFilter)) continue;
      if (leaving.has(s.topicFilter)) {
        // The application is unsubscribing from it: do not undo that.
        this.#granted.delete(s.topicFilter);
        continue;
      }
      const { subscriptionIdentifier, unconfirmed: _u, ...sub } = s;
      const props: Properties | undefined = subscriptionIdentifier !== undefined ? { subscriptionIdentifiers: [subscriptionIdentifier] } : undefined;
      this.add(nextMid(), "subscribe", [sub], [], props, limits);
    }
  }

  onSuback(p: SubackPacket): void {
    const r = this.#pending.get(p.packetId);
    if (r === undefined || !r.sent) return;
    if (r.kind !== "subscribe") throw remote(E.AckMismatch, `SUBACK for UNSUBSCRIBE ${p.packetId}`);
    // [MQTT-3.8.4-6] one reason code per filter, in order [MQTT-3.9.3-1].
    if (p.reasonCodes.length !== r.subscriptions.length) {
      throw remote(E.AckMismatch, `SUBACK has ${p.reasonCodes.length} reason codes for ${r.subscriptions.length} filters`);
    }
    this.#finish(r);
    const subId = r.properties?.subscriptionIdentifiers?.[0];
    r.subscriptions.forEach((s, i) => {
      const rc = p.reasonCodes[i]!;
      if (rc < 0x80) {
        const granted: SessionSubscription = { ...s, qos: rc as QoS };
        if (subId !== undefined) granted.subscriptionIdentifier = subId;
        this.#granted.set(s.topicFilter, granted);
      } else if (this.#granted.get(s.topicFilter)?.unconfirmed === true) {
        this.#granted.delete(s.topicFilter); // the server refused it again
      }
    });
    const e = { type: "subscribed" as const, mid: r.mid, packetId: p.packetId, reasonCodes: p.reasonCodes };
    this.#events.push(p.properties ? { ...e, properties: p.properties } : e);
  }

  onUnsuback(p: UnsubackPacket): void {
    const r = this.#pending.get(p.packetId);
    if (r === undefined || !r.sent) return;
    if (r.kind !== "unsubscribe") throw remote(E.AckMismatch, `UNSUBACK for SUBSCRIBE ${p.packetId}`);
    const codes = this.#version === 5 ? p.reasonCodes : r.topicFilters.map(() => 0);
    if (codes.length !== r.topicFilters.length) {
      throw remote(E.AckMismatch, `UNSUBACK has ${codes.length} reason codes for ${r.topicFilters.length} filters`);
    }
    this.#finish(r);
    r.topicFilters.forEach((f, i) => {
      if (codes[i]! < 0x80) this.#granted.delete(f);
    });
    const e = { type: "unsubscribed" as const, mid: r.mid, packetId: p.packetId, reasonCodes: codes };
    this.#events.push(p.properties ? { ...e, properties: p.properties } : e);
  }

  /** A new network connection: nothing has been sent on it yet. */
  reset(): void {
    for (const r of this.#pending.values()) r.sent = false;
  }

  /**
   * The session is gone [MQTT-3.1.2-4] [MQTT-3.2.2-5]: its subscriptions go,
   * or with `keep` stay, unconfirmed, until the server grants them again (a
   * restart in between, through exportSession, still knows to ask).
   */
  discardSession(keep: boolean): void {
    if (keep) for (const s of this.#granted.values()) s.unconfirmed = true;
    else this.#granted.clear();
  }

  exportRequests(): SessionRequest[] {
    return [...this.#pending.values()].map((r) => {
      const c: SessionRequest = { mid: r.mid, packetId: r.packetId, kind: r.kind };
      if (r.kind === "subscribe") c.subscriptions = r.subscriptions.map((x) => ({ ...x }));
      else c.topicFilters = [...r.topicFilters];
      if (r.properties !== undefined) c.properties = r.properties;
      return c;
    });
  }

  exportSubscriptions(): SessionSubscription[] {
    return [...this.#granted.values()].map((s) => ({ ...s }));
  }

  /** Restores a validated session's share (ids already claimed by the caller). */
  importSession(requests: readonly SessionRequest[], subscriptions: readonly SessionSubscription[]): void {
    this.#pending.clear();
    this.#granted.clear();
    for (const r of requests) {
      this.#pending.set(r.packetId, {
        mid: r.mid,
        packetId: r.packetId,
        kind: r.kind,
        subscriptions: r.subscriptions ?? [],
        topicFilters: r.topicFilters ?? [],
        properties: r.properties,
        sent: false,
      });
    }
    for (const s of subscriptions) this.#granted.set(s.topicFilter, { ...s });
  }
}

/** A subscription as the engine sends it: MQTT 5 options filled in with their defaults, others as given. */
export function normalizeSubscription(s: Subscription, version: ProtocolVersion): Subscription {
  const out: Subscription = { topicFilter: s.topicFilter, qos: s.qos };
  if (version === 5) {
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
