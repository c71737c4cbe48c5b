// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/app.hpp"

int main(int argc, char** argv) { return clsync::cli::run(argc, argv); }
