#include "http/stream.h"

#include <fmt/format.h>

#include <charconv>

#include "http/consumer.h"
#include "http/errors.h"
#include "http/fanout.h"
#include "http/json_util.h"
#include "http/server.h"

namespace http {
namespace {

namespace bj = boost::json;

}  // namespace

topic_stream::topic_stream(server_context& ctx, broker::request_identity who, std::string topic,
                           std::map<int32_t, int64_t> positions, topic_stream_options opts)
    : ctx_(ctx),
      who_(std::move(who)),
      topic_(std::move(topic)),
      positions_(std::move(positions)),
      opts_(opts),
      credit_(opts.initial_credit) {}

stream_event topic_stream::fail(std::string_view name, std::string message) {
  ended_ = true;
  return {format_positions(positions_), "error",
          bj::serialize(bj::object{{"error", name}, {"message", std::move(message)}})};
}

std::optional<std::string> take_credit(std::string_view text, uint64_t& credit) {
  boost::system::error_code ec;
  bj::value v = bj::parse(text, ec);
  const bj::value* grant = (!ec && v.is_object()) ? v.as_object().if_contains("credit") : nullptr;
  if (!grant || !grant->is_int64() || grant->as_int64() < 0 || grant->as_int64() > 1000000000) {
    return "messages must be {\"credit\": N} with N the records the client is ready for";
  }
  credit = std::min<uint64_t>(credit + static_cast<uint64_t>(grant->as_int64()), 1ull << 40);
  return std::nullopt;
}

std::optional<std::string> topic_stream::on_message(std::string_view text) {
  return take_credit(text, credit_);
}

net::task<std::vector<stream_event>> topic_stream::next(std::shared_ptr<wakeup> wake,
                                                        std::chrono::milliseconds max_wait) {
  std::vector<stream_event> out;
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  if (ended_) co_return out;
  auto meta = ctx_.broker.metadata()->find(topic_);
  if (!meta) {
    out.push_back(fail("unknown_topic", fmt::format("topic '{}' was deleted", topic_)));
    co_return out;
  }
  // Partitions added since the stream started are followed from their start.
  for (int32_t p = 0; p < meta->partitions; ++p) positions_.try_emplace(p, 0);

  if (opts_.credit_flow && credit_ == 0) {
    register_wait(wake);
    if (wake->woken || stopping()) {
      wake->woken = false;
      co_return out;
    }
    wake->timer.expires_at(deadline);
    co_await wake->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    wake->woken = false;
    co_return out;
  }

  // Every partition's records at the stream's position: shared with the other streams of
  // this shard at the same position (fanout.h).
  std::vector<std::pair<int32_t, int64_t>> offsets(positions_.begin(), positions_.end());
  auto got = co_await read_blocks(ctx_.broker, who_, topic_, meta->id, offsets,
                                  opts_.max_event_records, opts_.max_read_bytes);
  if (got.retry_later) {
    co_await shard_memory::local().wait(std::chrono::milliseconds(100));
    co_return out;  // read again when called again
  }
  std::vector<std::pair<int32_t, int64_t>> at_end;
  for (size_t i = 0; i < got.parts.size(); ++i) {
    auto& r = got.parts[i];
    const int32_t partition = offsets[i].first;
    int64_t& pos = positions_[partition];
    if (r.error) {
      const auto e = classify(r.error);
      if (e.status == 416 && r.log_start_offset > pos) {
        pos = r.log_start_offset;  // retention removed what the stream had not read
        continue;
      }
      if (e.status == 416) {
        pos = r.high_watermark >= 0 ? r.high_watermark : pos;
        continue;
      }
      out.push_back(fail(e.name, broker::to_broker_error(r.error).message()));
      co_return out;
    }
    const uint64_t room = opts_.credit_flow ? credit_ : UINT64_MAX;
    if (room == 0) break;
    if (!r.records) {
      if (r.next_offset > pos) {
        pos = r.next_offset;  // past batches with nothing to hand out (control batches)
      } else if (pos >= r.high_watermark) {
        at_end.emplace_back(partition, pos);
      }
      continue;
    }
    auto& blk = *r.records;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(room, blk.records.size()));
    pos = n == blk.records.size() ? std::max(pos, blk.next) : blk.records[n - 1].offset + 1;
    if (opts_.credit_flow) credit_ -= n;
    stream_event ev{format_positions(positions_), "records"};
    if (n == blk.records.size()) {
      ev.shared = blk.message(opts_.fmt);
    } else {
      ev.data = blk.message(opts_.fmt, n);
    }
    ev.keep = r.records;
    out.push_back(std::move(ev));
  }
  if (!out.empty() || at_end.empty() || stopping()) co_return out;
  register_wait(wake);
  if (wake->woken) {
    wake->woken = false;
    co_return out;
  }
  wake->timer.expires_at(deadline);
  watch_blocks(ctx_.broker, who_, topic_, at_end, wake);
  if (!wake->woken) {
    co_await wake->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
  }
  wake->woken = false;
  co_return out;
}

