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

import { gzipSync } from "node:zlib";
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

/** Bundles `source` (an ES module importing absolute paths) minified; the bundle's bytes. */
async function bundle(source: string): Promise<string> {
  const entry = "\0size-entry";
  const build = await rolldown({
    input: "size-entry",
    logLevel: "silent",
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
    return output[0].code;
  } finally {
    await build.close();
  }
}

async function measure(id: string, label: string, specifier: string, names: string[]): Promise<SizeEntry> {
  const path = resolveFromHere(specifier);
  if (path === undefined) {
    return { id, label, minified: undefined, gzipped: undefined, error: `${specifier} does not resolve (not exported yet)` };
  }
  try {
    const code = await bundle(`export { ${names.join(", ")} } from ${JSON.stringify(path)};\n`);
    const bytes = Buffer.from(code);
    return { id, label, minified: bytes.length, gzipped: gzipSync(bytes, { level: 9 }).length, error: undefined };
  } catch (e) {
    return { id, label, minified: undefined, gzipped: undefined, error: e instanceof Error ? e.message : String(e) };
  }
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
  return out;
}
