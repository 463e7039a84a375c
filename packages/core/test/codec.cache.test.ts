/**
 * The codec's topic caches (decode: a 256-slot table keyed by a hash of the
 * topic bytes; encode: a map of ASCII topics) must never change a result:
 * topics that collide in a slot, topics that differ only where the hash does
 * not look, a cached topic next to an invalid one, and more topics than slots.
 */
import { describe, expect, it } from "vitest";
import { decodePacket, encodePacket, ErrorCode, type PublishPacket, RemoteProtocolError } from "../src/index.js";

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
