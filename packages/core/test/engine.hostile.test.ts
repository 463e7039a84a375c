/**
 * A hostile server against the engine's receive path: strings and binary
 * fields of any length up to the protocol's limit in every field a server
 * controls, valid and invalid; random and mutated packets; one byte per call
 * and thousands of chunks before the first pull. Whatever arrives:
 *
 * - nothing the engine offers throws (receiveData, pollEvent, handleTimeout,
 *   pollTransmit), and no close is an "internal-error";
 * - every byte the client writes decodes as a valid packet, within the
 *   Maximum Packet Size of the CONNACK in force;
 * - no event follows `closed`;
 * - error messages and the reason string of the DISCONNECT we send are short
 *   (a hostile 65,535-byte field is never quoted whole);
 * - an MQTT 5 protocol error queues a DISCONNECT with the close's reason code;
 * - each call returns within a generous time budget (cost grows with bytes,
 *   not with how they are chunked).
 *
 * A failure prints `Replay: FC_SEED=… FC_PATH=…`.
 */
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodePacket, type Packet, PacketDecoder, PROPERTY_TABLE } from "../src/codec/index.js";
import { type Event, MqttConnection, type Properties, type ProtocolVersion } from "../src/index.js";
import { arbPacketOfType, chunk, arbChunker, type Chunking } from "../src/testing/index.js";
import { check } from "./helpers/fc.js";

/** Per call, however the bytes are cut: generous for a loaded 2-core machine. */
const CALL_BUDGET_MS = 2_000;

class Violation extends Error {}
function fail(message: string): never {
  throw new Violation(message);
}

/** The engine, driven the way a loop drives it, with every invariant checked on the way. */
class Driver {
  readonly c: MqttConnection;
  private readonly out: PacketDecoder;
  readonly sent: Packet[] = [];
  readonly events: Event[] = [];
  closed = false;
  /** The Maximum Packet Size of the CONNACK in force (MQTT 5). */
  private serverMax = Number.MAX_SAFE_INTEGER;
  /** The properties of the CONNACK in force. */
  private limits: Properties = {};
  now = 0;

  constructor(readonly version: ProtocolVersion, options: ConstructorParameters<typeof MqttConnection>[0] = {}) {
    this.c = new MqttConnection({ protocolVersion: version, clientId: "hostile", ...options });
    this.out = new PacketDecoder({ protocolVersion: version });
    this.c.connect(0);
    this.flush();
  }

  private timed<T>(what: string, fn: () => T): T {
    const t0 = performance.now();
    let r: T;
    try {
      r = fn();
    } catch (e) {
      fail(`${what} threw ${(e as Error)?.name}: ${String((e as Error)?.message).slice(0, 200)}`);
    }
    const ms = performance.now() - t0;
    if (ms > CALL_BUDGET_MS) fail(`${what} took ${ms.toFixed(0)} ms`);
    return r;
  }

  /** How far `cooperate` has answered `sent`. */
  private answered = 0;

  /** Answers what the client sent as a well-behaved server would: grants, acks, completions. */
  cooperate(): void {
    const replies: Packet[] = [];
    for (; this.answered < this.sent.length; this.answered++) {
      const p = this.sent[this.answered]!;
      if (p.type === "subscribe") replies.push({ type: "suback", packetId: p.packetId, reasonCodes: p.subscriptions.map((x) => x.qos) });
      else if (p.type === "unsubscribe") replies.push({ type: "unsuback", packetId: p.packetId, reasonCodes: this.version === 5 ? p.topicFilters.map(() => 0) : [] });
      else if (p.type === "publish" && p.qos === 1) replies.push({ type: "puback", packetId: p.packetId!, reasonCode: 0 });
      else if (p.type === "publish" && p.qos === 2) replies.push({ type: "pubrec", packetId: p.packetId!, reasonCode: 0 });
      else if (p.type === "pubrel") replies.push({ type: "pubcomp", packetId: p.packetId, reasonCode: 0 });
    }
    for (const r of replies) if (!this.closed) this.feed([encodePacket(r, this.version)], true);
  }

