#!/usr/bin/env bash
# The swapserve demo (README's main command): install, build, export the
# untrained seed MLP, serve it with swapserve following a checkpoint directory,
# train it with swapserve-train writing a checkpoint every few hundred batches,
# and show, live, what the server answers for a few Fashion-MNIST test images —
# predicted labels, running accuracy, and the checkpoint named in the response
# trailers — then stop everything cleanly.
# With --keras3 the same run goes the way of a Keras 3 training loop: the model
# is a .keras file and the trainer writes *.weights.h5 files, no pointer.
#   bash deploy/demo.sh [--keras3] [EPOCHS]   (default 2; SAVE_FREQ=300 batches)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
keras3=0
if [ "${1:-}" = "--keras3" ]; then
  keras3=1
  shift
fi
epochs="${1:-2}"
save_freq="${SAVE_FREQ:-300}"

bash deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target swapserve swapserve_cli swapserve_train

bin="$root/build"
work="$(mktemp -d /tmp/swapserve-demo.XXXXXX)"
server_pid=""
trainer_pid=""
cleanup() {
  [ -n "$trainer_pid" ] && kill "$trainer_pid" 2>/dev/null || true
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

"$bin/trainer/swapserve-train" --write_examples="$work/examples.json" --test_examples=200
if [ "$keras3" = 1 ]; then
  model="$work/model.keras"
  checkpoints="$work/ckpt/cp-{epoch:04d}-{batch:04d}.weights.h5"
  format=(--checkpoint_format=keras3)
  echo "== exporting the untrained model to $model (Keras 3)"
  "$bin/trainer/swapserve-train" --model=mlp --epochs=0 --test_examples=1000 --quiet \
      --export_format=keras --export_dir="$model"
  # A .keras model's input is named after its InputLayer.
  jq '.inputs |= with_entries(.key = "input_layer")' "$work/examples.json" >"$work/examples.tmp"
  mv "$work/examples.tmp" "$work/examples.json"
else
  model="$work/model"
  checkpoints="$work/ckpt/cp-{epoch:04d}-{batch:04d}.ckpt"
  format=()
  echo "== exporting the untrained model to $model/1"
  "$bin/trainer/swapserve-train" --model=mlp --epochs=0 --test_examples=1000 --quiet \
      --export_dir="$model/1"
fi

echo "== starting swapserve, following $work/ckpt"
"$bin/server/swapserve" --port=0 --port_file="$work/port" --model_name=mlp \
    --model_base_path="$model" --checkpoint_dir="$work/ckpt" \
    --checkpoint_poll_seconds=1 >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
server="localhost:$(cat "$work/port")"
cli=("$bin/client/swapserve-cli")
until "${cli[@]}" health --server "$server" >/dev/null 2>&1; do sleep 0.2; done
echo "   serving on $server"

echo "== training (checkpoint every $save_freq batches) while the server answers"
"$bin/trainer/swapserve-train" --model=mlp --epochs="$epochs" --save_freq="$save_freq" \
    --max_to_keep=3 --checkpoint_path="$checkpoints" "${format[@]}" \
    --log_json="$work/train.json" >"$work/train.log" 2>&1 &
trainer_pid=$!

names='["T-shirt","Trouser","Pullover","Dress","Coat","Sandal","Shirt","Sneaker","Bag","Boot"]'
show() {
  "${cli[@]}" predict --server "$server" --model mlp --input "$work/examples.json" >"$work/answer.json"
  jq -r --argjson names "$names" --slurpfile ex "$work/examples.json" '
    (.outputs | to_entries[0].value.values) as $v
    | [range(0; ($v | length) / 10) as $i | $v[$i*10:$i*10+10] | indices(max)[0]] as $pred
    | $ex[0].labels as $truth
    | ([range(0; $pred | length) | select($pred[.] == $truth[.])] | length) as $right
    | "\(.weights.checkpoint | .[0:22] | . + " " * (22 - length)) v\(.weights.weights_version)  "
      + "accuracy \($right)/\($pred | length)  first 6: "
      + ([range(0;6) | $names[$pred[.]] + (if $pred[.] == $truth[.] then "" else "(x)" end)] | join(" "))
  ' "$work/answer.json"
}
printf '%-22s %-4s %s\n' "weights (trailer)" "ver" "answers for 200 test images"
while kill -0 "$trainer_pid" 2>/dev/null; do
  show
  sleep 1
done
wait "$trainer_pid"
trainer_pid=""
sleep 1.5  # the last checkpoint
show
echo "== trainer: $(tail -1 "$work/train.log")"
echo "== checkpoints the server saw:"
"${cli[@]}" checkpoints list --server "$server" --model mlp |
  jq -r '.history[] | "   \(.kind) \(.prefix | split("/") | last // "(its own weights)") \(.reason)"' | tail -8
echo "== stopping swapserve (SIGTERM)"
kill -TERM "$server_pid"
wait "$server_pid" && echo "   exited cleanly"
server_pid=""
echo "(files in $work)"
