// `sansmqtt pub` / `sansmqtt sub` (src/cli) against the throwaway mosquitto
// (scripts/with-broker.sh), run in-process through main(argv, io) with captured
// stdout / stderr and a given stdin. A sub is started with -d, and a test
// publishes only once its log says "Received SUBACK".
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { brokerEnv, brokerPort, uniqueTopic } from "@sansmqtt/test-broker";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { waitFor } from "./helpers.js";

interface Run {
  readonly done: Promise<number>;
  out(): string;
  outBytes(): Buffer;
  err(): string;
  stop(): void;
}

function start(argv: string[], stdin?: Array<string | Uint8Array>): Run {
  const out: Buffer[] = [];
  const err: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const done = main(argv, {
    ...(stdin !== undefined ? { stdin: Readable.from(stdin) } : {}),
    stdout: { write: (d: string | Uint8Array) => out.push(Buffer.from(d)) },
    stderr: { write: (d: string) => err.push(d) },
    stop: stopped,
  });
  return { done, out: () => Buffer.concat(out).toString("utf8"), outBytes: () => Buffer.concat(out), err: () => err.join(""), stop };
}

async function run(argv: string[], stdin?: Array<string | Uint8Array>): Promise<{ code: number; out: string; err: string }> {
  const r = start(argv, stdin);
  const code = await r.done;
  return { code, out: r.out(), err: r.err() };
}

const host = (): string => brokerEnv("MQTT_HOST");
const tcp = (): string[] => ["-h", host(), "-p", String(brokerPort("MQTT_TCP_PORT"))];

