// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"

#include <doctest/doctest.h>

TEST_SUITE("core::error")
{
  TEST_CASE("exit codes match SPEC §9")
  {
    CHECK(static_cast<int>(clsync::UsageError("x").code()) == 2);
    CHECK(static_cast<int>(clsync::LockHeld("x").code()) == 4);
    CHECK(static_cast<int>(clsync::Interrupted().code()) == 130);
  }
}
