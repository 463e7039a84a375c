// The size budget: what an application ships when it imports the engine.
// Each entry is bundled from @sansmqtt/core's built dist (resolved the way
// Node resolves it for this package: the "default" condition, dist/*.js) with
// rolldown, tree-shaken, minified by rolldown's minifier (oxc: compress and
// mangle), ESM output; then gzipped with node:zlib at level 9.
//
// rolldown, not esbuild: esbuild's install script breaks
// `pnpm install --frozen-lockfile` here (ERR_PNPM_IGNORED_BUILDS); rolldown
// installs without one. Sizes from the two minifiers differ by a few percent;
// compare a size with sizes measured the same way.

import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { rolldown, VERSION } from "rolldown";

export const ROLLDOWN_VERSION: string = VERSION;

export interface SizeEntry {
  id: string;
  /** What the entry imports, for the table. */
  label: string;
  /** Bytes of the minified bundle, and gzipped (level 9); undefined when not measured. */
  minified: number | undefined;
  gzipped: number | undefined;
  /** Why not measured, or the bundler's error. */
  error: string | undefined;
}

/** The path of a module specifier as Node resolves it from this package, or undefined if it does not resolve. */
function resolveFromHere(specifier: string): string | undefined {
  try {
    return fileURLToPath(import.meta.resolve(specifier));
  } catch {
    return undefined;
  }
}

/** Bundles `source` (an ES module importing absolute paths) minified; the bundle's code and the modules in it. `external`: imports left out of it. */
async function bundleWithModules(source: string, external?: RegExp): Promise<{ code: string; modules: string[] }> {
  const entry = "\0size-entry";
  const build = await rolldown({
    input: "size-entry",
    logLevel: "silent",
    ...(external !== undefined ? { external } : {}),
    plugins: [
      {
        name: "size-entry",
        resolveId: (id) => (id === "size-entry" ? entry : null),
        load: (id) => (id === entry ? source : null),
      },
    ],
  });
  try {
    const { output } = await build.generate({ format: "esm", minify: true });
    if (output.length !== 1 || output[0].type !== "chunk") throw new Error(`expected one chunk, got ${output.length} outputs`);
    return { code: output[0].code, modules: Object.keys(output[0].modules).filter((m) => m !== entry) };
  } finally {
    await build.close();
  }
}

async function bundle(source: string, external?: RegExp): Promise<string> {
  return (await bundleWithModules(source, external)).code;
}

/** The module at `path` minified with every import left out: its own bytes. */
async function bundleAlone(path: string): Promise<string> {
  const build = await rolldown({ input: path, logLevel: "silent", external: (_id, importer) => importer !== undefined });
  try {
    const { output } = await build.generate({ format: "esm", minify: true });
    const chunk = output.find((o) => o.type === "chunk");
    if (chunk === undefined) throw new Error(`no chunk for ${path}`);
    return chunk.code;
  } finally {
    await build.close();
  }
}

/** One module of the engine bundle, minified and gzipped on its own (its imports left out). */
export interface ModuleSize {
  /** Its path inside @sansmqtt/core's dist. */
  module: string;
  minified: number;
  gzipped: number;
}

/**
 * Where the engine's bytes are: each module the `{ MqttConnection }` bundle
 * holds, bundled alone with its imports left out (so with all of its exports,
 * used or not), minified, gzipped; largest first. Their sum is more than the
 * bundle's, since gzip shares what repeats across modules; the order is what
 * they are for.
 */
export async function engineModuleSizes(): Promise<ModuleSize[]> {
  const root = resolveFromHere("@sansmqtt/core");
  if (root === undefined) return [];
  const { modules } = await bundleWithModules(`export { MqttConnection } from ${JSON.stringify(root)};\n`);
  const dist = dirname(root);
  const out: ModuleSize[] = [];
  for (const m of modules) {
    const bytes = Buffer.from(await bundleAlone(m));
    out.push({ module: relative(dist, m), minified: bytes.length, gzipped: gzipped(bytes) });
  }
  return out.sort((a, b) => b.gzipped - a.gzipped);
}

