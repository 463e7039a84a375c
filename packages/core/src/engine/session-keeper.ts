/**
 * The session as a whole: the fields that are the session's own (the client
 * id, the next message id, whether the session ends with its network
 * connection, and whether this connection started clean), when the session
 * is discarded [MQTT-3.1.2-4] [MQTT-3.2.2-5], and its export and import,
 * which go through every part that holds a share of it: PacketIds,
 * OutgoingFlow, IncomingFlow (the QoS 2 dedup set) and Requests.
 */
import type { Properties, ProtocolVersion } from "../codec/types.js";
import type { IncomingFlow } from "./incoming.js";
import type { OutgoingFlow } from "./outgoing.js";
import type { PacketIds } from "./packet-ids.js";
import type { Requests } from "./requests.js";
import { type SessionState, validateSession } from "./session.js";

/** The options the session depends on. */
export interface SessionOptions {
  protocolVersion: ProtocolVersion;
  clientId: string;
  maxQueued: number;
  resubscribeOnSessionLoss: boolean;
  properties?: Properties;
}

export class SessionKeeper {
  /** The client id in use: the one given, the one imported, or the one the server assigned. */
  clientId: string;
  /** The current network connection started with a clean start / clean session. */
  startedClean = true;
  #nextMid = 1;
  /** The session ends with the network connection (3.x clean session, or MQTT 5 session expiry 0). */
  #endsWithConnection = false;

  readonly #opts: SessionOptions;
  readonly #ids: PacketIds;
  readonly #outgoing: OutgoingFlow;
  readonly #incoming: IncomingFlow;
  readonly #requests: Requests;
  constructor(
    opts: SessionOptions,
    ids: PacketIds,
    outgoing: OutgoingFlow,
    incoming: IncomingFlow,
    requests: Requests,
  ) {
    this.#opts = opts;
    this.#ids = ids;
    this.#outgoing = outgoing;
    this.#incoming = incoming;
    this.#requests = requests;
    
    this.clientId = opts.clientId;
  }

  /** A new message id (`mid`): it never repeats within the session. */
  newMid(): number {
    return this.#nextMid++;
  }

  /**
   * A network connection starts. A clean start discards the session
   * [MQTT-3.1.2-4]; so does a session that ended with the previous connection
   * (3.x clean session, MQTT 5 session expiry 0 [MQTT-3.1.2-23]): nothing of it
   * may leak into the next one. Then whether this one ends with its connection.
   */
  connect(clean: boolean): void {
    this.startedClean = clean;
    if (clean || this.#endsWithConnection) this.discard();
    this.#endsWithConnection = this.#opts.protocolVersion === 5 ? (this.#opts.properties?.sessionExpiryInterval ?? 0) === 0 : clean;
  }

  /** An accepting CONNACK: the client id the server assigned, and the session expiry it will use (MQTT 5 3.2.2.3.2). */
  onConnack(props: Properties | undefined): void {
    if (props?.assignedClientIdentifier !== undefined) this.clientId = props.assignedClientIdentifier;
    if (props?.sessionExpiryInterval !== undefined) this.#endsWithConnection = props.sessionExpiryInterval === 0;
  }

  /** A session expiry interval the caller's DISCONNECT sets (MQTT 5). */
  onDisconnect(sessionExpiryInterval: number): void {
    this.#endsWithConnection = sessionExpiryInterval === 0;
  }

  /** The session is gone: every part lets go of its share. */
  discard(): void {
    this.#outgoing.discardSession();
    this.#incoming.discardSession();
    this.#requests.discardSession(this.#opts.resubscribeOnSessionLoss);
  }

  /** The complete session as plain data (see SessionState). */
  export(): SessionState {
    return {
      format: 1,
      clientId: this.clientId,
      nextPacketId: this.#ids.next,
      nextMid: this.#nextMid,
      outgoing: this.#outgoing.exportMessages(),
      incomingQos2: this.#incoming.exportSession(),
      subscriptions: this.#requests.exportSubscriptions(),
      retiredPacketIds: [...this.#outgoing.retiredIds],
      endsWithConnection: this.#endsWithConnection,
      requests: this.#requests.exportRequests(),
    };
  }

  /** Restores a session: checked whole first (`validateSession`), so a bad one changes nothing. */
  import(session: SessionState): void {
    const s = validateSession(session, this.#opts.protocolVersion, this.#opts.maxQueued);
    this.#ids.clear();
    this.#outgoing.importSession(s.outgoing, s.retiredPacketIds ?? []);
    this.#incoming.importSession(s.incomingQos2);
    const requests = s.requests ?? [];
    for (const r of requests) this.#ids.claim(r.packetId);
    this.#requests.importSession(requests, s.subscriptions);
    this.#endsWithConnection = s.endsWithConnection ?? false;
    this.#ids.next = s.nextPacketId;
    this.#nextMid = s.nextMid;
    this.clientId = s.clientId;
  }
}
