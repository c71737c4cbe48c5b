// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#include "core/cluster/topology.hpp"

#include "core/error.hpp"
#include "core/cluster/topology_yaml.hpp"
#include "core/units.hpp"

#include <yaml-cpp/depthguard.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace clsync::core {

namespace {

using yaml::Field;
using Fields = std::map<std::string, Field>;

const std::vector<std::string> k_top_keys{"cluster",  "replication", "ssh",      "nodes",
                                          "databases", "transfer",   "direct"};
const std::vector<std::string> k_direct_keys{"identity", "known_hosts", "host",
                                             "port",     "user",        "agent_command"};
const std::vector<std::string> k_ssh_keys{"user",
                                          "port",
                                          "identity",
                                          "known_hosts",
                                          "host_key_policy",
                                          "agent_command",
                                          "connect_timeout",
                                          "io_timeout",
                                          "agent_persist"};
const std::vector<std::string> k_node_own_keys{"name", "host",     "volumes", "zone",
                                               "weight", "transfer", "direct"};
const std::vector<std::string> k_database_keys{"levels", "replication"};

bool is_name(std::string_view s, bool allow_dot = true)
{
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || (allow_dot && c == '.');
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::string home_dir()
{
  if (const char* h = std::getenv("HOME"); h && *h) {
    return h;
  }
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) {
    return pw->pw_dir;
  }
  return "/";
}

std::string expand_home(const std::string& path)
{
  if (path == "~") {
    return home_dir();
  }
  if (path.rfind("~/", 0) == 0) {
    return home_dir() + path.substr(1);
  }
  return path;
}

std::vector<std::string> node_keys()
{
  std::vector<std::string> keys = k_node_own_keys;
  keys.insert(keys.end(), k_ssh_keys.begin(), k_ssh_keys.end());
  return keys;
}

int timeout_seconds(const yaml::Reader& r, const Field& f, const std::string& name)
{
  if (!f.value.IsScalar() || f.value.Scalar().empty()) {
    r.fail(f.mark(), name + ": expected seconds (e.g. 30 or 2m), got " + yaml::describe(f.value));
  }
  long long s = 0;
  try {
    s = parse_duration(f.value.Scalar()).count();
  } catch (const UsageError&) {
    r.fail(f.mark(), name + ": expected seconds (e.g. 30 or 2m), got " + yaml::describe(f.value));
  }
  if (s < 1 || s > 86400) {
    r.fail(f.mark(), name + ": expected 1 second to 1 day, got " + yaml::describe(f.value));
  }
  return static_cast<int>(s);
}

/// A persistent agent's idle time: 0 (off) to 7 days.
int persist_seconds(const yaml::Reader& r, const Field& f, const std::string& name)
{
  const char* expected = ": expected 0 (off) or a duration up to 7d (e.g. 2h), got ";
  if (!f.value.IsScalar() || f.value.Scalar().empty()) {
    r.fail(f.mark(), name + expected + yaml::describe(f.value));
  }
  long long s = 0;
  try {
    s = parse_duration(f.value.Scalar()).count();
  } catch (const UsageError&) {
    r.fail(f.mark(), name + expected + yaml::describe(f.value));
  }
  if (s < 0 || s > 7 * 86400) {
    r.fail(f.mark(), name + expected + yaml::describe(f.value));
  }
  return static_cast<int>(s);
}

/// A login name ssh can only read as a name: letters, digits, '.', '_', '-' (not first), and a
/// trailing '$'. Anything else (`-oProxyCommand=…`, spaces, shell characters) would be read by
/// ssh or a shell as something else.
bool safe_user(const std::string& u)
{
  if (u.empty() || u.front() == '-' || u.size() > 64) {
    return false;
  }
  for (std::size_t i = 0; i < u.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(u[i]);
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-' || (c == '$' && i + 1 == u.size()))) {
      return false;
    }
  }
  return true;
}

