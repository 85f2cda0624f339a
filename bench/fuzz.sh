#!/usr/bin/env bash
# bench/fuzz.sh MINUTES [TARGET ...] [--update-corpus]
#
# Builds the libFuzzer targets of fuzz/ with clang-14 and ASan+UBSan (the `fuzz`
# preset, build-fuzz/) and runs each for MINUTES, two at a time (one per core),
# from the checked-in corpus (fuzz/corpus/<target>) plus the fixture seeds
# (build-fuzz/fuzz/<target>.seeds, and the config.json / model.weights.h5
# inside the .keras fixtures). A crash, leak, timeout or sanitizer report
# leaves its input in fuzz/crashes/<target>/ (check it in once fixed: ctest's
# fuzz_replay_<target> replays it from then on) and fails the run.
# Prints a table: executions, executions/s, coverage (edges), features, corpus
# size and findings per target. --update-corpus merges the run's new inputs of
# at most 4 KB into fuzz/corpus/<target> (libFuzzer -merge=1: only inputs that
# add coverage). Needs: apt-get install clang-14 libfuzzer-14-dev.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

minutes="${1:?usage: bench/fuzz.sh MINUTES [TARGET ...] [--update-corpus]}"
shift
seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60); if (s < 1) exit 1; print s }') ||
  { echo "MINUTES must be a number, at least 1/60 (got $minutes)" >&2; exit 1; }
update=0
targets=()
for arg in "$@"; do
  if [ "$arg" = --update-corpus ]; then update=1; else targets+=("$arg"); fi
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=($(ls fuzz/corpus))
fi
for tool in clang++-14; do
  command -v "$tool" > /dev/null || { echo "$tool missing: apt-get install clang-14 libfuzzer-14-dev" >&2; exit 1; }
done
fixtures="${SWAPSERVE_FIXTURES:-$root/../shared/fixtures}"
[ -d "$fixtures" ] || { echo "fixtures not found at $fixtures (set SWAPSERVE_FIXTURES)" >&2; exit 1; }

echo "== build (preset fuzz: clang-14, libFuzzer, ASan+UBSan)"
cmake --preset fuzz > /dev/null
cmake --build --preset fuzz

runs="$root/build-fuzz/fuzz-runs"
# seed TARGET DIR: the fixture files and archive members a target starts from.
seed() {
  local target="$1" dir="$2"
  mkdir -p "$dir"
  while read -r rel; do
    [ -n "$rel" ] && cp "$fixtures/$rel" "$dir/$(echo "$rel" | tr / _)"
  done < "build-fuzz/fuzz/$target.seeds"
  local member=""
  case "$target" in
    keras_config_fuzz) member=config.json ;;
    keras_weights_child_fuzz) member=model.weights.h5 ;;
  esac
  if [ -n "$member" ]; then
    for archive in "$fixtures"/keras3/*.keras; do
      python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
        "$archive" "$member" > "$dir/$(basename "$archive").$member"
    done
  fi
}

# run TARGET: MINUTES of libFuzzer; its log in $runs/TARGET/log.
run() {
  local target="$1" work="$runs/$1"
  rm -rf "$work/seeds" && mkdir -p "$work/corpus" "fuzz/crashes/$target"
  seed "$target" "$work/seeds"
  local start=$SECONDS rc=0
  ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "build-fuzz/fuzz/$target" -max_total_time="$seconds" -timeout=30 \
      -rss_limit_mb=4096 -malloc_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="fuzz/crashes/$target/" \
      "$work/corpus" "$work/seeds" "fuzz/corpus/$target" > "$work/log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - start))" > "$work/result"
}

echo "== fuzzing ${#targets[@]} targets, $minutes min each, two at a time"
running=0
for target in "${targets[@]}"; do
  [ -x "build-fuzz/fuzz/$target" ] || { echo "no target $target" >&2; exit 1; }
  echo "   $target"
  run "$target" &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true

failed=0
printf '\n%-26s %8s %11s %8s %7s %7s %7s %s\n' target seconds execs exec/s cov ft corpus findings
for target in "${targets[@]}"; do
  work="$runs/$target"
  read -r rc secs < "$work/result"
  # (libFuzzer pads these stats with spaces.)
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/log" | awk '{print $2}' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$work/log" | awk '{print $2}' | tail -1)
  last=$(grep -E '#[0-9]+.*cov: ' "$work/log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}')
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')
  corpus=$(ls "$work/corpus" | wc -l)
  findings=$(grep -cE '^==[0-9]+==ERROR|runtime error:|ALARM: working on the last Unit|out-of-memory' "$work/log" || true)
  [ "$rc" = 0 ] || failed=1
  printf '%-26s %8s %11s %8s %7s %7s %7s %s\n' "$target" "$secs" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$findings (exit $rc; log $work/log)"
  if [ "$update" = 1 ] && [ "$rc" = 0 ]; then
    small="$work/small" && rm -rf "$small" && mkdir -p "$small"
    find "$work/corpus" -type f -size -4097c -exec cp {} "$small" \;
    "build-fuzz/fuzz/$target" -merge=1 "fuzz/corpus/$target" "$small" > "$work/merge.log" 2>&1
  fi
done
exit "$failed"
