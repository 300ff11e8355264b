// /v1/queues: queue subscriptions over a topic (broker/queue_coordinator.h). Workers
// receive records leased to them, then ack, nack (optionally with a delay), extend or
// reject each; records whose leases end come back, and records handed out too often or
// rejected go to the queue's dead-letter topic.

#include <fmt/format.h>

#include "base/clock.h"
#include "broker/broker.h"
#include "http/errors.h"
#include "http/json_util.h"
#include "http/record_json.h"
#include "http/server.h"
#include "http/stream.h"
#include "http/webhooks.h"

namespace http {
namespace {

namespace bj = boost::json;

constexpr size_t kMaxConsumerName = 200;
constexpr size_t kMaxSettleItems = 10000;
constexpr size_t kMaxErrorText = 512;

// The queue's errors: an unknown queue is 404 unknown_queue.
response queue_error(std::error_code ec, const std::string& queue, std::string message = {}) {
  if (ec == make_error_code(broker::errc::group_id_not_found)) {
    return error(404, "unknown_queue", fmt::format("queue '{}' does not exist", queue), 40403);
  }
  return from_error(ec, std::move(message));
}

bj::object definition_json(const broker::queue_definition& q) {
  return bj::object{
      {"name", q.name},
      {"topic", q.topic},
      {"dead_letter_topic", q.dead_letter_topic},
      {"visibility_timeout_ms", q.visibility_timeout_ms},
      {"max_deliveries", q.max_deliveries},
      {"max_in_flight", q.max_in_flight},
      {"ordering", q.ordering == broker::queue_ordering::key ? "key" : "none"},
      {"start", q.from_earliest ? "earliest" : "latest"},
      {"retry_backoff", q.backoff == broker::queue_backoff::fixed         ? "fixed"
                        : q.backoff == broker::queue_backoff::exponential ? "exponential"
                                                                          : "none"},
      {"retry_backoff_ms", q.backoff_ms},
      {"retry_backoff_max_ms", q.backoff_max_ms},
      {"created_ms", q.created_ms}};
}

// definition_json with the webhook, if any (its secret is never shown) and how its
// delivery stands.
bj::object queue_json(const broker::queue_definition& q) {
  auto out = definition_json(q);
  if (!q.webhook) return out;
  const auto& w = *q.webhook;
  bj::object hook{{"url", w.url},
                  {"signed", !w.secret.empty()},
                  {"batch_size", w.batch_size},
                  {"concurrency", w.concurrency},
                  {"timeout_ms", w.timeout_ms},
                  {"breaker_failures", w.breaker_failures},
                  {"breaker_open_ms", w.breaker_open_ms},
                  {"format", w.format == 0   ? "json"
                             : w.format == 2 ? "binary"
                                             : "text"}};
  if (auto st = find_webhook_status(q.name)) {
    hook["breaker"] = to_string(st->breaker);
    hook["consecutive_failures"] = st->consecutive_failures;
    hook["delivered"] = st->delivered;
    hook["failed_requests"] = st->failed;
  }
  out["webhook"] = std::move(hook);
  return out;
}

// Records leased to a worker, with their delivery counts and lease ends.
bj::array leased_json(const std::vector<broker::queue_message>& messages, format fmt) {
  bj::array out;
  for (const auto& m : messages) {
    auto o = record_to_json(m.rec, m.partition, fmt);
    o["delivery_count"] = m.deliveries;
    o["lease_expires_ms"] = m.lease_until_ms;
    out.push_back(std::move(o));
  }
  return out;
}

// An optional integer field within [min, max].
std::optional<response> int_field(const bj::object& body, const char* name, int64_t min,
                                  int64_t max, int64_t& out) {
  const auto* v = body.if_contains(name);
  if (!v) return std::nullopt;
  if (!v->is_int64() || v->as_int64() < min || v->as_int64() > max) {
    return bad_field(name, fmt::format("an integer from {} to {}", min, max));
  }
  out = v->as_int64();
  return std::nullopt;
}

std::optional<response> consumer_field(const bj::object& body, std::string& out) {
  const auto* c = body.if_contains("consumer");
  if (!c || !c->is_string() || c->as_string().empty() || c->as_string().size() > kMaxConsumerName) {
    return bad_field("consumer", "a non-empty string of at most 200 characters naming the worker");
  }
  out = std::string(c->as_string());
  return std::nullopt;
}

net::task<broker::queue_create_result> run_create(broker::broker& b, broker::request_identity who,
                                                  broker::queue_definition q) {
  co_return co_await b.local_queues().create(std::move(who), std::move(q));
}
net::task<std::error_code> run_remove(broker::broker& b, broker::request_identity who,
                                      std::string name) {
  co_return co_await b.local_queues().remove(std::move(who), std::move(name));
}
net::task<std::vector<broker::queue_definition>> run_list(broker::broker& b) {
  co_return b.local_queues().list();
}
net::task<broker::queue_info> run_describe(broker::broker& b, broker::request_identity who,
                                           std::string name) {
  co_return co_await b.local_queues().describe(std::move(who), std::move(name));
}
net::task<broker::queue_receive_result> run_receive(
    broker::broker& b, broker::request_identity who, std::string name, std::string consumer,
    size_t max_records, size_t max_bytes, std::chrono::milliseconds wait,
    std::shared_ptr<broker::receive_interrupt> interrupt) {
  co_return co_await b.local_queues().receive(std::move(who), std::move(name), std::move(consumer),
                                              max_records, max_bytes, wait, std::move(interrupt));
}
net::task<broker::queue_settle_result> run_settle(broker::broker& b, broker::request_identity who,
                                                  std::string name, std::string consumer,
                                                  broker::settle_action action,
                                                  std::vector<broker::queue_settle_item> items,
                                                  int64_t ms, std::string why) {
  co_return co_await b.local_queues().settle(std::move(who), std::move(name), std::move(consumer),
                                             action, std::move(items), ms, std::move(why));
}

// The "webhook" field of a queue definition.
std::optional<response> parse_webhook(const bj::value& v, broker::queue_definition& q,
                                      bool backoff_given) {
  if (!v.is_object()) return bad_field("webhook", "an object with at least \"url\"");
  const auto& o = v.as_object();
  broker::queue_webhook w;
  const auto* url = o.if_contains("url");
  std::string why = "an http:// URL";
  if (!url || !url->is_string() || !parse_webhook_url(url->as_string(), &why)) {
    return bad_field("webhook.url", why);
  }
  w.url = std::string(url->as_string());
  for (const auto& [k, _] : o) {
    if (k != "url" && k != "secret" && k != "batch_size" && k != "concurrency" &&
        k != "timeout_ms" && k != "breaker_failures" && k != "breaker_open_ms" && k != "format") {
      return error(400, "unknown_field",
                   fmt::format("field 'webhook.{}' is not a webhook field (url, secret, "
                               "batch_size, concurrency, timeout_ms, breaker_failures, "
                               "breaker_open_ms, format)",
                               std::string_view(k)));
    }
  }
  if (const auto* s = o.if_contains("secret")) {
    if (!s->is_string() || s->as_string().size() > 256) {
      return bad_field("webhook.secret", "a string of at most 256 bytes");
    }
    w.secret = std::string(s->as_string());
  }
  if (const auto* f = o.if_contains("format")) {
    auto parsed = f->is_string() ? parse_format(f->as_string()) : std::nullopt;
    if (!parsed) return bad_field("webhook.format", "\"json\", \"text\" or \"binary\"");
    w.format = static_cast<uint8_t>(*parsed);
  }
  int64_t n = w.batch_size;
  if (auto bad = int_field(o, "batch_size", 1, 500, n)) return bad;
  w.batch_size = static_cast<int32_t>(n);
  n = w.concurrency;
  if (auto bad = int_field(o, "concurrency", 1, 64, n)) return bad;
  w.concurrency = static_cast<int32_t>(n);
  n = w.timeout_ms;
  if (auto bad = int_field(o, "timeout_ms", 10, 120000, n)) return bad;
  w.timeout_ms = n;
  n = w.breaker_failures;
  if (auto bad = int_field(o, "breaker_failures", 1, 1000, n)) return bad;
  w.breaker_failures = static_cast<int32_t>(n);
  n = w.breaker_open_ms;
  if (auto bad = int_field(o, "breaker_open_ms", 0, 3600000, n)) return bad;
  w.breaker_open_ms = n;
  if (w.timeout_ms >= q.visibility_timeout_ms) {
    // Its lease must outlast the request, or the record goes out twice meanwhile.
    return bad_field("webhook.timeout_ms", "less than the queue's visibility_timeout_ms");
  }
  q.webhook = std::move(w);
  // A failing endpoint is retried with exponential backoff and jitter unless the queue
  // says otherwise.
  if (!backoff_given) q.backoff = broker::queue_backoff::exponential;
  return std::nullopt;
}

net::task<response> create_queue(server_context& ctx, request& req) {
  const std::string name = req.params.at("queue");
  if (name.empty() || name.size() > 200) {
    co_return bad_field("queue", "a name of 1 to 200 characters");
  }
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  broker::queue_definition q;
  q.name = name;
  const auto* t = body.if_contains("topic");
  if (!t || !t->is_string() || t->as_string().empty()) {
    co_return bad_field("topic", "the name of the topic the queue hands out");
  }
  q.topic = std::string(t->as_string());
  if (const auto* d = body.if_contains("dead_letter_topic")) {
    if (!d->is_string() || d->as_string().empty()) {
      co_return bad_field("dead_letter_topic", "a topic name");
    }
    q.dead_letter_topic = std::string(d->as_string());
  }
  int64_t v = q.visibility_timeout_ms;
  if (auto bad = int_field(body, "visibility_timeout_ms", 1, 12LL * 3600 * 1000, v)) co_return *bad;
  q.visibility_timeout_ms = v;
  v = q.max_deliveries;
  if (auto bad = int_field(body, "max_deliveries", 1, 1000, v)) co_return *bad;
  q.max_deliveries = static_cast<int32_t>(v);
  v = q.max_in_flight;
  if (auto bad = int_field(body, "max_in_flight", 1, 2000, v)) co_return *bad;
  q.max_in_flight = static_cast<int32_t>(v);
  if (const auto* o = body.if_contains("ordering")) {
    if (!o->is_string() || (o->as_string() != "none" && o->as_string() != "key")) {
      co_return bad_field("ordering", "\"none\" or \"key\"");
    }
    q.ordering =
        o->as_string() == "key" ? broker::queue_ordering::key : broker::queue_ordering::none;
  }
  if (const auto* b = body.if_contains("retry_backoff")) {
    if (!b->is_string() || (b->as_string() != "none" && b->as_string() != "fixed" &&
                            b->as_string() != "exponential")) {
      co_return bad_field("retry_backoff", "\"none\", \"fixed\" or \"exponential\"");
    }
    q.backoff = b->as_string() == "fixed"         ? broker::queue_backoff::fixed
                : b->as_string() == "exponential" ? broker::queue_backoff::exponential
                                                  : broker::queue_backoff::none;
  }
  v = q.backoff_ms;
  if (auto bad = int_field(body, "retry_backoff_ms", 0, 12LL * 3600 * 1000, v)) co_return *bad;
  q.backoff_ms = v;
  v = std::max(q.backoff_max_ms, q.backoff_ms);
  if (auto bad = int_field(body, "retry_backoff_max_ms", q.backoff_ms, 7LL * 24 * 3600 * 1000, v)) {
    co_return *bad;
  }
  q.backoff_max_ms = v;
  if (const auto* hook = body.if_contains("webhook"); hook && !hook->is_null()) {
    if (auto bad = parse_webhook(*hook, q, body.contains("retry_backoff"))) co_return *bad;
  }
  if (const auto* s = body.if_contains("start")) {
    if (!s->is_string() || (s->as_string() != "earliest" && s->as_string() != "latest")) {
      co_return bad_field("start", "\"earliest\" or \"latest\"");
    }
    q.from_earliest = s->as_string() == "earliest";
  }
  auto r = co_await ctx.broker.shards().invoke_on(ctx.broker.queue_shard(name),
                                                  run_create(ctx.broker, req.who, std::move(q)));
  if (r.error) {
    if (r.error == make_error_code(broker::errc::topic_exists)) {
      co_return error(409, "queue_exists", r.message, 40910);
    }
    if (r.error == make_error_code(broker::errc::unknown_topic)) {
      co_return error(404, "unknown_topic", r.message, 40401);
    }
    co_return from_error(r.error, r.message);
  }
  auto out = json(r.created ? 201 : 200, to_json(queue_json(r.def)));
  if (r.created) out.headers.emplace_back("Location", fmt::format("/v1/queues/{}", name));
  co_return out;
}

net::task<response> list_queues(server_context& ctx, request& /*req*/) {
  std::vector<broker::queue_definition> all;
  for (unsigned s = 0; s < ctx.broker.shards().size(); ++s) {
    auto part = co_await ctx.broker.shards().invoke_on(s, run_list(ctx.broker));
    all.insert(all.end(), part.begin(), part.end());
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  bj::array out;
  for (const auto& q : all) out.push_back(queue_json(q));
  co_return json(200, to_json(bj::object{{"queues", std::move(out)}}));
}

net::task<response> describe_queue(server_context& ctx, request& req) {
  const std::string name = req.params.at("queue");
  auto info = co_await ctx.broker.shards().invoke_on(ctx.broker.queue_shard(name),
                                                     run_describe(ctx.broker, req.who, name));
  if (info.error) co_return queue_error(info.error, name);
  bj::array parts;
  uint64_t ready = 0, leased = 0, delayed = 0, backlog = 0;
  int64_t oldest = -1, oldest_unfinished = -1;
  for (const auto& p : info.partitions) {
    const int64_t ts = p.counts.oldest_unfinished_ms;
    if (ts >= 0 && (oldest_unfinished < 0 || ts < oldest_unfinished)) oldest_unfinished = ts;
    const uint64_t unread =
        p.log_end > p.next && p.next >= 0 ? static_cast<uint64_t>(p.log_end - p.next) : 0;
    parts.push_back(bj::object{{"partition", p.partition},
                               {"start", p.start},
                               {"next", p.next},
                               {"log_end", p.log_end},
                               {"not_yet_delivered", unread},
                               {"available_again", p.counts.available},
                               {"delayed", p.counts.delayed},
                               {"leased", p.counts.leased}});
    ready += unread + p.counts.available - p.counts.delayed;
    leased += p.counts.leased;
    delayed += p.counts.delayed;
    backlog += unread;
    if (p.counts.oldest_leased_ms >= 0 && (oldest < 0 || p.counts.oldest_leased_ms < oldest)) {
      oldest = p.counts.oldest_leased_ms;
    }
  }
  auto out = queue_json(info.def);
  out["ready"] = ready;
  out["leased"] = leased;
  out["delayed"] = delayed;
  out["dead_lettered"] = info.dead_lettered;
  out["redeliveries"] = info.redeliveries;
  out["lease_expiries"] = info.lease_expiries;
  out["next_lease_end_ms"] = oldest;
  out["oldest_unacked_age_ms"] =
      oldest_unfinished < 0 ? 0 : std::max<int64_t>(0, base::wall_ms() - oldest_unfinished);
  out["partitions"] = std::move(parts);
  co_return json(200, to_json(out));
}

net::task<response> delete_queue(server_context& ctx, request& req) {
  const std::string name = req.params.at("queue");
  auto ec = co_await ctx.broker.shards().invoke_on(ctx.broker.queue_shard(name),
                                                   run_remove(ctx.broker, req.who, name));
  if (ec) co_return queue_error(ec, name);
  response r;
  r.status = 204;
  co_return r;
}

net::task<response> receive(server_context& ctx, request& req) {
  const std::string name = req.params.at("queue");
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  std::string consumer;
  if (auto bad = consumer_field(body, consumer)) co_return *bad;
  int64_t max_records = 100, max_bytes = 1 << 20, timeout = 0;
  if (auto bad = int_field(body, "max_records", 1, 10000, max_records)) co_return *bad;
  if (auto bad = int_field(body, "max_bytes", 1, 16 << 20, max_bytes)) co_return *bad;
  if (auto bad = int_field(body, "timeout_ms", 0, ctx.options.max_wait.count(), timeout)) {
    co_return *bad;
  }
  format fmt = format::json;
  if (const auto* f = body.if_contains("format")) {
    std::optional<format> parsed;
    if (f->is_string()) parsed = parse_format(f->as_string());
    if (!parsed) co_return bad_field("format", "\"json\", \"text\" or \"binary\"");
    fmt = *parsed;
  }
  const auto records = static_cast<size_t>(max_records);
  const auto bytes = static_cast<size_t>(max_bytes);
  const std::chrono::milliseconds wait(timeout);
  std::shared_ptr<broker::receive_interrupt> no_interrupt;  // an HTTP receive waits it out
  auto r = co_await ctx.broker.shards().invoke_on(
      ctx.broker.queue_shard(name),
      run_receive(ctx.broker, req.who, name, consumer, records, bytes, wait, no_interrupt));
  if (r.error) co_return queue_error(r.error, name);
  co_return json(200, to_json(bj::object{{"records", leased_json(r.messages, fmt)}}));
}

// The records of a decision: [{"partition": P, "offset": O}, ...]; nullopt, with the
// field at fault (".records", ".records[3]") and what it must be, when the list is not that.
std::optional<std::vector<broker::queue_settle_item>> settle_items(const bj::value* rs,
                                                                   std::string& field,
                                                                   std::string& must_be) {
  if (!rs || !rs->is_array() || rs->as_array().empty() || rs->as_array().size() > kMaxSettleItems) {
    field = "records";
    must_be = "an array of 1 to 10000 {\"partition\": P, \"offset\": O}";
    return std::nullopt;
  }
  std::vector<broker::queue_settle_item> items;
  for (size_t i = 0; i < rs->as_array().size(); ++i) {
    const auto& it = rs->as_array()[i];
    const auto* p = it.is_object() ? it.as_object().if_contains("partition") : nullptr;
    const auto* o = it.is_object() ? it.as_object().if_contains("offset") : nullptr;
    if (!p || !o || !p->is_int64() || !o->is_int64() || p->as_int64() < 0 ||
        p->as_int64() > INT32_MAX || o->as_int64() < 0) {
      field = fmt::format("records[{}]", i);
      must_be = "{\"partition\": P, \"offset\": O} with non-negative integers";
      return std::nullopt;
    }
    items.push_back({static_cast<int32_t>(p->as_int64()), o->as_int64()});
  }
  return items;
}

bj::object settled_json(const std::vector<broker::queue_settle_item>& items,
                        const broker::queue_settle_result& r) {
  bj::array results;
  size_t refused = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    bj::object one{{"partition", items[i].partition}, {"offset", items[i].offset}};
    if (r.outcomes[i] != broker::settle_error::none) {
      one["error"] = broker::settle_error_name(r.outcomes[i]);
      ++refused;
    }
    results.push_back(std::move(one));
  }
  return bj::object{
      {"settled", items.size() - refused}, {"refused", refused}, {"results", std::move(results)}};
}

// ack, nack, extend, reject: {"consumer", "records": [{"partition", "offset"}], ...}.
net::task<response> settle(server_context& ctx, request& req, broker::settle_action action) {
  const std::string name = req.params.at("queue");
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  std::string consumer;
  if (auto bad = consumer_field(body, consumer)) co_return *bad;
  std::string field, must_be;
  auto parsed = settle_items(body.if_contains("records"), field, must_be);
  if (!parsed) co_return bad_field(field, must_be);
  auto items = std::move(*parsed);
  int64_t ms = 0;
  if (action == broker::settle_action::nack) {
    if (auto bad = int_field(body, "delay_ms", 0, 7LL * 24 * 3600 * 1000, ms)) co_return *bad;
  } else if (action == broker::settle_action::extend) {
    if (auto bad = int_field(body, "visibility_timeout_ms", 1, 12LL * 3600 * 1000, ms)) {
      co_return *bad;
    }
  }
  std::string why;
  if (const auto* e = body.if_contains("error")) {
    if (!e->is_string() || e->as_string().size() > kMaxErrorText) {
      co_return bad_field("error", "a string of at most 512 characters");
    }
    why = std::string(e->as_string());
  }
  const auto n = items.size();
  auto r = co_await ctx.broker.shards().invoke_on(
      ctx.broker.queue_shard(name),
      run_settle(ctx.broker, req.who, name, consumer, action, items, ms, std::move(why)));
  if (r.error && r.outcomes.size() != n) co_return queue_error(r.error, name);
  if (r.error) co_return from_error(r.error, "the decisions were not stored; send them again");
  co_return json(200, to_json(settled_json(items, r)));
}

net::task<response> ack(server_context& ctx, request& req) {
  co_return co_await settle(ctx, req, broker::settle_action::ack);
}
net::task<response> nack(server_context& ctx, request& req) {
  co_return co_await settle(ctx, req, broker::settle_action::nack);
}
net::task<response> extend(server_context& ctx, request& req) {
  co_return co_await settle(ctx, req, broker::settle_action::extend);
}
net::task<response> reject(server_context& ctx, request& req) {
  co_return co_await settle(ctx, req, broker::settle_action::reject);
}

// A worker over WebSocket: records are pushed as they are leased to it, within the credit
// it grants; it sends its decisions on the same socket:
//   {"credit": N}
//   {"ack": [{"partition": P, "offset": O}, ...]}
//   {"nack": [...], "delay_ms": D, "error": "..."}
//   {"extend": [...], "visibility_timeout_ms": V}
//   {"reject": [...], "error": "..."}
// and gets {"settled_action": "ack", "results": [...]} for each; like decisions that
// arrive together are answered in one message listing all their records. Records leased when the
// socket closes come back when their leases end, as for any worker that goes away.
class queue_stream final : public event_stream {
 public:
  queue_stream(server_context& ctx, broker::request_identity who, std::string queue,
               std::string consumer, format fmt, uint64_t credit)
      : ctx_(ctx),
        who_(std::move(who)),
        queue_(std::move(queue)),
        consumer_(std::move(consumer)),
        fmt_(fmt),
        credit_(credit) {}

