// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "cli/command.hpp"
#include "core/events.hpp"

#include <memory>

namespace clsync::cli {

/// The progress sink of a run: a bar on a terminal, NDJSON events with --log-format json,
/// warnings through the log otherwise.
class CliEvents : public core::Events {
public:
  /// Clears the bar / prints a last summary line; called once when the command returns.
  virtual void finish() {}
};

std::unique_ptr<CliEvents> make_events(const GlobalOptions& global);

} // namespace clsync::cli
