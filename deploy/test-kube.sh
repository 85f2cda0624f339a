#!/usr/bin/env bash
# The Kubernetes manifests, played, and a fleet converging. `kubectl kustomize`
# renders deploy/k8s (through an overlay that sets 3 replicas, as `kubectl scale`
# would) and `podman kube play` runs it. It proves, from the host:
#   - the three server pods become ready through their own startup and readiness
#     probes (gRPC health, as the manifest states them), only once the trainer pod's
#     init container has exported the model into the shared claim;
#   - every replica answers Predict and follows the checkpoints the trainer pod (the
#     Job's pod spec) writes into the shared claim;
#   - a real Prometheus (Debian's), configured from deploy/prometheus.yml, scrapes
#     every replica (`up`), sees the swap counter rise while the trainer runs, and
#     every query of deploy/grafana/swapserve.json returns data;
#   - the fleet converges: after each new checkpoint, every replica serves it within
#     2 x --checkpoint_poll_seconds of the pointer's rename (figures printed); a
#     corrupt checkpoint is rejected by all, each keeps serving the previous one.
#   bash deploy/test-kube.sh     (as root on Debian 12; deploy/test.sh runs it too)
#
# What podman 4.3 does not do, and what stands in for it here:
#   - Services, the PodDisruptionBudget, the HorizontalPodAutoscaler and Jobs are not
#     played: the Job's pod template is played as a Pod, and the replicas are reached
#     at their pod IPs, as a Service's endpoints would be.
#   - It publishes every containerPort on the host, so two replicas could not start;
#     the ports lists are dropped (the probes name port numbers).
#   - It ignores gRPC probes and startup/readiness probes: this script runs them as
#     the kubelet would (the manifest's port, periodSeconds and failureThreshold).
#   - PVCs become local named volumes: ReadWriteMany over a network file system is
#     what a real cluster must supply (docs/DEPLOY.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
command -v catatonit >/dev/null || {  # podman's pod infra container (the pause image)
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq catatonit
}
prepare

for v in swapserve-models swapserve-checkpoints; do
  ! pm volume exists "$v" || fail "volume $v exists (a previous run?): podman volume rm $v"
done

say "kubectl kustomize (3 replicas) -> podman kube play"
mkdir "$work/overlay"
cat >"$work/overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work/overlay" "$root/deploy/k8s")
replicas:
  - name: swapserve
    count: 3
EOF
kubectl kustomize "$work/overlay" >"$work/rendered.yaml"
# Splits the rendering into what podman plays (claims, servers, the trainer's pod)
# and prints each probe of the server container and its poll interval.
python3 - "$work" >"$work/probes" <<'EOF'
import sys, yaml
work = sys.argv[1]
docs = list(yaml.safe_load_all(open(f"{work}/rendered.yaml")))
kinds = lambda k: [d for d in docs if d["kind"] == k]
skipped = sorted({d["kind"] for d in docs} - {"PersistentVolumeClaim", "Deployment", "Job"})
print("skipped", " ".join(skipped))
(deployment,) = kinds("Deployment")
(job,) = kinds("Job")
for c in deployment["spec"]["template"]["spec"]["containers"]:
    c.pop("ports", None)
    for kind in ("startupProbe", "readinessProbe"):
        p = c[kind]
        print(kind, p["grpc"]["port"], p.get("periodSeconds", 10), p.get("failureThreshold", 3))
    poll = [a for a in c["command"] if a.startswith("--checkpoint_poll_seconds=")]
    print("poll", poll[0].split("=")[1])
print("replicas", deployment["spec"]["replicas"])
yaml.safe_dump_all(kinds("PersistentVolumeClaim") + [deployment], open(f"{work}/servers.yaml", "w"))
template = job["spec"]["template"]
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": job["metadata"]["name"], "labels": template["metadata"]["labels"]},
       "spec": template["spec"]}
yaml.safe_dump(pod, open(f"{work}/trainer.yaml", "w"))
EOF
probe() { awk -v k="$1" '$1 == k {print $2, $3, $4}' "$work/probes"; }
echo "   not played by podman: $(awk '$1 == "skipped" {$1 = ""; print}' "$work/probes")"
poll="$(awk '$1 == "poll" {print $2}' "$work/probes")"
replicas="$(awk '$1 == "replicas" {print $2}' "$work/probes")"

