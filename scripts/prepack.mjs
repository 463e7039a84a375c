#!/usr/bin/env node
// The prepack script of every published package (`pnpm pack` and `pnpm publish`
// run it in the package's folder), so that packing works from a fresh, unbuilt
// clone:
//   1. build the workspace packages it depends on (turbo, so one built before
//      is a cache hit): its own build resolves them through their dist/*.d.ts;
//   2. delete its dist/ and build it again (turbo --force: never from the cache,
//      whose entry could hold files of deleted sources), so the tarball holds
//      exactly the build of today's src/. The result goes into turbo's cache,
//      where the next package's step 1 finds it.
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

const quiet = ["--output-logs=errors-only", "--log-prefix=none"];
if (workspaceDeps.length > 0) run("turbo", ["run", "build", `--filter=${manifest.name}^...`, ...quiet]);
rmSync("dist", { recursive: true, force: true });
run("turbo", ["run", "build", `--filter=${manifest.name}`, "--only", "--force", ...quiet]);