  net::task<std::vector<stream_event>> next(std::shared_ptr<wakeup> wake,
                                            std::chrono::milliseconds max_wait) override {
    std::vector<stream_event> out;
    if (ended_) co_return out;
    auto& shards = ctx_.broker.shards();
    const unsigned owner = ctx_.broker.queue_shard(queue_);
    if (!pending_.empty()) {
      auto decisions = std::move(pending_);
      pending_.clear();
      undecided_ = 0;
      // A run of like decisions that arrived together (a worker acking record by record)
      // is settled at once and answered in one message: one durable write and one answer
      // for all of them.
      for (size_t i = 0; i < decisions.size();) {
        const auto& first = decisions[i];
        std::vector<broker::queue_settle_item> items = first.items;
        size_t j = i + 1;
        while (j < decisions.size() && decisions[j].action == first.action &&
               decisions[j].ms == first.ms && decisions[j].error == first.error) {
          items.insert(items.end(), decisions[j].items.begin(), decisions[j].items.end());
          ++j;
        }
        auto r = co_await shards.invoke_on(
            owner, run_settle(ctx_.broker, who_, queue_, consumer_, first.action, items, first.ms,
                              first.error));
        if (r.error && r.outcomes.size() != items.size()) {
          auto last = end(r.error);  // after the answers already made
          out.insert(out.end(), std::make_move_iterator(last.begin()),
                     std::make_move_iterator(last.end()));
          co_return out;
        }
        auto body = settled_json(items, r);
        body["settled_action"] = first.verb;
        if (r.error) body["error"] = broker::to_broker_error(r.error).message();
        out.push_back({"", "settled", bj::serialize(body)});
        i = j;
      }
      co_return out;
    }
    if (credit_ == 0) {
      if (!wake->woken) {
        wake->timer.expires_after(max_wait);
        co_await wake->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
      }
      wake->woken = false;
      co_return out;
    }
    // A short poll on the queue's shard keeps the socket's decisions and credit flowing.
    const size_t n = static_cast<size_t>(std::min<uint64_t>(credit_, 500));
    const size_t bytes = 1u << 20;
    const auto wait = wake->woken ? std::chrono::milliseconds(0)
                                  : std::min(max_wait, std::chrono::milliseconds(500));
    wake->woken = false;
    // A decision arriving meanwhile ends the wait: it is not held up by the long poll.
    interrupt_->reset();
    auto r = co_await shards.invoke_on(
        owner, run_receive(ctx_.broker, who_, queue_, consumer_, n, bytes, wait, interrupt_));
    if (r.error) co_return end(r.error);
    if (r.messages.empty()) co_return out;
    credit_ -= std::min<uint64_t>(credit_, r.messages.size());
    out.push_back(
        {"", "records",
         bj::serialize(bj::object{{"queue", queue_}, {"records", leased_json(r.messages, fmt_)}})});
    co_return out;
  }

