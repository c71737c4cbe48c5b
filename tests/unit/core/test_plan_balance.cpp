// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/plan/replica_planner.hpp"
#include "tests/unit/core/planner_fixture.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>

using namespace clsync;
using clsync::test::InventoryBuilder;

TEST_SUITE("core::replica_planner")
{
  TEST_CASE("by count, without constraints in the way, the plan has the fewest moves possible")
  {
    // Replication 1 and one volume per node: nothing but the shares limits a move. A node must
    // end in (share − t, share + t): the plan needs at least max(Σ surplus over the highest
    // allowed load, Σ shortfall under the lowest allowed load) moves, and must not use more.
    std::uint64_t state = 7;
    const auto next = [&state](std::uint64_t n) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      return (state >> 33) % n;
    };
    for (int round = 0; round < 200; ++round) {
      const int nodes = 2 + static_cast<int>(next(7));
      const double thr = round % 3 == 0 ? 2.0 : 1.0;
      InventoryBuilder b(1);
      std::vector<int> load(static_cast<std::size_t>(nodes), 0);
      for (int n = 0; n < nodes; ++n) {
        b.node("N" + std::to_string(n));
      }
      const int chunks = static_cast<int>(next(120));
      for (int i = 0; i < chunks; ++i) {
        // Skewed: low-numbered nodes get more.
        const int n = static_cast<int>(next(static_cast<std::uint64_t>(nodes)) *
                                       next(static_cast<std::uint64_t>(nodes)) /
                                       static_cast<std::uint64_t>(nodes));
        char key[32];
        std::snprintf(key, sizeof key, "db/%05d/t", i);
        b.chunk(key, 100, {{"N" + std::to_string(n), ""}});
        ++load[static_cast<std::size_t>(n)];
      }
      const auto inv = b.build();
      core::PlanParams p;
      p.by = core::BalanceBy::count;
      p.threshold = thr;
      const auto plan = core::plan_node_rebalance(inv, b.topo, p);

      const double share = static_cast<double>(chunks) / nodes;
      const int hi = static_cast<int>(std::ceil(share + thr)) - 1;
      const int lo = static_cast<int>(std::floor(share - thr)) + 1;
      int surplus = 0, shortfall = 0;
      for (int l : load) {
        surplus += std::max(0, l - hi);
        shortfall += std::max(0, lo - l);
      }
      INFO("round " << round << ": " << nodes << " nodes, " << chunks << " chunks");
      CHECK(static_cast<int>(plan.moves.size()) == std::max(surplus, shortfall));
      for (const auto& [name, l] : plan.after) {
        CHECK(std::abs(static_cast<double>(l.chunks) - share) < thr);
      }
    }
  }
}
