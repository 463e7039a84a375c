/**
 * The data types of the Paho-style client: ReasonCode, SubscribeOptions,
 * MQTTMessage, MQTTMessageInfo, the flags handed to onConnect / onDisconnect,
 * and the constants (protocol versions, log levels, packet types) with Paho's
 * numbers, so code ported from Paho compares them the way it did.
 */
import { connackReturnCodeName, reasonCodeName, type Properties, type QoS } from "@sansmqtt/core";
import { MQTT_ERR_QUEUE_SIZE, MQTT_ERR_SUCCESS, errorString } from "@sansmqtt/loop-external";

/** Paho's MQTTv31 / MQTTv311 / MQTTv5: the CONNECT protocol level. */
export const MQTTProtocolVersion = { MQTTv31: 3, MQTTv311: 4, MQTTv5: 5 } as const;
export type MQTTProtocolVersion = (typeof MQTTProtocolVersion)[keyof typeof MQTTProtocolVersion];
export const MQTTv31 = 3;
export const MQTTv311 = 4;
export const MQTTv5 = 5;

/** Paho's CallbackAPIVersion. Only VERSION2 is implemented (VERSION1 is deprecated in Paho). */
export const CallbackAPIVersion = { VERSION1: 1, VERSION2: 2 } as const;
export type CallbackAPIVersion = (typeof CallbackAPIVersion)[keyof typeof CallbackAPIVersion];

/** Paho's log levels (MQTT_LOG_*), with Paho's values. */
export const LogLevel = { MQTT_LOG_INFO: 1, MQTT_LOG_NOTICE: 2, MQTT_LOG_WARNING: 4, MQTT_LOG_ERR: 8, MQTT_LOG_DEBUG: 16 } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];
export const MQTT_LOG_INFO = 1;
export const MQTT_LOG_NOTICE = 2;
export const MQTT_LOG_WARNING = 4;
export const MQTT_LOG_ERR = 8;
export const MQTT_LOG_DEBUG = 16;

/** Paho's MQTT_CLEAN_START_FIRST_ONLY: clean start on the first connection of a `connect()` only (MQTT 5 default). */
export const MQTT_CLEAN_START_FIRST_ONLY = 3;

/** Paho's PacketTypes: the MQTT packet type numbers, plus WILLMESSAGE for will properties. */
export const PacketTypes = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
  WILLMESSAGE: 99,
} as const;
export type PacketType = (typeof PacketTypes)[keyof typeof PacketTypes];

/** MQTT 3.1 / 3.1.1 CONNACK return codes (Paho's CONNACK_*). */
export const CONNACK_ACCEPTED = 0;
export const CONNACK_REFUSED_PROTOCOL_VERSION = 1;
export const CONNACK_REFUSED_IDENTIFIER_REJECTED = 2;
export const CONNACK_REFUSED_SERVER_UNAVAILABLE = 3;
export const CONNACK_REFUSED_BAD_USERNAME_PASSWORD = 4;
export const CONNACK_REFUSED_NOT_AUTHORIZED = 5;

type ReasonPacket = NonNullable<Parameters<typeof reasonCodeName>[1]>;
const PACKET_NAMES: Readonly<Record<number, ReasonPacket>> = {
  [PacketTypes.CONNACK]: "connack",
  [PacketTypes.PUBACK]: "puback",
  [PacketTypes.PUBREC]: "pubrec",
  [PacketTypes.PUBREL]: "pubrel",
  [PacketTypes.PUBCOMP]: "pubcomp",
  [PacketTypes.SUBACK]: "suback",
  [PacketTypes.UNSUBACK]: "unsuback",
  [PacketTypes.DISCONNECT]: "disconnect",
  [PacketTypes.AUTH]: "auth",
};

/**
 * An MQTT 5 reason code in the context of the packet that carried it. Compares
 * with numbers through `equals(n)` or `valueOf()` (`rc == 0` and `+rc === 0`
 * work), and by value only against another ReasonCode, as Paho's does.
 */
export class ReasonCode {
  readonly value: number;
  readonly packetType: PacketType;

  constructor(packetType: PacketType, value = 0) {
    if (!Number.isInteger(value) || value < 0 || value > 255) throw new RangeError(`reason code ${String(value)} is not a byte`);
    this.packetType = packetType;
    this.value = value;
  }

  /**
   * Paho's name ("Success", "Granted QoS 1", "Normal disconnection", "Bad user
   * name or password" ...): Paho's docs tell applications to compare by name,
   * so ported programs keep working. `specName()` gives the spec's spelling.
   */
  getName(): string {
    return pahoName(this.value, this.specName());
  }

