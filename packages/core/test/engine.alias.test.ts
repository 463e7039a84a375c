/**
 * MQTT 5 topic aliases, inbound (ours: Topic Alias Maximum in CONNECT) and
 * outbound (the server's, from CONNACK): user-set and automatic (LRU).
 */
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../src/index.js";
import { Harness, serverPublish, te, messageEvent } from "./helpers/peer.js";

const x = te.encode("x");

describe("inbound topic aliases", () => {
  it("[MQTT-3.3.2-10] maps aliases 1..our maximum and resolves an empty topic through them", () => {
    const h = new Harness({ protocolVersion: 5, properties: { topicAliasMaximum: 3 } });
    h.connect();
    const evs = h.serverSends(
      serverPublish("a/b", "1", { properties: { topicAlias: 1 } }),
      serverPublish("", "2", { properties: { topicAlias: 1 } }),
      serverPublish("c/d", "3", { properties: { topicAlias: 3 } }),
      serverPublish("", "4", { qos: 1, packetId: 1, properties: { topicAlias: 3 } }),
      // Remapping alias 1.
      serverPublish("e", "5", { properties: { topicAlias: 1 } }),
      serverPublish("", "6", { properties: { topicAlias: 1 } }),
    );
    expect(evs.map((e) => (e.type === "message" ? [e.topic, new TextDecoder().decode(e.payload)] : e.type))).toEqual([
      ["a/b", "1"],
      ["a/b", "2"],
      ["c/d", "3"],
      ["c/d", "4"],
      ["e", "5"],
      ["e", "6"],
    ]);
    // The message keeps the alias property it came with.
    expect(evs[1]).toEqual(messageEvent(serverPublish("a/b", "2", { properties: { topicAlias: 1 } })));
    expect(h.flush()).toEqual([{ type: "puback", packetId: 1, reasonCode: 0 }]);
  });

  it("an alias above our Topic Alias Maximum gets DISCONNECT 0x94", () => {
    const h = new Harness({ protocolVersion: 5, properties: { topicAliasMaximum: 2 } });
    h.connect();
    const evs = h.serverSends(serverPublish("a", "1", { properties: { topicAlias: 3 } }));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x94, error: { code: ErrorCode.TopicAliasInvalid } } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x94 }]);
  });

  it("any alias is invalid when we announced no Topic Alias Maximum", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const evs = h.serverSends(serverPublish("a", "1", { properties: { topicAlias: 1 } }));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x94 } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x94 }]);
  });

  it("an empty topic with an alias never mapped closes with 0x94 Topic Alias invalid (hardening: every invalid alias is 0x94)", () => {
    const h = new Harness({ protocolVersion: 5, properties: { topicAliasMaximum: 5 } });
    h.connect();
    const evs = h.serverSends(serverPublish("", "1", { properties: { topicAlias: 2 } }));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x94, error: { code: ErrorCode.TopicAliasInvalid } } }]);
    expect(h.flush()).toMatchObject([{ type: "disconnect", reasonCode: 0x94 }]);
  });

  it("[MQTT-3.3.2-7] inbound mappings last one connection", () => {
    const h = new Harness({ protocolVersion: 5, properties: { topicAliasMaximum: 5 } });
    h.connect();
    h.serverSends(serverPublish("a", "1", { properties: { topicAlias: 1 } }));
    h.lose();
    h.connect();
    const evs = h.serverSends(serverPublish("", "2", { properties: { topicAlias: 1 } }));
    expect(evs).toMatchObject([{ type: "closed", reason: { kind: "protocol-error", reasonCode: 0x94, error: { code: ErrorCode.TopicAliasInvalid } } }]);
  });
});

