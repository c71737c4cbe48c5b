// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/fan_out.hpp"

#include "core/exceptions.hpp"

#include <stdexcept>

namespace clsync::core {

FanOutSink::FanOutSink(std::vector<transport::ByteSink*> outs,
                       std::function<void(std::uint64_t)> before_block)
    : m_outs(std::move(outs)), m_errors(m_outs.size()), m_before(std::move(before_block))
{
}

void FanOutSink::write(std::span<const char> data)
{
  if (m_before) {
    m_before(data.size());
  }
  m_bytes += data.size();
  for (std::size_t i = 0; i < m_outs.size(); ++i) {
    if (!m_errors[i].empty()) {
      continue;
    }
    try {
      m_outs[i]->write(data);
    } catch (...) {
      // One destination failing fails only its own copy; the others keep receiving.
      m_errors[i] = current_exception_text();
      if (m_errors[i].empty()) {
        m_errors[i] = "write failed";
      }
    }
  }
  if (alive() == 0) {
    throw std::runtime_error(m_errors.empty() ? "no destination" : m_errors.front());
  }
}

void FanOutSink::fail(std::size_t i, std::string why)
{
  m_errors[i] = why.empty() ? "failed" : std::move(why);
}

std::size_t FanOutSink::alive() const
{
  std::size_t n = 0;
  for (const auto& e : m_errors) {
    n += e.empty() ? 1 : 0;
  }
  return n;
}

} // namespace clsync::core
