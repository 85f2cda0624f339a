#!/usr/bin/env bash
# Container test (ctest label `container`, not in the default CI run): builds the
# images of deploy/Dockerfile with podman (checked: size, non-root user, ports,
# every binary starts), then runs deploy/ as a user would, with the real tools:
#   deploy/test-compose.sh  compose.yaml by docker-compose through podman's Docker API
#   deploy/test-kube.sh     deploy/k8s by kubectl kustomize + podman kube play: three
#                           replicas, a trainer pod, Prometheus, a fleet converging
#   bash deploy/test.sh          (as root on Debian 12; installs what it needs)
# Needs no registry: a missing debian:bookworm-slim is made with debootstrap from the
# machine's Debian mirror. Containers, pods and volumes are removed at the end; the
# images and the build cache stay (from scratch ~10 min, cached ~3 min).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
build_images
build_host_cli
export SWAPSERVE_DEPLOY_BUILT=1 started
bash deploy/test-compose.sh
bash deploy/test-kube.sh
say "PASS deploy/test.sh"
