// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/transient_retry.hpp"

#include "transport/errors.hpp"

#include <chrono>
#include <thread>

namespace clsync::core {

void run_with_transient_retries(const std::function<void()>& op, int attempts)
{
  auto pause = std::chrono::milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    try {
      op();
      return;
    } catch (const transport::TransportError& e) {
      if (!e.retryable() || attempt >= attempts) {
        throw;
      }
    }
    std::this_thread::sleep_for(pause);
    pause *= 2;
  }
}

} // namespace clsync::core
