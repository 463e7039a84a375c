#!/usr/bin/env bash
# The one command that runs every test, from a fresh clone on a fresh Debian machine:
#   bash scripts/test.sh
# Installs mosquitto, openssl, pnpm and node_modules (scripts/bootstrap.sh), typechecks
# every package, runs every package's tests against a throwaway broker
# (scripts/with-broker.sh), and ends with the line "N passed, N failed".
# Exits non-zero if the typecheck or any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# No colour codes when the output goes to a file or a pipe: turbo and vitest
# honour NO_COLOR (FORCE_COLOR=0 and turbo --no-color leave vitest's colours in).
[ -t 1 ] || export NO_COLOR=1
. scripts/bootstrap.sh

rm -rf .test-results
set +e
# --continue: report every package's type errors, not only the first package's
pnpm exec turbo run typecheck --continue
typecheck_rc=$?
bash scripts/with-broker.sh pnpm exec turbo run test --continue --concurrency=2
test_rc=$?
summary=$(node scripts/test-summary.mjs)
summary_rc=$?
set -e

[ "$typecheck_rc" = 0 ] || echo "typecheck failed (exit $typecheck_rc)"
[ "$test_rc" = 0 ] || echo "tests failed (turbo exit $test_rc)"
echo "$summary"   # a "FAIL <package> <file> > <title>" line per failure, then "N passed, N failed"
if [ "$typecheck_rc" != 0 ] || [ "$test_rc" != 0 ] || [ "$summary_rc" != 0 ]; then exit 1; fi
