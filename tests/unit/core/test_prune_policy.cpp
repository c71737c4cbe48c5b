// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/prune.hpp"
#include "core/repo/snapshot.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using namespace clsync::core::repo;

namespace {

std::int64_t at(const char* rfc3339) { return parse_rfc3339_utc(rfc3339).value(); }

/// Snapshots named by their times, e.g. {"2024-06-03T10:00:00Z", …}.
std::vector<DatedSnapshot> dated(const std::vector<const char*>& times)
{
  std::vector<DatedSnapshot> out;
  for (const char* t : times) {
    out.push_back({t, at(t)});
  }
  return out;
}

std::set<std::string> keep(const std::vector<const char*>& times, KeepPolicy p)
{
  return apply_policy(dated(times), p);
}

} // namespace

TEST_SUITE("repo")
{
  TEST_CASE("prune policy: snapshot times and a policy give the kept set")
  {
    const std::vector<const char*> times = {
        "2024-05-01T02:00:00Z", // Wed, week 18, May
        "2024-05-20T02:00:00Z", // Mon, week 21
        "2024-05-31T02:00:00Z", // Fri, week 22
        "2024-06-01T02:00:00Z", // Sat, week 22, June
        "2024-06-01T14:00:00Z", // Sat, same day, later
        "2024-06-02T02:00:00Z", // Sun, week 22
        "2024-06-03T02:00:00Z", // Mon, week 23
        "2024-06-03T20:00:00Z", // Mon, later
    };
    struct Row {
      KeepPolicy policy;
      std::set<std::string> kept;
    };
    const std::vector<Row> table = {
        {{1, 0, 0, 0}, {"2024-06-03T20:00:00Z"}},
        {{3, 0, 0, 0}, {"2024-06-03T20:00:00Z", "2024-06-03T02:00:00Z", "2024-06-02T02:00:00Z"}},
        {{0, 2, 0, 0}, {"2024-06-03T20:00:00Z", "2024-06-02T02:00:00Z"}},
        {{0, 3, 0, 0}, {"2024-06-03T20:00:00Z", "2024-06-02T02:00:00Z", "2024-06-01T14:00:00Z"}},
        // Weeks: 23 → Jun 3 20:00; 22 → Jun 2 (Sunday ends ISO week 22); 21 → May 20.
        {{0, 0, 3, 0}, {"2024-06-03T20:00:00Z", "2024-06-02T02:00:00Z", "2024-05-20T02:00:00Z"}},
        {{0, 0, 0, 2}, {"2024-06-03T20:00:00Z", "2024-05-31T02:00:00Z"}},
        {{0, 0, 0, 12}, {"2024-06-03T20:00:00Z", "2024-05-31T02:00:00Z"}},
        {{1, 1, 0, 2}, {"2024-06-03T20:00:00Z", "2024-05-31T02:00:00Z"}},
        {{0, 0, 5, 0},
         {"2024-06-03T20:00:00Z", "2024-06-02T02:00:00Z", "2024-05-20T02:00:00Z",
          "2024-05-01T02:00:00Z"}},
        {{100, 0, 0, 0}, std::set<std::string>(times.begin(), times.end())},
    };
    for (const auto& row : table) {
      CAPTURE(row.policy.last);
      CAPTURE(row.policy.daily);
      CAPTURE(row.policy.weekly);
      CAPTURE(row.policy.monthly);
      CHECK(keep(times, row.policy) == row.kept);
    }
  }

  TEST_CASE("prune policy: order of input does not matter; equal times go by id")
  {
    auto a = dated({"2024-06-01T02:00:00Z", "2024-06-02T02:00:00Z"});
    auto b = a;
    std::swap(b[0], b[1]);
    CHECK(apply_policy(a, {1, 0, 0, 0}) == apply_policy(b, {1, 0, 0, 0}));
    std::vector<DatedSnapshot> same = {{"x-1", 100}, {"x-2", 100}};
    CHECK(apply_policy(same, {1, 0, 0, 0}) == std::set<std::string>{"x-2"});
    CHECK(apply_policy({}, {1, 1, 1, 1}).empty());
    CHECK(KeepPolicy{}.empty());
    CHECK_FALSE(KeepPolicy{0, 0, 0, 1}.empty());
  }
}
