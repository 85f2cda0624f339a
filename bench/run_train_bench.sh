#!/usr/bin/env bash
# Training benchmark: swapserve-train against PyTorch CPU (bench/torch_train_peer.py)
# on the same model, data, batch size (32) and threads (2), in one run; then the
# accuracy runs (5 epochs on the full 60k). Needs python3-torch (+ libopenblas0-pthread).
# Usage: bash bench/run_train_bench.sh [EPOCHS_FOR_ACCURACY]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
train="$root/build/trainer/swapserve-train"
epochs="${1:-5}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$root/bench/torch_train_peer.py" "$@"; }

for model in mlp cnn; do
  "$train" --model=$model --epochs=1 --threads=2 --quiet --log_json="$tmp/$model.json"
  ours=$(jq .samples_per_second "$tmp/$model.json")
  theirs=$(peer --model $model --epochs 1 --threads 2 | jq .samples_per_second)
  printf '%s: swapserve-train %.0f samples/s, PyTorch %.0f samples/s, ratio %.2f (batch 32, 2 threads, 60k examples)\n' \
    "$model" "$ours" "$theirs" "$(echo "$ours / $theirs" | bc -l)"
done
for model in mlp cnn; do
  "$train" --model=$model --epochs="$epochs" --threads=2 --quiet --log_json="$tmp/acc-$model.json"
  printf '%s: test accuracy after %s epochs: %s\n' "$model" "$epochs" "$(tail -1 "$tmp/acc-$model.json" | jq .val_accuracy)"
done
