/**
 * The fixture table (test/fixtures/packets.ts) drives the codec both ways:
 * decode (with trailing junk left buffered), encode (exact bytes), mirror
 * (decode(encode(p)) = p), and the streaming decoder fed the bytes whole, one
 * byte at a time and split at every offset.
 */
import { describe, expect, it } from "vitest";
import { decodePacket, encodePacket, PACKET_TYPES, PacketDecoder, type Packet } from "../src/codec/index.js";
import { type ProtocolVersion } from "../src/index.js";
import { FIXTURES, fixtureBytes, type Fixture } from "./fixtures/packets.js";

const JUNK = [0xde, 0xad, 0xbe, 0xef];

function hex(b: ArrayLike<number>): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Split offsets to try: all of them for small packets, a sample for the 16 KB one. */
function splitOffsets(len: number): number[] {
  if (len <= 1024) return Array.from({ length: len - 1 }, (_, i) => i + 1);
  const out = new Set<number>();
  for (let i = 1; i < 12; i++) out.add(i);
  for (let i = len - 11; i < len; i++) out.add(i);
  for (let i = 12; i < len - 11; i += 997) out.add(i);
  return [...out].sort((a, b) => a - b);
}

describe("fixture table", () => {
  it("has unique names", () => {
    const names = FIXTURES.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it("covers every packet type in every version where it exists", () => {
    const types = PACKET_TYPES;
    for (const v of [3, 4, 5] as ProtocolVersion[]) {
      const have = new Set(FIXTURES.filter((f) => f.version === v).map((f) => f.packet.type));
      const want = types.filter((t) => t !== "auth" || v === 5);
      expect([...have].sort(), `version ${v}`).toEqual([...want].sort());
    }
  });

  it("names the version of every CONNECT fixture consistently", () => {
    for (const f of FIXTURES) {
      if (f.packet.type === "connect") expect(f.packet.protocolVersion, f.name).toBe(f.version);
    }
  });
});

describe.each(FIXTURES.map((f) => [f.name, f] as [string, Fixture]))("%s", (_name, f) => {
  const bytes = fixtureBytes(f);

  it("decodes, leaving trailing bytes buffered", () => {
    const d = new PacketDecoder({ protocolVersion: f.version });
    d.push(concat(bytes, JUNK));
    expect(d.next()).toStrictEqual(f.packet);
    expect(d.bufferedBytes).toBe(JUNK.length);
  });

  it("encodes to exactly the bytes", () => {
    expect(hex(encodePacket(f.packet, f.version))).toBe(hex(bytes));
  });

  it("mirrors: decode(encode(packet)) equals packet", () => {
    expect(decodePacket(encodePacket(f.packet, f.version), f.version)).toStrictEqual(f.packet);
  });

  it("decodes whole with decodePacket", () => {
    expect(decodePacket(bytes, f.version)).toStrictEqual(f.packet);
  });

  it("decodes fed one byte at a time", () => {
    const d = new PacketDecoder({ protocolVersion: f.version });
    for (let i = 0; i < bytes.length - 1; i++) {
      d.push(bytes.subarray(i, i + 1));
      expect(d.next()).toBeUndefined();
    }
    d.push(bytes.subarray(bytes.length - 1));
    expect(d.next()).toStrictEqual(f.packet);
    expect(d.bufferedBytes).toBe(0);
    expect(d.next()).toBeUndefined();
  });

  it("decodes split at every offset", () => {
    for (const at of splitOffsets(bytes.length)) {
      const d = new PacketDecoder({ protocolVersion: f.version });
      d.push(bytes.slice(0, at));
      expect(d.next(), `split at ${at}`).toBeUndefined();
      d.push(concat(bytes.subarray(at), JUNK));
      expect(d.next(), `split at ${at}`).toStrictEqual(f.packet);
      expect(d.bufferedBytes).toBe(JUNK.length);
    }
  });
});

describe("streams of fixtures", () => {
  for (const v of [3, 4, 5] as ProtocolVersion[]) {
    const list = FIXTURES.filter((f) => f.version === v && f.bytes.length <= 1024);
    const stream = concat(...list.map((f) => f.bytes));

    it(`decodes every v${v} fixture back to back, in chunks of 7 bytes`, () => {
      const d = new PacketDecoder({ protocolVersion: v });
      const out: Packet[] = [];
      for (let i = 0; i < stream.length; i += 7) {
        d.push(stream.subarray(i, i + 7));
        for (let p = d.next(); p !== undefined; p = d.next()) out.push(p);
      }
      expect(out).toStrictEqual(list.map((f) => f.packet));
      expect(d.bufferedBytes).toBe(0);
    });

    it(`decodes every v${v} fixture from one chunk`, () => {
      const d = new PacketDecoder({ protocolVersion: v });
      d.push(stream);
      const out: Packet[] = [];
      for (let p = d.next(); p !== undefined; p = d.next()) out.push(p);
      expect(out).toStrictEqual(list.map((f) => f.packet));
    });
  }

  it("a decoded CONNECT switches the decoder to its protocol version", () => {
    const connect5 = FIXTURES.find((f) => f.name === "v5 CONNECT minimal")!;
    const puback5 = FIXTURES.find((f) => f.name === "v5 PUBACK with reason code 0x10")!;
    const d = new PacketDecoder({ protocolVersion: 4 });
    d.push(concat(connect5.bytes, puback5.bytes));
    expect(d.next()).toStrictEqual(connect5.packet);
    expect(d.protocolVersion).toBe(5);
    expect(d.next()).toStrictEqual(puback5.packet);
  });
});
