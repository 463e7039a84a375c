/**
 * The engine over a plain node:net socket: connect, subscribe, publish at
 * QoS 1, receive it back, disconnect. The whole IO loop is the three steps
 * of the polling order (events, bytes, deadline).
 *
 *   import { run } from "./engine-over-net.js";
 *   await run({ host: "127.0.0.1", port: 1883, topic: "demo/hello" });
 */
import net from "node:net";
import { performance } from "node:perf_hooks";
import { type Event, MqttConnection } from "@sansmqtt/core";

export async function run(opts: { host: string; port: number; topic: string }): Promise<string> {
  const now = (): number => performance.now();
  const conn = new MqttConnection({ protocolVersion: 5, clientId: `example-${process.pid}`, keepAlive: 30 });
  const socket = net.connect({ host: opts.host, port: opts.port });
  let timer: NodeJS.Timeout | undefined;

  return new Promise<string>((resolve, reject) => {
    const onEvent = (e: Event): void => {
      switch (e.type) {
        case "connected":
          conn.subscribe(now(), { topicFilter: opts.topic, qos: 1 });
          break;
        case "subscribed":
          conn.publish(now(), { topic: opts.topic, payload: new TextEncoder().encode("hello"), qos: 1 });
          break;
        case "message":
          conn.disconnect(now());
          resolve(new TextDecoder().decode(e.payload));
          break;
        case "closed":
          if (e.reason.kind !== "local") reject(new Error(`connection closed: ${e.reason.kind}`));
          break;
      }
    };
    // The polling order, after any input: events, then bytes, then the next deadline.
    const drive = (): void => {
      do {
        for (let e = conn.pollEvent(now()); e !== undefined; e = conn.pollEvent(now())) onEvent(e);
        for (const chunk of conn.pollTransmit(now())) socket.write(chunk);
      } while (conn.wantsEvents());
      if (conn.state === "closed") {
        clearTimeout(timer);
        socket.end();
        return;
      }
      clearTimeout(timer);
      const at = conn.pollTimeout();
      if (at !== undefined) timer = setTimeout(() => (conn.handleTimeout(now()), drive()), Math.max(0, at - now()));
    };
    socket.on("connect", () => {
      conn.connect(now());
      drive();
    });
    // The engine owns every chunk it is given; node:net hands out a new Buffer each time.
    socket.on("data", (chunk) => {
      conn.receiveData(now(), chunk);
      drive();
    });
    socket.on("error", (err) => reject(err));
    socket.on("close", () => {
      clearTimeout(timer);
      conn.connectionLost(now());
      drive();
    });
  });
}
