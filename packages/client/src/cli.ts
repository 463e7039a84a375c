#!/usr/bin/env node
/**
 * The `sansmqtt` command (package.json "bin"): `sansmqtt pub` / `sansmqtt sub`.
 * Binds cli/main.ts to the process; the logic lives there so tests run it
 * in-process. Node's objects are typed here by the little used, so the package
 * still builds without Node's types.
 */
import { main } from "./cli/main.js";

interface NodeProcess {
  argv: string[];
  exitCode: number | undefined;
  stdin: AsyncIterable<Uint8Array>;
  stdout: { write(data: string | Uint8Array): boolean };
  stderr: { write(data: string): boolean };
  once(signal: "SIGINT" | "SIGTERM", listener: () => void): void;
  exit(code: number): never;
}
const proc = (globalThis as unknown as { process: NodeProcess }).process;
const timers = globalThis as unknown as { setTimeout(f: () => void, ms: number): { unref(): void } };

// SIGINT / SIGTERM end the command cleanly (sub: DISCONNECT, exit 0), as mosquitto_sub does.
const stop = new Promise<void>((resolve) => {
  proc.once("SIGINT", resolve);
  proc.once("SIGTERM", resolve);
});
const code = await main(proc.argv.slice(2), { stdin: proc.stdin, stdout: proc.stdout, stderr: proc.stderr, stop });
proc.exitCode = code;
// Whatever might still hold the event loop (a socket closing slowly) must not keep a finished command alive.
timers.setTimeout(() => proc.exit(code), 1_000).unref();
