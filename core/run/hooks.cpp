// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/run/hooks.hpp"

#include "core/error.hpp"
#include "core/plan/replica_planner.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace clsync::core {
namespace {

std::map<std::string, std::string> base_env(const HookRun& run)
{
  return {{"CLSYNC_RUN_ID", run.run_id},
          {"CLSYNC_COMMAND", run.command},
          {"CLSYNC_CLUSTER", run.cluster}};
}

int status_of(int wait_status)
{
  if (WIFEXITED(wait_status)) {
    return WEXITSTATUS(wait_status);
  }
  if (WIFSIGNALED(wait_status)) {
    return 128 + WTERMSIG(wait_status);
  }
  return 1;
}

/// Waits for `pid` (the leader of its own process group) until it exits, its deadline passes or a
/// stop is requested; in the last two cases kills the whole group (the shell's children too).
HookOutcome wait_hook(pid_t pid, const HookLimits& run)
{
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  HookOutcome out;
  int status = 0;
  bool signalled = false;
  Clock::time_point killed_at{};
  for (;;) {
    pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      break;
    }
    if (got < 0 && errno != EINTR) {
      out.status = 127;
      return out;
    }
    const auto now = Clock::now();
    if (!signalled) {
      if (run.timeout.count() > 0 && now - start >= run.timeout) {
        out.timed_out = true;
      } else if (run.stopping && run.stopping()) {
        out.interrupted = true;
      }
      if (out.timed_out || out.interrupted) {
        ::kill(-pid, SIGTERM);
        signalled = true;
        killed_at = now;
      }
    } else if (now - killed_at >= std::chrono::seconds(1)) {
      ::kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (signalled) {
    // The shell is gone; what it started in its group must not outlive the deadline either.
    ::kill(-pid, SIGKILL);
  }
  out.status = status_of(status);
  return out;
}

} // namespace

std::string HookOutcome::describe() const
{
  if (timed_out) {
    return "was killed: it ran past --hook-timeout";
  }
  if (interrupted) {
    return "was killed: the run was interrupted";
  }
  return "exited with status " + std::to_string(status);
}

HookOutcome run_hook(const std::string& command,
                     const std::map<std::string, std::string>& env,
                     const HookLimits& limits)
{
  std::vector<std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string v = *e;
    auto eq = v.find('=');
    if (eq != std::string::npos && env.count(v.substr(0, eq))) {
      continue; // ours win over inherited ones
    }
    vars.push_back(std::move(v));
  }
  for (const auto& [k, v] : env) {
    vars.push_back(k + "=" + v);
  }
  std::vector<char*> envp;
  for (auto& v : vars) {
    envp.push_back(v.data());
  }
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // The hook's stdout goes to our stderr: stdout carries the one result document.
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // A process group of its own, so that a deadline or a stop kills everything the hook started;
  // SIGPIPE back to its default (clsync ignores it, and an ignored signal survives exec).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw Error(ExitCode::failed, "cannot run hook '" + command + "': " + std::strerror(rc));
  }
  return wait_hook(pid, limits);
}

void run_pre_hook(const std::string& command, const HookRun& run, const HookLimits& limits)
{
  if (command.empty()) {
    return;
  }
  const HookOutcome out = run_hook(command, base_env(run), limits);
  if (out.interrupted) {
    throw Interrupted("interrupted during --pre-hook '" + command + "'; nothing was changed");
  }
  if (!out.ok()) {
    throw Error(ExitCode::failed,
                "--pre-hook '" + command + "' " + out.describe() + "; nothing was changed",
                out.timed_out ? "make the hook finish sooner, or raise --hook-timeout"
                              : "fix the hook or run without it");
  }
}

HookOutcome run_post_hook(const std::string& command,
                          const HookRun& run,
                          const std::string& result,
                          const HookLimits& limits)
{
  if (command.empty()) {
    return {};
  }
  auto env = base_env(run);
  env["CLSYNC_RESULT"] = result;
  return run_hook(command, env, limits);
}

HookOutcome run_on_move_hook(const std::string& command,
                             const HookRun& run,
                             const Move& move,
                             const std::string& task_id,
                             const HookLimits& limits)
{
  if (command.empty()) {
    return {};
  }
  auto env = base_env(run);
  env["CLSYNC_CHUNK"] = move.chunk;
  env["CLSYNC_SRC_NODE"] = move.from.node;
  env["CLSYNC_SRC_VOLUME"] = move.from.volume;
  env["CLSYNC_DST_NODE"] = move.to.node;
  env["CLSYNC_DST_VOLUME"] = move.to.volume;
  env["CLSYNC_BYTES"] = std::to_string(move.bytes);
  env["CLSYNC_KIND"] = to_string(move.kind);
  env["CLSYNC_TASK_ID"] = task_id;
  return run_hook(command, env, limits);
}

} // namespace clsync::core