  /** The MQTT 5 spec's name ("Bad User Name or Password"). */
  specName(): string {
    return reasonCodeName(this.value, PACKET_NAMES[this.packetType] ?? "connack");
  }

  /** 0x80 and above: the packet reports a failure. */
  get isFailure(): boolean {
    return this.value >= 0x80;
  }

  /** Paho's `is_failure`. */
  get is_failure(): boolean {
    return this.isFailure;
  }

  /** Equal to a number (the value), a string (Paho's name, or the spec's) or another ReasonCode (the value). */
  equals(other: number | string | ReasonCode): boolean {
    if (typeof other === "number") return other === this.value;
    if (typeof other === "string") return other === this.getName() || other === this.specName();
    return other.value === this.value;
  }

  valueOf(): number {
    return this.value;
  }

  toString(): string {
    return this.getName();
  }

  toJSON(): { value: number; name: string } {
    return { value: this.value, name: this.getName() };
  }
}

/** Where Paho's names are not the spec's in sentence case. */
const PAHO_NAMES: Readonly<Record<number, string>> = {
  0x11: "No subscription found",
  0x9e: "Shared subscription not supported",
  0xa2: "Wildcard subscription not supported",
};

/** Paho's spelling of a reason code's name: the spec's in sentence case ("QoS" kept), with Paho's own three. */
function pahoName(value: number, spec: string): string {
  const own = PAHO_NAMES[value];
  if (own !== undefined) return own;
  return spec
    .split(" ")
    .map((w, i) => (i === 0 || w === "QoS" ? w : w.toLowerCase()))
    .join(" ");
}

/** The MQTT 5 reason code for an MQTT 3.1 / 3.1.1 CONNACK return code (Paho's convert_connack_rc_to_reason_code). */
export function connackCodeToReasonCode(rc: number): ReasonCode {
  const map: Readonly<Record<number, number>> = { 0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };
  return new ReasonCode(PacketTypes.CONNACK, map[rc] ?? 0x80);
}

/** Text for a CONNACK result: a 3.1/3.1.1 return code, or a ReasonCode's name (Paho's `connack_string`). */
export function connackString(code: number | ReasonCode): string {
  if (code instanceof ReasonCode) return code.getName();
  return code >= 0 && code <= 5 ? `${connackReturnCodeName(code)}.` : "Connection Refused: unknown reason.";
}

/** Paho's ConnectFlags. */
export interface ConnectFlags {
  readonly sessionPresent: boolean;
}

/** Paho's DisconnectFlags. */
export interface DisconnectFlags {
  /** The server sent DISCONNECT (MQTT 5); false for every other way a connection ends. */
  readonly isDisconnectPacketFromServer: boolean;
}

/** MQTT 5 subscription options (Paho's SubscribeOptions). Before MQTT 5 only `qos` is sent. */
export class SubscribeOptions {
  static readonly RETAIN_SEND_ON_SUBSCRIBE = 0;
  static readonly RETAIN_SEND_IF_NEW_SUB = 1;
  static readonly RETAIN_DO_NOT_SEND = 2;

  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;

  constructor(qos: number = 0, noLocal = false, retainAsPublished = false, retainHandling: number = 0) {
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`SubscribeOptions: qos must be 0, 1 or 2, got ${String(qos)}`);
    if (retainHandling !== 0 && retainHandling !== 1 && retainHandling !== 2) {
      throw new RangeError(`SubscribeOptions: retainHandling must be 0, 1 or 2, got ${String(retainHandling)}`);
    }
    this.qos = qos;
    this.noLocal = Boolean(noLocal);
    this.retainAsPublished = Boolean(retainAsPublished);
    this.retainHandling = retainHandling;
  }

  /** Paho stores the QoS as `QoS`. */
  get QoS(): QoS {
    return this.qos;
  }
}

/** Every runtime has these; declared here so the build needs neither DOM nor Node types. */
export const utf8 = globalThis as unknown as {
  TextEncoder: new () => { encode(s: string): Uint8Array };
  TextDecoder: new () => { decode(b: Uint8Array): string };
};
const decoder = new utf8.TextDecoder();

