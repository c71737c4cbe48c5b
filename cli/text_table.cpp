// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/text_table.hpp"

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

} // namespace

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
