// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "tests/support/scratch.hpp"

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace clsync::test {
namespace {

fs::path root()
{
  static const fs::path r = [] {
    fs::path p = fs::temp_directory_path() / ("clsync-test-" + std::to_string(getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return r;
}

std::atomic<int> g_counter{0};

} // namespace

fs::path scratch_dir(const std::string& name)
{
  std::string clean;
  for (char c : name) {
    clean += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  }
  fs::path p = root() / (std::to_string(++g_counter) + "-" + clean);
  fs::create_directories(p);
  return p;
}

void finish_scratch(bool passed)
{
  std::error_code ec;
  fs::path r = fs::temp_directory_path() / ("clsync-test-" + std::to_string(getpid()));
  if (!fs::exists(r, ec)) {
    return;
  }
  if (passed) {
    fs::remove_all(r, ec);
  } else {
    std::fprintf(stderr, "scratch kept for a look: %s\n", r.c_str());
  }
}

void write_file(const fs::path& path, const std::string& content)
{
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  if (!f) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::string read_file(const fs::path& path)
{
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    throw std::runtime_error("cannot read " + path.string());
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int run_command(const std::string& command, std::string* out)
{
  FILE* p = popen(command.c_str(), "r");
  if (!p) {
    return -1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    if (out) {
      out->append(buf, n);
    }
  }
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace clsync::test
