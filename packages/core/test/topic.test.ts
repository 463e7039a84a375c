/**
 * Topic names, topic filters and matching (spec 4.7, 4.8.2), with Paho's
 * topic_matches_sub semantics: "a/#" matches "a", '+' is exactly one level
 * (possibly empty), topics starting with '$' are not matched by a filter
 * starting with a wildcard, a shared subscription matches by the filter after
 * its share name, and an invalid filter or topic name never matches.
 *
 * IDs: 5.0 [MQTT-4.7.0-1] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1..3]
 * [MQTT-4.8.2-1] [MQTT-4.8.2-2]; 3.1.1 [MQTT-4.7.1-1] (wildcards) [MQTT-4.7.1-2] ('#')
 * [MQTT-4.7.1-3] ('+'); [MQTT-4.7.2-1] ('$' topics) is a server rule in both
 * standards (not in the client checklists) but is what topicMatchesSub implements.
 */
import { describe, expect, it } from "vitest";
import { decodePacket, encodePacket } from "../src/codec/index.js";
import { isSharedSubscription, isValidTopicFilter, isValidTopicName, parseSharedSubscription, RemoteProtocolError, topicMatchesSub } from "../src/index.js";

describe("isValidTopicName", () => {
  it.each([
    "a",
    "/",
    "//",
    "a/b/c",
    "/a",
    "a/",
    "sport/tennis/player1",
    "$SYS/broker/clients",
    "$share/g/t", // only a filter is special; as a name it is plain text
    " ",
    "a b/c d",
    "\uFEFF",
    "\u00FC/\u20AC/\u{1F600}",
    "a".repeat(65_535),
  ])("accepts %j [MQTT-4.7.3-1] [MQTT-4.7.3-3]", (t) => {
    expect(isValidTopicName(t)).toBe(true);
  });

  it.each(["+", "#", "a/+", "a/#", "+/a", "a+", "a#b", "sport/tennis/#", "$SYS/#"])(
    "rejects %j: no wildcards in topic names [MQTT-4.7.0-1] [MQTT-3.3.2-2]",
    (t) => {
      expect(isValidTopicName(t)).toBe(false);
    },
  );

  it("[MQTT-4.7.3-1] rejects the empty topic name", () => {
    expect(isValidTopicName("")).toBe(false);
  });

  it("[MQTT-4.7.3-2] rejects U+0000 anywhere", () => {
    for (const t of ["\u0000", "a\u0000", "\u0000a", "a/\u0000/b"]) expect(isValidTopicName(t)).toBe(false);
  });

  it("[MQTT-4.7.3-3] counts UTF-8 bytes, not characters, up to 65,535", () => {
    expect(isValidTopicName("a".repeat(65_535))).toBe(true);
    expect(isValidTopicName("a".repeat(65_536))).toBe(false);
    expect(isValidTopicName("\u00FC".repeat(32_767) + "a")).toBe(true); // 65,535 bytes
    expect(isValidTopicName("\u00FC".repeat(32_768))).toBe(false); // 65,536 bytes, 32,768 units
    expect(isValidTopicName("\u20AC".repeat(21_845))).toBe(true); // 65,535 bytes
    expect(isValidTopicName("\u20AC".repeat(21_846))).toBe(false); // 65,538 bytes
    expect(isValidTopicName("\u{1F600}".repeat(16_383) + "abc")).toBe(true); // 65,535 bytes
    expect(isValidTopicName("\u{1F600}".repeat(16_384))).toBe(false); // 65,536 bytes, 32,768 units
  });

  it("rejects values that are not strings", () => {
    for (const t of [undefined, null, 1, {}, ["a"]]) expect(isValidTopicName(t as unknown as string)).toBe(false);
  });
});

describe("isValidTopicFilter", () => {
  const valid = [
    "a",
    "/",
    "a/b",
    "#",
    "+",
    "+/+",
    "/+",
    "+/",
    "a/#",
    "/#",
    "+/#",
    "a/+/b",
    "a/+/#",
    "sport/tennis/#",
    "sport/+/player1",
    "$SYS/#",
    "$SYS/+/x",
    "\u00FC/+/\u{1F600}",
    "a".repeat(65_535),
  ];
  it.each(valid)("accepts %j [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.1-3]", (f) => {
    expect(isValidTopicFilter(f)).toBe(true);
  });

  it.each(["a#", "#a", "#/", "#/a", "a/#/b", "a/b#", "##", "a/##", "a/#/"])(
    "rejects %j: '#' alone on its level and last [MQTT-4.7.1-1] [MQTT-4.7.1-2]",
    (f) => {
      expect(isValidTopicFilter(f)).toBe(false);
    },
  );

  it.each(["a+", "+a", "a/+b", "a/b+", "a/b+/c", "++", "a/++", "+#", "#+"])(
    "rejects %j: '+' fills a whole level [MQTT-4.7.1-2] [MQTT-4.7.1-3]",
    (f) => {
      expect(isValidTopicFilter(f)).toBe(false);
    },
  );

  it("[MQTT-4.7.3-1] rejects the empty filter", () => {
    expect(isValidTopicFilter("")).toBe(false);
  });

  it("[MQTT-4.7.3-2] rejects U+0000 anywhere", () => {
    for (const f of ["\u0000", "a/\u0000", "+/\u0000", "$share/g/\u0000"]) expect(isValidTopicFilter(f)).toBe(false);
  });

  it("[MQTT-4.7.3-3] counts UTF-8 bytes, up to 65,535", () => {
    expect(isValidTopicFilter("a".repeat(65_535))).toBe(true);
    expect(isValidTopicFilter("a".repeat(65_536))).toBe(false);
    expect(isValidTopicFilter("\u20AC".repeat(21_845))).toBe(true);
    expect(isValidTopicFilter("\u20AC".repeat(21_846))).toBe(false);
  });

  it("rejects values that are not strings", () => {
    for (const f of [undefined, null, 1, {}, ["#"]]) expect(isValidTopicFilter(f as unknown as string)).toBe(false);
  });
});

