// Sums the vitest JSON reports in .test-results/ and prints "N passed, N failed"
// as its last line. Exits 1 when a test or a test file failed, when a package
// that has a test script left no report (it crashed, or turbo never ran it) or
// a failed report without a failed test (no test files found, an unhandled
// error), or when no test passed at all.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const dir = ".test-results";
let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const pkg of readdirSync("packages").sort()) {
  const manifestFile = join("packages", pkg, "package.json");
  if (!existsSync(manifestFile)) continue;
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
  if (!manifest.scripts?.test) continue;
  const file = join(dir, `${pkg}.json`);
  if (!existsSync(file)) {
    missing.push(pkg);
    continue;
  }
  const r = JSON.parse(readFileSync(file, "utf8"));
  // A file that failed to load has no failed test in it: count it as one failure.
  const brokenFiles = r.testResults.filter(
    (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
  ).length;
  let pkgFailed = r.numFailedTests + brokenFiles;
  // A run that failed with nothing to show for it (no test files, an error
  // outside any test) counts as one failure too.
  if (r.success === false && pkgFailed === 0) {
    console.log(
      r.numTotalTests === 0 && r.testResults.length === 0
        ? `packages/${pkg}: no test files found`
        : `packages/${pkg}: vitest reported failure outside any test`,
    );
    pkgFailed = 1;
  }
  passed += r.numPassedTests;
  failed += pkgFailed;
  skipped += r.numPendingTests + r.numTodoTests;
}
for (const pkg of missing) console.log(`packages/${pkg}: no test report`);
failed += missing.length;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
