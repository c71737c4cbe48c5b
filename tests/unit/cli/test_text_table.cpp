// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/text_table.hpp"

#include <doctest/doctest.h>

#include <stdexcept>

using namespace clsync::cli;

TEST_SUITE("cli::text_table")
{
  TEST_CASE("columns are padded, numbers right-aligned, trailing blanks trimmed")
  {
    TextTable t;
    t.column("NODE").column("CHUNKS", TextTable::Align::right).column("NOTE");
    t.add_row({"P1-dn1", "200", ""});
    t.add_row({"P3", "0", "new"});
    CHECK(t.render() == "NODE    CHUNKS  NOTE\n"
                        "P1-dn1     200\n"
                        "P3           0  new\n");
  }

  TEST_CASE("short rows are padded; long rows are refused; empty tables render nothing")
  {
    TextTable t;
    t.column("A").column("B");
    CHECK(t.render().empty());
    t.add_row({"x"});
    CHECK(t.render() == "A  B\nx\n");
    CHECK_THROWS_AS(t.add_row({"1", "2", "3"}), std::invalid_argument);
    t.hide_header();
    CHECK(t.render() == "x\n");
  }

  TEST_CASE("widths count UTF-8 characters, not bytes")
  {
    TextTable t;
    t.column("P").column("N", TextTable::Align::right);
    t.add_row({"/données", "1"});
    t.add_row({"/abc", "22"});
    CHECK(t.render() == "P          N\n/données   1\n/abc      22\n");
  }

  TEST_CASE("names with control characters or invalid UTF-8 are quoted as a shell reads them")
  {
    CHECK(quote_name("Level1/20200601/3/Snapshot") == "Level1/20200601/3/Snapshot");
    CHECK(quote_name("/données/it's") == "/données/it's"); // plain names stay as they are
    CHECK(quote_name("a\nb\xff") == "$'a\\nb\\xff'");
    CHECK(quote_name("Level1/20200601/\xff\x01/Snapshot") ==
          "$'Level1/20200601/\\xff\\x01/Snapshot'");
    CHECK(quote_name("tab\there's\\") == "$'tab\\there\\'s\\\\'");
    CHECK(quote_name("del\x7f c1\xc2\x85") == "$'del\\x7f c1\\xc2\\x85'");
    // In a table the quoted cell keeps the columns aligned: one line per row.
    TextTable t;
    t.column("CHUNK").column("N", TextTable::Align::right);
    t.add_row({"a\nb", "1"});
    t.add_row({"plain", "22"});
    CHECK(t.render() == "CHUNK     N\n$'a\\nb'   1\nplain    22\n");
  }

  TEST_CASE("number formats")
  {
    CHECK(human_size(0) == "0 B");
    CHECK(human_size(1536 * 1024) == "1.5 MiB");
    CHECK(percent(50) == "50.0%");
    CHECK(percent(12.345, true) == "+12.3%");
    CHECK(percent(-0.01, true) == "+0.0%");
    CHECK(percent(-50, true) == "-50.0%");
    CHECK(decimal(133.333) == "133.3");
    CHECK(decimal(200) == "200");
  }
}
