// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Fuzz target: the chunk filters (core/cluster/filter.hpp). The input is lines: a --where
// clause, a --partition glob, a --columns list, then the chunk's partition values (date, hash)
// and a file path. Bad options must end in UsageError (exit 2); matching must never crash.
#include "core/cluster/filter.hpp"
#include "core/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::vector<std::string> fuzz_lines(std::string_view text)
{
  std::vector<std::string> out;
  while (!text.empty() && out.size() < 8) {
    auto nl = text.find('\n');
    out.emplace_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  out.resize(8);
  return out;
}

clsync::core::Topology fuzz_topology()
{
  clsync::core::Topology t;
  t.file = "fuzz.yaml";
  t.cluster = "fuzz";
  t.replication = 2;
  t.databases.push_back({"Level1", {"date", "hash"}, std::nullopt});
  t.databases.push_back({"Other", {"day"}, 3});
  return t;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  using namespace clsync::core;
  const auto lines = fuzz_lines(std::string_view(reinterpret_cast<const char*>(data), size));
  const long long today = 20240601;

  // The value readers alone, on every line.
  for (const auto& l : lines) {
    long long day = 0;
    if (parse_filter_date(l, day) && (day < 10000101 || day > 99991231)) {
      std::abort();
    }
    const FilterValue v = classify_filter_value(l);
    const FilterValue w = classify_filter_value(lines[4]);
    // Comparison is antisymmetric (a sort relies on it).
    const int ab = compare_filter_values(v, w), ba = compare_filter_values(w, v);
    if ((ab < 0) != (ba > 0) || (ab == 0) != (ba == 0)) {
      std::abort();
    }
  }
  try {
    (void)parse_where(lines[0], today);
  } catch (const clsync::UsageError&) {
  }

  FilterOptions opts;
  opts.utc = true;
  if (!lines[0].empty()) {
    opts.where.push_back(lines[0]);
  }
  if (!lines[1].empty()) {
    opts.partitions.push_back(lines[1]);
  }
  if (!lines[2].empty()) {
    opts.columns.push_back(lines[2]);
  }
  if (!lines[3].empty() && lines[3].size() < 32) {
    opts.dbs.push_back(lines[3]);
  }
  try {
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1717200000));
    const ChunkFilter filter(opts, fuzz_topology(), now);
    Chunk chunk;
    chunk.db = "Level1";
    chunk.table = "T";
    chunk.levels = {"date", "hash"}; // the values are read from the key
    chunk.key = chunk.db + "/" + lines[4] + "/" + lines[5] + "/" + chunk.table;
    (void)filter.matches(chunk);
    (void)filter.keeps_file(lines[6]);
    (void)filter.selects_all();
  } catch (const clsync::UsageError&) {
  }
  return 0;
}
