#!/usr/bin/env bash
# The serving benchmark report (issue 14), in one run on this machine: the
# engine alone, Predict against the transport floor (swapserve.bench.v1.Echo
# with the same payload) at batch 1 and 32, over gRPC and REST, calls/s and p99
# against concurrency with and without --enable_batching, and reload storms (a swap every 100 ms) at
# 1 and 4 clients with and without batching, with the daemon's memory.
# bench/report.py turns the results into OUT/report.md and SVG plots.
#
# Usage: bench/run.sh [OUT_DIR]      (default build/bench-report)
#   BENCH_SECONDS=4  measured seconds per point (after 1 s of warm-up)
# Needs: a release build (build/), the fixtures (../shared/fixtures or
# $SWAPSERVE_FIXTURES), python3 and gnuplot (Debian's gnuplot-nox). Run it on
# an idle machine: client and daemon share its cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/bench-report}"
fixtures="${SWAPSERVE_FIXTURES:-$root/../shared/fixtures}"
seconds="${BENCH_SECONDS:-4}"
server="$root/build/server/swapserve"
cli="$root/build/client/swapserve-cli"
for tool in "$server" "$cli" "$root/build/bench/swapserve_engine_bench" "$root/build/bench/swapserve_reload_bench"; do
  [ -x "$tool" ] || { echo "run.sh: build first (cmake --preset release && cmake --build --preset release): no $tool" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "run.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -d "$fixtures/keras_seed_mlp" ] || { echo "run.sh: no fixtures at $fixtures (set SWAPSERVE_FIXTURES)" >&2; exit 1; }

mkdir -p "$out"
work="$(mktemp -d)"
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The seed MLP follows a directory holding cp-0000; the payloads are its
# expected input's first row, once and 32 times.
mkdir "$work/ckpt"
cp "$fixtures"/keras_seed_mlp/training_2/cp-0000.ckpt.* "$work/ckpt/"
printf 'model_checkpoint_path: "cp-0000.ckpt"\n' > "$work/ckpt/checkpoint"
python3 - "$fixtures/expected/keras_seed_mlp.json" "$work" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
alias, t = next(iter(spec["inputs"].items()))
row = t["values"][:784]
for n in (1, 32):
    body = {"inputs": {alias: {"dtype": t["dtype"], "shape": [n, 784], "values": row * n}}}
    json.dump(body, open(f"{sys.argv[2]}/mlp_b{n}.json", "w"))
PY
printf 'max_batch_size { value: 32 }\nbatch_timeout_micros { value: 0 }\nnum_batch_threads { value: 2 }\n' \
  > "$out/batching.config"

# start_daemon [batching flags...]: the seed MLP with the echo service on free ports.
start_daemon() {
  rm -f "$work/port"
  rest_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$server" --port=0 --port_file="$work/port" --rest_api_port="$rest_port" --model_name=mlp \
    --model_base_path="$fixtures/keras_seed_mlp/saved_model" --checkpoint_dir="$work/ckpt" \
    --enable_echo "$@" > "$out/daemon.log" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && return 0; sleep 0.1; done
  echo "run.sh: the daemon did not start:" >&2; cat "$out/daemon.log" >&2; exit 1
}
stop_daemon() { kill "$daemon"; wait "$daemon" || true; daemon=""; }
bench() { "$cli" bench --server "localhost:$(cat "$work/port")" --model mlp --warmup 1 --duration "$seconds" "$@"; }
rest_bench() { "$cli" bench --rest "127.0.0.1:$rest_port" --model mlp --warmup 1 --duration "$seconds" "$@"; }

echo "== engine alone (swapserve_engine_bench, one thread)"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$root/build/bench/swapserve_engine_bench" \
  --benchmark_filter='BM_Mlp/(1|32)$' --benchmark_repetitions=5 --benchmark_min_time=0.2 \
  --benchmark_report_aggregates_only=true --benchmark_format=json > "$out/engine.json"

echo "== one client: Predict and the floor, batch 1 and 32"
start_daemon
for n in 1 32; do
  bench --input "$work/mlp_b$n.json" --concurrency 1 --floor --json --samples "$out/latency_b$n.csv" \
    > "$out/one_client_b$n.json"
  rest_bench --input "$work/mlp_b$n.json" --concurrency 1 --json > "$out/one_client_rest_b$n.json"
done

echo "== concurrency sweep, without and with batching"
for mode in off on; do
  if [ "$mode" = on ]; then
    stop_daemon
    start_daemon --enable_batching --batching_parameters_file="$out/batching.config"
  fi
  for c in 1 2 4 8 16 32; do
    echo "   batching $mode, $c clients"
    bench --input "$work/mlp_b1.json" --concurrency "$c" --floor --json > "$out/sweep_${mode}_c$c.json"
    if [ "$mode" = off ]; then
      rest_bench --input "$work/mlp_b1.json" --concurrency "$c" --json > "$out/sweep_rest_c$c.json"
    fi
  done
done
stop_daemon

echo "== reload storms (a swap every 100 ms)"
for batching in 0 1; do
  for clients in 1 4; do
    echo "   batching $batching, $clients clients"
    "$root/build/bench/swapserve_reload_bench" --swaps=20 --seconds="$seconds" --swap_every_ms=100 \
      --clients="$clients" --batching="$batching" --samples="$out/reload_b${batching}_c$clients.csv" \
      > "$out/reload_b${batching}_c$clients.txt" 2>&1 || { cat "$out/reload_b${batching}_c$clients.txt" >&2; exit 1; }
  done
done

python3 "$root/bench/report.py" "$out"
echo "report: $out/report.md"
