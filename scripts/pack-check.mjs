#!/usr/bin/env node
// What a consumer installs: packs every published package (no "private": true)
// with `pnpm pack` (its prepack script rebuilds dist/), then
//   1. lists each tarball and checks it: package.json, README.md, LICENSE,
//      dist/**/*.js and dist/**/*.d.ts for every src/**/*.ts (and nothing stale),
//      every file the exports map and "types" name, no tests, no "workspace:"
//      dependency left;
//   2. installs all tarballs into a plain ESM project in a temp dir (pnpm,
//      --offline: third-party dependencies come from the local pnpm store that
//      the workspace install filled; the tarballs depend on each other through
//      overrides, never on the registry);
//   3. imports every export of every package with node; a subpath may fail only
//      for want of an optional peer dependency (fast-check for
//      @sansmqtt/core/testing), and must import once that is installed; then
//      require()s them all from CommonJS (require(esm), Node >= 20.19);
//   4. typechecks a small consumer .ts file against the installed packages with
//      the repo's TypeScript, for module/moduleResolution nodenext and bundler,
//      and a CommonJS .cts file that require()s them (require(esm), Node >= 20.19).
// Prints the file list of every tarball. Exits 1 on any failure.
//   node scripts/pack-check.mjs          (SANSMQTT_PACK_KEEP=1 keeps the temp dir)
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const started = Date.now();
const failures = [];
const fail = (msg) => {
  failures.push(msg);
  console.log(`FAIL ${msg}`);
};

