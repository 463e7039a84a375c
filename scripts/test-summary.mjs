// Sums the vitest JSON reports in .test-results/ and prints "N passed, N failed"
// as its last line, after one line per failure:
//   FAIL <package> <file> > <describe> > ... > <test title>
//   FAIL <package> <file>: <first line of the error>     (the file did not run)
//   FAIL <package>: <what happened>                      (no report, no test files, an error outside any test)
// Exits 1 when a test or a test file failed, when a package that has a test
// script left no report (it crashed, or turbo never ran it) or a failed report
// without a failed test (no test files found, an unhandled error), or when no
// test passed at all.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

const dir = ".test-results";
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];
for (const pkg of readdirSync("packages").sort()) {
  const manifestFile = join("packages", pkg, "package.json");
  if (!existsSync(manifestFile)) continue;
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8"));
  if (!manifest.scripts?.test) continue;
  const file = join(dir, `${pkg}.json`);
  if (!existsSync(file)) {
    failures.push(`FAIL ${manifest.name}: no test report (${file})`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(file, "utf8"));
  const pkgDir = join(process.cwd(), "packages", pkg);
  const before = failures.length;
  for (const f of r.testResults) {
    const where = `FAIL ${manifest.name} ${relative(pkgDir, f.name)}`;
    const failedTests = f.assertionResults.filter((a) => a.status === "failed");
    for (const a of failedTests) failures.push(`${where} > ${[...a.ancestorTitles, a.title].join(" > ")}`);
    // A file that failed to load has no failed test in it: it counts as one failure.
    if (f.status === "failed" && failedTests.length === 0) {
      failures.push(`${where}: ${(f.message || "failed outside any test").trim().split("\n")[0]}`);
    }
  }
  // A run that failed with nothing to show for it (no test files, an error
  // outside any test) counts as one failure too.
  if (r.success === false && failures.length === before) {
    failures.push(
      `FAIL ${manifest.name}: ` +
        (r.numTotalTests === 0 && r.testResults.length === 0
          ? "no test files found"
          : "vitest reported a failure outside any test (an unhandled error?)"),
    );
  }
  passed += r.numPassedTests;
  failed += failures.length - before;
  skipped += r.numPendingTests + r.numTodoTests;
}
const SHOWN = 100;
for (const line of failures.slice(0, SHOWN)) console.log(line);
if (failures.length > SHOWN) console.log(`... and ${failures.length - SHOWN} more failures`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