group_stream::group_stream(server_context& ctx, std::string group, std::string name,
                           topic_stream_options opts)
    : ctx_(ctx),
      group_(std::move(group)),
      name_(std::move(name)),
      opts_(opts),
      credit_(opts.initial_credit) {}

net::task<std::vector<stream_event>> group_stream::next(std::shared_ptr<wakeup> wake,
                                                        std::chrono::milliseconds max_wait) {
  std::vector<stream_event> out;
  if (ended_) co_return out;
  if (opts_.credit_flow && credit_ == 0) {
    if (!wake->woken) {
      wake->timer.expires_after(max_wait);
      co_await wake->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    }
    wake->woken = false;
    co_return out;
  }
  const size_t max =
      static_cast<size_t>(opts_.credit_flow ? std::min<uint64_t>(credit_, opts_.max_event_records)
                                            : opts_.max_event_records);
  // The consumer lives on the group's shard; a short poll there keeps this connection
  // responsive to its client (credit, close) meanwhile.
  const auto wait = std::min(max_wait, std::chrono::milliseconds(1000));
  auto p = co_await ctx_.broker.shards().invoke_on(
      ctx_.broker.group_shard(group_),
      poll_consumer(group_, name_, max, opts_.max_read_bytes, wait));
  if (p.bad) {
    ended_ = true;
    out.push_back({"", "error", p.bad->body});
    co_return out;
  }
  if (p.result.error) {
    ended_ = true;
    out.push_back({"", "error",
                   bj::serialize(bj::object{
                       {"error", classify(p.result.error).name},
                       {"message", broker::to_broker_error(p.result.error).message()}})});
    co_return out;
  }
  uint64_t bytes = 0;
  for (const auto& part : p.result.parts) {
    for (const auto& rec : part.records) {
      bytes += rec.key.value_or("").size() + rec.value.value_or("").size() + 64;
    }
  }
  shard_memory::local().take(bytes * 3);  // already read: counted so other streams wait
  memory_hold held(bytes * 3);
  for (const auto& part : p.result.parts) {
    if (opts_.credit_flow) credit_ -= std::min<uint64_t>(credit_, part.records.size());
    bj::array records;
    for (const auto& rec : part.records) {
      records.push_back(record_to_json(rec, part.tp.partition, opts_.fmt));
    }
    out.push_back({"", "records",
                   bj::serialize(bj::object{{"topic", part.tp.topic},
                                            {"partition", part.tp.partition},
                                            {"group", group_},
                                            {"records", std::move(records)}})});
  }
  if (!out.empty()) out.back().hold = std::move(held);
  co_return out;
}

net::task<void> group_stream::close() {
  co_await ctx_.broker.shards().invoke_on(ctx_.broker.group_shard(group_),
                                          delete_consumer(group_, name_));
}

net::task<start_positions> resolve_start(server_context& ctx, const broker::request_identity& who,
                                         std::string topic, std::string from) {
  start_positions out;
  auto meta = ctx.broker.metadata()->find(topic);
  if (!meta) {
    out.bad = error(404, "unknown_topic", fmt::format("topic '{}' does not exist", topic), 40401);
    co_return out;
  }
  std::optional<std::map<int32_t, int64_t>> explicit_positions;
  broker::offset_spec spec = broker::offset_spec::latest;
  int64_t ts = -1;
  if (from.empty() || from == "latest") {
    spec = broker::offset_spec::latest;
  } else if (from == "earliest") {
    spec = broker::offset_spec::earliest;
  } else if (from.rfind("timestamp:", 0) == 0) {
    auto v = parse_int64(std::string_view(from).substr(10));
    if (!v || *v < 0) {
      out.bad = bad_field("from", "earliest, latest, timestamp:MS or positions like 0:15,1:7");
      co_return out;
    }
    spec = broker::offset_spec::by_timestamp;
    ts = *v;
  } else {
    explicit_positions = parse_positions(from);
    if (!explicit_positions) {
      out.bad = bad_field("from", "earliest, latest, timestamp:MS or positions like 0:15,1:7");
      co_return out;
    }
    for (const auto& [p, o] : *explicit_positions) {
      if (p >= meta->partitions) {
        out.bad =
            error(404, "unknown_partition",
                  fmt::format("topic '{}' has {} partitions", topic, meta->partitions), 40402);
        co_return out;
      }
    }
  }
  for (int32_t p = 0; p < meta->partitions; ++p) {
    if (explicit_positions && explicit_positions->count(p)) {
      out.positions[p] = explicit_positions->at(p);
      continue;
    }
    broker::topic_partition tp{topic, p};
    auto r = co_await ctx.broker.data().list_offset(
        who, tp, explicit_positions ? broker::offset_spec::latest : spec, ts);
    if (!r.error && r.offset < 0) {
      r = co_await ctx.broker.data().list_offset(who, tp, broker::offset_spec::latest);
    }
    if (r.error) {
      out.bad = from_error(r.error);
      co_return out;
    }
    out.positions[p] = r.offset;
  }
  co_return out;
}

}  // namespace http
