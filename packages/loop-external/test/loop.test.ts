// ExternalLoop over a scripted transport and a virtual clock: the result codes,
// the hook order of Paho's contract, back-pressure and the close bound. No
// sockets, no sleeps. (The same contract over a real mosquitto: broker.test.ts.)
import { describe, expect, it } from "vitest";
import { ErrorCode, LocalProtocolError, TransportError, TransportErrorCode } from "@sansmqtt/core";
import {
  errorString,
  MQTT_ERR_CONN_LOST,
  MQTT_ERR_CONN_REFUSED,
  MQTT_ERR_KEEPALIVE,
  MQTT_ERR_NO_CONN,
  MQTT_ERR_PROTOCOL,
  MQTT_ERR_QUEUE_SIZE,
  MQTT_ERR_SUCCESS,
  MQTT_ERR_TLS,
  resultOfError,
} from "../src/index.js";
import type { Packet } from "@sansmqtt/core/codec";
import { connected, scripted, type Scripted } from "./scripted.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("ExternalLoop: result codes without a connection", () => {
  it("loopRead, loopWrite and loopMisc return MQTT_ERR_NO_CONN before connect(); wantWrite is false; socket() undefined", () => {
    const s = scripted();
    expect(s.loop.loopRead()).toBe(MQTT_ERR_NO_CONN);
    expect(s.loop.loopWrite()).toBe(MQTT_ERR_NO_CONN);
    expect(s.loop.loopMisc()).toBe(MQTT_ERR_NO_CONN);
    expect(s.loop.wantWrite()).toBe(false);
    expect(s.loop.socket()).toBeUndefined();
    expect(s.log).toEqual([]);
  });

  it("a transport that fails to open rejects connect() with its TransportError and calls no hook", async () => {
    const s = scripted();
    const opened = s.loop.connect();
    s.t().fail(new TransportError(TransportErrorCode.Refused, "refused"));
    await expect(opened).rejects.toMatchObject({ code: TransportErrorCode.Refused });
    expect(s.log).toEqual([]);
    expect(s.loop.loopMisc()).toBe(MQTT_ERR_NO_CONN);
    // A later attempt makes a new transport.
    const again = s.loop.connect();
    s.t().accept();
    await again;
    expect(s.transports).toHaveLength(2);
  });

  it("connect() while a connection is open throws ERR_STATE", async () => {
    const s = scripted();
    await connected(s);
    expect(() => s.loop.connect()).toThrow(expect.objectContaining({ code: ErrorCode.InvalidState }));
  });
});

