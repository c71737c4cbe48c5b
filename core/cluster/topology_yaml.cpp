// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/topology_yaml.hpp"

#include "core/error.hpp"
#include "core/suggest.hpp"

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

} // namespace clsync::core::yaml
