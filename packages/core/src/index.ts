/**
 * @sansmqtt/core: the MQTT 3.1 / 3.1.1 / 5.0 codec and (soon) the Sans-IO
 * client engine. No IO, no timers, no clock reads, no dependencies.
 */
export * from "./codec/types.js";
export { encodePacket } from "./codec/encode.js";
export { PacketDecoder, decodePacket, MQTT_MAX_PACKET_SIZE, type DecoderOptions } from "./codec/decoder.js";
export { PROPERTY_TABLE, isPropertyAllowed, type PropertyContext } from "./codec/properties.js";
export {
  ReasonCode,
  ConnackReturnCode,
  reasonCodeName,
  connackReturnCodeName,
  isValidReasonCode,
  reasonCodesFor,
} from "./codec/reason-codes.js";
export { ErrorCode, MqttError, LocalProtocolError, RemoteProtocolError } from "./errors.js";
export {
  isValidTopicName,
  isValidTopicFilter,
  isSharedSubscription,
  parseSharedSubscription,
  topicMatchesSub,
} from "./topic.js";

// The Sans-IO client engine.
export {
  MqttConnection,
  type ConnectionOptions,
  type ServerLimits,
  type PublishRequest,
  type SubscribeRequest,
} from "./engine/connection.js";
export type { Event, CloseReason } from "./engine/events.js";
export type {
  SessionState,
  OutgoingMessage,
  IncomingQos2,
  SessionSubscription,
  SessionRequest,
  SessionJSON,
  OutgoingMessageJSON,
  PropertiesJSON,
} from "./engine/session.js";
export { sessionToJSON, sessionFromJSON } from "./engine/session.js";
export { TRANSITIONS, type ConnectionState, type Trigger } from "./engine/state.js";
export type { TimerName } from "./engine/timers.js";
export { TransportError, TransportErrorCode, type Transport, type TransportHandlers, type TransportState } from "./transport.js";
