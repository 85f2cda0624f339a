#!/usr/bin/env bash
# The integration suites under ThreadSanitizer (ctest `tsan_test`, label `tsan`, not in
# the default run: it builds abseil and the whole tree with TSan, ~30 min on 2 cores).
#
# Debian's abseil is built without TSan, so TSan cannot see absl::Mutex (a futex of its
# own, not a pthread mutex) and reports races under locks that are correctly held. This
# builds abseil 20220623 from Debian's own source package (deb-src from the machine's
# mirror, Debian's patches applied: the same soname, options and ABI) with
# -fsanitize=thread into build-tsan/_absl, and runs the tests and the daemons they start
# with it first on the library path, so that our locks, abseil's and gRPC's (gRPC 1.51
# locks through absl::Mutex) are all visible. glog, protobuf and gRPC's own lock-free
# code stay uninstrumented: TSan checks no memory access made there.
#
# Every process writes its reports to build-tsan/reports/ (TSAN_OPTIONS log_path), so a
# report in a daemon that a test started is caught too: any report fails the run.
#   bash tests/tsan.sh [CTEST_REGEX]    default: the swap, follower, batching, admission
#                                       and shutdown suites
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/build-tsan"
absl="$out/_absl"
regex="${1:-^(hot_reload_test|checkpoint_follower_test|checkpoint_manager_test|checkpoint_fallback_test|keras_follow_test|server_batching_test|server_admission_test|server_lifecycle_test|server_versions_test|load_isolation_test|server_metrics_test|server_predict_test|server_rest_test)$}"
started=$(date +%s)
say() { echo "== [$(($(date +%s) - started))s] $*"; }

if [ ! -e "$absl/lib/libabsl_synchronization.so.20220623" ]; then
  version="$(dpkg-query -W -f='${Version}' libabsl20220623)"
  say "abseil $version from Debian's source package, with -fsanitize=thread"
  command -v dpkg-source >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev
  }
  src="$out/_absl-src"
  rm -rf "$src" && mkdir -p "$src/apt/lists/partial"
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  [ -n "$mirror" ] || mirror="$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)"
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" >"$src/apt/src.sources"
  apt_src=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$src/apt"
           -o Dir::State::Lists="$src/apt/lists")
  apt-get "${apt_src[@]}" update -qq
  # The source of the installed binary package, exactly (its ABI is what gRPC links).
  (cd "$src" && apt-get "${apt_src[@]}" source -qq "abseil=$version" >"$src/source.log" 2>&1) ||
    { tail "$src/source.log"; echo "FAIL: apt-get source abseil=$version" >&2; exit 1; }
  tree="$(find "$src" -maxdepth 1 -type d -name 'abseil-*' | head -1)"
  # As debian/rules configures the shared build, plus TSan.
  cmake -S "$tree" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DCMAKE_INSTALL_PREFIX="$absl" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >"$src/configure.log"
  nice cmake --build "$src/build" -j2 >"$src/build.log" 2>&1 ||
    { tail -30 "$src/build.log"; echo "FAIL: building abseil" >&2; exit 1; }
  cmake --install "$src/build" >/dev/null
  rm -rf "$src"
fi

say "the tree with -fsanitize=thread (build-tsan)"
cmake --preset tsan >/dev/null
flock /tmp/swapserve-build.lock nice cmake --build --preset tsan 2>&1 | tail -1

reports="$out/reports"
rm -rf "$reports" && mkdir -p "$reports"
export LD_LIBRARY_PATH="$absl/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TSAN_OPTIONS="log_path=$reports/tsan ignore_noninstrumented_modules=1 suppressions=$root/tests/tsan.supp history_size=4 second_deadlock_stack=1"
# The daemons the tests start see these too (they inherit the environment).
say "ctest -R '$regex' under TSan"
ctest --test-dir "$out" -R "$regex" --output-on-failure -j1 --timeout 1800 || ctest_rc=$?
if compgen -G "$reports/tsan*" >/dev/null; then
  for r in "$reports"/tsan*; do echo "---- $r"; head -60 "$r"; done
  echo "FAIL: ThreadSanitizer reports: $(ls "$reports" | wc -l) (build-tsan/reports/)" >&2
  exit 1
fi
[ "${ctest_rc:-0}" = 0 ] || { echo "FAIL: ctest under TSan" >&2; exit 1; }
say "PASS: no ThreadSanitizer report"