  /** The transport is gone; after the closed event, a new connection and its CONNACK. */
  reconnect(connack: Packet): void {
    this.timed("connectionLost", () => this.c.connectionLost(this.now));
    this.pull();
    this.closed = false;
    this.serverMax = Number.MAX_SAFE_INTEGER;
    this.limits = {};
    this.timed("connect", () => this.c.connect(this.now));
    this.flush();
    this.feed([encodePacket(connack, this.version)], true);
  }

  /** Feeds `chunks`; pulls after each one, or only after the last. */
  feed(chunks: readonly Uint8Array[], pullEach: boolean): void {
    for (const ch of chunks) {
      this.timed("receiveData", () => this.c.receiveData(this.now, ch));
      if (pullEach) this.pull();
    }
    this.pull();
  }

  pull(): void {
    for (;;) {
      const e = this.timed("pollEvent", () => this.c.pollEvent(this.now));
      if (e === undefined) break;
      if (this.closed) fail(`event ${e.type} after closed`);
      this.events.push(e);
      if (e.type === "connected") {
        this.serverMax = e.properties?.maximumPacketSize ?? Number.MAX_SAFE_INTEGER;
        this.limits = e.properties ?? {};
      }
      if (e.type === "closed") {
        this.closed = true;
        const r = e.reason;
        if (r.kind === "internal-error") fail(`internal error: ${String((r.error as Error)?.stack ?? r.error)}`);
        if ("error" in r && r.error instanceof Error && r.error.message.length > 500) {
          fail(`error message of ${r.error.message.length} characters`);
        }
      }
      if ("error" in e && e.error instanceof Error && e.error.message.length > 500) fail(`error message of ${e.error.message.length} characters`);
    }
    this.flush();
  }

