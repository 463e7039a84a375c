/**
 * @sansmqtt/core/testing: fast-check arbitraries for MQTT packets, to fuzz code
 * built on the codec. Needs the optional peer dependency fast-check (^4).
 *
 *   import fc from "fast-check";
 *   import { arbPacket } from "@sansmqtt/core/testing";
 *   fc.assert(fc.property(arbPacket(5), (p) => { ... }));
 */
export {
  type ArbitraryOptions,
  type MqttStringOptions,
  type TopicOptions,
  type TopicFilterOptions,
  type PropertiesOptions,
  type Chunking,
  type LongFieldOptions,
  FIELD_MAX_BYTES,
  arbMqttString,
  arbLongMqttString,
  arbLongBytes,
  arbTopicName,
  arbTopicFilter,
  arbProperties,
  arbQoS,
  arbPacketId,
  arbProtocolVersion,
  arbReasonCode,
  arbConnect,
  arbConnack,
  arbPublish,
  arbPuback,
  arbPubrec,
  arbPubrel,
  arbPubcomp,
  arbSubscription,
  arbSubscribe,
  arbSuback,
  arbUnsubscribe,
  arbUnsuback,
  arbPingreq,
  arbPingresp,
  arbDisconnect,
  arbAuth,
  arbPacketOfType,
  arbPacket,
  arbPacketStream,
  packetTypesOf,
  arbChunker,
  arbChunking,
  chunk,
  splitAt,
  concatBytes,
} from "./arbitraries.js";
