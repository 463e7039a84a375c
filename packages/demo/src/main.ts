/// <reference types="node" />
// The demo's command-line entry (scripts/demo.sh runs it):
//   node packages/demo/dist/main.js [--v311] [--v5] [--trace] [--broker HOST:PORT]
// See demo.ts. Exit codes: 0 success, 1 any failure (or the time limit), 2 bad arguments.
import { DEMO_TIMEOUT_MS, USAGE, UsageError, parseDemoArgs, runDemo } from "./demo.js";

const io = { out: (line: string) => console.log(line), err: (line: string) => console.error(line) };

let options;
try {
  options = parseDemoArgs(process.argv.slice(2), process.env);
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`demo: ${e.message}\n${USAGE}`);
  process.exit(2);
}
if (options === undefined) {
  console.log(USAGE);
  process.exit(0);
}
// A backstop above runDemo's own deadline: whatever hangs, the process ends in bounded time.
const backstop = setTimeout(() => {
  console.error(`demo: error: not finished after ${(DEMO_TIMEOUT_MS + 3_000) / 1000} s`);
  process.exit(1);
}, DEMO_TIMEOUT_MS + 3_000);
backstop.unref();
process.exitCode = await runDemo(options, io);
