// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/push_send.hpp"

#include <doctest/doctest.h>

using clsync::core::repo::detail::push_workers;

TEST_SUITE("core::push_send")
{
  TEST_CASE("workers: --parallel, at most one per object, over SSH one per 32 MiB started")
  {
    constexpr std::uint64_t mib = 1u << 20;
    // Local ends: --parallel and the object count only.
    CHECK(push_workers(4, 10, 100, false) == 4);
    CHECK(push_workers(4, 2, 100, false) == 2);
    CHECK(push_workers(0, 10, 100, false) == 1);
    // SSH: small pushes ride the session the listing opened.
    CHECK(push_workers(4, 20, 80000, true) == 1);
    CHECK(push_workers(4, 20, 32 * mib - 1, true) == 1);
    CHECK(push_workers(4, 20, 32 * mib, true) == 2);
    // The bench's 200 objects of 309 MB: every worker --parallel allows.
    CHECK(push_workers(4, 200, 309000000, true) == 4);
    CHECK(push_workers(4, 3, 1000 * mib, true) == 3);
  }
}
