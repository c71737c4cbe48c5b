// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/filter.hpp"

#include "core/error.hpp"
#include "core/suggest.hpp"
#include "core/units.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fnmatch.h>
#include <optional>

namespace clsync::core {

namespace {

/// A glob with fewer levels than the partition path selects whole subtrees ("2020060*" selects
/// every hash bucket of those dates), as a path prefix does in rsync; `*` never crosses '/'.
bool partition_glob_matches(const std::string& glob, const std::string& path)
{
  const auto levels = [](const std::string& s) { return std::count(s.begin(), s.end(), '/'); };
  std::string subject = path;
  for (auto extra = levels(path) - levels(glob); extra > 0; --extra) {
    subject.resize(subject.rfind('/'));
  }
  return ::fnmatch(glob.c_str(), subject.c_str(), FNM_PATHNAME) == 0;
}

constexpr const char* k_where_hint =
    "expected 'LEVEL OP VALUE' with OP one of = != < <= > >=, e.g. --where 'date>=2020.06.01' or "
    "--where 'date>today-7'";

bool all_digits(std::string_view s)
{
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Days since 1970-01-01 from a civil date and back (proleptic Gregorian; H. Hinnant's algorithm).
long long days_from_civil(long long y, unsigned m, unsigned d)
{
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

long long civil_from_days(long long z)
{
  z += 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long y = static_cast<long long>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return (y + (m <= 2)) * 10000 + m * 100 + d;
}

FilterValue date_value(long long yyyymmdd)
{
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld.%02lld.%02lld", yyyymmdd / 10000, yyyymmdd / 100 % 100,
                yyyymmdd % 100);
  return classify_filter_value(buf);
}

/// `today`, `yesterday`, `today-7`, `today+1` (any case, spaces allowed around the sign).
std::optional<long long> relative_day(std::string_view value, long long today)
{
  std::string s;
  for (char c : value) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (s == "today") {
    return today;
  }
  if (s == "yesterday") {
    return add_days(today, -1);
  }
  if (s.size() > 6 && s.rfind("today", 0) == 0 && (s[5] == '-' || s[5] == '+') &&
      all_digits(s.substr(6)) && s.size() <= 12) {
    const long long n = std::stoll(s.substr(6));
    return add_days(today, s[5] == '-' ? -n : n);
  }
  return std::nullopt;
}

bool contains(const std::vector<std::string>& list, std::string_view s)
{
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::vector<std::string>
non_empty(const std::vector<std::string>& in, const char* option, bool split_commas = false)
{
  std::vector<std::string> out;
  for (const auto& item : in) {
    std::vector<std::string_view> parts;
    if (split_commas) {
      std::string_view rest = item;
      for (auto comma = rest.find(','); comma != std::string_view::npos; comma = rest.find(',')) {
        parts.push_back(rest.substr(0, comma));
        rest.remove_prefix(comma + 1);
      }
      parts.push_back(rest);
    } else {
      parts.push_back(item);
    }
    for (auto p : parts) {
      p = trim(p);
      if (p.empty()) {
        throw UsageError(std::string(option) + " needs a non-empty value",
                         std::string("e.g. ") + option + " NAME");
      }
      out.emplace_back(p);
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& list)
{
  std::string out;
  for (const auto& s : list) {
    out += (out.empty() ? "" : ", ") + s;
  }
  return out;
}

} // namespace

bool parse_filter_date(std::string_view s, long long& yyyymmdd)
{
  std::string digits;
  if (s.size() == 10 && (s[4] == '.' || s[4] == '-') && s[7] == s[4]) {
    digits =
        std::string(s.substr(0, 4)) + std::string(s.substr(5, 2)) + std::string(s.substr(8, 2));
  } else if (s.size() == 8) {
    digits = std::string(s);
  } else {
    return false;
  }
  if (!all_digits(digits)) {
    return false;
  }
  const long long y = std::stoll(digits.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoi(digits.substr(4, 2)));
  const unsigned d = static_cast<unsigned>(std::stoi(digits.substr(6, 2)));
  if (y < 1000 || m < 1 || m > 12 || d < 1 || d > 31) {
    return false;
  }
  // A real day: it survives the round trip through a day count (no 2021-02-30).
  const long long v = y * 10000 + m * 100 + d;
  if (civil_from_days(days_from_civil(y, m, d)) != v) {
    return false;
  }
  yyyymmdd = v;
  return true;
}

FilterValue classify_filter_value(std::string_view s)
{
  FilterValue v;
  v.text = std::string(s);
  v.is_date = parse_filter_date(s, v.date);
  std::string_view body = s;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) {
    body.remove_prefix(1);
  }
  if (all_digits(body) && body.size() <= 18) {
    v.is_integer = v.is_number = true;
    v.integer = std::stoll(v.text);
    v.real = static_cast<double>(v.integer);
    return v;
  }
  // strtod also reads "inf", "nan" and hex; only plain decimals count as numbers here.
  const bool plain = !body.empty() && std::all_of(body.begin(), body.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+';
  }) && std::any_of(body.begin(), body.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (plain) {
    char* end = nullptr;
    errno = 0;
    const double r = std::strtod(v.text.c_str(), &end);
    if (end == v.text.c_str() + v.text.size() && errno == 0 && std::isfinite(r)) {
      v.is_number = true;
      v.real = r;
    }
  }
  return v;
}

int compare_filter_values(const FilterValue& a, const FilterValue& b)
{
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (a.is_date && b.is_date) {
    return sign(a.date, b.date);
  }
  if (a.is_integer && b.is_integer) {
    return sign(a.integer, b.integer);
  }
  if (a.is_number && b.is_number) {
    return sign(a.real, b.real);
  }
  return sign(a.text, b.text);
}

long long calendar_day(std::chrono::system_clock::time_point now, bool utc)
{
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  if (utc) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  return (tm.tm_year + 1900LL) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

long long add_days(long long yyyymmdd, long long days)
{
  const long long y = yyyymmdd / 10000;
  const auto m = static_cast<unsigned>(yyyymmdd / 100 % 100);
  const auto d = static_cast<unsigned>(yyyymmdd % 100);
  return civil_from_days(days_from_civil(y, m, d) + days);
}

WhereClause parse_where(std::string_view clause, long long today)
{
  WhereClause w;
  w.text = std::string(clause);
  auto bad = [&](const std::string& why) {
    return UsageError("bad --where '" + w.text + "': " + why, k_where_hint);
  };
  std::string_view s = trim(clause);
  std::size_t i = 0;
  while (i < s.size() &&
         (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_' || s[i] == '-')) {
    ++i;
  }
  if (i == 0) {
    throw bad("it does not start with a level name");
  }
  w.level = std::string(s.substr(0, i));
  s = trim(s.substr(i));
  struct OpText {
    const char* text;
    WhereClause::Op op;
  };
  static const OpText k_ops[] = {
      {"!=", WhereClause::Op::ne}, {"<=", WhereClause::Op::le}, {">=", WhereClause::Op::ge},
      {"==", WhereClause::Op::eq}, {"=", WhereClause::Op::eq},  {"<", WhereClause::Op::lt},
      {">", WhereClause::Op::gt},
  };
  bool found = false;
  for (const auto& o : k_ops) {
    const std::string_view t = o.text;
    if (s.substr(0, t.size()) == t) {
      w.op = o.op;
      s = trim(s.substr(t.size()));
      found = true;
      break;
    }
  }
  if (!found) {
    throw bad(s.empty() ? "no operator after '" + w.level + "'"
                        : "'" + std::string(s.substr(0, 2)) + "' is not an operator");
  }
  if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front()) {
    s = s.substr(1, s.size() - 2);
  }
  if (s.empty()) {
    throw bad("no value after the operator");
  }
  if (auto day = relative_day(s, today)) {
    w.value = date_value(*day);
  } else {
    w.value = classify_filter_value(s);
  }
  return w;
}

ChunkFilter::ChunkFilter(const FilterOptions& opts,
                         const Topology& topo,
                         std::chrono::system_clock::time_point now)
{
  m_dbs = non_empty(opts.dbs, "--db");
  m_tables = non_empty(opts.tables, "--table");
  m_partitions = non_empty(opts.partitions, "--partition");
  for (const auto& glob : m_partitions) {
    // fnmatch takes an unclosed '[' literally, so a typo would quietly select nothing.
    const auto open = glob.find('[');
    if (open != std::string::npos && glob.find(']', open + 1) == std::string::npos) {
      throw UsageError("--partition '" + glob + "': '[' is not closed",
                       "a class is written [0-4]; quote the glob in the shell");
    }
  }
  m_columns = non_empty(opts.columns, "--columns", true);
  for (auto key : non_empty(opts.chunks, "--chunk")) {
    while (key.size() > 1 && key.back() == '/') {
      key.pop_back();
    }
    m_chunks.push_back(std::move(key));
  }
  std::vector<std::string> declared;
  for (const auto& d : topo.databases) {
    declared.push_back(d.name);
  }
  for (const auto& db : m_dbs) {
    if (!topo.find_database(db)) {
      throw UsageError("--db '" + db + "' is not a database of cluster '" + topo.cluster + "'" +
                           did_you_mean(db, declared),
                       declared.empty() ? "declare it under 'databases:' in " + topo.file
                                        : "declared databases: " + join(declared));
    }
  }
  const long long today = calendar_day(now, opts.utc);
  for (const auto& clause : opts.where) {
    WhereClause w = parse_where(clause, today);
    std::vector<std::string> levels;
    for (const auto& d : topo.databases) {
      if (!m_dbs.empty() && !contains(m_dbs, d.name)) {
        continue;
      }
      for (const auto& l : d.levels) {
        if (!contains(levels, l)) {
          levels.push_back(l);
        }
      }
    }
    if (!contains(levels, w.level)) {
      throw UsageError("--where '" + w.text + "': no selected database has a level '" + w.level +
                           "'" + did_you_mean(w.level, levels),
                       levels.empty() ? "the selected databases have no levels"
                                      : "levels: " + join(levels));
    }
    m_where.push_back(std::move(w));
  }
}

bool ChunkFilter::selects_all() const
{
  return m_dbs.empty() && m_tables.empty() && m_partitions.empty() && m_chunks.empty() &&
         m_where.empty();
}

bool ChunkFilter::may_select_database(std::string_view db) const
{
  if (!m_dbs.empty() && !contains(m_dbs, db)) {
    return false;
  }
  return m_chunks.empty() || std::any_of(m_chunks.begin(), m_chunks.end(), [&](const auto& key) {
           return key.size() > db.size() && key.starts_with(db) && key[db.size()] == '/';
         });
}

bool ChunkFilter::matches(const Chunk& chunk) const
{
  if (!m_dbs.empty() && !contains(m_dbs, chunk.db)) {
    return false;
  }
  if (!m_tables.empty() && !contains(m_tables, chunk.table)) {
    return false;
  }
  if (!m_chunks.empty() && !contains(m_chunks, chunk.key)) {
    return false;
  }
  if (!m_partitions.empty()) {
    const std::string path = chunk.partition_path();
    // FNM_PATHNAME: '*' and '?' never match '/', so "2020060*" does not reach into the hash level.
    const bool any = std::any_of(m_partitions.begin(), m_partitions.end(), [&](const auto& glob) {
      return partition_glob_matches(glob, path);
    });
    if (!any) {
      return false;
    }
  }
  for (const auto& w : m_where) {
    const auto partition = chunk.partition();
    const auto it = std::find_if(partition.begin(), partition.end(),
                                 [&](const auto& lv) { return lv.first == w.level; });
    if (it == partition.end()) {
      return false;
    }
    const int c = compare_filter_values(classify_filter_value(it->second), w.value);
    bool ok = false;
    switch (w.op) {
    case WhereClause::Op::eq:
      ok = c == 0;
      break;
    case WhereClause::Op::ne:
      ok = c != 0;
      break;
    case WhereClause::Op::lt:
      ok = c < 0;
      break;
    case WhereClause::Op::le:
      ok = c <= 0;
      break;
    case WhereClause::Op::gt:
      ok = c > 0;
      break;
    case WhereClause::Op::ge:
      ok = c >= 0;
      break;
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool ChunkFilter::keeps_file(std::string_view relpath) const
{
  if (m_columns.empty()) {
    return true;
  }
  std::string_view name = relpath;
  if (const auto slash = name.rfind('/'); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  if (const auto dot = name.rfind('.'); dot != std::string_view::npos && dot > 0) {
    name = name.substr(0, dot);
  }
  return contains(m_columns, name);
}

} // namespace clsync::core
