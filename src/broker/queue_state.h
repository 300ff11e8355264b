#pragma once
// Queue subscriptions over a topic, as a state machine without I/O (the time is passed
// in): the model of Kafka's share groups (KIP-932). Any number of workers share every
// partition's records. A record handed out is leased to one worker for the queue's
// visibility timeout; ack finishes it, nack makes it available again (after an optional
// delay), extend renews the lease, reject dead-letters it. A lease that ends makes the
// record available again; a record handed out max_deliveries times and not acked is
// dead-lettered. Per partition at most max_in_flight records are handed out and not
// finished. With ordering by key, a key's next record is not handed out while one of
// its records is leased or waiting to be handed out again.
//
// Per partition the state is: `start` (every offset below is finished), `next` (the
// first offset never handed out) and a delivery for each record in between that was
// handed out. It is kept durable as one snapshot record per partition in the offsets
// topic (encode_* below), written before any answer that depends on it.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace broker {

enum class queue_ordering : uint8_t { none = 0, key = 1 };

// How long a record waits before it is handed out again after a lease ended or a nack
// without its own delay: not at all, a fixed time, or exponentially longer with each
// delivery (up to a bound, with jitter).
enum class queue_backoff : uint8_t { none = 0, fixed = 1, exponential = 2 };

// Push delivery (a webhook): records are POSTed to `url` instead of waiting for workers to
// receive them; the queue's leases, retries and dead letters apply as to any worker.
struct queue_webhook {
  std::string url;                  // http://host[:port]/path
  std::string secret;               // HMAC-SHA256 key of the signature header (empty: unsigned)
  int32_t batch_size = 1;           // records per request
  int32_t concurrency = 4;          // requests in flight at once
  int64_t timeout_ms = 5000;        // per request, connect to answer
  int32_t breaker_failures = 5;     // consecutive failures that open the circuit breaker
  int64_t breaker_open_ms = 10000;  // how long it stays open before a probe
  uint8_t format = 1;               // http::format of the bodies: 0 json, 1 text, 2 binary

  bool operator==(const queue_webhook&) const = default;
};

struct queue_definition {
  std::string name;
  std::string topic;
  std::string dead_letter_topic;
  int64_t visibility_timeout_ms = 30000;
  int32_t max_deliveries = 5;
  int32_t max_in_flight = 1000;  // per partition: handed out and not finished
  queue_ordering ordering = queue_ordering::none;
  bool from_earliest = true;           // where partitions start: their log start, or their end
  std::array<uint8_t, 16> topic_id{};  // the topic's id when the queue was made (or last reset)
  queue_backoff backoff = queue_backoff::none;
  int64_t backoff_ms = 1000;       // fixed: the wait; exponential: the first one
  int64_t backoff_max_ms = 60000;  // exponential: the longest
  int64_t created_ms = 0;
  std::optional<queue_webhook> webhook;

  bool operator==(const queue_definition&) const = default;
};

// The wait before a record handed out `deliveries` times is handed out again. Exponential:
// backoff_ms * 2^(deliveries - 1), at most backoff_max_ms, of which a random half is taken
// away ("equal jitter"), so that records failed together do not all come back together.
int64_t retry_delay_ms(const queue_definition& q, int32_t deliveries);

// dead_pending: decided for the dead-letter topic (rejected, or out of deliveries) and not
// written there yet; `until_ms` says when the next attempt is due.
enum class delivery_state : uint8_t {
  available = 0,
  leased = 1,
  acked = 2,
  dead = 3,
  dead_pending = 4
};

struct delivery {
  delivery_state state = delivery_state::available;
  int32_t deliveries = 0;  // times handed out
  int64_t until_ms = 0;    // leased: when the lease ends; available: not before (a delay)
  bool has_key = false;
  uint32_t key_hash = 0;  // of the record's key, for ordering by key
  std::string consumer;   // the worker holding (or last holding) the lease
  std::string last_error;
  int64_t timestamp_ms = -1;  // the record's own timestamp, once read (-1: not known)

