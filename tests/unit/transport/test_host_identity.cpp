// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/host_identity.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

using namespace clsync::transport;

TEST_SUITE("transport::host_identity")
{
  TEST_CASE("this host has a machine id and a boot id")
  {
    const auto& id = this_host_identity();
    CHECK_FALSE(id.machine_id.empty());
    CHECK_FALSE(id.boot_id.empty());
    CHECK(&id == &this_host_identity());
  }

  TEST_CASE("a live process has a start time; a reaped one has none")
  {
    CHECK(process_start_ticks(::getpid()) > 0);
    CHECK(process_start_ticks(0) == 0);
    CHECK(process_start_ticks(-5) == 0);
    pid_t child = ::fork();
    if (child == 0) {
      ::_exit(0);
    }
    REQUIRE(child > 0);
    CHECK(process_start_ticks(child) >= process_start_ticks(::getpid()));
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(process_start_ticks(child) == 0);
  }
}
