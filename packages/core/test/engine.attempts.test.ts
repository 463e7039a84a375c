/**
 * Bounded delivery attempts (option maxSendAttempts): a message is tried on at
 * most that many network connections that end between its PUBLISH and its
 * PUBACK / PUBREC, then given up with ERR_SEND_ATTEMPTS. A poison message (a
 * server that closes the connection on every PUBLISH of it) is not resent on
 * every reconnect forever. The count is part of the session
 * (`OutgoingMessage.attempts`).
 */
import { describe, expect, it } from "vitest";
import type { Packet } from "../src/codec/index.js";
import { ErrorCode, LocalProtocolError, MqttConnection, type SessionState, sessionFromJSON, sessionToJSON } from "../src/index.js";
import { expectMisuse, Harness, te, thrown } from "./helpers/peer.js";

const x = te.encode("x");

/** The PUBLISH packets of `topic` the client wrote. */
function publishesOf(h: Harness, topic: string): Extract<Packet, { type: "publish" }>[] {
  return h.sent.filter((p): p is Extract<Packet, { type: "publish" }> => p.type === "publish" && p.topic === topic);
}

/** A connection to the poison-killing server: CONNACK (session present), then whatever the client writes, then the connection drops. */
function poisonRound(h: Harness, sessionPresent = true): Packet[] {
  const sent = h.connect({ sessionPresent });
  h.lose();
  return sent;
}

function published(h: Harness): Extract<ReturnType<Harness["drain"]>[number], { type: "published" }>[] {
  return h.events.filter((e): e is Extract<typeof e, { type: "published" }> => e.type === "published");
}

