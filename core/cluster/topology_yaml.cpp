// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/topology_yaml.hpp"

#include "core/error.hpp"
#include "core/suggest.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace clsync::core::yaml {

namespace {

/// Records where each document starts and where its root node is; the nodes themselves are
/// built by YAML::Load.
class DocumentStartMarks : public YAML::EventHandler {
public:
  std::vector<YAML::Mark> starts, roots;
  void OnDocumentStart(const YAML::Mark& mark) override
  {
    starts.push_back(mark);
    m_root_pending = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark,
                const std::string&,
                YAML::anchor_t,
                const std::string&) override
  {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark,
                       const std::string&,
                       YAML::anchor_t,
                       YAML::EmitterStyle::value) override
  {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark,
                  const std::string&,
                  YAML::anchor_t,
                  YAML::EmitterStyle::value) override
  {
    node(mark);
  }
  void OnMapEnd() override {}

private:
  void node(const YAML::Mark& mark)
  {
    if (m_root_pending) {
      roots.push_back(mark);
      m_root_pending = false;
    }
  }
  bool m_root_pending = false;
};

} // namespace

Documents load_documents(const Reader& r, const std::string& text)
{
  Documents docs;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStartMarks marks;
    while (marks.starts.size() < 2 && parser.HandleNextDocument(marks)) {
    }
    if (marks.starts.size() == 2) {
      const YAML::Mark& a = marks.starts[0];
      const YAML::Mark& b = marks.starts[1];
      if (a.pos == b.pos) {
        const char c =
            a.pos >= 0 && static_cast<std::size_t>(a.pos) < text.size() ? text[a.pos] : '?';
        r.fail(a, std::string("malformed YAML: unexpected '") + c + "'");
      }
      docs.second = marks.roots.size() == 2 ? marks.roots[1] : b;
    }
    // One document only: YAML::Load stops after it.
    docs.first = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    r.fail(e.mark, "malformed YAML: nested " + std::to_string(e.depth()) +
                       " levels deep; expected a topology (3 levels)");
  } catch (const YAML::Exception& e) {
    r.fail(e.mark, "malformed YAML: " + e.msg);
  }
  return docs;
}

YAML::Mark Field::mark() const
{
  if (!value.IsDefined() || value.IsNull() || value.Mark().is_null()) {
    return key.Mark();
  }
  return value.Mark();
}

std::string describe(const YAML::Node& node)
{
  if (!node.IsDefined() || node.IsNull()) {
    return "nothing";
  }
  if (node.IsSequence()) {
    return "a list";
  }
  if (node.IsMap()) {
    return "a mapping";
  }
  std::string s = node.Scalar();
  if (s.size() > 40) {
    s = s.substr(0, 37) + "...";
  }
  return "'" + s + "'";
}

void Reader::fail(const YAML::Mark& mark, const std::string& what) const
{
  const int line = mark.is_null() ? 1 : mark.line + 1;
  const int col = mark.is_null() ? 1 : mark.column + 1;
  throw TopologyError(m_file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " +
                      what);
}

std::map<std::string, Field> Reader::fields(const YAML::Node& map,
                                            const YAML::Mark& fallback,
                                            std::string_view where,
                                            std::string_view expected,
                                            const std::vector<std::string>& allowed) const
{
  if (!map.IsMap()) {
    fail(map.IsDefined() && !map.IsNull() ? map.Mark() : fallback,
         std::string(where) + ": expected " + std::string(expected) + ", got " + describe(map));
  }
  std::map<std::string, Field> out;
  for (const auto& kv : map) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      fail(key.Mark(), std::string(where) + ": expected a plain key, got " + describe(key));
    }
    const std::string& name = key.Scalar();
    if (!allowed.empty()) {
      bool known = false;
      for (const auto& a : allowed) {
        known = known || a == name;
      }
      if (!known) {
        std::string msg = "unknown key '" + name + "' " + std::string(where);
        const std::string hint = did_you_mean(name, allowed);
        if (!hint.empty()) {
          msg += hint;
        } else {
          msg += "; expected one of:";
          for (const auto& a : allowed) {
            msg += " " + a;
          }
        }
        fail(key.Mark(), msg);
      }
    }
    if (auto prev = out.find(name); prev != out.end()) {
      fail(key.Mark(), "duplicate key '" + name + "' " + std::string(where) + " (first on line " +
                           std::to_string(prev->second.key.Mark().line + 1) + ")");
    }
    out.emplace(name, Field{key, kv.second});
  }
  return out;
}

std::string Reader::text(const Field& f, std::string_view name) const
{
  if (!f.value.IsScalar() || f.value.Scalar().empty()) {
    fail(f.mark(), std::string(name) + ": expected a non-empty string, got " + describe(f.value));
  }
  return f.value.Scalar();
}

