#!/usr/bin/env bash
# Installs what is missing, then configures and builds clsync in ./build (or $CLSYNC_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
build=${CLSYNC_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-Release} >/dev/null
cmake --build "$build" -j"$(nproc)"
