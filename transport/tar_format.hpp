// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

/// The pax tar format (POSIX.1-2001 `pax`, ustar headers plus `x` extended headers) as backup
/// objects use it: our own small writer and reader, because the static agent cannot link
/// libarchive. Only what a chunk holds: regular files, hard links, directories. Names are bytes:
/// a name that is not UTF-8 travels in a pax `path` record under `hdrcharset=BINARY`.
namespace clsync::transport::tar {

inline constexpr std::size_t k_block = 512;
/// Largest pax extended header accepted (a name of a few KiB needs far less).
inline constexpr std::uint64_t k_max_pax = 64u << 10;

enum class Kind { file, hard_link, directory };

/// One member as the writer emits it or the reader decodes it. `path` is relative to the chunk,
/// without a trailing '/'; "" is the chunk's own directory (written as "./").
struct Member {
  Kind kind = Kind::file;
  std::string path;
  std::string link_to; ///< hard link: the earlier member's path
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint32_t mode = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

/// Appends `m`'s header blocks to `out`: a pax extended header when a field does not fit ustar
/// (long or non-UTF-8 names, sub-second or negative mtimes, large ids or sizes), then the ustar
/// header.
void append_header(std::string& out, const Member& m);

/// Zero bytes that follow `size` bytes of member data up to the next block.
inline std::size_t padding(std::uint64_t size)
{
  return static_cast<std::size_t>((k_block - size % k_block) % k_block);
}

/// True when the block holds only zero bytes (an end-of-archive block).
bool is_zero_block(const char* block);

/// One ustar header as read, before pax records apply.
struct RawHeader {
  char typeflag = '0';
  std::string name; ///< prefix "/" name, as bytes
  std::string linkname;
  std::uint64_t size = 0;
  std::int64_t mtime_s = 0;
  std::uint32_t mode = 0;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

/// Decodes a header block into `out`; returns why it is not a valid ustar header, or "".
std::string parse_header(const char* block, RawHeader& out);

/// What an `x` header says about the member that follows it.
struct PaxRecords {
  bool has_path = false, has_linkpath = false, has_size = false, has_mtime = false;
  bool has_uid = false, has_gid = false;
  std::string path, linkpath;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint32_t uid = 0, gid = 0;
};

/// Parses an `x` header's data into `out`; returns why it is malformed or unsupported
/// (GNU.sparse records: sparse members are never accepted), or "".
std::string parse_pax(std::string_view data, PaxRecords& out);

/// True when `s` is valid UTF-8.
bool is_utf8(std::string_view s);

} // namespace clsync::transport::tar
