/**
 * The engine's public API as cut for 0.1: the root export, tokens, payload
 * ownership, and the events `pollTransmit` can make ready.
 */
import { describe, expect, it } from "vitest";
import * as root from "../src/index.js";
import * as codec from "../src/codec/index.js";
import { Harness, serverPublish, te } from "./helpers/peer.js";

describe("the public API", () => {
  it("the root export is the engine; the codec is at /codec; internals are on neither", () => {
    expect(typeof root.MqttConnection).toBe("function");
    expect(typeof codec.encodePacket).toBe("function");
    expect(typeof codec.PacketDecoder).toBe("function");
    for (const name of ["encodePacket", "PacketDecoder", "decodePacket", "PROPERTY_TABLE", "TRANSITIONS", "drainEvents"]) {
      expect(root).not.toHaveProperty(name);
    }
    expect(root.MqttConnection.prototype).not.toHaveProperty("dataToSend");
    expect(root.MqttConnection.prototype).not.toHaveProperty("drainEvents");
  });

  it("a publish token comes back in its published event, for every QoS and for a failure", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect({ properties: { maximumQoS: 1 } });
    const tokens = [{ n: 0 }, { n: 1 }];
    h.conn.publish(h.now, { topic: "t", payload: te.encode("a"), qos: 0, token: tokens[0] });
    h.conn.publish(h.now, { topic: "t", payload: te.encode("b"), qos: 1, token: tokens[1] });
    h.flush();
    h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 });
    const published = h.events.filter((e) => e.type === "published");
    expect(published.map((e) => (e as root.PublishedEvent).token)).toEqual(tokens);
    // Not session state: an exported session holds no tokens.
    h.conn.publish(h.now, { topic: "t", payload: te.encode("c"), qos: 1, token: "kept in memory only" });
    expect(JSON.stringify(root.sessionToJSON(h.conn.exportSession(h.now)))).not.toContain("kept in memory only");
  });

  it("payload ownership: a message's payload is a view of the pushed chunk, so the engine owns what it was given", () => {
    const h = new Harness();
    h.connect();
    const chunk = codec.encodePacket(serverPublish("t", "abcd"), 4);
    h.conn.receiveData(h.now, chunk);
    const [e] = h.drain();
    if (e?.type !== "message") throw new Error("expected a message");
    expect(new TextDecoder().decode(e.payload)).toBe("abcd");
    // Reusing the pushed chunk changes the payload: that is why the contract says not to.
    chunk.fill(0x7a, chunk.length - 4);
    expect(new TextDecoder().decode(e.payload)).toBe("zzzz");
  });

  it("wantsEvents: pollTransmit can make events ready (QoS 0 published) without more input", () => {
    const h = new Harness();
    h.connect();
    h.conn.publish(h.now, { topic: "t", payload: te.encode("x") });
    expect(h.conn.wantsEvents()).toBe(false);
    h.conn.pollTransmit(h.now);
    expect(h.conn.wantsEvents()).toBe(true);
    expect(h.drain()).toMatchObject([{ type: "published", qos: 0, reasonCode: 0 }]);
    expect(h.conn.wantsEvents()).toBe(false);
  });
});
