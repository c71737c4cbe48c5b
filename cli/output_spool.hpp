// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdio>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>

/// Holding a command's `--json` output until the run ends (SPEC §9: stdout carries exactly one
/// document whatever happens) without holding it in memory: the first 256 KiB stay in memory,
/// the rest goes to an unlinked temporary file in $TMPDIR (or /tmp). A document of a million
/// chunks costs disk, not RSS. (A MiB, before, was a third of `status --json --chunks`'s peak
/// over plain status's on 10,000 replicas.)
namespace clsync::cli {

class OutputSpool {
public:
  /// `memory_limit`: bytes kept in memory before the spool moves to a file.
  explicit OutputSpool(std::size_t memory_limit = std::size_t{256} << 10);
  ~OutputSpool();
  OutputSpool(const OutputSpool&) = delete;
  OutputSpool& operator=(const OutputSpool&) = delete;

  /// Where the command writes. A failed write to the temporary file sets its badbit.
  std::ostream& stream();
  /// True when nothing was written.
  bool empty() const;
  /// Bytes written so far.
  std::size_t size() const;
  /// True when what was written is exactly one JSON value (whitespace around it allowed);
  /// checked by reading it back with a validating parser that builds no tree.
  bool holds_one_document();
  /// Copies everything written to `out`, in pieces of 64 KiB.
  void copy_to(std::ostream& out);
  /// True when the spool moved to a temporary file (tests).
  bool on_file() const { return m_file != nullptr; }

private:
  class Buf;
  void spill();
  std::size_t m_limit;
  std::string m_memory;
  std::FILE* m_file = nullptr;
  std::size_t m_size = 0;
  bool m_failed = false;
  std::unique_ptr<Buf> m_buf;
  std::unique_ptr<std::ostream> m_stream;
};

} // namespace clsync::cli
