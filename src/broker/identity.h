#pragma once
// The identity written into a data directory when it is first used: the cluster id
// (made once, shown to clients in Metadata and DescribeCluster) and the node id of the
// broker that owns the directory. A broker refuses a directory that names another node,
// and says loudly when it starts on a new, empty one (a data directory that vanished, or
// a wrong path, would otherwise look like a fresh start with nothing lost).

#include <cstdint>
#include <filesystem>
#include <string>

#include "base/result.h"

namespace broker {

inline constexpr const char* identity_file = "identity";

struct data_dir_identity {
  std::string cluster_id;
  int32_t node_id = 0;
  bool created = false;  // written just now: the directory held no identity
};

// Reads the directory's identity, or writes a new one (taking over the cluster id of an
// older `cluster-id` file if there is one). errc::damaged_metadata, with a log line naming
// the file and the fix, when it is unreadable or names another node.
base::result<data_dir_identity> load_or_create_identity(const std::filesystem::path& data_dir,
                                                        int32_t node_id);

}  // namespace broker
