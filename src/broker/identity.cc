#include "broker/identity.h"

#include <random>
#include <string_view>

#include "base/config.h"
#include "base/file.h"
#include "base/logging.h"
#include "broker/errc.h"

namespace broker {
namespace {

std::string new_cluster_id() {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device rd;
  std::string id;
  for (int i = 0; i < 22; ++i) id += alphabet[rd() % 64];
  return id;
}

// "key=value" lines.
std::optional<std::string> field(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == '=') {
      return std::string(line.substr(key.size() + 1));
    }
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return std::nullopt;
}

}  // namespace

base::result<data_dir_identity> load_or_create_identity(const std::filesystem::path& data_dir,
                                                        int32_t node_id) {
  const auto path = data_dir / identity_file;
  data_dir_identity id;
  if (auto text = base::read_whole_file(path)) {
    auto cluster = field(*text, "cluster.id");
    auto node = field(*text, "node.id");
    auto parsed = node ? base::parse_integer(*node) : std::nullopt;
    if (!cluster || cluster->empty() || !parsed) {
      base::logger("broker")->error(
          "{} is damaged (it needs cluster.id=... and node.id=... lines); restore it from a "
          "backup of this data directory, or remove it if this directory should start a new "
          "cluster",
          path.string());
      return errc::damaged_metadata;
    }
    if (*parsed != node_id) {
      base::logger("broker")->error(
          "{} says this data directory belongs to node {}, but this broker is node {}; point "
          "data_dir at this node's own directory",
          path.string(), *parsed, node_id);
      return errc::damaged_metadata;
    }
    id.cluster_id = *cluster;
    id.node_id = node_id;
    return id;
  }
  // An older data directory keeps the cluster id it already gave clients.
  if (auto old = base::read_whole_file(data_dir / "cluster-id"); old && old->size() > 1) {
    id.cluster_id = old->substr(0, old->find('\n'));
  } else {
    id.cluster_id = new_cluster_id();
  }
  id.node_id = node_id;
  id.created = true;
  const std::string text =
      "cluster.id=" + id.cluster_id + "\nnode.id=" + std::to_string(node_id) + "\n";
  RIPTIDE_TRY(base::write_file_atomically(
      path, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size())));
  return id;
}

}  // namespace broker
