// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Benchmark driver for bench/ssh_throughput.sh: copies chunks from one SSH node to another
// through clsync's own transport (read from one agent, write to the other, as a task does:
// write_chunk → read_chunk → finish with its fsync), one chunk per thread, and prints
// "<bytes> <seconds>". The temp directories are removed afterwards (not timed).
#include "transport/open.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace clsync::transport;

namespace {

[[noreturn]] void usage()
{
  std::fprintf(stderr,
               "usage: clsync-bench-ssh-copy --src HOST:PORT --dst HOST:PORT --identity KEY\n"
               "         --known-hosts FILE --agent PATH --src-vol DIR --dst-vol DIR\n"
               "         --key CHUNK [--key CHUNK …] [--compress 1]\n");
  std::exit(2);
}

SshTarget target(const std::string& name, const std::string& hostport)
{
  SshTarget t;
  t.name = name;
  auto colon = hostport.rfind(':');
  if (colon == std::string::npos) {
    usage();
  }
  t.host = hostport.substr(0, colon);
  t.port = std::atoi(hostport.c_str() + colon + 1);
  t.user = "root";
  t.io_timeout_s = 120;
  return t;
}

} // namespace

int main(int argc, char** argv)
{
  std::string src, dst, identity, known_hosts, agent, src_vol, dst_vol;
  std::vector<std::string> keys;
  bool compress = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    std::string v = argv[i + 1];
    if (a == "--src") {
      src = v;
    } else if (a == "--dst") {
      dst = v;
    } else if (a == "--identity") {
      identity = v;
    } else if (a == "--known-hosts") {
      known_hosts = v;
    } else if (a == "--agent") {
      agent = v;
    } else if (a == "--src-vol") {
      src_vol = v;
    } else if (a == "--dst-vol") {
      dst_vol = v;
    } else if (a == "--compress") {
      compress = v == "1";
    } else if (a == "--key") {
      keys.push_back(v);
    } else {
      usage();
    }
  }
  if (src.empty() || dst.empty() || keys.empty() || src_vol.empty() || dst_vol.empty()) {
    usage();
  }
  auto s = target("bench-src", src);
  auto d = target("bench-dst", dst == "null" ? src : dst);
  for (auto* t : {&s, &d}) {
    t->identity = identity;
    t->known_hosts = known_hosts;
    t->agent_command = agent;
    t->pool_size = static_cast<int>(keys.size());
    t->compress = compress;
  }
  s.roots = {src_vol};
  d.roots = {dst_vol};
  // --dst null: read only, into a sink that drops the bytes (isolates the read side).
  const bool null_dst = dst == "null";
  if (null_dst) {
    d = s;
  }
  auto src_node = make_ssh_node(s);
  auto dst_node = make_ssh_node(d);
  // Connections are opened before the clock starts: a pool is reused across tasks in a run.
  {
    std::vector<std::thread> warm;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      warm.emplace_back([&] {
        (void)src_node->read_lease(s.roots.front());
        (void)dst_node->read_lease(d.roots.front());
      });
    }
    for (auto& t : warm) {
      t.join();
    }
  }
  std::vector<std::uint64_t> bytes(keys.size());
  std::vector<std::string> errors(keys.size());
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        if (null_dst) {
          struct Drop : ChunkSink {
            void begin_file(const FileEntry&) override {}
            void file_data(std::span<const char>) override {}
            void end_file(const std::string&) override {}
          } drop;
          bytes[i] = src_node->read_chunk(src_vol, keys[i], drop).bytes;
          return;
        }
        auto w = dst_node->write_chunk(dst_vol, "bench" + std::to_string(i));
        src_node->read_chunk(src_vol, keys[i], *w);
        bytes[i] = w->finish().bytes;
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t total = 0;
  int rc = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    total += bytes[i];
    if (!errors[i].empty()) {
      std::fprintf(stderr, "chunk %s: %s\n", keys[i].c_str(), errors[i].c_str());
      rc = 1;
    }
    if (!null_dst) {
      dst_node->remove_task_dirs(dst_vol, "bench" + std::to_string(i));
    }
  }
  std::printf("%llu %.3f\n", static_cast<unsigned long long>(total), secs);
  return rc;
}
