/**
 * @sansmqtt/store-file: a SessionStore that keeps a client's MQTT session in
 * a file, durable (fsync) and crash-safe (checksummed append-only log, atomic
 * compaction), so QoS 1/2 messages in flight survive a restart of the program.
 */
export { FileStore, clientDirectoryName, type FileStoreOptions, type FileStoreStats } from "./file-store.js";
