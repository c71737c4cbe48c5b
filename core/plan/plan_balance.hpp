// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

/// The balancing greedy shared by node and disk rebalancing: bins (nodes or volumes) with a load
/// and a share, movable items in each bin. Not a public interface.
namespace clsync::core::detail {

/// A movable item: its size in the plan's unit (bytes, or 1 for count) and the caller's id.
/// Ids order ties between equal sizes (callers number items in chunk-key order).
struct BalanceItem {
  std::uint64_t size = 0;
  std::uint32_t id = 0;
};

struct BalanceStep {
  std::uint32_t id = 0;
  int from = 0;
  int to = 0;
};

struct BalanceProblem {
  std::vector<double> load;    ///< per bin, in the unit; includes items that cannot move
  std::vector<double> share;   ///< per bin
  std::vector<bool> active;    ///< bins that give and take; others are ignored
  std::vector<std::vector<BalanceItem>> items;  ///< per bin, the items that may move
  double threshold = 1;        ///< a bin is balanced when |load − share| < threshold
};

/// Whether item `id` may go from bin `from` to bin `to` now.
using BalanceLegal = std::function<bool(std::uint32_t id, int from, int to)>;
/// Called for each chosen step, before the next is searched (so `legal` sees it).
using BalanceApply = std::function<void(std::uint32_t id, int from, int to)>;

/// Runs the greedy documented at plan_node_rebalance and returns its steps in order; `p.load`
/// holds the final loads afterwards. Each step lowers Σ(load − share)², so it always ends.
std::vector<BalanceStep> balance(BalanceProblem& p,
                                 const BalanceLegal& legal,
                                 const BalanceApply& apply);

} // namespace clsync::core::detail
