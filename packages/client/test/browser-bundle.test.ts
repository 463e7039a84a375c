// A browser bundle of the client pulls in nothing from Node: the tcp and tls
// transports (node:net, node:tls, socks) are loaded only when chosen.
//
// rolldown bundles, for platform "browser" and minified as for production, an
// entry that imports `Client` from the client's source (the workspace's
// "@sansmqtt/source" condition, then "import", "browser", "default") and uses
// transport "websockets". rolldown splits every dynamic import() of
// transports.ts into a chunk of its own, so the checks are on the real output:
// what the entry chunk loads statically holds no Node import and none of the
// tcp / tls / ws-for-Node code; each transport is a dynamic-entry chunk.
// Then the bundle runs without Node (browser-bundle-runner.mjs: a vm context
// with browser globals only, a browser-like WebSocket over the ws package) and
// does a QoS 2 round trip through the throwaway mosquitto's WebSocket listener
// (MQTT_WS_PORT from scripts/with-broker.sh), loading only the ws chunk.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { brokerEnv, brokerPort, uniqueTopic } from "@sansmqtt/test-broker";
import { rolldown } from "rolldown";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const runner = fileURLToPath(new URL("./browser-bundle-runner.mjs", import.meta.url));

/** What a page would write: Client from the package, the WebSocket transport, a round trip. */
const entrySource = `
import { Client } from ${JSON.stringify(join(pkgDir, "src", "index.ts"))};

export function roundTrip(host, port, topic) {
  return new Promise((resolve, reject) => {
    const c = new Client({ transport: "websockets" });
    const events = [];
    let message;
    let socketIsGlobalWebSocket = false;
    const timer = setTimeout(() => reject(new Error("no round trip within 8 s: " + events.join(", "))), 8000);
    const finish = (client) => {
      if (message !== undefined && events.includes("published")) client.disconnect();
    };
    c.onConnect = (client, _u, flags, rc) => {
      events.push("connect " + rc.getName());
      socketIsGlobalWebSocket = client.socket() instanceof WebSocket;
      if (!rc.isFailure) client.subscribe(topic, 2);
    };
    c.onSubscribe = (client, _u, _mid, codes) => {
      events.push("suback " + codes.map((r) => r.value).join());
      client.publish(topic, "from a browser bundle", 2);
    };
    c.onPublish = (client) => {
      events.push("published");
      finish(client);
    };
    c.onMessage = (client, _u, m) => {
      message = { topic: m.topic, text: m.text(), qos: m.qos, payloadIsUint8Array: m.payload instanceof Uint8Array };
      events.push("message");
      finish(client);
    };
    c.onDisconnect = (client, _u, _f, rc) => {
      events.push("disconnect " + rc.getName());
      setTimeout(() => client.loopStop().then(() => {
        clearTimeout(timer);
        resolve({ message, events, transport: client.transport, socketIsGlobalWebSocket });
      }, reject), 0);
    };
    c.connect(host, port, 30).then(() => c.loopStart(), reject);
  });
}
`;

interface Chunk {
  readonly fileName: string;
  readonly code: string;
  readonly isEntry: boolean;
  readonly isDynamicEntry: boolean;
  readonly imports: readonly string[];
  readonly dynamicImports: readonly string[];
  readonly moduleIds: readonly string[];
}

let dir: string;
let chunks: Chunk[];
let entry: Chunk;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sansmqtt-client-bundle-"));
  const input = join(dir, "page.js");
  writeFileSync(input, entrySource);
  const b = await rolldown({
    input,
    platform: "browser",
    logLevel: "silent",
    resolve: { conditionNames: ["@sansmqtt/source", "import", "browser", "default"] },
  });
  try {
    const { output } = await b.write({ dir: join(dir, "out"), format: "esm", minify: true, entryFileNames: "[name].js", chunkFileNames: "[name]-[hash].js" });
    chunks = output.flatMap((o) =>
      o.type === "chunk"
        ? [
            {
              fileName: o.fileName,
              code: o.code,
              isEntry: o.isEntry,
              isDynamicEntry: o.isDynamicEntry,
              imports: [...o.imports],
              dynamicImports: [...o.dynamicImports],
              moduleIds: [...o.moduleIds],
            },
          ]
        : [],
    );
  } finally {
    await b.close();
  }
  const entries = chunks.filter((c) => c.isEntry);
  expect(entries).toHaveLength(1);
  entry = entries[0]!;
}, 30_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const chunk = (fileName: string): Chunk | undefined => chunks.find((c) => c.fileName === fileName);

/** A chunk and every chunk it imports statically, transitively: what loads before any dynamic import(). */
function staticClosure(start: Chunk): Chunk[] {
  const seen = new Map<string, Chunk>();
  const todo = [start];
  for (let c = todo.pop(); c !== undefined; c = todo.pop()) {
    if (seen.has(c.fileName)) continue;
    seen.set(c.fileName, c);
    for (const i of c.imports) {
      const next = chunk(i);
      if (next !== undefined) todo.push(next);
    }
  }
  return [...seen.values()];
}

