/**
 * Session state: everything that must outlive a network connection (and, with
 * a store, a process). It is plain data so a store can persist it as it is.
 */
import type { Properties, QoS, Subscription } from "../codec/types.js";

/** An outgoing application message and where it stands. */
export interface OutgoingMessage {
  /** The engine's message id, returned by `publish()`. */
  mid: number;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
  /**
   * "queued": waiting for the flow-control window, no packet id yet.
   * "publish": PUBLISH sent (or due), waiting for PUBACK / PUBREC.
   * "pubrel": PUBREC received, PUBREL sent (or due), waiting for PUBCOMP.
   */
  state: "queued" | "publish" | "pubrel";
  packetId?: number;
}

/** An incoming QoS 2 message between PUBLISH and PUBREL (the dedup set). */
export interface IncomingQos2 {
  packetId: number;
  /** "delivered": given to the application, PUBREC not sent yet (manual ack). "received": PUBREC sent. */
  state: "delivered" | "received";
}

/** A subscription the server granted. */
export interface SessionSubscription extends Subscription {
  subscriptionIdentifier?: number;
  /** The server lost it and the engine asked again (resubscribeOnSessionLoss); not granted yet. */
  unconfirmed?: boolean;
}

/** The complete session as plain data: `exportSession()` / `importSession()`. */
export interface SessionState {
  readonly format: 1;
  clientId: string;
  nextPacketId: number;
  nextMid: number;
  /** In send order: inflight first (in the order first sent), then the queue. */
  outgoing: OutgoingMessage[];
  incomingQos2: IncomingQos2[];
  subscriptions: SessionSubscription[];
  /**
   * Ids of QoS 2 messages given up after their PUBLISH went out; reserved until
   * the server finishes the exchange or the session ends.
   */
  retiredPacketIds?: number[];
  /**
   * The session ends with its network connection (3.x clean session, MQTT 5
   * session expiry 0): once that connection is over, the next `connect()`
   * starts a new session instead of resuming this one.
   */
  endsWithConnection?: boolean;
}

/**
 * Packet identifiers 1..65535, never reused while in flight [MQTT-2.2.1-3]:
 * a cursor that moves on from the last one given, skipping ids in use.
 */
export class PacketIdAllocator {
  next = 1;
  private readonly used = new Set<number>();

  get inUse(): number {
    return this.used.size;
  }

  has(id: number): boolean {
    return this.used.has(id);
  }

  /** A free id, or undefined when all 65,535 are in use. */
  allocate(): number | undefined {
    if (this.used.size >= 0xffff) return undefined;
    let id = this.next;
    while (this.used.has(id)) id = id === 0xffff ? 1 : id + 1;
    this.used.add(id);
    this.next = id === 0xffff ? 1 : id + 1;
    return id;
  }

  /** Marks an id in use (restoring a session). */
  claim(id: number): void {
    this.used.add(id);
  }

  release(id: number): void {
    this.used.delete(id);
  }

  clear(): void {
    this.used.clear();
  }
}
