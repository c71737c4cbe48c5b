// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "cli/output_spool.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <unistd.h>

namespace clsync::cli {

/// The stream buffer: every byte goes to OutputSpool::write_bytes through xsputn/overflow
/// (no buffer of its own; std::ostream's formatting writes in pieces already).
class OutputSpool::Buf : public std::streambuf {
public:
  explicit Buf(OutputSpool& spool) : m_spool(spool) {}

protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override
  {
    return m_spool_write(s, static_cast<std::size_t>(n)) ? n : 0;
  }
  int_type overflow(int_type ch) override
  {
    if (traits_type::eq_int_type(ch, traits_type::eof())) {
      return traits_type::not_eof(ch);
    }
    const char c = traits_type::to_char_type(ch);
    return m_spool_write(&c, 1) ? ch : traits_type::eof();
  }

private:
  bool m_spool_write(const char* s, std::size_t n)
  {
    OutputSpool& sp = m_spool;
    if (sp.m_failed) {
      return false;
    }
    if (!sp.m_file && sp.m_memory.size() + n > sp.m_limit) {
      sp.spill();
    }
    if (sp.m_file) {
      if (std::fwrite(s, 1, n, sp.m_file) != n) {
        sp.m_failed = true;
        return false;
      }
    } else {
      sp.m_memory.append(s, n);
    }
    sp.m_size += n;
    return true;
  }
  OutputSpool& m_spool;
};

OutputSpool::OutputSpool(std::size_t memory_limit)
    : m_limit(memory_limit), m_buf(std::make_unique<Buf>(*this)),
      m_stream(std::make_unique<std::ostream>(m_buf.get()))
{
}

OutputSpool::~OutputSpool()
{
  if (m_file) {
    std::fclose(m_file);
  }
}

std::ostream& OutputSpool::stream()
{
  return *m_stream;
}

bool OutputSpool::empty() const
{
  return m_size == 0;
}

std::size_t OutputSpool::size() const
{
  return m_size;
}

void OutputSpool::spill()
{
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/clsync-out-XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd < 0) {
    // No temporary file: keep holding in memory, as before the spool existed.
    m_limit = static_cast<std::size_t>(-1);
    return;
  }
  ::unlink(path.c_str()); // the file lives as long as the descriptor, whatever ends the run
  m_file = ::fdopen(fd, "w+");
  if (!m_file) {
    ::close(fd);
    m_limit = static_cast<std::size_t>(-1);
    return;
  }
  if (std::fwrite(m_memory.data(), 1, m_memory.size(), m_file) != m_memory.size()) {
    m_failed = true;
  }
  std::string().swap(m_memory);
}

bool OutputSpool::holds_one_document()
{
  if (m_failed || m_size == 0) {
    return false;
  }
  if (!m_file) {
    return nlohmann::json::accept(m_memory);
  }
  if (std::fflush(m_file) != 0) {
    return false;
  }
  std::rewind(m_file);
  const bool ok = nlohmann::json::accept(m_file);
  std::fseek(m_file, 0, SEEK_END);
  return ok;
}

void OutputSpool::copy_to(std::ostream& out)
{
  if (!m_file) {
    out << m_memory;
    return;
  }
  std::fflush(m_file);
  std::rewind(m_file);
  std::string block(std::size_t{64} << 10, '\0');
  while (true) {
    const std::size_t n = std::fread(block.data(), 1, block.size(), m_file);
    if (n == 0) {
      break;
    }
    out.write(block.data(), static_cast<std::streamsize>(n));
  }
  std::fseek(m_file, 0, SEEK_END);
}

} // namespace clsync::cli
