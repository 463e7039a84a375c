/**
 * The trusted writers: checkPacket measures (and checks) a packet, writePacket
 * and its kin write one already checked. For every fixture and for arbitrary
 * packets of every type and version (long fields included), check + write is
 * encodePacket byte for byte, whatever the writer: writePacket with and
 * without a size, writePacketInto at an offset, writePacketChunks.
 */
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arbPacket, arbPacketOfType, packetTypesOf } from "@sansmqtt/core/testing";
import {
  checkPacket,
  CHUNKED_PAYLOAD_MIN,
  encodePacket,
  packetSize,
  writePacket,
  writePacketChunks,
  writePacketInto,
} from "../src/codec/encode.js";
import { LocalProtocolError, type ProtocolVersion } from "../src/index.js";
import { type Packet, type PublishPacket } from "../src/codec/index.js";
import { FIXTURES, fixtureBytes } from "./fixtures/packets.js";

const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Byte equality, fast on megabytes (toEqual walks a Uint8Array element by element); says where they differ. */
function expectBytes(actual: Uint8Array, expected: Uint8Array, what = "bytes"): void {
  let at = -1;
  if (actual.length === expected.length) {
    for (let i = 0; i < actual.length; i++) {
      if (actual[i] !== expected[i]) {
        at = i;
        break;
      }
    }
  }
  expect(at === -1 && actual.length === expected.length, `${what}: length ${actual.length} vs ${expected.length}, first difference at ${at}`).toBe(true);
}

/** Every way of writing `p` gives `expected`, and every measure says its length. */
function expectAllWritersAgree(p: Packet, version: ProtocolVersion, expected: Uint8Array): void {
  const size = checkPacket(p, version);
  expect(size).toBe(expected.length);
  expect(packetSize(p, version)).toBe(size);
  expectBytes(writePacket(p, version, size), expected);
  expectBytes(writePacket(p, version), expected);
  // Into a larger buffer at an offset: the packet's bytes, nothing around them touched.
  const big = new Uint8Array(size + 7).fill(0xee);
  writePacketInto(p, version, size, big, 3);
  expectBytes(big.subarray(3, 3 + size), expected);
  expect(big[0] === 0xee && big[1] === 0xee && big[2] === 0xee && big.subarray(3 + size).every((b) => b === 0xee)).toBe(true);
  const chunks = writePacketChunks(p, version, size);
  expectBytes(concat(chunks), expected);
  if (p.type === "publish" && p.payload.length >= CHUNKED_PAYLOAD_MIN) {
    expect(chunks.length).toBe(2);
    expect(chunks[1]).toBe(p.payload); // the caller's payload, not a copy
    const head = new Uint8Array(size - p.payload.length);
    writePacketInto(p, version, size, head, 0, false);
    expectBytes(head, chunks[0]!);
  } else {
    expect(chunks.length).toBe(1);
  }
}

describe("check + write = encodePacket", () => {
  it("for every fixture, byte for byte", () => {
    for (const f of FIXTURES) {
      const expected = fixtureBytes(f);
      expectBytes(encodePacket(f.packet, f.version), expected, f.name);
      expectAllWritersAgree(f.packet, f.version, expected);
    }
  });

  for (const version of VERSIONS) {
    it(`for arbitrary packets of every type, MQTT ${version}`, () => {
      for (const type of packetTypesOf(version)) {
        fc.assert(
          fc.property(arbPacketOfType(type, version), (p) => {
            expectAllWritersAgree(p, version, encodePacket(p, version));
          }),
          { numRuns: 60 },
        );
      }
    });

    it(`with long fields (strings and binaries up to 65,535 bytes, property lists over 127 bytes), MQTT ${version}`, () => {
      const long = { longFields: 0.5, maxPayloadLength: 256, maxProperties: 8, maxUserProperties: 4, maxSubscriptions: 3 };
      fc.assert(
        fc.property(arbPacket(version, long), (p) => {
          expectAllWritersAgree(p, version, encodePacket(p, version));
        }),
        { numRuns: 100 },
      );
    });
  }

  it("PUBLISH payloads on both sides of the slab piece and chunking limits", () => {
    for (const n of [0, 1, 1000, 1024, 1025, CHUNKED_PAYLOAD_MIN - 50, CHUNKED_PAYLOAD_MIN - 1, CHUNKED_PAYLOAD_MIN, CHUNKED_PAYLOAD_MIN + 1, 70_000]) {
      for (const version of VERSIONS) {
        const payload = new Uint8Array(n).map((_, i) => i * 31);
        const p: PublishPacket = { type: "publish", topic: "t/ü/x", payload, qos: 1, retain: true, dup: true, packetId: 7 };
        if (version === 5) p.properties = { userProperties: [["k".repeat(200), "v"]], contentType: "a/b" };
        expectAllWritersAgree(p, version, encodePacket(p, version));
      }
    }
  });

  it("Remaining Length at each of its size boundaries", () => {
    for (const body of [0, 1, 127, 128, 129, 16_383, 16_384, 16_385, 2_097_151, 2_097_152]) {
      // A QoS 0 PUBLISH: 2 + 1 (topic "t") + payload.
      if (body < 3) continue;
      const p: PublishPacket = { type: "publish", topic: "t", payload: new Uint8Array(body - 3), qos: 0, retain: false, dup: false };
      const bytes = encodePacket(p, 4);
      expectAllWritersAgree(p, 4, bytes);
    }
  });
});

describe("checkPacket throws what encodePacket throws", () => {
  it("for invalid packets, with the same code", () => {
    const bad: [Packet, ProtocolVersion][] = [
      [{ type: "publish", topic: "a/#", payload: new Uint8Array(0), qos: 0, retain: false, dup: false }, 4],
      [{ type: "publish", topic: "a", payload: new Uint8Array(0), qos: 1, retain: false, dup: false }, 4],
      [{ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "$share/g/a", qos: 0, noLocal: true }] }, 5],
      [{ type: "connack", sessionPresent: true, reasonCode: 0x80 }, 5],
      [{ type: "puback", packetId: 1, reasonCode: 0x10, properties: { topicAlias: 1 } }, 5],
    ];
    for (const [p, v] of bad) {
      let fromEncode: unknown;
      try {
        encodePacket(p, v);
      } catch (e) {
        fromEncode = e;
      }
      expect(fromEncode).toBeInstanceOf(LocalProtocolError);
      expect(() => checkPacket(p, v)).toThrow(expect.objectContaining({ code: (fromEncode as LocalProtocolError).code }));
    }
  });
});

describe("a checked PUBLISH, changed the ways the engine changes it", () => {
  it("keeps its size with another packet id, DUP or message expiry; packetSize measures a topic alias in place of the topic", () => {
    for (const version of VERSIONS) {
      const p: PublishPacket = { type: "publish", topic: "sensors/a/b", payload: new Uint8Array(20), qos: 2, retain: false, dup: false, packetId: 1 };
      if (version === 5) p.properties = { messageExpiryInterval: 100 };
      const size = checkPacket(p, version);
      const resend: PublishPacket = { ...p, dup: true, packetId: 65_535 };
      if (version === 5) resend.properties = { messageExpiryInterval: 3 };
      expectBytes(writePacket(resend, version, size), encodePacket(resend, version));
      if (version === 5) {
        const aliased: PublishPacket = { ...resend, topic: "", properties: { ...resend.properties, topicAlias: 3 } };
        expectBytes(writePacket(aliased, version, packetSize(aliased, version)), encodePacket(aliased, version));
      }
    }
  });
});