describe("outbound topic aliases", () => {
  it("[MQTT-3.3.2-9] [MQTT-3.2.2-17] a user-set alias within the server's maximum: full topic first, then empty", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { topicAliasMaximum: 2 } });
    h.conn.publish(0, { topic: "long/topic", payload: x, properties: { topicAlias: 2 } });
    h.conn.publish(0, { topic: "long/topic", payload: x, properties: { topicAlias: 2 } });
    // Another topic on the same alias remaps it.
    h.conn.publish(0, { topic: "other", payload: x, properties: { topicAlias: 2 } });
    h.conn.publish(0, { topic: "other", payload: x, qos: 1, properties: { topicAlias: 2 } });
    expect(h.flush()).toEqual([
      { type: "publish", topic: "long/topic", payload: x, qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } },
      { type: "publish", topic: "", payload: x, qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } },
      { type: "publish", topic: "other", payload: x, qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } },
      { type: "publish", topic: "", payload: x, qos: 1, retain: false, dup: false, packetId: 1, properties: { topicAlias: 2 } },
    ]);
  });

  it("[MQTT-3.3.2-8] never sends topic alias 0", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { topicAliasMaximum: 2 } });
    expect(() => h.conn.publish(0, { topic: "t", payload: x, properties: { topicAlias: 0 } })).toThrow(expect.objectContaining({ code: ErrorCode.TopicAliasInvalid }));
    expect(h.flush()).toEqual([]);
  });

  it("autoTopicAlias assigns aliases within the server's maximum, replacing the least recently used", () => {
    const h = new Harness({ protocolVersion: 5, autoTopicAlias: true });
    h.connect({ properties: { topicAliasMaximum: 2 } });
    for (const t of ["a", "b", "a", "c", "b", "c", "c"]) h.conn.publish(0, { topic: t, payload: x });
    expect(h.flush().map((p) => (p.type === "publish" ? [p.topic, p.properties?.topicAlias] : p.type))).toEqual([
      ["a", 1],
      ["b", 2],
      ["", 1], // a
      ["c", 2], // b was least recently used
      ["b", 1], // a was least recently used
      ["", 2], // c
      ["", 2], // c
    ]);
  });

  it("[MQTT-3.2.2-18] autoTopicAlias sends no aliases when the server allows none", () => {
    const h = new Harness({ protocolVersion: 5, autoTopicAlias: true });
    h.connect({ properties: { topicAliasMaximum: 0 } });
    h.conn.publish(0, { topic: "a", payload: x });
    h.conn.publish(0, { topic: "a", payload: x });
    expect(h.flush()).toEqual([
      { type: "publish", topic: "a", payload: x, qos: 0, retain: false, dup: false },
      { type: "publish", topic: "a", payload: x, qos: 0, retain: false, dup: false },
    ]);
  });

  it("[MQTT-3.3.2-7] outbound mappings last one connection: resends after a reconnect carry the full topic", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 }, autoTopicAlias: true });
    h.connect({ properties: { topicAliasMaximum: 4 } });
    h.conn.publish(0, { topic: "a", payload: x, qos: 1 });
    h.conn.publish(0, { topic: "a", payload: x, qos: 1 });
    expect(h.flush().map((p) => (p.type === "publish" ? [p.topic, p.properties?.topicAlias] : p.type))).toEqual([
      ["a", 1],
      ["", 1],
    ]);
    h.lose();
    expect(h.connect({ sessionPresent: true, properties: { topicAliasMaximum: 4 } })).toEqual([
      { type: "publish", topic: "a", payload: x, qos: 1, retain: false, dup: true, packetId: 1, properties: { topicAlias: 1 } },
      { type: "publish", topic: "", payload: x, qos: 1, retain: false, dup: true, packetId: 2, properties: { topicAlias: 1 } },
    ]);
  });

  it("[MQTT-3.3.2-7] a user-set alias on a message queued for the next connection is set up again with the full topic", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { topicAliasMaximum: 4 } });
    h.conn.publish(0, { topic: "t", payload: x, properties: { topicAlias: 3 } });
    h.flush();
    h.lose();
    h.conn.publish(0, { topic: "t", payload: x, properties: { topicAlias: 3 } });
    expect(h.connect({ properties: { topicAliasMaximum: 4 } })).toEqual([
      { type: "publish", topic: "t", payload: x, qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } },
    ]);
  });

  it("[MQTT-3.3.2-9] [MQTT-3.2.2-18] a resend after reconnect never uses an alias the new connection does not allow", () => {
    const h = new Harness({ protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } });
    h.connect({ properties: { topicAliasMaximum: 4 } });
    h.conn.publish(0, { topic: "t", payload: x, qos: 1, properties: { topicAlias: 3, contentType: "c" } });
    expect(h.flush()).toMatchObject([{ type: "publish", topic: "t", properties: { topicAlias: 3 } }]);
    h.lose();
    // The server now allows aliases up to 2 only.
    expect(h.connect({ sessionPresent: true, properties: { topicAliasMaximum: 2 } })).toEqual([
      { type: "publish", topic: "t", payload: x, qos: 1, retain: false, dup: true, packetId: 1, properties: { contentType: "c" } },
    ]);
    h.lose();
    // And none at all.
    expect(h.connect({ sessionPresent: true })).toEqual([
      { type: "publish", topic: "t", payload: x, qos: 1, retain: false, dup: true, packetId: 1, properties: { contentType: "c" } },
    ]);
  });
});
