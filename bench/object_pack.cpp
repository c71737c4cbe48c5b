// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Packs one chunk as a backup object with a local node, for comparing with
// `tar -cf - DIR | zstd -T0 -3 > file` (page caches dropped before each):
//   clsync-bench-pack VOLUME KEY OUT [THREADS [LEVEL]]
#include "transport/open.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace {

class FdSink : public clsync::transport::ByteSink {
public:
  explicit FdSink(int fd) : m_fd(fd) {}
  void write(std::span<const char> data) override
  {
    while (!data.empty()) {
      ssize_t n = ::write(m_fd, data.data(), data.size());
      if (n < 0) {
        std::perror("write");
        std::exit(1);
      }
      data = data.subspan(static_cast<std::size_t>(n));
    }
  }

private:
  int m_fd;
};

} // namespace

int main(int argc, char** argv)
{
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s VOLUME KEY OUT [THREADS [LEVEL]]\n", argv[0]);
    return 2;
  }
  clsync::transport::PackOptions o;
  o.threads = argc > 4 ? std::atoi(argv[4]) : 0;
  o.level = argc > 5 ? std::atoi(argv[5]) : 3;
  int fd = ::open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(argv[3]);
    return 1;
  }
  auto node = clsync::transport::make_local_node("bench", {argv[1]});
  FdSink sink(fd);
  auto t0 = std::chrono::steady_clock::now();
  auto r = node->pack_chunk(argv[1], argv[2], o, sink);
  ::close(fd);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.3f s, %llu bytes in %llu files -> object %llu bytes (%.1f MB/s)\n", s,
              static_cast<unsigned long long>(r.digest.bytes),
              static_cast<unsigned long long>(r.digest.files),
              static_cast<unsigned long long>(r.object_size), r.digest.bytes / s / 1e6);
  return 0;
}
