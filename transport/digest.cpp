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

namespace {

/// Merges files and directories in path order and hashes `tag` then one record per entry.
template <typename File, typename PutFile>
std::string hash_entries(const char* tag,
                         std::span<const File> files,
                         std::span<const ChunkDir> dirs,
                         PutFile&& put_file)
{
  std::vector<const File*> fs = sorted_by_path(files);
  std::vector<const ChunkDir*> ds = sorted_by_path(dirs);
  Sha256 h;
  std::string buf = std::string(tag) + "\n";
  std::size_t i = 0, j = 0;
  while (i < fs.size() || j < ds.size()) {
    if (j == ds.size() || (i < fs.size() && fs[i]->path < ds[j]->path)) {
      buf.append("f", 2);  // "f" and its NUL
      put_file(buf, *fs[i++]);
    } else {
      buf.append("d", 2);
      put_field(buf, ds[j]->path, '\0');
      put_field(buf, octal(ds[j]->mode & 07777), '\n');
      ++j;
    }
    if (buf.size() > 64 * 1024) {
      h.update(buf);
      buf.clear();
    }
  }
  h.update(buf);
  return h.finish_hex();
}

} // namespace

std::string layout_hash(std::span<const FileEntry> files, std::span<const ChunkDir> dirs)
{
  return hash_entries(k_layout_tag, files, dirs, [](std::string& buf, const FileEntry& f) {
    put_field(buf, f.path, '\0');
    put_field(buf, std::to_string(f.size), '\0');
    put_field(buf, octal(f.mode & 07777), '\n');
  });
}

std::string content_hash(std::span<const HashedFile> files, std::span<const ChunkDir> dirs)
{
  return hash_entries(k_content_tag, files, dirs, [](std::string& buf, const HashedFile& f) {
    put_field(buf, f.path, '\0');
    put_field(buf, std::to_string(f.size), '\0');
    put_field(buf, octal(f.mode & 07777), '\0');
    put_field(buf, f.sha256, '\n');
  });
}

} // namespace clsync::transport