/// Applies the ssh keys present in `fields` over `ssh`; other keys are ignored.
void apply_ssh(const yaml::Reader& r, const Fields& fields, SshSettings& ssh)
{
  for (const auto& [key, f] : fields) {
    if (key == "user") {
      ssh.user = r.text(f, key);
      if (!safe_user(ssh.user)) {
        r.fail(f.mark(), "user: '" + ssh.user +
                             "' is not a login name; expected letters, digits, '.', '_' and '-' "
                             "(not first)");
      }
    } else if (key == "port") {
      ssh.port = static_cast<int>(r.integer(f, key, 1, 65535, "a port number from 1 to 65535"));
    } else if (key == "identity") {
      ssh.identity = expand_home(r.text(f, key));
    } else if (key == "known_hosts") {
      ssh.known_hosts = expand_home(r.text(f, key));
    } else if (key == "host_key_policy") {
      const std::string v = f.value.IsScalar() ? f.value.Scalar() : std::string();
      if (v == "strict") {
        ssh.host_key_policy = HostKeyPolicy::strict;
      } else if (v == "accept-new") {
        ssh.host_key_policy = HostKeyPolicy::accept_new;
      } else {
        std::string msg =
            "host_key_policy: expected strict or accept-new, got " + yaml::describe(f.value);
        if (v == "off" || v == "no" || v == "false" || v == "none" || v == "insecure") {
          msg += " (checking host keys can never be turned off)";
        }
        r.fail(f.mark(), msg);
      }
    } else if (key == "agent_command") {
      ssh.agent_command = r.text(f, key);
    } else if (key == "connect_timeout") {
      ssh.connect_timeout_s = timeout_seconds(r, f, key);
    } else if (key == "io_timeout") {
      ssh.io_timeout_s = timeout_seconds(r, f, key);
    } else if (key == "agent_persist") {
      ssh.agent_persist_s = persist_seconds(r, f, key);
    }
  }
}

/// A host name or address as ssh can only read it as one (no user, no option, no shell).
void check_host_text(const yaml::Reader& r, const Field& f, const std::string& name,
                     const std::string& host)
{
  if (host.front() == '-') {
    // ssh would read it as an option (`-oProxyCommand=…`).
    r.fail(f.mark(), name + ": '" + host + "' starts with '-'; expected a host name or address");
  }
  for (char c : host) {
    if (c == '@') {
      r.fail(f.mark(), name + ": '" + host +
                           "' holds a user; expected only the host, with the user in 'user:'");
    }
    // A host name, an IPv4 address, or an IPv6 one (with ':', '[', ']' and a '%' zone): any
    // other character (whitespace, shell characters, '/') has no business in a host.
    const unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' ||
          c == ']' || c == '%')) {
      r.fail(f.mark(), name + ": '" + host + "' is not a host name or address");
    }
  }
}

TransferMode transfer_mode(const yaml::Reader& r, const Field& f)
{
  const std::string v = f.value.IsScalar() ? f.value.Scalar() : std::string();
  if (v == "relay") {
    return TransferMode::relay;
  }
  if (v == "direct") {
    return TransferMode::direct;
  }
  r.fail(f.mark(), "transfer: expected relay or direct, got " + yaml::describe(f.value));
}

/// A file on the node (not on this machine: nothing is expanded or checked here) that the
/// node's ssh client reads as it is: absolute or under '~/', without whitespace, quotes, '%'
/// (ssh's tokens) or control characters.
std::string node_side_path(const yaml::Reader& r, const Field& f, const std::string& name)
{
  const std::string p = r.text(f, name);
  if (p.front() != '/' && p.rfind("~/", 0) != 0) {
    r.fail(f.mark(), "direct: " + name + ": '" + p +
                         "' is not an absolute path on the node (or one under ~/)");
  }
  for (char c : p) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ' || c == '%' || c == '"' || c == '\'' || c == '\\') {
      r.fail(f.mark(), "direct: " + name + ": '" + p +
                           "' holds whitespace, a quote, '%' or a control character");
    }
  }
  return p;
}

/// Applies a `direct:` mapping over `d`; `where` names it ("in direct", "in node 'x' direct").
void apply_direct(const yaml::Reader& r, const Field& block, const std::string& where,
                  DirectSettings& d)
{
  const Fields fields = r.fields(block.value, block.key.Mark(), where,
                                 "a mapping of direct-transfer settings (identity, known_hosts, "
                                 "host, port, user, agent_command)",
                                 k_direct_keys);
  for (const auto& [key, f] : fields) {
    if (key == "identity") {
      d.identity = node_side_path(r, f, key);
    } else if (key == "known_hosts") {
      d.known_hosts = node_side_path(r, f, key);
    } else if (key == "host") {
      d.host = r.text(f, key);
      check_host_text(r, f, "direct: host", d.host);
    } else if (key == "port") {
      d.port = static_cast<int>(r.integer(f, key, 1, 65535, "a port number from 1 to 65535"));
    } else if (key == "user") {
      d.user = r.text(f, key);
      if (!safe_user(d.user)) {
        r.fail(f.mark(), "direct: user: '" + d.user +
                             "' is not a login name; expected letters, digits, '.', '_' and '-' "
                             "(not first)");
      }
    } else if (key == "agent_command") {
      d.agent_command = r.text(f, key);
    }
  }
}

