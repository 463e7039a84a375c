/**
 * A server that breaks the protocol: never an exception out of the receive
 * path, always a final `closed` event with (MQTT 5) the DISCONNECT queued.
 */
import { describe, expect, it } from "vitest";
import { encodePacket, type Packet } from "../src/codec/index.js";
import { ErrorCode, RemoteProtocolError } from "../src/index.js";
import { Harness, serverPublish, te, messageEvent } from "./helpers/peer.js";

function expectProtocolError(h: Harness, evs: readonly unknown[], code: string, reasonCode = 0x82): void {
  expect(evs).toHaveLength(1);
  expect(evs[0]).toMatchObject({ type: "closed", reason: { kind: "protocol-error", reasonCode, error: { code, reasonCode } } });
  const e = (evs[0] as { reason: { error: unknown } }).reason.error;
  expect(e).toBeInstanceOf(RemoteProtocolError);
  expect(h.conn.state).toBe("closed");
  expect(h.conn.pollTimeout()).toBeUndefined();
  const sent = h.flush();
  if (h.version === 5) {
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ type: "disconnect", reasonCode, properties: { reasonString: expect.any(String) } });
  } else {
    expect(sent).toEqual([]);
  }
  // Nothing more: later packets are ignored, and no event follows the closed one.
  expect(h.serverSends({ type: "pingresp" })).toEqual([]);
  h.advanceTo(h.now + 1_000_000);
  expect(h.flush()).toEqual([]);
  expect(h.drain()).toEqual([]);
}

const serverOnly: Packet[] = [
  { type: "connect", protocolVersion: 5, clean: true, keepAlive: 0, clientId: "x" },
  { type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "a", qos: 0 }] },
  { type: "unsubscribe", packetId: 1, topicFilters: ["a"] },
  { type: "pingreq" },
];

describe("unexpected packets", () => {
  for (const v of [4, 5] as const) {
    describe(`MQTT ${v === 5 ? "5" : "3.1.1"}`, () => {
      it("PUBLISH before CONNACK", () => {
        const h = new Harness({ protocolVersion: v });
        h.conn.connect(0);
        h.flush();
        expectProtocolError(h, h.serverSends(serverPublish("t", "x", { qos: 1, packetId: 1 })), ErrorCode.UnexpectedPacket);
        expect(h.sent.filter((p) => p.type === "puback")).toEqual([]);
      });

      for (const p of [{ type: "puback", packetId: 1, reasonCode: 0 }, { type: "suback", packetId: 1, reasonCodes: [0] }, { type: "pingresp" }] as Packet[]) {
        it(`${p.type.toUpperCase()} before CONNACK`, () => {
          const h = new Harness({ protocolVersion: v });
          h.conn.connect(0);
          h.flush();
          expectProtocolError(h, h.serverSends(p), ErrorCode.UnexpectedPacket);
        });
      }

      for (const p of serverOnly) {
        it(`${p.type.toUpperCase()} from the server`, () => {
          const h = new Harness({ protocolVersion: v });
          h.connect();
          const bytes = p.type === "connect" ? encodePacket({ ...p, protocolVersion: v }, v) : encodePacket(p, v);
          expectProtocolError(h, h.serverSendsBytes(bytes), ErrorCode.UnexpectedPacket);
        });
      }

      it("a second CONNACK", () => {
        const h = new Harness({ protocolVersion: v });
        h.connect();
        expectProtocolError(h, h.serverSends({ type: "connack", sessionPresent: false, reasonCode: 0 }), ErrorCode.UnexpectedPacket);
      });

      it("PUBACK for a QoS 2 message, PUBREC for a QoS 1 message", () => {
        const h = new Harness({ protocolVersion: v });
        h.connect();
        h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 2 });
        h.flush();
        expectProtocolError(h, h.serverSends({ type: "puback", packetId: 1, reasonCode: 0 }), ErrorCode.AckMismatch);
        const h2 = new Harness({ protocolVersion: v });
        h2.connect();
        h2.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 1 });
        h2.flush();
        expectProtocolError(h2, h2.serverSends({ type: "pubrec", packetId: 1, reasonCode: 0 }), ErrorCode.AckMismatch);
      });

      it("PUBCOMP before PUBREL", () => {
        const h = new Harness({ protocolVersion: v });
        h.connect();
        h.conn.publish(0, { topic: "t", payload: te.encode("x"), qos: 2 });
        h.flush();
        expectProtocolError(h, h.serverSends({ type: "pubcomp", packetId: 1, reasonCode: 0 }), ErrorCode.AckMismatch);
      });
    });
  }

  it("events before the bad packet are delivered, and its acks still go out before the DISCONNECT", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const evs = h.serverSends(serverPublish("t", "1", { qos: 1, packetId: 1 }), { type: "pingreq" }, serverPublish("t", "2", { qos: 1, packetId: 2 }));
    expect(evs.map((e) => e.type)).toEqual(["message", "closed"]);
    expect(h.flush()).toMatchObject([{ type: "puback", packetId: 1 }, { type: "disconnect", reasonCode: 0x82 }]);
  });
});

describe("malformed input", () => {
  it("[MQTT-3.14.1-1] a DISCONNECT with reserved header bits set gets DISCONNECT 0x81", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const evs = h.serverSendsBytes(Uint8Array.of(0xe1, 0x00));
    expectProtocolError(h, evs, ErrorCode.FixedHeaderFlags, 0x81);
  });

  it("a PUBREL with wrong fixed header flags gets DISCONNECT 0x81", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    expectProtocolError(h, h.serverSendsBytes(Uint8Array.of(0x60, 0x02, 0x00, 0x01)), ErrorCode.FixedHeaderFlags, 0x81);
  });

  it("a packet over our Maximum Packet Size gets DISCONNECT 0x95, before its body arrives", () => {
    const h = new Harness({ protocolVersion: 5, properties: { maximumPacketSize: 64 } });
    h.connect();
    // Only the fixed header of a 1,000-byte PUBLISH.
    expectProtocolError(h, h.serverSendsBytes(Uint8Array.of(0x30, 0xe8, 0x07)), ErrorCode.PacketTooLarge, 0x95);
  });

  it("AUTH in 3.1.1 (packet type 15) is malformed", () => {
    const h = new Harness({ protocolVersion: 4 });
    h.connect();
    expectProtocolError(h, h.serverSendsBytes(Uint8Array.of(0xf0, 0x00)), ErrorCode.PacketTypeInvalid, 0x81);
  });

  it("a packet split across many chunks is parsed once whole", () => {
    const h = new Harness({ protocolVersion: 5 });
    h.connect();
    const p = serverPublish("split/topic", "payload", { qos: 1, packetId: 3, properties: { userProperties: [["a", "b"]] } });
    const bytes = encodePacket(p, 5);
    for (const b of bytes.subarray(0, -1)) {
      h.conn.receiveData(h.now, Uint8Array.of(b));
      expect(h.drain()).toEqual([]);
    }
    h.conn.receiveData(h.now, bytes.subarray(-1));
    expect(h.drain()).toEqual([messageEvent(p)]);
  });
});
