#!/usr/bin/env bash
# Builds the OpenBLAS the container images ship, from Debian's own OpenBLAS source
# (apt-get source, the version libopenblas-pthread-dev has), and installs it under
# PREFIX (lib/libopenblas.so.0 and include/cblas.h).
#
# Why not the Debian binary package: it is built for every x86 CPU since the
# Pentium and carries LAPACK with libgfortran, 45 MB of the server image, of
# which swapserve calls two functions (cblas_sgemm, cblas_sgemv). This build keeps
# what those need: single precision, no LAPACK, no Fortran, one thread (GEMMs run on
# the request's thread; USE_LOCKING=1 so that concurrent calls from request threads
# do not share unlocked buffers, see model/ops/gemm.h), and run-time kernel choice among the CPUs the image's
# -march=x86-64-v3 binaries run on: Haswell and later Intel (AVX2, with the AVX-512
# kernels for Skylake-X, Cooper Lake and Sapphire Rapids) and AMD Zen. Any other
# CPU gets OpenBLAS's generic x86-64 kernels: correct, slower. The kernels are the
# same code as Debian's build; bench/README.md has the measurement. About 4 MB.
#
# Usage (as root, on Debian 12): deploy/build-openblas.sh PREFIX
set -euo pipefail
prefix="${1:?usage: build-openblas.sh PREFIX}"
jobs="${JOBS:-2}"

# apt-get source needs deb-src entries: the same mirrors apt already uses.
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
done
if [ -f /etc/apt/sources.list ]; then
  sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list > /etc/apt/sources.list.d/deb-src.list
fi
apt-get update -qq

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get source -qq openblas 2> >(grep -v 'unsandboxed' >&2)
cd openblas-*/
# The same options for both steps: install re-reads them to know what was built.
options=(DYNAMIC_ARCH=1 DYNAMIC_LIST="HASWELL ZEN SKYLAKEX COOPERLAKE SAPPHIRERAPIDS"
         TARGET=HASWELL BUILD_SINGLE=1 NO_LAPACK=1 NO_LAPACKE=1 NOFORTRAN=1
         USE_THREAD=0 USE_LOCKING=1 USE_OPENMP=0 NO_STATIC=1)
make -j"$jobs" "${options[@]}" libs shared > build.log 2>&1 || { tail -50 build.log >&2; exit 1; }
make "${options[@]}" PREFIX="$prefix" install > install.log 2>&1 || { tail -50 install.log >&2; exit 1; }
lib="$(readlink -f "$prefix/lib/libopenblas.so.0")"
strip --strip-unneeded "$lib"
echo "build-openblas: $lib, $(stat -c %s "$lib") bytes"
