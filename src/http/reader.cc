#include "http/reader.h"

#include <algorithm>

namespace http {
namespace {

thread_local std::vector<std::weak_ptr<wakeup>> g_waits;
thread_local size_t g_waits_sweep_at = 64;
thread_local bool g_stopping = false;

}  // namespace

std::shared_ptr<broker::data_waiter> waiter_for(const std::shared_ptr<wakeup>& w) {
  return std::make_shared<broker::data_waiter>(
      [weak = std::weak_ptr<wakeup>(w), ex = w->timer.get_executor()] {
        net::asio::post(ex, [weak] {
          if (auto live = weak.lock()) live->wake();
        });
      });
}

void register_wait(const std::shared_ptr<wakeup>& w) {
  // A wait registers again every time it starts: forget the ended ones (and the ones
  // registered twice) only when the list has doubled, so each registration costs O(1)
  // on average however many streams wait on the shard.
  if (g_waits.size() >= g_waits_sweep_at) {
    sweep_waits(g_waits);
    g_waits_sweep_at = std::max<size_t>(64, g_waits.size() * 2);
  }
  g_waits.push_back(w);
}

void sweep_waits(std::vector<std::weak_ptr<wakeup>>& waits) {
  std::erase_if(waits, [](const std::weak_ptr<wakeup>& x) { return x.expired(); });
  const auto before = [](const auto& a, const auto& b) { return a.owner_before(b); };
  std::sort(waits.begin(), waits.end(), before);
  waits.erase(
      std::unique(waits.begin(), waits.end(),
                  [&](const auto& a, const auto& b) { return !before(a, b) && !before(b, a); }),
      waits.end());
}

void stop_waits() {
  g_stopping = true;
  for (const auto& w : g_waits) {
    if (auto live = w.lock()) live->wake();
  }
  g_waits.clear();
}

bool stopping() {
  return g_stopping;
}

net::task<read_answer> read_records(broker::broker& b, const broker::request_identity& who,
                                    broker::topic_partition tp, int64_t offset, size_t max_records,
                                    size_t max_bytes, std::chrono::milliseconds wait,
                                    std::shared_ptr<wakeup> cancel) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto& data = b.data();
  std::vector<broker::read_plan::part> parts;
  parts.push_back({tp, offset, max_bytes});
  const auto plan = data.plan_read(who, std::move(parts));
  const auto executor = co_await net::asio::this_coro::executor;
  std::shared_ptr<broker::data_waiter> waiter;
  read_answer out;
  for (;;) {
    auto reads = co_await data.read(who, plan, max_bytes);
    if (waiter) waiter->finish();
    auto& r = reads.at(0);
    out.error = r.error;
    out.high_watermark = r.high_watermark;
    out.log_start = r.log_start_offset;
    out.next_offset = offset;
    if (r.error) co_return out;
    if (!r.records.empty()) {
      auto bytes = r.records.linearize();
      if (!bytes) {
        out.error = broker::to_broker_error(bytes.error());
        co_return out;
      }
      auto decoded = broker::decode_records(*bytes, offset, max_records);
      if (!decoded) {
        out.error = decoded.error();
        co_return out;
      }
      out.records = std::move(decoded->records);
      out.next_offset = std::max(offset, decoded->next_offset);
      // Batches of only skipped records (control batches) move the offset on: answer,
      // and the caller reads on from there.
      if (!out.records.empty() || out.next_offset > offset) co_return out;
    }
    if (std::chrono::steady_clock::now() >= deadline || stopping()) co_return out;
    // `woken` says something happened since the caller last looked: let it look.
    if (cancel && cancel->woken) {
      cancel->woken = false;
      co_return out;
    }
    auto w = cancel ? cancel : std::make_shared<wakeup>(executor);
    register_wait(w);
    w->timer.expires_at(deadline);
    waiter = waiter_for(w);
    // Wait only when read up to the end (a partition that returned nothing for its byte
    // limits would wake at once).
    std::vector<bool> wanted{offset >= r.high_watermark};
    co_await data.watch(plan, std::move(wanted), waiter);
    if (!w->woken) co_await w->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    // Read again: data arrived, the caller woke us, or the deadline passed.
  }
}

}  // namespace http
