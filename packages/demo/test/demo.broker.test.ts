// The demo against the throwaway mosquitto (scripts/with-broker.sh): runs it
// in-process through its exported functions (main.ts only adds process.exit)
// and checks what a user sees: the summary line and the exit code.
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { UsageError, parseDemoArgs, runDemo } from "../src/demo.js";

function capture(): { io: { out(l: string): void; err(l: string): void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("demo", () => {
  it("runs 3.1.1 and 5.0 over tcp, tls and ws, exits 0 and ends with the summary", async () => {
    const o = parseDemoArgs([], process.env)!;
    const { io, out, err } = capture();
    const rc = await runDemo(o, io);
    expect(err).toEqual([]);
    expect(rc).toBe(0);
    expect(out.at(-1)).toMatch(/^demo: 18 messages over tcp, tls, ws × MQTT 3\.1\.1, 5\.0 published and received in \d+\.\d s$/);
    // One line per callback, in each of the six runs.
    for (const tag of ["[tcp 3.1.1]", "[tls 3.1.1]", "[ws 3.1.1]", "[tcp 5.0]", "[tls 5.0]", "[ws 5.0]"]) {
      const lines = out.filter((l) => l.startsWith(tag));
      expect(lines.filter((l) => l.includes(" onMessage ")), tag).toHaveLength(3);
      expect(lines.filter((l) => l.includes(" onPublish ")), tag).toHaveLength(3);
      expect(lines.some((l) => l.includes(' onConnect sessionPresent=false reason="Success"')), tag).toBe(true);
      expect(lines.some((l) => l.includes(' onDisconnect reason="Normal disconnection"')), tag).toBe(true);
    }
    // MQTT 5 messages come back with their properties.
    expect(out.filter((l) => l.includes(" onMessage ") && l.includes('contentType="text/plain"') && l.includes('"sent-by":"sansmqtt demo"'))).toHaveLength(9);
  });

  it("--v5 --trace: one version, a line per packet, the password never printed", async () => {
    const env = { ...process.env, MQTT_USERNAME: "demo-user", MQTT_PASSWORD: "s3cret-demo-password" };
    const o = parseDemoArgs(["--v5", "--trace"], env)!;
    const { io, out } = capture();
    expect(await runDemo(o, io)).toBe(0);
    expect(out.at(-1)).toMatch(/^demo: 9 messages over tcp, tls, ws × MQTT 5\.0 published and received in/);
    expect(out.some((l) => l.startsWith("[tls 5.0]   -> CONNECT MQTT 5") && l.includes('username="demo-user" password=<hidden>'))).toBe(true);
    expect(out.some((l) => l.startsWith("[ws 5.0]   <- PUBCOMP"))).toBe(true);
    expect(out.join("\n")).not.toContain("s3cret-demo-password");
  });

  it("--broker HOST:PORT: plain TCP only, and says so", async () => {
    const o = parseDemoArgs(["--v311", "--broker", `${process.env.MQTT_HOST}:${process.env.MQTT_TCP_PORT}`], {})!;
    const { io, out } = capture();
    expect(await runDemo(o, io)).toBe(0);
    expect(out[0]).toMatch(/--broker given: plain TCP only/);
    expect(out.at(-1)).toMatch(/^demo: 3 messages over tcp × MQTT 3\.1\.1 published and received in/);
  });

  it("an unreachable broker: exit 1 with a clear message", async () => {
    const port = await closedPort();
    const o = parseDemoArgs(["--broker", `127.0.0.1:${port}`], {})!;
    const { io, err } = capture();
    expect(await runDemo(o, io)).toBe(1);
    expect(err.join("\n")).toMatch(new RegExp(`^demo: error: MQTT 3\\.1\\.1 over tcp: cannot connect to mqtt://127\\.0\\.0\\.1:${port}: .*(ECONNREFUSED|refused)`, "i"));
  });

  it("bad arguments are usage errors", () => {
    expect(() => parseDemoArgs(["--nope"], process.env)).toThrow(UsageError);
    expect(() => parseDemoArgs(["--broker", "no-port"], process.env)).toThrow(/HOST:PORT/);
    expect(parseDemoArgs(["--help"], process.env)).toBeUndefined();
  });
});
