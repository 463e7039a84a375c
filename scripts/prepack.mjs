#!/usr/bin/env node
// The prepack script of every published package (`pnpm pack` and `pnpm publish`
// run it in the package's folder), so that packing works from a fresh, unbuilt
// clone:
//   1. build the workspace packages it depends on (turbo, so a built one is a
//      cache hit): its own build resolves them through their dist/*.d.ts;
//   2. delete its dist/ and build it again with tsc -p tsconfig.build.json, so
//      the tarball holds exactly the build of today's src/ and nothing stale.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

const manifest = JSON.parse(readFileSync("package.json", "utf8"));
const workspaceDeps = Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies }).filter(([, spec]) =>
  String(spec).startsWith("workspace:"),
);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: "inherit", shell: process.platform === "win32" });
  if (r.status !== 0) {
    console.error(`prepack ${manifest.name}: ${cmd} ${args.join(" ")} failed`);
    process.exit(r.status ?? 1);
  }
}

if (workspaceDeps.length > 0) {
  run("turbo", ["run", "build", `--filter=${manifest.name}^...`, "--output-logs=errors-only"]);
}
rmSync("dist", { recursive: true, force: true });
run("tsc", ["-p", "tsconfig.build.json"]);
