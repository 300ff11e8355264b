#pragma once
// group: one consumer group under the classic rebalance protocol.
//
// States: Empty (no members; may hold committed offsets), PreparingRebalance (waiting
// for members to (re)join), CompletingRebalance (joined; waiting for the leader's
// assignment), Stable, and Dead (deleted). Member ids are issued here; the generation
// fences members of an older rebalance; group.instance.id makes a member static (its
// assignment survives a restart of its process without a rebalance).
//
// Pure state machine, no I/O and no clock of its own: the coordinator passes the time
// in, calls tick() periodically, and completes JoinGroup/SyncGroup waits through the
// callbacks given here (each is called exactly once). Lives on its coordinator's shard.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace broker {

enum class group_state { empty, preparing_rebalance, completing_rebalance, stable, dead };
std::string_view to_string(group_state s);

struct group_limits {
  int32_t min_session_timeout_ms = 6000;
  int32_t max_session_timeout_ms = 1800000;
  // The longest a rebalance waits for members to rejoin and sync, whatever rebalance
  // timeout (max.poll.interval.ms) a member asks for.
  int32_t max_rebalance_timeout_ms = 1800000;
  int64_t initial_rebalance_delay_ms = 3000;
  size_t max_members = 1000;
  size_t max_member_metadata_bytes = 1 << 20;
};

using protocol_list = std::vector<std::pair<std::string, std::vector<uint8_t>>>;

struct join_request {
  std::string group_id;
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;
  std::string protocol_type;
  protocol_list protocols;
  bool require_known_member_id = false;  // JoinGroup v4+: MEMBER_ID_REQUIRED first
};

struct joined_member {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::vector<uint8_t> metadata;
};

struct join_result {
  std::error_code error;
  int32_t generation = -1;
  std::string protocol_type;
  std::string protocol_name;
  std::string leader;
  std::string member_id;
  std::vector<joined_member> members;  // the leader's answer only

  static join_result failed(std::error_code ec) {
    join_result r;
    r.error = ec;
    return r;
  }
};

struct sync_request {
  std::string group_id;
  std::string member_id;
  std::optional<std::string> instance_id;
  int32_t generation = -1;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments;
};

struct sync_result {
  std::error_code error;
  std::string protocol_type;
  std::string protocol_name;
  std::vector<uint8_t> assignment;

  static sync_result failed(std::error_code ec) {
    sync_result r;
    r.error = ec;
    return r;
  }
};

struct member_description {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  std::vector<uint8_t> metadata;  // for the group's protocol
  std::vector<uint8_t> assignment;
};

class group {
 public:
  using join_callback = std::function<void(join_result)>;
  using sync_callback = std::function<void(sync_result)>;

  group(std::string id, const group_limits& limits) : id_(std::move(id)), limits_(&limits) {}
  ~group();

  void join(join_request r, int64_t now, join_callback done);
  void sync(sync_request r, int64_t now, sync_callback done);
  std::error_code heartbeat(const std::string& member_id,
                            const std::optional<std::string>& instance_id, int32_t generation,
                            int64_t now);
  std::error_code leave(const std::string& member_id, const std::optional<std::string>& instance_id,
                        int64_t now);
  // May a commit with these credentials change offsets? (generation -1 with no member
  // id: a commit from outside the group, allowed only while it is Empty.)
  std::error_code check_commit(const std::string& member_id,
                               const std::optional<std::string>& instance_id,
                               int32_t generation) const;
  // Session, rebalance and initial-delay timeouts.
  void tick(int64_t now);
  // Ends every wait with `ec` and drops the members (shutdown, deletion).
  void shut_down(std::error_code ec);

  const std::string& id() const { return id_; }
  group_state state() const { return state_; }
  int32_t generation() const { return generation_; }
  const std::string& protocol_type() const { return protocol_type_; }
  const std::string& protocol_name() const { return protocol_name_; }
  const std::string& leader() const { return leader_; }
  size_t member_count() const { return members_.size(); }
  // Never had a member and none is on its way: nothing worth keeping.
  bool unused() const {
    return state_ == group_state::empty && generation_ == 0 && members_.empty() &&
           pending_members_.empty();
  }
  std::vector<member_description> describe_members() const;
  // Since when the group has had no members (for offset expiry); -1 while it has some.
  int64_t empty_since() const { return state_ == group_state::empty ? empty_since_ : -1; }

 private:
  struct member {
    std::string id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    int32_t session_timeout_ms = 0;
    int32_t rebalance_timeout_ms = 0;
    std::string protocol_type;
    protocol_list protocols;
    std::vector<uint8_t> assignment;
    int64_t deadline = 0;  // session expiry
    join_callback awaiting_join;
    sync_callback awaiting_sync;
  };

  std::error_code check_join(const join_request& r, const member* self) const;
  std::set<std::string> common_protocols(const member* except) const;
  std::string select_protocol() const;
  const std::vector<uint8_t>* metadata_for(const member& m, const std::string& protocol) const;
  member& add_member(const join_request& r, std::string member_id, int64_t now);
  void update_member(member& m, const join_request& r, int64_t now);
  void remove_member(const std::string& member_id, std::error_code ec, int64_t now,
                     std::string_view why);
  void prepare_rebalance(int64_t now, bool initial = false);
  void maybe_complete_join(int64_t now);
  void complete_join(int64_t now);
  join_result current_join_answer(const member& m) const;
  void go_empty(int64_t now);
  std::string new_member_id(const std::string& client_id) const;
  int64_t max_rebalance_timeout() const;

  std::string id_;
  const group_limits* limits_;
  group_state state_ = group_state::empty;
  int32_t generation_ = 0;
  std::string protocol_type_;
  std::string protocol_name_;
  std::string leader_;
  std::map<std::string, member> members_;              // by member id
  std::map<std::string, std::string> static_members_;  // instance id -> member id
  std::map<std::string, int64_t> pending_members_;     // ids issued, not yet joined
  int64_t join_deadline_ = 0;                          // PreparingRebalance ends
  int64_t initial_delay_until_ = 0;                    // new group: wait for more members
  int64_t sync_deadline_ = 0;                          // CompletingRebalance ends
  int64_t empty_since_ = 0;
};

}  // namespace broker
