// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Which removal holds are made durable (transport/local_node.hpp, hold_outlives_crash): only a
// hold whose holder runs on this machine in this boot skips the volume root's fsyncs. The
// fsyncs a move saves are counted under strace in crash_move.
#include "core/run/recount.hpp"
#include "transport/host_identity.hpp"
#include "transport/local_node.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

using namespace clsync;

namespace {

std::string with(std::string record, const char* field, const nlohmann::json& value)
{
  auto j = nlohmann::json::parse(record);
  j[field] = value;
  return j.dump();
}

} // namespace

TEST_SUITE("transport::hold_durability")
{
  TEST_CASE("a hold of this machine's run in this boot need not outlive a crash; any other must")
  {
    const auto& me = transport::this_host_identity();
    REQUIRE_MESSAGE(me.machine_id.rfind("host:", 0) != 0, "this test needs /etc/machine-id");
    const std::string ours = core::hold_record("run-1", "0001", "Level1/20200601/0/T");
    CHECK_FALSE(transport::hold_outlives_crash(ours));
    // Another machine's run may outlive this machine's crash and still count on its hold.
    CHECK(transport::hold_outlives_crash(with(ours, "machine", "another-machine")));
    // A record of an earlier boot, or one without its machine or boot, proves nothing.
    CHECK(transport::hold_outlives_crash(with(ours, "boot", "another-boot")));
    CHECK(transport::hold_outlives_crash(with(ours, "boot", nullptr)));
    CHECK(transport::hold_outlives_crash(with(ours, "machine", 7)));
    CHECK(transport::hold_outlives_crash("{}"));
    CHECK(transport::hold_outlives_crash("not json"));
    CHECK(transport::hold_outlives_crash(""));
  }
}
