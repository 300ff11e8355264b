#include <chrono>
#include <cstring>

#include "base/logging.h"
#include "base/metrics.h"
#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/produce_request.h"
#include "kafka/protocol/generated/produce_response.h"
#include "kafka/server/error_codes.h"
#include "net/await.h"
#include "storage/record_batch.h"

namespace kafka::handlers {
namespace {

struct partition_outcome {
  error_code error = error_code::none;
  int32_t records = 0;
  int64_t base_offset = -1;
  int64_t log_append_time = -1;
  int64_t log_start_offset = -1;
};

// Checks what the storage layer does not know about: one v2 batch per partition, and
// codecs the request version allows. Records and timestamps are checked by the log.
error_code check_records(const protocol::records& records, int16_t version) {
  if (records.is_null || records.view.size() < storage::batch_header_size) {
    return error_code::corrupt_message;
  }
  const auto h = storage::decode_header(records.view);
  if (h.magic != 2) return error_code::invalid_record;  // v3+ carries only magic 2
  if (h.batch_length < 0 || h.size_bytes() != records.view.size()) {
    return error_code::invalid_record;
  }
  if (h.codec() == storage::compression::zstd && version < 7) {
    return error_code::unsupported_compression_type;
  }
  if (static_cast<uint8_t>(h.codec()) > 4) return error_code::corrupt_message;
  return error_code::none;
}

// Runs on the partition's owner shard: append, then wait until durable (acks != 0).
net::task<partition_outcome> append_on_owner(broker::broker& b, storage::ntp name,
                                             std::span<const uint8_t> batch, bool wait) {
  partition_outcome out;
  auto log = b.local_log(name);
  if (!log) {
    out.error = error_code::unknown_topic_or_partition;
    co_return out;
  }
  auto r = log->append(batch);
  if (!r) {
    out.error = to_kafka_error(r.error());
    co_return out;
  }
  if (r->duplicate) {
    static auto& duplicates = base::metrics::registry::global().get_counter(
        "riptide_produce_duplicate_batches_total",
        "Retried batches of idempotent producers answered with their original offsets");
    duplicates.add();
  }
  out.base_offset = r->base_offset;
  // A retried batch already in the log is answered with its first offsets and not
  // counted again.
  out.records = r->duplicate ? 0 : r->record_count;
  out.log_start_offset = log->log_start_offset();
  out.log_append_time = r->log_append_time;
  if (wait) {
    auto ec = co_await net::await_callback<std::error_code>(
        [&](auto done) { log->wait_durable(r->last_offset + 1, std::move(done)); });
    if (ec) out.error = to_kafka_error(ec);
  } else {
    // acks=0: nobody waits, but the records become durable (and so readable under the
    // fsync policy) with the next group commit rather than whenever someone else asks.
    log->wait_durable(r->last_offset + 1, [](std::error_code) {});
  }
  co_return out;
}

using partition_response =
    protocol::produce_response::topic_produce_response::partition_produce_response;

// Appends on the owner shard, then fills in the partition's response here.
net::task<void> produce_partition(broker::broker& b, unsigned owner, storage::ntp name,
                                  std::span<const uint8_t> batch, bool wait,
                                  const broker::topic_metadata* topic, partition_response& out) {
  partition_outcome res;
  try {
    res = co_await b.shards().invoke_on(owner, append_on_owner(b, name, batch, wait));
  } catch (const std::exception& e) {
    // Never answered as a success: the client retries (or reports) this partition.
    base::logger("kafka")->error("produce to {} failed: {}", name.dir_name(), e.what());
    out.error_code = code(error_code::unknown_server_error);
    co_return;
  }
  if (res.error == error_code::none && res.records > 0) {
    topic->bytes_in->add(batch.size());
    topic->records_in->add(static_cast<uint64_t>(res.records));
  }
  out.error_code = code(res.error);
  out.base_offset = res.base_offset;
  out.log_append_time_ms = res.log_append_time;
  out.log_start_offset = res.log_start_offset;
}

}  // namespace

net::task<handler_result> produce(request_context& ctx) {
  protocol::produce_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  protocol::produce_response resp;
  const bool valid_acks = req.acks == 0 || req.acks == 1 || req.acks == -1;
  auto snap = ctx.broker.metadata();
  struct job {
    size_t topic, partition;
    unsigned owner;
    std::span<const uint8_t> batch;
    std::shared_ptr<const broker::topic_metadata> meta;
  };
  std::vector<job> jobs;
  for (auto& topic : req.topic_data) {
    auto& rt = resp.responses.emplace_back();
    rt.name = topic.name;
    auto t = snap->find(topic.name);
    for (auto& part : topic.partition_data) {
      auto& rp = rt.partition_responses.emplace_back();
      rp.index = part.index;
      rp.base_offset = -1;
      error_code err = error_code::none;
      if (!valid_acks) {
        err = error_code::invalid_required_acks;
      } else if (req.transactional_id) {
        err = error_code::invalid_request;  // transactions are not supported
      } else if (!t || part.index < 0 || part.index >= t->partitions) {
        err = error_code::unknown_topic_or_partition;
      } else if (broker::broker::is_internal(topic.name)) {
        err = to_kafka_error(broker::errc::internal_topic);
      } else if (req.acks == -1 && broker::min_insync_replicas(t->effective) > 1) {
        // One node is the whole in-sync replica set.
        err = error_code::not_enough_replicas;
      } else {
        err = check_records(part.records, ctx.api_version);
      }
      if (err != error_code::none) {
        rp.error_code = code(err);
        continue;
      }
      jobs.push_back({resp.responses.size() - 1, rt.partition_responses.size() - 1,
                      ctx.broker.owner(topic.name, part.index), part.records.view, t});
    }
  }
  // Every partition appends and waits concurrently, each on the shard that owns it.
  std::vector<net::task<void>> work;
  const bool wait = req.acks != 0;
  for (const auto& j : jobs) {
    auto& rt = resp.responses[j.topic];
    auto& rp = rt.partition_responses[j.partition];
    const storage::ntp name{rt.name, rp.index};
    const broker::topic_metadata* meta = j.meta.get();
    work.push_back(produce_partition(ctx.broker, j.owner, name, j.batch, wait, meta, rp));
  }
  co_await net::when_all(std::move(work));
  if (req.acks == 0) co_return handler_result::none();
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