/// A volume as written, made absolute-normalised: "/a//b/./c/" is "/a/b/c".
std::string normalise_volume(const yaml::Reader& r, const YAML::Node& item, const std::string& v)
{
  if (v.front() != '/') {
    r.fail(item.Mark(), "volume '" + v + "' is a relative path; expected an absolute path");
  }
  std::string n = std::filesystem::path(v).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') {
    n.pop_back();
  }
  if (n == "/") {
    r.fail(item.Mark(), "volume '" + v +
                            "' is the root directory; expected the directory that "
                            "holds the chunks, e.g. /ssd/ssd0/chunkData");
  }
  return n;
}

bool inside(const std::string& inner, const std::string& outer)
{
  return inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
         inner[outer.size()] == '/';
}

/// A volume already accepted, for the duplicate and nesting checks.
struct SeenVolume {
  std::string path;
  std::string node;
  std::string host;
  int line;
};

void check_volume(const yaml::Reader& r,
                  const YAML::Node& item,
                  const std::string& path,
                  const NodeSpec& node,
                  const std::vector<SeenVolume>& seen)
{
  for (const auto& s : seen) {
    // Volumes of nodes on other hosts are other machines' directories; "local" nodes and nodes
    // sharing a host share one filesystem tree.
    if (s.host != node.host) {
      continue;
    }
    const std::string where =
        s.node == node.name
            ? "line " + std::to_string(s.line)
            : "node '" + s.node + "' on the same host, line " + std::to_string(s.line);
    const std::string orig = item.Scalar();
    if (s.path == path) {
      r.fail(item.Mark(), "volume '" + orig + "' is the same directory as '" + s.path + "' (" +
                              where + "); expected each volume once");
    }
    if (inside(path, s.path) || inside(s.path, path)) {
      r.fail(item.Mark(), "volume '" + orig + "' and '" + s.path + "' (" + where +
                              ") are nested; expected volumes that do not contain each other");
    }
  }
}

NodeSpec parse_node(const yaml::Reader& r,
                    const YAML::Node& n,
                    const YAML::Mark& list_mark,
                    const SshSettings& defaults,
                    const Topology& topo_defaults,
                    const std::vector<NodeSpec>& earlier,
                    std::vector<SeenVolume>& seen)
{
  NodeSpec node;
  node.line = n.Mark().is_null() ? 0 : n.Mark().line + 1;
  // The name first, so that later messages can say which node.
  std::string where = "in node " + std::to_string(earlier.size() + 1);
  if (n.IsMap() && n["name"] && n["name"].IsScalar() && is_name(n["name"].Scalar())) {
    where = "in node '" + n["name"].Scalar() + "'";
  }
  if (n.IsMap()) {
    for (const auto& kv : n) {
      if (kv.first.IsScalar() && kv.first.Scalar() == "ssh") {
        // A natural guess that would otherwise get a bare "unknown key".
        r.fail(kv.first.Mark(), "unknown key 'ssh' " + where +
                                    "; override ssh settings (user, port, identity, …) directly "
                                    "in the node, e.g. port: 2222");
      }
    }
  }
  const Fields f =
      r.fields(n, list_mark, where, "a mapping with name, host and volumes", node_keys());
  auto need = [&](const char* key, const char* expected) -> const Field& {
    auto it = f.find(key);
    if (it == f.end()) {
      r.fail(n.Mark(), "missing '" + std::string(key) + "' " + where + "; expected " + expected);
    }
    return it->second;
  };
  const Field& name = need("name", "a node name of letters, digits, '.', '_' and '-'");
  node.name = r.text(name, "name");
  if (!is_name(node.name)) {
    r.fail(name.mark(),
           "name: '" + node.name +
               "' is not a valid node name; expected letters, digits, '.', '_' and '-'");
  }
  for (const auto& e : earlier) {
    if (e.name == node.name) {
      r.fail(name.mark(), "duplicate node name '" + node.name + "' (first on line " +
                              std::to_string(e.line) + "); expected unique node names");
    }
  }
  const Field& host = need("host", "a host name or address, or 'local' for this machine");
  if (!host.value.IsScalar() || host.value.Scalar().empty()) {
    r.fail(host.mark(), "host: expected a host name or address, or 'local' for this machine, got " +
                            yaml::describe(host.value));
  }
  node.host = host.value.Scalar();
  check_host_text(r, host, "host", node.host);
  node.ssh = defaults;
  apply_ssh(r, f, node.ssh);
  node.transfer = topo_defaults.transfer;
  node.direct = topo_defaults.direct;
  if (auto it = f.find("transfer"); it != f.end()) {
    node.transfer = transfer_mode(r, it->second);
  }
  if (auto it = f.find("direct"); it != f.end()) {
    apply_direct(r, it->second, where + " direct", node.direct);
  }

  const Field& vols = need("volumes", "a list of absolute directories, e.g. [/ssd/ssd0/chunkData]");
  std::vector<YAML::Node> items;
  const auto raw = r.strings(vols, "volumes", "a list of absolute directories", &items);
  if (raw.empty()) {
    r.fail(vols.mark(), "volumes: the list is empty; expected at least one absolute directory");
  }
  for (std::size_t i = 0; i < raw.size(); ++i) {
    std::string path = normalise_volume(r, items[i], raw[i]);
    check_volume(r, items[i], path, node, seen);
    seen.push_back({path, node.name, node.host, items[i].Mark().line + 1});
    node.volumes.push_back(std::move(path));
  }
  if (auto it = f.find("zone"); it != f.end()) {
    node.zone = r.text(it->second, "zone");
  }
  if (auto it = f.find("weight"); it != f.end()) {
    const double w = r.number(it->second, "weight");
    if (w <= 0) {
      r.fail(it->second.mark(),
             "weight: expected a number greater than 0, got " + yaml::describe(it->second.value));
    }
    node.weight = w;
  }
  return node;
}

