// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Defects the fuzz targets (fuzz/, scripts/fuzz.sh) found, each fed through the production code
// path: the inputs committed under fuzz/regressions/<target>/ and the cases they stand for.
#include "core/cluster/topology.hpp"
#include "core/error.hpp"
#include "tests/unit/transport/object_test_util.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/tar_format.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using namespace clsync::test::codec;

std::string fuzz_file_text(const fs::path& p)
{
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> fuzz_regressions(const std::string& target)
{
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(CLSYNC_SOURCE_DIR) / "fuzz/regressions" / target)) {
    out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Parses `yaml` in a child process (a parser that never returns must fail the test, not hang
/// it; its memory is capped, since the loop allocates) and returns what happened: the
/// TopologyError's message, "(loaded)", "(other exception)" or "(no answer in 10 s)".
std::string topology_outcome_in_child(const std::string& yaml)
{
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    const rlimit mem{1ull << 30, 1ull << 30};
    ::setrlimit(RLIMIT_AS, &mem);
    std::string out;
    try {
      (void)clsync::core::parse_topology(yaml, "t.yaml");
      out = "(loaded)";
    } catch (const clsync::TopologyError& e) {
      out = e.what();
    } catch (...) {
      out = "(other exception)";
    }
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ::close(fds[0]);
      return "(no answer in 10 s)";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  return out;
}

} // namespace

TEST_SUITE("fuzz_regressions")
{
  TEST_CASE("topology: a stray ',' is malformed YAML, not an endless loop (yaml-cpp LoadAll)")
  {
    for (const auto& p : fuzz_regressions("topology")) {
      INFO(p.filename().string());
      const std::string msg = topology_outcome_in_child(fuzz_file_text(p));
      CHECK(msg.rfind("t.yaml:", 0) == 0);
    }
    const std::string msg = topology_outcome_in_child(",\n- a\n");
    CHECK(msg == "t.yaml:1:1: malformed YAML: unexpected ','");
    CHECK(topology_outcome_in_child("\n\n  , x\n").rfind("t.yaml:3:3: malformed YAML", 0) == 0);
    // Documents are still counted: a second one is refused where it starts.
    CHECK(topology_outcome_in_child("cluster: c\n---\ncluster: d\n") ==
          "t.yaml:3:1: a second YAML document; expected one topology per file");
  }

  TEST_CASE("tar: a file dated at either end of int64 nanoseconds packs and unpacks")
  {
    // The pax reader took at most 9e9 whole seconds: a file dated 2255–2262 (or before 1678)
    // was packed, then its object refused at every restore ("malformed pax mtime").
    for (const std::int64_t mtime : {std::int64_t{9'200'000'000'500'000'000},
                                     std::numeric_limits<std::int64_t>::max(),
                                     std::numeric_limits<std::int64_t>::min()}) {
      INFO(mtime);
      TestChunk c;
      c.files.push_back({{"late.col", 3, mtime, 0644, 0, 0, ""}, {std::string("abc")}});
      c.dirs.push_back({"", mtime, 0755, 0, 0});
      std::string object;
      const PackResult packed = pack(c, object);
      RecordSink sink;
      CHECK_NOTHROW(unpack(object, packed.manifest, sink));
      REQUIRE(sink.files.size() == 1);
      CHECK(sink.files[0].entry.mtime_ns == mtime);
      CHECK(sink.files[0].data == "abc");
    }
  }

  TEST_CASE("tar: a base-256 mtime beyond int64 nanoseconds is a malformed header")
  {
    // fuzz/regressions/tar/base256_mtime_overflow: a header with a GNU base-256 mtime of 2^61
    // seconds was accepted, and the unpacker multiplied it into nanoseconds (signed overflow).
    const std::string input = fuzz_file_text(fs::path(CLSYNC_SOURCE_DIR) /
                                             "fuzz/regressions/tar/base256_mtime_overflow");
    REQUIRE(input.size() > 3 * tar::k_block);
    const char* header = input.data() + input.size() - 3 * tar::k_block;
    tar::RawHeader raw;
    CHECK(tar::parse_header(header, raw) == "malformed numeric field");
    // The whole object is refused, naming the header.
    ChunkManifest m;
    m.files.push_back({{"a", 0, 0, 0644, 0, 0, ""},
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                       {}});
    RecordSink sink;
    try {
      unpack(zstd(std::string(header, 3 * tar::k_block)), m, sink);
      FAIL("the object was accepted");
    } catch (const TransportError& e) {
      CHECK(e.kind() == FailureKind::refused);
      CHECK(std::string(e.what()).find("entry '(header)': malformed numeric field") !=
            std::string::npos);
    }
    CHECK(sink.files.empty());
  }

  TEST_CASE("agent protocol: an empty payload before any other frame reads cleanly")
  {
    // fuzz/regressions/agent_protocol/empty_first_payload_memcpy_null: FrameReader copied the
    // buffered part of a payload with memcpy into a fresh, empty vector's data() (null), which
    // is undefined even for 0 bytes (UBSan: "null pointer passed as argument 1").
    class OneShot : public wire::ByteSource {
    public:
      explicit OneShot(std::string bytes) : m_bytes(std::move(bytes)) {}
      std::size_t read_some(char* buf, std::size_t n) override
      {
        const std::size_t k = std::min(n, m_bytes.size() - m_at);
        std::memcpy(buf, m_bytes.data() + m_at, k);
        m_at += k;
        return k;
      }

    private:
      std::string m_bytes;
      std::size_t m_at = 0;
    };
    const auto ping = wire::encode_header(wire::MsgType::keepalive, 0);
    const auto reply = wire::to_payload(nlohmann::json::object());
    const auto reply_header = wire::encode_header(wire::MsgType::reply, reply.size());
    OneShot source(std::string(ping.data(), ping.size()) +
                   std::string(reply_header.data(), reply_header.size()) +
                   std::string(reply.data(), reply.size()));
    wire::FrameReader reader(source);
    wire::Frame f;
    REQUIRE(reader.next(f));
    CHECK(f.type == wire::MsgType::keepalive);
    CHECK(f.payload.empty());
    REQUIRE(reader.next(f));
    CHECK(f.type == wire::MsgType::reply);
    CHECK(wire::from_payload(f.payload, "reply") == nlohmann::json::object());
    CHECK_FALSE(reader.next(f));
    // The fuzz input itself ends in a refusal, never anything else.
    const std::string input = fuzz_file_text(
        fs::path(CLSYNC_SOURCE_DIR) / "fuzz/regressions/agent_protocol/empty_first_payload_memcpy_null");
    OneShot fuzzed(input.substr(1));
    wire::FrameReader fuzzed_reader(fuzzed);
    CHECK_THROWS_AS(
        [&] {
          while (fuzzed_reader.next(f)) {
          }
        }(),
        TransportError);
  }
}
