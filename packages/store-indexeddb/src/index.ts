/**
 * @sansmqtt/store-indexeddb: a SessionStore that keeps a client's MQTT
 * session in the browser's IndexedDB (durability "strict" transactions, group
 * commit, validation on load, a Web Locks lock per client id), so QoS 1/2
 * messages in flight survive a reload of the page.
 */
export {
  IndexedDbStore,
  DATABASE_VERSION,
  OBJECT_STORE,
  type IndexedDbStoreOptions,
  type IDBFactoryLike,
  type SessionRecord,
} from "./indexeddb-store.js";