  std::optional<std::string> on_message(std::string_view text) override {
    boost::system::error_code ec;
    bj::value v = bj::parse(text, ec);
    if (ec || !v.is_object() || v.as_object().size() == 0) return usage();
    const auto& o = v.as_object();
    if (o.contains("credit")) return take_credit(text, credit_);
    static constexpr struct {
      const char* verb;
      broker::settle_action action;
    } kVerbs[] = {{"ack", broker::settle_action::ack},
                  {"nack", broker::settle_action::nack},
                  {"extend", broker::settle_action::extend},
                  {"reject", broker::settle_action::reject}};
    for (const auto& k : kVerbs) {
      const auto* list = o.if_contains(k.verb);
      if (!list) continue;
      decision d{k.verb, k.action, {}, 0, ""};
      std::string field, must_be;
      auto items = settle_items(list, field, must_be);
      if (!items) return fmt::format("\"{}\" must be {}", k.verb, must_be);
      d.items = std::move(*items);
      const char* ms_field = k.action == broker::settle_action::nack     ? "delay_ms"
                             : k.action == broker::settle_action::extend ? "visibility_timeout_ms"
                                                                         : nullptr;
      if (const auto* ms = ms_field ? o.if_contains(ms_field) : nullptr) {
        if (!ms->is_int64() || ms->as_int64() < 0 || ms->as_int64() > 7LL * 24 * 3600 * 1000) {
          return fmt::format("\"{}\" must be a duration in milliseconds", ms_field);
        }
        d.ms = ms->as_int64();
      }
      if (const auto* e = o.if_contains("error")) {
        if (!e->is_string() || e->as_string().size() > kMaxErrorText) {
          return "\"error\" must be a string of at most 512 characters";
        }
        d.error = std::string(e->as_string());
      }
      undecided_ += d.items.size();
      if (undecided_ > kMaxSettleItems) {
        return "more than 10000 decisions waiting: wait for their \"settled\" answers";
      }
      pending_.push_back(std::move(d));
      interrupt_->fire();
      return std::nullopt;
    }
    return usage();
  }

