// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/integration/transport_suite.hpp"
#include "transport/local_node.hpp"
#include "transport/open.hpp"
#include "transport/safe_path.hpp"

#include <doctest/doctest.h>

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

  TEST_CASE("describe names the node")
  {
    CHECK(make_local({"/tmp"})->describe() == "node test-local");
    CHECK_THROWS_AS(make_local({"relative/path"}), clsync::transport::TransportError);
  }
}
