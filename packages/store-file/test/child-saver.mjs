// The process the SIGKILL test kills: loads the store, then saves numbered
// sessions as fast as it can (four saves outstanding, so group commit is in
// play) and prints each number once its save has resolved (stdout to a pipe
// is synchronous on Linux: a printed number was durable before it was
// printed). The test bundles it from the sources (esbuild) before running it.
import { FileStore } from "../src/index.ts";
import { numbered } from "./numbered.mjs";

const [directory, clientId, compactMinBytes] = process.argv.slice(2);
const store = new FileStore(directory, clientId, { compactMinBytes: Number(compactMinBytes) });
const loaded = await store.load();
let n = loaded === undefined ? 0 : loaded.session.nextMid - 1;
process.stdout.write(`start ${n}\n`);

async function worker() {
  for (;;) {
    const k = ++n;
    await store.save({ session: numbered(k, clientId), savedAt: Date.now() });
    process.stdout.write(`${k}\n`);
  }
}
await Promise.all([worker(), worker(), worker(), worker()]);
