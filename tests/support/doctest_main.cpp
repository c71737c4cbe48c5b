// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#define DOCTEST_CONFIG_IMPLEMENT
#include "tests/support/scratch.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

int main(int argc, char** argv)
{
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  int failed = context.run();
  // ccache's habit: scratch space is kept for a look when something failed.
  clsync::test::finish_scratch(failed == 0);
  return failed;
}
