// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

/// Fault points for crash tests. When the environment holds `CLSYNC_TEST_CRASH_AT=<point>[:<n>]`,
/// the process sends itself SIGKILL the n-th time (default: the first) it reaches the named
/// point — a real kill, so the tests see exactly what an operator's `kill -9` leaves behind.
/// Points of the executor: after_intent, mid_copy, after_copy, after_commit, after_trash,
/// before_intent_removal, after_rename; of recovery: recovery_mid.
namespace clsync::core {

/// Counts one arrival at `point`; kills the process when the configured arrival is reached.
/// Costs one comparison when the variable is unset. Thread-safe.
void fault_point(const char* point);

} // namespace clsync::core
