// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// A process killed inside place_hold leaves its hold record's part file at the volume root
// (written, not yet linked in or removed). The next process that places a hold on that volume
// removes the part of a writer that is gone, and never the part of one that is alive
// (transport/local_dead_parts.cpp).
#include "tests/support/scratch.hpp"
#include "transport/local_node.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace clsync;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> hold_parts(const fs::path& volume)
{
  std::vector<std::string> parts;
  for (const auto& e : fs::directory_iterator(volume)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(".clsync-part-intent-hold", 0) == 0) {
      parts.push_back(name);
    }
  }
  return parts;
}

/// Places a hold in a child process that the kernel kills while it writes the record: with a
/// file size limit of 0 its first write raises SIGXFSZ, whose default action ends the process
/// between the part's creation and its removal, as a SIGKILL there would.
void place_hold_killed_mid_write(const fs::path& volume)
{
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    struct rlimit zero {0, 0};
    ::setrlimit(RLIMIT_CORE, &zero);
    ::setrlimit(RLIMIT_FSIZE, &zero);
    ::signal(SIGXFSZ, SIG_DFL);
    transport::LocalNode node("P3-dn1", {volume.string()});
    node.place_hold(volume.string(), "Level1/20200601/0/T", R"({"run":"killed"})");
    ::_exit(0); // not reached when the write was cut short
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE_MESSAGE(WIFSIGNALED(status), "the child was meant to be killed mid-write");
  CHECK(WTERMSIG(status) == SIGXFSZ);
}

} // namespace

TEST_SUITE("transport::dead_parts")
{
  TEST_CASE("a hold part left by a killed writer goes with the next process's first hold; a live writer's stays")
  {
    const fs::path volume = test::scratch_dir("dead-hold-parts");
    place_hold_killed_mid_write(volume);
    const auto left = hold_parts(volume);
    REQUIRE(left.size() == 1); // what the kill left: the part, not a hold
    CHECK_FALSE(fs::exists(volume / transport::hold_name("Level1/20200601/0/T")));

    // A part of a writer that is alive (this process) must stay: it may be mid-write.
    const std::string live = ".clsync-part-intent-hold" + std::string(32, 'a') + "-" +
                             std::to_string(::getpid()) + "-999";
    test::write_file(volume / live, "{}");

    transport::LocalNode node("P3-dn1", {volume.string()});
    CHECK(node.place_hold(volume.string(), "Level1/20200601/1/T", R"({"run":"next"})").empty());
    CHECK(hold_parts(volume) == std::vector<std::string>{live});
    CHECK(fs::exists(volume / transport::hold_name("Level1/20200601/1/T")));
    node.release_hold(volume.string(), "Level1/20200601/1/T", R"({"run":"next"})");
  }
}
