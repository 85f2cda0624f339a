#!/usr/bin/env bash
# Re-encodes the hand-written request seeds (fuzz/seeds/predict_request_fuzz/
# K_name.txtpb, K = 0 Predict, 1 Classify, 2 Regress) into the checked-in corpus
# as the target reads them: the kind byte, then the protobuf wire form.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for f in "$root"/fuzz/seeds/predict_request_fuzz/*.txtpb; do
  name=$(basename "$f" .txtpb)
  case "${name%%_*}" in
    0) message=PredictRequest proto=predict ;;
    1) message=ClassificationRequest proto=classification ;;
    2) message=RegressionRequest proto=regression ;;
    *) echo "$f: the name must start with 0_, 1_ or 2_" >&2; exit 1 ;;
  esac
  { printf "\\x0${name%%_*}"
    protoc -I"$root/protos" --encode="tensorflow.serving.$message" \
      "tensorflow_serving/apis/$proto.proto" < "$f"
  } > "$root/fuzz/corpus/predict_request_fuzz/seed-$name"
done
