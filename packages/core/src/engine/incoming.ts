/**
 * Messages from the server: their topic aliases resolved, our Receive
 * Maximum [MQTT-3.3.4-7] as the server must keep it, acks in arrival order
 * [MQTT-4.6.0-2] [MQTT-4.6.0-3] (manual acks may come in any order), the QoS
 * 2 dedup set, which is session state [MQTT-4.3.3-10], and the `message`
 * events.
 */
import { checkPacket } from "../codec/client.js";
import type { Properties, PublishPacket } from "../codec/types.js";
import type { TopicAliases } from "./aliases.js";
import { remote } from "./errors.js";
import type { EventQueue } from "./event-queue.js";
import type { MessageEvent } from "./events.js";
import { IdSet } from "./id-set.js";
import type { Outbox } from "./outbox.js";
import type { IncomingQos2 } from "./session.js";
import { sendTrimmed } from "./wire.js";
import type { ProtocolVersion } from "../codec/types.js";
import * as RC from "../codec/rc.js";
import * as E from "../codes.js";

interface PendingAck {
  packetId: number;
  qos: 1 | 2;
  done: boolean;
  reasonCode: number;
  properties: Properties | undefined;
}

const PUBACK = 0x40;
const PUBREC = 0x50;
const PUBCOMP = 0x70;

export class IncomingFlow {
  /** Session: QoS 2 ids between PUBLISH and PUBREL. */
  readonly #qos2 = new Map<number, IncomingQos2>();
  /** This connection: ids counted against our Receive Maximum (not acknowledged yet). */
  readonly #unacked = new IdSet();
  /** This connection: acks in the order their messages came. */
  #order: PendingAck[] = [];

  readonly #version: ProtocolVersion;
  readonly #out: Outbox;
  readonly #aliases: TopicAliases;
  readonly #events: EventQueue;
  readonly #manual: boolean;
  readonly #receiveMaximum: number;
  readonly #aliasMaximum: number;
  readonly #serverMaximum: () => number;
  constructor(
    version: ProtocolVersion,
    out: Outbox,
    aliases: TopicAliases,
    events: EventQueue,
    manual: boolean,
    /** Our Receive Maximum (the CONNECT's, or 65,535). */
    receiveMaximum: number,
    /** Our Topic Alias Maximum (the CONNECT's, or 0). */
    aliasMaximum: number,
    /** The server's Maximum Packet Size in force, for acks with properties. */
    serverMaximum: () => number,
  ) {
    this.#version = version;
    this.#out = out;
    this.#aliases = aliases;
    this.#events = events;
    this.#manual = manual;
    this.#receiveMaximum = receiveMaximum;
    this.#aliasMaximum = aliasMaximum;
    this.#serverMaximum = serverMaximum;
  }