describe("maxSendAttempts: a server that drops the connection after every PUBLISH", () => {
  for (const qos of [1, 2] as const) {
    it(`QoS ${qos}: sent exactly maxSendAttempts times (3), then failed with ERR_SEND_ATTEMPTS (0x80), never sent again`, () => {
      const h = new Harness({ protocolVersion: 4, clean: false, maxSendAttempts: 3 });
      h.connect();
      const mid = h.conn.publish(h.now, { topic: "poison", payload: x, qos });
      h.flush();
      h.lose();
      poisonRound(h);
      poisonRound(h);
      expect(publishesOf(h, "poison").map((p) => [p.packetId, p.dup])).toEqual([
        [1, false],
        [1, true],
        [1, true],
      ]);
      expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ mid, state: "publish", attempts: 3 }]);
      expect(published(h)).toEqual([]);
      // The next connection does not send it again: it is given up.
      expect(h.connect({ sessionPresent: true })).toEqual([]);
      expect(publishesOf(h, "poison")).toHaveLength(3);
      const events = published(h);
      expect(events).toEqual([{ type: "published", mid, qos, reasonCode: 0x80, packetId: 1, error: expect.objectContaining({ code: ErrorCode.SendAttemptsExhausted, reasonCode: 0x80 }) }]);
      expect(events[0]!.error!.message).toMatch(/after 3 delivery attempts \(maxSendAttempts 3\)/);
      expect(h.conn.inflightCount).toBe(0);
      // QoS 2: the server may hold it, waiting for a PUBREL: its id stays reserved. QoS 1: the id is free.
      expect(h.conn.exportSession(h.now).retiredPacketIds).toEqual(qos === 2 ? [1] : []);
      // The connection goes on: a new message goes out.
      h.conn.publish(h.now, { topic: "next", payload: x, qos: 1 });
      expect(h.flush()).toMatchObject([{ type: "publish", topic: "next", dup: false }]);
    });
  }

  it("only the first unacknowledged message sent on an ended connection is charged: the messages behind a poison message go out after it is given up", () => {
    const h = new Harness({ protocolVersion: 4, clean: false, maxSendAttempts: 3 });
    h.connect();
    const poison = h.conn.publish(h.now, { topic: "poison", payload: x, qos: 1 });
    const behind = [1, 2, 3].map((i) => h.conn.publish(h.now, { topic: `behind/${i}`, payload: x, qos: 2 }));
    h.flush();
    h.lose();
    poisonRound(h);
    poisonRound(h);
    // Each of the three connections carried all four; only the first one in send order was charged.
    expect(h.conn.exportSession(h.now).outgoing.map((m) => m.attempts ?? 0)).toEqual([3, 0, 0, 0]);
    const sent = h.connect({ sessionPresent: true });
    expect(sent.map((p) => (p.type === "publish" ? p.topic : p.type))).toEqual(["behind/1", "behind/2", "behind/3"]);
    expect(published(h)).toMatchObject([{ mid: poison, error: { code: ErrorCode.SendAttemptsExhausted } }]);
    // They complete on this connection.
    for (const p of sent) h.serverSends({ type: "pubrec", packetId: (p as Extract<Packet, { type: "publish" }>).packetId!, reasonCode: 0 });
    for (const p of h.flush()) if (p.type === "pubrel") h.serverSends({ type: "pubcomp", packetId: p.packetId, reasonCode: 0 });
    expect(published(h).filter((e) => e.error === undefined).map((e) => e.mid)).toEqual(behind);
  });

  it("the default is 10 attempts", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    const mid = h.conn.publish(h.now, { topic: "poison", payload: x, qos: 1 });
    h.flush();
    h.lose();
    for (let i = 0; i < 9; i++) poisonRound(h);
    expect(publishesOf(h, "poison")).toHaveLength(10);
    expect(h.connect({ sessionPresent: true })).toEqual([]);
    expect(published(h)).toMatchObject([{ mid, reasonCode: 0x80, error: { code: ErrorCode.SendAttemptsExhausted } }]);
  });

  it("maxSendAttempts 1: a message is tried on one connection only", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, maxSendAttempts: 1, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    const mid = h.conn.publish(h.now, { topic: "poison", payload: x, qos: 2 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true })).toEqual([]);
    expect(publishesOf(h, "poison")).toHaveLength(1);
    expect(published(h)).toMatchObject([{ mid, packetId: 1, error: { code: ErrorCode.SendAttemptsExhausted } }]);
    // The id is reserved until the server ends the exchange: a PUBREC for it gets its PUBREL, the PUBCOMP frees it.
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0 });
    expect(h.conn.exportSession(h.now).retiredPacketIds).toEqual([]);
    expect(published(h)).toHaveLength(1);
  });

  it("with clean sessions (the default) the count stays with a QoS 1 message published again as new after each discard", () => {
    const h = new Harness({ protocolVersion: 4, maxSendAttempts: 2 });
    h.connect();
    const mid = h.conn.publish(h.now, { topic: "poison", payload: x, qos: 1 });
    h.flush();
    h.lose();
    // connect() discards the clean session: the message goes again as a new one (DUP 0, a new id).
    expect(poisonRound(h, false)).toEqual([{ type: "publish", topic: "poison", payload: x, qos: 1, retain: false, dup: false, packetId: 2 }]);
    // The third connection: given up as it leaves the queue, with no packet id.
    h.conn.connect(h.now);
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ mid, state: "queued", attempts: 2 }]);
    h.flush();
    h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expect(h.flush()).toEqual([]);
    expect(publishesOf(h, "poison")).toHaveLength(2);
    expect(published(h)).toEqual([{ type: "published", mid, qos: 1, reasonCode: 0x80, error: expect.objectContaining({ code: ErrorCode.SendAttemptsExhausted }) }]);
  });

  it("a message acknowledged on a later connection completes; only the connections that ended before its ack counted", () => {
    const h = new Harness({ protocolVersion: 4, clean: false, maxSendAttempts: 3 });
    h.connect();
    const mid = h.conn.publish(h.now, { topic: "t", payload: x, qos: 1 });
    h.flush();
    h.lose();
    poisonRound(h);
    h.connect({ sessionPresent: true });
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ attempts: 3 }]); // the connection in use counts in an export
    expect(h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 })).toEqual([{ type: "published", mid, qos: 1, reasonCode: 0, packetId: 1 }]);
    expect(publishesOf(h, "t")).toHaveLength(3);
  });
});

