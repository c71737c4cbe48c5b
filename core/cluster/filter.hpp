// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/cluster/inventory.hpp"
#include "core/options.hpp"
#include "core/cluster/topology.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

/// The chunk filters of SPEC §4, compiled once from FilterOptions and matched against chunks.
namespace clsync::core {

/// A value a partition level is compared with, read every way it can be: "20200601" is a date
/// and a number, "3" a number, "SH" only a string.
struct FilterValue {
  std::string text;        ///< as written (resolved dates as "2020.06.01")
  bool is_date = false;    ///< `date` holds yyyymmdd
  bool is_number = false;  ///< `real` holds the value
  bool is_integer = false; ///< `integer` holds the value exactly
  long long date = 0;
  long long integer = 0;
  double real = 0;
};

/// Reads "2020.06.01", "2020-06-01" or "20200601" as yyyymmdd; false if `s` is none of these or
/// not a real calendar day.
bool parse_filter_date(std::string_view s, long long& yyyymmdd);

/// Classifies a partition value or a --where value as a date, a number or a string.
FilterValue classify_filter_value(std::string_view s);

/// Compares two values as SPEC §4 says: as dates when both are dates, as numbers when both are
/// numeric, else as strings. Returns <0, 0 or >0.
int compare_filter_values(const FilterValue& a, const FilterValue& b);

/// One --where clause: LEVEL OP VALUE.
struct WhereClause {
  enum class Op { eq, ne, lt, le, gt, ge };
  std::string level;
  Op op = Op::eq;
  FilterValue value; ///< `today`, `today-N`, `yesterday` already resolved to a date
  std::string text;  ///< the clause as given, for messages
};

/// A compiled filter. Options of one kind are ORed (--db A --db B), kinds are ANDed, and every
/// --where clause must hold. An empty FilterOptions matches every chunk and keeps every file.
class ChunkFilter {
public:
  /// Matches everything.
  ChunkFilter() = default;

  /// Compiles `opts` against `topo`. `now` stands for the current time (tests inject it);
  /// `today` is its calendar day in local time, or in UTC with `opts.utc`. Throws UsageError
  /// (with a hint) for an undeclared --db, a malformed --where, a --where LEVEL that no selected
  /// database has, or an empty value.
  ChunkFilter(const FilterOptions& opts,
              const Topology& topo,
              std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  /// True when the chunk passes every filter. Reads only key, db, table and partition; a
  /// chunk whose database lacks a --where level does not match.
  bool matches(const Chunk& chunk) const;

  /// --columns: true when `relpath`'s file name, without its last extension, is listed (or
  /// when no --columns was given).
  bool keeps_file(std::string_view relpath) const;

  /// True when no filter was given (every chunk matches).
  bool selects_all() const;

  /// False when no chunk of database `db` can match (--db names others, or every --chunk lies
  /// in another database): a scan for this filter need not look into it.
  bool may_select_database(std::string_view db) const;

  /// True when --columns was given (some files of a chunk may be left out).
  bool filters_columns() const { return !m_columns.empty(); }

  const std::vector<WhereClause>& where() const { return m_where; }

private:
  std::vector<std::string> m_dbs, m_tables, m_partitions, m_chunks, m_columns;
  std::vector<WhereClause> m_where;
};

/// Parses one --where clause; `today` is the day `today` and `today-N` count from (yyyymmdd).
/// Throws UsageError for a malformed clause.
WhereClause parse_where(std::string_view clause, long long today);

/// The calendar day of `now` as yyyymmdd, in local time or UTC.
long long calendar_day(std::chrono::system_clock::time_point now, bool utc);

/// `yyyymmdd` moved by `days` (negative: back).
long long add_days(long long yyyymmdd, long long days);

} // namespace clsync::core
