# Shared by the container tests (deploy/test.sh runs them all; each also runs alone):
# podman set up for this sandbox, the images of deploy/Dockerfile built and checked,
# the host's swapserve-cli, and the probes the scenarios share. Source it from a
# script that `set -euo pipefail`; it defines and prepares, it runs no scenario.
#
# Sandbox settings (podman 4.3 from Debian, as root, no systemd, no registry):
# runc with cgroupfs, no default ulimits (the sandbox refuses raising RLIMIT_NOFILE),
# and debian:bookworm-slim made with debootstrap from the machine's Debian mirror.
# Images are tagged :latest, so that localhost/swapserve:latest is what compose.yaml
# (`image: swapserve`) and the kustomized manifests (`swapserve:latest`) name.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=${started:-$(date +%s)}
say() { echo "== [$(($(date +%s) - started))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

missing=()
for tool in podman:podman runc:/usr/sbin/runc debootstrap:debootstrap curl:curl \
  docker-compose:docker-compose prometheus:prometheus kubernetes-client:kubectl; do
  command -v "${tool#*:}" >/dev/null || missing+=("${tool%%:*}")
done
python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

work="$(mktemp -d /tmp/swapserve-container.XXXXXX)"
printf '[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n' \
  >"$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
pm() { podman --runtime /usr/sbin/runc "$@"; }
# Scenarios add their own clean-up steps; the work directory goes last.
cleanups=()
on_exit() {
  local i
  for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap on_exit EXIT

# -- base images: debian:bookworm-slim (runtime) and debian:bookworm (build stage)
make_base_images() {
  pm image exists debian:bookworm-slim || {
    local mirror rootfs="$work/rootfs"
    mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
    [ -n "$mirror" ] || mirror="$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)"
    say "debian:bookworm-slim not present: debootstrap from $mirror"
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
  }
  pm image exists debian:bookworm || pm tag debian:bookworm-slim debian:bookworm
}

# -- the images, built (cached layers make a rebuild ~30 s) and checked: size,
# user, ports, and every binary starts with all its libraries.
build_images() {
  make_base_images
  say "building the images (build stage -j2)"
  local build=(pm build --network host --format docker -f deploy/Dockerfile --build-arg JOBS=2)
  "${build[@]}" -t swapserve:latest . >"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; fail "podman build"; }
  "${build[@]}" --target trainer -t swapserve-trainer:latest . >>"$work/build.log" 2>&1 ||
    { tail -40 "$work/build.log"; fail "podman build --target trainer"; }
  local image size
  for image in swapserve swapserve-trainer; do
    size="$(pm image inspect --format '{{.Size}}' "$image")"
    echo "   $image: $(awk '{printf "%.1f MB", $1 / 1e6}' <<<"$size")"
    # The server image's size target (docs/DEPLOY.md): mostly the slim base, gRPC and
    # our OpenBLAS build; the Debian OpenBLAS package alone would add ~40 MB.
    if [ "$image" = swapserve ] && [ "$size" -gt 150000000 ]; then
      fail "swapserve is $size bytes, over the 150 MB target"
    fi
    # Every library resolves and every binary starts (absl's --help exits 1: check the text).
    pm run --rm --no-healthcheck --network host "$image" sh -c '
      for b in /usr/local/bin/swapserve*; do
        if ldd "$b" | grep "not found"; then echo "$b: missing libraries"; exit 1; fi
      done
      swapserve --help 2>&1 | grep -q -- --checkpoint_dir &&
      swapserve-cli help 2>&1 | grep -q health &&
      swapserve-train --help 2>&1 | grep -q -- --export_dir' || fail "$image: a binary does not start"
    [ "$(pm image inspect --format '{{.Config.User}}' "$image")" = "10001:10001" ] ||
      fail "$image does not run as the non-root user 10001"
  done
  local ports
  ports="$(pm image inspect --format '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' swapserve)"
  [ "$ports" = "8500/tcp 8501/tcp " ] || fail "swapserve exposes '$ports', not 8500/tcp and 8501/tcp"
  echo "   swapserve: user 10001:10001, exposes $ports"
}

# -- the host's client
build_host_cli() {
  say "building build/client/swapserve-cli on the host"
  bash deploy/install-deps.sh >/dev/null
  cmake --preset release >/dev/null
  cmake --build --preset release --target swapserve_cli >"$work/cli-build.log" 2>&1 ||
    { tail -20 "$work/cli-build.log"; fail "building swapserve-cli"; }
}

# What every scenario needs: the images and the host's client, built once per
# deploy/test.sh run (it exports SWAPSERVE_DEPLOY_BUILT=1 for the scenarios), and a
# test set written by the trainer image into this script's work directory.
prepare() {
  if [ "${SWAPSERVE_DEPLOY_BUILT:-}" != 1 ]; then
    build_images
    build_host_cli
  fi
  cli="$root/build/client/swapserve-cli"
  pm run --rm --no-healthcheck --network host -v "$work:/out" --user 0 swapserve-trainer \
    swapserve-train --write_examples=/out/examples.json --test_examples=200 >/dev/null
}

wait_serving() {  # SERVER [SECONDS]: waits until gRPC health says SERVING
  local i
  for ((i = 0; i < ${2:-60} * 2; i++)); do
    "$cli" health --server "$1" --timeout 2 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  fail "$1 is not SERVING after ${2:-60} s"
}
predict() {  # SERVER: prints CHECKPOINT VERSION ARGMAX-OF-EACH-EXAMPLE
  "$cli" predict --server "$1" --model mlp --input "$work/examples.json" | python3 -c '
import json, sys
a = json.load(sys.stdin); v = next(iter(a["outputs"].values()))["values"]
print(a["weights"]["checkpoint"].split("/")[-1], a["weights"]["weights_version"],
      "".join(str(max(range(10), key=lambda k: v[i + k])) for i in range(0, len(v), 10)))'
}
volume_dir() { pm volume inspect --format '{{.Mountpoint}}' "$1"; }  # VOLUME: its directory here
pointer_paths() {  # VOLUME FIELD: the basenames FIELD of the volume's `checkpoint` names
  sed -n "s/^$2: \"\(.*\)\"\$/\1/p" "$(volume_dir "$1")/checkpoint" | sed 's|.*/||'
}
latest_in_volume() { pointer_paths "$1" model_checkpoint_path; }  # VOLUME
