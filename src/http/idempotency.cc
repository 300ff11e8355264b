#include "http/idempotency.h"

#include <functional>

namespace http {

idempotency_cache& idempotency_cache::local() {
  static thread_local idempotency_cache c;
  return c;
}

void idempotency_cache::expire(std::chrono::steady_clock::time_point now) {
  while (!order_.empty() && (order_.front().second + window < now || entries_.size() > max_keys)) {
    auto it = entries_.find(order_.front().first);
    // Only the entry this queue slot was made for (a key begun again has a newer one).
    if (it != entries_.end() && it->second.at == order_.front().second) entries_.erase(it);
    order_.pop_front();
  }
}

idempotency_cache::begin_result idempotency_cache::begin(const std::string& key, uint64_t hash) {
  const auto now = std::chrono::steady_clock::now();
  expire(now);
  begin_result out;
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (it->second.body_hash != hash) {
      out.what = state::mismatch;
    } else if (!it->second.done) {
      out.what = state::in_progress;
    } else {
      out.what = state::done;
      out.answer.status = it->second.status;
      out.answer.body = it->second.body;
    }
    return out;
  }
  entries_[key] = entry{false, hash, 0, {}, now};
  order_.emplace_back(key, now);
  return out;
}

void idempotency_cache::finish(const std::string& key, const response& answer) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (answer.status < 200 || answer.status >= 300 || !answer.error.empty()) {
    entries_.erase(it);  // not remembered: the client may retry for real
    return;
  }
  it->second.done = true;
  it->second.status = answer.status;
  it->second.body = answer.body;
}

net::task<idempotency_cache::begin_result> idempotency_begin(std::string key, uint64_t hash) {
  co_return idempotency_cache::local().begin(key, hash);
}

net::task<void> idempotency_finish(std::string key, response answer) {
  idempotency_cache::local().finish(key, answer);
  co_return;
}

unsigned idempotency_shard(const std::string& key, unsigned shards) {
  return static_cast<unsigned>(std::hash<std::string>{}(key) % std::max(shards, 1u));
}

uint64_t body_hash(std::string_view body) {
  // FNV-1a: enough to tell a retry from a different request under the same key.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace http