  flush(): void {
    const chunks = this.timed("pollTransmit", () => this.c.pollTransmit(this.now));
    for (const ch of chunks) {
      this.out.push(ch);
    }
    for (;;) {
      let p: Packet | undefined;
      try {
        p = this.out.next();
      } catch (e) {
        fail(`the client wrote an invalid packet: ${(e as Error).message}`);
      }
      if (p === undefined) break;
      this.sent.push(p);
      if (p.type !== "connect") {
        const size = encodePacket(p, this.version).length;
        if (size > this.serverMax) fail(`the client wrote a ${p.type.toUpperCase()} of ${size} bytes over the server's maximum of ${this.serverMax}`);
      }
      if (p.type === "disconnect" && (p.properties?.reasonString?.length ?? 0) > 160) fail("a DISCONNECT reason string over 160 characters");
      // Every limit of the CONNACK in force holds for what the client writes, resends included.
      const l = this.limits;
      if (p.type === "publish") {
        if (p.qos > (l.maximumQoS ?? 2)) fail(`a QoS ${p.qos} PUBLISH over the server's Maximum QoS ${l.maximumQoS} [MQTT-3.2.2-11]`);
        if (p.retain && l.retainAvailable === 0) fail("a retained PUBLISH although Retain Available is 0 [MQTT-3.2.2-14]");
        const alias = p.properties?.topicAlias;
        if (alias !== undefined && alias > (l.topicAliasMaximum ?? 0)) fail(`topic alias ${alias} over the server's maximum [MQTT-3.2.2-17]`);
      }
      if (p.type === "subscribe" && l.wildcardSubscriptionAvailable === 0 && p.subscriptions.some((x) => /[+#]/.test(x.topicFilter))) {
        fail("a wildcard SUBSCRIBE although Wildcard Subscription Available is 0");
      }
    }
  }

  advance(ms: number): void {
    this.now += ms;
    this.timed("handleTimeout", () => this.c.handleTimeout(this.now));
    this.pull();
  }

  /** The MQTT 5 DISCONNECT sent on a protocol error carries the close's reason code. */
  checkClose(): void {
    const closed = [...this.events].reverse().find((e) => e.type === "closed");
    if (closed?.type !== "closed" || this.version !== 5 || closed.reason.kind !== "protocol-error") return;
    const d = [...this.sent].reverse().find((p) => p.type === "disconnect");
    if (d?.type !== "disconnect") fail("a protocol error sent no DISCONNECT");
    if (d.reasonCode !== closed.reason.reasonCode) fail(`DISCONNECT 0x${d.reasonCode.toString(16)} for a close with 0x${closed.reason.reasonCode.toString(16)}`);
  }
}

const CONNACK_OK: Packet = { type: "connack", sessionPresent: false, reasonCode: 0 };

// ============================================================================
// Every server-controlled field at its longest, valid and invalid
// ============================================================================

/** The longest value of a field: `bytes` bytes of ASCII, ending in "Z" so the end can be found and spoiled. */
function longText(bytes: number): string {
  return "a".repeat(bytes - 1) + "Z";
}

/** The packet with its last "Z" (the end of the long field) replaced by `byte`. */
function spoil(bytes: Uint8Array, byte: number): Uint8Array {
  const out = bytes.slice();
  const at = out.lastIndexOf(0x5a);
  if (at < 0) throw new Error("no marker");
  out[at] = byte;
  return out;
}

type ServerContext = "connack" | "publish" | "puback" | "pubrec" | "pubrel" | "pubcomp" | "suback" | "unsuback" | "disconnect" | "auth";
const SERVER_CONTEXTS: ServerContext[] = ["connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback", "disconnect", "auth"];

function packetWith(ctx: ServerContext, properties: Properties, topic = "t"): Packet {
  switch (ctx) {
    case "connack":
      // Authentication Data goes with a method (MQTT 5 3.2.2.3.17), or the codec refuses to write it.
      return { type: "connack", sessionPresent: false, reasonCode: 0, properties: properties.authenticationData ? { authenticationMethod: "m", ...properties } : properties };
    case "publish":
      return { type: "publish", topic, payload: new Uint8Array(0), qos: 1, retain: false, dup: false, packetId: 1, properties };
    case "suback":
      return { type: "suback", packetId: 1, reasonCodes: [0], properties };
    case "unsuback":
      return { type: "unsuback", packetId: 2, reasonCodes: [0], properties }; // the UNSUBSCRIBE's id
    case "disconnect":
      return { type: "disconnect", reasonCode: 0, properties };
    case "auth":
      return { type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "m", ...properties } };
    default:
      return { type: ctx, packetId: 1, reasonCode: 0, properties };
  }
}

/** Connects (unless the packet is the CONNACK itself), subscribes once, then feeds `bytes`. */
function deliver(version: ProtocolVersion, ctx: ServerContext, bytes: Uint8Array, pullEach: boolean, cuts: Chunking): Driver {
  const d = new Driver(version, version === 5 ? { properties: { topicAliasMaximum: 4, authenticationMethod: ctx === "auth" ? "m" : undefined } as Properties } : {});
  if (ctx !== "connack") {
    const connack: Packet = version === 5 && ctx === "auth" ? { type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: "m" } } : CONNACK_OK;
    d.feed([encodePacket(connack, version)], true);
    d.c.subscribe(d.now, { topicFilter: "t", qos: 1 });
    d.c.unsubscribe(d.now, "u");
    d.c.publish(d.now, { topic: "p", payload: new Uint8Array(1), qos: 2 });
    d.pull();
  }
  d.feed(chunk(bytes, cuts), pullEach);
  d.advance(1);
  d.checkClose();
  return d;
}

