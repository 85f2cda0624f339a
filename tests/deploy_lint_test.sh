#!/usr/bin/env bash
# The deployment files are valid (ctest deploy_lint_test, label unit): yamllint with the
# repository's .yamllint over deploy/compose.yaml and deploy/k8s/*.yaml; compose and
# the Kubernetes Job run the same export and trainer commands; the Deployment has
# its probes, non-root user, polling and grace period; the REST port and the
# metrics path agree across the flags, ports, Service, scrape annotations, compose,
# deploy/monitoring.config, deploy/prometheus.yml and the Dockerfile; promtool
# reads deploy/prometheus.yml and every PromQL query of
# deploy/grafana/swapserve.json; `docker-compose config` reads compose.yaml and
# `kubectl kustomize deploy/k8s` builds (offline). Without those two tools their
# checks are skipped (exit 77, reported by ctest as Skipped), which fails under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
yamllint -s -c .yamllint deploy/compose.yaml deploy/k8s/*.yaml
# Debian's interpreter, which has python3-yaml (a dependency of yamllint).
/usr/bin/python3 - <<'PY'
import re
import yaml
compose = yaml.safe_load(open("deploy/compose.yaml"))["services"]
job = yaml.safe_load(open("deploy/k8s/trainer-job.yaml"))["spec"]["template"]["spec"]
assert compose["export"]["command"] == job["initContainers"][0]["command"], "export commands differ"
assert compose["trainer"]["command"] == job["containers"][0]["command"], "trainer commands differ"
assert compose["server"]["depends_on"]["export"]["condition"] == "service_completed_successfully"
assert compose["trainer"]["depends_on"]["server"]["condition"] == "service_healthy"
# The Deployment: gRPC probes on the served port, non-root, polling the network
# volume, and a grace period longer than preStop + the server's drain.
pod = yaml.safe_load(open("deploy/k8s/server-deployment.yaml"))["spec"]["template"]["spec"]
c = pod["containers"][0]
flags = dict(a[2:].split("=", 1) for a in c["command"][1:])
for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
    assert c[probe]["grpc"]["port"] == int(flags["port"]), probe
assert pod["securityContext"]["runAsNonRoot"] is True
assert flags["checkpoint_inotify"] == "false" and float(flags["checkpoint_poll_seconds"]) > 0
pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
assert pod["terminationGracePeriodSeconds"] > pre_stop + int(flags["shutdown_grace_seconds"])
# REST and metrics: one port (the container's `http`, the Service's, the scrape
# annotation's, compose's) and one path (the config file the image ships).
rest = flags["rest_api_port"]
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
assert ports["http"] == int(rest) and ports["grpc"] == int(flags["port"]), ports
service = next(yaml.safe_load_all(open("deploy/k8s/service.yaml")))
assert {"name": "http", "port": int(rest), "targetPort": "http", "appProtocol": "http"} in \
    service["spec"]["ports"], "the Service does not expose the REST port"
notes = yaml.safe_load(open("deploy/k8s/server-deployment.yaml"))["spec"]["template"]["metadata"][
    "annotations"]
metrics_path = re.search(r'^\s*path:\s*"([^"]+)"', open("deploy/monitoring.config").read(),
                         re.M).group(1)
assert notes == {"prometheus.io/scrape": "true", "prometheus.io/port": rest,
                 "prometheus.io/path": metrics_path}, notes
server = compose["server"]["command"]
assert f"--rest_api_port={rest}" in server and f"{rest}:{rest}" in compose["server"]["ports"]
config = flags["monitoring_config_file"]
assert f"--monitoring_config_file={config}" in server
dockerfile = open("deploy/Dockerfile").read()
assert f"COPY deploy/monitoring.config {config}\n" in dockerfile
assert f'"--rest_api_port={rest}"' in dockerfile and f'"--monitoring_config_file={config}"' in \
    dockerfile and re.search(rf"^EXPOSE .*\b{rest}\b", dockerfile, re.M), "Dockerfile's server stage"
assert "!deploy/monitoring.config\n" in open(".dockerignore").read()
# Prometheus scrapes the same path on the same port (compose's service name).
prom = yaml.safe_load(open("deploy/prometheus.yml"))["scrape_configs"][0]
assert prom["metrics_path"] == metrics_path, prom
assert prom["static_configs"][0]["targets"] == [f"server:{rest}"], prom
PY
# deploy/prometheus.yml as Prometheus reads it, and every query of the Grafana
# dashboard as PromQL (each made a recording rule, which promtool parses).
promtool check config deploy/prometheus.yml >/dev/null
rules="$(mktemp)"
trap 'rm -f "$rules"' EXIT
/usr/bin/python3 - "$rules" <<'PY'
import json
import sys
import yaml
dash = json.load(open("deploy/grafana/swapserve.json"))
exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
assert len(exprs) >= 6, exprs
rules = [{"record": f"swapserve:dashboard_query:{i}", "expr": e} for i, e in enumerate(exprs)]
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[1], "w"))
PY
promtool check rules "$rules" >/dev/null
# The real readers of compose.yaml and deploy/k8s, offline: Debian's docker-compose
# (which refuses what its 1.29 does not know, e.g. a top-level `name:`) and kubectl.
# Without them these checks are skipped (exit 77, ctest's Skipped); under CI they
# are required (deploy/install-deps.sh installs both).
for tool in docker-compose kubectl; do
  if ! command -v "$tool" >/dev/null; then
    echo "deploy_lint: yamllint and the consistency checks passed; $tool is not installed"
    if [ "${CI:-}" = "true" ]; then echo "deploy_lint: FAILED: no $tool under CI" >&2; exit 1; fi
    exit 77
  fi
done
docker-compose -p swapserve -f deploy/compose.yaml config -q
kubectl kustomize deploy/k8s >/dev/null
bash -n deploy/lib.sh deploy/test.sh deploy/test-compose.sh deploy/test-kube.sh
echo "deploy_lint: yamllint, consistency, docker-compose config and kubectl kustomize passed"