describe("maxSendAttempts: what counts", () => {
  it("a connection that ends before the PUBLISH was handed out by pollTransmit does not count", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, maxSendAttempts: 2, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    h.conn.publish(h.now, { topic: "t", payload: x, qos: 1 });
    // In the output, never taken: the connection ends first.
    h.lose();
    expect(h.conn.exportSession(h.now).outgoing[0]!.attempts).toBeUndefined();
    // The CONNACK's resend is in the output; the connection ends again before it is taken.
    h.conn.connect(h.now);
    h.flush();
    h.serverSends({ type: "connack", sessionPresent: true, reasonCode: 0 });
    h.lose();
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ state: "publish", sent: false }]);
    expect(h.conn.exportSession(h.now).outgoing[0]!.attempts).toBeUndefined();
    // Handed out twice, each time the connection ends: two attempts, the last.
    poisonRound(h);
    poisonRound(h);
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ attempts: 2 }]);
    expect(publishesOf(h, "t")).toHaveLength(2);
    h.connect({ sessionPresent: true });
    expect(published(h)).toMatchObject([{ error: { code: ErrorCode.SendAttemptsExhausted } }]);
  });

  it("a message held back by the flow-control window on a connection does not count for it", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, maxSendAttempts: 2, properties: { sessionExpiryInterval: 600 } });
    // Receive Maximum 1: a goes out, b waits for the window.
    h.connect({ properties: { receiveMaximum: 1 } });
    const a = h.conn.publish(h.now, { topic: "a", payload: x, qos: 1 });
    h.conn.publish(h.now, { topic: "b", payload: x, qos: 1 });
    h.flush();
    h.lose();
    expect(h.connect({ sessionPresent: true, properties: { receiveMaximum: 1 } })).toMatchObject([{ type: "publish", topic: "a", dup: true }]);
    h.lose();
    expect(h.conn.exportSession(h.now).outgoing.map((m) => [m.topic, m.state, m.attempts])).toEqual([
      ["a", "publish", 2],
      ["b", "queued", undefined],
    ]);
    // a has used both attempts: given up, and b goes out for the first time.
    expect(h.connect({ sessionPresent: true, properties: { receiveMaximum: 1 } })).toEqual([{ type: "publish", topic: "b", payload: x, qos: 1, retain: false, dup: false, packetId: 2 }]);
    expect(published(h)).toMatchObject([{ mid: a, error: { code: ErrorCode.SendAttemptsExhausted } }]);
  });

  it("a PUBLISH handed out after the connection's closed event (the caller writes what is left) counts", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, maxSendAttempts: 5, properties: { sessionExpiryInterval: 600 } });
    h.connect();
    h.conn.publish(h.now, { topic: "t", payload: x, qos: 1 });
    expect(h.serverSends({ type: "disconnect", reasonCode: 0x8b })).toMatchObject([{ type: "closed" }]);
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "t" }]);
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ attempts: 1 }]);
    h.connect({ sessionPresent: true });
    h.conn.disconnect(h.now);
    h.drain();
    h.flush();
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ attempts: 2 }]);
  });

  it("[MQTT-4.3.3-6] PUBREL resends never count: a QoS 2 message in the PUBREL phase completes however many connections end", () => {
    const h = new Harness({ protocolVersion: 4, clean: false, maxSendAttempts: 2 });
    h.connect();
    const mid = h.conn.publish(h.now, { topic: "t", payload: x, qos: 2 });
    h.flush();
    h.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 });
    expect(h.flush()).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    h.lose();
    for (let i = 0; i < 4; i++) expect(poisonRound(h)).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    expect(h.conn.exportSession(h.now).outgoing).toMatchObject([{ state: "pubrel" }]);
    expect(h.conn.exportSession(h.now).outgoing[0]!.attempts).toBeUndefined();
    expect(h.connect({ sessionPresent: true })).toEqual([{ type: "pubrel", packetId: 1, reasonCode: 0 }]);
    expect(h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0 })).toEqual([{ type: "published", mid, qos: 2, reasonCode: 0, packetId: 1 }]);
  });

  it("QoS 0 never counts", () => {
    const h = new Harness({ protocolVersion: 4, clean: false, maxSendAttempts: 1 });
    h.connect();
    h.conn.publish(h.now, { topic: "t", payload: x });
    h.lose();
    expect(published(h)).toMatchObject([{ qos: 0, error: { code: ErrorCode.InvalidState } }]);
    h.conn.publish(h.now, { topic: "t", payload: x });
    h.connect({ sessionPresent: true });
    h.drain();
    expect(published(h).at(-1)).toMatchObject({ qos: 0, reasonCode: 0 });
    expect(published(h).at(-1)!.error).toBeUndefined();
  });
});

