#!/usr/bin/env bash
# bench/soak.sh [SECONDS]: the soak (tests/soak_test.cc, label `slow`) for
# SECONDS (600 by default) against the release build: mixed gRPC and REST load
# with batching on, a checkpoint every 200 ms (every other one corrupt), config
# reloads and a version coming and going. Prints its figures — calls, failures,
# torn answers, resident set, descriptors and threads after warm-up and at the
# end — and exits non-zero when a bound is broken.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${1:-600}"
cmake --preset release > /dev/null
cmake --build --preset release --target soak_test swapserve
log="$root/build/soak.log"
rc=0
SWAPSERVE_SOAK_SECONDS="$seconds" build/tests/soak_test > "$log" 2>&1 || rc=$?
grep -E "^(soak|calls:|after warm-up|RSS each minute)" "$log" || true
grep -E 'Failure|Expected|Which is' "$log" || true
echo "(full log: $log; exit $rc)"
exit "$rc"
