/**
 * A poll-style loop the application owns: the TypeScript counterpart of
 * Paho's examples/loop_select.py. The program waits for readiness (its own
 * `select`, made from the loop's hooks), then calls loopRead, loopWrite and
 * loopMisc itself. It connects, subscribes, publishes `count` messages at
 * `qos` to its own topic (at most `window` outstanding), waits until every one
 * came back, optionally idles so keep alive runs through loopMisc alone,
 * disconnects, and resolves with what it saw. test/examples.test.ts runs it
 * against the test broker.
 */
import { MqttConnection, type CloseReason, type ProtocolVersion, type QoS, type Transport } from "@sansmqtt/core";
import { ExternalLoop, MQTT_ERR_SUCCESS, errorString } from "@sansmqtt/loop-external";
import { TcpTransport } from "@sansmqtt/transport-tcp";

export interface SelectExampleOptions {
  host: string;
  port: number;
  topic: string;
  count?: number;
  qos?: QoS;
  protocolVersion?: ProtocolVersion;
  /** Seconds. */
  keepAlive?: number;
  /** Milliseconds to stay connected and idle after the last message came back. */
  idleMs?: number;
  /** Messages published and not yet `published`, at most. */
  window?: number;
  /** Another transport (the test wraps TCP to watch the bytes). */
  transport?: () => Transport;
}

export interface SelectExampleResult {
  published: number;
  received: number;
  /** How many times the loop woke up. */
  wakeups: number;
  /** The result code of the loop call that saw the end. */
  lastResult: number;
  /** How the connection ended. */
  reason: CloseReason | undefined;
}

/**
 * select() over one ExternalLoop: resolves when loopRead has work, when
 * loopWrite may write, or after `timeoutMs`.
 */
function selector(loop: ExternalLoop): (timeoutMs: number) => Promise<void> {
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  loop.onReadable = poke;
  loop.onWritable = poke;
  loop.onSocketRegisterWrite = poke;
  return (timeoutMs) =>
    new Promise<void>((resolve) => {
      if (loop.wantRead() || (loop.wantWrite() && !loop.writeBlocked)) return resolve();
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, timeoutMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
}

export async function run(o: SelectExampleOptions): Promise<SelectExampleResult> {
  const count = o.count ?? 10;
  const qos = o.qos ?? 1;
  const window = o.window ?? 1000;
  const payload = new TextEncoder().encode("x".repeat(32));
  const engine = new MqttConnection({
    protocolVersion: o.protocolVersion ?? 5,
    clientId: `loop-select-${Math.random().toString(36).slice(2, 10)}`,
    keepAlive: o.keepAlive ?? 60,
    maxInflight: 100,
  });
  const loop = new ExternalLoop({ engine, transport: o.transport ?? (() => new TcpTransport({ host: o.host, port: o.port })) });
  const select = selector(loop);

  let published = 0;
  let sent = 0;
  let received = 0;
  let wakeups = 0;
  let finishedAt: number | undefined;
  let closed = false;
  let reason: CloseReason | undefined;
  const publishMore = (): void => {
    while (sent < count && sent - published < window) {
      loop.publish({ topic: o.topic, payload, qos });
      sent++;
    }
  };
  loop.onEvent = (e) => {
    switch (e.type) {
      case "connected":
        loop.subscribe({ topicFilter: o.topic, qos: 2 });
        break;
      case "subscribed":
        publishMore();
        break;
      case "published":
        if (e.reasonCode >= 0x80) throw new Error(`publish failed: 0x${e.reasonCode.toString(16)}`);
        published++;
        if (published === count && received === count) finishedAt = loop.now();
        publishMore();
        break;
      case "message":
        received++;
        if (published === count && received === count) finishedAt = loop.now();
        break;
      case "closed":
        closed = true;
        reason = e.reason;
        break;
    }
  };

  await loop.connect();
  let lastResult = MQTT_ERR_SUCCESS;
  while (!closed) {
    await select(Math.min(loop.miscDelay() ?? 1000, 1000));
    wakeups++;
    let rc = MQTT_ERR_SUCCESS;
    if (loop.wantRead()) rc = loop.loopRead();
    if (!closed && rc === MQTT_ERR_SUCCESS && loop.wantWrite() && !loop.writeBlocked) rc = loop.loopWrite();
    if (!closed && rc === MQTT_ERR_SUCCESS) rc = loop.loopMisc();
    lastResult = rc;
    if (rc !== MQTT_ERR_SUCCESS && !closed) throw new Error(`the loop ended: ${errorString(rc)}`);
    if (finishedAt !== undefined && loop.isOpen && loop.now() - finishedAt >= (o.idleMs ?? 0)) loop.disconnect();
  }
  return { published, received, wakeups, lastResult, reason };
}