describe("maxSendAttempts: the count is session state", () => {
  it("survives exportSession / importSession (and JSON) between connections: still exactly maxSendAttempts PUBLISH in all", () => {
    const opts = { protocolVersion: 4 as const, clean: false, maxSendAttempts: 3 };
    let h = new Harness(opts);
    h.connect();
    const mid = h.conn.publish(h.now, { topic: "poison", payload: x, qos: 2 });
    h.flush();
    h.lose();
    let wire = publishesOf(h, "poison").length;
    for (let round = 1; round <= 2; round++) {
      const exported = h.conn.exportSession(h.now);
      expect(exported.outgoing).toMatchObject([{ mid, state: "publish", sent: true, attempts: round }]);
      // Through a store: JSON text.
      const json = sessionToJSON(exported);
      expect(json.outgoing[0]!.attempts).toBe(round);
      const back: SessionState = sessionFromJSON(JSON.parse(JSON.stringify(json)));
      expect(back).toEqual(exported);
      h = new Harness(opts);
      h.conn.importSession(h.now, back);
      expect(h.conn.exportSession(h.now)).toEqual(exported);
      poisonRound(h);
      wire += publishesOf(h, "poison").length;
    }
    expect(wire).toBe(3);
    const n = new Harness(opts);
    n.conn.importSession(n.now, h.conn.exportSession(h.now));
    expect(n.connect({ sessionPresent: true })).toEqual([]);
    expect(published(n)).toMatchObject([{ mid, qos: 2, reasonCode: 0x80, packetId: 1, error: { code: ErrorCode.SendAttemptsExhausted } }]);
    expect(n.conn.exportSession(n.now).retiredPacketIds).toEqual([1]);
  });

  it("an export while connected counts the connection in use (a session read back goes on a new connection)", () => {
    const h = new Harness({ protocolVersion: 4, clean: false, maxSendAttempts: 2 });
    h.connect();
    h.conn.publish(h.now, { topic: "t", payload: x, qos: 1 });
    expect(h.conn.exportSession(h.now).outgoing[0]!.attempts).toBeUndefined(); // in the output, not handed out
    h.flush();
    const exported = h.conn.exportSession(h.now);
    expect(exported.outgoing).toMatchObject([{ attempts: 1 }]);
    // The process dies; the session comes back on a new engine: the lost connection counted once, not twice.
    const n = new Harness({ protocolVersion: 4, clean: false, maxSendAttempts: 2 });
    n.conn.importSession(n.now, exported);
    expect(poisonRound(n)).toMatchObject([{ type: "publish", topic: "t", dup: true }]);
    expect(n.conn.exportSession(n.now).outgoing).toMatchObject([{ attempts: 2 }]);
    expect(n.connect({ sessionPresent: true })).toEqual([]);
    expect(published(n)).toMatchObject([{ error: { code: ErrorCode.SendAttemptsExhausted } }]);
  });

  it("an imported message that has used its attempts is given up, in flight (keeping a sent QoS 2 id reserved) or queued", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, maxSendAttempts: 4, properties: { sessionExpiryInterval: 600 } });
    h.conn.importSession(h.now, {
      format: 1,
      clientId: "test-client",
      nextPacketId: 4,
      nextMid: 6,
      outgoing: [
        { mid: 1, topic: "a", payload: x, qos: 2, retain: false, state: "publish", packetId: 1, sent: true, attempts: 4 },
        { mid: 2, topic: "b", payload: x, qos: 1, retain: false, state: "publish", packetId: 2, sent: true, attempts: 3 },
        { mid: 3, topic: "c", payload: x, qos: 1, retain: false, state: "publish", packetId: 3, sent: true, attempts: 9 },
        { mid: 4, topic: "d", payload: x, qos: 1, retain: false, state: "queued", attempts: 4 },
        { mid: 5, topic: "e", payload: x, qos: 2, retain: false, state: "queued", attempts: 1 },
      ],
      incomingQos2: [],
      subscriptions: [],
    });
    expect(h.connect({ sessionPresent: true })).toEqual([
      { type: "publish", topic: "b", payload: x, qos: 1, retain: false, dup: true, packetId: 2 },
      { type: "publish", topic: "e", payload: x, qos: 2, retain: false, dup: false, packetId: 4 },
    ]);
    expect(published(h).map((e) => [e.mid, e.packetId, e.error?.code])).toEqual([
      [1, 1, ErrorCode.SendAttemptsExhausted],
      [3, 3, ErrorCode.SendAttemptsExhausted],
      [4, undefined, ErrorCode.SendAttemptsExhausted],
    ]);
    expect(h.conn.exportSession(h.now).retiredPacketIds).toEqual([1]);
  });

  it("an invalid `attempts` in an imported session is refused with ERR_ARGUMENT naming the field, changing nothing", () => {
    const h = new Harness({ protocolVersion: 4, clean: false });
    const base = (attempts: unknown): SessionState =>
      ({
        format: 1,
        clientId: "c",
        nextPacketId: 2,
        nextMid: 3,
        outgoing: [
          { mid: 1, topic: "a", payload: x, qos: 1, retain: false, state: "queued" },
          { mid: 2, topic: "b", payload: x, qos: 1, retain: false, state: "publish", packetId: 1, attempts },
        ],
        incomingQos2: [],
        subscriptions: [],
      }) as unknown as SessionState;
    for (const bad of [-1, 0.5, Number.NaN, Infinity, Number.MAX_SAFE_INTEGER + 1, "1", null, true, [1], {}]) {
      const e = expectMisuse(h, () => h.conn.importSession(h.now, base(bad)), ErrorCode.InvalidArgument);
      expect(e.message).toMatch(/^session\.outgoing\[1\]\.attempts: /);
    }
    // Through JSON too.
    expect(() => sessionFromJSON(JSON.parse(JSON.stringify(sessionToJSON(base(-2)))))).not.toThrow();
    expect(thrown(() => h.conn.importSession(h.now, sessionFromJSON(JSON.parse(JSON.stringify(sessionToJSON(base(-2)))))))).toMatchObject({
      code: ErrorCode.InvalidArgument,
      message: expect.stringMatching(/^session\.outgoing\[1\]\.attempts: /),
    });
    // 0 and absent are the same: nothing is written back.
    h.conn.importSession(h.now, base(0));
    expect(h.conn.exportSession(h.now).outgoing.map((m) => "attempts" in m)).toEqual([false, false]);
    h.conn.importSession(h.now, base(7));
    expect(h.conn.exportSession(h.now).outgoing.find((m) => m.mid === 2)).toMatchObject({ attempts: 7 });
  });
});

describe("maxSendAttempts: the option", () => {
  it("is an integer of 1 or more; anything else is refused with ERR_ARGUMENT naming it", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, "3", null, true]) {
      const e = thrown(() => new MqttConnection({ maxSendAttempts: bad as number }));
      expect(e).toBeInstanceOf(LocalProtocolError);
      expect((e as LocalProtocolError).code).toBe(ErrorCode.InvalidArgument);
      expect((e as Error).message).toMatch(/^maxSendAttempts \(network connections\) must be an integer in 1\.\./);
    }
    for (const good of [1, 2, 10, Number.MAX_SAFE_INTEGER]) expect(() => new MqttConnection({ maxSendAttempts: good })).not.toThrow();
    // A misspelling is still an unknown option.
    const e = thrown(() => new MqttConnection({ maxSendAttempt: 3 } as never));
    expect((e as LocalProtocolError).code).toBe(ErrorCode.InvalidArgument);
    expect((e as Error).message).toMatch(/unknown option "maxSendAttempt"/);
  });
});
