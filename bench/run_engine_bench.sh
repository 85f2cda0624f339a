#!/usr/bin/env bash
# Runs the engine benchmark and the PyTorch peer in one run and prints the ratios
# (PyTorch time / swapserve time: > 1 means swapserve is faster).
# Needs: a release build (build/), python3-torch and libopenblas0-pthread.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bench="$root/build/bench/swapserve_engine_bench"
[ -x "$bench" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Both engines use OpenBLAS, which picks its kernels at run time; OPENBLAS_CORETYPE
# and OPENBLAS_L2_SIZE (set in some sandboxes) would pin an old kernel, so both run
# without them, on one thread.
run() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$@"; }
run "$bench" --dump_weights="$work/weights"
# Each side reports the best of 5 runs of >= 0.2 s: on a shared machine the
# minimum is the figure least disturbed by other processes (the peer does the same).
run "$bench" --benchmark_format=json --benchmark_out="$work/ours.json" --benchmark_out_format=json \
  --benchmark_min_time=0.2 --benchmark_repetitions=5 > /dev/null
# The peer exits 1 after its JSON when the engines' outputs disagree (it names the
# model on stderr): the table is still printed, then this script fails with it.
peer=0
run /usr/bin/python3 "$root/bench/torch_peer.py" "$work/weights" > "$work/torch.json" || peer=$?
if [ "$peer" -ne 0 ] && [ ! -s "$work/torch.json" ]; then
  echo "torch_peer.py failed (exit $peer) before printing its results" >&2
  exit "$peer"
fi
/usr/bin/python3 - "$work/ours.json" "$work/torch.json" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))
torch = json.load(open(sys.argv[2]))
print(f"swapserve GEMMs: {ours['context'].get('gemm', 'unknown')}")
print(f"PyTorch {torch['torch']}, {torch['threads']} thread, BLAS: {torch['blas']}")
print("max |swapserve - torch| on the reference input:", torch["max_abs_diff"])
print(f"{'model':6} {'batch':>5} {'swapserve us':>13} {'torch us':>10} {'ratio':>7}")
best = {}
for b in ours["benchmarks"]:
    if b.get("run_type", "iteration") == "iteration":
        best[b["run_name"]] = min(best.get(b["run_name"], float("inf")), b["real_time"])
for run_name, us in best.items():
    name, batch = run_name.split("/")
    model = name.replace("BM_", "").lower()
    t = torch["us"][model][batch]
    print(f"{model:6} {batch:>5} {us:>13.1f} {t:>10.1f} {t / us:>7.2f}")
PY
if [ "$peer" -ne 0 ]; then
  echo "FAILED: swapserve and PyTorch disagree on the reference input (torch_peer.py above); the timings compare nothing" >&2
  exit "$peer"
fi
