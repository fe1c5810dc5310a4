#!/usr/bin/env bash
# `npm test [-- mocha arguments]`: prepare the host, build, then run the suites: every unit and
# integration test by default, or the files and options given.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# the tests and the benchmark are TypeScript too: checked, not only run; then the promises
# nobody awaits, which the compiler does not catch
npx tsc -p test
npx eslint .
make -s -C test/programs
make -s -C bench
if [ $# -eq 0 ]; then
  set -- 'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts'
fi
exec npx mocha "$@"
