#!/usr/bin/env bash
# Training benchmark: swapserve-train against PyTorch CPU (bench/torch_train_peer.py)
# on the same model, data, batch size (32) and threads (2), in one run; then the
# accuracy runs (5 epochs on the full 60k) for seeds 0..SEEDS-1 through both.
# Needs python3-torch (+ libopenblas0-pthread).
# Usage: bash bench/run_train_bench.sh [EPOCHS_FOR_ACCURACY [SEEDS]]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
train="$root/build/trainer/swapserve-train"
epochs="${1:-5}"
seeds="${2:-1}"
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
# Accuracy: each seed through both trainers (the same recipe: Keras's initialisers,
# Adam defaults, batch 32), then the spread per model and trainer.
for model in mlp cnn; do
  for seed in $(seq 0 $((seeds - 1))); do
    "$train" --model=$model --epochs="$epochs" --threads=2 --seed="$seed" --quiet \
      --log_json="$tmp/acc-$model-$seed.json"
    ours=$(tail -1 "$tmp/acc-$model-$seed.json" | jq .val_accuracy)
    theirs=$(peer --model $model --epochs "$epochs" --threads 2 --seed "$seed" | jq .test_accuracy)
    printf '%s seed %s: test accuracy after %s epochs: swapserve-train %.4f, PyTorch %.4f\n' \
      "$model" "$seed" "$epochs" "$ours" "$theirs"
    echo "$model ours $ours" >>"$tmp/accuracy"
    echo "$model torch $theirs" >>"$tmp/accuracy"
  done
done
awk '{k = $1 " " $2; n[k]++; s[k] += $3; if (!(k in lo) || $3 < lo[k]) lo[k] = $3
      if (!(k in hi) || $3 > hi[k]) hi[k] = $3}
     END {for (k in n) printf "%s: mean %.4f, min %.4f, max %.4f over %d seeds\n",
                                k, s[k] / n[k], lo[k], hi[k], n[k]}' "$tmp/accuracy" | sort
