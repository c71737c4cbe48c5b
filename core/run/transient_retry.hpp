// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <functional>

/// Clean-up steps that must not be left to the next run for a blip: a node whose connection
/// just dropped (sshd restarting, a reset) usually answers again within seconds.
namespace clsync::core {

/// Runs `op`; while it throws a retryable transport::TransportError (a lost connection, a
/// refused connect, a timeout), waits 250 ms, doubling, and runs it again, `attempts` times in
/// all (5: about 4 s). Rethrows the last failure, and at once any failure that is not transient:
/// an errno from the disk (a failed fsync above all) is never retried as if it might pass.
void run_with_transient_retries(const std::function<void()>& op, int attempts = 5);

} // namespace clsync::core
