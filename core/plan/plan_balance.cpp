// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/plan/plan_balance.hpp"

#include <cmath>
#include <optional>
#include <set>
#include <utility>

namespace clsync::core::detail {

namespace {

struct ItemOrder {
  bool operator()(const BalanceItem& a, const BalanceItem& b) const
  {
    return a.size != b.size ? a.size > b.size : a.id < b.id;
  }
};
using ItemSet = std::set<BalanceItem, ItemOrder>;

struct Pick {
  int from = 0;
  int to = 0;
  ItemSet::iterator item;
};

class Balancer {
public:
  Balancer(BalanceProblem& p, const BalanceLegal& legal) : m_p(p), m_legal(legal)
  {
    const std::size_t n = p.load.size();
    m_sets.resize(n);
    m_key.assign(n, 0.0);
    for (std::size_t b = 0; b < n; ++b) {
      if (!p.active[b]) {
        continue;
      }
      for (const auto& item : p.items[b]) {
        // A zero-size item changes no load: moving it would be a wasted task.
        if (item.size > 0) {
          m_sets[b].insert(item);
        }
      }
      std::vector<BalanceItem>().swap(p.items[b]);  // the set holds them now
      m_key[b] = p.load[b] - p.share[b];
      m_order.emplace(m_key[b], static_cast<int>(b));
    }
  }

  bool balanced() const
  {
    return m_order.empty() || (m_order.rbegin()->first < m_p.threshold &&
                               -m_order.begin()->first < m_p.threshold);
  }

  std::optional<Pick> search(bool fallback)
  {
    const double thr = m_p.threshold;
    // m_order is sorted by (deviation, bin): walking it backwards gives the most-over bin first
    // and, among equal deviations, the later bin first; forwards gives the most-under bin first
    // and the earlier bin first. So earlier bins end with more, as apportionment would.
    for (auto s = m_order.rbegin(); s != m_order.rend() && s->first > 0; ++s) {
      const int src = s->second;
      const double excess = s->first;
      const bool src_out = excess >= thr;
      if (m_sets[static_cast<std::size_t>(src)].empty()) {
        continue;
      }
      for (auto d = m_order.begin(); d != m_order.end() && d->first < 0; ++d) {
        const double deficit = -d->first;
        if (!src_out && deficit < thr) {
          break;  // neither bin is out of threshold, nor will the later ones be
        }
        auto it = fallback ? nearest(src, d->second, excess, deficit)
                           : largest(src, d->second, excess, deficit);
        if (it) {
          return Pick{src, d->second, *it};
        }
      }
    }
    return std::nullopt;
  }

  void take(const Pick& pick)
  {
    const auto from = static_cast<std::size_t>(pick.from);
    const auto to = static_cast<std::size_t>(pick.to);
    const auto size = static_cast<double>(pick.item->size);
    m_order.erase({m_key[from], pick.from});
    m_order.erase({m_key[to], pick.to});
    m_p.load[from] -= size;
    m_p.load[to] += size;
    m_key[from] = m_p.load[from] - m_p.share[from];
    m_key[to] = m_p.load[to] - m_p.share[to];
    m_order.emplace(m_key[from], pick.from);
    m_order.emplace(m_key[to], pick.to);
    // A moved item is not moved again: a chain A→B→C would make the executor read a copy
    // that may not exist yet.
    m_sets[from].erase(pick.item);
  }

private:
  /// Largest integer strictly below `limit` (0 when none is positive).
  static std::uint64_t below(double limit)
  {
    if (limit <= 1) {
      return 0;
    }
    if (limit >= 1.8e19) {
      return ~std::uint64_t(0);
    }
    return static_cast<std::uint64_t>(std::ceil(limit)) - 1;
  }

  /// Phase 1: the largest legal item that leaves both bins within the threshold of their share
  /// on the far side and lowers the sum of squared deviations.
  std::optional<ItemSet::iterator> largest(int src, int dst, double excess, double deficit)
  {
    const double limit =
        std::min(std::min(excess, deficit) + m_p.threshold, excess + deficit);
    const std::uint64_t max_size = below(limit);
    if (max_size == 0) {
      return std::nullopt;
    }
    auto& set = m_sets[static_cast<std::size_t>(src)];
    for (auto it = set.lower_bound({max_size, 0}); it != set.end(); ++it) {
      if (m_legal(it->id, src, dst)) {
        return it;
      }
    }
    return std::nullopt;
  }

  /// Phase 2: the legal item nearest half the two deviations that still lowers the worse of the
  /// two (any size below excess + deficit does, and lowers the sum of squares too).
  std::optional<ItemSet::iterator> nearest(int src, int dst, double excess, double deficit)
  {
    const std::uint64_t max_size = below(excess + deficit);
    if (max_size == 0) {
      return std::nullopt;
    }
    const double target = (excess + deficit) / 2;
    auto& set = m_sets[static_cast<std::size_t>(src)];
    const auto mid = set.lower_bound({static_cast<std::uint64_t>(std::floor(target)), 0});
    std::optional<ItemSet::iterator> smaller, larger;
    for (auto it = mid; it != set.end(); ++it) {
      if (m_legal(it->id, src, dst)) {
        smaller = it;
        break;
      }
    }
    for (auto it = mid; it != set.begin();) {
      --it;
      if (it->size > max_size) {
        break;
      }
      if (m_legal(it->id, src, dst)) {
        larger = it;
        break;
      }
    }
    if (smaller && larger) {
      const double ds = target - static_cast<double>((*smaller)->size);
      const double dl = static_cast<double>((*larger)->size) - target;
      return dl < ds ? larger : smaller;
    }
    return smaller ? smaller : larger;
  }

  BalanceProblem& m_p;
  const BalanceLegal& m_legal;
  std::vector<ItemSet> m_sets;
  std::vector<double> m_key;
  std::set<std::pair<double, int>> m_order;
};

} // namespace

std::vector<BalanceStep> balance(BalanceProblem& p,
                                 const BalanceLegal& legal,
                                 const BalanceApply& apply)
{
  Balancer b(p, legal);
  std::vector<BalanceStep> steps;
  while (!b.balanced()) {
    auto pick = b.search(false);
    if (!pick) {
      pick = b.search(true);
    }
    if (!pick) {
      break;
    }
    const BalanceStep step{pick->item->id, pick->from, pick->to};
    b.take(*pick);
    apply(step.id, step.from, step.to);
    steps.push_back(step);
  }
  return steps;
}

} // namespace clsync::core::detail
