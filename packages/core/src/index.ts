/**
 * @sansmqtt/core: the Sans-IO MQTT 3.1 / 3.1.1 / 5.0 client engine. Bytes,
 * commands and `now` in; events, bytes and the next deadline out. No IO, no
 * timers, no clock reads, no dependencies.
 *
 * This root export is the engine, its events, options, session and errors.
 * The codec is at `@sansmqtt/core/codec`, fast-check arbitraries at
 * `@sansmqtt/core/testing`.
 */
export { MqttConnection, type PublishRequest, type ServerLimits } from "./engine/connection.js";
export type { ConnectionOptions } from "./engine/options.js";
export type {
  Event,
  ConnectedEvent,
  MessageEvent,
  PublishedEvent,
  SubscribedEvent,
  UnsubscribedEvent,
  AuthEvent,
  ClosedEvent,
  CloseReason,
} from "./engine/events.js";
export type { ConnectionState } from "./engine/state.js";
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
export { MemoryStore, SerialStore, StoreError, StoreErrorCode, type SessionStore, type StoredSession } from "./store.js";
export { ErrorCode, MqttError, LocalProtocolError, RemoteProtocolError } from "./errors.js";
export { ReasonCode, ConnackReturnCode, reasonCodeName, connackReturnCodeName } from "./codec/reason-codes.js";
export { isValidTopicName, isValidTopicFilter, isSharedSubscription, parseSharedSubscription, topicMatchesSub } from "./topic.js";
// The types the engine's commands and events use (packets themselves are at /codec).
export type { Properties, ProtocolVersion, QoS, Subscription, UserProperty, Will } from "./codec/types.js";
export { TransportError, TransportErrorCode, refuseUnknownOptions, type Transport, type TransportHandlers, type TransportState } from "./transport.js";
