// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "transport/tar_format.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace clsync::transport::tar;

namespace {

/// Writes `m` and reads it back as the unpacker does: an optional pax header, then ustar.
Member round_trip(const Member& m, bool* had_pax = nullptr)
{
  std::string out;
  append_header(out, m);
  REQUIRE(out.size() % k_block == 0);
  RawHeader raw;
  PaxRecords pax;
  std::size_t at = 0;
  REQUIRE(parse_header(out.data(), raw) == "");
  if (raw.typeflag == 'x') {
    REQUIRE(parse_pax(std::string_view(out).substr(k_block, raw.size), pax) == "");
    at = k_block + raw.size + padding(raw.size);
    REQUIRE(parse_header(out.data() + at, raw) == "");
  }
  if (had_pax) {
    *had_pax = at > 0;
  }
  CHECK(at + k_block == out.size());
  Member r;
  r.kind = raw.typeflag == '5'   ? Kind::directory
           : raw.typeflag == '1' ? Kind::hard_link
                                 : Kind::file;
  r.path = pax.has_path ? pax.path : raw.name;
  r.link_to = pax.has_linkpath ? pax.linkpath : raw.linkname;
  r.size = pax.has_size ? pax.size : raw.size;
  r.mtime_ns = pax.has_mtime ? pax.mtime_ns : raw.mtime_s * 1'000'000'000;
  r.mode = raw.mode;
  r.uid = pax.has_uid ? pax.uid : raw.uid;
  r.gid = pax.has_gid ? pax.gid : raw.gid;
  return r;
}

} // namespace

TEST_SUITE("transport::tar_format")
{
  TEST_CASE("a plain member needs no pax header")
  {
    Member m{Kind::file, "a.col", "", 12345, 1'600'000'000'000'000'000, 0640, 1000, 1000};
    bool pax = true;
    Member r = round_trip(m, &pax);
    CHECK_FALSE(pax);
    CHECK(r.path == "a.col");
    CHECK(r.size == 12345);
    CHECK(r.mtime_ns == m.mtime_ns);
    CHECK(r.mode == 0640);
    CHECK(r.uid == 1000);
  }

  TEST_CASE("sizes beyond 8 GiB, big ids, ns and negative mtimes go through pax records")
  {
    Member m{Kind::file, "big.col",      "",       9ull << 30, -1'234'567'891,
             0600,       3'000'000'000u, 4'000'000};
    bool pax = false;
    Member r = round_trip(m, &pax);
    CHECK(pax);
    CHECK(r.size == 9ull << 30);
    CHECK(r.mtime_ns == -1'234'567'891);
    CHECK(r.uid == 3'000'000'000u);
    CHECK(r.gid == 4'000'000);
  }

  TEST_CASE("long, non-UTF-8 names and link targets survive as bytes")
  {
    std::string name = std::string(200, 'x') + "\xff\xfe/\x80.col";
    Member m{Kind::hard_link, name, "t\xe9rget/" + std::string(120, 'y'), 0, 0, 0644, 0, 0};
    Member r = round_trip(m);
    CHECK(r.kind == Kind::hard_link);
    CHECK(r.path == name);
    CHECK(r.link_to == m.link_to);
    Member d{Kind::directory, "", "", 0, 5, 0751, 0, 0};
    CHECK(round_trip(d).path == "./");
    d.path = "sub";
    CHECK(round_trip(d).path == "sub/");
  }

  TEST_CASE("a header with a wrong checksum or no magic is refused")
  {
    std::string out;
    append_header(out, Member{Kind::file, "a", "", 1, 0, 0644, 0, 0});
    RawHeader raw;
    out[0] = 'b';
    CHECK(parse_header(out.data(), raw) == "header checksum mismatch");
    out.assign(k_block, 'q');
    CHECK(parse_header(out.data(), raw) == "not a ustar header");
    CHECK(is_zero_block(std::string(k_block, '\0').data()));
  }

  TEST_CASE("pax records: lengths are checked, sparse records refused")
  {
    PaxRecords p;
    CHECK(parse_pax("9 path=a\n", p) == "");
    CHECK(p.path == "a");
    CHECK(parse_pax("99 path=a\n", p) == "malformed pax record");
    CHECK(parse_pax("15 mtime=1.5e3\n", p) == "malformed pax mtime");
    CHECK(parse_pax("24 GNU.sparse.size=1000\n", p).find("sparse") != std::string::npos);
    CHECK(clsync::transport::tar::is_utf8("caf\xc3\xa9"));
    CHECK_FALSE(clsync::transport::tar::is_utf8("caf\xe9"));
    CHECK_FALSE(clsync::transport::tar::is_utf8("\xed\xa0\x80")); // a surrogate
  }
}
