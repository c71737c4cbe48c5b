// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/text_table.hpp"

#include "core/json_names.hpp"
#include "core/units.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace clsync::cli {
namespace {

std::size_t display_width(const std::string& s)
{
  std::size_t w = 0;
  for (unsigned char c : s) {
    // Count UTF-8 lead bytes only, so "é" in a path takes one column.
    if ((c & 0xC0) != 0x80) {
      ++w;
    }
  }
  return w;
}

/// Whether a valid UTF-8 sequence `seq` is a control character (C0, DEL, C1).
bool is_control(std::string_view seq)
{
  const auto c = static_cast<unsigned char>(seq[0]);
  if (seq.size() == 1) {
    return c < 0x20 || c == 0x7F;
  }
  return seq.size() == 2 && c == 0xC2 && static_cast<unsigned char>(seq[1]) < 0xA0;
}

/// Length of the UTF-8 sequence at s[i] when it is well-formed, else 0.
std::size_t sequence_at(const std::string& s, std::size_t i)
{
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (len == 0 || i + len > s.size()) {
    return 0;
  }
  return core::is_utf8(std::string_view(s).substr(i, len)) ? len : 0;
}

/// Appends a control character or an invalid byte sequence as C escapes: \n, \t, \r, else \xHH
/// per byte (what both terminal_safe and quote_name print for what a terminal would obey).
void append_escaped(std::string& out, std::string_view seq)
{
  static constexpr char k_hex_digits[] = "0123456789abcdef";
  if (seq == "\n") {
    out += "\\n";
  } else if (seq == "\t") {
    out += "\\t";
  } else if (seq == "\r") {
    out += "\\r";
  } else {
    for (unsigned char c : seq) {
      out += "\\x";
      out += k_hex_digits[c >> 4];
      out += k_hex_digits[c & 15];
    }
  }
}

} // namespace

std::string terminal_safe(const std::string& text)
{
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = sequence_at(text, i);
    const std::string_view seq = std::string_view(text).substr(i, n == 0 ? 1 : n);
    i += seq.size();
    if (n > 0 && !is_control(seq)) {
      out += seq;
    } else {
      append_escaped(out, seq);
    }
  }
  return out;
}

std::string quote_name(const std::string& name)
{
  bool plain = true;
  for (std::size_t i = 0; i < name.size() && plain;) {
    const std::size_t n = sequence_at(name, i);
    plain = n > 0 && !is_control(std::string_view(name).substr(i, n));
    i += n;
  }
  if (plain) {
    return name;
  }
  std::string out = "$'";
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t n = sequence_at(name, i);
    const std::string_view seq = std::string_view(name).substr(i, n == 0 ? 1 : n);
    i += seq.size();
    if (n > 0 && !is_control(seq)) {
      if (seq == "\\" || seq == "'") {
        out += '\\';
      }
      out += seq;
      continue;
    }
    append_escaped(out, seq);
  }
  out += '\'';
  return out;
}

TextTable& TextTable::column(std::string header, Align align)
{
  m_columns.push_back({std::move(header), align});
  return *this;
}

void TextTable::add_row(std::vector<std::string> cells)
{
  if (cells.size() > m_columns.size()) {
    throw std::invalid_argument("TextTable: row of " + std::to_string(cells.size()) +
                                " cells for " + std::to_string(m_columns.size()) + " columns");
  }
  cells.resize(m_columns.size());
  for (auto& cell : cells) {
    cell = quote_name(cell);
  }
  m_rows.push_back(std::move(cells));
}

std::string TextTable::render() const
{
  if (m_rows.empty()) {
    return {};
  }
  std::vector<std::size_t> widths(m_columns.size(), 0);
  for (std::size_t i = 0; i < m_columns.size(); ++i) {
    if (m_show_header) {
      widths[i] = display_width(m_columns[i].header);
    }
    for (const auto& row : m_rows) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) {
        line += "  ";
      }
      std::string pad(widths[i] - display_width(cells[i]), ' ');
      line += m_columns[i].align == Align::right ? pad + cells[i] : cells[i] + pad;
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line;
    out += '\n';
  };
  if (m_show_header) {
    std::vector<std::string> header;
    for (const auto& c : m_columns) {
      header.push_back(c.header);
    }
    emit(header);
  }
  for (const auto& row : m_rows) {
    emit(row);
  }
  return out;
}

std::string human_size(std::uint64_t bytes) { return core::format_size(bytes); }

std::string percent(double pct, bool signed_)
{
  if (std::fabs(pct) < 0.05) {
    pct = 0.0;  // never print "-0.0%"
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, signed_ ? "%+.1f%%" : "%.1f%%", pct);
  return buf;
}

std::string decimal(double value)
{
  char buf[48];
  if (std::fabs(value - std::round(value)) < 0.05) {
    std::snprintf(buf, sizeof buf, "%.0f", std::round(value));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f", value);
  }
  return buf;
}

} // namespace clsync::cli