  bool finished() const { return state == delivery_state::acked || state == delivery_state::dead; }
  bool operator==(const delivery&) const = default;
};

// Why a worker's ack, nack, extend or reject of one record was refused.
enum class settle_error : uint8_t {
  none = 0,
  not_delivered,  // the record was never handed out (or is finished and forgotten)
  not_leased,     // it is not leased now (available again, or finished)
  other_worker,   // another worker holds its lease
  lease_expired,  // the worker's lease ended; the record is available to others
};
std::string_view settle_error_name(settle_error e);

enum class settle_action : uint8_t { ack, nack, extend, reject };

struct queue_partition {
  int64_t start = -1;  // -1: not positioned yet (the first read positions it)
  int64_t next = -1;
  std::map<int64_t, delivery> tracked;  // offsets in [start, next) handed out

  bool operator==(const queue_partition&) const = default;

  // Leases that ended by `now`: their records become available (after the queue's retry
  // backoff), or, once handed out max_deliveries times, dead_pending. Returns how many.
  uint64_t expire(int64_t now, const queue_definition& q);
  // The dead_pending records whose attempt is due at `now`.
  std::vector<int64_t> dead_letters_due(int64_t now) const;
  // Whether a tracked record is available and due at `now`.
  bool due(int64_t offset, int64_t now) const;
  // Whether max_in_flight records are tracked: no record is read past `next` then.
  bool full(const queue_definition& q) const;
  // Tracks the record at `next` (which moves past it, to `offset` + 1) as available and
  // never handed out: one whose key's earlier records have to go first.
  void track(int64_t offset, bool has_key, uint32_t key_hash);
  // Hands out the record at `offset` (tracked already, or at `next` or after: then `next`
  // moves past it) to `consumer` until now + visibility timeout.
  void lease(int64_t offset, bool has_key, uint32_t key_hash, const std::string& consumer,
             int64_t now, const queue_definition& q);
  // A worker's decision on a leased record. `ms`: nack's delay (0: the queue's retry
  // backoff), extend's lease (0: the queue's visibility timeout). A reject, or a nack of a
  // record handed out max_deliveries times, makes it dead_pending: `*to_dead_letter` says so.
  settle_error settle(int64_t offset, const std::string& consumer, settle_action action,
                      int64_t now, int64_t ms, const std::string& error, const queue_definition& q,
                      bool* to_dead_letter);
  // A dead_pending record written to the dead-letter topic (or gone from its own).
  void dead(int64_t offset);
  // A dead_pending record whose write failed: tried again at `retry_at`.
  void dead_letter_failed(int64_t offset, int64_t retry_at);
  // Moves `start` past the finished records at its front (forgetting them); `log_start`
  // moves it past records retention removed.
  void advance(int64_t log_start = -1);

  struct counts {
    uint64_t available = 0;  // handed out before and available again (or delayed)
    uint64_t delayed = 0;    // of those, not before a nack's delay
    uint64_t leased = 0;
    int64_t oldest_leased_ms = -1;  // the earliest lease end among them
    // The earliest record timestamp among the records handed out and not finished (leased,
    // available again, delayed, or on their way to the dead-letter topic); -1: none.
    int64_t oldest_unfinished_ms = -1;
  };
  counts count(int64_t now) const;
};

// Records of the offsets topic that hold queues. Their keys start with a version byte no
// offset key uses, so the group coordinator's replay skips them.
struct queue_record_key {
  std::string queue;
  std::optional<std::pair<std::string, int32_t>> partition;  // none: the definition

  bool operator==(const queue_record_key&) const = default;
};
std::vector<uint8_t> encode_queue_key(const queue_record_key& k);
std::optional<queue_record_key> decode_queue_key(std::span<const uint8_t> bytes);
std::vector<uint8_t> encode_queue_definition(const queue_definition& q);
std::optional<queue_definition> decode_queue_definition(std::span<const uint8_t> bytes);
std::vector<uint8_t> encode_queue_partition(const queue_partition& p);
std::optional<queue_partition> decode_queue_partition(std::span<const uint8_t> bytes);

}  // namespace broker
