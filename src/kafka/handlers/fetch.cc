#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <vector>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/fetch_request.h"
#include "kafka/protocol/generated/fetch_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

// Long poll: a fetch that found too little data registers a waiter with the partition
// service on each partition that returned nothing and sleeps on a timer set to
// max_wait. The first high-watermark advance past its fetch offset cancels the timer,
// so a consumer sees new data the moment it becomes readable (durable, under fsync)
// rather than at the next poll.
struct fetch_wakeup {
  explicit fetch_wakeup(const net::asio::any_io_executor& ex) : timer(ex) {}
  net::asio::steady_timer timer;  // on the fetching connection's shard
  bool woken = false;             // touched only on that shard
};

// This shard's long polls now waiting (so shutdown can end them), and whether the
// server is stopping (then nothing waits any more).
thread_local std::vector<std::weak_ptr<fetch_wakeup>> long_polls;
thread_local bool stopping = false;

// Wakes `w` on its own shard; called from a partition's owner.
std::shared_ptr<broker::data_waiter> waiter_for(const std::shared_ptr<fetch_wakeup>& w) {
  return std::make_shared<broker::data_waiter>(
      [weak = std::weak_ptr<fetch_wakeup>(w), ex = w->timer.get_executor()] {
        net::asio::post(ex, [weak] {
          if (auto live = weak.lock()) {
            live->woken = true;
            live->timer.cancel();
          }
        });
      });
}

}  // namespace

net::task<handler_result> fetch(request_context& ctx) {
  protocol::fetch_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(std::clamp(req.max_wait_ms, 0, ctx.server.fetch_max_wait_ms));
  const size_t max_bytes =
      static_cast<size_t>(std::clamp(req.max_bytes, 0, ctx.server.fetch_max_bytes));
  const auto executor = co_await net::asio::this_coro::executor;
  auto& data = ctx.broker.data();

  // The response's shape, and the partitions to read in request order (each named
  // once: a partition named more than once is read and answered once).
  protocol::fetch_response shape;
  shape.session_id = 0;  // no incremental fetch sessions
  std::vector<broker::read_plan::part> parts;
  std::vector<std::pair<size_t, size_t>> slots;  // per part: topic and partition in `shape`
  std::set<std::pair<std::string_view, int32_t>> named;
  for (const auto& topic : req.topics) {
    auto& rt = shape.responses.emplace_back();
    rt.topic = topic.topic;
    for (const auto& part : topic.partitions) {
      if (!named.emplace(topic.topic, part.partition).second) continue;
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = part.partition;
      rp.aborted_transactions.emplace();  // none: there are no transactions
      parts.push_back({broker::topic_partition{topic.topic, part.partition}, part.fetch_offset,
                       static_cast<size_t>(std::max(part.partition_max_bytes, 0))});
      slots.emplace_back(shape.responses.size() - 1, rt.partitions.size() - 1);
    }
  }
  const auto plan = data.plan_read(ctx.who, std::move(parts));

  std::shared_ptr<fetch_wakeup> wakeup;
  std::shared_ptr<broker::data_waiter> waiter;
  for (;;) {
    auto reads = co_await data.read(ctx.who, plan, max_bytes);
    protocol::fetch_response resp = shape;
    size_t used = 0;
    bool any_error = false;
    std::vector<bool> empty(reads.size());
    for (size_t i = 0; i < reads.size(); ++i) {
      auto& res = reads[i];
      auto& rp = resp.responses[slots[i].first].partitions[slots[i].second];
      rp.error_code = code(to_kafka_error(res.error));
      rp.high_watermark = res.high_watermark;
      rp.last_stable_offset = res.high_watermark;
      rp.log_start_offset = res.log_start_offset;
      if (res.error) any_error = true;
      used += res.records.size();
      // Wait only where new data can change the answer: a partition read up to its end
      // (one that returned nothing for its byte limits would wake the poll at once).
      empty[i] = res.records.empty() && !res.error && plan.at(i).offset >= res.high_watermark;
      rp.records.data = std::move(res.records);
    }
    if (waiter) waiter->finish();
    // Long poll: answer once min_bytes are there, on an error, or at max_wait_ms.
    if (used >= static_cast<size_t>(std::max(req.min_bytes, 1)) || any_error || stopping ||
        std::chrono::steady_clock::now() >= deadline) {
      co_return respond(resp, ctx.api_version);
    }
    wakeup = std::make_shared<fetch_wakeup>(executor);
    wakeup->timer.expires_at(deadline);
    std::erase_if(long_polls, [](const std::weak_ptr<fetch_wakeup>& w) { return w.expired(); });
    long_polls.push_back(wakeup);
    // Wait on every partition that returned nothing (the others' data is in `used`).
    waiter = waiter_for(wakeup);
    co_await data.watch(plan, std::move(empty), waiter);
    if (!wakeup->woken) {
      co_await wakeup->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    }
  }
}

void end_long_polls() {
  stopping = true;
  for (const auto& w : long_polls) {
    if (auto live = w.lock()) {
      live->woken = true;
      live->timer.cancel();
    }
  }
  long_polls.clear();
}

}  // namespace kafka::handlers
