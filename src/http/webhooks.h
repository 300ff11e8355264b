#pragma once
// Webhook push: the queues with a webhook (broker::queue_webhook) have their records
// POSTed to an HTTP endpoint by the shard that owns the queue. Each request carries up to
// batch_size records as JSON; a 2xx answer acks them, anything else (another status, a
// timeout, a refused connection) nacks them, so the queue's retry backoff and
// max_deliveries (then the dead-letter topic) apply as to any worker. Per queue at most
// `concurrency` requests are in flight, each bounded by timeout_ms. A circuit breaker
// per queue opens after breaker_failures failures in a row: no request is sent for
// breaker_open_ms, then one probe (half-open) closes it on success or opens it again.
// Bodies are signed with HMAC-SHA256 of the queue's secret:
//   X-Riptide-Signature-256: sha256=<hex>   (over the body's bytes)

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/task.h"

namespace broker {
class broker;
struct queue_webhook;
}  // namespace broker

namespace http {

struct webhook_url {
  std::string host;
  std::string port = "80";
  std::string target = "/";
};
// http://host[:port][/path]; nullopt (with why) otherwise.
std::optional<webhook_url> parse_webhook_url(std::string_view url, std::string* why = nullptr);

// The signature header's value for `body` under `secret`.
std::string webhook_signature(std::string_view secret, std::string_view body);

enum class breaker_state : int { closed = 0, half_open = 1, open = 2 };
std::string_view to_string(breaker_state s);

// What GET /v1/queues/{queue} shows of a webhook's delivery (any thread).
struct webhook_status {
  breaker_state breaker = breaker_state::closed;
  int32_t consecutive_failures = 0;
  uint64_t delivered = 0;  // records acked after a 2xx
  uint64_t failed = 0;     // requests that failed
};
std::optional<webhook_status> find_webhook_status(const std::string& queue);

// The pushers of one shard's webhook queues, started and stopped as queues come and go.
class webhook_dispatcher {
 public:
  explicit webhook_dispatcher(broker::broker& b);
  ~webhook_dispatcher();
  // Runs on the shard until stop(): looks for webhook queues every 500 ms.
  net::task<void> run();
  // Stops every push loop (on the shard): each leaves the broker alone from its next step
  // on; live() counts those not finished yet (any thread).
  void stop();
  int live() const;

 private:
  struct pusher;
  struct state;
  static net::task<void> push(std::shared_ptr<pusher> p, std::string consumer);
  broker::broker& broker_;
  std::shared_ptr<state> state_;
};

}  // namespace http
