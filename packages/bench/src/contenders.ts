// The timed work: parse a chunked byte stream, or generate a row's packets,
// with our codec, with mqtt-packet, and (parse only) with the bare framer.
// Every pass checks what it did; a pass that decodes or encodes the wrong
// amount throws.

import { PacketDecoder, encodePacket } from "@sansmqtt/core/codec";
import mqtt from "mqtt-packet";
import { Framer, type FrameTally } from "./framer.js";
import type { Contender } from "./harness.js";
import type { OurPacket, OurVersion, Row, TheirPacket } from "./fixtures.js";

/** The bytes a parse benchmark feeds, already cut into chunks. */
export interface Stream {
  bytes: Buffer;
  /** `bytes` cut into fixed-size slices (views); packets straddle slice boundaries. */
  chunks: Buffer[];
  packets: number;
  /** Sum of PUBLISH payload lengths: the decoders must agree on it, not just on the count. */
  payloadBytes: number;
}

/**
 * `unit` (one row's packets, encoded) repeated to about `targetBytes`, cut
 * into `chunkSize` slices.
 */
export function buildStream(
  unit: Buffer,
  unitPackets: number,
  unitPayloadBytes: number,
  targetBytes: number,
  chunkSize: number,
): Stream {
  const reps = Math.max(1, Math.ceil(targetBytes / unit.length));
  const bytes = Buffer.allocUnsafe(reps * unit.length).fill(unit);
  const chunks: Buffer[] = [];
  for (let off = 0; off < bytes.length; off += chunkSize) {
    chunks.push(bytes.subarray(off, Math.min(off + chunkSize, bytes.length)));
  }
  return { bytes, chunks, packets: reps * unitPackets, payloadBytes: reps * unitPayloadBytes };
}

export const MAXIMUM_PACKET_SIZE = 1024 * 1024;

function checkParse(who: string, s: Stream, packets: number, payloadBytes: number): void {
  if (packets !== s.packets || payloadBytes !== s.payloadBytes) {
    throw new Error(
      `${who}: decoded ${packets} packets / ${payloadBytes} payload bytes, ` +
        `expected ${s.packets} / ${s.payloadBytes}`,
    );
  }
}

export function oursParse(s: Stream, version: OurVersion): Contender {
  const chunks = s.chunks;
  return {
    name: "ours",
    packetsPerPass: s.packets,
    bytesPerPass: s.bytes.length,
    pass() {
      const decoder = new PacketDecoder({ protocolVersion: version, maximumPacketSize: MAXIMUM_PACKET_SIZE });
      let packets = 0;
      let payloadBytes = 0;
      for (let i = 0; i < chunks.length; i++) {
        decoder.push(chunks[i]!);
        let p: OurPacket | undefined;
        while ((p = decoder.next()) !== undefined) {
          packets++;
          if (p.type === "publish") payloadBytes += p.payload.length;
        }
      }
      checkParse("ours parse", s, packets, payloadBytes);
    },
  };
}

export function theirsParse(s: Stream, version: OurVersion): Contender {
  const chunks = s.chunks;
  return {
    name: "mqtt-packet",
    packetsPerPass: s.packets,
    bytesPerPass: s.bytes.length,
    pass() {
      // No 'error' listener: an error event throws out of parse().
      const parser = mqtt.parser({ protocolVersion: version });
      let packets = 0;
      let payloadBytes = 0;
      parser.on("packet", (p: TheirPacket) => {
        packets++;
        if (p.cmd === "publish") payloadBytes += p.payload.length;
      });
      for (let i = 0; i < chunks.length; i++) parser.parse(chunks[i]!);
      checkParse("mqtt-packet parse", s, packets, payloadBytes);
    },
  };
}

export function framerParse(s: Stream): Contender {
  const chunks = s.chunks;
  return {
    name: "framer",
    packetsPerPass: s.packets,
    bytesPerPass: s.bytes.length,
    pass() {
      const framer = new Framer();
      const t: FrameTally = { frames: 0, bytes: 0 };
      for (let i = 0; i < chunks.length; i++) framer.push(chunks[i]!, t);
      if (t.frames !== s.packets || t.bytes !== s.bytes.length || !framer.idle) {
        throw new Error(`framer: ${t.frames} frames / ${t.bytes} bytes, expected ${s.packets} / ${s.bytes.length}`);
      }
    },
  };
}

/** How many times one generate pass encodes the row's packets: about 1 MiB of output. */
export function generateReps(unitBytes: number): number {
  return Math.max(1, Math.ceil((1024 * 1024) / unitBytes));
}

export function oursGenerate(row: Row, unitBytes: number): Contender {
  const packets = row.ours;
  const version = row.version;
  const reps = generateReps(unitBytes);
  const expected = reps * unitBytes;
  return {
    name: "ours",
    packetsPerPass: reps * packets.length,
    bytesPerPass: expected,
    pass() {
      let bytes = 0;
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < packets.length; i++) bytes += encodePacket(packets[i]!, version).length;
      }
      if (bytes !== expected) throw new Error(`ours generate: ${bytes} bytes, expected ${expected}`);
    },
  };
}

export function theirsGenerate(row: Row, unitBytes: number): Contender {
  const packets = row.theirs;
  const opts = { protocolVersion: row.version };
  const reps = generateReps(unitBytes);
  const expected = reps * unitBytes;
  return {
    name: "mqtt-packet",
    packetsPerPass: reps * packets.length,
    bytesPerPass: expected,
    pass() {
      let bytes = 0;
      for (let r = 0; r < reps; r++) {
        for (let i = 0; i < packets.length; i++) bytes += mqtt.generate(packets[i]!, opts).length;
      }
      if (bytes !== expected) throw new Error(`mqtt-packet generate: ${bytes} bytes, expected ${expected}`);
    },
  };
}
