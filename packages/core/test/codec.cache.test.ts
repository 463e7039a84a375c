/**
 * The codec's state between calls, shared by every connection: the topic
 * caches (decode: a 256-slot table keyed by a hash of the topic bytes; encode:
 * a map of ASCII topics) and the encoder's output slab. They must never change
 * a result:
 * topics that collide in a slot, topics that differ only where the hash does
 * not look, a cached topic next to an invalid one, and more topics than slots;
 * two decoders taking turns; an output (or a decoded chunk) whose buffer the
 * caller transfers to a worker, which detaches it, or overwrites.
 */
import { describe, expect, it } from "vitest";
import { checkPacket, CHUNKED_PAYLOAD_MIN, writePacket, writePacketChunks } from "../src/codec/encode.js";
import { decodePacket, encodePacket, PacketDecoder, type PublishPacket } from "../src/codec/index.js";
import { ErrorCode, type ProtocolVersion, RemoteProtocolError } from "../src/index.js";

const pub = (topic: string): PublishPacket => ({ type: "publish", topic, payload: new Uint8Array([1]), qos: 0, retain: false, dup: false });
const roundTrip = (topic: string): string => (decodePacket(encodePacket(pub(topic), 4), 4) as PublishPacket).topic;

describe("topic caches", () => {
  it("topics with the same length, first, middle and last byte (one decode slot) stay apart", () => {
    const a = "a/xxxxQxxxx/z";
    const b = "a/yyyyQyyyy/z";
    for (let i = 0; i < 5; i++) {
      expect(roundTrip(a)).toBe(a);
      expect(roundTrip(b)).toBe(b);
    }
  });

  it("topics in one slot that differ only in a byte past the last four-byte word still differ", () => {
    const base = "sensors/building-7/floor-3/temperature"; // 38 bytes: bytes 36 and 37 follow the last word
    const other = `${base.slice(0, 36)}X${base.slice(37)}`; // byte 36 is not hashed: same slot
    expect(other.length).toBe(base.length);
    for (const t of [base, other, base, other]) expect(roundTrip(t)).toBe(t);
  });

  it("more distinct topics than slots, twice over, all come back exact", () => {
    const topics = Array.from({ length: 1000 }, (_, i) => `t/${i}/${"é".repeat(i % 5)}`);
    for (let pass = 0; pass < 2; pass++) for (const t of topics) expect(roundTrip(t)).toBe(t);
  });

  it("a cached topic does not make a wildcard topic of the same shape valid", () => {
    expect(roundTrip("a/b")).toBe("a/b");
    const bytes = encodePacket(pub("a/b"), 4);
    bytes[bytes.indexOf(0x62)] = 0x2b; // "a/b" -> "a/+"
    const err = (() => {
      try {
        decodePacket(bytes, 4);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(RemoteProtocolError);
    expect((err as RemoteProtocolError).code).toBe(ErrorCode.TopicInvalid);
  });

  it("a topic decoded from a view of a larger buffer is copied, not kept as a view", () => {
    const bytes = encodePacket(pub("copy/me"), 4);
    const big = new Uint8Array(bytes.length + 10);
    big.set(bytes, 5);
    expect((decodePacket(big.subarray(5, 5 + bytes.length), 4) as PublishPacket).topic).toBe("copy/me");
    big.fill(0);
    expect(roundTrip("copy/me")).toBe("copy/me");
  });
});

/** Detaches `buf`'s ArrayBuffer, as a transfer to a worker does (postMessage with a transfer list). */
function detach(buf: Uint8Array): void {
  const ab = buf.buffer as ArrayBuffer;
  structuredClone(ab, { transfer: [ab] });
  expect(buf.byteLength).toBe(0);
}

describe("outputs handed out are the caller's: transferring one is harmless to later encodes", () => {
  const expected = (p: PublishPacket, v: ProtocolVersion): number[] => {
    const bytes = encodePacket(p, v);
    return [...bytes];
  };

  it("encode, detach the output's buffer, encode more: the bytes are right (cached topic, new topics, every size)", () => {
    const topic = "detach/me/please";
    const small = pub(topic);
    const want = expected(small, 4);
    // Fill the cache and the slab, then transfer an output.
    const first = encodePacket(small, 4);
    detach(first);
    for (let i = 0; i < 300; i++) {
      expect([...encodePacket(small, 4)]).toEqual(want);
      const other = pub(`detach/${i}`);
      const bytes = encodePacket(other, 4);
      expect((decodePacket(bytes, 4) as PublishPacket).topic).toBe(`detach/${i}`);
      if (i % 7 === 0) detach(bytes);
    }
    for (const n of [1, 1000, 4000, 8192, 9000, 70_000]) {
      const big: PublishPacket = { ...small, payload: new Uint8Array(n).fill(n & 0xff) };
      const a = encodePacket(big, 4);
      const copy = a.slice();
      detach(a);
      const b = encodePacket(big, 4);
      expect(b.length).toBe(copy.length);
      expect(b.every((x, i) => x === copy[i])).toBe(true);
      expect([...encodePacket(small, 4)]).toEqual(want);
    }
  });

  it("a detached chunk of writePacketChunks and of writePacket leaves later writes right", () => {
    const p: PublishPacket = { ...pub("chunks/x"), payload: new Uint8Array(CHUNKED_PAYLOAD_MIN).fill(5) };
    const size = checkPacket(p, 5);
    const [head] = writePacketChunks(p, 5, size);
    const headCopy = head!.slice();
    detach(head!);
    const [again] = writePacketChunks(p, 5, size);
    expect([...again!]).toEqual([...headCopy]);
    const one = writePacket(pub("chunks/y"), 5);
    detach(one);
    expect([...writePacket(pub("chunks/y"), 5)]).toEqual(expected(pub("chunks/y"), 5));
  });

  it("changing an output's bytes changes no later output (the encoder's cached topic bytes are its own)", () => {
    const p = pub("mutate/topic");
    const want = expected(p, 4);
    const a = encodePacket(p, 4);
    a.fill(0x2b);
    expect([...encodePacket(p, 4)]).toEqual(want);
  });
});

describe("the decoder's topic table, shared by every decoder, cannot change a result", () => {
  it("two decoders taking turns on colliding topics each get their own packets", () => {
    const a = "a/xxxxQxxxx/z";
    const b = "a/yyyyQyyyy/z";
    const d1 = new PacketDecoder({ protocolVersion: 4 });
    const d2 = new PacketDecoder({ protocolVersion: 4 });
    for (let i = 0; i < 10; i++) {
      d1.push(encodePacket(pub(a), 4));
      d2.push(encodePacket(pub(b), 4));
      expect((d2.next() as PublishPacket).topic).toBe(b);
      expect((d1.next() as PublishPacket).topic).toBe(a);
    }
  });

  it("a topic cached from a chunk later detached or overwritten still decodes from new bytes", () => {
    const bytes = encodePacket(pub("cached/then/detached"), 4).slice();
    expect((decodePacket(bytes, 4) as PublishPacket).topic).toBe("cached/then/detached");
    detach(bytes);
    expect(roundTrip("cached/then/detached")).toBe("cached/then/detached");
    const reused = encodePacket(pub("cached/then/reused"), 4).slice();
    expect((decodePacket(reused, 4) as PublishPacket).topic).toBe("cached/then/reused");
    reused.fill(0x61, 4, 4 + 18); // the same buffer, the topic's 18 bytes now all "a"
    expect((decodePacket(reused, 4) as PublishPacket).topic).toBe("a".repeat(18));
  });
});
