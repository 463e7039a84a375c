/**
 * UTF-8 strings as MQTT wants them [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.4-3]:
 * well-formed, no surrogates, no U+0000, and a leading U+FEFF kept as it is.
 *
 * ASCII is the common case on the hot path (topics, client ids), so both
 * directions try it first and only reach for TextEncoder/TextDecoder otherwise.
 */
import { type Blame, codecError } from "../errors.js";
import * as E from "../codes.js";

// The core targets every runtime with plain ES2022 types; these globals exist in
// all of them (Node, browsers, Deno, Bun), so declare just what is used.
declare const TextDecoder: new (
  label: string,
  options: { fatal: boolean; ignoreBOM: boolean },
) => { decode(input: Uint8Array): string };
declare const TextEncoder: new () => {
  encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
};

// fatal: ill-formed input (including encoded surrogates) throws instead of
// becoming U+FFFD. ignoreBOM: keep a leading EF BB BF as U+FEFF [MQTT-1.5.4-3].
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Decodes buf[start, end) as an MQTT UTF-8 string, or throws the typed error. */
export function decodeUtf8(buf: Uint8Array, start: number, end: number, blame: Blame, what: string): string {
  if (end - start <= 24) {
    // Short strings: building the string by hand beats a TextDecoder call.
    let s = "";
    let i = start;
    for (; i < end; i++) {
      const b = buf[i]!;
      if (b >= 0x80) break;
      if (b === 0) throw codecError(blame, E.Utf8Null, `${what} contains U+0000`);
      s += String.fromCharCode(b);
    }
    if (i === end) return s;
  }
  let s: string;
  try {
    s = decoder.decode(new Uint8Array(buf.buffer, buf.byteOffset + start, end - start));
  } catch {
    throw codecError(blame, E.Utf8Invalid, `${what} is not well-formed UTF-8`);
  }
  // In well-formed UTF-8 the byte 0x00 only ever encodes U+0000.
  if (s.indexOf("\0") >= 0) throw codecError(blame, E.Utf8Null, `${what} contains U+0000`);
  return s;
}

/**
 * Byte length of `s` in UTF-8, after checking it is a valid MQTT string:
 * no lone surrogate (it has no UTF-8 form) and no U+0000.
 */
export function utf8Length(s: string, blame: Blame, what: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) throw codecError(blame, E.Utf8Null, `${what} contains U+0000`);
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) {
        throw codecError(blame, E.Utf8Invalid, `${what} contains a lone surrogate`);
      }
      bytes += 2; // 4 bytes for the pair, which counts 2 in s.length
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/**
 * Writes `s` (a valid MQTT string, checked by utf8Length) at buf[pos] and
 * returns its length in bytes; buf has room for it. ASCII goes by hand, the
 * rest through TextEncoder.encodeInto.
 */
export function writeUtf8(buf: Uint8Array, pos: number, s: string): number {
  const n = s.length;
  if (n > 32) return encoder.encodeInto(s, new Uint8Array(buf.buffer, buf.byteOffset + pos, buf.length - pos)).written;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return i + encoder.encodeInto(s.slice(i), new Uint8Array(buf.buffer, buf.byteOffset + pos + i, buf.length - pos - i)).written;
    buf[pos + i] = c;
  }
  return n;
}
