/// <reference types="node" />
// --trace: one line per MQTT packet on the wire ("->" sent, "<-" received).
//
// The Client picks and builds its transport itself (no factory to wrap), so the
// tap sits on the socket the client hands to onSocketOpen: a net.Socket or
// tls.TLSSocket (plaintext side: write() and "data") or a ws WebSocket (send()
// and "message"). Each direction has its own PacketDecoder fed with copies of
// the bytes, so the client's own buffers are never touched. The CONNECT's
// password is never printed.
import { PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import type { Properties, ProtocolVersion } from "@sansmqtt/core";

const text = new TextDecoder();
const hex = (n: number): string => `0x${n.toString(16).padStart(2, "0")}`;
const quote = (s: string): string => JSON.stringify(s);

/** MQTT 5 properties as `{key=value ...}`; binary values are shown by size only (they may be secret: auth data). */
export function describeProperties(props: Properties | undefined): string {
  if (!props) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(props) as Array<[string, unknown]>) {
    if (value === undefined) continue;
    if (value instanceof Uint8Array) parts.push(`${key}=<${value.length} bytes>`);
    else if (key === "userProperties" && Array.isArray(value)) parts.push(`${key}=[${value.map(([k, v]: [string, string]) => `${quote(k)}:${quote(v)}`).join(",")}]`);
    else if (typeof value === "string") parts.push(`${key}=${quote(value)}`);
    else parts.push(`${key}=${JSON.stringify(value)}`);
  }
  return parts.length ? `{${parts.join(" ")}}` : "";
}

const props = (p: Properties | undefined): string => {
  const s = describeProperties(p);
  return s ? ` ${s}` : "";
};

export function describePacket(p: Packet): string {
  switch (p.type) {
    case "connect": {
      const version = p.protocolVersion === 5 ? "5" : p.protocolVersion === 4 ? "3.1.1" : "3.1";
      const login = (p.username !== undefined ? ` username=${quote(p.username)}` : "") + (p.password !== undefined ? " password=<hidden>" : "");
      return `CONNECT MQTT ${version} clientId=${quote(p.clientId)} clean=${p.clean} keepAlive=${p.keepAlive}s${login}${props(p.properties)}`;
    }
    case "connack":
      return `CONNACK reason=${hex(p.reasonCode)} sessionPresent=${p.sessionPresent}${props(p.properties)}`;
    case "publish": {
      const id = p.packetId !== undefined ? ` id=${p.packetId}` : "";
      const flags = (p.retain ? " retain" : "") + (p.dup ? " dup" : "");
      return `PUBLISH topic=${quote(p.topic)} qos=${p.qos}${id}${flags} payload=${quote(text.decode(p.payload))}${props(p.properties)}`;
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return `${p.type.toUpperCase()} id=${p.packetId} reason=${hex(p.reasonCode)}${props(p.properties)}`;
    case "subscribe":
      return `SUBSCRIBE id=${p.packetId} ${p.subscriptions.map((s) => `${quote(s.topicFilter)}@qos${s.qos}`).join(" ")}${props(p.properties)}`;
    case "unsubscribe":
      return `UNSUBSCRIBE id=${p.packetId} ${p.topicFilters.map(quote).join(" ")}${props(p.properties)}`;
    case "suback":
    case "unsuback":
      return `${p.type.toUpperCase()} id=${p.packetId} reasons=[${p.reasonCodes.map(hex).join(",")}]${props(p.properties)}`;
    case "pingreq":
    case "pingresp":
      return p.type.toUpperCase();
    case "disconnect":
    case "auth":
      return `${p.type.toUpperCase()} reason=${hex(p.reasonCode)}${props(p.properties)}`;
  }
}

type Chunk = Uint8Array | ArrayBuffer | readonly Uint8Array[];

function bytesOf(data: Chunk | string): Uint8Array {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  if (data instanceof Uint8Array) return data.slice();
  return Buffer.concat(data as Uint8Array[]);
}

interface StreamLike {
  write: (...args: never[]) => boolean;
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
}
interface WebSocketLike {
  send: (...args: never[]) => void;
  on(event: "message", listener: (data: Chunk) => void): unknown;
}

/**
 * Taps `socket` (what onSocketOpen hands over) and prints every packet through
 * `print`. Returns false when the socket is of a kind it does not know.
 */
export function tapSocket(socket: unknown, version: ProtocolVersion, print: (line: string) => void): boolean {
  const sent = new PacketDecoder({ protocolVersion: version });
  const received = new PacketDecoder({ protocolVersion: version });
  const feed = (decoder: PacketDecoder, data: Chunk | string, arrow: "->" | "<-"): void => {
    try {
      decoder.push(bytesOf(data));
      for (let p = decoder.next(); p !== undefined; p = decoder.next()) print(`${arrow} ${describePacket(p)}`);
    } catch (e) {
      // The trace must never break the connection it watches: report and go on.
      print(`${arrow} (trace: undecodable bytes: ${e instanceof Error ? e.message : String(e)})`);
    }
  };
  if (typeof socket !== "object" || socket === null) return false;
  if ("send" in socket && typeof (socket as WebSocketLike).send === "function") {
    const ws = socket as WebSocketLike;
    const send = ws.send.bind(ws) as (data: Chunk, ...rest: unknown[]) => void;
    ws.send = ((data: Chunk, ...rest: unknown[]) => {
      feed(sent, data, "->");
      send(data, ...rest);
    }) as WebSocketLike["send"];
    ws.on("message", (data) => feed(received, data, "<-"));
    return true;
  }
  if ("write" in socket && typeof (socket as StreamLike).write === "function") {
    const stream = socket as StreamLike;
    const write = stream.write.bind(stream) as (data: Chunk | string, ...rest: unknown[]) => boolean;
    stream.write = ((data: Chunk | string, ...rest: unknown[]) => {
      feed(sent, data, "->");
      return write(data, ...rest);
    }) as StreamLike["write"];
    stream.on("data", (chunk) => feed(received, chunk, "<-"));
    return true;
  }
  return false;
}