std::string range_text(std::size_t nodes)
{
  return nodes == 1 ? std::string("1 (the file has 1 node)")
                    : "1 to " + std::to_string(nodes) + " (the number of nodes)";
}

DatabaseSpec parse_database(const yaml::Reader& r, const Field& entry, std::size_t node_count)
{
  DatabaseSpec db;
  db.name = entry.key.Scalar();
  if (!is_name(db.name) || db.name == "." || db.name == ".." || db.name.rfind(".clsync", 0) == 0) {
    r.fail(entry.key.Mark(), "'" + db.name +
                                 "' is not a valid database name; expected letters, "
                                 "digits, '.', '_' and '-' (not '.', '..' or '.clsync…')");
  }
  const std::string where = "in database '" + db.name + "'";
  const Fields f =
      r.fields(entry.value, entry.key.Mark(), where,
               "a mapping with 'levels', e.g. {levels: [date, hash]}", k_database_keys);
  auto levels = f.find("levels");
  if (levels == f.end()) {
    r.fail(entry.key.Mark(), "missing 'levels' " + where +
                                 "; expected the directory levels between the database and its "
                                 "tables, e.g. levels: [date, hash] ([] for none)");
  }
  std::vector<YAML::Node> items;
  if (levels->second.value.IsSequence()) {
    db.levels = r.strings(levels->second, "levels", "a list of level names", &items);
  } else {
    r.fail(levels->second.mark(), "levels: expected a list of level names, e.g. [date, hash], "
                                  "got " +
                                      yaml::describe(levels->second.value));
  }
  for (std::size_t i = 0; i < db.levels.size(); ++i) {
    if (!is_name(db.levels[i], false)) {
      r.fail(items[i].Mark(), "levels: '" + db.levels[i] +
                                  "' is not a valid level name; expected letters, digits, '_' "
                                  "and '-'");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (db.levels[j] == db.levels[i]) {
        r.fail(items[i].Mark(), "levels: '" + db.levels[i] + "' appears twice " + where);
      }
    }
  }
  if (auto it = f.find("replication"); it != f.end()) {
    db.replication =
        static_cast<int>(r.integer(it->second, "replication", 1, static_cast<long long>(node_count),
                                   "an integer from " + range_text(node_count)));
  }
  return db;
}

} // namespace

int Topology::replication_for(std::string_view db) const
{
  if (const DatabaseSpec* d = find_database(db); d && d->replication) {
    return *d->replication;
  }
  return replication;
}

const NodeSpec* Topology::find_node(std::string_view name) const
{
  for (const auto& n : nodes) {
    if (n.name == name) {
      return &n;
    }
  }
  return nullptr;
}

const DatabaseSpec* Topology::find_database(std::string_view name) const
{
  for (const auto& d : databases) {
    if (d.name == name) {
      return &d;
    }
  }
  return nullptr;
}