describe("ExternalLoop: Paho's hook order", () => {
  it("[MQTT-3.1.0-1] open comes before CONNECT is queued; CONNECT registers write; loopWrite unregisters", async () => {
    const s = scripted();
    const opened = s.loop.connect();
    expect(s.log).toEqual([]);
    s.t().accept();
    await opened;
    expect(s.log).toEqual(["open", "register"]);
    expect(s.loop.socket()).toBe(s.t().sock);
    expect(s.loop.wantWrite()).toBe(true);
    expect(s.loop.loopWrite()).toBe(MQTT_ERR_SUCCESS);
    expect(s.log).toEqual(["open", "register", "unregister"]);
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect"]);
    s.server({ type: "connack", sessionPresent: false, reasonCode: 0 });
    expect(s.log.at(-1)).toBe("readable");
    expect(s.loop.loopRead()).toBe(MQTT_ERR_SUCCESS);
    expect(s.log.at(-1)).toBe("event:connected");
  });

  it("[MQTT-3.14.4-2] a local disconnect: closed event, then unregister and close; the transport closes gracefully", async () => {
    const s = scripted();
    await connected(s);
    s.log.length = 0;
    s.loop.disconnect();
    // DISCONNECT waits to be written; the engine's `closed` event waits to be delivered.
    expect(s.log).toEqual(["register", "readable"]);
    expect(s.loop.loopWrite()).toBe(MQTT_ERR_SUCCESS);
    expect(s.log).toEqual(["register", "readable", "event:closed", "unregister", "close"]);
    expect(s.t().packets(5).at(-1)).toMatchObject({ type: "disconnect" });
    expect(s.t().closedWith).toEqual([undefined]);
    expect(s.loop.socket()).toBeUndefined();
    expect(s.loop.loopRead()).toBe(MQTT_ERR_NO_CONN);
    s.t().end();
    expect(s.loop.loopMisc()).toBe(MQTT_ERR_NO_CONN);
    expect(s.log.filter((l) => l === "close")).toHaveLength(1);
  });

  it("a broker DISCONNECT: close first, then the closed event; loopRead returns MQTT_ERR_CONN_LOST", async () => {
    const s = scripted();
    await connected(s);
    s.log.length = 0;
    s.server({ type: "disconnect", reasonCode: 0x8b });
    expect(s.loop.loopRead()).toBe(MQTT_ERR_CONN_LOST);
    expect(s.log).toEqual(["readable", "close", "event:closed"]);
    expect(s.events.at(-1)).toMatchObject({ type: "closed", reason: { kind: "server-disconnect", reasonCode: 0x8b } });
  });

  it("the network drops the connection: unregister (if registered), close, then closed(transport); loopRead returns MQTT_ERR_CONN_LOST", async () => {
    const s = scripted();
    await connected(s);
    s.loop.publish({ topic: "a", payload: bytes("x"), qos: 1 });
    s.log.length = 0;
    s.t().end(new TransportError(TransportErrorCode.Reset, "reset"));
    expect(s.log).toEqual(["readable"]);
    expect(s.loop.loopRead()).toBe(MQTT_ERR_CONN_LOST);
    expect(s.log).toEqual(["readable", "unregister", "close", "event:closed"]);
    expect(s.events.at(-1)).toMatchObject({ type: "closed", reason: { kind: "transport", cause: { code: TransportErrorCode.Reset } } });
    expect(s.loop.loopRead()).toBe(MQTT_ERR_NO_CONN);
  });

  it("bytes that arrived before the connection dropped are handled first", async () => {
    const s = scripted();
    await connected(s);
    s.loop.subscribe({ topicFilter: "a", qos: 0 });
    s.loop.loopWrite();
    s.server({ type: "suback", packetId: 1, reasonCodes: [0] });
    s.t().end();
    expect(s.loop.loopMisc()).toBe(MQTT_ERR_CONN_LOST); // loopMisc reports a loss loopRead has not
    expect(s.events.map((e) => e.type)).toEqual(["connected", "subscribed", "closed"]);
  });

  it("a TLS failure after open maps to MQTT_ERR_TLS", async () => {
    const s = scripted();
    await connected(s);
    s.t().end(new TransportError(TransportErrorCode.TlsCertExpired, "expired"));
    expect(s.loop.loopRead()).toBe(MQTT_ERR_TLS);
  });

  it("abort() cuts the socket without DISCONNECT; the loss is reported like any other", async () => {
    const s = scripted();
    await connected(s);
    s.loop.abort();
    expect(s.t().closedWith).toHaveLength(1);
    expect(s.t().closedWith[0]).toBeInstanceOf(TransportError);
    s.t().end(s.t().closedWith[0] as TransportError);
    expect(s.loop.loopRead()).toBe(MQTT_ERR_CONN_LOST);
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect"]);
  });

  it("[MQTT-4.13.2-1] a refusing CONNACK returns MQTT_ERR_CONN_REFUSED; the socket hooks come before the closed event", async () => {
    const s = scripted();
    const opened = s.loop.connect();
    s.t().accept();
    await opened;
    s.loop.loopWrite();
    s.server({ type: "connack", sessionPresent: false, reasonCode: 0x86 });
    expect(s.loop.loopRead()).toBe(MQTT_ERR_CONN_REFUSED);
    expect(s.log.slice(-2)).toEqual(["close", "event:closed"]);
    expect(s.t().closedWith).toEqual([undefined]);
  });

  it("[MQTT-4.13.2-1] [MQTT-3.14.4-2] a protocol error from the broker: DISCONNECT 0x82 written, then closed; MQTT_ERR_PROTOCOL", async () => {
    const s = scripted();
    await connected(s);
    s.server({ type: "connack", sessionPresent: false, reasonCode: 0 }); // a second CONNACK [MQTT-3.2.0-1]
    expect(s.loop.loopRead()).toBe(MQTT_ERR_PROTOCOL);
    expect(s.t().packets(5).at(-1)).toMatchObject({ type: "disconnect", reasonCode: 0x82 });
    expect(s.t().closedWith).toEqual([undefined]);
  });

  it("a reconnect after a loss opens a new transport and a new hook cycle", async () => {
    const s = scripted();
    await connected(s);
    s.t().end();
    s.loop.loopRead();
    await connected(s);
    expect(s.log.filter((l) => l === "open" || l === "close")).toEqual(["open", "close", "open"]);
  });
});

