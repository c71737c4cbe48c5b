// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Defects the fuzz targets (fuzz/, scripts/fuzz.sh) found, each fed through the production code
// path: the inputs committed under fuzz/regressions/<target>/ and the cases they stand for.
#include "core/cluster/topology.hpp"
#include "core/error.hpp"
#include "tests/support/sanitizer_build.hpp"
#include "tests/unit/transport/object_test_util.hpp"
#include "transport/agent_protocol.hpp"
#include "transport/tar_format.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
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

/// What decoding `payload` as a `what` payload gives: its error, or "(decoded)".
std::string decode_outcome(const std::vector<char>& payload, const char* what)
{
  try {
    (void)wire::from_payload(payload, what);
  } catch (const TransportError& e) {
    return e.what();
  }
  return "(decoded)";
}

/// Runs `fn` in a child process and returns what it returned: a parser that never returns or
/// overflows its stack must fail the test, not hang or kill it (memory is capped, since an
/// endless loop may allocate; not under ASan or TSan, see k_sanitizer_reserves_address_space).
/// "(no answer in 10 s)" or "(died)" otherwise.
std::string outcome_in_child(const std::function<std::string()>& fn)
{
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (!clsync::test::k_sanitizer_reserves_address_space) {
      const rlimit mem{1ull << 30, 1ull << 30};
      ::setrlimit(RLIMIT_AS, &mem);
    }
    std::string out;
    try {
      out = fn();
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
  return WIFEXITED(status) ? out : "(died)";
}

/// The TopologyError's message for `yaml`, or "(loaded)", in a child process.
std::string topology_outcome_in_child(const std::string& yaml)
{
  return outcome_in_child([&] {
    try {
      (void)clsync::core::parse_topology(yaml, "t.yaml");
      return std::string("(loaded)");
    } catch (const clsync::TopologyError& e) {
      return std::string(e.what());
    }
  });
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

  TEST_CASE("agent protocol: an integer field holding a float or too big a number is refused")
  {
    // fuzz/regressions/agent_protocol/float_for_integer_field: a FILE_BEGIN whose size was the
    // float 1e300 went through nlohmann's get<uint64_t>, a static_cast out of range (undefined;
    // UBSan: "1e+300 is outside the range of representable values"). Integers that do not fit
    // (a mode of 2^32 + 0644) were wrapped into a plausible value.
    const nlohmann::json good = {{"path", "a"}, {"size", 1}, {"mtime_ns", -5}, {"mode", 0644},
                                 {"uid", 0},    {"gid", 0}};
    CHECK(wire::decode<FileEntry>(good).mtime_ns == -5);
    const std::vector<std::pair<const char*, nlohmann::json>> bad = {
        {"size", 1e300},
        {"size", 1.5},
        {"size", -1},
        {"mode", (1ull << 32) + 0644},
        {"uid", -1},
        {"mtime_ns", std::numeric_limits<std::uint64_t>::max()},
    };
    for (const auto& key_value : bad) {
      const auto& key = key_value.first; // named, not bound: doctest's lambdas
      const auto& value = key_value.second; // capture them (clang 14)
      INFO(key << " = " << value.dump());
      nlohmann::json j = good;
      j[key] = value;
      // Through the frame decoder, as the client reads an agent's FILE_BEGIN.
      const auto payload = wire::to_payload(j);
      try {
        (void)wire::decode<FileEntry>(wire::from_payload(payload, "file_begin"));
        FAIL("accepted");
      } catch (const TransportError& e) {
        CHECK(std::string(e.what()) ==
              std::string("agent protocol: missing or mistyped field '") + key + "'");
      }
    }
    nlohmann::json options = {{"level", 3.0e12}, {"threads", 0}, {"columns", nlohmann::json::array()}};
    CHECK_THROWS_AS(wire::decode<PackOptions>(options), TransportError);
    options["level"] = 3;
    CHECK(wire::decode<PackOptions>(options).level == 3);
  }

  TEST_CASE("agent protocol: a payload nested deeper than 64 levels is refused, not a crash")
  {
    // fuzz/regressions/tar/nested_cbor_manifest_stack_overflow: nlohmann's CBOR reader recurses
    // once per level, and a manifest of nested one-byte arrays overflowed the stack (a request
    // or reply of up to 64 MiB could hold 64 million levels: a crash of the agent or clsync).
    for (const std::size_t levels : {std::size_t{65}, std::size_t{1} << 20}) {
      INFO(levels);
      const std::string outcome = outcome_in_child([&] {
        std::vector<char> payload(levels, static_cast<char>(0x81)); // [[[…
        payload.push_back(0);
        return decode_outcome(payload, "unpack_chunk");
      });
      CHECK(outcome ==
            "agent protocol: malformed unpack_chunk payload: nested deeper than 64 levels");
    }
    // 64 levels, definite and indefinite, maps and tags included, still decode.
    std::vector<char> ok(63, static_cast<char>(0x81));
    ok.push_back(static_cast<char>(0xA1));
    ok.push_back(0x61);
    ok.push_back('k');
    ok.push_back(0);
    CHECK(wire::from_payload(ok, "x").is_array());
    std::vector<char> indefinite(64, static_cast<char>(0x9F));
    indefinite.insert(indefinite.end(), 64, static_cast<char>(0xFF));
    CHECK(wire::from_payload(indefinite, "x").is_array());
    // A real reply with lists of maps decodes as before.
    const nlohmann::json scan = wire::to_wire(NodeScan{{VolumeScan{}}, {}, {}, {}, {"p"}});
    CHECK(wire::from_payload(wire::to_payload(scan), "reply") == scan);
  }

  TEST_CASE("agent protocol: a structure that breaks off is refused before it is decoded")
  {
    // fuzz/regressions/tar/array_longer_than_payload_stack_overflow: an array claiming 39,300
    // items in a 13 KiB manifest. The depth check stopped there ("malformed: from_cbor will say
    // so"), while from_cbor went on into the items, nested arrays, and overflowed the stack.
    const std::string outcome = outcome_in_child([] {
      std::vector<char> payload = {static_cast<char>(0x9A), static_cast<char>(0xFF),
                                   static_cast<char>(0xFF), static_cast<char>(0xFF),
                                   static_cast<char>(0xFF)}; // an array of 2^32-1 items
      payload.insert(payload.end(), std::size_t{1} << 20, static_cast<char>(0x81)); // [[[…
      payload.push_back(0);
      return decode_outcome(payload, "unpack_chunk");
    });
    CHECK(outcome == "agent protocol: malformed unpack_chunk payload: more items than the "
                     "payload has bytes at byte 5");
    auto refusal = [](const std::vector<char>& payload) { return decode_outcome(payload, "x"); };
    CHECK(refusal({static_cast<char>(0x5A), 0, 0, 0, 9, 'a'}).find("a string longer than the payload") !=
          std::string::npos);
    CHECK(refusal({static_cast<char>(0x81), static_cast<char>(0xFF)}).find("a break outside") !=
          std::string::npos);
    CHECK(refusal({static_cast<char>(0x1C)}).find("reserved") != std::string::npos);
    CHECK(refusal({static_cast<char>(0x19), 1}).find("a length cut short") != std::string::npos);
    // Cut short at the end is from_cbor's to name; complete items decode.
    CHECK(refusal({static_cast<char>(0x82), 1}).find("malformed x payload") != std::string::npos);
    CHECK(refusal({static_cast<char>(0x82), 1, 2}) == "(decoded)");
    CHECK(refusal({static_cast<char>(0x62), 'o', 'k'}) == "(decoded)");
  }
}
