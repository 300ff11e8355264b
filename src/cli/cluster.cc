// riptide cluster info: brokers, controller, cluster id, topic and partition counts, and the
// API versions the first broker advertises.

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "cli/client.h"

namespace cli {
namespace {

struct cluster_options {
  common_options common;
};

struct api_range {
  int16_t key, min, max;
};

// Kafka API names by key, for display.
std::string api_name(int16_t key) {
  static constexpr std::array<const char*, 68> names{"Produce",
                                                     "Fetch",
                                                     "ListOffsets",
                                                     "Metadata",
                                                     "LeaderAndIsr",
                                                     "StopReplica",
                                                     "UpdateMetadata",
                                                     "ControlledShutdown",
                                                     "OffsetCommit",
                                                     "OffsetFetch",
                                                     "FindCoordinator",
                                                     "JoinGroup",
                                                     "Heartbeat",
                                                     "LeaveGroup",
                                                     "SyncGroup",
                                                     "DescribeGroups",
                                                     "ListGroups",
                                                     "SaslHandshake",
                                                     "ApiVersions",
                                                     "CreateTopics",
                                                     "DeleteTopics",
                                                     "DeleteRecords",
                                                     "InitProducerId",
                                                     "OffsetForLeaderEpoch",
                                                     "AddPartitionsToTxn",
                                                     "AddOffsetsToTxn",
                                                     "EndTxn",
                                                     "WriteTxnMarkers",
                                                     "TxnOffsetCommit",
                                                     "DescribeAcls",
                                                     "CreateAcls",
                                                     "DeleteAcls",
                                                     "DescribeConfigs",
                                                     "AlterConfigs",
                                                     "AlterReplicaLogDirs",
                                                     "DescribeLogDirs",
                                                     "SaslAuthenticate",
                                                     "CreatePartitions",
                                                     "CreateDelegationToken",
                                                     "RenewDelegationToken",
                                                     "ExpireDelegationToken",
                                                     "DescribeDelegationToken",
                                                     "DeleteGroups",
                                                     "ElectLeaders",
                                                     "IncrementalAlterConfigs",
                                                     "AlterPartitionReassignments",
                                                     "ListPartitionReassignments",
                                                     "OffsetDelete",
                                                     "DescribeClientQuotas",
                                                     "AlterClientQuotas",
                                                     "DescribeUserScramCredentials",
                                                     "AlterUserScramCredentials",
                                                     "Vote",
                                                     "BeginQuorumEpoch",
                                                     "EndQuorumEpoch",
                                                     "DescribeQuorum",
                                                     "AlterPartition",
                                                     "UpdateFeatures",
                                                     "Envelope",
                                                     "FetchSnapshot",
                                                     "DescribeCluster",
                                                     "DescribeProducers",
                                                     "BrokerRegistration",
                                                     "BrokerHeartbeat",
                                                     "UnregisterBroker",
                                                     "DescribeTransactions",
                                                     "ListTransactions",
                                                     "AllocateProducerIds"};
  if (key >= 0 && static_cast<size_t>(key) < names.size()) return names[static_cast<size_t>(key)];
  return "Unknown" + std::to_string(key);
}

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) close(fd);
  }
};

