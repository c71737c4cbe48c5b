// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
//
// Default options of the sanitizer runtimes, compiled into every executable of a sanitizer build
// (CMake option CLSYNC_SANITIZE) and into no other. They are built in rather than read from
// ASAN_OPTIONS and friends because sshd starts the agents without the caller's environment: an
// agent's report must fail the test as surely as one in clsync itself. So every report is fatal,
// ends the process with exit code 99 (no clsync exit code, SPEC §9) and goes to a file under
// CLSYNC_SANITIZER_LOG_DIR, which tests/sanitizers/check_reports.sh scans after the suites.
// Variables set in the environment still win (the runtimes parse them after these).

// One name for every tool: ASan, LSan and UBSan share the setting in one runtime (the last one
// parsed wins). Files are report.<pid>.
#define CLSYNC_SANITIZER_LOG "log_path=" CLSYNC_SANITIZER_LOG_DIR "/report"

#include <cstring>

#include <fcntl.h>
#include <unistd.h>

extern "C" {

/// LeakSanitizer asks this at exit, before its leak check. That check stops the process's
/// threads with ptrace, which fails when a tracer already holds the process: under strace (the
/// fault and crash tests inject system-call errors and SIGKILLs with it, also into agents that
/// sshd starts and into running processes it attaches to) LSan would end every run with a
/// "fatal error" report and exit code 99. So the check is skipped while a tracer is attached
/// (TracerPid in /proc/self/status is not 0), and only then. Plain system calls: this runs at
/// exit, inside the runtime.
int __lsan_is_turned_off()
{
  char buf[2048];
  const int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) {
    return 0;
  }
  buf[n] = '\0';
  const char* p = std::strstr(buf, "TracerPid:");
  if (p == nullptr) {
    return 0;
  }
  p += std::strlen("TracerPid:");
  while (*p == ' ' || *p == '\t') {
    ++p;
  }
  return *p != '0' ? 1 : 0;
}

const char* __asan_default_options()
{
  return "halt_on_error=1:abort_on_error=0:exitcode=99:detect_leaks=1:"
         "check_initialization_order=1:strict_init_order=1:" CLSYNC_SANITIZER_LOG;
}

const char* __lsan_default_options()
{
  return "exitcode=99:suppressions=" CLSYNC_SANITIZER_SUPP_DIR "/lsan.supp:"
         "print_suppressions=0:" CLSYNC_SANITIZER_LOG;
}

const char* __ubsan_default_options()
{
  return "halt_on_error=1:print_stacktrace=1:exitcode=99:" CLSYNC_SANITIZER_LOG;
}

const char* __tsan_default_options()
{
  return "halt_on_error=1:exitcode=99:second_deadlock_stack=1:"
         "suppressions=" CLSYNC_SANITIZER_SUPP_DIR "/tsan.supp:" CLSYNC_SANITIZER_LOG;
}
}
