// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/hooks.hpp"

#include "core/error.hpp"
#include "core/replica_planner.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
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

} // namespace

int run_hook(const std::string& command, const std::map<std::string, std::string>& env)
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
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw Error(ExitCode::failed, "cannot run hook '" + command + "': " + std::strerror(rc));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return 127;
    }
  }
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return 1;
}

void run_pre_hook(const std::string& command, const HookRun& run)
{
  if (command.empty()) {
    return;
  }
  int rc = run_hook(command, base_env(run));
  if (rc != 0) {
    throw Error(ExitCode::failed,
                "--pre-hook '" + command + "' exited with status " + std::to_string(rc) +
                    "; nothing was changed",
                "fix the hook or run without it");
  }
}

int run_post_hook(const std::string& command, const HookRun& run, const std::string& result)
{
  if (command.empty()) {
    return 0;
  }
  auto env = base_env(run);
  env["CLSYNC_RESULT"] = result;
  return run_hook(command, env);
}

int run_on_move_hook(const std::string& command,
                     const HookRun& run,
                     const Move& move,
                     const std::string& task_id)
{
  if (command.empty()) {
    return 0;
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
  return run_hook(command, env);
}

} // namespace clsync::core