describe("every server-controlled string and binary field at its longest (65,535 bytes), valid and invalid", () => {
  const cases: { name: string; ctx: ServerContext; make: (n: number) => Packet; spoilable: boolean }[] = [];
  for (const ctx of SERVER_CONTEXTS) {
    for (const spec of PROPERTY_TABLE) {
      if (!spec.contexts.includes(ctx)) continue;
      if (spec.kind === "str") {
        cases.push({ name: `${ctx} ${spec.name}`, ctx, make: (n) => packetWith(ctx, { [spec.name]: longText(n) }), spoilable: true });
      } else if (spec.kind === "bin") {
        cases.push({ name: `${ctx} ${spec.name}`, ctx, make: (n) => packetWith(ctx, { [spec.name]: new Uint8Array(n).fill(0x5a) }), spoilable: false });
      } else if (spec.kind === "pair") {
        cases.push({ name: `${ctx} user property name`, ctx, make: (n) => packetWith(ctx, { userProperties: [[longText(n), "v"]] }), spoilable: true });
        cases.push({ name: `${ctx} user property value`, ctx, make: (n) => packetWith(ctx, { userProperties: [["k", longText(n)]] }), spoilable: true });
      }
    }
  }
  cases.push({ name: "publish topic", ctx: "publish", make: (n) => packetWith("publish", {}, longText(n)), spoilable: true });
  cases.push({ name: "publish topic with an alias", ctx: "publish", make: (n) => packetWith("publish", { topicAlias: 2 }, longText(n)), spoilable: true });

  for (const c of cases) {
    it(`${c.name}: 65,535 bytes are taken; spoiled (U+0000, a wildcard, a broken UTF-8 byte) they close the connection cleanly`, () => {
      const good = encodePacket(c.make(0xffff), 5);
      const d = deliver(5, c.ctx, good, false, { kind: "whole" });
      // A CONNACK's authentication method must be the CONNECT's (none here), so those two are refused whatever their length.
      if (c.ctx !== "disconnect" && c.ctx !== "auth" && !c.name.startsWith("connack authentication")) {
        expect(d.events.find((e) => e.type === "closed" && e.reason.kind === "protocol-error")).toBeUndefined();
      }
      if (!c.spoilable) return;
      for (const byte of [0x00, 0x23, 0xff]) {
        const bad = spoil(good, byte);
        const e = deliver(5, c.ctx, bad, false, { kind: "whole" });
        // A wildcard is only wrong in a topic name; U+0000 and 0xFF are wrong everywhere.
        if (byte !== 0x23 || c.name.includes("topic")) {
          expect(e.events.at(-1)).toMatchObject({ type: "closed", reason: { kind: "protocol-error" } });
        }
      }
    });
  }

  it("a 10,923-byte wildcard topic fed one byte per call, pulled after each and only at the end", () => {
    const bytes = spoil(encodePacket(packetWith("publish", {}, longText(10_923)), 5), 0x23);
    for (const pullEach of [true, false]) {
      const d = deliver(5, "publish", bytes, pullEach, { kind: "bytes" });
      expect(d.events.at(-1)).toMatchObject({ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x82 } });
    }
  });
});

// ============================================================================
// Random hostile streams
// ============================================================================

const SERVER_TYPES = {
  4: ["publish", "puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback", "pingresp"],
  5: ["publish", "puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback", "pingresp", "disconnect", "auth"],
} as const;

/** A small but sometimes very long field, so long values really occur. */
const LONG = { maxStringLength: 16_383, maxBinaryLength: 0xffff, maxPayloadLength: 4096 };

function arbServerBytes(version: 4 | 5): fc.Arbitrary<Uint8Array> {
  const types = SERVER_TYPES[version];
  const valid = fc
    .constantFrom(...types)
    .chain((t) => fc.oneof({ weight: 4, arbitrary: arbPacketOfType(t, version) }, { weight: 1, arbitrary: arbPacketOfType(t, version, LONG) }))
    .map((p) => encodePacket(p, version));
  const mutated = fc
    .tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 }))
    .map(([b, at, v]) => {
      const out = b.slice();
      if (out.length > 0) out[at % out.length] = v;
      return out;
    });
  return fc.oneof({ weight: 6, arbitrary: valid }, { weight: 2, arbitrary: mutated }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }) });
}

type Step =
  | { kind: "server"; bytes: Uint8Array; cuts: Chunking; pullEach: boolean }
  | { kind: "publish"; qos: 0 | 1 | 2; size: number; retain: boolean }
  | { kind: "subscribe"; wildcard: boolean }
  | { kind: "ack"; id: number }
  | { kind: "advance"; ms: number }
  | { kind: "cooperate" }
  /** The transport drops; a new connection gets `connack` (limits that change between connections). */
  | { kind: "reconnect"; connack: Packet; sessionPresent: boolean };

