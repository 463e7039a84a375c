// MQTT 5 enhanced authentication (Paho has none): onAuth and auth() through a
// challenge/response exchange and a re-authentication. mosquitto 2.0 offers no
// AUTH method without a plugin, so the server here is a scripted one on
// loopback that speaks the codec's packets over a real socket.
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { encodePacket, PacketDecoder, type Packet } from "@sansmqtt/core/codec";
import { Client, MQTTv5, type ReasonCode, type Properties } from "../src/index.js";
import { waitFor } from "./helpers.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined): string => new TextDecoder().decode(b ?? new Uint8Array(0));

/** A one-connection MQTT 5 server: the test reads the client's packets and answers them. */
async function scriptedServer(): Promise<{ port: number; next(): Promise<Packet>; send(p: Packet): void; close(): Promise<void> }> {
  const decoder = new PacketDecoder({ protocolVersion: 5 });
  const got: Packet[] = [];
  let wake: (() => void) | undefined;
  let socket: net.Socket | undefined;
  const server = net.createServer((s) => {
    socket = s;
    s.on("data", (d) => {
      decoder.push(new Uint8Array(d));
      for (let p = decoder.next(); p !== undefined; p = decoder.next()) got.push(p);
      wake?.();
    });
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    async next() {
      const until = Date.now() + 5_000;
      while (got.length === 0) {
        if (Date.now() > until) throw new Error("no packet from the client within 5 s");
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 50);
        });
      }
      return got.shift()!;
    },
    send(p) {
      socket!.write(encodePacket(p, 5));
    },
    close: () =>
      new Promise<void>((r) => {
        socket?.destroy();
        server.close(() => r());
      }),
  };
}

let cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const f of cleanup) await f().catch(() => undefined);
  cleanup = [];
});

describe("enhanced authentication (MQTT 5 AUTH)", () => {
  it("[MQTT-4.12.0-3] [MQTT-4.12.0-5] a challenge/response exchange: onAuth gets the server's 0x18 and its data, auth() answers, CONNACK completes it; then a re-authentication with 0x19", async () => {
    const server = await scriptedServer();
    cleanup.push(() => server.close());
    const c = new Client({ clientId: "enhanced-auth", protocol: MQTTv5 });
    cleanup.push(async () => {
      c.disconnect();
      await c.loopStop();
    });
    const auths: Array<{ rc: ReasonCode; props: Properties }> = [];
    c.onAuth = (client, _u, rc, props) => {
      auths.push({ rc, props });
      if (rc.value === 0x18) client.auth(0x18, { authenticationMethod: "TEST-CR", authenticationData: bytes(`response to ${str(props.authenticationData)}`) });
    };
    let connack: { rc: ReasonCode; props: Properties } | undefined;
    c.onConnect = (_c, _u, _f, rc, props) => (connack = { rc, props });
    await c.connect("127.0.0.1", server.port, 30, { properties: { authenticationMethod: "TEST-CR", authenticationData: bytes("client-first") } });
    c.loopStart();

    const connect = await server.next();
    expect(connect).toMatchObject({ type: "connect", properties: { authenticationMethod: "TEST-CR" } });
    expect(str((connect as Extract<Packet, { type: "connect" }>).properties?.authenticationData)).toBe("client-first");
    server.send({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "TEST-CR", authenticationData: bytes("nonce-1") } });
    const answer = await server.next();
    expect(answer).toMatchObject({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: "TEST-CR" } });
    expect(str((answer as Extract<Packet, { type: "auth" }>).properties?.authenticationData)).toBe("response to nonce-1");
    server.send({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: "TEST-CR", authenticationData: bytes("server-final") } });
    await waitFor("onConnect", () => connack);
    expect(connack!.rc.isFailure).toBe(false);
    expect(str(connack!.props.authenticationData)).toBe("server-final");
    expect(auths.map((a) => a.rc.value)).toEqual([0x18]);

    // Re-authentication, started by the client while connected.
    expect(c.auth(0x19, { authenticationMethod: "TEST-CR", authenticationData: bytes("again") })).toBe(0);
    const reauth = await server.next();
    expect(reauth).toMatchObject({ type: "auth", reasonCode: 0x19 });
    server.send({ type: "auth", reasonCode: 0x00, properties: { authenticationMethod: "TEST-CR" } });
    await waitFor("onAuth for the success", () => auths.length === 2);
    expect(auths[1]!.rc.value).toBe(0);
    expect(auths[1]!.rc.getName()).toBe("Success");
    expect(c.isConnected()).toBe(true);
  });

  it("auth() needs MQTT 5 (ERR_CLIENT_ARGUMENT) and a connection (MQTT_ERR_NO_CONN); [MQTT-4.12.0-5] another method than the CONNECT's is refused by the engine", async () => {
    expect(() => new Client({ protocol: 4 }).auth(0x18)).toThrow(expect.objectContaining({ code: "ERR_CLIENT_ARGUMENT" }));
    expect(new Client({ protocol: MQTTv5 }).auth(0x18)).toBe(4);
    const server = await scriptedServer();
    cleanup.push(() => server.close());
    const c = new Client({ clientId: "enhanced-auth-2", protocol: MQTTv5 });
    cleanup.push(async () => {
      c.disconnect();
      await c.loopStop();
    });
    let connected = false;
    c.onConnect = () => (connected = true);
    await c.connect("127.0.0.1", server.port, 30, { properties: { authenticationMethod: "M1" } });
    c.loopStart();
    await server.next();
    server.send({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: "M1" } });
    await waitFor("onConnect", () => connected);
    expect(() => c.auth(0x19, { authenticationMethod: "M2" })).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_/) }));
  });
});
