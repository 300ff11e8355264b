#pragma once
// Idempotency-Key for HTTP produce: the first request with a key is handled and its
// answer remembered; a retry with the same key (and the same body) gets that answer
// again instead of storing the records twice. Keys live on one shard each (a hash of the
// key picks it), for `window`, at most `max_keys` per shard (the oldest forgotten
// first), and in memory only: a restart forgets them. For retries that must survive a
// restart, an idempotent producer id (POST /v1/producers) is deduplicated by the
// partition itself, as Kafka's idempotent producers are.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

#include "http/api.h"

namespace http {

class idempotency_cache {
 public:
  static constexpr size_t max_keys = 100000;
  static constexpr std::chrono::minutes window{10};

  enum class state { fresh, in_progress, done, mismatch };
  struct begin_result {
    state what = state::fresh;
    response answer;  // the remembered answer when `done`
  };

  // The calling shard's cache.
  static idempotency_cache& local();
  begin_result begin(const std::string& key, uint64_t body_hash);
  // Remembers `answer` for a key begun here (kept only for 2xx answers: a failed request
  // may be retried for real).
  void finish(const std::string& key, const response& answer);

 private:
  struct entry {
    bool done = false;
    uint64_t body_hash = 0;
    int status = 0;
    std::string body;
    std::chrono::steady_clock::time_point at;
  };
  void expire(std::chrono::steady_clock::time_point now);
  std::unordered_map<std::string, entry> entries_;
  std::deque<std::pair<std::string, std::chrono::steady_clock::time_point>> order_;
};

// On the key's shard (hop there with invoke_on).
net::task<idempotency_cache::begin_result> idempotency_begin(std::string key, uint64_t hash);
net::task<void> idempotency_finish(std::string key, response answer);
// The shard that keeps `key` among `shards`.
unsigned idempotency_shard(const std::string& key, unsigned shards);
uint64_t body_hash(std::string_view body);

}  // namespace http