bool read_all(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t r = recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// ApiVersions v0 over a plain socket: librdkafka keeps what it learns to itself. Empty when
// the broker cannot be asked (the rest of `cluster info` does not depend on it).
std::vector<api_range> api_versions(const std::string& host, int port, int timeout_ms) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return {};
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
  fd_guard s{socket(res->ai_family, SOCK_STREAM, 0)};
  if (s.fd < 0) return {};
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(s.fd, res->ai_addr, res->ai_addrlen) != 0) return {};
  static constexpr char client_id[] = "riptide-cli";
  std::vector<uint8_t> req;
  const auto put16 = [&](int v) {
    req.push_back(static_cast<uint8_t>(v >> 8));
    req.push_back(static_cast<uint8_t>(v));
  };
  const auto put32 = [&](uint32_t v) {
    for (int shift : {24, 16, 8, 0}) req.push_back(static_cast<uint8_t>(v >> shift));
  };
  const size_t id_len = sizeof client_id - 1;
  put32(static_cast<uint32_t>(2 + 2 + 4 + 2 + id_len));
  put16(18);  // ApiVersions
  put16(0);
  put32(1);  // correlation id
  put16(static_cast<int>(id_len));
  req.insert(req.end(), client_id, client_id + id_len);
  if (send(s.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return {};
  }
  uint8_t hdr[4];
  if (!read_all(s.fd, hdr, 4)) return {};
  const uint32_t size =
      (uint32_t{hdr[0]} << 24) | (uint32_t{hdr[1]} << 16) | (uint32_t{hdr[2]} << 8) | hdr[3];
  if (size < 10 || size > (1u << 20)) return {};
  std::vector<uint8_t> body(size);
  if (!read_all(s.fd, body.data(), size)) return {};
  const auto get16 = [&](size_t at) {
    return static_cast<int16_t>((body[at] << 8) | body[at + 1]);
  };
  if (get16(4) != 0) return {};
  const uint32_t n =
      (uint32_t{body[6]} << 24) | (uint32_t{body[7]} << 16) | (uint32_t{body[8]} << 8) | body[9];
  if (n > (size - 10) / 6) return {};
  std::vector<api_range> out;
  for (uint32_t i = 0; i < n; ++i) {
    const size_t at = 10 + 6 * i;
    out.push_back({get16(at), get16(at + 2), get16(at + 4)});
  }
  return out;
}

void info(cluster_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  auto md = c.metadata(nullptr);
  char* id = rd_kafka_clusterid(c.get(), c.timeout_ms());
  const std::string cluster_id = id ? id : "";
  if (id) rd_kafka_mem_free(c.get(), id);
  const int32_t controller = rd_kafka_controllerid(c.get(), c.timeout_ms());
  std::vector<const rd_kafka_metadata_broker_t*> brokers;
  for (int i = 0; i < (*md)->broker_cnt; ++i) brokers.push_back(&(*md)->brokers[i]);
  std::sort(brokers.begin(), brokers.end(), [](auto* a, auto* b) { return a->id < b->id; });
  int partitions = 0;
  for (int i = 0; i < (*md)->topic_cnt; ++i) partitions += (*md)->topics[i].partition_cnt;
  std::vector<api_range> apis;
  if (!brokers.empty()) apis = api_versions(brokers[0]->host, brokers[0]->port, c.timeout_ms());

  if (o.common.json) {
    auto bs = json::array();
    for (const auto* b : brokers) {
      bs.item(json::object().num("id", b->id).str("host", b->host).num("port", b->port).done());
    }
    auto as = json::array();
    for (const auto& a : apis) {
      as.item(json::object()
                  .num("key", a.key)
                  .str("name", api_name(a.key))
                  .num("min_version", a.min)
                  .num("max_version", a.max)
                  .done());
    }
    std::puts(json::object()
                  .raw("cluster_id", cluster_id.empty() ? "null" : json_string(cluster_id))
                  .num("controller", controller)
                  .raw("brokers", bs.done())
                  .num("topics", (*md)->topic_cnt)
                  .num("partitions", partitions)
                  .raw("api_versions", as.done())
                  .done()
                  .c_str());
    return;
  }
  std::printf("Cluster id:  %s\nController:  %d\nTopics:      %d\nPartitions:  %d\n\n",
              cluster_id.empty() ? "-" : cluster_id.c_str(), controller, (*md)->topic_cnt,
              partitions);
  table bt({"BROKER", "HOST", "PORT"});
  for (const auto* b : brokers) bt.add({std::to_string(b->id), b->host, std::to_string(b->port)});
  bt.print();
  if (!apis.empty()) {
    std::printf("\nAPIs of broker %d:\n", brokers[0]->id);
    table at({"KEY", "API", "MIN", "MAX"});
    for (const auto& a : apis) {
      at.add(
          {std::to_string(a.key), api_name(a.key), std::to_string(a.min), std::to_string(a.max)});
    }
    at.print();
  }
}

}  // namespace

void declare_cluster(CLI::App& cmd, action& run) {
  cmd.require_subcommand(1);
  auto o = std::make_shared<cluster_options>();
  auto* i = cmd.add_subcommand(
      "info",
      "Show the cluster id, controller, brokers, topic and partition counts and the "
      "API versions the broker supports.");
  add_common_options(*i, o->common);
  on_run(*i, run, o->common, [o] { info(*o); });
}

}  // namespace cli