cleanups+=("pm kube play --down '$work/servers.yaml'; pm volume rm -f swapserve-models swapserve-checkpoints")
pm kube play "$work/servers.yaml" >"$work/play.log" 2>&1 || { cat "$work/play.log"; fail "kube play servers"; }
mapfile -t pods < <(pm pod ps --filter name=swapserve-pod --format '{{.Name}}' | sort)
[ "${#pods[@]}" = "$replicas" ] || fail "expected $replicas server pods, podman made: ${pods[*]}"
ips=()
for p in "${pods[@]}"; do
  ips+=("$(pm inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$p-swapserve")")
done
echo "   ${pods[*]} at ${ips[*]}"
[ "$(pm inspect --format '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}' "${pods[0]}-swapserve")" = \
  "10001:10001 true" ] || fail "the server container is not non-root with a read-only root"

# A real Prometheus, configured from deploy/prometheus.yml, scraping every replica.
read -r prom_port < <(python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
python3 - "$work" "${ips[@]}" <<'EOF'
import sys, yaml
work, ips = sys.argv[1], sys.argv[2:]
config = yaml.safe_load(open("deploy/prometheus.yml"))
config["scrape_configs"][0]["static_configs"] = [{"targets": [f"{ip}:8501" for ip in ips]}]
yaml.safe_dump(config, open(f"{work}/prometheus.yml", "w"))
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
cleanups+=("kill $!")
promql() {  # QUERY: prints one line per series: VALUE LABELS
  curl -sf --get "127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    print(r["value"][1], json.dumps(r["metric"], sort_keys=True))'
}

say "the trainer pod (the Job's pod spec): its init container exports, then it trains"
cleanups+=("pm kube play --down '$work/trainer.yaml'")
play_started=$(date +%s.%N)
pm kube play "$work/trainer.yaml" >>"$work/play.log" 2>&1 || { cat "$work/play.log"; fail "kube play trainer"; }

# The kubelet's part: the startup probe until it passes (at most failureThreshold
# periods), then the readiness probe until it passes.
read -r s_port s_period s_threshold < <(probe startupProbe)
read -r r_port r_period _ < <(probe readinessProbe)
for i in "${!pods[@]}"; do
  ( n=0
    until "$cli" health --server "${ips[i]}:$s_port" --timeout 1 >/dev/null 2>&1; do
      n=$((n + 1)); [ "$n" -lt "$s_threshold" ] || exit 1; sleep "$s_period"
    done
    until "$cli" health --server "${ips[i]}:$r_port" --timeout 1 >/dev/null 2>&1; do sleep "$r_period"; done
    echo "   ${pods[i]} ready $(awk -v a="$play_started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s after the trainer pod started"
  ) &
  waiters+=($!)
done
for w in "${waiters[@]}"; do wait "$w" || fail "a server pod failed its startup probe"; done

say "every replica follows the trainer's checkpoints; Prometheus scrapes them"
# The first scrape of every replica's swap counter (exported at 0 from the load).
for _ in $(seq 40); do
  [ "$(promql 'count(swapserve_checkpoint_swaps_total)' | awk '{print $1}')" = "$replicas" ] && break
  sleep 0.5
done
swaps_at_start="$(promql 'sum(swapserve_checkpoint_swaps_total)' | awk '{print $1}')"
declare -A seen
trainer=swapserve-trainer-trainer
while [ "$(pm inspect --format '{{.State.Running}}' "$trainer")" = true ]; do
  for i in "${!ips[@]}"; do
    answer="$(predict "${ips[i]}:8500")"
    case " ${seen[$i]:-} " in *" ${answer%% *} "*) ;; *) seen[$i]="${seen[$i]:-} ${answer%% *}" ;; esac
  done
  sleep 1
done
[ "$(pm inspect --format '{{.State.ExitCode}}' "$trainer")" = 0 ] ||
  { pm logs "$trainer" | tail; fail "the trainer pod failed"; }
vol="$(volume_dir swapserve-checkpoints)"
latest="$(latest_in_volume swapserve-checkpoints)"
converged() {  # NAME: waits until every replica serves NAME; prints each one's time
  local t0="$2" i answer pending=("${!ips[@]}") left
  while [ "${#pending[@]}" -gt 0 ]; do
    left=()
    for i in "${pending[@]}"; do
      answer="$(predict "${ips[i]}:8500")"
      if [ "${answer%% *}" = "$1" ]; then
        awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf " %.2f", b - a}'
      else left+=("$i"); fi
    done
    pending=("${left[@]}")
    awk -v a="$t0" -v b="$(date +%s.%N)" -v m="$3" 'BEGIN {exit !(b - a > m)}' && return 1
    [ "${#pending[@]}" -eq 0 ] || sleep 0.1
  done
}
converged "$latest" "$(date +%s.%N)" $((2 * poll)) >/dev/null ||
  fail "not every replica serves the trainer's last checkpoint $latest"