  bool ended() const override { return ended_; }

 private:
  struct decision {
    const char* verb;
    broker::settle_action action;
    std::vector<broker::queue_settle_item> items;
    int64_t ms = 0;
    std::string error;
  };

  static std::string usage() {
    return "messages must be {\"credit\": N} or {\"ack\"|\"nack\"|\"extend\"|\"reject\": "
           "[{\"partition\": P, \"offset\": O}, ...]}";
  }

  std::vector<stream_event> end(std::error_code ec) {
    ended_ = true;
    std::vector<stream_event> out;
    const std::string message = ec == make_error_code(broker::errc::group_id_not_found)
                                    ? fmt::format("queue '{}' was deleted", queue_)
                                    : broker::to_broker_error(ec).message();
    out.push_back({"", "error", message});
    return out;
  }

  server_context& ctx_;
  broker::request_identity who_;
  std::string queue_;
  std::string consumer_;
  format fmt_;
  uint64_t credit_;
  std::vector<decision> pending_;
  std::shared_ptr<broker::receive_interrupt> interrupt_ =
      std::make_shared<broker::receive_interrupt>();
  size_t undecided_ = 0;
  bool ended_ = false;
};

net::task<response> queue_ws(server_context& ctx, request& req) {
  const std::string name = req.params.at("queue");
  const std::string* upgrade = req.header("upgrade");
  if (!upgrade || upgrade->find("websocket") == std::string::npos) {
    auto r = error(426, "upgrade_required",
                   "this path speaks WebSocket: connect with a WebSocket client (ws://HOST:PORT" +
                       req.path + ")");
    r.headers.emplace_back("Upgrade", "websocket");
    co_return r;
  }
  const std::string* consumer = req.query_param("consumer");
  if (!consumer || consumer->empty() || consumer->size() > kMaxConsumerName) {
    co_return bad_field("consumer",
                        "a non-empty string of at most 200 characters naming the worker");
  }
  auto credit = query_int(req, "credit", 0, 0, 1000000000);
  if (credit.bad) co_return *credit.bad;
  format fmt = format::json;
  if (const std::string* f = req.query_param("format")) {
    auto parsed = parse_format(*f);
    if (!parsed) co_return bad_field("format", "json, text or binary");
    fmt = *parsed;
  }
  auto info = co_await ctx.broker.shards().invoke_on(ctx.broker.queue_shard(name),
                                                     run_describe(ctx.broker, req.who, name));
  if (info.error) co_return queue_error(info.error, name);
  response r;
  r.stream = std::make_shared<queue_stream>(ctx, req.who, name, *consumer, fmt,
                                            static_cast<uint64_t>(credit.value));
  r.websocket = true;
  co_return r;
}

}  // namespace

void add_queue_routes(router& r) {
  const std::vector<std::string> kJson = {"application/json"};
  const std::string items = R"("records":{"type":"array","items":{"type":"object","properties":{)"
                            R"("partition":{"type":"integer"},"offset":{"type":"integer"}}}})";
  r.add({.method = "GET",
         .pattern = "/v1/queues",
         .fn = list_queues,
         .summary = "Every queue subscription with its definition",
         .tag = "queues"});
  r.add({.method = "PUT",
         .pattern = "/v1/queues/{queue}",
         .fn = create_queue,
         .summary = "Creates a queue over a topic (200 when it exists with the same definition); "
                    "with a webhook, its records are POSTed to an endpoint",
         .tag = "queues",
         .request_body =
             R"({"type":"object","required":["topic"],"properties":{)"
             R"("topic":{"type":"string"},"dead_letter_topic":{"type":"string"},)"
             R"("visibility_timeout_ms":{"type":"integer"},)"
             R"("max_deliveries":{"type":"integer"},"max_in_flight":{"type":"integer"},)"
             R"("ordering":{"type":"string","enum":["none","key"]},)"
             R"("retry_backoff":{"type":"string","enum":["none","fixed","exponential"]},)"
             R"("retry_backoff_ms":{"type":"integer"},"retry_backoff_max_ms":{"type":"integer"},)"
             R"("start":{"type":"string","enum":["earliest","latest"]},)"
             R"("webhook":{"type":"object","required":["url"],"properties":{)"
             R"("url":{"type":"string"},"secret":{"type":"string"},)"
             R"("batch_size":{"type":"integer"},"concurrency":{"type":"integer"},)"
             R"("timeout_ms":{"type":"integer"},"breaker_failures":{"type":"integer"},)"
             R"("breaker_open_ms":{"type":"integer"},)"
             R"("format":{"type":"string","enum":["json","text","binary"]}}}}})",
         .content_types = kJson,
         .statuses = {201, 400, 404, 409}});
  r.add({.method = "GET",
         .pattern = "/v1/queues/{queue}",
         .fn = describe_queue,
         .summary = "A queue: ready, leased, delayed and dead-lettered records, per partition",
         .tag = "queues",
         .statuses = {404}});
  r.add({.method = "DELETE",
         .pattern = "/v1/queues/{queue}",
         .fn = delete_queue,
         .summary = "Deletes a queue and its state (not its topics)",
         .tag = "queues",
         .statuses = {204, 404}});
  r.add({.method = "POST",
         .pattern = "/v1/queues/{queue}/receive",
         .fn = receive,
         .summary = "Records leased to the worker for the visibility timeout (long poll)",
         .tag = "queues",
         .request_body = R"({"type":"object","required":["consumer"],"properties":{)"
                         R"("consumer":{"type":"string"},"max_records":{"type":"integer"},)"
                         R"("max_bytes":{"type":"integer"},"timeout_ms":{"type":"integer"},)"
                         R"("format":{"type":"string","enum":["json","text","binary"]}}})",
         .content_types = kJson,
         .statuses = {400, 404}});
  r.add({.method = "GET",
         .pattern = "/v1/queues/{queue}/ws",
         .fn = queue_ws,
         .summary = "WebSocket worker: records pushed as they are leased to it within the credit "
                    "it grants ({\"credit\": N}); decisions sent on the socket "
                    "({\"ack\"|\"nack\"|\"extend\"|\"reject\": [...]}) are answered with "
                    "\"settled\" messages",
         .tag = "queues",
         .query = {{"consumer", "query", "string", "the worker's name", true},
                   {"credit", "query", "integer", "records the worker is ready for at once (0)",
                    false},
                   {"format", "query", "string", "json (default), text or binary", false}},
         .statuses = {400, 404, 426}});
  const struct {
    const char* verb;
    handler fn;
    const char* summary;
    const char* extra;
  } decisions[] = {
      {"ack", ack, "Finishes leased records: never handed out again", ""},
      {"nack", nack, "Releases leased records, available again after delay_ms",
       R"(,"delay_ms":{"type":"integer"},"error":{"type":"string"})"},
      {"extend", extend, "Renews leases for visibility_timeout_ms (default: the queue's)",
       R"(,"visibility_timeout_ms":{"type":"integer"})"},
      {"reject", reject, "Sends leased records to the dead-letter topic",
       R"(,"error":{"type":"string"})"},
  };
  for (const auto& d : decisions) {
    r.add({.method = "POST",
           .pattern = fmt::format("/v1/queues/{{queue}}/{}", d.verb),
           .fn = d.fn,
           .summary = d.summary,
           .tag = "queues",
           .request_body = R"({"type":"object","required":["consumer","records"],"properties":{)"
                           R"("consumer":{"type":"string"},)" +
                           items + d.extra + "}}",
           .content_types = kJson,
           .statuses = {400, 404}});
  }
}

}  // namespace http