  /** A PUBLISH came: its `message` event, unless it is a repeat already delivered. */
  onPublish(p: PublishPacket): void {
    let topic = p.topic;
    const alias = p.properties?.topicAlias;
    // [MQTT-3.3.2-10] aliases 1..our Topic Alias Maximum; mappings last one connection [MQTT-3.3.2-7].
    if (alias !== undefined) topic = this.#aliases.resolveInbound(alias, p.topic, this.#aliasMaximum);
    if (p.qos !== 0 && !this.#accept(p)) return;
    const e: MessageEvent = { type: "message", topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup };
    if (p.packetId !== undefined) (e as { packetId?: number }).packetId = p.packetId;
    if (p.properties !== undefined) (e as { properties?: Properties }).properties = p.properties;
    this.#events.push(e);
  }

  /**
   * A QoS 1/2 PUBLISH came: returns whether to deliver it. Queues its ack now
   * (automatic mode, nothing ahead of it) or when the application acks it.
   */
  #accept(p: PublishPacket): boolean {
    const id = p.packetId!;
    const repeat = this.#unacked.has(id);
    if (!repeat) {
      // Our Receive Maximum [MQTT-3.3.4-7] from the server's side: it may not exceed it.
      if (this.#unacked.size >= this.#receiveMaximum) {
        throw remote(E.ReceiveMaximumExceeded, `more than ${this.#receiveMaximum} unacknowledged QoS 1/2 messages`, RC.ReceiveMaximumExceeded);
      }
      this.#unacked.add(id);
    }
    if (p.qos === 1) {
      // Every QoS 1 PUBLISH is a new message once its PUBACK went out
      // [MQTT-4.3.2-5]; before that, the same id again is the same message: it
      // is delivered once and the one pending ack answers both, so a server
      // repeating an id cannot grow the pending acks.
      if (repeat && this.#manual) return false;
      if (!this.#manual && this.#order.length === 0) {
        // Nothing ahead of it: acknowledge at once (the common, automatic case).
        this.#out.pushAck(PUBACK, id);
        this.#free(id);
        return true;
      }
      this.#order.push({ packetId: id, qos: 1, done: !this.#manual, reasonCode: 0, properties: undefined });
      this.#flush();
      return true;
    }
    const known = this.#qos2.get(id);
    let deliver = false;
    if (known === undefined) {
      this.#qos2.set(id, { packetId: id, state: this.#manual ? "delivered" : "received" });
      this.#order.push({ packetId: id, qos: 2, done: !this.#manual, reasonCode: 0, properties: undefined });
      deliver = true;
    } else {
      // A resend before PUBREL: deliver once, answer PUBREC again [MQTT-4.3.3-10].
      const pending = this.#order.some((a) => a.packetId === id && !a.done);
      if (!pending) this.#order.push({ packetId: id, qos: 2, done: known.state === "received", reasonCode: 0, properties: undefined });
    }
    this.#flush();
    return deliver;
  }

  /** PUBREL: PUBCOMP with the same id [MQTT-4.3.3-11]; 0x92 when we hold no such message (MQTT 5). */
  onPubrel(id: number): void {
    const known = this.#qos2.delete(id);
    this.#free(id);
    if (known || this.#version !== 5) this.#out.pushAck(PUBCOMP, id);
    else sendTrimmed(this.#out, this.#version, this.#serverMaximum(), { type: "pubcomp", packetId: id, reasonCode: RC.PacketIdentifierNotFound });
  }

  /**
   * The application's ack (manual mode). See MqttConnection.ack. The ack is
   * checked as the codec will send it (LocalProtocolError) before anything changes.
   */
  ack(packetId: number, reasonCode: number, properties: Properties | undefined): boolean {
    for (const a of this.#order) {
      if (a.packetId === packetId && !a.done) {
        checkPacket({ type: a.qos === 1 ? "puback" : "pubrec", packetId, reasonCode, ...(properties ? { properties } : {}) }, this.#version);
        a.done = true;
        a.reasonCode = reasonCode;
        a.properties = properties;
        this.#flush();
        return true;
      }
    }
    const q2 = this.#qos2.get(packetId);
    if (q2 !== undefined && q2.state === "delivered") {
      // Delivered on an earlier connection: PUBREC goes out when the server resends it.
      q2.state = "received";
      return true;
    }
    return false;
  }

  /** Sends the acks that are ready, stopping at the first that is not: arrival order on the wire. */
  #flush(): void {
    const q = this.#order;
    let i = 0;
    while (i < q.length && q[i]!.done) {
      const a = q[i++]!;
      const plain = a.reasonCode === 0 && a.properties === undefined;
      if (a.qos === 1) {
        if (plain) this.#out.pushAck(PUBACK, a.packetId);
        else this.#sendAck("puback", a);
        this.#free(a.packetId);
      } else {
        const q2 = this.#qos2.get(a.packetId);
        if (a.reasonCode >= 0x80) {
          // A failed PUBREC ends the exchange; the id is free again [MQTT-4.3.3-9].
          this.#qos2.delete(a.packetId);
          this.#free(a.packetId);
        } else if (q2 !== undefined) {
          q2.state = "received";
        }
        if (plain) this.#out.pushAck(PUBREC, a.packetId);
        else this.#sendAck("pubrec", a);
      }
    }
    if (i > 0) this.#order = i === q.length ? [] : q.slice(i);
  }

  #sendAck(type: "puback" | "pubrec", a: PendingAck): void {
    const p = { type, packetId: a.packetId, reasonCode: a.reasonCode, ...(a.properties ? { properties: a.properties } : {}) };
    sendTrimmed(this.#out, this.#version, this.#serverMaximum(), p);
  }

  #free(id: number): void {
    this.#unacked.delete(id);
  }

  /**
   * The connection is over: no ack may go out on it any more [MQTT-3.14.4-1].
   * A QoS 1 message not acked yet will be resent by the server. An incoming
   * QoS 2 message the application already acked (its PUBREC held behind an
   * earlier message) keeps that ack for the resend: "received" answers it with
   * PUBREC, a failing ack forgets it so the resend is a new message [MQTT-4.3.3-9].
   */
  endConnection(): void {
    for (const a of this.#order) {
      if (a.qos !== 2 || !a.done) continue;
      const q2 = this.#qos2.get(a.packetId);
      if (q2 === undefined) continue;
      if (a.reasonCode >= 0x80) this.#qos2.delete(a.packetId);
      else q2.state = "received";
    }
    this.#order = [];
  }

  /** A new network connection: nothing is counted or pending on it yet. */
  reset(): void {
    this.#unacked.clear();
    this.#order = [];
  }

  /** The session is gone: its QoS 2 ids go with it. */
  discardSession(): void {
    this.#qos2.clear();
  }

  exportSession(): IncomingQos2[] {
    return [...this.#qos2.values()].map((q) => ({ ...q }));
  }

  importSession(list: readonly IncomingQos2[]): void {
    this.#qos2.clear();
    for (const q of list) this.#qos2.set(q.packetId, { ...q });
  }
}