/** A received application message (Paho's MQTTMessage). */
export class MQTTMessage {
  /** When it was received, in milliseconds on the monotonic clock (Paho: time.monotonic seconds). */
  readonly timestamp: number;
  constructor(
    readonly topic: string,
    /** The payload bytes (a view of what the transport received; copy it before changing it). */
    readonly payload: Uint8Array,
    readonly qos: QoS,
    readonly retain: boolean,
    /** The packet identifier for QoS 1/2 (what `ack(mid, qos)` takes in manual-ack mode), 0 for QoS 0. */
    readonly mid: number,
    readonly dup: boolean,
    /** MQTT 5 properties; undefined before MQTT 5 (Paho: None). */
    readonly properties: Properties | undefined,
    timestamp: number,
  ) {
    this.timestamp = timestamp;
  }

  /** The payload decoded as UTF-8 (invalid sequences become U+FFFD). */
  text(): string {
    return decoder.decode(this.payload);
  }
}

/** Why waitForPublish rejected or isPublished threw: the message will not be delivered, or the wait timed out. */
export class PublishError extends Error {
  override readonly name = "PublishError";
  constructor(
    message: string,
    /** One of MQTT_ERR_*: why (CONN_LOST, NO_CONN, QUEUE_SIZE, AGAIN for a timeout ...). */
    readonly rc: number,
    /** The MQTT 5 reason code of a refusing PUBACK / PUBREC, when the server refused it. */
    readonly reasonCode?: ReasonCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * What `publish()` returns (Paho's MQTTMessageInfo): `mid`, `rc`, and the
 * outcome. Iterates as `[rc, mid]` like Paho's tuple.
 */
export class MQTTMessageInfo {
  rc: number;
  #published = false;
  #failure: PublishError | undefined;
  #waiters: Array<{ resolve: () => void; reject: (e: PublishError) => void }> = [];

  constructor(
    readonly mid: number,
    rc: number = MQTT_ERR_SUCCESS,
  ) {
    this.rc = rc;
  }

  /**
   * Whether the message is done: QoS 0 written, QoS 1 PUBACK, QoS 2 PUBCOMP.
   * Throws the PublishError when it can no longer be delivered (Paho raises too).
   */
  isPublished(): boolean {
    if (this.#failure !== undefined) throw this.#failure;
    return this.#published;
  }

  /**
   * Resolves when the message is done; rejects with a PublishError when it
   * cannot be delivered any more, or after `timeoutMs` (rc MQTT_ERR_AGAIN;
   * the message itself is still in flight). Unlike Paho, it always settles
   * when given a timeout, and never returns silently on one.
   */
  waitForPublish(timeoutMs?: number): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#published) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let timer: unknown;
      const entry = {
        resolve: () => {
          host.clearTimeout(timer);
          resolve();
        },
        reject: (e: PublishError) => {
          host.clearTimeout(timer);
          reject(e);
        },
      };
      this.#waiters.push(entry);
      if (timeoutMs !== undefined) {
        if (!(timeoutMs >= 0)) throw new RangeError(`timeoutMs must be >= 0, got ${String(timeoutMs)}`);
        timer = host.setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== entry);
          reject(new PublishError(`message ${this.mid} not published within ${timeoutMs} ms`, -1));
        }, timeoutMs);
      }
    });
  }

  /** @internal The message is done. */
  _complete(): void {
    if (this.#published || this.#failure !== undefined) return;
    this.#published = true;
    // A QoS 1/2 message queued while offline said NO_CONN; it went out after all.
    this.rc = MQTT_ERR_SUCCESS;
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) x.resolve();
  }

  /** @internal The message will not be delivered. */
  _fail(error: PublishError): void {
    if (this.#published || this.#failure !== undefined) return;
    this.#failure = error;
    this.rc = error.rc;
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) x.reject(error);
  }

  /** @internal Whether it is still undecided. */
  get _pending(): boolean {
    return !this.#published && this.#failure === undefined;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    yield this.rc;
    yield this.mid;
  }

  toString(): string {
    return `(${this.rc}, ${this.mid})`;
  }
}

/** A MQTTMessageInfo for a message refused at the call (queue full): never published. */
export function refusedInfo(mid: number, rc: number): MQTTMessageInfo {
  const info = new MQTTMessageInfo(mid, rc);
  info._fail(new PublishError(rc === MQTT_ERR_QUEUE_SIZE ? "the outgoing queue is full" : errorString(rc), rc));
  return info;
}

/** setTimeout / clearTimeout without DOM or Node types (every runtime has them). */
export const host = globalThis as unknown as {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  queueMicrotask(callback: () => void): void;
  performance: { now(): number };
  crypto: { getRandomValues<T extends Uint8Array>(a: T): T };
};
