#!/usr/bin/env bash
# Sanitizer runs (README "Sanitizers"). `asan`: AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer included) on every suite, in build-asan. `tsan`: ThreadSanitizer on the unit
# tests and the suites with threads (executor, agent client, scans, status, leases), in
# build-tsan. Reports of every process (agents started through sshd too) go to
# <build>/sanitizer-logs; any report fails the run. More arguments go to ctest.
# Both first build a Release clsync and its static agent in build/ (or $CLSYNC_RELEASE_BUILD_DIR;
# the benchmarks use the same): the sanitized build takes that agent (it cannot be sanitized),
# and the suites that bound peak RSS (load, sync_memory) measure that clsync, since a sanitized
# process's RSS is mostly the sanitizer's.
# The sanitized builds are compiled with clang 14 (installed when missing): GCC 12 took 1.7 times
# its CPU for the same code, and under ASan+UBSan gave every UBSan check's data an ASan redzone
# (README "Sanitizers").
# Usage: scripts/sanitize.sh [build|run] asan|tsan [ctest arguments]
#   build: the builds only; run: the tests only (of a build made before); neither: both.
set -euo pipefail
cd "$(dirname "$0")/.."
step=all
case ${1:-} in
  build|run) step=$1; shift ;;
esac
kind=${1:-asan}
shift || true
# ctest runs two suites per core for asan, as the plain suite does (a third of a suite's time is
# waiting: sshd, fsyncs, killed runs); ThreadSanitizer's processes are heavier, one per core.
case $kind in
  asan) build=${CLSYNC_BUILD_DIR:-build-asan}; sanitize=address,undefined
        targets=(all); tests=(); jobs=$(( 2 * $(nproc) )) ;;
  tsan) build=${CLSYNC_BUILD_DIR:-build-tsan}; sanitize=thread
        targets=(clsync clsync_unit clsync_integration); jobs=$(nproc)
        tests=(-R '^(unit|integration\.(executor|transport_ssh|transport_agent_pipe|transport_local|status|status_ssh|leases))$') ;;
  *) echo "usage: scripts/sanitize.sh [build|run] asan|tsan [ctest arguments]" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/sanitize.sh: the integration tests start sshd and mount tmpfs: run as root" >&2
  exit 1
fi
if [ "$step" != run ]; then
  ./scripts/install-deps.sh --clang
  release=${CLSYNC_RELEASE_BUILD_DIR:-build}
  cmake -S . -B "$release" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$release" -j"$(nproc)" --target clsync clsync-agent-static
  # A directory configured with another compiler (GCC, before 3 Dec) starts afresh: CMake keeps
  # the first compiler of a build directory.
  if [ -f "$build/CMakeCache.txt" ] &&
     ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-14$' "$build/CMakeCache.txt"; then
    rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
  fi
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCLSYNC_SANITIZE=$sanitize -DCLSYNC_RELEASE_BUILD="$(realpath "$release")" >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
fi
if [ "$step" != build ]; then
  # The fixture tests sanitizer_reports_clear / sanitizer_reports run first and last.
  ctest --test-dir "$build" --output-on-failure --timeout 1800 -j"$jobs" "${tests[@]}" "$@"
fi