function arbSteps(version: 4 | 5): fc.Arbitrary<Step[]> {
  const step: fc.Arbitrary<Step> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("server" as const), bytes: arbServerBytes(version), cuts: arbChunker({ maxCuts: 6 }), pullEach: fc.boolean() }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("publish" as const), qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2), size: fc.constantFrom(0, 10, 100, 3000), retain: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("subscribe" as const), wildcard: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("ack" as const), id: fc.integer({ min: 1, max: 8 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.constantFrom(10, 1_000, 40_000) }) },
    { weight: 2, arbitrary: fc.constant({ kind: "cooperate" as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("reconnect" as const), connack: arbConnack(version), sessionPresent: fc.boolean() }) },
  );
  return fc.array(step, { maxLength: 16 });
}

function arbConnack(version: 4 | 5): fc.Arbitrary<Packet> {
  if (version === 4) return fc.constant(CONNACK_OK);
  return fc
    .record(
      {
        maximumPacketSize: fc.constantFrom(5, 20, 64, 200, 5000),
        receiveMaximum: fc.constantFrom(1, 2, 100),
        maximumQoS: fc.constantFrom(0, 1),
        retainAvailable: fc.constantFrom(0, 1),
        topicAliasMaximum: fc.constantFrom(0, 1, 3),
        wildcardSubscriptionAvailable: fc.constantFrom(0, 1),
        reasonString: fc.constantFrom("ok", "r".repeat(60_000)),
      },
      { requiredKeys: [] },
    )
    .map((properties): Packet => ({ type: "connack", sessionPresent: false, reasonCode: 0, properties }));
}

function runHostile(version: 4 | 5, numRuns: number): void {
  const options = fc.record({
    manualAck: fc.boolean(),
    autoTopicAlias: fc.boolean(),
    clean: fc.boolean(),
    resubscribeOnSessionLoss: fc.boolean(),
    maximumPacketSize: fc.constantFrom(undefined, 64, 70_000),
  });
  const prop = fc.property(options, arbConnack(version), arbSteps(version), (opts, connack, steps) => {
    const o: ConstructorParameters<typeof MqttConnection>[0] = { manualAck: opts.manualAck, clean: opts.clean, resubscribeOnSessionLoss: opts.resubscribeOnSessionLoss };
    if (opts.maximumPacketSize !== undefined) o.maximumPacketSize = opts.maximumPacketSize;
    if (version === 5) {
      o.autoTopicAlias = opts.autoTopicAlias;
      o.properties = { topicAliasMaximum: 3, receiveMaximum: 3, sessionExpiryInterval: opts.clean ? 0 : 60 };
    }
    const d = new Driver(version, o);
    d.c.subscribe(0, { topicFilter: "s/#", qos: 2 });
    d.feed([encodePacket(connack, version)], true);
    for (const s of steps) {
      if (d.closed && s.kind !== "reconnect") continue;
      switch (s.kind) {
        case "reconnect":
          d.checkClose();
          d.reconnect(s.connack.type === "connack" ? { ...s.connack, sessionPresent: !opts.clean && s.sessionPresent } : s.connack);
          break;
        case "server":
          d.feed(chunk(s.bytes, s.cuts), s.pullEach);
          break;
        case "publish":
          try {
            d.c.publish(d.now, { topic: "c/t", payload: new Uint8Array(s.size), qos: s.qos, retain: s.retain });
          } catch (e) {
            if (!(e instanceof Error) || e.name !== "LocalProtocolError") throw e; // refused by a limit: fine
          }
          d.pull();
          break;
        case "subscribe":
          try {
            d.c.subscribe(d.now, { topicFilter: s.wildcard ? "w/+" : "w", qos: 1 });
          } catch (e) {
            if (!(e instanceof Error) || e.name !== "LocalProtocolError") throw e;
          }
          d.pull();
          break;
        case "ack":
          if (opts.manualAck) d.c.ack(d.now, s.id);
          d.pull();
          break;
        case "advance":
          d.advance(s.ms);
          break;
        case "cooperate":
          d.cooperate();
          break;
      }
    }
    d.checkClose();
  });
  check(prop, numRuns);
}

describe("random hostile servers", () => {
  it("MQTT 3.1.1: nothing throws, the client writes only valid packets, no event after closed", () => runHostile(4, 400), 60_000);
  it("MQTT 5: the same, within the CONNACK's limits (which change between connections), with short reason strings and DISCONNECTs that match", () => runHostile(5, 1500), 60_000);
});
