#!/usr/bin/env bash
# The test command: installs the Debian packages, builds, runs every test but the
# `slow` and `container` labels, then rebuilds with ASan+UBSan and runs the `unit`
# label under them. Fixtures are read from ../shared/fixtures or $SWAPSERVE_FIXTURES.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash deploy/install-deps.sh

echo "== release build"
cmake --preset release
cmake --build --preset release
echo "== tests (all but slow, container)"
ctest --preset release

echo "== ASan+UBSan build"
cmake --preset asan
cmake --build --preset asan
echo "== unit tests under ASan+UBSan"
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  ctest --preset asan
