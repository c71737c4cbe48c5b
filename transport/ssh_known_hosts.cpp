// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/ssh_known_hosts.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace clsync::transport {

namespace {

std::vector<unsigned char> base64_decode(const std::string &in) {
  std::vector<unsigned char> out(3 * ((in.size() + 3) / 4) + 1);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char *>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) {
    return {};
  }
  // EVP_DecodeBlock counts the '=' padding as bytes.
  std::size_t pad = 0;
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it) {
    ++pad;
  }
  out.resize(static_cast<std::size_t>(n) - std::min<std::size_t>(pad, static_cast<std::size_t>(n)));
  return out;
}

bool hashed_match(const std::string &entry, const std::string &name) {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  auto second = entry.find('|', 3);
  if (second == std::string::npos) {
    return false;
  }
  auto salt = base64_decode(entry.substr(3, second - 3));
  auto want = base64_decode(entry.substr(second + 1));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()),
            reinterpret_cast<const unsigned char *>(name.data()), name.size(), mac, &len)) {
    return false;
  }
  return want.size() == len && std::equal(want.begin(), want.end(), mac);
}

} // namespace

int find_known_hosts_line(const std::string &file, const std::string &host, int port) {
  std::ifstream in(file);
  if (!in) {
    return 0;
  }
  const std::string name = port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream fields(line);
    std::string hosts;
    fields >> hosts;
    if (hosts.empty() || hosts[0] == '#' || hosts[0] == '@') {
      continue;
    }
    std::stringstream list(hosts);
    std::string pattern;
    while (std::getline(list, pattern, ',')) {
      if (pattern == name || (pattern.rfind("|1|", 0) == 0 && hashed_match(pattern, name))) {
        return n;
      }
    }
  }
  return 0;
}

} // namespace clsync::transport
