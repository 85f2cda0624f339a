#!/usr/bin/env bash
# Installs the Debian packages in deploy/debian-packages.txt (as root, or via sudo).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mapfile -t packages < <(grep -v '^\s*#' "$here/debian-packages.txt" | grep -v '^\s*$')
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# kubectl (deploy_lint_test's `kubectl kustomize`): Debian's kubernetes-client,
# unless the machine already has a kubectl (e.g. Google Cloud SDK's package,
# which owns /usr/bin/kubectl, so Debian's would conflict with it). Image builds
# set SWAPSERVE_TEST_TOOLS=0: they run no tests.
if [ "${SWAPSERVE_TEST_TOOLS:-1}" != 0 ] && ! command -v kubectl >/dev/null; then
  missing+=(kubernetes-client)
fi
# promtool (the metrics test's `promtool check metrics`) comes with Prometheus.
if [ "${SWAPSERVE_TEST_TOOLS:-1}" != 0 ] && ! command -v promtool >/dev/null; then
  missing+=(prometheus)
fi
# docker-compose (deploy_lint_test's `docker-compose config`: compose.yaml as
# Debian's compose 1.29 reads it; the container test runs the file with it).
if [ "${SWAPSERVE_TEST_TOOLS:-1}" != 0 ] && ! command -v docker-compose >/dev/null; then
  missing+=(docker-compose)
fi
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
