/**
 * What a consumer installs: scripts/pack-check.mjs packs every published
 * package with `pnpm pack`, checks each tarball's files (dist, types, README,
 * LICENSE, no tests), installs them into a plain ESM project, imports every
 * export with node and typechecks a consumer file with tsc (nodenext and
 * bundler). It lives in this package's tests so that CI runs it; run it alone
 * with `node scripts/pack-check.mjs`, which also prints each tarball's files.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const script = fileURLToPath(new URL("../../../scripts/pack-check.mjs", import.meta.url));

it("every published package packs, installs, imports and typechecks as a consumer gets it (scripts/pack-check.mjs)", async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(process.execPath, [script], { encoding: "utf8", maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
  });
  // Leave out the file lists (indented), keep the rest: failures, tool output, the verdict.
  const lines = output.trimEnd().split("\n");
  const summary = lines.filter((l) => !l.startsWith("  ")).slice(-80).join("\n");
  expect(code, `node scripts/pack-check.mjs exited ${code}:\n${summary}`).toBe(0);
  expect(lines.at(-1)).toMatch(/^pack-check: \d+ packages packed, installed, imported and typechecked/);
}, 240_000);
