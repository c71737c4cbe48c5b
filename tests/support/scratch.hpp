// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <filesystem>
#include <string>

namespace clsync::test {

/// A fresh directory for one test case under the run's scratch root (/tmp/clsync-test-<pid>),
/// named after `name`. The root is deleted when every test passed, kept and printed otherwise.
std::filesystem::path scratch_dir(const std::string& name);

/// Called once by main.
void finish_scratch(bool passed);

/// Writes `content` to `path`, creating parent directories.
void write_file(const std::filesystem::path& path, const std::string& content);

/// Reads a whole (small, test) file.
std::string read_file(const std::filesystem::path& path);

/// Runs a shell command; returns its exit status and fills `out` with its stdout.
/// True when `part` occurs in `s`.
inline bool contains(const std::string& s, const std::string& part)
{
  return s.find(part) != std::string::npos;
}

int run_command(const std::string& command, std::string* out = nullptr);

} // namespace clsync::test
