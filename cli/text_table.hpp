// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <string>
#include <vector>

/// A small renderer for the human tables every command prints on stdout.
namespace clsync::cli {

/// Columns with a header and an alignment; rows of cells; render() pads every column to its
/// widest cell (widths count UTF-8 code points), separates columns by two spaces and trims
/// trailing blanks. Every cell goes through quote_name, so a name with a newline or invalid
/// UTF-8 cannot break the table or the terminal. A row shorter than the header is padded with empty
/// cells; extra cells are an error (std::invalid_argument from add_row).
class TextTable {
public:
  enum class Align { left, right };

  /// Adds a column; numbers read best right-aligned.
  TextTable& column(std::string header, Align align = Align::left);
  /// Adds a row of cells, one per column.
  void add_row(std::vector<std::string> cells);
  /// Hides the header line (tables used as aligned lists).
  void hide_header() { m_show_header = false; }
  bool empty() const { return m_rows.empty(); }
  std::size_t rows() const { return m_rows.size(); }
  /// The table, one line per row, each ending in '\n'; "" when it has no rows.
  std::string render() const;

private:
  struct Column {
    std::string header;
    Align align;
  };
  std::vector<Column> m_columns;
  std::vector<std::vector<std::string>> m_rows;
  bool m_show_header = true;
};

/// `name` as it may be shown on a terminal: unchanged when it is valid UTF-8 without control
/// characters; else quoted as `ls --quoting-style=shell-escape` does, `$'…'` with \n, \t, \r,
/// \\, \' and \xHH for other control characters and for bytes that are not valid UTF-8 — a
/// form a shell reads back to the exact bytes.
std::string quote_name(const std::string& name);

/// `text` (a message that may hold names) made safe for one line of a terminal or log:
/// control characters (C0, DEL, C1) and bytes that are not valid UTF-8 become \n, \t, \r or
/// \xHH, so a name cannot end the line, forge another one, or send escape sequences.
std::string terminal_safe(const std::string& text);

/// A size for people ("0 B", "512 B", "1.5 MiB"); binary units.
std::string human_size(std::uint64_t bytes);

/// A ratio as a percentage with one decimal ("50.0%"); `signed_` adds '+' to positive values.
std::string percent(double pct, bool signed_ = false);

/// A number with one decimal, or none when it is whole ("133.3", "200").
std::string decimal(double value);

} // namespace clsync::cli