describe("ExternalLoop: time through loopMisc alone", () => {
  it("[MQTT-3.1.2-20] sends PINGREQ at the keep alive and ends with MQTT_ERR_KEEPALIVE when no PINGRESP comes", async () => {
    const s = scripted({ keepAlive: 2 });
    await connected(s);
    expect(s.loop.miscDelay()).toBe(2000);
    s.clock.now += 1999;
    expect(s.loop.loopMisc()).toBe(MQTT_ERR_SUCCESS);
    expect(s.loop.wantWrite()).toBe(false);
    s.clock.now += 1;
    expect(s.loop.loopMisc()).toBe(MQTT_ERR_SUCCESS);
    expect(s.loop.wantWrite()).toBe(true);
    s.loop.loopWrite();
    expect(s.t().packets(5).at(-1)).toMatchObject({ type: "pingreq" });
    // PINGRESP answers: nothing happens; then silence past the ping timeout.
    s.server({ type: "pingresp" });
    s.loop.loopRead();
    s.clock.now += 2000;
    s.loop.loopMisc();
    s.loop.loopWrite();
    expect(s.t().packets(5).filter((p) => p.type === "pingreq")).toHaveLength(2);
    s.clock.now += s.loop.miscDelay()!;
    expect(s.loop.loopMisc()).toBe(MQTT_ERR_KEEPALIVE);
    expect(s.events.at(-1)).toMatchObject({ type: "closed", reason: { kind: "timeout", timer: "pingresp" } });
  });

  it("a graceful close that the broker never completes is cut by loopMisc after closeTimeoutMs", async () => {
    const s = scripted({}, 500);
    await connected(s);
    s.loop.disconnect();
    s.loop.loopWrite();
    expect(s.t().closedWith).toEqual([undefined]);
    expect(s.loop.miscDelay()).toBe(500);
    s.clock.now += 499;
    s.loop.loopMisc();
    expect(s.t().closedWith).toHaveLength(1);
    s.clock.now += 1;
    s.loop.loopMisc();
    expect(s.t().closedWith).toHaveLength(2);
    expect(String(s.t().closedWith[1])).toContain("did not close within 500 ms");
    expect(s.loop.miscDelay()).toBeUndefined();
  });
});

describe("ExternalLoop: readiness and back-pressure", () => {
  it("onReadable fires once per batch of input, until loopRead runs", async () => {
    const s = scripted();
    await connected(s);
    s.log.length = 0;
    s.server({ type: "pingresp" });
    s.server({ type: "pingresp" });
    expect(s.log).toEqual(["readable"]);
    expect(s.loop.wantRead()).toBe(true);
    s.loop.loopRead();
    expect(s.loop.wantRead()).toBe(false);
    s.server({ type: "pingresp" });
    expect(s.log).toEqual(["readable", "readable"]);
  });

  it("while the transport asks to wait, loopWrite writes nothing, wantWrite stays true, the engine's queue bounds memory; drain resumes", async () => {
    const s = scripted({ maxInflight: 10, maxQueued: 50 });
    await connected(s, { properties: { receiveMaximum: 100 } });
    const t = s.t();
    t.accepting = false;
    const payload = new Uint8Array(1000);
    let refused: unknown;
    let accepted = 0;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      try {
        s.loop.publish({ topic: "bp", payload, qos: 1 });
        accepted++;
      } catch (e) {
        refused = e;
      }
      s.loop.loopWrite();
    }
    // The first write went to the transport (which then asked to wait); the rest stayed in the engine.
    expect(refused).toBeInstanceOf(LocalProtocolError);
    expect(resultOfError(refused)).toBe(MQTT_ERR_QUEUE_SIZE);
    expect(accepted).toBe(60); // 10 in flight + 50 queued
    const writtenWhileBlocked = t.written.length;
    s.loop.loopWrite();
    expect(t.written.length).toBe(writtenWhileBlocked);
    expect(s.loop.wantWrite()).toBe(true);
    expect(s.engine.outputBytes).toBeLessThan(10 * 1100);
    t.drain();
    expect(s.log.at(-1)).toBe("writable");
    s.loop.loopWrite();
    expect(t.packets(5).filter((p) => p.type === "publish")).toHaveLength(10);
    // PUBACKs open the window: the queue goes out.
    for (let id = 1; id <= 10; id++) s.server({ type: "puback", packetId: id, reasonCode: 0 });
    s.loop.loopRead();
    s.loop.loopWrite();
    expect(t.packets(5).filter((p) => p.type === "publish")).toHaveLength(20);
    expect(s.events.filter((e) => e.type === "published")).toHaveLength(10);
  });

  it("commands deliver no event themselves; events they leave wake the loop", async () => {
    const s = scripted();
    await connected(s);
    s.log.length = 0;
    s.loop.publish({ topic: "q0", payload: bytes("x"), qos: 0 });
    expect(s.log).toEqual(["register"]);
    s.loop.loopWrite();
    expect(s.log).toEqual(["register", "event:published", "unregister"]);
  });
});

