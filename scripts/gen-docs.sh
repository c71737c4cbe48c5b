#!/usr/bin/env bash
# Regenerates man/*.1 and completions/* from the option tree and man/src/*.txt.
# Usage: scripts/gen-docs.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cmake --build "$build" --target clsync-docgen >/dev/null
"$build/clsync-docgen" man/src man completions
echo "regenerated man/ and completions/"
