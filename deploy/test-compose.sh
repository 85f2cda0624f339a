#!/usr/bin/env bash
# deploy/compose.yaml, as written, run by a real compose implementation: Debian's
# docker-compose (1.29) talking to podman's Docker-compatible API (`podman system
# service` on a unix socket, DOCKER_HOST). It proves, from the host:
#   - `up` brings export -> server -> trainer up in the order the file's own
#     depends_on conditions say (export completed, then server healthy);
#   - swapserve-cli predict on localhost:8500 (gRPC) and curl on localhost:8501
#     (REST, metrics) see the answers move through the trainer's checkpoints;
#   - `docker-compose restart server` comes back serving the newest checkpoint;
#   - the server exits 0 on `stop` (SIGTERM, drain), and `down` leaves no container, network or volume of the project.
#   bash deploy/test-compose.sh     (as root on Debian 12; deploy/test.sh runs it too)
# This sandbox has no systemd, which podman uses to schedule healthchecks: a loop
# here runs `podman healthcheck run` (the file's own check) every 2 s in its place.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
prepare

project="swapserve-compose-$$"
for p in 8500 8501; do
  ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || fail "port $p is taken: compose.yaml publishes it"
done

say "podman system service on $work/podman.sock"
# podman itself, not the pm function: $! must be the service, not a subshell.
podman --runtime /usr/sbin/runc system service --time=0 "unix://$work/podman.sock" \
  >"$work/service.log" 2>&1 &
service_pid=$!
cleanups+=("kill $service_pid")
export DOCKER_HOST="unix://$work/podman.sock"
for _ in $(seq 50); do [ -S "$work/podman.sock" ] && break; sleep 0.2; done
compose() { docker-compose -p "$project" -f deploy/compose.yaml "$@"; }
cleanups+=("compose down -v -t 5")
compose version --short | sed 's/^/   docker-compose /'
project_containers() { pm ps -a -q --filter "label=com.docker.compose.project=$project"; }

# The healthcheck scheduler systemd would be.
( while sleep 2; do
    for c in $(pm ps -q --filter "label=com.docker.compose.project=$project"); do
      pm healthcheck run "$c" >/dev/null 2>&1 || true
    done
  done ) &
cleanups+=("kill $!")

say "docker-compose up -d (export, then server, then trainer)"
compose up -d >"$work/up.log" 2>&1 || { cat "$work/up.log"; pm logs "${project}_server_1" | tail; fail "up"; }
sed 's/^/   /' "$work/up.log"
ctr() { echo "${project}_$1_1"; }
state() { pm inspect --format "{{.State.$2}}" "$(ctr "$1")"; }
epoch() { local t="${1%% m=*}"; date -d "${t% UTC}" +%s.%N; }  # Go's time.String()
export_done="$(epoch "$(state export FinishedAt)")"
server_start="$(epoch "$(state server StartedAt)")"
trainer_start="$(epoch "$(state trainer StartedAt)")"
healthy="$(pm inspect --format '{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End}}
{{end}}{{end}}' "$(ctr server)" | head -1)"
[ -n "$healthy" ] || fail "the server never passed its healthcheck"
healthy="$(epoch "$healthy")"
[ "$(state export ExitCode)" = 0 ] || fail "export exited $(state export ExitCode)"
awk -v a="$export_done" -v b="$server_start" -v h="$healthy" -v c="$trainer_start" \
  'BEGIN { exit !(a <= b && b < h && h <= c) }' ||
  fail "out of order: export done $export_done, server started $server_start, healthy $healthy, trainer started $trainer_start"
awk -v a="$export_done" -v b="$server_start" -v h="$healthy" -v c="$trainer_start" 'BEGIN {
  printf "   export exited 0; server started %.1f s later, healthy after %.1f s; trainer started %.1f s after that\n",
    b - a, h - b, c - h }'