/** A sub running until its exit condition, already subscribed when this resolves. */
async function subscribed(argv: string[]): Promise<Run> {
  const r = start(["sub", ...argv, "-d"]);
  let exited = false;
  void r.done.then(() => (exited = true));
  await waitFor("the sub's SUBACK", () => r.err().includes("Received SUBACK") || exited);
  if (exited) throw new Error(`the sub ended before subscribing: ${r.err()}`);
  return r;
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const dir = mkdtempSync(join(tmpdir(), "sansmqtt-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sansmqtt pub / sub", () => {
  it("pub then sub -C 1 -v: a round trip, printed as 'topic payload'", async () => {
    const topic = uniqueTopic("cli");
    const sub = await subscribed([...tcp(), "-t", topic, "-C", "1", "-v"]);
    const pub = await run(["pub", ...tcp(), "-t", topic, "-m", "hello from the cli"]);
    expect(pub).toEqual({ code: 0, out: "", err: "" });
    expect(await sub.done).toBe(0);
    expect(sub.out()).toBe(`${topic} hello from the cli\n`);
  });

  it("-r retains: a fresh sub gets the message, -R ignores it as stale", async () => {
    const topic = uniqueTopic("cli-retain");
    expect((await run(["pub", ...tcp(), "-t", topic, "-m", "kept", "-r", "-q", "1"])).code).toBe(0);
    const fresh = await run(["sub", ...tcp(), "-t", topic, "-C", "1", "-W", "5"]);
    expect(fresh).toEqual({ code: 0, out: "kept\n", err: "" });
    const noStale = await run(["sub", ...tcp(), "-t", topic, "-C", "1", "-W", "1", "-R"]);
    expect(noStale.code).toBe(1);
    expect(noStale.out).toBe("");
    expect(noStale.err).toBe("sansmqtt sub: Timed out after 1 s (0 message(s) received)\n");
    // -n -r: an empty retained message clears it.
    expect((await run(["pub", ...tcp(), "-t", topic, "-n", "-r"])).code).toBe(0);
  });

  it("-l: three lines of stdin are three messages, in order", async () => {
    const topic = uniqueTopic("cli-lines");
    const sub = await subscribed([...tcp(), "-t", topic, "-C", "3", "-q", "1"]);
    // Chunks that split a line: lines are cut on newlines, not on reads.
    const pub = await run(["pub", ...tcp(), "-t", topic, "-l", "-q", "1"], ["first\nsec", "ond\r\n", "third"]);
    expect(pub.code).toBe(0);
    expect(await sub.done).toBe(0);
    expect(sub.out()).toBe("first\nsecond\nthird\n");
  });

  it("-f FILE sends the file's bytes unchanged; -s sends all of stdin as one message", async () => {
    const topic = uniqueTopic("cli-file");
    const bytes = Buffer.from([0, 1, 2, 0x0a, 0xff, 0xfe, 0x0d, 0x0a, 0x7f]);
    const file = join(dir, "payload.bin");
    writeFileSync(file, bytes);
    const sub = await subscribed([...tcp(), "-t", topic, "-C", "2", "-N"]);
    expect((await run(["pub", ...tcp(), "-t", topic, "-f", file])).code).toBe(0);
    expect((await run(["pub", ...tcp(), "-t", topic, "-s"], ["one\n", "two\n"])).code).toBe(0);
    expect(await sub.done).toBe(0);
    expect(sub.outBytes()).toEqual(Buffer.concat([bytes, Buffer.from("one\ntwo\n")]));

    const missing = await run(["pub", ...tcp(), "-t", topic, "-f", join(dir, "no-such-file")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^sansmqtt pub: Error: cannot read .*no-such-file: .*ENOENT/);
  });

  it("QoS 2 both ways", async () => {
    const topic = uniqueTopic("cli-qos2");
    const sub = await subscribed([...tcp(), "-t", topic, "-C", "1", "-q", "2"]);
    const pub = await run(["pub", ...tcp(), "-t", topic, "-m", "exactly once", "-q", "2", "-d"]);
    expect(pub.code).toBe(0);
    expect(pub.err).toMatch(/Sending PUBLISH \(d0, q2, r0, m\d+\)/);
    expect(await sub.done).toBe(0);
    expect(sub.err()).toMatch(/Received PUBLISH \(d0, q2, r0, m\d+\)/);
    expect(sub.out()).toBe("exactly once\n");
  });

  it("MQTT 5 user properties (-D PUBLISH user-property and --user-property) reach the sub", async () => {
    const topic = uniqueTopic("cli-v5");
    const sub = await subscribed([...tcp(), "-V", "mqttv5", "-t", topic, "-C", "1", "-v", "--print-properties"]);
    const pub = await run(["pub", ...tcp(), "-V", "5", "-t", topic, "-m", "with props", "-D", "PUBLISH", "user-property", "colour", "blue", "--user-property", "size", "L"]);
    expect(pub.code).toBe(0);
    expect(await sub.done).toBe(0);
    const [line, json] = sub.out().trimEnd().split("\t");
    expect(line).toBe(`${topic} with props`);
    expect(JSON.parse(json!)).toMatchObject({ userProperties: [["colour", "blue"], ["size", "L"]] });
  });

  it("TLS with --cafile; --insecure for a certificate of another host name", async () => {
    const topic = uniqueTopic("cli-tls");
    const tls = ["-h", host(), "-p", String(brokerPort("MQTT_TLS_PORT")), "--cafile", brokerEnv("MQTT_CA_FILE")];
    const sub = await subscribed([...tls, "-t", topic, "-C", "1", "-v"]);
    expect((await run(["pub", ...tls, "-t", topic, "-m", "over tls", "-q", "1"])).code).toBe(0);
    expect(await sub.done).toBe(0);
    expect(sub.out()).toBe(`${topic} over tls\n`);

    const wrongHost = ["-h", host(), "-p", String(brokerPort("MQTT_TLS_WRONG_HOST_PORT")), "--cafile", brokerEnv("MQTT_CA_FILE")];
    const refused = await run(["pub", ...wrongHost, "-t", topic, "-m", "x"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^sansmqtt pub: Connection error: cannot connect to mqtts:\/\/127\.0\.0\.1:\d+: .*(host ?name|altname|wrong-host)/i);
    expect((await run(["pub", ...wrongHost, "--insecure", "-t", topic, "-m", "x"])).code).toBe(0);
  });

  it("usage errors: exit 2 with a one-line message and a pointer to --help", async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /^usage: sansmqtt pub\|sub/],
      [["frobnicate"], /^sansmqtt: unknown command "frobnicate"/],
      [["pub", "-t", "x"], /^sansmqtt pub: a message is needed: -m, -f, -l, -n or -s\nTry "sansmqtt pub --help"\.\n$/],
      [["pub", "-t", "x", "-m", "a", "-n"], /only one of -m, -f, -l, -n and -s/],
      [["pub", "-m", "a"], /a topic is needed: -t TOPIC/],
      [["sub", "-t", "x", "-q", "3"], /-q must be an integer from 0 to 2, not "3"/],
      [["sub", "-t", "x", "-V", "4"], /-V must be 31, 311 or 5/],
      [["sub", "-t", "x", "--bogus"], /Unknown option '--bogus'/],
      [["pub", "-t", "x", "-m", "a", "--user-property", "k", "v"], /user properties need MQTT 5: add -V 5/],
      [["pub", "-t", "x", "-m", "a", "-P", "secret"], /-P needs -u/],
      [["sub", "-t", "x", "--insecure"], /--insecure needs TLS/],
      [["sub", "-t", "x", "-D", "PUBLISH", "user-property", "k", "v", "-V", "5"], /takes properties for CONNECT and SUBSCRIBE/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.out, argv.join(" ")).toBe("");
      expect(r.err, argv.join(" ")).toMatch(message);
      expect(r.err).not.toContain("secret");
    }
    const help = await run(["sub", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage: sansmqtt sub -t FILTER/);
  });

  it("an unreachable port: exit 1 with a clear message", async () => {
    const port = await closedPort();
    for (const cmd of [["pub", "-m", "x"], ["sub"]]) {
      const r = await run([cmd[0]!, "-h", "127.0.0.1", "-p", String(port), "-t", "x", ...cmd.slice(1)]);
      expect(r.code).toBe(1);
      expect(r.out).toBe("");
      expect(r.err).toMatch(new RegExp(`^sansmqtt ${cmd[0]}: Connection error: cannot connect to mqtt://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    }
  });

  it("a broker that never answers: exit 1, 'no CONNACK', within the client's connect timeout (5 s)", async () => {
    const accepted: Socket[] = [];
    const silent = createServer((socket) => accepted.push(socket)); // accepts, never writes
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      const t0 = performance.now();
      const r = await run(["pub", "-h", "127.0.0.1", "-p", String(port), "-t", "x", "-m", "y"]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(new RegExp(`^sansmqtt pub: Connection error: no CONNACK from mqtt://127\\.0\\.0\\.1:${port}`));
      expect(performance.now() - t0).toBeLessThan(8_000);
    } finally {
      silent.close();
      for (const socket of accepted) socket.destroy();
    }
  });

  it("sub ends cleanly on an interrupt (exit 0); the password never appears in -d output", async () => {
    const topic = uniqueTopic("cli-stop");
    const sub = await subscribed([...tcp(), "-t", topic, "-u", "someone", "-P", "hunter2-cli-password"]);
    sub.stop();
    expect(await sub.done).toBe(0);
    expect(sub.err()).toMatch(/Sending DISCONNECT/);
    expect(sub.err()).toContain("(u1, p1,");
    expect(sub.err()).not.toContain("hunter2-cli-password");
  });
});
