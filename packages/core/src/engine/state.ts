/**
 * The connection lifecycle. Every state change goes through `transition`, and
 * the table below is the whole list of them, so it can be read (or printed) in
 * one place:
 *
 *   idle ──connect──▶ connecting ──CONNACK 0──▶ connected
 *   connecting ──CONNACK refusal │ timeout │ protocol error │ DISCONNECT │ lost──▶ closed
 *   connected  ──disconnect │ protocol error │ ping timeout │ DISCONNECT │ lost──▶ closed
 *   closed ──connect──▶ connecting          (a new network connection, same session)
 *
 * The session (packet ids, inflight messages, the QoS 2 dedup set, the queue,
 * subscriptions) outlives every network connection; per-connection state (the
 * decoder, topic aliases, keep-alive, flow-control counters) starts afresh on
 * each `connect`.
 */
import { LocalProtocolError } from "../errors.js";
import * as E from "../codes.js";

export type ConnectionState = "idle" | "connecting" | "connected" | "closed";

export type Trigger =
  | "connect"
  | "connack-accepted"
  | "connack-refused"
  | "timeout"
  | "protocol-error"
  | "server-disconnect"
  | "local-disconnect"
  | "connection-lost";

/** What ends a connection, whether it is connecting or connected: each leads to closed. */
const ENDS: Partial<Record<Trigger, ConnectionState>> = {
  timeout: "closed",
  "protocol-error": "closed",
  "server-disconnect": "closed",
  "local-disconnect": "closed",
  "connection-lost": "closed",
};

export const TRANSITIONS: Readonly<Record<ConnectionState, Partial<Record<Trigger, ConnectionState>>>> = {
  idle: { connect: "connecting" },
  connecting: { "connack-accepted": "connected", "connack-refused": "closed", ...ENDS },
  connected: { ...ENDS },
  closed: { connect: "connecting" },
};

/** The state `trigger` leads to from `from`, or a LocalProtocolError (ERR_STATE) if none. */
export function nextState(from: ConnectionState, trigger: Trigger): ConnectionState {
  const to = TRANSITIONS[from][trigger];
  if (to === undefined) {
    throw new LocalProtocolError(E.InvalidState, `cannot ${trigger} while ${from}`, 0x83);
  }
  return to;
}
