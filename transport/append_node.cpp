// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
// Default bodies of the resumable-write operations for nodes that do not implement them.
#include "transport/node.hpp"
#include <algorithm>

namespace clsync::transport {

std::unique_ptr<AppendWriter>
Node::append_file(const std::string&, const std::string& relpath, const std::string&)
{
  throw TransportError(FailureKind::refused,
                       describe() + ": resumable writes (" + relpath +
                           ") are not supported by this node");
}

std::vector<DirEntry> Node::list_tree(const std::string& root, const std::string& relpath)
{
  std::vector<DirEntry> out;
  std::vector<std::string> pending{""};
  while (!pending.empty()) {
    const std::string prefix = std::move(pending.back());
    pending.pop_back();
    const std::string rel = relpath.empty() || relpath == "."
                                ? prefix
                                : (prefix.empty() ? relpath : relpath + "/" + prefix);
    for (auto& e : list_dir(root, rel)) {
      std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
      if (e.is_dir) {
        pending.push_back(std::move(path));
      } else {
        e.name = std::move(path);
        out.push_back(std::move(e));
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return out;
}

} // namespace clsync::transport
