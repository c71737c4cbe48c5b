#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang 14, ASan + UBSan) in ./build-fuzz and runs each
# for SECONDS (default 20) from its seed corpus, after replaying fuzz/regressions/<target>/. Any
# crash, leak, undefined behaviour or hang fails the run; the input is kept in
# fuzz/crashes/<target>/. Targets run side by side, one per core.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (targets: see fuzz/CMakeLists.txt)
#        scripts/fuzz.sh --build-only   (installs and builds the targets; .ci/run builds them
#                                        beside the test suite, at the lowest priority)
set -euo pipefail
cd "$(dirname "$0")/.."
only=""
if [ "${1:-}" = --build-only ]; then
  only=$1
  shift
fi
secs=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(topology filter snapshot tar agent_protocol)
fi

./scripts/install-deps.sh --clang

build=${CLSYNC_FUZZ_BUILD_DIR:-build-fuzz}
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLSYNC_FUZZ=ON \
  -DCLSYNC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_all
[ "$only" != --build-only ] || exit 0

# New corpus entries go to a scratch directory: the committed seeds stay small and reviewed.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_target() {
  local t=$1 bin="$build/fuzz/fuzz_$1" log="$work/$1.log"
  local args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="fuzz/crashes/$t/")
  [ -f "fuzz/dicts/$t.dict" ] && args+=(-dict="fuzz/dicts/$t.dict")
  mkdir -p "fuzz/crashes/$t" "$work/$t"
  if [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
    "$bin" "${args[@]}" "fuzz/regressions/$t"/* >"$log.regressions" 2>&1 || {
      echo "fuzz $t: a committed regression input fails again:" >&2
      tail -30 "$log.regressions" >&2
      return 1
    }
  fi
  if ! "$bin" "${args[@]}" "$work/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    echo "fuzz $t: FAILED (input kept in fuzz/crashes/$t/):" >&2
    grep -E "ERROR|SUMMARY|runtime error|fuzz_[a-z_]+:|==[0-9]+==" "$log" | head -20 >&2
    return 1
  fi
  # "#N DONE cov: C ft: F corp: …" and the final stats: executions and coverage per target.
  local done_line runs
  done_line=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz $t: ${runs:-?} executions in ${secs}s, ${done_line#*DONE   }"
}

for t in "${targets[@]}"; do
  # One target per core at a time; each leaves its verdict in $work/<target>.ok.
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do
    wait -n || true
  done
  (run_target "$t" && touch "$work/$t.ok") &
done
wait || true
failed=0
for t in "${targets[@]}"; do
  [ -f "$work/$t.ok" ] || failed=1
done
if [ "$failed" -ne 0 ]; then
  echo "scripts/fuzz.sh: a target failed; see fuzz/crashes/" >&2
  exit 1
fi
echo "scripts/fuzz.sh: no crash in ${#targets[@]} targets × ${secs}s"
