/**
 * The error codes as module constants, for the package's own use: a bundler
 * inlines `E.X` (a namespace import of constants) as a string, where a read of
 * `ErrorCode.X` keeps the whole `ErrorCode` object in every bundle. Same names
 * and values as `ErrorCode`, the public list (test/codec.errors.test.ts checks).
 */
export const PacketTypeInvalid = "ERR_PACKET_TYPE";
export const FixedHeaderFlags = "ERR_FIXED_HEADER_FLAGS";
export const VarintMalformed = "ERR_VARINT";
export const PacketTooLarge = "ERR_PACKET_TOO_LARGE";
export const LengthMismatch = "ERR_LENGTH";
export const Utf8Invalid = "ERR_UTF8";
export const Utf8Null = "ERR_UTF8_NULL";
export const QosInvalid = "ERR_QOS";
export const TopicInvalid = "ERR_TOPIC";
export const TopicFilterInvalid = "ERR_TOPIC_FILTER";
export const PacketIdInvalid = "ERR_PACKET_ID";
export const PropertyUnknown = "ERR_PROPERTY_UNKNOWN";
export const PropertyNotAllowed = "ERR_PROPERTY_NOT_ALLOWED";
export const PropertyDuplicate = "ERR_PROPERTY_DUPLICATE";
export const PropertyValue = "ERR_PROPERTY_VALUE";
export const ReasonCodeInvalid = "ERR_REASON_CODE";
export const ProtocolInvalid = "ERR_PROTOCOL";
export const FlagsInvalid = "ERR_FLAGS";
export const Empty = "ERR_EMPTY";
export const SubscriptionOptions = "ERR_SUBSCRIPTION_OPTIONS";
export const ValueRange = "ERR_VALUE_RANGE";
export const VersionMismatch = "ERR_VERSION";
export const UnexpectedPacket = "ERR_UNEXPECTED_PACKET";
export const TopicAliasInvalid = "ERR_TOPIC_ALIAS";
export const ReceiveMaximumExceeded = "ERR_RECEIVE_MAXIMUM";
export const AckMismatch = "ERR_ACK_MISMATCH";
export const SessionPresentInvalid = "ERR_SESSION_PRESENT";
export const AuthInvalid = "ERR_AUTH";
export const InvalidState = "ERR_STATE";
export const QueueFull = "ERR_QUEUE_FULL";
export const NotSupported = "ERR_NOT_SUPPORTED";
export const PacketIdsExhausted = "ERR_PACKET_IDS_EXHAUSTED";
export const InvalidArgument = "ERR_ARGUMENT";
export const MessageExpired = "ERR_MESSAGE_EXPIRED";
export const SessionLost = "ERR_SESSION_LOST";
export const SendAttemptsExhausted = "ERR_SEND_ATTEMPTS";
