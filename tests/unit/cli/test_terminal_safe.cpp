// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/text_table.hpp"

#include <doctest/doctest.h>

using clsync::cli::terminal_safe;

TEST_SUITE("cli::terminal_safe")
{
  TEST_CASE("messages naming hostile names stay one line and send no escape sequence")
  {
    CHECK(terminal_safe("chunk db/2020/t failed") == "chunk db/2020/t failed");
    CHECK(terminal_safe("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac"); // UTF-8 kept
    CHECK(terminal_safe("a\nclsync: error: forged") == "a\\nclsync: error: forged");
    CHECK(terminal_safe("x\x1b[2J\x1b]0;title\x07y") == "x\\x1b[2J\\x1b]0;title\\x07y");
    CHECK(terminal_safe("\t\r\x7f") == "\\t\\r\\x7f");
    CHECK(terminal_safe("\xc2\x9b" "31m") == "\\xc2\\x9b31m"); // C1 CSI
    CHECK(terminal_safe("\xff\xfe\x80") == "\\xff\\xfe\\x80");  // not UTF-8
    CHECK(terminal_safe("\xe2\x82") == "\\xe2\\x82");           // truncated sequence
    CHECK(terminal_safe(std::string("a\0b", 3)) == "a\\x00b");
    CHECK(terminal_safe("") == "");
  }
}
