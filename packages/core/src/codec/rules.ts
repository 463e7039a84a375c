/**
 * Rules that both directions enforce, written once: the encoder applies them
 * to what the caller gives it (LocalProtocolError), the decoder to what the
 * peer sent (RemoteProtocolError). Each direction first checks what only it
 * can get wrong (the caller's types; reserved bits on the wire).
 */
import { type Blame, codecError, PROTOCOL_ERROR } from "../errors.js";
import { isSharedSubscription } from "../topic.js";
import { show } from "./bytes.js";
import { isValidReasonCode } from "./reason-codes.js";
import type { ProtocolVersion } from "./types.js";
import * as E from "../codes.js";

/**
 * A CONNACK's code and session present flag: an MQTT 5 CONNACK reason code,
 * or a 3.1 / 3.1.1 return code 0..5 (6..255 are reserved); and a refusal never
 * has a session [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]).
 */
export function checkConnack(reasonCode: number, sessionPresent: boolean, version: ProtocolVersion, blame: Blame): void {
  if (version === 5 ? !isValidReasonCode("connack", reasonCode) : reasonCode > 5) {
    const what = version === 5 ? `0x${reasonCode.toString(16)} is not a CONNACK reason code` : `CONNACK return code ${reasonCode} is reserved`;
    throw codecError(blame, E.ReasonCodeInvalid, what);
  }
  if (sessionPresent && reasonCode !== 0) {
    throw codecError(blame, E.FlagsInvalid, "a CONNACK that refuses the connection cannot have session present [MQTT-3.2.2-6]");
  }
}

/**
 * A subscription's requested QoS and MQTT 5 options: QoS 0, 1 or 2 (3.1.1: a
 * malformed packet [MQTT-3-8.3-4]; 5.0: a Protocol Error, 3.8.3.1); before
 * MQTT 5 no options at all; Retain Handling 0, 1 or 2 (3 is a Protocol
 * Error); no No Local on a shared subscription [MQTT-3.8.3-4].
 */
export function checkSubscription(
  topicFilter: string,
  qos: number,
  noLocal: boolean,
  retainAsPublished: boolean,
  retainHandling: number,
  version: ProtocolVersion,
  blame: Blame,
): void {
  // The peer's Protocol Errors say so; the caller's keep their code's default.
  const protocolError = blame === "remote" ? PROTOCOL_ERROR : undefined;
  if (qos !== 0 && qos !== 1 && qos !== 2) {
    throw codecError(blame, E.QosInvalid, `subscription QoS must be 0, 1 or 2, got ${show(qos)}`, version === 5 ? protocolError : undefined);
  }
  if (version !== 5) {
    if (noLocal || retainAsPublished || retainHandling !== 0) {
      throw codecError(blame, E.VersionMismatch, "No Local, Retain As Published and Retain Handling need MQTT 5");
    }
    return;
  }
  if (retainHandling !== 0 && retainHandling !== 1 && retainHandling !== 2) {
    throw codecError(blame, E.SubscriptionOptions, `retain handling must be 0, 1 or 2, got ${show(retainHandling)}`, protocolError);
  }
  if (noLocal && isSharedSubscription(topicFilter)) {
    throw codecError(blame, E.SubscriptionOptions, "No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]", protocolError);
  }
}

/** The subscription options byte (3.8.3.1) of a checked subscription. */
export function subscriptionOptionsByte(qos: number, noLocal: boolean, retainAsPublished: boolean, retainHandling: number): number {
  return qos | (noLocal ? 4 : 0) | (retainAsPublished ? 8 : 0) | (retainHandling << 4);
}
