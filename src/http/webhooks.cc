#include "http/webhooks.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <mutex>

#include "base/clock.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "broker/broker.h"
#include "http/encoding.h"
#include "http/record_json.h"
#include "net/asio.h"
#include "net/shard.h"

namespace http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace bj = boost::json;

constexpr auto kScan = std::chrono::milliseconds(500);  // how often queues are looked at

// Written by the queue's shard, read by any (GET /v1/queues/{queue}, /metrics).
struct live_status {
  std::atomic<int> breaker{0};
  std::atomic<int32_t> consecutive_failures{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
};

// Process-wide, for GET /v1/queues/{queue} on any shard.
struct status_registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<live_status>> by_queue;
};
status_registry& statuses() {
  static status_registry r;
  return r;
}

struct webhook_metrics {
  base::metrics::counter& ok;
  base::metrics::counter& failed;
  base::metrics::counter& records;
  base::metrics::histogram& latency;
};

webhook_metrics& metrics_for(const std::string& queue) {
  // One set per queue, kept for the process's life (queues are bounded by queues.max_queues).
  thread_local std::map<std::string, std::unique_ptr<webhook_metrics>> by_queue;
  auto& m = by_queue[queue];
  if (!m) {
    auto& reg = base::metrics::registry::global();
    const base::metrics::labels q{{"queue", queue}};
    const base::metrics::labels ok{{"queue", queue}, {"outcome", "ok"}};
    const base::metrics::labels bad{{"queue", queue}, {"outcome", "failed"}};
    m = std::make_unique<webhook_metrics>(webhook_metrics{
        reg.get_counter("riptide_webhook_requests_total", "Webhook requests, by outcome", ok),
        reg.get_counter("riptide_webhook_requests_total", "Webhook requests, by outcome", bad),
        reg.get_counter("riptide_webhook_records_total", "Records delivered by webhook (2xx)", q),
        reg.get_histogram("riptide_webhook_latency_seconds",
                          "Webhook request latency, connect to answer", q)});
  }
  return *m;
}

struct post_result {
  int status = 0;     // the HTTP status; 0: no answer
  std::string error;  // why there is no 2xx
};

}  // namespace

std::optional<webhook_url> parse_webhook_url(std::string_view url, std::string* why) {
  auto fail = [&](const char* text) -> std::optional<webhook_url> {
    if (why) *why = text;
    return std::nullopt;
  };
  constexpr std::string_view scheme = "http://";
  if (url.rfind("https://", 0) == 0) {
    return fail("https endpoints are not supported yet: use http:// (a TLS-terminating proxy)");
  }
  if (url.rfind(scheme, 0) != 0) return fail("an http:// URL");
  url.remove_prefix(scheme.size());
  webhook_url out;
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) out.target = std::string(url.substr(slash));
  if (authority.empty() || authority.find_first_of("@[]?#") != std::string_view::npos) {
    return fail("an http://host[:port]/path URL (a name or IPv4 address as host)");
  }
  if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    const auto port = authority.substr(colon + 1);
    int n = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || n > 65535) return fail("a port from 1 to 65535");
      n = n * 10 + (c - '0');
    }
    if (port.empty() || n < 1 || n > 65535) return fail("a port from 1 to 65535");
    out.port = std::string(port);
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) return fail("an http://host[:port]/path URL");
  out.host = std::string(authority);
  return out;
}

std::string webhook_signature(std::string_view secret, std::string_view body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", mac[i]);
  return out;
}

std::string_view to_string(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::half_open:
      return "half_open";
    case breaker_state::open:
      return "open";
  }
  return "closed";
}

std::optional<webhook_status> find_webhook_status(const std::string& queue) {
  auto& r = statuses();
  std::lock_guard lock(r.mu);
  auto it = r.by_queue.find(queue);
  if (it == r.by_queue.end()) return std::nullopt;
  const auto& l = *it->second;
  webhook_status out;
  out.breaker = static_cast<breaker_state>(l.breaker.load(std::memory_order_relaxed));
  out.consecutive_failures = l.consecutive_failures.load(std::memory_order_relaxed);
  out.delivered = l.delivered.load(std::memory_order_relaxed);
  out.failed = l.failed.load(std::memory_order_relaxed);
  return out;
}

// One webhook queue's delivery on its shard.
struct webhook_dispatcher::pusher {
  broker::broker* broker = nullptr;
  broker::queue_definition def;
  webhook_url url;
  std::shared_ptr<live_status> status = std::make_shared<live_status>();
  std::atomic<bool> stopped{false};
  std::shared_ptr<std::atomic<int>> live;  // the dispatcher's count of push loops
  int64_t open_until = 0;
  bool probing = false;  // a half-open probe is in flight
  uint64_t gauge = 0;
};

