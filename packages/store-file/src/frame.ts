/**
 * The log file's framing: a magic at the start, then records, each
 *
 *     u32 LE body length | u32 LE CRC-32 of the body | u32 LE CRC-32 of the 8 bytes before | body
 *
 * The header has its own checksum so that a damaged length is seen as damage
 * (ERR_STORE_CORRUPT) rather than read as "the record runs past the end of the
 * file", which is what a write cut short by a kill looks like and is ignored.
 */
import { crc32 } from "node:zlib";

/** "SMQTLOG" and the format version: a file written by something else, or by a later format, is refused. */
export const MAGIC = Buffer.from("SMQTLOG\u0001", "latin1");
export const HEADER = 12;
/** Larger than any record this store writes (a Buffer's limit on 32-bit hosts); a bigger length is damage. */
const MAX_BODY = 2 ** 31 - 1;

/** One record's bytes: the header, then the body's pieces (written as one buffer so one write call covers it). */
export function frame(pieces: readonly Buffer[], withMagic: boolean): Buffer {
  let length = 0;
  let crc = 0;
  for (const p of pieces) {
    length += p.length;
    crc = crc32(p, crc);
  }
  if (length > MAX_BODY) throw new RangeError(`a record of ${length} bytes is more than this store writes (${MAX_BODY})`);
  const start = withMagic ? MAGIC.length : 0;
  const out = Buffer.allocUnsafe(start + HEADER + length);
  if (withMagic) MAGIC.copy(out, 0);
  out.writeUInt32LE(length, start);
  out.writeUInt32LE(crc, start + 4);
  out.writeUInt32LE(crc32(out.subarray(start, start + 8)), start + 8);
  let at = start + HEADER;
  for (const p of pieces) at += p.copy(out, at);
  return out;
}

/** What reading a record at an offset found. */
export type ReadResult =
  | { kind: "record"; body: Buffer; end: number }
  /** The file ends inside this record: a write that did not finish. */
  | { kind: "torn" }
  /** The record is complete but does not check out. */
  | { kind: "corrupt"; why: string };

export function readRecord(file: Buffer, at: number): ReadResult {
  if (file.length - at < HEADER) return { kind: "torn" };
  const length = file.readUInt32LE(at);
  const crc = file.readUInt32LE(at + 4);
  if (file.readUInt32LE(at + 8) !== crc32(file.subarray(at, at + 8))) {
    return { kind: "corrupt", why: `the record header at offset ${at} fails its checksum` };
  }
  if (length > MAX_BODY) return { kind: "corrupt", why: `the record at offset ${at} claims ${length} bytes` };
  const end = at + HEADER + length;
  if (end > file.length) return { kind: "torn" };
  const body = file.subarray(at + HEADER, end);
  if (crc32(body) !== crc) return { kind: "corrupt", why: `the record at offset ${at} fails its checksum` };
  return { kind: "record", body, end };
}
