// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/size_options.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

TEST_SUITE("cli::size_options")
{
  TEST_CASE("CLI options take units through the transforms")
  {
    CLI::App app;
    std::uint64_t size = 0, rate = 0;
    int ttl = 0;
    app.add_option("--max-bytes", size)->transform(clsync::cli::size_transform());
    app.add_option("--bwlimit", rate)->transform(clsync::cli::rate_transform());
    app.add_option("--lease-ttl", ttl)->transform(clsync::cli::duration_transform());
    app.parse(std::vector<std::string>{"15m", "--lease-ttl", "50MB/s", "--bwlimit", "1.5G",
                                       "--max-bytes"}); // CLI11 takes the vector reversed
    CHECK(size == 1610612736ull);
    CHECK(rate == 50ull << 20);
    CHECK(ttl == 900);
    CLI::App bad;
    bad.add_option("--max-bytes", size)->transform(clsync::cli::size_transform());
    try {
      bad.parse(std::vector<std::string>{"5X", "--max-bytes"});
      FAIL("5X was accepted");
    } catch (const CLI::ValidationError& e) {
      CHECK(std::string(e.what()).find("--max-bytes: bad size '5X'; expected a number") !=
            std::string::npos);
    }
  }
}