for i in "${!ips[@]}"; do
  echo "   ${pods[i]} served:${seen[$i]} $latest"
  [ "$(wc -w <<<"${seen[$i]}")" -ge 3 ] || fail "${pods[i]} followed fewer than two checkpoints"
done
[ "$(promql 'count(up{job="swapserve"} == 1)' | awk '{print $1}')" = "$replicas" ] ||
  fail "Prometheus does not have every replica up: $(promql 'up')"
sleep 6  # one more scrape after the last swap
swaps_at_end="$(promql 'sum(swapserve_checkpoint_swaps_total)' | awk '{print $1}')"
echo "   Prometheus: $replicas targets up; swaps (sum of the replicas) ${swaps_at_start:-none} -> $swaps_at_end"
awk -v a="${swaps_at_start:-0}" -v b="$swaps_at_end" 'BEGIN {exit !(b > a)}' ||
  fail "the swap counter did not rise in Prometheus while the trainer ran"

say "the fleet converges (pointer renamed from the host into the shared claim)"
mapfile -t kept < <(pointer_paths swapserve-checkpoints all_model_checkpoint_paths)
publish() {  # NAME SOURCE [corrupt]: a checkpoint NAME with SOURCE's files, then the pointer
  cp "$vol/$2.index" "$vol/$1.index"
  cp "$vol/$2.data-00000-of-00001" "$vol/$1.data-00000-of-00001"
  # Corrupt: one byte in every 4 KiB inverted, so every tensor the server reads
  # fails its CRC32C (a flip in an optimizer slot alone would go unread, harmlessly).
  [ "${3:-}" != corrupt ] ||
    python3 -c 'import sys
b = bytearray(open(sys.argv[1], "rb").read())
for i in range(0, len(b), 4096): b[i] ^= 0xFF
open(sys.argv[1], "wb").write(b)' "$vol/$1.data-00000-of-00001"
  printf 'model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n' "$1" "$1" >"$vol/.checkpoint.tmp"
  mv "$vol/.checkpoint.tmp" "$vol/checkpoint"
}
worst=0
for round in 1 2 3; do
  name="cp-fleet-$round"
  publish "$name" "${kept[$(((round - 1) % ${#kept[@]}))]}"
  t0=$(date +%s.%N)
  times="$(converged "$name" "$t0" $((2 * poll)))" ||
    fail "$name: not every replica served it within $((2 * poll)) s (${times:-none} s)"
  echo "   $name: each replica served it after$times s (poll every $poll s)"
  worst="$(tr ' ' '\n' <<<"$times $worst" | sort -g | tail -1)"
done
rejections() { curl -sf "$1:8501/monitoring/prometheus/metrics" |
  awk '/^swapserve_checkpoint_rejections_total/ {s += $2} END {print s + 0}'; }
before=()
for i in "${!ips[@]}"; do before+=("$(rejections "${ips[i]}")"); done
publish cp-fleet-corrupt "${kept[0]}" corrupt
sleep $((2 * poll + 1))
for i in "${!ips[@]}"; do
  answer="$(predict "${ips[i]}:8500")"
  [ "${answer%% *}" = cp-fleet-3 ] || fail "${pods[i]} serves ${answer%% *} after the corrupt checkpoint, not cp-fleet-3"
  [ "$(rejections "${ips[i]}")" -gt "${before[i]}" ] || fail "${pods[i]} did not count a rejection"
done
echo "   cp-fleet-corrupt: rejected by all $replicas replicas, each still serves cp-fleet-3"
publish cp-fleet-4 "${kept[1]}"
times="$(converged cp-fleet-4 "$(date +%s.%N)" $((2 * poll)))" || fail "cp-fleet-4 after the corrupt one"
echo "   cp-fleet-4 (after the corrupt one): served after$times s"
# After a swap and a rejection on every replica, each panel of the dashboard has data.
sleep 6
python3 -c '
import json
for p in json.load(open("deploy/grafana/swapserve.json"))["panels"]:
    for t in p.get("targets", []):
        print(t["expr"])' >"$work/dashboard-queries"
while read -r expr; do
  [ -n "$(promql "$expr")" ] || fail "the dashboard query returns no data: $expr"
done <"$work/dashboard-queries"
echo "   Prometheus: each of the $(wc -l <"$work/dashboard-queries") queries of deploy/grafana/swapserve.json returns data"
say "PASS kube: $replicas replicas ready by their probes, followed the trainer pod, converged within ${worst} s (bound $((2 * poll)) s)"
