// proxySet through real proxies on loopback (SOCKS5, SOCKS4/4a, HTTP CONNECT;
// the proxies of @sansmqtt/test-support) to the throwaway mosquitto: a message
// out and back, and the proxy saw the broker as the destination.
import { startHttpConnectProxy, startSocks4Proxy, startSocks5Proxy, uniqueTopic } from "@sansmqtt/test-support";
import { afterEach, describe, expect, it } from "vitest";
import type { ProxySetOptions } from "../src/index.js";
import { Clients, HOST, TCP_PORT, connectStarted, waitFor } from "./helpers.js";

const clients = new Clients();
const servers: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  await clients.cleanup();
  for (const s of servers.splice(0)) await s.close();
});

const cases: Array<[string, () => Promise<{ port: number; destinations: readonly string[]; close(): Promise<void> | void }>, (port: number) => ProxySetOptions]> = [
  ["SOCKS5", () => startSocks5Proxy(), (port) => ({ proxyType: "socks5", proxyAddr: "127.0.0.1", proxyPort: port })],
  ["SOCKS4a (the proxy resolves the name)", () => startSocks4Proxy(), (port) => ({ proxyType: "socks4", proxyAddr: "127.0.0.1", proxyPort: port, proxyUsername: "paho-user" })],
  ["SOCKS4 (resolved here)", () => startSocks4Proxy(), (port) => ({ proxyType: "socks4", proxyAddr: "127.0.0.1", proxyPort: port, proxyRdns: false })],
  ["HTTP CONNECT", () => startHttpConnectProxy(), (port) => ({ proxyType: "http", proxyAddr: "127.0.0.1", proxyPort: port })],
];

describe("proxySet", () => {
  for (const [name, start, options] of cases) {
    it(`${name}: a QoS 1 message out and back through the proxy`, async () => {
      const proxy = await start();
      servers.push(proxy);
      const c = clients.make("proxy");
      c.proxySet(options(proxy.port));
      const got: string[] = [];
      c.onMessage = (_c, _u, m) => got.push(m.text());
      await connectStarted(c, TCP_PORT(), HOST());
      const topic = uniqueTopic("proxy");
      let granted = false;
      c.onSubscribe = () => (granted = true);
      c.subscribe(topic, 1);
      await waitFor("SUBACK", () => granted);
      await c.publish(topic, `through ${name}`, 1).waitForPublish(5_000);
      await waitFor("the message back", () => got.length > 0);
      expect(got).toEqual([`through ${name}`]);
      expect(proxy.destinations.some((d) => d.endsWith(`:${TCP_PORT()}`))).toBe(true);
    });
  }
});