Topology parse_topology(std::string_view yaml_text, const std::string& file)
{
  const yaml::Reader r(file);
  const YAML::Mark start; // 1:1
  yaml::check_yaml_limits(r, yaml_text);
  const yaml::Documents docs = yaml::load_documents(r, std::string(yaml_text));
  if (!docs.first.IsDefined() || docs.first.IsNull()) {
    r.fail(start, "the file is empty; expected a topology with cluster, replication and nodes");
  }
  if (docs.second) {
    r.fail(*docs.second, "a second YAML document; expected one topology per file");
  }
  const YAML::Node& root = docs.first;
  const Fields top = r.fields(root, start, "at the top level",
                              "a mapping with cluster, replication and nodes", k_top_keys);
  auto need = [&](const char* key, const char* expected) -> const Field& {
    auto it = top.find(key);
    if (it == top.end()) {
      r.fail(root.Mark(), std::string("missing '") + key + "'; expected " + expected);
    }
    return it->second;
  };

  Topology t;
  t.file = file;
  const Field& cluster = need("cluster", "the cluster's name, e.g. cluster: prod-a");
  t.cluster = r.text(cluster, "cluster");
  if (!is_name(t.cluster)) {
    r.fail(cluster.mark(), "cluster: '" + t.cluster +
                               "' is not a valid name; expected letters, digits, '.', '_' and '-'");
  }
  const Field& replication = need("replication", "the number of replicas of each chunk, e.g. "
                                                 "replication: 2");
  const long long wanted =
      r.integer(replication, "replication", 1, 1000000, "a whole number of replicas (at least 1)");
  if (auto it = top.find("ssh"); it != top.end()) {
    const Fields ssh = r.fields(it->second.value, it->second.key.Mark(), "in ssh",
                                "a mapping of ssh settings", k_ssh_keys);
    apply_ssh(r, ssh, t.ssh);
  }
  if (auto it = top.find("transfer"); it != top.end()) {
    t.transfer = transfer_mode(r, it->second);
  }
  if (auto it = top.find("direct"); it != top.end()) {
    apply_direct(r, it->second, "in direct", t.direct);
  }
  const Field& nodes = need("nodes", "a list of nodes, each with name, host and volumes");
  if (!nodes.value.IsSequence() || nodes.value.size() == 0) {
    r.fail(nodes.mark(), "nodes: expected a list of at least one node with name, host and "
                         "volumes, got " +
                             (nodes.value.IsSequence() ? std::string("an empty list")
                                                       : yaml::describe(nodes.value)));
  }
  std::vector<SeenVolume> seen;
  for (const auto& n : nodes.value) {
    t.nodes.push_back(parse_node(r, n, nodes.mark(), t.ssh, t, t.nodes, seen));
  }
  if (static_cast<std::size_t>(wanted) > t.nodes.size()) {
    r.fail(replication.mark(), "replication: " + std::to_string(wanted) + " is more than the " +
                                   std::to_string(t.nodes.size()) + " node(s); expected " +
                                   range_text(t.nodes.size()));
  }
  t.replication = static_cast<int>(wanted);
  if (auto it = top.find("databases"); it != top.end() && !it->second.value.IsNull()) {
    const Fields dbs =
        r.fields(it->second.value, it->second.key.Mark(), "in databases",
                 "a mapping of database names, e.g. Level1: {levels: [date, hash]}", {});
    // In file order, not the map's sorted order.
    for (const auto& d : it->second.value) {
      t.databases.push_back(parse_database(r, dbs.at(d.first.Scalar()), t.nodes.size()));
    }
  }
  return t;
}

Topology load_topology(const std::filesystem::path& file)
{
  const std::string name = file.string();
  auto cannot = [&](const std::string& why) -> TopologyError {
    return TopologyError(name + ": cannot read: " + why,
                         "pass the cluster's topology file with -c FILE");
  };
  // O_NONBLOCK: a FIFO nobody writes to would block the open forever; reads block again
  // below, so a pipe (`-c <(…)`) is read to its end and a FIFO without a writer reads as empty.
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw cannot(std::strerror(errno));
  }
  (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    const int err = S_ISDIR(st.st_mode) ? EISDIR : errno;
    ::close(fd);
    throw cannot(std::strerror(err));
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw cannot(std::strerror(err));
    }
    if (n == 0) {
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > yaml::k_max_topology_bytes) {
      ::close(fd);
      throw cannot("larger than 1 MiB, which no topology file is (1,000 nodes take 200 KiB)");
    }
  }
  ::close(fd);
  return parse_topology(text, name);
}

} // namespace clsync::core
