// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <string>

namespace clsync::transport {

/// The 1-based line of `known_hosts_file` whose host patterns name `host` on `port` (plain
/// "host" for port 22, else "[host]:port"; hashed "|1|salt|hash" entries included; marker lines
/// such as @revoked skipped), or 0 when no line does or the file cannot be read. For messages
/// only: which entry a changed host key contradicts.
int find_known_hosts_line(const std::string &known_hosts_file, const std::string &host, int port);

} // namespace clsync::transport
