/**
 * @sansmqtt/loop-external: Paho's external event loop contract (loop_read,
 * loop_write, loop_misc, want_write, socket and the on_socket_* hooks) over the
 * Sans-IO engine of @sansmqtt/core and any Transport. No timers, no Node
 * built-ins: the caller's loop decides when to call what.
 */
export { ExternalLoop, type ExternalLoopOptions, type LoopHooks } from "./loop.js";
export { LoopRunner } from "./runner.js";
export {
  MQTT_ERR_AGAIN,
  MQTT_ERR_SUCCESS,
  MQTT_ERR_NOMEM,
  MQTT_ERR_PROTOCOL,
  MQTT_ERR_INVAL,
  MQTT_ERR_NO_CONN,
  MQTT_ERR_CONN_REFUSED,
  MQTT_ERR_NOT_FOUND,
  MQTT_ERR_CONN_LOST,
  MQTT_ERR_TLS,
  MQTT_ERR_PAYLOAD_SIZE,
  MQTT_ERR_NOT_SUPPORTED,
  MQTT_ERR_AUTH,
  MQTT_ERR_ACL_DENIED,
  MQTT_ERR_UNKNOWN,
  MQTT_ERR_ERRNO,
  MQTT_ERR_QUEUE_SIZE,
  MQTT_ERR_KEEPALIVE,
  errorString,
  resultOfError,
  resultOfClose,
  type MqttErrorCode,
} from "./codes.js";
