#include <algorithm>
#include <chrono>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/fetch_request.h"
#include "kafka/protocol/generated/fetch_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

struct partition_read {
  error_code error = error_code::none;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  int64_t next_offset = -1;
  base::iobuf records;
};

net::task<partition_read> read_on_owner(broker::broker& b, storage::ntp name, int64_t offset,
                                        size_t max_bytes) {
  partition_read out;
  auto log = b.local_log(name);
  if (!log) {
    out.error = error_code::unknown_topic_or_partition;
    co_return out;
  }
  out.high_watermark = log->high_watermark();
  out.log_start_offset = log->log_start_offset();
  if (max_bytes == 0 || offset == out.high_watermark) co_return out;
  auto r = log->read(offset, max_bytes);
  if (!r) {
    out.error = to_kafka_error(r.error());
    co_return out;
  }
  out.records = std::move(r->data);
  out.next_offset = r->next_offset;
  co_return out;
}

}  // namespace

net::task<handler_result> fetch(request_context& ctx) {
  protocol::fetch_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(req.max_wait_ms, 0));
  const size_t max_bytes = static_cast<size_t>(std::max(req.max_bytes, 0));
  auto& shards = ctx.broker.shards();
  net::asio::steady_timer pause(co_await net::asio::this_coro::executor);

  for (;;) {
    protocol::fetch_response resp;
    resp.session_id = 0;  // no incremental fetch sessions
    auto snap = ctx.broker.metadata();
    size_t used = 0;
    bool any_error = false;
    for (const auto& topic : req.topics) {
      auto& rt = resp.responses.emplace_back();
      rt.topic = topic.topic;
      auto t = snap->find(topic.topic);
      for (const auto& part : topic.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = part.partition;
        rp.aborted_transactions.emplace();  // none: there are no transactions
        if (!t || part.partition < 0 || part.partition >= t->partitions) {
          rp.error_code = code(error_code::unknown_topic_or_partition);
          any_error = true;
          continue;
        }
        // The first partition with data may exceed max_bytes (one whole batch), so a
        // consumer always makes progress; after that the total is capped.
        size_t budget = static_cast<size_t>(std::max(part.partition_max_bytes, 0));
        if (used > 0) budget = std::min(budget, max_bytes > used ? max_bytes - used : 0);
        const storage::ntp name{topic.topic, part.partition};
        auto res =
            co_await shards.invoke_on(ctx.broker.owner(topic.topic, part.partition),
                                      read_on_owner(ctx.broker, name, part.fetch_offset, budget));
        rp.error_code = code(res.error);
        rp.high_watermark = res.high_watermark;
        rp.last_stable_offset = res.high_watermark;
        rp.log_start_offset = res.log_start_offset;
        if (res.error != error_code::none) any_error = true;
        used += res.records.size();
        if (!res.records.empty()) {
          t->bytes_out->add(res.records.size());
          t->records_out->add(
              static_cast<uint64_t>(std::max<int64_t>(res.next_offset - part.fetch_offset, 0)));
        }
        rp.records.data = std::move(res.records);
      }
    }
    // Long poll: answer once min_bytes are there, on an error, or at max_wait_ms.
    if (used >= static_cast<size_t>(std::max(req.min_bytes, 1)) || any_error ||
        std::chrono::steady_clock::now() >= deadline) {
      co_return respond(resp, ctx.api_version);
    }
    pause.expires_after(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(2), deadline - std::chrono::steady_clock::now()));
    co_await pause.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
  }
}

}  // namespace kafka::handlers
