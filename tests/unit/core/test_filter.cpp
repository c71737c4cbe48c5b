// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/cluster/filter.hpp"
#include "core/cluster/topology.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <ctime>

using clsync::core::Chunk;
using clsync::core::ChunkFilter;
using clsync::core::FilterOptions;

namespace {

const clsync::core::Topology& topo()
{
  static const auto t = clsync::core::parse_topology(R"(cluster: c
replication: 1
nodes:
  - {name: P1, host: local, volumes: [/v1]}
databases:
  Level1:
    levels: [date, hash]
  Level1_TSDB:
    levels: [date, hash]
  geo:
    levels: [region]
)",
                                                     "f.yaml");
  return t;
}

Chunk filter_chunk(const std::string& db,
            std::vector<std::pair<std::string, std::string>> partition,
            const std::string& table = "Snapshot")
{
  Chunk c;
  c.db = db;
  c.table = table;
  std::vector<std::string> levels;
  c.key = db;
  for (const auto& p : partition) {
    levels.push_back(p.first);
    c.key += "/" + p.second;
  }
  c.levels = levels;
  c.key += "/" + table;
  return c;
}

Chunk day(const std::string& date, const std::string& hash = "0", const std::string& db = "Level1")
{
  return filter_chunk(db, {{"date", date}, {"hash", hash}});
}

/// 2020-06-10 12:00:00 UTC.
std::chrono::system_clock::time_point noon_2020_06_10()
{
  return std::chrono::system_clock::from_time_t(1591790400);
}

ChunkFilter where(std::vector<std::string> clauses, bool utc = true)
{
  FilterOptions o;
  o.where = std::move(clauses);
  o.utc = utc;
  return ChunkFilter(o, topo(), noon_2020_06_10());
}

/// The dates 2020.06.01..10 that `f` lets through, as day numbers.
std::vector<int> days_kept(const ChunkFilter& f)
{
  std::vector<int> kept;
  for (int d = 1; d <= 10; ++d) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "202006%02d", d);
    if (f.matches(day(buf))) {
      kept.push_back(d);
    }
  }
  return kept;
}

std::string usage_error(const FilterOptions& o)
{
  try {
    ChunkFilter f(o, topo(), noon_2020_06_10());
  } catch (const clsync::UsageError& e) {
    return std::string(e.what()) + " | " + e.hint();
  }
  return "(accepted)";
}

} // namespace

