// Test support for the packages whose tests talk to the throwaway broker
// (scripts/with-broker.sh): its address from the environment, and the MQTT codec
// from @sansmqtt/core over any byte pipe. Private; never published.
import { expect } from "vitest";
import { encodePacket, PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import { type ProtocolVersion } from "@sansmqtt/core";

export { brokerEnv, brokerPort, uniqueTopic, uniqueClientId, text, untext } from "@sansmqtt/test-broker";
import { text, uniqueClientId, uniqueTopic, untext } from "@sansmqtt/test-broker";

type Waiter = { resolve: (p: Packet) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

/**
 * One MQTT conversation: `send` encodes a packet and hands the bytes to `write`;
 * the pipe calls `receive` with whatever bytes arrive, and `close` or `fail`
 * when it ends. `next` and `expect` hand out the decoded packets in order.
 */
export class MqttWire {
  private readonly decoder: PacketDecoder;
  private readonly queue: Packet[] = [];
  private waiter: Waiter | undefined;
  private failure: Error | undefined;

  constructor(
    readonly version: ProtocolVersion,
    private readonly write: (bytes: Uint8Array) => void,
  ) {
    this.decoder = new PacketDecoder({ protocolVersion: version });
  }

  send(packet: Packet): void {
    this.write(encodePacket(packet, this.version));
  }

  receive(chunk: Uint8Array): void {
    try {
      this.decoder.push(chunk);
      for (let p = this.decoder.next(); p !== undefined; p = this.decoder.next()) this.queue.push(p);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    this.settle();
  }

  /** The pipe failed or closed: pending and later `next` calls reject with `err`. */
  fail(err: Error): void {
    this.failure ??= err;
    this.settle();
  }

  close(): void {
    this.fail(new Error("connection closed by the broker"));
  }

  next(timeoutMs = 5000): Promise<Packet> {
    if (this.waiter) throw new Error("MqttWire.next: already waiting");
    return new Promise<Packet>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no packet from the broker within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = { resolve, reject, timer };
      this.settle();
    });
  }

  /** The next packet, which must be of type `type`. */
  async expect<T extends Packet["type"]>(type: T, timeoutMs?: number): Promise<Extract<Packet, { type: T }>> {
    const packet = await this.next(timeoutMs);
    if (packet.type !== type) throw new Error(`expected ${type}, got ${describe(packet)}`);
    return packet as Extract<Packet, { type: T }>;
  }

  /** The next `count` packets, in arrival order. */
  async take(count: number, timeoutMs?: number): Promise<Packet[]> {
    const packets: Packet[] = [];
    while (packets.length < count) packets.push(await this.next(timeoutMs));
    return packets;
  }

  private settle(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    const packet = this.queue.shift();
    if (packet === undefined && this.failure === undefined) return;
    this.waiter = undefined;
    clearTimeout(waiter.timer);
    if (packet !== undefined) waiter.resolve(packet);
    else waiter.reject(this.failure!);
  }
}

function describe(packet: Packet): string {
  return JSON.stringify(packet, (_k, v: unknown) => (v instanceof Uint8Array ? untext(v) : v));
}

/**
 * The round trip every listener must carry: CONNECT → CONNACK (success),
 * SUBSCRIBE at QoS 1 → SUBACK granting QoS 1, PUBLISH at QoS 1 → the broker's
 * PUBACK and our own message back (in either order), our PUBACK for it, DISCONNECT.
 */
export async function publishRoundTrip(wire: MqttWire, label: string): Promise<void> {
  const topic = uniqueTopic(label);
  const payload = `hello from ${label} over MQTT ${wire.version === 5 ? "5" : "3.1.1"}`;

  wire.send({ type: "connect", protocolVersion: wire.version, clean: true, keepAlive: 30, clientId: uniqueClientId(label) });
  const connack = await wire.expect("connack");
  expect(connack).toMatchObject({ reasonCode: 0, sessionPresent: false });

  wire.send({ type: "subscribe", packetId: 1, subscriptions: [{ topicFilter: topic, qos: 1 }] });
  const suback = await wire.expect("suback");
  expect(suback).toMatchObject({ packetId: 1, reasonCodes: [1] });

  wire.send({ type: "publish", topic, payload: text(payload), qos: 1, retain: false, dup: false, packetId: 2 });
  const got = await wire.take(2); // the PUBACK and our message, in either order
  const puback = got.find((p) => p.type === "puback");
  const echo = got.find((p) => p.type === "publish");
  expect(puback, "PUBACK for our PUBLISH").toMatchObject({ packetId: 2, reasonCode: 0 });
  expect(echo, "our own message, back from the broker").toMatchObject({ topic, qos: 1, retain: false });
  expect(untext(echo!.payload)).toBe(payload);
  expect(echo!.packetId).toBeTypeOf("number");
  wire.send({ type: "puback", packetId: echo!.packetId!, reasonCode: 0 });

  wire.send({ type: "disconnect", reasonCode: 0 });
}

export { EngineDriver, qosRoundTrip } from "./driver.js";
export { recordTransport, trackServers, transportFailure, type ServerTracker, type TransportRecord } from "./transport-record.js";
export {
  startHttpConnectProxy,
  startRefusingHttpServer,
  startSilentServer,
  startSocks4Proxy,
  startSocks5Proxy,
  type ProxyMode,
  type ProxyServer,
  type ProxyServerOptions,
  type TestServer,
} from "./servers.js";
export { CuttingProxy, type CuttingProxyOptions, type CuttingProxyStats } from "./cutting-proxy.js";
export { RestartableBroker, type RestartableBrokerOptions } from "./restartable-broker.js";
export { bytes, Churn, Peer, richSession } from "./sessions.js";
export { rng } from "./random.js";