/** The chunk that holds the module at `path` (relative to packages/). */
const holding = (path: string): Chunk[] => chunks.filter((c) => c.moduleIds.some((id) => id.endsWith(`/packages/${path}`)));

const isNodeImport = (spec: string): boolean => spec.startsWith("node:") || builtinModules.includes(spec) || spec === "ws" || spec === "socks";

/** The module specifiers a chunk's code imports: statically (import / export ... from, import "x") and with import("x"). */
function specifiers(c: Chunk): { static: string[]; dynamic: string[]; requires: number } {
  const q = "[\"'`]([^\"'`]+)[\"'`]";
  const all = (re: RegExp): string[] => [...c.code.matchAll(re)].map((m) => m[1]!);
  return {
    static: [...all(new RegExp(`\\bfrom\\s*${q}`, "g")), ...all(new RegExp(`\\bimport\\s*${q}`, "g"))],
    dynamic: all(new RegExp(`\\bimport\\s*\\(\\s*${q}\\s*\\)`, "g")),
    requires: [...c.code.matchAll(/\brequire\s*\(/g)].length,
  };
}

// connectSrv (Paho's connect_srv, Node only) loads src/srv.ts with import(): node:dns and
// node:os are named in that chunk alone (and loaded at run time), which a page never loads.
const SRV_MODULE = "client/src/srv.ts";

const outsideImports = (cs: readonly Chunk[]): string[] => cs.flatMap((c) => c.imports.filter((i) => chunk(i) === undefined));
const gz = (cs: readonly Chunk[]): number => cs.reduce((n, c) => n + gzipSync(c.code, { level: 9 }).byteLength, 0);
const raw = (cs: readonly Chunk[]): number => cs.reduce((n, c) => n + Buffer.byteLength(c.code), 0);

describe("the client in a browser bundle (rolldown, platform browser)", () => {
  it("what the page loads before any dynamic import holds no Node built-in, no ws, no socks and no tcp / tls transport", () => {
    const initial = staticClosure(entry);
    expect(outsideImports(initial)).toEqual([]);
    for (const c of initial) {
      expect(c.imports.filter(isNodeImport), c.fileName).toEqual([]);
      const found = specifiers(c);
      expect(found.requires, c.fileName).toBe(0);
      expect(found.static.filter(isNodeImport), c.fileName).toEqual([]);
      expect(found.static.filter((i) => chunk(i.replace(/^\.\//, "")) === undefined), c.fileName).toEqual([]);
      expect([...c.dynamicImports, ...found.dynamic].filter(isNodeImport), c.fileName).toEqual([]);
      expect(found.dynamic.filter((i) => !isNodeImport(i) && chunk(i.replace(/^\.\//, "")) === undefined), c.fileName).toEqual([]);
      const foreign = c.moduleIds.filter((id) => /\/packages\/transport-(tcp|tls|ws)\/|\/node_modules\//.test(id));
      expect(foreign, c.fileName).toEqual([]);
    }
    // The scan of the code sees what rolldown reports: the entry's import() of each transport chunk.
    const scanned = initial.flatMap((c) => specifiers(c).dynamic.filter((i) => !isNodeImport(i)).map((i) => i.replace(/^\.\//, "")));
    expect(new Set(scanned)).toEqual(new Set(initial.flatMap((c) => c.dynamicImports).filter((i) => !isNodeImport(i))));
    expect(scanned).toHaveLength(4); // the three transports and srv.ts
    const ids = initial.flatMap((c) => c.moduleIds);
    expect(ids.some((id) => id.endsWith("/packages/client/src/client.ts"))).toBe(true);
    expect(ids.some((id) => id.endsWith("/packages/core/src/engine/connection.ts"))).toBe(true);
  });

  it("the tcp, tls and WebSocket transports are each a chunk of their own, reached only by dynamic import()", () => {
    const initial = new Set(staticClosure(entry).map((c) => c.fileName));
    const dynamic = new Set(staticClosure(entry).flatMap((c) => c.dynamicImports));
    const [tcp, tls, ws, wsNode] = [
      holding("transport-tcp/src/index.ts"),
      holding("transport-tls/src/index.ts"),
      holding("transport-ws/src/index.ts"),
      holding("transport-ws/src/node.ts"),
    ];
    // The standard-API entry of transport-ws (its "browser"/default condition), never the ws-package one.
    expect(wsNode).toEqual([]);
    for (const [name, found] of [
      ["tcp", tcp],
      ["tls", tls],
      ["ws", ws],
    ] as const) {
      expect(found.map((c) => c.fileName), name).toHaveLength(1);
      const c = found[0]!;
      expect(c.isDynamicEntry, name).toBe(true);
      expect(dynamic.has(c.fileName), name).toBe(true);
      expect(initial.has(c.fileName), name).toBe(false);
    }
    // Node lives in the tcp and tls chunks only (rolldown leaves node: built-ins as imports of those chunks)...
    expect(tcp[0]!.imports).toContain("node:net");
    expect(tls[0]!.imports).toContain("node:tls");
    // ...and connectSrv's DNS module, a dynamic entry of its own.
    const srv = holding(SRV_MODULE);
    expect(srv.map((c) => c.fileName)).toHaveLength(1);
    expect(initial.has(srv[0]!.fileName)).toBe(false);
    expect(dynamic.has(srv[0]!.fileName)).toBe(true);
    // It names node:dns and node:os only at run time (import through a variable): nothing for a bundler to resolve.
    expect(srv[0]!.imports.filter(isNodeImport)).toEqual([]);
    expect(srv[0]!.code).toContain("node:dns");
    // ...and the WebSocket chunk, with what it imports, has none of it: a websockets session loads no Node code.
    const wsSession = staticClosure(ws[0]!);
    expect(outsideImports(wsSession)).toEqual([]);
    for (const c of wsSession) {
      const found = specifiers(c);
      expect(found.requires, c.fileName).toBe(0);
      expect([...c.imports, ...found.static, ...found.dynamic].filter(isNodeImport), c.fileName).toEqual([]);
      expect(
        c.moduleIds.filter((id) => /\/packages\/transport-(tcp|tls)\/|\/node_modules\//.test(id)),
        c.fileName,
      ).toEqual([]);
    }
  });

  it("size (minified; gzip -9 per chunk, as served)", () => {
    const initial = staticClosure(entry);
    const ws = holding("transport-ws/src/index.ts")[0]!;
    const wsExtra = staticClosure(ws).filter((c) => !initial.includes(c));
    const report = {
      initial: { chunks: initial.map((c) => c.fileName), min: raw(initial), gzip: gz(initial) },
      websocketChunks: { chunks: wsExtra.map((c) => c.fileName), min: raw(wsExtra), gzip: gz(wsExtra) },
      websocketsSessionTotal: { min: raw(initial) + raw(wsExtra), gzip: gz(initial) + gz(wsExtra) },
    };
    console.log(`browser bundle size: ${JSON.stringify(report)}`);
    expect(report.initial.gzip).toBeGreaterThan(0);
    expect(report.websocketChunks.gzip).toBeGreaterThan(0);
  });

  it(
    "runs without Node (vm context: browser globals, a browser-like WebSocket) and does a QoS 2 round trip over mosquitto's WebSocket listener; only the ws chunk is loaded",
    async () => {
      const topic = uniqueTopic("browser-bundle");
      const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ["--experimental-vm-modules", "--no-warnings", runner, join(dir, "out"), entry.fileName, brokerEnv("MQTT_HOST"), String(brokerPort("MQTT_WS_PORT")), topic],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        let out = "";
        let err = "";
        child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
        child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
        // The runner exits by itself once nothing is pending: a timer or socket left behind fails this bound.
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`the runner did not exit within 12 s; stdout ${out} stderr ${err}`));
        }, 12_000);
        child.on("error", reject);
        child.on("close", (c) => {
          clearTimeout(timer);
          resolve({ code: c, stdout: out, stderr: err });
        });
      });
      const report = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as {
        result?: { message: { topic: string; text: string; qos: number; payloadIsUint8Array: boolean }; events: string[]; transport: string; socketIsGlobalWebSocket: boolean };
        error?: string;
        loaded: string[];
        nodeGlobals: string[];
      };
      expect(report.error, stderr).toBeUndefined();
      expect(code, stderr).toBe(0);
      expect(report.nodeGlobals).toEqual([]);
      const r = report.result!;
      expect(r.message).toEqual({ topic, text: "from a browser bundle", qos: 2, payloadIsUint8Array: true });
      expect(r.transport).toBe("websockets");
      expect(r.socketIsGlobalWebSocket).toBe(true);
      expect(r.events[0]).toBe("connect Success");
      expect(r.events.at(-1)).toBe("disconnect Normal disconnection");
      // Loaded: the entry, its static imports, then the ws chunk (and its own imports) on connect; never tcp or tls.
      const ws = holding("transport-ws/src/index.ts")[0]!;
      const expected = new Set([...staticClosure(entry), ...staticClosure(ws)].map((c) => c.fileName));
      expect(new Set(report.loaded)).toEqual(expected);
      for (const name of ["transport-tcp/src/index.ts", "transport-tls/src/index.ts"]) {
        expect(report.loaded).not.toContain(holding(name)[0]!.fileName);
      }
    },
    20_000,
  );
});
