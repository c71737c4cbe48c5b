// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <functional>

/// Fault points for crash tests. When the environment holds `CLSYNC_TEST_CRASH_AT=<point>[:<n>]`,
/// the process sends itself SIGKILL the n-th time (default: the first) it reaches the named
/// point — a real kill, so the tests see exactly what an operator's `kill -9` leaves behind.
/// `CLSYNC_TEST_THROW_AT=<point>[:<n>]` throws there instead: a std::runtime_error, or with
/// `CLSYNC_TEST_THROW_KIND=other` an exception not derived from std::exception (what a third-party
/// library might throw), so tests see that a worker thread records it instead of terminating.
/// Points of the executor: after_intent, mid_copy, after_copy, after_commit, after_trash,
/// before_intent_removal, after_rename, after_recount (the re-count's holds stand, the replica
/// is not removed yet); of the trash remover (core/run/trash_remover.hpp): trash_removal (a
/// finished task's trash and its intent still there), trash_removed (the intent alone); of a
/// rename batch (core/run/rename_batch.hpp): rename_batch_after_intent,
/// rename_batch_after_renames; of a commit set (core/run/fan_out_task.hpp): fanout_after_prepare,
/// fanout_after_mark_<n>, fanout_after_exchange_<n> (n: the participant, from 1),
/// fanout_before_cleanup; of recovery: recovery_mid; of an inventory: scan_node.
/// Of backup: backup_mid_object, backup_object_placed, backup_chunk_done, backup_before_snapshot,
/// backup_after_snapshot; of push: push_mid_object, push_object_placed, push_before_snapshot,
/// push_snapshot_sent; of sync-online: sync_before_state_save, sync_after_state_save.
/// `CLSYNC_TEST_FAULT_LOG=<file>` appends every point reached to the file, one per line.
///
/// `CLSYNC_TEST_PAUSE_AT=<point>:<dir>` pauses instead, the first time the point is reached:
/// the process creates `<dir>/<point>.reached` and waits until `<dir>/<point>.go` exists, so a
/// test can run a second process in the gap.
namespace clsync::core {

/// Counts one arrival at `point`; kills the process (or throws) when the configured arrival is
/// reached. Costs one comparison when the variables are unset. Thread-safe.
void fault_point(const char* point);

/// What fault_point throws with CLSYNC_TEST_THROW_KIND=other: deliberately not a std::exception.
struct TestFault {
  const char* point;
};
/// Test-only, in-process: `hook` is called with every point reached (from any thread), before
/// the environment's crash or pause. An empty function removes it. Not for production code.
void set_fault_hook(std::function<void(const char*)> hook);

} // namespace clsync::core