// Children get the environment of a plain shell, not of the pnpm script that
// may have started us (npm_config_* would steer the consumer's pnpm). PNPM_HOME
// stays: it says where the store is.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("npm_")));
function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
  const output = `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim();
  return { ok: r.status === 0, output };
}

const manifestOf = (dir) => JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8"));
const rootManifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const packages = readdirSync(join(root, "packages"))
  .sort()
  .filter((dir) => statSync(join(root, "packages", dir, "package.json"), { throwIfNoEntry: false }))
  .map((dir) => ({ dir, manifest: manifestOf(dir) }))
  .filter((p) => p.manifest.private !== true);

const tmp = mkdtempSync(join(tmpdir(), "sansmqtt-pack-"));
try {
  main();
} finally {
  if (process.env.SANSMQTT_PACK_KEEP) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (failures.length > 0) {
  console.log(`pack-check: ${failures.length} failed (${seconds} s)`);
  process.exit(1);
}
console.log(`pack-check: ${packages.length} packages packed, installed, imported and typechecked (${seconds} s)`);

/** Every string in an exports map (any condition, any subpath). */
function targets(exp) {
  if (typeof exp === "string") return [exp];
  if (exp && typeof exp === "object") return Object.values(exp).flatMap(targets);
  return [];
}

function main() {
  // 1. Pack and look inside.
  const tarballs = [];
  for (const { dir, manifest } of packages) {
    const dest = join(tmp, "tarballs", dir);
    mkdirSync(dest, { recursive: true });
    const packed = run("pnpm", ["pack", "--pack-destination", dest], join(root, "packages", dir));
    const tgz = readdirSync(dest).find((f) => f.endsWith(".tgz"));
    if (!packed.ok || !tgz) {
      fail(`${manifest.name}: pnpm pack failed\n${packed.output}`);
      continue;
    }
    const path = join(dest, tgz);
    tarballs.push({ name: manifest.name, path });
    const listed = run("tar", ["tzf", path]);
    const files = listed.output
      .split("\n")
      .filter((l) => l && !l.endsWith("/"))
      .map((l) => l.replace(/^package\//, ""))
      .sort();
    console.log(`\n${manifest.name}: ${tgz}, ${files.length} files, ${(statSync(path).size / 1024).toFixed(1)} kB packed`);
    for (const f of files) console.log(`  ${f}`);

    const has = new Set(files);
    const problems = [];
    for (const f of ["package.json", "README.md", "LICENSE"]) if (!has.has(f)) problems.push(`no ${f}`);
    const js = files.filter((f) => /^dist\/.*\.js$/.test(f));
    const dts = files.filter((f) => /^dist\/.*\.d\.ts$/.test(f));
    if (js.length === 0) problems.push("no dist/**/*.js");
    if (dts.length === 0) problems.push("no dist/**/*.d.ts");
    const tests = files.filter((f) => /(^|\/)(test|tests|__tests__)\/|\.(test|spec)\.[cm]?[jt]sx?$/.test(f));
    if (tests.length > 0) problems.push(`test files: ${tests.join(", ")}`);
    // dist/ is exactly the build of src/: no stale output, nothing left unbuilt.
    const sources = files.filter((f) => /^src\/.*\.ts$/.test(f) && !f.endsWith(".d.ts"));
    const built = (ext) => new Set(sources.map((f) => f.replace(/^src\//, "dist/").replace(/\.ts$/, ext)));
    for (const [ext, found] of [[".js", js], [".d.ts", dts]]) {
      const want = built(ext);
      const stale = found.filter((f) => !want.has(f));
      const missing = [...want].filter((f) => !has.has(f));
      if (stale.length > 0) problems.push(`dist files without a source: ${stale.join(", ")}`);
      if (missing.length > 0) problems.push(`sources without ${ext}: ${missing.join(", ")}`);
    }
    const inTarball = JSON.parse(run("tar", ["xzOf", path, "package/package.json"]).output);
    for (const t of [...targets(inTarball.exports), ...targets(inTarball.types)]) {
      if (!has.has(t.replace(/^\.\//, ""))) problems.push(`package.json points at ${t}, which is not in the tarball`);
    }
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
      for (const [dep, spec] of Object.entries(inTarball[field] ?? {})) {
        if (String(spec).startsWith("workspace:")) problems.push(`${field}.${dep} is still "${spec}"`);
      }
    }
    for (const p of problems) fail(`${manifest.name} (${tgz}): ${p}`);
  }
  if (tarballs.length !== packages.length) return;

  // 2. A consumer project that installs them.
  const consumer = join(tmp, "consumer");
  mkdirSync(consumer);
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }) + "\n");
  // Overrides: our packages come from the tarballs; @types/node (which @types/ws
  // asks for as "*") is the one the repo pins, the one the local store holds.
  const devVersion = (dep) =>
    rootManifest.devDependencies?.[dep] ??
    packages.map((p) => p.manifest.devDependencies?.[dep]).find((v) => v !== undefined) ??
    "latest";
  writeFileSync(
    join(consumer, "pnpm-workspace.yaml"),
    [
      "updateNotifier: false",
      "overrides:",
      ...tarballs.map((t) => `  "${t.name}": "file:${t.path}"`),
      `  "@types/node": "${devVersion("@types/node")}"`,
    ].join("\n") + "\n",
  );
  const install = (specs) => {
    const r = run("pnpm", ["add", "--offline", "--reporter=append-only", ...specs], consumer);
    if (!r.ok) fail(`pnpm add --offline ${specs.join(" ")} in the consumer project:\n${r.output}`);
    return r.ok;
  };
  if (!install(tarballs.map((t) => t.path))) return;

  // 3. Import every export, first without the optional peer dependencies.
  const specifiers = packages.flatMap(({ manifest }) =>
    Object.keys(manifest.exports ?? { ".": null }).map((sub) => ({
      spec: sub === "." ? manifest.name : `${manifest.name}/${sub.replace(/^\.\//, "")}`,
      optionalPeers: Object.keys(manifest.peerDependenciesMeta ?? {}).filter((d) => manifest.peerDependenciesMeta[d].optional),
    })),
  );
  const importAll = () => {
    const script = `
      const results = {};
      for (const spec of ${JSON.stringify(specifiers.map((s) => s.spec))}) {
        try { const m = await import(spec); results[spec] = { ok: true, exports: Object.fromEntries(Object.keys(m).map((k) => [k, typeof m[k]])) }; }
        catch (e) { results[spec] = { ok: false, code: e.code, message: String(e.message) }; }
      }
      console.log(JSON.stringify(results));`;
    const r = run(process.execPath, ["--input-type=module", "-e", script], consumer);
    if (!r.ok) {
      fail(`node could not run the import check:\n${r.output}`);
      return undefined;
    }
    return JSON.parse(r.output.split("\n").at(-1));
  };
  const checkCore = (results) => {
    const core = results["@sansmqtt/core"];
    if (core?.ok && core.exports.MqttConnection !== "function") fail("@sansmqtt/core: MqttConnection is not a function");
  };
  const before = importAll();
  if (!before) return;
  checkCore(before);
  for (const { spec, optionalPeers } of specifiers) {
    const r = before[spec];
    if (r.ok) continue;
    const peer = optionalPeers.find((d) => r.message.includes(`'${d}'`));
    if (r.code === "ERR_MODULE_NOT_FOUND" && peer) {
      console.log(`\n${spec} without its optional peer dependency ${peer} fails clearly: ${r.message}`);
    } else {
      fail(`import("${spec}") failed: ${r.code} ${r.message}`);
    }
  }
  // Then with the optional peers and @types/node, at the versions the repo tests with.
  const extras = [...new Set([...specifiers.flatMap((s) => s.optionalPeers), "@types/node"])];
  if (!install(extras.map((d) => `${d}@${devVersion(d)}`))) return;
  const after = importAll();
  if (!after) return;
  checkCore(after);
  for (const { spec } of specifiers) {
    if (!after[spec].ok) fail(`import("${spec}") failed with the optional peers installed: ${after[spec].code} ${after[spec].message}`);
  }
  console.log(`\nimported in a plain ESM project: ${specifiers.map((s) => s.spec).join(", ")}`);
  // CommonJS code can require() them too (require(esm), Node >= 20.19).
  const required = run(
    process.execPath,
    ["-e", `for (const spec of ${JSON.stringify(specifiers.map((s) => s.spec))}) require(spec);`],
    consumer,
  );
  if (required.ok) console.log("require()d from CommonJS: the same");
  else fail(`require() from CommonJS failed:\n${required.output}`);

  // 4. Typecheck a consumer against the installed types.
  const names = specifiers.map((s, i) => ({ ...s, local: `m${i}` }));
  writeFileSync(
    join(consumer, "consumer.ts"),
    [
      `import { MqttConnection } from "@sansmqtt/core";`,
      `import { encodePacket, type Packet } from "@sansmqtt/core/codec";`,
      ...names.map((s) => `import * as ${s.local} from "${s.spec}";`),
      `const conn = new MqttConnection({ protocolVersion: 5, clientId: "pack-check", keepAlive: 30 });`,
      `conn.connect(0);`,
      `const chunks: Uint8Array[] = conn.pollTransmit(0);`,
      `const ping: Packet = { type: "pingreq" };`,
      `const bytes: Uint8Array = encodePacket(ping, 5);`,
      `export const used = [chunks, bytes, ${names.map((s) => s.local).join(", ")}];`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(consumer, "consumer.cts"),
    [
      `import core = require("@sansmqtt/core");`,
      ...names.map((s) => `import ${s.local} = require("${s.spec}");`),
      `const conn = new core.MqttConnection({ protocolVersion: 4, clientId: "pack-check" });`,
      `export = [conn, ${names.map((s) => s.local).join(", ")}];`,
      "",
    ].join("\n"),
  );
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  // nodenext checks our .d.ts files too (skipLibCheck false, as tsc defaults);
  // bundler trusts them, to keep this check quick.
  const common = ["--strict", "--noEmit", "--target", "es2022", "--types", "node"];
  const modes = [
    ["nodenext", ["--module", "nodenext", "--moduleResolution", "nodenext", "--skipLibCheck", "false"], ["consumer.ts", "consumer.cts"]],
    ["bundler", ["--module", "preserve", "--moduleResolution", "bundler", "--skipLibCheck", "true"], ["consumer.ts"]],
  ];
  for (const [label, flags, files] of modes) {
    const r = run(process.execPath, [tsc, ...common, ...flags, ...files], consumer);
    if (r.ok) console.log(`tsc ${label} (${flags.join(" ")}): ${files.join(", ")} typecheck`);
    else fail(`tsc ${flags.join(" ")} ${files.join(" ")} in the consumer project:\n${r.output}`);
  }
}
