// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/repo/verify_repo.hpp"

#include "core/exceptions.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

namespace clsync::core::repo {
namespace {

/// What the checked snapshots say of one object: the first chunk naming it (its manifest is
/// what a data check decodes against) and what every chunk recorded.
struct Named {
  std::string snapshot;
  const SnapshotChunk* chunk = nullptr;
};

std::vector<std::string> choose_snapshots(const Repository& repo, const VerifyRepoOptions& opts)
{
  auto ids = repo.list_snapshots();
  if (opts.snapshot.empty()) {
    return ids;
  }
  if (opts.snapshot == "latest") {
    if (ids.empty()) {
      throw Error(ExitCode::failed,
                  "repository " + repo.location().text + " has no snapshot to verify");
    }
    return {ids.back()};
  }
  if (std::find(ids.begin(), ids.end(), opts.snapshot) == ids.end()) {
    throw Error(ExitCode::failed, repo.describe_snapshot(opts.snapshot) + " does not exist",
                "'clsync snapshots " + repo.location().text + "' lists the snapshots");
  }
  return {opts.snapshot};
}

} // namespace

VerifyRepoResult verify_repository(const Repository& repo,
                                   const VerifyRepoOptions& opts,
                                   Events& events,
                                   const std::atomic<bool>* stop)
{
  VerifyRepoResult res;
  res.repository = repo.location().text;
  events.phase("checking snapshots");
  std::map<std::string, std::uint64_t> objects;
  for (auto& [hash, size] : repo.list_objects()) {
    objects.emplace(hash, size);
  }
  std::vector<Snapshot> snaps;
  for (const auto& id : choose_snapshots(repo, opts)) {
    try {
      snaps.push_back(repo.read_snapshot(id));
      ++res.snapshots_checked;
    } catch (const Error& e) {
      res.problems.push_back({id, {}, {}, e.what()});
    }
  }
  std::map<std::string, Named> named;
  for (const auto& s : snaps) {
    for (const auto& c : s.chunks) {
      ++res.chunks_checked;
      auto [it, first] = named.try_emplace(c.object, Named{s.id, &c});
      if (!first && (it->second.chunk->object_size != c.object_size ||
                     it->second.chunk->object_sha256 != c.object_sha256)) {
        res.problems.push_back({s.id, c.key, c.object,
                                "the snapshot records another size or object_sha256 for this "
                                "object than snapshot " + it->second.snapshot});
      }
      auto found = objects.find(c.object);
      if (found == objects.end()) {
        res.problems.push_back({s.id, c.key, c.object, "the object is missing"});
      } else if (found->second != c.object_size) {
        res.problems.push_back({s.id, c.key, c.object,
                                "the object has " + std::to_string(found->second) +
                                    " bytes, the snapshot says " + std::to_string(c.object_size)});
      }
    }
  }
  res.objects_checked = named.size();
  if (opts.snapshot.empty()) {
    for (const auto& [hash, size] : objects) {
      res.unreferenced_objects += named.count(hash) == 0 ? 1 : 0;
    }
  }

  if (opts.read_data || opts.read_subset_pct > 0) {
    std::vector<std::string> to_read;
    for (const auto& [hash, n] : named) {
      auto found = objects.find(hash);
      if (found != objects.end() && found->second == n.chunk->object_size) {
        to_read.push_back(hash);
      }
    }
    if (!opts.read_data) {
      std::mt19937_64 rng(std::random_device{}());
      std::shuffle(to_read.begin(), to_read.end(), rng);
      const double pct = std::min(100.0, opts.read_subset_pct);
      to_read.resize(static_cast<std::size_t>(
          std::ceil(static_cast<double>(to_read.size()) * pct / 100.0)));
      std::sort(to_read.begin(), to_read.end());
    }
    events.phase("reading objects");
    Progress p;
    p.tasks_total = to_read.size();
    for (const auto& hash : to_read) {
      p.bytes_total += objects[hash];
    }
    for (const auto& hash : to_read) {
      if (stop && stop->load()) {
        res.exit_code = ExitCode::interrupted;
        return res;
      }
      const Named& n = named[hash];
      try {
        auto check = repo.node().check_object(repo.root(), Repository::object_path(hash),
                                              n.chunk->manifest);
        if (!check.ok) {
          res.problems.push_back({n.snapshot, n.chunk->key, hash, check.error});
        } else if (check.object_sha256 != n.chunk->object_sha256) {
          res.problems.push_back({n.snapshot, n.chunk->key, hash,
                                  "the object's bytes hash to " + check.object_sha256 +
                                      ", the snapshot says " + n.chunk->object_sha256});
        }
        res.bytes_read += check.object_size;
      } catch (const std::exception& e) {
        res.problems.push_back({n.snapshot, n.chunk->key, hash, e.what()});
      }
      ++res.objects_read;
      ++p.tasks_done;
      p.bytes_done += objects[hash];
      events.progress(p);
    }
  }
  if (!res.problems.empty()) {
    res.exit_code = ExitCode::partial;
  }
  return res;
}

} // namespace clsync::core::repo
