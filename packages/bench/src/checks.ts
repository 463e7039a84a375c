// Before anything is timed: both libraries must agree on what the row's bytes
// mean. Ours decodes mqtt-packet's encoding, mqtt-packet parses ours, and both
// must give back the packets we started from (type sequence, and for PUBLISH
// topic, QoS, packet id, payload and properties).

import { createHash } from "node:crypto";
import { PacketDecoder, encodePacket } from "@sansmqtt/core/codec";
import mqtt from "mqtt-packet";
import { MAXIMUM_PACKET_SIZE } from "./contenders.js";
import type { OurPacket, Row, TheirPacket } from "./fixtures.js";

/** Payload fingerprint for comparisons and messages: length and a short digest. */
function digest(b: Uint8Array): string {
  const h = createHash("sha256").update(b).digest("hex").slice(0, 12);
  return `${b.length}B:${h}`;
}

function sortedJson(o: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

function canonOurs(p: OurPacket): string {
  if (p.type !== "publish") return p.type;
  let props = "";
  if (p.properties !== undefined) {
    const { userProperties, ...rest } = p.properties;
    const o: Record<string, unknown> = { ...rest };
    if (userProperties !== undefined) o["userProperties"] = userProperties.map(([k, v]) => [k, v]);
    props = sortedJson(o);
  }
  return `publish ${p.topic} q${p.qos} id${p.packetId ?? "-"} ${digest(p.payload)} ${props}`;
}

function canonTheirs(p: TheirPacket): string {
  if (p.cmd !== "publish") return p.cmd;
  let props = "";
  if (p.properties !== undefined) {
    const { userProperties, ...rest } = p.properties;
    const o: Record<string, unknown> = { ...rest };
    if (userProperties !== undefined) {
      o["userProperties"] = Object.entries(userProperties).flatMap(([k, v]) =>
        Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]],
      );
    }
    props = sortedJson(o);
  }
  const payload = typeof p.payload === "string" ? Buffer.from(p.payload) : p.payload;
  return `publish ${p.topic} q${p.qos} id${p.messageId ?? "-"} ${digest(payload)} ${props}`;
}

export interface Encoded {
  /** The row's packets encoded by each library, concatenated. */
  ours: Buffer;
  theirs: Buffer;
  /** Sum of PUBLISH payload lengths in the row. */
  payloadBytes: number;
}

export function encodeRow(row: Row): Encoded {
  const ours = Buffer.concat(row.ours.map((p) => encodePacket(p, row.version)));
  const theirs = Buffer.concat(row.theirs.map((p) => mqtt.generate(p, { protocolVersion: row.version })));
  let payloadBytes = 0;
  for (const p of row.ours) if (p.type === "publish") payloadBytes += p.payload.length;
  return { ours, theirs, payloadBytes };
}

function firstDifference(got: string[], want: string[]): string {
  const n = Math.max(got.length, want.length);
  for (let i = 0; i < n; i++) {
    if (got[i] !== want[i]) return `packet #${i}: got ${got[i] ?? "(nothing)"}, want ${want[i] ?? "(nothing)"}`;
  }
  return "";
}

/** Problems found (empty: all good), plus notes worth printing. */
export function checkRow(row: Row, enc: Encoded): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const wantOurs = row.ours.map(canonOurs);
  const wantTheirs = row.theirs.map(canonTheirs);
  const fixture = firstDifference(wantOurs, wantTheirs);
  if (fixture !== "") problems.push(`fixtures disagree: ${fixture}`);

  if (enc.ours.equals(enc.theirs)) {
    notes.push("encodings byte-identical");
  } else {
    const differing = row.ours
      .filter((p, i) => !Buffer.from(encodePacket(p, row.version)).equals(mqtt.generate(row.theirs[i]!, { protocolVersion: row.version })))
      .map((p) => p.type);
    notes.push(
      `encodings differ (ours ${enc.ours.length} B, mqtt-packet ${enc.theirs.length} B) in: ${differing.join(", ")} ` +
        `(both valid when the round trips below pass)`,
    );
  }

  // Ours decodes mqtt-packet's bytes, fed one byte at a time and then whole.
  for (const oneByte of [true, false]) {
    try {
      const d = new PacketDecoder({ protocolVersion: row.version, maximumPacketSize: MAXIMUM_PACKET_SIZE });
      const got: string[] = [];
      const feed = oneByte ? Array.from(enc.theirs, (_, i) => enc.theirs.subarray(i, i + 1)) : [enc.theirs];
      for (const c of feed) {
        d.push(c);
        let p: OurPacket | undefined;
        while ((p = d.next()) !== undefined) got.push(canonOurs(p));
      }
      const diff = firstDifference(got, wantOurs);
      if (diff !== "") problems.push(`ours decoding mqtt-packet's bytes${oneByte ? " (1-byte chunks)" : ""}: ${diff}`);
    } catch (e) {
      problems.push(`ours decoding mqtt-packet's bytes: threw ${String(e)}`);
    }
  }

  // mqtt-packet parses our bytes, one packet per parser: mqtt-packet 9.0.2
  // misreads a 5.0 DISCONNECT with Remaining Length 0 (the short form
  // [MQTT-3.14.2.1] lets a sender use) when more bytes follow it in the
  // buffer: it takes the next packet's first byte as the reason code.
  const got: string[] = [];
  for (const p of row.ours) {
    try {
      const parser = mqtt.parser({ protocolVersion: row.version });
      parser.on("packet", (q: TheirPacket) => got.push(canonTheirs(q)));
      parser.parse(Buffer.from(encodePacket(p, row.version)));
    } catch (e) {
      got.push(`${p.type}: threw ${String(e)}`);
    }
  }
  const diff = firstDifference(got, wantTheirs);
  if (diff !== "") problems.push(`mqtt-packet parsing our bytes: ${diff}`);
  return { problems, notes };
}
