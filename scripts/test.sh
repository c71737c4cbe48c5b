#!/usr/bin/env bash
# Builds clsync and runs every test suite: unit, integration (real sshd on 127.0.0.x, tmpfs
# mounts, killed processes: needs root) and the CLI golden tests. Any failure fails the run.
# CLSYNC_TEST_MODE says how (README "Tests"):
#   asan+tsan  (default; what CI runs) a Release clsync in build/ (the demo's, the benchmarks',
#              the peak-RSS bounds'), every suite once under ASan+UBSan+LSan (build-asan), then
#              ThreadSanitizer on the unit tests and threaded suites (build-tsan, compiled beside
#              the ASan suite at the lowest priority, in the CPU its waits leave)
#   asan       the same without ThreadSanitizer
#   plain+tsan every suite once on the Release build in build/, then the ThreadSanitizer part
#   plain      every suite once on the Release build in build/: the quick run
# More arguments go to ctest for the full suite (e.g. -R integration.crash).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${CLSYNC_TEST_MODE:-asan+tsan}
case $mode in
  asan+tsan|asan|plain|plain+tsan) ;;
  *) echo "scripts/test.sh: CLSYNC_TEST_MODE is asan+tsan, asan, plain+tsan or plain" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: the integration tests start sshd and mount tmpfs: run as root" >&2
  exit 1
fi
release=${CLSYNC_BUILD_DIR:-build}

# Prints a step's wall clock and CPU-seconds (its processes' too) to stderr.
step() {
  local name=$1
  shift
  local TIMEFORMAT="scripts/test.sh: $name: %0R s wall, %0U + %0S CPU-s"
  time "$@"
}
sanitize() {
  env -u CLSYNC_BUILD_DIR CLSYNC_RELEASE_BUILD_DIR="$release" ./scripts/sanitize.sh "$@"
}

# The ThreadSanitizer build, in the background at nice 19: the suite before it waits on sshd,
# fsyncs and killed runs for about a third of its time, and this build fills that.
tsan_pid=""
tsan_log=""
start_tsan_build() {
  tsan_log=$(mktemp)
  # Its own process group, so that an early exit stops the compilers too; setsid also makes it
  # a scheduler autogroup of its own, which would share the CPUs evenly with ours whatever its
  # nice value, so that group's nice is set too.
  setsid bash -c 'echo 19 > /proc/self/autogroup 2>/dev/null || true
                  exec nice -n 19 "$@"' lowest env -u CLSYNC_BUILD_DIR \
    CLSYNC_RELEASE_BUILD_DIR="$release" ./scripts/sanitize.sh build tsan >"$tsan_log" 2>&1 &
  tsan_pid=$!
}
stop_tsan_build() {
  if [ -n "$tsan_pid" ]; then
    kill -- "-$tsan_pid" 2>/dev/null || true
    wait "$tsan_pid" 2>/dev/null || true
  fi
  [ -z "$tsan_log" ] || rm -f "$tsan_log"
}
trap 'stop_tsan_build; unmount_scratch' EXIT

# The full suite's scratch (TMPDIR) is a tmpfs of its own: on this VM image's ext4 the suites'
# many small files, made and removed, cost the kernel more than the tests themselves (ext4's
# inode allocator skips recently deleted inodes: perf shows it under every create). The ASan
# suite took 937 s there and 702 on tmpfs. Tests that need other filesystems mount their own
# (tmpfs for disk-full and cross-device, loop XFS), and the ThreadSanitizer suites below keep
# the disk's. CLSYNC_TEST_SCRATCH=disk keeps TMPDIR as it is.
suite_scratch=""
unmount_scratch() {
  if [ -n "$suite_scratch" ]; then
    umount -R "$suite_scratch" && rmdir "$suite_scratch"
    suite_scratch=""
  fi
}
run_suite() {
  if [ "${CLSYNC_TEST_SCRATCH:-tmpfs}" = disk ]; then
    "$@"
    return
  fi
  suite_scratch=$(mktemp -d /tmp/clsync-suite.XXXXXX)
  mount -t tmpfs -o mode=1777 clsync-suite "$suite_scratch"
  local status=0
  TMPDIR=$suite_scratch "$@" || status=$?
  if [ "$status" -eq 0 ]; then
    unmount_scratch
  else
    # The failing tests' scratch ("kept for a look") stays mounted.
    echo "scripts/test.sh: the suite's scratch stays mounted for a look: $suite_scratch" \
         "(umount -R it when done)" >&2
    suite_scratch=""
  fi
  return "$status"
}

rc=0
case $mode in
  plain*)
    step "Release build" ./scripts/build.sh
    # Every suite (each has its own scratch, sshd addresses and mounts) runs beside the others,
    # two per core: a third of a suite's time is waiting, so on 2 cores -j4 took 587 s where
    # -j2 took 830 (3 Dec, every suite passed).
    step "plain suite" run_suite ctest --test-dir "$release" --output-on-failure --timeout 900 \
         -j"$(( 2 * $(nproc) ))" "$@" || rc=$?
    ;;
  asan*)
    step "Release clsync and ASan+UBSan build" sanitize build asan
    if [ "$mode" = asan+tsan ]; then
      start_tsan_build
    fi
    step "ASan+UBSan suite" run_suite sanitize run asan "$@" || rc=$?
    ;;
esac
if [ "$mode" = asan+tsan ] || [ "$mode" = plain+tsan ]; then
  if [ -z "$tsan_pid" ]; then
    start_tsan_build
  fi
  if ! step "TSan build (what was left of it)" wait "$tsan_pid"; then
    tsan_pid=""
    echo "scripts/test.sh: the ThreadSanitizer build failed:" >&2
    tail -40 "$tsan_log" >&2
    exit 1
  fi
  tsan_pid=""
  step "TSan threaded suites" sanitize run tsan || rc=$?
fi
exit "$rc"