describe("shared subscriptions", () => {
  it.each(["$share/g/t", "$share/g/#", "$share/g/+/a", "$share/group-1/a/b/c", "$share/\u00FC/x", "$share/g//", "$share/g/$SYS/#"])(
    "accepts %j [MQTT-4.8.2-1] [MQTT-4.8.2-2]",
    (f) => {
      expect(isValidTopicFilter(f)).toBe(true);
      expect(isSharedSubscription(f)).toBe(true);
    },
  );

  it.each(["$share/", "$share//", "$share//t"])("[MQTT-4.8.2-1] rejects %j: a ShareName of at least one character", (f) => {
    expect(isValidTopicFilter(f)).toBe(false);
  });

  it.each(["$share/g", "$share/g/", "$share/+/t", "$share/#/t", "$share/a+/t", "$share/a#/t", "$share/g/a#", "$share/g/#/a"])(
    "[MQTT-4.8.2-2] rejects %j: ShareName without '/', '+', '#', then '/' and a valid filter",
    (f) => {
      expect(isValidTopicFilter(f)).toBe(false);
    },
  );

  it("parses the share name and the filter", () => {
    expect(parseSharedSubscription("$share/g/a/+")).toEqual({ shareName: "g", topicFilter: "a/+" });
    expect(parseSharedSubscription("$share/g/h/t")).toEqual({ shareName: "g", topicFilter: "h/t" });
    expect(parseSharedSubscription("a/+")).toBeUndefined();
    expect(parseSharedSubscription("$share")).toBeUndefined();
    expect(parseSharedSubscription("$sharex/g/t")).toBeUndefined();
    expect(isSharedSubscription("$SHARE/g/t")).toBe(false); // case-sensitive
    expect(isSharedSubscription("$share")).toBe(false);
  });
});