struct webhook_dispatcher::state {
  std::map<std::string, std::shared_ptr<pusher>> pushers;
  // Push loops not finished yet: stop() waits for them to leave the broker alone.
  std::shared_ptr<std::atomic<int>> live = std::make_shared<std::atomic<int>>(0);
  std::unique_ptr<net::asio::steady_timer> timer;
  bool stopping = false;
};

namespace {

net::task<post_result> post(std::string host, std::string port, std::string target,
                            std::string body, std::string signature, int64_t timeout_ms) {
  post_result out;
  auto ex = co_await net::asio::this_coro::executor;
  net::tcp::resolver resolver(ex);
  beast::tcp_stream stream(ex);
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  auto [rec, results] =
      co_await resolver.async_resolve(host, port, net::asio::as_tuple(net::asio::use_awaitable));
  if (rec) {
    out.error = "cannot resolve " + host + ": " + rec.message();
    co_return out;
  }
  auto [cec, endpoint] =
      co_await stream.async_connect(results, net::asio::as_tuple(net::asio::use_awaitable));
  (void)endpoint;
  if (cec) {
    out.error = cec == beast::error::timeout ? "timeout" : "connect: " + cec.message();
    co_return out;
  }
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
  req.set(bhttp::field::host, host + ":" + port);
  req.set(bhttp::field::user_agent, "riptide-webhook");
  req.set(bhttp::field::content_type, "application/json");
  if (!signature.empty()) req.set("X-Riptide-Signature-256", signature);
  req.body() = std::move(body);
  req.prepare_payload();
  auto [wec, written] =
      co_await bhttp::async_write(stream, req, net::asio::as_tuple(net::asio::use_awaitable));
  (void)written;
  if (wec) {
    out.error = wec == beast::error::timeout ? "timeout" : "write: " + wec.message();
    co_return out;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024);  // what a receiver says is not needed beyond its status
  auto [rdec, read] = co_await bhttp::async_read(stream, buffer, parser,
                                                 net::asio::as_tuple(net::asio::use_awaitable));
  (void)read;
  if (rdec && !parser.is_header_done()) {
    out.error = rdec == beast::error::timeout ? "timeout" : "read: " + rdec.message();
    co_return out;
  }
  out.status = static_cast<int>(parser.get().result_int());
  if (out.status < 200 || out.status > 299) out.error = fmt::format("HTTP {}", out.status);
  beast::error_code ignored;
  stream.socket().shutdown(net::tcp::socket::shutdown_both, ignored);
  co_return out;
}

}  // namespace

webhook_dispatcher::webhook_dispatcher(broker::broker& b)
    : broker_(b), state_(std::make_shared<state>()) {}

webhook_dispatcher::~webhook_dispatcher() = default;

void webhook_dispatcher::stop() {
  state_->stopping = true;
  if (state_->timer) state_->timer->cancel();
  for (auto& [name, p] : state_->pushers) p->stopped = true;
}

int webhook_dispatcher::live() const {
  return state_->live->load();
}