long long Reader::integer(const Field& f,
                          std::string_view name,
                          long long lo,
                          long long hi,
                          std::string_view expected) const
{
  const std::string got = describe(f.value);
  const std::string msg = std::string(name) + ": expected " + std::string(expected) + ", got ";
  if (!f.value.IsScalar()) {
    fail(f.mark(), msg + got);
  }
  const std::string& s = f.value.Scalar();
  std::size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  bool digits = i < s.size();
  for (std::size_t j = i; j < s.size(); ++j) {
    digits = digits && s[j] >= '0' && s[j] <= '9';
  }
  if (!digits || s.size() > 18) {
    fail(f.mark(), msg + got);
  }
  const long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (v < lo || v > hi) {
    fail(f.mark(), msg + got);
  }
  return v;
}

double Reader::number(const Field& f, std::string_view name) const
{
  const std::string msg = std::string(name) + ": expected a number, got " + describe(f.value);
  if (!f.value.IsScalar() || f.value.Scalar().empty()) {
    fail(f.mark(), msg);
  }
  const std::string& s = f.value.Scalar();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v)) {
    fail(f.mark(), msg);
  }
  return v;
}

std::vector<std::string> Reader::strings(const Field& f,
                                         std::string_view name,
                                         std::string_view expected,
                                         std::vector<YAML::Node>* items) const
{
  if (!f.value.IsSequence()) {
    fail(f.mark(),
         std::string(name) + ": expected " + std::string(expected) + ", got " + describe(f.value));
  }
  std::vector<std::string> out;
  for (const auto& item : f.value) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      fail(item.IsNull() ? f.mark() : item.Mark(), std::string(name) + ": expected " +
                                                       std::string(expected) + ", got " +
                                                       describe(item) + " in the list");
    }
    out.push_back(item.Scalar());
    if (items) {
      items->push_back(item);
    }
  }
  return out;
}

namespace {

/// Counts the values yaml-cpp's event parser reports, failing past the limit (no tree is
/// built, so memory stays that of the scanner).
class TopologyValueCounter : public YAML::EventHandler {
public:
  explicit TopologyValueCounter(const Reader& r) : m_reader(r) {}
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { count(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { count(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override
  {
    count(m);
  }
  void OnSequenceStart(const YAML::Mark& m,
                       const std::string&,
                       YAML::anchor_t,
                       YAML::EmitterStyle::value) override
  {
    count(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m,
                  const std::string&,
                  YAML::anchor_t,
                  YAML::EmitterStyle::value) override
  {
    count(m);
  }
  void OnMapEnd() override {}

private:
  void count(const YAML::Mark& m)
  {
    if (++m_values > k_max_yaml_values) {
      m_reader.fail(m, "more than " + std::to_string(k_max_yaml_values) +
                           " YAML values; expected a topology (about 10 per node)");
    }
  }
  const Reader& m_reader;
  long m_values = 0;
};

/// True when a '[' or '{' after `prev` (the line's last non-blank character, '\n' at the
/// start of a line) opens a flow collection rather than sitting inside a plain scalar.
bool topology_token_start(char prev)
{
  return prev == '\n' || prev == ':' || prev == ',' || prev == '-' || prev == '[' ||
         prev == '{' || prev == '?';
}

/// The flow-nesting half of check_yaml_limits: a small lexer that knows quotes and comments.
void check_flow_depth(const Reader& r, std::string_view text)
{
  int depth = 0;
  char quote = 0; // the open quote character, or 0
  bool comment = false;
  char prev = '\n';
  YAML::Mark at;
  at.line = 0;
  at.column = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      comment = false;
      prev = '\n';
      ++at.line;
      at.column = 0;
      continue;
    }
    if (quote == '"' && c == '\\') {
      ++i; // the escaped character never ends the string
      at.column += 2;
      continue;
    }
    if (quote == '\'' && c == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
      ++i; // '' is a quote inside a single-quoted string
      at.column += 2;
      continue;
    }
    if (comment || (quote && c != quote)) {
      ++at.column;
      continue;
    }
    bool plain_bracket = false; // a bracket inside a plain scalar: no value starts after it
    if (quote) {
      quote = 0;
    } else if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' ||
                            text[i - 1] == '\n')) {
      comment = true;
    } else if ((c == '\'' || c == '"') && topology_token_start(prev)) {
      quote = c;
    } else if ((c == '[' || c == '{') && (depth > 0 || topology_token_start(prev))) {
      // Inside a flow collection every bracket is an indicator (plain scalars there cannot
      // hold one); outside, only one where a value starts.
      if (++depth > k_max_flow_depth) {
        r.fail(at, "lists or mappings nested more than " + std::to_string(k_max_flow_depth) +
                       " deep; expected a topology (3 levels)");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == '[' || c == '{') {
      plain_bracket = true;
    }
    if (c != ' ' && c != '\t') {
      prev = plain_bracket ? 'a' : c;
    }
    ++at.column;
  }
}

} // namespace

void check_yaml_limits(const Reader& r, std::string_view text)
{
  check_flow_depth(r, text);
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  TopologyValueCounter counter(r);
  try {
    // Two documents at most, as load_documents reads: yaml-cpp 0.7 can yield empty documents
    // forever on a stray ',', which load_documents then reports as malformed.
    for (int docs = 0; docs < 2 && parser.HandleNextDocument(counter); ++docs) {
    }
  } catch (const YAML::Exception&) {
    // Malformed YAML: the real parse reports it with its position.
  }
}

} // namespace clsync::core::yaml
