// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/digest.hpp"

#include "transport/sha256.hpp"

#include <algorithm>
#include <vector>

namespace clsync::transport {
namespace {

template <typename T>
std::vector<const T*> sorted_by_path(std::span<const T> files)
{
  std::vector<const T*> order;
  order.reserve(files.size());
  for (const T& f : files) {
    order.push_back(&f);
  }
  // std::string's operator< compares like memcmp, which is the documented order.
  std::sort(order.begin(), order.end(), [](const T* a, const T* b) { return a->path < b->path; });
  return order;
}

std::string octal(std::uint32_t v)
{
  if (v == 0) {
    return "0";
  }
  std::string out;
  while (v) {
    out.insert(out.begin(), static_cast<char>('0' + (v & 7)));
    v >>= 3;
  }
  return out;
}

void put_field(std::string& buf, std::string_view s, char end)
{
  buf.append(s);
  buf.push_back(end);
}

} // namespace

std::string quick_fingerprint(std::span<const FileEntry> files)
{
  Sha256 h;
  std::string buf = std::string(k_fingerprint_tag) + "\n";
  for (const FileEntry* f : sorted_by_path(files)) {
    put_field(buf, f->path, '\0');
    put_field(buf, std::to_string(f->size), '\0');
    put_field(buf, std::to_string(f->mtime_ns), '\0');
    put_field(buf, octal(f->mode & 07777), '\n');
    if (buf.size() > 64 * 1024) {
      h.update(buf);
      buf.clear();
    }
  }
  h.update(buf);
  return h.finish_hex();
}

std::string layout_hash(std::span<const FileEntry> files)
{
  Sha256 h;
  std::string buf = std::string(k_layout_tag) + "\n";
  for (const FileEntry* f : sorted_by_path(files)) {
    put_field(buf, f->path, '\0');
    put_field(buf, std::to_string(f->size), '\n');
    if (buf.size() > 64 * 1024) {
      h.update(buf);
      buf.clear();
    }
  }
  h.update(buf);
  return h.finish_hex();
}

std::string content_hash(std::span<const HashedFile> files)
{
  Sha256 h;
  std::string buf = std::string(k_content_tag) + "\n";
  for (const HashedFile* f : sorted_by_path(files)) {
    put_field(buf, f->path, '\0');
    put_field(buf, std::to_string(f->size), '\0');
    put_field(buf, f->sha256, '\n');
    if (buf.size() > 64 * 1024) {
      h.update(buf);
      buf.clear();
    }
  }
  h.update(buf);
  return h.finish_hex();
}

} // namespace clsync::transport
