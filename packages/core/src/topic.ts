/**
 * Topic names and topic filters: validation and matching (spec 4.7, 4.8.2).
 * Pure functions on strings; lengths are counted in UTF-8 bytes.
 */

const SHARE_PREFIX = "$share/";

function utf8ByteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? (i++, 4) : 3;
  }
  return n;
}

/**
 * A topic name: at least one character [MQTT-4.7.3-1], no wildcard
 * [MQTT-3.3.2-2] [MQTT-4.7.0-1], no U+0000 [MQTT-4.7.3-2], at most 65,535 bytes
 * [MQTT-4.7.3-3].
 */
export function isValidTopicName(topic: string): boolean {
  if (typeof topic !== "string") return false;
  const n = topic.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x23 /* # */ || c === 0x2b /* + */ || c === 0) return false;
  }
  return n <= 0x3fff || utf8ByteLength(topic) <= 0xffff;
}

/**
 * A topic filter: '#' alone or after '/', and last [MQTT-4.7.1-1]; '+' fills a
 * whole level [MQTT-4.7.1-2]; at least one character, no U+0000, at most 65,535
 * bytes [MQTT-4.7.3-1..3]; a shared subscription is "$share/" + a ShareName of one
 * or more characters without '/', '+', '#' + "/" + a filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]
 * (MQTT 5; for `version` 3 or 4 "$share/" has no meaning of its own).
 */
export function isValidTopicFilter(filter: string, version: 3 | 4 | 5 = 5): boolean {
  if (typeof filter !== "string" || filter.length === 0) return false;
  if (filter.length > 0x3fff && utf8ByteLength(filter) > 0xffff) return false;
  let f = filter;
  // Shared subscriptions are MQTT 5; before it "$share/..." is an ordinary filter.
  if (version === 5 && f.startsWith(SHARE_PREFIX)) {
    const slash = f.indexOf("/", SHARE_PREFIX.length);
    if (slash < 0) return false;
    const shareName = f.slice(SHARE_PREFIX.length, slash);
    if (shareName.length === 0 || shareName.includes("+") || shareName.includes("#")) return false;
    f = f.slice(slash + 1);
    if (f.length === 0) return false;
  }
  const n = f.length;
  for (let i = 0; i < n; i++) {
    const c = f.charCodeAt(i);
    if (c === 0) return false;
    if (c === 0x2b /* + */) {
      if ((i > 0 && f.charCodeAt(i - 1) !== 0x2f) || (i + 1 < n && f.charCodeAt(i + 1) !== 0x2f)) return false;
    } else if (c === 0x23 /* # */) {
      if ((i > 0 && f.charCodeAt(i - 1) !== 0x2f) || i !== n - 1) return false;
    }
  }
  return true;
}

/** Whether `filter` is a shared subscription ("$share/name/filter"). */
export function isSharedSubscription(filter: string): boolean {
  return typeof filter === "string" && filter.startsWith(SHARE_PREFIX);
}

/** The filter a shared subscription matches with, and its share name; undefined for a plain filter. */
export function parseSharedSubscription(filter: string): { shareName: string; topicFilter: string } | undefined {
  if (!isSharedSubscription(filter)) return undefined;
  const slash = filter.indexOf("/", SHARE_PREFIX.length);
  if (slash < 0) return undefined;
  return { shareName: filter.slice(SHARE_PREFIX.length, slash), topicFilter: filter.slice(slash + 1) };
}

/**
 * Whether topic name `topic` matches subscription filter `sub`, as Paho's
 * `topic_matches_sub`: '+' matches one level, '#' this level and all below
 * (including the parent: "a/#" matches "a"); a topic starting with '$' is not
 * matched by a filter starting with a wildcard [MQTT-4.7.2-1]; a shared
 * subscription matches by the filter after its share name.
 * Invalid filters or topic names match nothing.
 */
export function topicMatchesSub(sub: string, topic: string): boolean {
  if (!isValidTopicFilter(sub) || !isValidTopicName(topic)) return false;
  const shared = parseSharedSubscription(sub);
  const filter = shared === undefined ? sub : shared.topicFilter;
  const fl = filter.split("/");
  const tl = topic.split("/");
  if (topic.charCodeAt(0) === 0x24 /* $ */ && (fl[0] === "+" || fl[0] === "#")) return false;
  for (let i = 0; i < fl.length; i++) {
    const f = fl[i]!;
    if (f === "#") return true;
    const t = tl[i];
    if (t === undefined) return false;
    if (f !== "+" && f !== t) return false;
  }
  return fl.length === tl.length;
}
