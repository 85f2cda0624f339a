#!/usr/bin/env bash
# The test command: installs the Debian packages, builds, runs every test but the
# `slow` and `container` labels, then rebuilds with ASan+UBSan and runs the `unit`
# and `integration` labels under them (the daemon, CLI and trainer sanitized too).
# After each run it prints how many tests were skipped and which: a suite that
# skipped a test is reported by ctest as Skipped, not Passed, and under CI=true
# a skip not listed in tests/allowed_skips.txt fails (tests/test_main.cc).
# Fixtures are read from ../shared/fixtures or $SWAPSERVE_FIXTURES.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash deploy/install-deps.sh

# run_ctest PRESET BINARY_DIR: ctest, then the skip report; ctest's exit code.
run_ctest() {
  local out="$2/ctest-output.txt" rc=0
  ctest --preset "$1" 2>&1 | tee "$out" || rc=$?
  local suites cases
  suites=$(grep -c -- '\*\*\*Skipped' "$out" || true)
  cases=$(grep -h '^SKIPPED: ' "$2/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u || true)
  echo "== skipped ($1): $suites test programs, $(printf '%s' "$cases" | grep -c . || true) test cases"
  if [ -n "$cases" ]; then printf '%s\n' "$cases"; fi
  grep -- '\*\*\*Skipped' "$out" || true
  return "$rc"
}

echo "== release build"
cmake --preset release
cmake --build --preset release
echo "== tests (all but slow, container)"
run_ctest release build

echo "== ASan+UBSan build"
cmake --preset asan
cmake --build --preset asan
echo "== unit and integration tests under ASan+UBSan"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  run_ctest asan build-asan
