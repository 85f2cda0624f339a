#!/usr/bin/env bash
# The deployment files are valid (ctest deploy_lint, label unit): yamllint with the
# repository's .yamllint over deploy/compose.yaml and deploy/k8s/*.yaml; compose and
# the Kubernetes Job run the same export and trainer commands; and, where kubectl is
# installed, `kubectl kustomize deploy/k8s` builds (offline). CI machines without
# kubectl skip only that last check.
set -euo pipefail
cd "$(dirname "$0")/.."
yamllint -s -c .yamllint deploy/compose.yaml deploy/k8s/*.yaml
python3 - <<'PY'
import yaml
compose = yaml.safe_load(open("deploy/compose.yaml"))["services"]
job = yaml.safe_load(open("deploy/k8s/trainer-job.yaml"))["spec"]["template"]["spec"]
assert compose["export"]["command"] == job["initContainers"][0]["command"], "export commands differ"
assert compose["trainer"]["command"] == job["containers"][0]["command"], "trainer commands differ"
assert compose["server"]["depends_on"]["export"]["condition"] == "service_completed_successfully"
assert compose["trainer"]["depends_on"]["server"]["condition"] == "service_healthy"
PY
if command -v kubectl >/dev/null; then
  kubectl kustomize deploy/k8s >/dev/null
  echo "deploy_lint: yamllint, compose/Job consistency and kubectl kustomize passed"
else
  echo "deploy_lint: yamllint and compose/Job consistency passed (no kubectl: kustomize skipped)"
fi
