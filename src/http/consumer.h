#pragma once
// HTTP consumers: members of consumer groups kept by the broker on behalf of clients
// that poll over HTTP (Riptide's /v1 API and the REST Proxy v2 consumer instances).
//
// A consumer_instance is a full group member, speaking the "consumer" protocol with the
// range assignor, so it shares a group with Kafka consumers: the partitions are split
// between all members and the committed offsets are the same. It lives on the shard
// that owns its group (broker::group_shard) and is touched only there: routes hop to it.
// A background loop joins, syncs, heartbeats and rejoins on a rebalance; an instance no
// one polls for its instance timeout leaves the group and is forgotten.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/broker.h"
#include "broker/consumer_protocol.h"
#include "broker/records.h"
#include "http/api.h"
#include "http/reader.h"
#include "http/record_json.h"

namespace http {

struct consumer_settings {
  std::string group;
  std::string name;
  format fmt = format::json;
  bool reset_earliest = false;  // where a partition without a committed offset starts
  bool auto_commit = true;      // commit what earlier polls returned at each poll and close
  int32_t session_timeout_ms = 30000;
  std::chrono::milliseconds instance_timeout{300000};
};

struct consumer_records {
  broker::topic_partition tp;
  std::vector<broker::record> records;
};

struct poll_result {
  std::error_code error;
  bool rebalancing = false;  // no assignment yet (joining or rebalancing)
  std::vector<consumer_records> parts;
};

struct commit_offset {
  broker::topic_partition tp;
  int64_t offset;  // the next offset to read
};

class consumer_instance : public std::enable_shared_from_this<consumer_instance> {
 public:
  consumer_instance(broker::broker& b, broker::request_identity who, consumer_settings s);
  ~consumer_instance();

  const consumer_settings& settings() const { return settings_; }
  // Starts the background loop (join, sync, heartbeat, rejoin, expiry) on `ex`: the
  // group's shard.
  void start(const net::asio::any_io_executor& ex);
  // The loop itself (start() runs it).
  net::task<void> run();
  // Replaces the subscription and (re)joins the group in the background.
  void subscribe(std::vector<std::string> topics);
  const std::vector<std::string>& subscription() const { return topics_; }
  const broker::partition_assignment& assignment() const { return assignment_; }
  const std::map<broker::topic_partition, int64_t>& positions() const { return positions_; }
  const std::string& member_id() const { return member_id_; }
  int32_t generation() const { return generation_; }

  // Records of the assigned partitions from their positions, which move past them.
  net::task<poll_result> poll(size_t max_records, size_t max_bytes, std::chrono::milliseconds wait);
  // Commits `offsets`, or every position when nullopt.
  net::task<std::error_code> commit(std::optional<std::vector<commit_offset>> offsets);
  // Moves a position (seek); errc::invalid_request for a partition not assigned.
  std::error_code seek(const broker::topic_partition& tp, int64_t offset);
  // Leaves the group (committing first under auto-commit).
  net::task<void> close();
  // Stops at once, without leaving the group (the server is stopping).
  void stop();
  bool closed() const { return closed_; }
  bool idle_past_timeout(std::chrono::steady_clock::time_point now) const {
    return now - last_used_ > settings_.instance_timeout;
  }
  void touch() { last_used_ = std::chrono::steady_clock::now(); }
  bool polling() const { return polling_; }
  void set_polling(bool on) { polling_ = on; }

 private:
  net::task<bool> join_and_sync();
  net::task<void> load_positions();
  net::task<void> commit_positions_if_changed();
  net::task<void> sleep(std::chrono::milliseconds d);

  broker::broker& broker_;
  broker::request_identity who_;
  consumer_settings settings_;
  std::vector<std::string> topics_;
  std::string member_id_;
  int32_t generation_ = -1;
  bool rejoin_ = false;  // the subscription changed: join again
  bool closed_ = false;
  bool polling_ = false;
  bool assigned_ = false;  // the current generation's assignment and positions are set
  broker::partition_assignment assignment_;
  std::map<broker::topic_partition, int64_t> positions_;
  std::map<broker::topic_partition, int64_t> committed_;
  std::chrono::steady_clock::time_point last_used_;
  std::shared_ptr<wakeup> timer_;          // the loop's sleeps
  std::shared_ptr<wakeup> assigned_wake_;  // polls waiting for an assignment
};

// The instances of the calling shard (the shard of each instance's group).
class consumer_registry {
 public:
  static consumer_registry& local();
  std::shared_ptr<consumer_instance> find(const std::string& group, const std::string& name);
  // False when `max` instances exist over all shards.
  bool add(std::shared_ptr<consumer_instance> c, size_t max);
  void remove(const std::string& group, const std::string& name);
  // Stops and forgets every instance (the server is stopping).
  void shutdown();

 private:
  std::map<std::pair<std::string, std::string>, std::shared_ptr<consumer_instance>> instances_;
};

}  // namespace http

namespace http {

// What the routes do with consumers, each on the group's shard: hop there with
// shard_set::invoke_on(broker.group_shard(group), ...). `bad` is the answer when the
// consumer does not exist (404) or the call is refused.
struct consumer_view {
  std::optional<response> bad;
  std::string member_id;
  int32_t generation = -1;
  bool assigned = false;
  std::vector<std::string> topics;
  std::vector<std::pair<broker::topic_partition, int64_t>> positions;
  format fmt = format::json;
};
// Partitions in a request body: [{"topic", "partition", "offset"}] into `out` (without
// offsets when `with_offset` is false: each gets `fill`); otherwise the 400 naming the
// element of `field` that is wrong.
std::optional<response> parse_commit_offsets(const boost::json::value* v, std::string_view field,
                                             bool with_offset, int64_t fill,
                                             std::vector<commit_offset>& out);

net::task<consumer_view> create_consumer(broker::broker& b, broker::request_identity who,
                                         consumer_settings s,
                                         std::optional<std::vector<std::string>> topics,
                                         size_t max_consumers);
net::task<consumer_view> describe_consumer(std::string group, std::string name);
net::task<consumer_view> subscribe_consumer(std::string group, std::string name,
                                            std::vector<std::string> topics);
struct consumer_poll {
  std::optional<response> bad;
  poll_result result;
  format fmt = format::json;
};
net::task<consumer_poll> poll_consumer(std::string group, std::string name, size_t max_records,
                                       size_t max_bytes, std::chrono::milliseconds wait);
// Commits `offsets` (next offsets to read), or every position when nullopt.
net::task<consumer_view> commit_consumer(std::string group, std::string name,
                                         std::optional<std::vector<commit_offset>> offsets);
// Moves positions: each to its offset, or (offset -1) the log start, (-2) the end.
net::task<consumer_view> seek_consumer(broker::broker& b, broker::request_identity who,
                                       std::string group, std::string name,
                                       std::vector<commit_offset> to);
net::task<consumer_view> delete_consumer(std::string group, std::string name);

}  // namespace http
