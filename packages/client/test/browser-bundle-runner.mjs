// Runs a browser bundle of the client (the ES module chunks rolldown wrote to a
// directory) the way a browser page would, without Node: each chunk is a
// vm.SourceTextModule in a vm context that has the ECMAScript built-ins and
// only the few browser globals the client uses (setTimeout / clearTimeout with
// numeric ids, queueMicrotask, URL, performance.now, crypto.getRandomValues,
// TextEncoder / TextDecoder, console, WebSocket). No process, require, Buffer,
// global or setImmediate. An import of anything but another chunk of the
// bundle (node:..., ws, a bare name) fails; dynamic imports load chunks on
// demand, and the chunks loaded are reported.
//
// WebSocket is a browser-like class over the ws package's WebSocket: the
// standard API (binaryType "arraybuffer", onopen / onmessage / onerror /
// onclose, send, close, protocol, bufferedAmount, readyState), with each
// message's bytes copied into an ArrayBuffer of the context's realm, as a
// browser hands them to a page.
//
// Started by browser-bundle.test.ts: node --experimental-vm-modules
// browser-bundle-runner.mjs DIR ENTRY HOST PORT TOPIC. Prints one JSON line
// on stdout: { result, loaded, nodeGlobals } (or { error, loaded, nodeGlobals }), and exits by
// itself once nothing is pending (a timer or socket left open keeps it alive:
// the test's time bound catches that).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import vm from "node:vm";
import { WebSocket as NodeWebSocket } from "ws";

const [dir, entry, host, port, topic] = process.argv.slice(2);
if (!dir || !entry || !host || !port || !topic) {
  process.stderr.write("usage: node --experimental-vm-modules browser-bundle-runner.mjs DIR ENTRY HOST PORT TOPIC\n");
  process.exit(2);
}

const context = vm.createContext({});
const g = vm.runInContext("globalThis", context);
const ContextUint8Array = vm.runInContext("Uint8Array", context);

// Timers as a browser has them: numeric ids.
const timers = new Map();
let nextTimer = 1;
g.setTimeout = (f, ms, ...args) => {
  const id = nextTimer++;
  timers.set(
    id,
    setTimeout(() => {
      timers.delete(id);
      f(...args);
    }, ms),
  );
  return id;
};
g.clearTimeout = (id) => {
  const t = timers.get(id);
  if (t !== undefined) clearTimeout(t);
  timers.delete(id);
};
g.setInterval = (f, ms, ...args) => {
  const id = nextTimer++;
  timers.set(id, setInterval(() => f(...args), ms));
  return id;
};
g.clearInterval = (id) => {
  const t = timers.get(id);
  if (t !== undefined) clearInterval(t);
  timers.delete(id);
};
g.queueMicrotask = (f) => queueMicrotask(f);
g.URL = URL;
g.URLSearchParams = URLSearchParams;
g.performance = { now: () => performance.now(), timeOrigin: performance.timeOrigin };
g.crypto = { getRandomValues: (a) => crypto.getRandomValues(a) };
g.console = { log: (...a) => console.error(...a), info: (...a) => console.error(...a), warn: (...a) => console.error(...a), error: (...a) => console.error(...a), debug() {} };
// TextDecoder from the host takes the context's views (checked by internal slot) and returns strings.
g.TextDecoder = TextDecoder;
// TextEncoder must return the context's Uint8Array, as a browser's does.
vm.runInContext(
  `(hostEncode) => {
    globalThis.TextEncoder = class TextEncoder {
      get encoding() { return "utf-8"; }
      encode(input = "") { const bytes = hostEncode(String(input)); const out = new Uint8Array(bytes.length); out.set(bytes); return out; }
      encodeInto(input, dest) { const bytes = this.encode(input); const n = Math.min(bytes.length, dest.length); dest.set(bytes.subarray(0, n)); return { read: n === bytes.length ? String(input).length : undefined, written: n }; }
    };
  }`,
  context,
)((s) => new TextEncoder().encode(s));

/** The standard WebSocket API over ws, delivering context-realm ArrayBuffers. */
class BrowserWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  #ws;
  binaryType = "blob";
  onopen = null;
  onmessage = null;
  onerror = null;
  onclose = null;

  constructor(url, protocols) {
    this.url = String(url);
    this.#ws = new NodeWebSocket(this.url, protocols);
    this.#ws.binaryType = "arraybuffer";
    this.#ws.onopen = () => this.onopen?.({ type: "open" });
    this.#ws.onmessage = (ev) => {
      const data = ev.data;
      if (typeof data === "string") return this.onmessage?.({ type: "message", data });
      if (this.binaryType !== "arraybuffer") throw new Error(`BrowserWebSocket: binaryType ${this.binaryType} is not supported here`);
      const copy = new ContextUint8Array(data.byteLength);
      copy.set(new Uint8Array(data));
      this.onmessage?.({ type: "message", data: copy.buffer });
    };
    // A browser tells a page nothing about why a WebSocket failed.
    this.#ws.onerror = () => this.onerror?.({ type: "error" });
    this.#ws.onclose = (ev) => this.onclose?.({ type: "close", code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
  }

  get protocol() {
    return this.#ws.protocol;
  }
  get readyState() {
    return this.#ws.readyState;
  }
  get bufferedAmount() {
    return this.#ws.bufferedAmount;
  }
  send(data) {
    if (typeof data === "string") return this.#ws.send(data);
    const view = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
    this.#ws.send(view);
  }
  close(code, reason) {
    this.#ws.close(code, reason);
  }
}
g.WebSocket = BrowserWebSocket;

// What the context has of Node's globals (the test expects none).
const nodeGlobals = vm.runInContext(
  `["process", "require", "module", "exports", "Buffer", "global", "setImmediate", "__dirname", "__filename"].filter((n) => n in globalThis)`,
  context,
);

const modules = new Map();
const ready = new Map();
const loaded = [];

function resolve(specifier, referrer) {
  if (!/^\.\/[\w.-]+\.js$/.test(specifier)) throw new Error(`the browser bundle imports ${JSON.stringify(specifier)} (from ${referrer}): not one of its own chunks`);
  return specifier.slice(2);
}

function load(file) {
  let m = modules.get(file);
  if (m !== undefined) return m;
  loaded.push(file);
  m = new vm.SourceTextModule(readFileSync(join(dir, file), "utf8"), {
    context,
    identifier: file,
    importModuleDynamically: (specifier) => run(resolve(specifier, file)),
  });
  modules.set(file, m);
  return m;
}

const linker = (specifier, referencing) => load(resolve(specifier, referencing.identifier));

/** Loads, links and evaluates a chunk once; resolves with its vm.Module. */
function run(file) {
  let p = ready.get(file);
  if (p === undefined) {
    const m = load(file);
    p = (async () => {
      if (m.status === "unlinked") await m.link(linker);
      await m.evaluate();
      return m;
    })();
    ready.set(file, p);
  }
  return p;
}

try {
  const main = await run(entry);
  const result = await main.namespace.roundTrip(host, Number(port), topic);
  process.stdout.write(`${JSON.stringify({ result, loaded, nodeGlobals })}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ error: String(e?.stack ?? e), loaded, nodeGlobals })}\n`);
  process.exitCode = 1;
}
