// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/transport_suite.hpp"
#include "tests/support/recording_node.hpp"
#include "tests/support/scratch.hpp"
#include "transport/local_node.hpp"
#include "transport/open.hpp"
#include "transport/safe_path.hpp"

#include <doctest/doctest.h>

#include <filesystem>

namespace {

std::shared_ptr<clsync::transport::Node> make_local(const std::vector<std::string>& roots)
{
  return clsync::transport::make_local_node("test-local", roots);
}

} // namespace

TEST_SUITE("transport_local")
{
#define CLSYNC_LOCAL_CASE(name)                                                                  \
  TEST_CASE("contract: " #name) { clsync::test::run_contract_##name(make_local); }
  CLSYNC_CONTRACT_CASES(CLSYNC_LOCAL_CASE)
#undef CLSYNC_LOCAL_CASE

  TEST_CASE("contract without openat2 (component-wise O_NOFOLLOW resolution)")
  {
    clsync::transport::use_openat2(false);
    struct Restore {
      ~Restore() { clsync::transport::use_openat2(true); }
    } restore;
    clsync::test::run_contract_path_refusals(make_local);
    clsync::test::run_contract_scan_specials(make_local);
    clsync::test::run_contract_commit_modes(make_local);
    clsync::test::run_contract_repository_files(make_local);
    clsync::test::run_contract_round_trip(make_local);
  }

  TEST_CASE("RecordingNode passes calls through and names the mutating ones")
  {
    auto dir = clsync::test::scratch_dir("recording");
    clsync::test::RecordingNode node(make_local({dir.string()}));
    node.scan({});
    CHECK(node.fingerprint(dir.string(), "Level1/x/T").empty());
    CHECK(node.list_dir(dir.string(), "").empty());
    CHECK(node.mutations().empty());
    CHECK(node.calls().size() == 3);
    node.write_intent(dir.string(), "t1", "{}");
    CHECK(std::filesystem::exists(dir / ".clsync-intent-t1"));
    node.remove_intent(dir.string(), "t1");
    CHECK(node.mutations() == std::vector<std::string>{"write_intent", "remove_intent"});
    CHECK(node.calls()[3].detail == dir.string() + " t1");
    node.clear();
    CHECK(node.calls().empty());
    CHECK(node.describe() == "node test-local");
  }

  TEST_CASE("describe names the node")
  {
    CHECK(make_local({"/tmp"})->describe() == "node test-local");
    CHECK_THROWS_AS(make_local({"relative/path"}), clsync::transport::TransportError);
  }
}
