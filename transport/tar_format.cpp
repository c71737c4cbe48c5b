// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/tar_format.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace clsync::transport::tar {
namespace {

// ustar header fields: offset and width.
constexpr std::size_t k_name = 0, k_name_w = 100;
constexpr std::size_t k_mode = 100, k_uid = 108, k_gid = 116, k_id_w = 8;
constexpr std::size_t k_size = 124, k_mtime = 136, k_num_w = 12;
constexpr std::size_t k_chksum = 148;
constexpr std::size_t k_type = 156;
constexpr std::size_t k_link = 157;
constexpr std::size_t k_magic = 257;
constexpr std::size_t k_devmajor = 329, k_devminor = 337;
constexpr std::size_t k_prefix = 345, k_prefix_w = 155;

constexpr std::uint64_t k_max_id = 07777777;
constexpr std::uint64_t k_max_num = 077777777777ull;
/// Whole seconds of the latest mtime in int64 nanoseconds (FileEntry::mtime_ns).
constexpr std::uint64_t k_max_mtime_s = std::numeric_limits<std::int64_t>::max() / 1'000'000'000;

/// Writes `v` as zero-padded octal in `width - 1` digits and a NUL; false when it does not fit.
bool put_octal(char* field, std::size_t width, std::uint64_t v)
{
  std::size_t digits = width - 1;
  field[digits] = '\0';
  for (std::size_t i = digits; i-- > 0;) {
    field[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  return v == 0;
}

void put_string(char* field, std::size_t width, std::string_view s)
{
  std::memcpy(field, s.data(), std::min(width, s.size()));
}

/// One pax record "<len> key=value\n", where <len> counts the whole record.
void add_record(std::string& out, std::string_view key, std::string_view value)
{
  std::size_t body = key.size() + value.size() + 3; // ' ', '=', '\n'
  std::size_t len = body + 1;
  while (std::to_string(len).size() + body != len) {
    len = std::to_string(len).size() + body;
  }
  out += std::to_string(len);
  out += ' ';
  out.append(key);
  out += '=';
  out.append(value);
  out += '\n';
}

std::string format_mtime(std::int64_t ns)
{
  std::string sign = ns < 0 ? "-" : "";
  std::uint64_t a =
      ns < 0 ? static_cast<std::uint64_t>(-(ns + 1)) + 1 : static_cast<std::uint64_t>(ns);
  std::string out = sign + std::to_string(a / 1'000'000'000);
  std::uint64_t frac = a % 1'000'000'000;
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, 9 - f.size(), '0');
    while (f.back() == '0') {
      f.pop_back();
    }
    out += '.' + f;
  }
  return out;
}

void finish_block(char* block)
{
  std::memset(block + k_chksum, ' ', 8);
  unsigned sum = 0;
  for (std::size_t i = 0; i < k_block; ++i) {
    sum += static_cast<unsigned char>(block[i]);
  }
  put_octal(block + k_chksum, 7, sum); // six digits, NUL, then the space already there
}

void append_ustar(std::string& out,
                  char type,
                  std::string_view name,
                  std::string_view link,
                  std::uint64_t size,
                  std::int64_t mtime_s,
                  std::uint32_t mode,
                  std::uint32_t uid,
                  std::uint32_t gid)
{
  std::size_t at = out.size();
  out.resize(at + k_block, '\0');
  char* b = out.data() + at;
  put_string(b + k_name, k_name_w, name);
  put_octal(b + k_mode, k_id_w, mode & 07777);
  put_octal(b + k_uid, k_id_w, uid <= k_max_id ? uid : 0);
  put_octal(b + k_gid, k_id_w, gid <= k_max_id ? gid : 0);
  put_octal(b + k_size, k_num_w, size <= k_max_num ? size : 0);
  put_octal(b + k_mtime, k_num_w,
            mtime_s >= 0 && static_cast<std::uint64_t>(mtime_s) <= k_max_num
                ? static_cast<std::uint64_t>(mtime_s)
                : 0);
  b[k_type] = type;
  put_string(b + k_link, k_name_w, link);
  std::memcpy(b + k_magic,
              "ustar\0"
              "00",
              8);
  put_octal(b + k_devmajor, k_id_w, 0);
  put_octal(b + k_devminor, k_id_w, 0);
  finish_block(b);
}

/// Parses an octal (or GNU base-256) numeric field; false when malformed.
bool get_number(const char* field, std::size_t width, std::uint64_t& v)
{
  v = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(field);
  if (p[0] & 0x80) {
    if (p[0] != 0x80) {
      return false; // negative base-256 values are not ours
    }
    for (std::size_t i = 1; i < width; ++i) {
      if (v >> 56) {
        return false;
      }
      v = (v << 8) | p[i];
    }
    return true;
  }
  std::size_t i = 0;
  while (i < width && p[i] == ' ') {
    ++i;
  }
  bool any = false;
  for (; i < width && p[i] >= '0' && p[i] <= '7'; ++i) {
    if (v >> 60) {
      return false;
    }
    v = (v << 3) | (p[i] - '0');
    any = true;
  }
  for (; i < width; ++i) {
    if (p[i] != ' ' && p[i] != '\0') {
      return false;
    }
  }
  return any || p[0] == '\0' || p[0] == ' ';
}

std::string get_string(const char* field, std::size_t width)
{
  return std::string(field, ::strnlen(field, width));
}

bool parse_decimal(std::string_view s, std::uint64_t& v)
{
  if (s.empty() || s.size() > 19) {
    return false;
  }
  v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

bool parse_mtime(std::string_view s, std::int64_t& ns)
{
  bool neg = !s.empty() && s.front() == '-';
  if (neg) {
    s.remove_prefix(1);
  }
  std::string_view whole = s.substr(0, s.find('.'));
  std::string_view frac = whole.size() < s.size() ? s.substr(whole.size() + 1) : "";
  std::uint64_t w = 0, f = 0;
  if (!parse_decimal(whole, w) || w > k_max_mtime_s + 1) {
    return false;
  }
  std::string digits(frac.substr(0, 9));
  if (!frac.empty() && (digits.empty() || !std::all_of(frac.begin(), frac.end(), [](char c) {
                          return c >= '0' && c <= '9';
                        }))) {
    return false;
  }
  digits.append(9 - digits.size(), '0');
  parse_decimal(digits, f);
  // Every mtime the writer writes reads back: the whole range of int64 nanoseconds (a file
  // dated 2255–2262 once packed, then could not be restored), nothing beyond it.
  const std::uint64_t v = w * 1'000'000'000ull + f;
  const std::uint64_t max = std::numeric_limits<std::int64_t>::max();
  if (v > (neg ? max + 1 : max)) {
    return false;
  }
  ns = !neg ? static_cast<std::int64_t>(v) : v == 0 ? 0 : -static_cast<std::int64_t>(v - 1) - 1;
  return true;
}

} // namespace

bool is_utf8(std::string_view s)
{
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr std::uint32_t k_min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < k_min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

void append_header(std::string& out, const Member& m)
{
  std::string name = m.path.empty() ? "./" : m.path;
  if (m.kind == Kind::directory && !m.path.empty()) {
    name += '/';
  }
  std::int64_t sec = m.mtime_ns / 1'000'000'000;
  if (m.mtime_ns % 1'000'000'000 < 0) {
    --sec;
  }
  std::string pax;
  bool binary = !is_utf8(name) || !is_utf8(m.link_to);
  if (binary) {
    add_record(pax, "hdrcharset", "BINARY");
  }
  if (name.size() > k_name_w || binary) {
    add_record(pax, "path", name);
  }
  if (m.link_to.size() > k_name_w || (binary && !m.link_to.empty())) {
    add_record(pax, "linkpath", m.link_to);
  }
  if (m.size > k_max_num) {
    add_record(pax, "size", std::to_string(m.size));
  }
  if (m.mtime_ns % 1'000'000'000 != 0 || sec < 0 || static_cast<std::uint64_t>(sec) > k_max_num) {
    add_record(pax, "mtime", format_mtime(m.mtime_ns));
  }
  if (m.uid > k_max_id) {
    add_record(pax, "uid", std::to_string(m.uid));
  }
  if (m.gid > k_max_id) {
    add_record(pax, "gid", std::to_string(m.gid));
  }
  if (!pax.empty()) {
    append_ustar(out, 'x', "./PaxHeaders/entry", "", pax.size(), std::max<std::int64_t>(sec, 0),
                 0644, 0, 0);
    out += pax;
    out.append(padding(pax.size()), '\0');
  }
  char type = m.kind == Kind::file ? '0' : m.kind == Kind::hard_link ? '1' : '5';
  std::uint64_t size = m.kind == Kind::file ? m.size : 0;
  append_ustar(out, type, name, m.link_to, size, sec, m.mode, m.uid, m.gid);
}

bool is_zero_block(const char* block)
{
  static const char k_zero[k_block] = {};
  return std::memcmp(block, k_zero, k_block) == 0;
}

std::string parse_header(const char* b, RawHeader& out)
{
  bool ustar = std::memcmp(b + k_magic,
                           "ustar\0"
                           "00",
                           8) == 0;
  bool gnu = std::memcmp(b + k_magic, "ustar  \0", 8) == 0;
  if (!ustar && !gnu) {
    return "not a ustar header";
  }
  std::uint64_t stored = 0;
  if (!get_number(b + k_chksum, 8, stored)) {
    return "malformed header checksum";
  }
  std::uint64_t sum = 0;
  std::int64_t ssum = 0;
  for (std::size_t i = 0; i < k_block; ++i) {
    bool in_sum = i >= k_chksum && i < k_chksum + 8;
    sum += in_sum ? ' ' : static_cast<unsigned char>(b[i]);
    ssum += in_sum ? ' ' : static_cast<signed char>(b[i]);
  }
  if (stored != sum && static_cast<std::int64_t>(stored) != ssum) {
    return "header checksum mismatch";
  }
  std::uint64_t mode = 0, uid = 0, gid = 0, size = 0, mtime = 0;
  if (!get_number(b + k_mode, k_id_w, mode) || !get_number(b + k_uid, k_id_w, uid) ||
      !get_number(b + k_gid, k_id_w, gid) || !get_number(b + k_size, k_num_w, size) ||
      !get_number(b + k_mtime, k_num_w, mtime) || uid > 0xFFFFFFFFu || gid > 0xFFFFFFFFu ||
      mtime > k_max_mtime_s) {
    return "malformed numeric field";
  }
  out.typeflag = b[k_type];
  out.name = get_string(b + k_name, k_name_w);
  std::string prefix = ustar ? get_string(b + k_prefix, k_prefix_w) : std::string();
  if (!prefix.empty()) {
    out.name = prefix + "/" + out.name;
  }
  out.linkname = get_string(b + k_link, k_name_w);
  out.size = size;
  out.mtime_s = static_cast<std::int64_t>(mtime);
  out.mode = static_cast<std::uint32_t>(mode & 07777);
  out.uid = static_cast<std::uint32_t>(uid);
  out.gid = static_cast<std::uint32_t>(gid);
  return "";
}

std::string parse_pax(std::string_view data, PaxRecords& out)
{
  while (!data.empty()) {
    std::size_t sp = data.find(' ');
    std::uint64_t len = 0;
    if (sp == std::string_view::npos || !parse_decimal(data.substr(0, sp), len) || len <= sp + 1 ||
        len > data.size() || data[len - 1] != '\n') {
      // Trailing NULs pad some writers' records; anything else is malformed.
      if (std::all_of(data.begin(), data.end(), [](char c) { return c == '\0'; })) {
        return "";
      }
      return "malformed pax record";
    }
    std::string_view rec = data.substr(sp + 1, len - sp - 2);
    data.remove_prefix(len);
    std::size_t eq = rec.find('=');
    if (eq == std::string_view::npos) {
      return "malformed pax record";
    }
    std::string_view key = rec.substr(0, eq), value = rec.substr(eq + 1);
    std::uint64_t n = 0;
    if (key == "path") {
      out.has_path = true;
      out.path = value;
    } else if (key == "linkpath") {
      out.has_linkpath = true;
      out.linkpath = value;
    } else if (key == "size") {
      if (!parse_decimal(value, n)) {
        return "malformed pax size";
      }
      out.has_size = true;
      out.size = n;
    } else if (key == "mtime") {
      if (!parse_mtime(value, out.mtime_ns)) {
        return "malformed pax mtime";
      }
      out.has_mtime = true;
    } else if (key == "uid" || key == "gid") {
      if (!parse_decimal(value, n) || n > 0xFFFFFFFFu) {
        return "malformed pax " + std::string(key);
      }
      (key == "uid" ? out.has_uid : out.has_gid) = true;
      (key == "uid" ? out.uid : out.gid) = static_cast<std::uint32_t>(n);
    } else if (key.starts_with("GNU.sparse")) {
      return "a sparse member (GNU.sparse records)";
    }
    // Other records (atime, ctime, hdrcharset, SCHILY.*, …) do not change what we restore.
  }
  return "";
}

} // namespace clsync::transport::tar