server=localhost:8500
wait_serving "$server"
# The image's own HEALTHCHECK (the Dockerfile's, for `docker run`) passes too.
image_check="$(pm image inspect --format '{{index .HealthCheck.Test 1}}' swapserve)"
pm exec "$(ctr server)" sh -c "$image_check" >/dev/null || fail "the image's HEALTHCHECK fails: $image_check"
gemms="$(pm logs "$(ctr server)" 2>&1 | sed -n 's/.*GEMMs: //p' | head -1)"
echo "   GEMMs: $gemms"
[ -n "$gemms" ] || fail "the server does not log its GEMM backend"
# The image's OpenBLAS keeps only the AVX2/AVX-512 kernels (deploy/build-openblas.sh):
# on an AVX2 host it must pick one of them, not the generic fallback.
if grep -qw avx2 /proc/cpuinfo && grep -q 'core: Prescott' <<<"$gemms"; then
  fail "the image's OpenBLAS fell back to its generic kernels on an AVX2 machine"
fi

say "watching the answers move through the trainer's checkpoints"
seen=()
rest_seen=0
while [ "$(state trainer Running)" = true ]; do
  answer="$(predict "$server")"
  if [ "${#seen[@]}" -eq 0 ] || [ "${answer%% *}" != "${seen[-1]%% *}" ]; then
    seen+=("$answer")
    # The REST port names the same weights in its headers (what it serves now).
    rest="$(curl -sf -D - -o /dev/null localhost:8501/v1/models/mlp/metadata |
      sed -n 's/^swapserve-checkpoint: *\([^[:space:]]*\).*/\1/Ip' | sed 's|.*/||')"
    echo "   gRPC ${answer:0:60}   REST ${rest:-none}"
    [ -n "$rest" ] && rest_seen=$((rest_seen + 1))
  fi
  sleep 0.5
done
[ "$(state trainer ExitCode)" = 0 ] || { pm logs "$(ctr trainer)" | tail; fail "the trainer failed"; }
[ "$rest_seen" -ge 2 ] || fail "the REST port did not name the weights it serves"
metrics="$(curl -sf localhost:8501/monitoring/prometheus/metrics)" &&
  grep -q '^# TYPE ' <<<"$metrics" || fail "no Prometheus metrics at localhost:8501"
latest="$(latest_in_volume "${project}_checkpoints")"
for _ in $(seq 40); do
  answer="$(predict "$server")"
  [ "${answer%% *}" = "$latest" ] && break
  sleep 0.5
done
[ "${answer%% *}" = "$latest" ] || fail "the server does not serve the latest checkpoint $latest: $answer"
[ "${#seen[@]}" -ge 3 ] || fail "expected at least two checkpoints swapped in while training: ${seen[*]}"
[ "${seen[0]%% *}" = saved_model ] || fail "expected the exported weights first, got: ${seen[0]}"
[ "${answer##* }" != "${seen[0]##* }" ] || fail "the answers did not change with training"
echo "   after training: ${answer:0:60}"

say "docker-compose restart server (SIGTERM, drain, start)"
compose restart server >"$work/restart.log" 2>&1 || { cat "$work/restart.log"; fail "restart"; }
wait_serving "$server"
again="$(predict "$server")"
echo "   after restart: ${again:0:60}"
[ "${again%% *}" = "$latest" ] || fail "after the restart: $again, expected $latest"
[ "${again##* }" = "${answer##* }" ] || fail "after the restart the answers differ"

say "docker-compose stop server, then down -v"
compose stop -t 20 server >"$work/stop.log" 2>&1 || { cat "$work/stop.log"; fail "stop"; }
[ "$(state server ExitCode)" = 0 ] || fail "the server exited $(state server ExitCode) on SIGTERM, not 0"
compose down -v -t 20 >"$work/down.log" 2>&1 || { cat "$work/down.log"; fail "down"; }
[ -z "$(project_containers)" ] || fail "containers left after down: $(project_containers)"
left="$(pm volume ls -q --filter "label=com.docker.compose.project=$project")
$(pm network ls -q --filter "label=com.docker.compose.project=$project")"
[ -z "${left//[[:space:]]/}" ] || fail "left after down: $left"
say "PASS compose: ${#seen[@]} distinct weights served, restart kept $latest, down left nothing"