net::task<void> webhook_dispatcher::run() {
  // Only copies from here on: the dispatcher may be gone when this resumes after stop().
  auto st = state_;
  auto& b = broker_;
  auto ex = co_await net::asio::this_coro::executor;
  st->timer = std::make_unique<net::asio::steady_timer>(ex);
  while (!st->stopping) {
    // This shard's queues: a pusher for each with a webhook, ended for the others.
    auto defs = b.local_queues().list();
    std::map<std::string, const broker::queue_definition*> wanted;
    for (const auto& d : defs) {
      if (d.webhook) wanted[d.name] = &d;
    }
    for (auto it = st->pushers.begin(); it != st->pushers.end();) {
      auto w = wanted.find(it->first);
      if (w == wanted.end() || !(*w->second == it->second->def)) {
        it->second->stopped = true;
        base::metrics::registry::global().remove_gauge(it->second->gauge);
        {
          auto& r = statuses();
          std::lock_guard lock(r.mu);
          r.by_queue.erase(it->first);
        }
        it = st->pushers.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [name, d] : wanted) {
      if (st->pushers.count(name)) continue;
      auto url = parse_webhook_url(d->webhook->url);
      if (!url) continue;
      auto p = std::make_shared<pusher>();
      p->broker = &b;
      p->live = st->live;
      p->def = *d;
      p->url = *url;
      p->gauge = base::metrics::registry::global().add_gauge(
          "riptide_webhook_breaker_state",
          "A webhook's circuit breaker: 0 closed, 1 half-open, 2 open",
          [name = name,
           st = p->status](std::vector<std::pair<base::metrics::labels, double>>& out) {
            out.push_back({{{"queue", name}}, static_cast<double>(st->breaker.load())});
          });
      {
        auto& r = statuses();
        std::lock_guard lock(r.mu);
        r.by_queue[name] = p->status;
      }
      st->pushers[name] = p;
      for (int32_t i = 0; i < d->webhook->concurrency; ++i) {
        // A lease holder per loop and queue version: a late settle never touches another
        // loop's lease, nor one of a queue made again under the same name.
        std::string consumer = fmt::format("webhook-{}-{}", d->created_ms, i);
        net::asio::co_spawn(ex, push(p, std::move(consumer)), net::asio::detached);
      }
    }
    st->timer->expires_after(kScan);
    co_await st->timer->async_wait(net::asio::as_tuple(net::asio::use_awaitable));
  }
}

// One of a webhook's `concurrency` loops: receive, POST, ack or nack. It uses nothing but
// its pusher (stopped with it) and the broker.
net::task<void> webhook_dispatcher::push(std::shared_ptr<pusher> p, std::string consumer) {
  auto& broker = *p->broker;
  p->live->fetch_add(1);
  struct leave {
    std::shared_ptr<std::atomic<int>> live;
    ~leave() { live->fetch_sub(1); }
  } on_exit{p->live};
  auto ex = co_await net::asio::this_coro::executor;
  net::asio::steady_timer pause(ex);
  const auto& who = broker::request_identity::internal();
  const auto& w = *p->def.webhook;
  auto& m = metrics_for(p->def.name);
  auto& st = *p->status;
  while (!p->stopped) {
    const int64_t now = base::wall_ms();
    bool probe = false;
    const auto state = static_cast<breaker_state>(st.breaker.load());
    if (state == breaker_state::open && now < p->open_until) {
      pause.expires_after(std::chrono::milliseconds(std::min<int64_t>(p->open_until - now, 200)));
      co_await pause.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
      continue;
    }
    if (state != breaker_state::closed) {
      // Half-open: one probe at a time.
      if (p->probing) {
        pause.expires_after(std::chrono::milliseconds(50));
        co_await pause.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
        continue;
      }
      st.breaker = static_cast<int>(breaker_state::half_open);
      p->probing = probe = true;
    }
    std::string name = p->def.name;
    const auto max_records = static_cast<size_t>(w.batch_size);
    const size_t max_bytes = 1u << 20;
    const auto wait = std::chrono::milliseconds(500);
    std::shared_ptr<broker::receive_interrupt> no_interrupt;
    auto got = co_await broker.local_queues().receive(who, name, consumer, max_records, max_bytes,
                                                      wait, no_interrupt);
    if (got.error || got.messages.empty()) {
      if (probe) p->probing = false;
      if (got.error) {
        pause.expires_after(std::chrono::seconds(1));
        co_await pause.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
      }
      continue;
    }
    bj::array records;
    for (const auto& msg : got.messages) {
      auto o = record_to_json(msg.rec, msg.partition, static_cast<format>(w.format));
      o["delivery_count"] = msg.deliveries;
      records.push_back(std::move(o));
    }
    std::string body = bj::serialize(bj::object{
        {"queue", p->def.name}, {"topic", p->def.topic}, {"records", std::move(records)}});
    std::string signature = w.secret.empty() ? std::string() : webhook_signature(w.secret, body);
    const auto started = std::chrono::steady_clock::now();
    std::string host = p->url.host, port = p->url.port, target = p->url.target;
    auto res = co_await post(std::move(host), std::move(port), std::move(target), std::move(body),
                             std::move(signature), w.timeout_ms);
    if (p->stopped) break;  // the broker may be stopping: its leases end by themselves
    m.latency.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    std::vector<broker::queue_settle_item> items;
    for (const auto& msg : got.messages) items.push_back({msg.partition, msg.rec.offset});
    const bool ok = res.error.empty();
    const auto action = ok ? broker::settle_action::ack : broker::settle_action::nack;
    std::string why = res.error;
    const int64_t no_delay = 0;  // the queue's retry backoff decides
    co_await broker.local_queues().settle(who, name, consumer, action, std::move(items), no_delay,
                                          std::move(why));
    if (probe) p->probing = false;
    if (ok) {
      m.ok.add();
      m.records.add(got.messages.size());
      st.delivered += got.messages.size();
      st.consecutive_failures = 0;
      st.breaker = static_cast<int>(breaker_state::closed);
      continue;
    }
    m.failed.add();
    ++st.failed;
    ++st.consecutive_failures;
    if (probe || st.consecutive_failures >= w.breaker_failures) {
      if (st.breaker.load() != static_cast<int>(breaker_state::open)) {
        base::logger("webhooks")
            ->warn("queue {}: webhook {} failed {} time(s) in a row ({}); no request for {} ms",
                   p->def.name, p->def.webhook->url, st.consecutive_failures.load(), res.error,
                   w.breaker_open_ms);
      }
      st.breaker = static_cast<int>(breaker_state::open);
      p->open_until = base::wall_ms() + w.breaker_open_ms;
    }
  }
}

}  // namespace http
