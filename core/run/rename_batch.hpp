// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include "core/run/task_steps.hpp"

#include <cstddef>
#include <string>
#include <vector>

/// Same-filesystem moves between two volumes of one node (rebalance-disks, a volume drain), run
/// as batches: one intent record naming every chunk of the batch at both volume roots, the
/// renames (Node::rename_chunks: each touched parent fsynced once, after all of them), then the
/// intents removed. A rename is atomic, so whatever is killed when, each chunk is at its source
/// or at its target, never both and never neither; recovery only removes a batch's intents.
/// Internal to core/run/executor.cpp.
namespace clsync::core {

/// Most chunks in one batch (CLSYNC_RENAME_BATCH overrides; 1 turns batching off).
inline constexpr std::size_t k_rename_batch = 128;

/// The plan cut into units of work, in plan order by each unit's first move: moves of one node
/// from one volume to another are batched (up to k_rename_batch) when the inventory shows both
/// volumes on one device and every move of their chunk in the plan is such a rename, at most
/// one per node; every other move is a unit of its own. No task outside a batch works on a
/// batched chunk, so batches need no per-chunk exclusion.
std::vector<std::vector<std::size_t>> rename_batch_units(const Plan& plan, const Inventory& inv);

/// Runs the moves `moves` of a rename batch (ids `ids`): results in the same order, each
/// finished, failed or rolled_back (a stop request before the renames); a chunk the node found
/// on another filesystem after all (a bind mount) is moved by run_task. Records every state in
/// the journal and as task events. Never throws.
std::vector<TaskResult> run_rename_batch(TaskEnv& env,
                                         const std::vector<const Move*>& moves,
                                         const std::vector<std::string>& ids);

/// The intent record of a rename batch (JSON: run, task, kind "rename_batch", source,
/// destination, created, chunks, tasks).
std::string rename_batch_intent(const std::string& run_id,
                                const std::string& batch_id,
                                const std::vector<const Move*>& moves,
                                const std::vector<std::string>& ids);

} // namespace clsync::core