async function measure(id: string, label: string, specifier: string, names: string[], external?: RegExp): Promise<SizeEntry> {
  const path = resolveFromHere(specifier);
  if (path === undefined) {
    return { id, label, minified: undefined, gzipped: undefined, error: `${specifier} does not resolve (not exported yet)` };
  }
  return measureSource(id, label, `export { ${names.join(", ")} } from ${JSON.stringify(path)};\n`, external);
}

/** Names the codec subpath exports, when it exists: everything it has. */
async function codecSubpathNames(): Promise<string[] | undefined> {
  if (resolveFromHere("@sansmqtt/core/codec") === undefined) return undefined;
  const mod = (await import("@sansmqtt/core/codec" as string)) as Record<string, unknown>;
  return Object.keys(mod);
}

export async function sizes(): Promise<SizeEntry[]> {
  const out: SizeEntry[] = [];
  out.push(await measure("size:engine", 'engine: { MqttConnection } from "@sansmqtt/core"', "@sansmqtt/core", ["MqttConnection"]));
  const names = await codecSubpathNames();
  if (names === undefined) {
    out.push({
      id: "size:codec",
      label: 'codec subpath: all of "@sansmqtt/core/codec"',
      minified: undefined,
      gzipped: undefined,
      error: "not exported yet: @sansmqtt/core/codec does not resolve",
    });
  } else {
    out.push(await measure("size:codec", 'codec subpath: all of "@sansmqtt/core/codec"', "@sansmqtt/core/codec", names));
  }
  // The part of the codec the engine cannot do without (what a client sends,
  // checked and written; what a server sends, decoded; the errors), alone.
  const root = resolveFromHere("@sansmqtt/core");
  if (root !== undefined) {
    const dist = dirname(root);
    out.push(
      await measureSource(
        "size:engine-codec",
        "the engine's codec alone: core/dist/codec/client.js + isValidReasonCode + errors",
        `export { ClientDecoder, checkPacket, packetSize, writePacket, writePacketChunks, writePacketInto, encodePacket } from ${JSON.stringify(join(dist, "codec/client.js"))};\n` +
          `export { isValidReasonCode } from ${JSON.stringify(join(dist, "codec/reason-codes.js"))};\n` +
          `export * from ${JSON.stringify(join(dist, "errors.js"))};\n`,
      ),
    );
  }
  // Peers, for scale. mqtt-packet is a codec only (no session, no flow control,
  // no timers); its three dependencies and Node's built-ins are left out, so a
  // browser bundle of it is larger than this row.
  out.push(await measure("size:mqtt-packet", "peer: mqtt-packet (parser + generate; bl, debug, Node built-ins left out)", "mqtt-packet", ["default"], /^(node:|bl|debug|process-nextick-args|buffer|events|util|stream|readable-stream)(\/|$)/));
  out.push(await published("size:mqttjs", "peer: MQTT.js browser bundle as published (mqtt/dist/mqtt.esm.js, whole client)", "mqtt/dist/mqtt.esm"));
  return out;
}

/** Bundles an entry module's source text; its sizes. */
async function measureSource(id: string, label: string, source: string, external?: RegExp): Promise<SizeEntry> {
  try {
    const bytes = Buffer.from(await bundle(source, external));
    return { id, label, minified: bytes.length, gzipped: gzipped(bytes), error: undefined };
  } catch (e) {
    return { id, label, minified: undefined, gzipped: undefined, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Bytes gzipped at level 9, the way every size here is measured. */
function gzipped(bytes: Uint8Array): number {
  return gzipSync(bytes, { level: 9 }).length;
}

/** A file a package publishes already bundled and minified: its bytes as they are, and gzipped. */
async function published(id: string, label: string, specifier: string): Promise<SizeEntry> {
  const path = resolveFromHere(specifier);
  if (path === undefined) return { id, label, minified: undefined, gzipped: undefined, error: `${specifier} does not resolve` };
  const bytes = await readFile(path);
  return { id, label, minified: bytes.length, gzipped: gzipped(bytes), error: undefined };
}
