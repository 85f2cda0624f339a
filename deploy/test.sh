#!/usr/bin/env bash
# Container test (ctest label `container`, not in the default CI run): builds the
# images of deploy/Dockerfile with podman and runs the deploy/compose.yaml scenario
# as plain containers sharing named volumes (the commands are read from
# compose.yaml): export the untrained model, serve it following the checkpoint
# volume, train, and check from the host with build/client/swapserve-cli that the
# answers change and the trailers name the checkpoints (and with curl that the REST
# port answers and serves the metrics); then restart the server container and check
# it comes back serving the latest checkpoint.
#   bash deploy/test.sh          (as root on Debian 12; installs podman, runc, debootstrap)
# Needs no registry: a missing debian:bookworm-slim is made with debootstrap from the
# machine's Debian mirror. Podman runs with runc, cgroupfs and --network host.
# Containers and volumes are removed at the end; the images (swapserve:test,
# swapserve-trainer:test) and the build cache stay, so a rerun takes ~30 s, not ~10 min.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
started=$(date +%s)
say() { echo "== [$(($(date +%s) - started))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

missing=()
for tool in podman:podman runc:/usr/sbin/runc debootstrap:debootstrap python3-yaml:python3 curl:curl; do
  command -v "${tool#*:}" >/dev/null || missing+=("${tool%%:*}")
done
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

work="$(mktemp -d /tmp/swapserve-container.XXXXXX)"
id="swapserve-test-$$"
printf '[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\n' \
  >"$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
pm() { podman --runtime /usr/sbin/runc "$@"; }
cleanup() {
  pm rm -f -t 0 "$id-server" "$id-trainer" >/dev/null 2>&1 || true
  pm volume rm -f "$id-models" "$id-checkpoints" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# -- base images: debian:bookworm-slim (runtime) and debian:bookworm (build stage)
if ! pm image exists debian:bookworm-slim; then
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  [ -n "$mirror" ] || mirror="$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)"
  say "debian:bookworm-slim not present: debootstrap from $mirror"
  rootfs="$work/rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  # apt as the host has it (same mirror and suites), trimmed like the official slim image.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/"
    rm -f "$rootfs/etc/apt/sources.list"
  fi
  printf '%s\n' 'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' \
    'APT::Keep-Downloaded-Packages "false";' 'Acquire::Languages "none";' \
    >"$rootfs/etc/apt/apt.conf.d/docker-clean"
  if apt-config dump | grep -q 'Check-Valid-Until "false"'; then
    echo 'Acquire::Check-Valid-Until "false";' >"$rootfs/etc/apt/apt.conf.d/99valid-until"
  fi
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/lintian/*' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$rootfs"/usr/share/{man,info,locale}/* "$rootfs"/var/cache/apt/{archives/*.deb,*.bin} \
    "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | pm import -q - debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
fi
pm image exists debian:bookworm || pm tag debian:bookworm-slim debian:bookworm

# -- images
say "building the images (build stage -j2)"
build=(pm build --network host --format docker -f deploy/Dockerfile --build-arg JOBS=2)
"${build[@]}" -t swapserve:test . >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; fail "podman build"; }
"${build[@]}" --target trainer -t swapserve-trainer:test . >>"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; fail "podman build --target trainer"; }
for image in swapserve:test swapserve-trainer:test; do
  size="$(pm image inspect --format '{{.Size}}' "$image")"
  echo "   $image: $(awk '{printf "%.1f MB", $1 / 1e6}' <<<"$size")"
  # The server image's size target (docs/DEPLOY.md): mostly the slim base, gRPC and
  # our OpenBLAS build; the Debian OpenBLAS package alone would add ~40 MB.
  if [ "$image" = swapserve:test ] && [ "$size" -gt 150000000 ]; then
    fail "swapserve:test is $size bytes, over the 150 MB target"
  fi
  # Every library resolves and every binary starts (absl's --help exits 1: check the text).
  pm run --rm --no-healthcheck --network host "$image" sh -c '
    for b in /usr/local/bin/swapserve*; do
      if ldd "$b" | grep "not found"; then echo "$b: missing libraries"; exit 1; fi
    done
    swapserve --help 2>&1 | grep -q -- --checkpoint_dir &&
    swapserve-cli help 2>&1 | grep -q health &&
    swapserve-train --help 2>&1 | grep -q -- --export_dir' || fail "$image: a binary does not start"
done
[ "$(pm image inspect --format '{{.Config.User}}' swapserve:test)" = "10001:10001" ] ||
  fail "the image does not run as the non-root user"

# -- the host's client
say "building build/client/swapserve-cli on the host"
bash deploy/install-deps.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release --target swapserve_cli >"$work/cli-build.log" 2>&1 ||
  { tail -20 "$work/cli-build.log"; fail "building swapserve-cli"; }
cli="$root/build/client/swapserve-cli"

# -- the scenario, with compose.yaml's commands
compose_command() {  # prints the service's command, one argument per line
  python3 -c 'import sys, yaml
print("\n".join(yaml.safe_load(open(sys.argv[1]))["services"][sys.argv[2]]["command"]))' \
    deploy/compose.yaml "$1"
}
mapfile -t export_cmd < <(compose_command export)
mapfile -t server_cmd < <(compose_command server)
mapfile -t trainer_cmd < <(compose_command trainer)
# Two free ports (both bound at once, so they differ): gRPC and REST. The server
# runs on the host network, so compose's fixed 8500/8501 are replaced.
read -r port rest_port < <(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("", 0))
print(*(x.getsockname()[1] for x in s))')
server="localhost:$port"
pm volume create "$id-models" >/dev/null
pm volume create "$id-checkpoints" >/dev/null
models=(-v "$id-models:/models")
checkpoints=(-v "$id-checkpoints:/checkpoints")

say "export: ${export_cmd[*]}"
pm run --rm --no-healthcheck --network host "${models[@]}" swapserve-trainer:test \
  "${export_cmd[@]}" || fail "export"
pm run --rm --no-healthcheck --network host -v "$work:/out" --user 0 swapserve-trainer:test \
  swapserve-train --write_examples=/out/examples.json --test_examples=200 >/dev/null

run_detached() {  # podman logs errors about systemd timers for the HEALTHCHECK: kept aside
  pm run -d --network host "$@" >/dev/null 2>"$work/run.err" ||
    { cat "$work/run.err"; fail "podman run $*"; }
}
wait_serving() {
  for _ in $(seq 120); do
    "$cli" health --server "$server" --timeout 2 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  pm logs "$id-server" | tail -20
  fail "the server is not SERVING after 60 s"
}
predict() {  # prints: CHECKPOINT VERSION ARGMAX-OF-EACH-EXAMPLE
  "$cli" predict --server "$server" --model mlp --input "$work/examples.json" | python3 -c '
import json, sys
a = json.load(sys.stdin); v = next(iter(a["outputs"].values()))["values"]
print(a["weights"]["checkpoint"].split("/")[-1], a["weights"]["weights_version"],
      "".join(str(max(range(10), key=lambda k: v[i + k])) for i in range(0, len(v), 10)))'
}

say "server: ${server_cmd[*]} --port=$port --rest_api_port=$rest_port"
run_detached --name "$id-server" -e SWAPSERVE_PORT="$port" \
  -v "$id-models:/models:ro" -v "$id-checkpoints:/checkpoints:ro" \
  swapserve:test "${server_cmd[@]}" --port="$port" --rest_api_port="$rest_port"
wait_serving
pm healthcheck run "$id-server" >/dev/null || fail "the image's HEALTHCHECK does not pass"
# The image's OpenBLAS keeps only the AVX2/AVX-512 kernels (deploy/build-openblas.sh):
# on an AVX2 host it must pick one of them, not the generic fallback.
gemms="$(pm logs "$id-server" 2>&1 | sed -n 's/.*GEMMs: //p' | head -1)"
echo "   GEMMs: $gemms"
[ -n "$gemms" ] || fail "the server does not log its GEMM backend"
if grep -qw avx2 /proc/cpuinfo && grep -q 'core: Prescott' <<<"$gemms"; then
  fail "the image's OpenBLAS fell back to its generic kernels on an AVX2 machine"
fi
first="$(predict)"
echo "   before training: ${first:0:60}"
[ "${first%% *}" = saved_model ] || fail "expected the exported weights first, got: $first"
# The REST front (an httpGet readiness probe's path, docs/DEPLOY.md) names the
# weights in its headers; the metrics are on the same port (deploy/monitoring.config).
rest_headers="$(curl -sf -D - -o /dev/null "localhost:$rest_port/v1/models/mlp/metadata")" ||
  fail "the REST front does not answer GET /v1/models/mlp/metadata on $rest_port"
grep -qi '^swapserve-checkpoint: saved_model' <<<"$rest_headers" ||
  fail "REST: no swapserve-checkpoint header naming saved_model: $rest_headers"
metrics="$(curl -sf "localhost:$rest_port/monitoring/prometheus/metrics")" &&
  grep -q '^# TYPE ' <<<"$metrics" ||
  fail "no Prometheus metrics at localhost:$rest_port/monitoring/prometheus/metrics"

say "trainer: ${trainer_cmd[*]} --epochs=1"
run_detached --name "$id-trainer" "${checkpoints[@]}" swapserve-trainer:test \
  "${trainer_cmd[@]}" --epochs=1
seen=("$first")
while [ "$(pm inspect --format '{{.State.Running}}' "$id-trainer")" = true ]; do
  answer="$(predict)"
  if [ "${answer%% *}" != "${seen[-1]%% *}" ]; then
    seen+=("$answer")
    echo "   ${answer:0:60}"
  fi
  sleep 0.5
done
[ "$(pm inspect --format '{{.State.ExitCode}}' "$id-trainer")" = 0 ] ||
  { pm logs "$id-trainer" | tail; fail "the trainer failed"; }
latest="$(pm run --rm --no-healthcheck "${checkpoints[@]}" swapserve:test \
  sed -n 's/^model_checkpoint_path: "\(.*\)"$/\1/p' /checkpoints/checkpoint)"
latest="${latest##*/}"
for _ in $(seq 40); do
  answer="$(predict)"
  [ "${answer%% *}" = "$latest" ] && break
  sleep 0.5
done
[ "${answer%% *}" = "$latest" ] || fail "the server does not serve the latest checkpoint $latest: $answer"
[ "${#seen[@]}" -ge 3 ] || fail "expected at least two checkpoints swapped in while training: ${seen[*]}"
[ "${answer##* }" != "${first##* }" ] || fail "the answers did not change with training"
echo "   after training: ${answer:0:60}"

say "restarting the server container (SIGTERM, drain, start)"
pm restart -t 20 "$id-server" >/dev/null 2>"$work/run.err" || { cat "$work/run.err"; fail "restart"; }
wait_serving
again="$(predict)"
echo "   after restart: ${again:0:60}"
[ "${again%% *}" = "$latest" ] || fail "after the restart: $again, expected $latest"
[ "${again##* }" = "${answer##* }" ] || fail "after the restart the answers differ"
pm stop -t 20 "$id-server" >/dev/null 2>"$work/run.err"
[ "$(pm inspect --format '{{.State.ExitCode}}' "$id-server")" = 0 ] ||
  fail "the server did not exit 0 on SIGTERM"
say "PASS (${#seen[@]} distinct weights served, restart kept $latest)"
