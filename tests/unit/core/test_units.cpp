// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/error.hpp"
#include "core/units.hpp"

#include <doctest/doctest.h>

using clsync::core::format_duration;
using clsync::core::format_size;
using clsync::core::parse_count_or_percent;
using clsync::core::parse_duration;
using clsync::core::parse_rate;
using clsync::core::parse_size;

namespace {

std::string size_error(const std::string& text)
{
  try {
    parse_size(text, "--max-bytes");
  } catch (const clsync::UsageError& e) {
    return std::string(e.what()) + " | " + e.hint();
  }
  return "(accepted)";
}

} // namespace

TEST_SUITE("core::units")
{
  TEST_CASE("sizes: plain bytes and binary units")
  {
    CHECK(parse_size("0") == 0);
    CHECK(parse_size("512") == 512);
    CHECK(parse_size("10b") == 10);
    CHECK(parse_size("64K") == 65536);
    CHECK(parse_size("64k") == 65536);
    CHECK(parse_size("64KB") == 65536);
    CHECK(parse_size("64KiB") == 65536);
    CHECK(parse_size("1.5M") == 1572864);
    CHECK(parse_size("2G") == 2147483648ull);
    CHECK(parse_size("100MB") == 104857600);
    CHECK(parse_size("1GiB") == 1073741824);
    CHECK(parse_size("3T") == 3ull << 40);
    CHECK(parse_size("1P") == 1ull << 50);
    CHECK(parse_size(" 64 K ") == 65536);
    CHECK(parse_size("1.5") == 1); // fractions of a byte round down
    CHECK(parse_size(".5K") == 512);
    CHECK(parse_size("18446744073709551615") == 18446744073709551615ull);
  }

  TEST_CASE("sizes: errors name the option and the value")
  {
    CHECK(size_error("5X") ==
          "--max-bytes: bad size '5X' | expected a number and an optional unit, e.g. 65536, 64K, "
          "1.5M, 2G, 100MB, 1GiB");
    for (const char* bad : {"", "abc", "-5", "1.2.3", "K", "5 K B", "18446744073709551616",
                            "20000P", "1e3", "0x10"}) {
      INFO(bad);
      CHECK(size_error(bad).find("--max-bytes: bad size '" + std::string(bad) + "'") == 0);
    }
    CHECK_THROWS_WITH_AS(parse_size("x"), "bad size 'x'", clsync::UsageError);
  }

  TEST_CASE("rates")
  {
    CHECK(parse_rate("50M") == 50ull << 20);
    CHECK(parse_rate("50MB/s") == 50ull << 20);
    CHECK(parse_rate("1G/s") == 1ull << 30);
    CHECK(parse_rate("0") == 0);
    CHECK_THROWS_WITH_AS(parse_rate("50M/h", "--bwlimit"), "--bwlimit: bad rate '50M/h'",
                         clsync::UsageError);
  }

  TEST_CASE("durations")
  {
    using std::chrono::seconds;
    CHECK(parse_duration("90s") == seconds(90));
    CHECK(parse_duration("15m") == seconds(900));
    CHECK(parse_duration("2h") == seconds(7200));
    CHECK(parse_duration("7d") == seconds(604800));
    CHECK(parse_duration("1w") == seconds(604800));
    CHECK(parse_duration("1h30m") == seconds(5400));
    CHECK(parse_duration("45") == seconds(45));
    CHECK(parse_duration(" 2H ") == seconds(7200));
    for (const char* bad : {"", "5x", "1.5h", "1h30", "h", "-5s", "99999999999999d"}) {
      INFO(bad);
      CHECK_THROWS_WITH_AS(parse_duration(bad, "--min-age"),
                           ("--min-age: bad duration '" + std::string(bad) + "'").c_str(),
                           clsync::UsageError);
    }
  }

  TEST_CASE("human sizes and durations")
  {
    CHECK(format_size(0) == "0 B");
    CHECK(format_size(1023) == "1023 B");
    CHECK(format_size(1024) == "1 KiB");
    CHECK(format_size(1536) == "1.5 KiB");
    CHECK(format_size(16384) == "16 KiB");
    CHECK(format_size(1048575) == "1 MiB"); // rounds up into the next unit, not "1024 KiB"
    CHECK(format_size(3355443200ull) == "3.1 GiB");
    CHECK(format_size(18446744073709551615ull) == "16 EiB");
    CHECK(format_duration(std::chrono::seconds(45)) == "45s");
    CHECK(format_duration(std::chrono::seconds(125)) == "2m05s");
    CHECK(format_duration(std::chrono::seconds(3 * 3600 + 7 * 60)) == "3h07m");
    CHECK(format_duration(std::chrono::seconds(2 * 86400 + 4 * 3600)) == "2d04h");
  }

  TEST_CASE("counts: N or N% of a total, nothing else (--max-delete)")
  {
    CHECK(parse_count_or_percent("50%", 30) == 15);
    CHECK(parse_count_or_percent("7", 30) == 7);
    CHECK(parse_count_or_percent("0%", 30) == 0);
    CHECK(parse_count_or_percent("100%", 30) == 30);
    CHECK(parse_count_or_percent("2.5%", 1000) == 25);
    CHECK(parse_count_or_percent(" 12 ", 30) == 12);
    CHECK(parse_count_or_percent("18446744073709551615", 30) == UINT64_MAX);
    for (const char* bad : {"lots", "120%", "100.5%", "-1", "-1%", "+5", "1.5", "", "%", "5%%",
                            "18446744073709551616", "5 %x", "0x10"}) {
      CHECK_THROWS_AS_MESSAGE(parse_count_or_percent(bad, 30, "--max-delete"), clsync::UsageError, bad);
    }
    try {
      parse_count_or_percent("-1", 30, "--max-delete");
    } catch (const clsync::UsageError& e) {
      CHECK(std::string(e.what()).find("--max-delete") != std::string::npos);
    }
  }
}
