// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/json_stream.hpp"

#include "core/json_names.hpp"

#include <set>
#include <stdexcept>

namespace clsync::cli {
namespace {

/// Writes `value` as dump_json(value, 2) would at nesting depth `depth` (2 spaces per level):
/// every line after the first moves right by the depth's indentation. A dumped JSON text has no
/// raw newline inside a string (they are escaped), so every '\n' is a line break of the layout.
void write_nested(std::ostream& out, const nlohmann::json& value, int depth)
{
  const std::string text = core::dump_json(value, 2);
  const std::string indent(static_cast<std::size_t>(2 * depth), ' ');
  std::size_t start = 0;
  while (true) {
    const std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      out.write(text.data() + start, static_cast<std::streamsize>(text.size() - start));
      return;
    }
    out.write(text.data() + start, static_cast<std::streamsize>(nl + 1 - start));
    out << indent;
    start = nl + 1;
  }
}

/// Writes one streamed array member's value at depth 1: "[]" when the source emits nothing.
void write_streamed_array(std::ostream& out, const JsonArraySource& source)
{
  bool first = true;
  source([&](const nlohmann::json& element) {
    out << (first ? "[\n    " : ",\n    ");
    first = false;
    write_nested(out, element, 2);
  });
  out << (first ? "[]" : "\n  ]");
}

} // namespace

void write_json_streamed(std::ostream& out,
                         const nlohmann::json& doc,
                         const std::map<std::string, JsonArraySource>& streamed)
{
  if (!doc.is_object()) {
    throw std::invalid_argument("write_json_streamed: the document is not an object");
  }
  // nlohmann's object_t is a std::map: members come out sorted by name, so merge in that order.
  std::set<std::string> names;
  for (const auto& [name, value] : doc.items()) {
    names.insert(name);
  }
  for (const auto& [name, source] : streamed) {
    names.insert(name);
  }
  if (names.empty()) {
    out << "{}";
    return;
  }
  bool first = true;
  for (const auto& name : names) {
    out << (first ? "{\n  " : ",\n  ") << core::dump_json(nlohmann::json(name)) << ": ";
    first = false;
    if (auto it = streamed.find(name); it != streamed.end()) {
      write_streamed_array(out, it->second);
    } else {
      write_nested(out, doc.at(name), 1);
    }
  }
  out << "\n}";
}

} // namespace clsync::cli