describe("topicMatchesSub (Paho semantics)", () => {
  // [filter, topic, matches]
  const table: [string, string, boolean][] = [
    // exact
    ["foo/bar", "foo/bar", true],
    ["foo/bar", "foo", false],
    ["foo", "foo/bar", false],
    ["foo/bar", "foo/bar/", false],
    ["/foo", "/foo", true],
    ["/foo", "foo", false],
    // '+' is exactly one level, possibly empty
    ["foo/+", "foo/bar", true],
    ["foo/+", "foo/", true],
    ["foo/+", "foo", false],
    ["foo/+", "foo/bar/baz", false],
    ["foo/+/baz", "foo/bar/baz", true],
    ["foo/+/baz", "foo//baz", true],
    ["foo/+/baz", "foo/bar/bar", false],
    ["+", "foo", true],
    ["+", "/", false],
    ["+/+", "/", true],
    ["+/+", "foo/bar", true],
    ["+/+", "foo", false],
    ["/+", "/foo", true],
    ["+/bar", "foo/bar", true],
    // '#' is this level and everything below, including the parent
    ["#", "foo", true],
    ["#", "foo/bar/baz", true],
    ["#", "/foo/bar", true],
    ["#", "/", true],
    ["foo/#", "foo", true],
    ["foo/#", "foo/", true],
    ["foo/#", "foo/bar", true],
    ["foo/#", "foo/bar/baz", true],
    ["foo/#", "fo", false],
    ["foo/#", "foobar", false],
    ["/#", "/foo/bar", true],
    ["/#", "foo/bar", false],
    ["foo/+/#", "foo/bar/baz", true],
    ["foo/+/#", "foo/bar", true],
    ["foo/+/#", "fo2/bar/baz", false],
    ["A/B/+/#", "A/B/B/C", true],
    ["+/#", "foo", true],
    // case-sensitive
    ["Foo", "foo", false],
    // multibyte levels
    ["\u00FC/+", "\u00FC/\u{1F600}", true],
    ["\u00FC/+", "u/\u{1F600}", false],
  ];
  it.each(table)("%j matches %j: %s", (filter, topic, expected) => {
    expect(topicMatchesSub(filter, topic)).toBe(expected);
  });

  // '$' topics: a filter starting with a wildcard does not match them.
  const dollar: [string, string, boolean][] = [
    ["#", "$SYS/bar", false],
    ["#", "$SYS", false],
    ["+", "$SYS", false],
    ["+/bar", "$SYS/bar", false],
    ["+/+", "$SYS/bar", false],
    ["+/#", "$SYS/bar", false],
    ["$SYS/#", "$SYS/bar", true],
    ["$SYS/#", "$SYS", true],
    ["$SYS/+", "$SYS/bar", true],
    ["$SYS/bar", "$SYS/bar", true],
    ["$BOB/bar", "$SYS/bar", false],
    // '$' later in the topic is an ordinary character
    ["foo/#", "foo/$bar", true],
    ["foo/+/baz", "foo/$bar/baz", true],
    ["+/$bar", "foo/$bar", true],
  ];
  it.each(dollar)("[MQTT-4.7.2-1] %j matches %j: %s", (filter, topic, expected) => {
    expect(topicMatchesSub(filter, topic)).toBe(expected);
  });

  const shared: [string, string, boolean][] = [
    ["$share/g/a/+", "a/b", true],
    ["$share/g/a/+", "a/b/c", false],
    ["$share/g/a/+", "$share/g/a/b", false],
    ["$share/g/#", "a", true],
    ["$share/g/#", "a/b/c", true],
    ["$share/g/#", "$SYS/x", false],
    ["$share/g/$SYS/#", "$SYS/x", true],
    ["$share/g/t", "t", true],
    ["$share/g/t", "g/t", false],
  ];
  it.each(shared)("[MQTT-4.8.2-1] [MQTT-4.8.2-2] shared %j matches %j: %s", (filter, topic, expected) => {
    expect(topicMatchesSub(filter, topic)).toBe(expected);
  });

  // Invalid filters never match, not even a topic spelled the same.
  const invalidFilters = ["", "foo/#/bar", "foo#", "#/foo", "foo+", "+foo", "a/b+", "$share/g", "$share//a", "$share/+/a", "a\u0000"];
  it.each(invalidFilters)("[MQTT-4.7.1-1] [MQTT-4.7.1-2] invalid filter %j matches nothing", (filter) => {
    for (const topic of ["foo", "foo/bar", "foo/x/bar", "a", "a/b", "a/b+", "$share/g", "x"]) {
      expect(topicMatchesSub(filter, topic), `${filter} vs ${topic}`).toBe(false);
    }
  });

  // Invalid topic names never match either, even under '#'.
  it.each(["", "a/+", "a/#", "+", "#", "a\u0000"])("[MQTT-4.7.0-1] invalid topic name %j matches nothing", (topic) => {
    for (const filter of ["#", "+", "a/+", "a/#", topic]) {
      expect(topicMatchesSub(filter, topic), `${filter} vs ${topic}`).toBe(false);
    }
  });

  it("agrees with a brute-force reference on a grid of short filters and topics", () => {
    const levels = ["a", "b", "", "$x"];
    const topics = new Set<string>();
    const filters = new Set<string>();
    const grow = (set: Set<string>, alphabet: string[], depth: number, prefix: string[] = []) => {
      if (prefix.length > 0) set.add(prefix.join("/"));
      if (depth === 0) return;
      for (const l of alphabet) grow(set, alphabet, depth - 1, [...prefix, l]);
    };
    grow(topics, levels, 3);
    grow(filters, [...levels, "+", "#"], 3);
    // Reference: level by level, written independently of the implementation.
    const reference = (f: string, t: string): boolean => {
      if (!isValidTopicFilter(f) || !isValidTopicName(t)) return false;
      const fl = f.split("/");
      const tl = t.split("/");
      if (t.startsWith("$") && (fl[0] === "+" || fl[0] === "#")) return false;
      const go = (i: number, j: number): boolean => {
        if (i === fl.length) return j === tl.length;
        if (fl[i] === "#") return true; // covers the parent too: j may equal tl.length
        if (j === tl.length) return false;
        return (fl[i] === "+" || fl[i] === tl[j]) && go(i + 1, j + 1);
      };
      return go(0, 0);
    };
    let checked = 0;
    for (const f of filters) {
      for (const t of topics) {
        expect(topicMatchesSub(f, t), `${JSON.stringify(f)} vs ${JSON.stringify(t)}`).toBe(reference(f, t));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});

describe("shared subscriptions are MQTT 5 only", () => {
  it("[MQTT-4.7.1-3] before MQTT 5, $share/+/a is an ordinary filter whose '+' fills a level", () => {
    expect(isValidTopicFilter("$share/+/a", 4)).toBe(true);
    expect(isValidTopicFilter("$share/+/a", 5)).toBe(false);
    const bytes = encodePacket({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "$share/+/a", qos: 0 }] }, 4);
    expect(decodePacket(bytes, 4)).toEqual({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: "$share/+/a", qos: 0 }] });
    expect(() => decodePacket(bytes, 5)).toThrow(RemoteProtocolError);
  });
});