TEST_SUITE("core::filter")
{
  TEST_CASE("partition_path joins the level values")
  {
    CHECK(day("20200601", "3").partition_path() == "20200601/3");
    CHECK(filter_chunk("flat", {}).partition_path().empty());
  }

  TEST_CASE("no filter matches everything")
  {
    const ChunkFilter f(FilterOptions{}, topo());
    CHECK(f.selects_all());
    CHECK(f.matches(day("20200601")));
    CHECK(f.matches(filter_chunk("undeclared", {})));
    CHECK(f.keeps_file("anything.col"));
    CHECK(ChunkFilter().matches(day("20200601")));
  }

  TEST_CASE("the databases a filter may select: --db and --chunk narrow them, the rest do not")
  {
    FilterOptions o;
    CHECK(ChunkFilter(o, topo()).may_select_database("Level1_TSDB"));
    o.tables = {"Trades"};
    o.where = {"date>=2020.06.01"};
    CHECK(ChunkFilter(o, topo()).may_select_database("Level1_TSDB"));
    o = {};
    o.dbs = {"Level1"};
    CHECK(ChunkFilter(o, topo()).may_select_database("Level1"));
    CHECK_FALSE(ChunkFilter(o, topo()).may_select_database("Level1_TSDB"));
    o = {};
    o.chunks = {"Level1_TSDB/20200601/0/Snapshot/"};
    CHECK(ChunkFilter(o, topo()).may_select_database("Level1_TSDB"));
    CHECK_FALSE(ChunkFilter(o, topo()).may_select_database("Level1"));  // a prefix, not the db
  }

  TEST_CASE("--db, --table and --chunk are ORed within, ANDed across")
  {
    FilterOptions o;
    o.dbs = {"Level1", "geo"};
    const ChunkFilter f(o, topo());
    CHECK_FALSE(f.selects_all());
    CHECK(f.matches(day("20200601")));
    CHECK(f.matches(filter_chunk("geo", {{"region", "eu"}})));
    CHECK_FALSE(f.matches(day("20200601", "0", "Level1_TSDB")));

    o.tables = {"Trades"};
    const ChunkFilter g(o, topo());
    CHECK_FALSE(g.matches(day("20200601")));
    CHECK(g.matches(filter_chunk("Level1", {{"date", "20200601"}, {"hash", "1"}}, "Trades")));

    FilterOptions k;
    k.chunks = {"Level1/20200601/3/Snapshot/", "Level1/20200602/4/Snapshot"};
    const ChunkFilter h(k, topo());
    CHECK(h.matches(day("20200601", "3")));
    CHECK(h.matches(day("20200602", "4")));
    CHECK_FALSE(h.matches(day("20200601", "4")));
  }

  TEST_CASE("an undeclared --db is a usage error with a suggestion")
  {
    FilterOptions o;
    o.dbs = {"Level2"};
    const std::string e = usage_error(o);
    CHECK(e.find("--db 'Level2' is not a database of cluster 'c'; did you mean 'Level1'?") == 0);
    CHECK(e.find("declared databases: Level1, Level1_TSDB, geo") != std::string::npos);
    o.dbs = {""};
    CHECK(usage_error(o).find("--db needs a non-empty value") == 0);
  }

  TEST_CASE("--partition globs do not cross '/'; a shorter glob selects whole subtrees")
  {
    auto matches = [](const std::string& glob, const Chunk& c) {
      FilterOptions o;
      o.partitions = {glob};
      return ChunkFilter(o, topo()).matches(c);
    };
    const Chunk c = day("20200601", "3");
    CHECK(matches("2020060*", c));        // every bucket of those dates
    CHECK(matches("*", c));
    CHECK_FALSE(matches("2020*3", c));    // '*' would have to swallow "0601/"
    CHECK_FALSE(matches("20200602", c));
    CHECK_FALSE(matches("*/3/x", c));     // deeper than the partition path
    FilterOptions bad;
    bad.partitions = {"2020060[1"};
    CHECK_THROWS_AS(ChunkFilter(bad, topo()), clsync::UsageError);
    CHECK(matches("2020060*/*", c));
    CHECK(matches("*/3", c));
    CHECK(matches("*/[0-4]", c));
    CHECK_FALSE(matches("*/[4-9]", c));
    CHECK(matches("2020060?/?", c));
    CHECK_FALSE(matches("2020061?/*", c));
    CHECK(matches("*", filter_chunk("geo", {{"region", "eu"}})));

    FilterOptions two;
    two.partitions = {"20200602/*", "*/3"}; // ORed
    const ChunkFilter f(two, topo());
    CHECK(f.matches(day("20200602", "9")));
    CHECK(f.matches(day("20200609", "3")));
    CHECK_FALSE(f.matches(day("20200609", "9")));
  }

  TEST_CASE("--where compares dates in any of the three spellings")
  {
    CHECK(days_kept(where({"date>=2020.06.05"})) == std::vector<int>{5, 6, 7, 8, 9, 10});
    CHECK(days_kept(where({"date < 2020-06-03"})) == std::vector<int>{1, 2});
    CHECK(days_kept(where({"date=20200604"})) == std::vector<int>{4});
    CHECK(days_kept(where({"date==2020.06.04"})) == std::vector<int>{4});
    CHECK(days_kept(where({"date != 2020.06.01"})).size() == 9);
    CHECK(days_kept(where({"date<=2020.06.02"})) == std::vector<int>{1, 2});
    CHECK(days_kept(where({"date>'2020.06.08'"})) == std::vector<int>{9, 10});
    // ANDed.
    CHECK(days_kept(where({"date>2020.06.02", "date<2020.06.05"})) == std::vector<int>{3, 4});
    // Dotted partition values compare as dates with a compact clause.
    CHECK(where({"date>20200601"}).matches(day("2020.06.02")));
    CHECK_FALSE(where({"date>20200601"}).matches(day("2020.05.31")));
  }

  TEST_CASE("--where today, yesterday and today-N with an injected clock")
  {
    CHECK(days_kept(where({"date=today"})) == std::vector<int>{10});
    CHECK(days_kept(where({"date=yesterday"})) == std::vector<int>{9});
    CHECK(days_kept(where({"date>today-7"})) == std::vector<int>{4, 5, 6, 7, 8, 9, 10});
    CHECK(days_kept(where({"date >= TODAY - 2"})) == std::vector<int>{8, 9, 10});
    CHECK(days_kept(where({"date<today-8"})) == std::vector<int>{1});
    CHECK(days_kept(where({"date>today+1"})).empty());
  }

  TEST_CASE("today is local time unless --utc")
  {
    const char* old = std::getenv("TZ");
    const std::string saved = old ? old : "";
    // 12:00 UTC on June 10 is already June 11 at UTC+14 (POSIX TZ signs are inverted).
    setenv("TZ", "XXX-14", 1);
    tzset();
    const auto local_days = days_kept(where({"date=today"}, false));
    const auto utc_days = days_kept(where({"date=today"}, true));
    const long long local_today = clsync::core::calendar_day(noon_2020_06_10(), false);
    if (old) {
      setenv("TZ", saved.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
    CHECK(local_today == 20200611);
    CHECK(local_days.empty());
    CHECK(utc_days == std::vector<int>{10});
  }

  TEST_CASE("--where compares numbers as numbers and other values as strings")
  {
    // Numeric: 10 > 5 (as strings "10" < "5").
    CHECK(where({"hash>5"}).matches(day("20200601", "10")));
    CHECK_FALSE(where({"hash>5"}).matches(day("20200601", "4")));
    CHECK(where({"hash<=2.5"}).matches(day("20200601", "2")));
    CHECK(where({"hash=3"}).matches(day("20200601", "03")));
    CHECK(where({"hash>-1"}).matches(day("20200601", "0")));
    // Strings.
    auto region = [](const std::string& v) { return filter_chunk("geo", {{"region", v}}); };
    CHECK(where({"region>m"}).matches(region("us-east")));
    CHECK_FALSE(where({"region>m"}).matches(region("eu-west")));
    CHECK(where({"region=eu-west"}).matches(region("eu-west")));
    CHECK(where({"region!=eu-west"}).matches(region("ap")));
    // A string partition value against a numeric clause compares as strings: "a" > "5".
    CHECK(where({"region>5"}).matches(region("a")));
    // A database without the level does not match.
    CHECK_FALSE(where({"region=eu"}).matches(day("20200601")));
    CHECK_FALSE(where({"date>2020.01.01"}).matches(region("eu")));
  }

  TEST_CASE("values are classified as dates, numbers or strings")
  {
    using clsync::core::classify_filter_value;
    using clsync::core::compare_filter_values;
    auto v = classify_filter_value("20200601");
    CHECK(v.is_date);
    CHECK(v.is_integer);
    CHECK(v.date == 20200601);
    CHECK_FALSE(classify_filter_value("2021.02.29").is_date);
    CHECK(classify_filter_value("2020.02.29").is_date);
    CHECK_FALSE(classify_filter_value("20201301").is_date);
    CHECK_FALSE(classify_filter_value("2020.06-01").is_date);
    CHECK(classify_filter_value("1e3").is_number);
    CHECK_FALSE(classify_filter_value("0x10").is_number);
    CHECK_FALSE(classify_filter_value("nan").is_number);
    CHECK_FALSE(classify_filter_value("inf").is_number);
    CHECK_FALSE(classify_filter_value("-").is_number);
    CHECK(compare_filter_values(classify_filter_value("2020.06.01"),
                                classify_filter_value("2020-06-01")) == 0);
    CHECK(compare_filter_values(classify_filter_value("9"), classify_filter_value("10")) < 0);
    CHECK(compare_filter_values(classify_filter_value("b"), classify_filter_value("a")) > 0);
    CHECK(compare_filter_values(classify_filter_value("1.5"), classify_filter_value("2")) < 0);
    CHECK(clsync::core::add_days(20200301, -1) == 20200229);
    CHECK(clsync::core::add_days(20201231, 1) == 20210101);
    CHECK(clsync::core::add_days(20200610, -7) == 20200603);
  }

  TEST_CASE("malformed --where clauses and unknown levels are usage errors")
  {
    auto error_for = [](const std::string& clause, std::vector<std::string> dbs = {}) {
      FilterOptions o;
      o.where = {clause};
      o.dbs = std::move(dbs);
      return usage_error(o);
    };
    CHECK(error_for("date").find("bad --where 'date': no operator after 'date'") == 0);
    CHECK(error_for("date ~ 5").find("bad --where 'date ~ 5': '~ ' is not an operator") == 0);
    CHECK(error_for(">5").find("bad --where '>5': it does not start with a level name") == 0);
    CHECK(error_for("date>").find("no value after the operator") != std::string::npos);
    CHECK(error_for("date>").find("| expected 'LEVEL OP VALUE' with OP one of = != < <= > >=") !=
          std::string::npos);
    CHECK(error_for("dat>2020.01.01")
              .find("--where 'dat>2020.01.01': no selected database has "
                    "a level 'dat'; did you mean 'date'?") == 0);
    CHECK(error_for("dat>1").find("| levels: date, hash, region") != std::string::npos);
    // geo has no date level: with --db geo, 'date' is unknown.
    CHECK(error_for("date>2020.01.01", {"geo"}).find("no selected database has a level 'date'") !=
          std::string::npos);
    CHECK(error_for("region=eu", {"geo"}) == "(accepted)");
  }

  TEST_CASE("--columns keeps the listed column files")
  {
    FilterOptions o;
    o.columns = {"Volume", "OpenPx,LastPx"};
    const ChunkFilter f(o, topo());
    CHECK(f.filters_columns());
    CHECK(f.selects_all()); // columns do not select chunks
    CHECK(f.keeps_file("Volume.col"));
    CHECK(f.keeps_file("sub/OpenPx.col"));
    CHECK(f.keeps_file("LastPx"));
    CHECK_FALSE(f.keeps_file("HighPx.col"));
    CHECK_FALSE(f.keeps_file("Volume.col/other.col"));
    CHECK_FALSE(f.keeps_file("Volume2.col"));
  }
}
