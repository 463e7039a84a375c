/**
 * The reason codes the codec and the engine use, as module constants: a bundler
 * inlines `RC.X` (a namespace import of constants) as a number, where a read of
 * `ReasonCode.X` keeps the whole `ReasonCode` object in every bundle. Same
 * values as `ReasonCode` (test/codec.errors.test.ts checks).
 */
export const ContinueAuthentication = 0x18;
export const DisconnectWithWillMessage = 0x04;
export const ImplementationSpecificError = 0x83;
export const KeepAliveTimeout = 0x8d;
export const NormalDisconnection = 0x00;
export const PacketIdentifierNotFound = 0x92;
export const PacketTooLarge = 0x95;
export const ProtocolError = 0x82;
export const QoSNotSupported = 0x9b;
export const QuotaExceeded = 0x97;
export const ReAuthenticate = 0x19;
export const ReceiveMaximumExceeded = 0x93;
export const RetainNotSupported = 0x9a;
export const SharedSubscriptionsNotSupported = 0x9e;
export const SubscriptionIdentifiersNotSupported = 0xa1;
export const Success = 0x00;
export const TopicAliasInvalid = 0x94;
export const TopicNameInvalid = 0x90;
export const UnspecifiedError = 0x80;
export const UnsupportedProtocolVersion = 0x84;
export const WildcardSubscriptionsNotSupported = 0xa2;