describe("ExternalLoop: the commit barrier (a session store saves before bytes go out)", () => {
  /** A commit the test resolves or rejects by hand, counting calls. */
  function barrier(): { commit: () => Promise<void>; calls: number; resolve(): void; reject(e: unknown): void } {
    const b = {
      calls: 0,
      pending: [] as { resolve(): void; reject(e: unknown): void }[],
      commit: (): Promise<void> => {
        b.calls++;
        return new Promise<void>((resolve, reject) => b.pending.push({ resolve, reject }));
      },
      resolve: () => b.pending.shift()!.resolve(),
      reject: (e: unknown) => b.pending.shift()!.reject(e),
    };
    return b;
  }
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

  /** A connection whose CONNECT went through its commit and whose CONNACK was read. */
  async function connectedThroughCommit(b: ReturnType<typeof barrier>, options: Parameters<typeof scripted>[0], connack: Partial<Extract<Packet, { type: "connack" }>> = {}): Promise<Scripted> {
    const s = scripted(options, 2000, { commit: b.commit });
    const opened = s.loop.connect();
    s.t().accept();
    await opened;
    s.loop.loopWrite();
    b.resolve();
    await settle();
    s.server({ type: "connack", sessionPresent: false, reasonCode: 0, ...connack });
    s.loop.loopRead();
    return s;
  }

  it("bytes wait for their commit; the next batch is taken meanwhile behind a commit of its own (pipelined), and everything goes out in order", async () => {
    const b = barrier();
    const s = scripted({}, 2000, { commit: b.commit });
    const opened = s.loop.connect();
    s.t().accept();
    await opened;
    s.loop.loopWrite();
    expect(b.calls).toBe(1);
    expect(s.t().written).toHaveLength(0); // CONNECT waits too
    expect(s.loop.writeBlocked).toBe(true);
    expect(s.loop.wantWrite()).toBe(true);
    b.resolve();
    await settle();
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect"]);
    expect(s.log.at(-1)).toBe("writable");
    s.server({ type: "connack", sessionPresent: false, reasonCode: 0 });
    s.loop.loopRead();
    s.loop.publish({ topic: "a", payload: bytes("1"), qos: 2 });
    s.loop.loopWrite();
    expect(s.loop.writeBlocked).toBe(true); // held, and nothing more in the engine
    s.loop.publish({ topic: "a", payload: bytes("2"), qos: 2 });
    s.loop.publish({ topic: "a", payload: bytes("3"), qos: 0 });
    expect(s.loop.writeBlocked).toBe(false); // pipelined: the next batch may be taken and its commit asked for
    s.loop.loopWrite();
    expect(b.calls).toBe(3);
    expect(s.t().packets(5)).toHaveLength(1);
    // A batch that needs no commit (QoS 0) still waits behind those that do: order is kept.
    s.loop.publish({ topic: "a", payload: bytes("4"), qos: 0 });
    s.loop.loopWrite();
    expect(b.calls).toBe(3);
    b.resolve();
    await settle();
    expect(s.t().packets(5).map((p) => p.type === "publish" && new TextDecoder().decode(p.payload))).toEqual([false, "1"]);
    b.resolve();
    await settle();
    expect(s.t().packets(5).map((p) => p.type === "publish" && new TextDecoder().decode(p.payload))).toEqual([false, "1", "2", "3", "4"]);
    expect(s.loop.writeBlocked).toBe(false);
    expect(s.loop.wantWrite()).toBe(false);
  });

  it("at most 4 batches wait for commits; then the loop stops taking from the engine (writeBlocked) until one is written", async () => {
    const b = barrier();
    const s = await connectedThroughCommit(b, { maxInflight: 100 }, { properties: { receiveMaximum: 100 } });
    for (let i = 0; i < 6; i++) {
      s.loop.publish({ topic: "a", payload: bytes(String(i)), qos: 2 });
      s.loop.loopWrite();
    }
    expect(b.calls).toBe(1 + 4);
    expect(s.loop.writeBlocked).toBe(true);
    b.resolve();
    await settle();
    expect(s.loop.writeBlocked).toBe(false);
    s.loop.loopWrite(); // the two that waited in the engine, behind one commit
    expect(b.calls).toBe(1 + 5);
    for (let i = 0; i < 4; i++) b.resolve();
    await settle();
    expect(s.t().packets(5).filter((p) => p.type === "publish").map((p) => p.type === "publish" && new TextDecoder().decode(p.payload))).toEqual(["0", "1", "2", "3", "4", "5"]);
  });

  it("QoS 0 and 1 PUBLISH and PINGREQ carry no change the store must hold: they go without a commit (a QoS 1 message whose state a crash loses only goes again)", async () => {
    const b = barrier();
    const s = await connectedThroughCommit(b, { keepAlive: 10 });
    const calls = b.calls;
    s.loop.publish({ topic: "a", payload: bytes("q0"), qos: 0 });
    s.loop.publish({ topic: "a", payload: bytes("q1"), qos: 1 });
    s.loop.loopWrite();
    s.clock.now += 10_000;
    s.loop.loopMisc();
    s.loop.loopWrite();
    expect(b.calls).toBe(calls);
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect", "publish", "publish", "pingreq"]);
    // The PUBACK for a received QoS 1 message does wait: the application has handled it.
    s.server({ type: "publish", topic: "in", payload: bytes("x"), qos: 1, retain: false, dup: false, packetId: 9 });
    s.loop.loopRead();
    s.loop.loopWrite();
    expect(b.calls).toBe(calls + 1);
    expect(s.t().packets(5).map((p) => p.type)).not.toContain("puback");
    b.resolve();
    await settle();
    expect(s.t().packets(5).map((p) => p.type)).toContain("puback");
  });

  it("a rejected commit cuts the connection with its error; the held bytes never go out", async () => {
    const b = barrier();
    const s = scripted({}, 2000, { commit: b.commit });
    const opened = s.loop.connect();
    s.t().accept();
    await opened;
    s.loop.loopWrite();
    const failure = new Error("disk full");
    b.reject(failure);
    await settle();
    expect(s.t().written).toHaveLength(0);
    expect(s.t().closedWith).toEqual([failure]);
    s.t().end(new TransportError(TransportErrorCode.Aborted, "aborted", { cause: failure }));
    expect(s.loop.loopRead()).toBe(MQTT_ERR_CONN_LOST);
    expect(s.loop.isOpen).toBe(false);
  });

  it("[MQTT-3.14.4-1] a local disconnect while a commit is pending: DISCONNECT goes behind the held bytes, the transport closes after", async () => {
    const b = barrier();
    const s = await connectedThroughCommit(b, {});
    s.loop.publish({ topic: "a", payload: bytes("last"), qos: 2 });
    s.loop.loopWrite();
    s.loop.disconnect();
    s.loop.loopRead(); // the closed event: the engine ends the connection
    expect(s.events.at(-1)?.type).toBe("closed");
    expect(s.t().closedWith).toEqual([]); // not closed yet: bytes are held
    b.resolve();
    await settle();
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect", "publish", "disconnect"]);
    expect(s.t().closedWith).toEqual([undefined]); // graceful
  });

  it("a connection lost while its commit is pending: the commit's end writes nothing anywhere", async () => {
    const b = barrier();
    const s = scripted({}, 2000, { commit: b.commit });
    const opened = s.loop.connect();
    s.t().accept();
    await opened;
    s.loop.loopWrite();
    const first = s.t();
    first.end(new TransportError(TransportErrorCode.Reset, "reset"));
    expect(s.loop.loopRead()).toBe(MQTT_ERR_CONN_LOST);
    const again = s.loop.connect();
    s.t().accept();
    await again;
    b.resolve();
    await settle();
    expect(first.written).toHaveLength(0);
    expect(s.t().written).toHaveLength(0);
    s.loop.loopWrite(); // the new connection's CONNECT, behind its own commit
    b.resolve();
    await settle();
    expect(s.t().packets(5).map((p) => p.type)).toEqual(["connect"]);
  });
});

describe("result codes", () => {
  it("errorString has a text for every code and a fallback", () => {
    for (let rc = -1; rc <= 16; rc++) expect(errorString(rc)).not.toBe("");
    expect(errorString(99)).toBe("Unknown error.");
  });

  it("resultOfError maps our typed errors", () => {
    expect(resultOfError(new TransportError(TransportErrorCode.TlsHostname, "x"))).toBe(MQTT_ERR_TLS);
    expect(resultOfError(new TransportError(TransportErrorCode.Refused, "x"))).toBe(MQTT_ERR_CONN_REFUSED);
    expect(resultOfError(new TransportError(TransportErrorCode.Reset, "x"))).toBe(MQTT_ERR_CONN_LOST);
    expect(resultOfError(new LocalProtocolError(ErrorCode.QueueFull, "x"))).toBe(MQTT_ERR_QUEUE_SIZE);
    expect(resultOfError(new LocalProtocolError(ErrorCode.TopicInvalid, "x"))).toBe(3);
    expect(resultOfError(new Error("x"))).toBe(13);
  });
});
