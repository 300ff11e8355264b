// /v1/topics/{topic}/records (produce) and
// /v1/topics/{topic}/partitions/{partition}/records (read).
// Formats of keys and values: see record_json.h.

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <map>

#include "base/clock.h"
#include "broker/delayed_records.h"
#include "broker/records.h"
#include "http/encoding.h"
#include "http/errors.h"
#include "http/idempotency.h"
#include "http/json_util.h"
#include "http/produce.h"
#include "http/reader.h"
#include "http/record_json.h"
#include "http/server.h"
#include "net/await.h"

namespace http {
namespace {

namespace bj = boost::json;

// A key or value from the request in `f`; nullopt with `why` when it does not fit.
std::optional<std::optional<std::string>> field_bytes(const bj::value& v, format f, bool key,
                                                      std::string& why) {
  if (v.is_null()) return std::optional<std::string>{};
  switch (f) {
    case format::json:
      if (key && v.is_string()) return std::optional<std::string>{std::string(v.as_string())};
      return std::optional<std::string>{bj::serialize(v)};
    case format::text:
      if (!v.is_string()) {
        why = "a string or null (format text)";
        return std::nullopt;
      }
      return std::optional<std::string>{std::string(v.as_string())};
    case format::binary: {
      if (!v.is_string()) {
        why = "a base64 string or null (format binary)";
        return std::nullopt;
      }
      auto bytes = base64_decode(v.as_string());
      if (!bytes) {
        why = "valid base64 (RFC 4648, padded)";
        return std::nullopt;
      }
      return std::optional<std::string>{std::move(*bytes)};
    }
  }
  return std::nullopt;
}

struct planned_record {
  int32_t partition = 0;
  bool explicit_partition = false;
  broker::record rec;
};

// Record headers: {"name": "value", ...} or [{"key": "name", "value": "value"}, ...];
// values as the format says (json format: strings as their text).
bool parse_headers(const bj::value& v, format f, std::vector<broker::record_header>& out) {
  auto add = [&](std::string_view hk, const bj::value& hv) -> bool {
    if (hv.is_null()) {
      out.push_back({std::string(hk), std::nullopt});
      return true;
    }
    if (!hv.is_string()) return false;
    if (f == format::binary) {
      auto bytes = base64_decode(hv.as_string());
      if (!bytes) return false;
      out.push_back({std::string(hk), std::move(*bytes)});
    } else {
      out.push_back({std::string(hk), std::string(hv.as_string())});
    }
    return true;
  };
  if (v.is_object()) {
    for (const auto& [hk, hv] : v.as_object()) {
      if (!add(hk, hv)) return false;
    }
    return true;
  }
  if (!v.is_array()) return false;
  for (const auto& h : v.as_array()) {
    const auto* hk = h.is_object() ? h.as_object().if_contains("key") : nullptr;
    const auto* hv = h.is_object() ? h.as_object().if_contains("value") : nullptr;
    if (!hk || !hk->is_string() || !add(hk->as_string(), hv ? *hv : bj::value())) return false;
  }
  return true;
}

// Which partition each keyless record without one goes to: one partition per request,
// taking turns between requests (as the Kafka clients' sticky partitioner spreads
// batches).
thread_local uint32_t next_sticky = 0;

struct partition_outcome {
  std::error_code error;
  int64_t base_offset = -1;
  bool duplicate = false;
  std::vector<int32_t> held;  // places in the batch of the records held for later
};

net::task<void> produce_one(broker::broker& b, broker::request_identity who,
                            broker::topic_partition tp, std::vector<uint8_t> batch,
                            std::shared_ptr<partition_outcome> out) {
  broker::produce_options opts;
  auto r = co_await b.data().produce(who, tp, batch, opts);
  out->error = r.error;
  out->base_offset = r.base_offset;
  out->duplicate = r.duplicate;
  out->held = std::move(r.held);
}

}  // namespace

net::task<produce_outcome> produce_json_records(server_context& ctx, const request& req,
                                                std::string topic, const bj::value* recs, format f,
                                                std::optional<int32_t> partition,
                                                std::optional<producer_fields> producer) {
  produce_outcome result;
  auto t = ctx.broker.metadata()->find(topic);
  if (!t) {
    result.bad = error(
        404, "unknown_topic",
        fmt::format("topic '{}' does not exist; create it with POST /v1/topics", topic), 40401);
    co_return result;
  }
  if (broker::broker::is_internal(topic)) {
    result.bad = error(403, "internal_topic",
                       fmt::format("topic '{}' is written only by the broker", topic), 40301);
    co_return result;
  }
  if (partition && *partition >= t->partitions) {
    result.bad = error(404, "unknown_partition",
                       fmt::format("topic '{}' has {} partitions", topic, t->partitions), 40402);
    co_return result;
  }
  if (!recs || !recs->is_array() || recs->as_array().empty()) {
    result.bad = bad_field("records", "a non-empty array of records");
    co_return result;
  }
  const auto& arr = recs->as_array();
  const int64_t now = base::wall_ms();
  const uint32_t sticky = next_sticky++ % static_cast<uint32_t>(t->partitions);
  std::vector<planned_record> planned;
  planned.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const auto name = [&](std::string_view field) {
      return fmt::format("records[{}].{}", i, field);
    };
    if (!arr[i].is_object()) {
      result.bad = bad_field(fmt::format("records[{}]", i), "an object");
      co_return result;
    }
    const auto& o = arr[i].as_object();
    planned_record p;
    std::string why;
    for (const auto& [k, v] : o) {
      if (k == "key" || k == "value") {
        auto bytes = field_bytes(v, f, k == "key", why);
        if (!bytes) {
          result.bad = bad_field(name(k), why);
          co_return result;
        }
        (k == "key" ? p.rec.key : p.rec.value) = std::move(*bytes);
      } else if (k == "partition") {
        if (v.is_null()) continue;
        if (!v.is_int64() || v.as_int64() < 0 || v.as_int64() >= t->partitions) {
          result.bad =
              error(v.is_int64() ? 404 : 400, v.is_int64() ? "unknown_partition" : "invalid_field",
                    fmt::format("field '{}' must be a partition of topic '{}' (0 to {})",
                                name("partition"), topic, t->partitions - 1),
                    v.is_int64() ? 40402 : 0);
          co_return result;
        }
        p.partition = static_cast<int32_t>(v.as_int64());
        p.explicit_partition = true;
      } else if (k == "timestamp") {
        if (v.is_null()) continue;
        if (!v.is_int64() || v.as_int64() < 0) {
          result.bad =
              bad_field(name("timestamp"), "milliseconds since the epoch (an integer >= 0)");
          co_return result;
        }
        p.rec.timestamp = v.as_int64();
      } else if (k == "delay_ms" || k == "deliver_at") {
        // Delayed delivery: the record is held until then (the Kafka headers' meaning).
        if (v.is_null()) continue;
        if (!v.is_int64() || v.as_int64() < 0) {
          result.bad = bad_field(name(k), k == "delay_ms"
                                              ? "milliseconds from now (an integer >= 0)"
                                              : "milliseconds since the epoch (an integer >= 0)");
          co_return result;
        }
        p.rec.headers.push_back(
            {std::string(k == "delay_ms" ? broker::delay_ms_header : broker::deliver_at_header),
             std::to_string(v.as_int64())});
      } else if (k == "headers") {
        if (!parse_headers(v, f, p.rec.headers)) {
          result.bad = bad_field(name("headers"),
                                 f == format::binary
                                     ? "an object of names to base64 strings, or an array of "
                                       "{\"key\", \"value\"}"
                                     : "an object of names to strings, or an array of "
                                       "{\"key\", \"value\"}");
          co_return result;
        }
      } else {
        result.bad = error(400, "unknown_field",
                           fmt::format("field '{}' is not a record field (key, value, headers, "
                                       "partition, timestamp, delay_ms, deliver_at)",
                                       name(k)));
        co_return result;
      }
    }
    if (partition) {
      p.partition = *partition;
    } else if (!p.explicit_partition) {
      p.partition = p.rec.key ? broker::murmur2_partition(*p.rec.key, t->partitions)
                              : static_cast<int32_t>(sticky);
    }
    planned.push_back(std::move(p));
  }

  // One batch per partition, in request order within each.
  std::map<int32_t, std::vector<size_t>> by_partition;
  for (size_t i = 0; i < planned.size(); ++i) by_partition[planned[i].partition].push_back(i);
  std::vector<net::task<void>> tasks;
  std::map<int32_t, std::shared_ptr<partition_outcome>> outcomes;
  for (const auto& [part, indexes] : by_partition) {
    std::vector<broker::record> batch_records;
    batch_records.reserve(indexes.size());
    for (size_t i : indexes) batch_records.push_back(std::move(planned[i].rec));
    auto batch = producer ? broker::build_batch(batch_records, now, producer->id, producer->epoch,
                                                producer->sequence)
                          : broker::build_batch(batch_records, now);
    auto out = std::make_shared<partition_outcome>();
    outcomes[part] = out;
    broker::topic_partition tp{topic, part};
    tasks.push_back(produce_one(ctx.broker, req.who, std::move(tp), std::move(batch), out));
  }
  co_await net::when_all(std::move(tasks));

  result.rows.resize(planned.size());
  for (const auto& [part, indexes] : by_partition) {
    const auto& out = *outcomes[part];
    for (size_t j = 0; j < indexes.size(); ++j) {
      auto& row = result.rows[indexes[j]];
      row.partition = part;
      row.error = out.error;
      row.duplicate = out.duplicate;
      row.held =
          std::find(out.held.begin(), out.held.end(), static_cast<int32_t>(j)) != out.held.end();
      if (!out.error && !row.held) row.offset = out.base_offset + static_cast<int64_t>(j);
    }
  }
  co_return result;
}

namespace {

net::task<response> produce_body(server_context& ctx, request& req) {
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  format f = format::json;
  if (const auto* fv = body.if_contains("format")) {
    std::optional<format> parsed;
    if (fv->is_string()) parsed = parse_format(fv->as_string());
    if (!parsed) co_return bad_field("format", "\"json\", \"text\" or \"binary\"");
    f = *parsed;
  }
  std::optional<int32_t> partition;
  if (const auto* pv = body.if_contains("partition")) {
    if (!pv->is_int64() || pv->as_int64() < 0 || pv->as_int64() > INT32_MAX) {
      co_return bad_field("partition", "a partition number (every record goes there)");
    }
    partition = static_cast<int32_t>(pv->as_int64());
  }
  std::optional<producer_fields> producer;
  if (const auto* pv = body.if_contains("producer")) {
    const auto* o = pv->is_object() ? &pv->as_object() : nullptr;
    const auto* id = o ? o->if_contains("id") : nullptr;
    const auto* epoch = o ? o->if_contains("epoch") : nullptr;
    const auto* seq = o ? o->if_contains("sequence") : nullptr;
    if (!id || !id->is_int64() || id->as_int64() < 0 || !epoch || !epoch->is_int64() ||
        epoch->as_int64() < 0 || epoch->as_int64() > INT16_MAX || !seq || !seq->is_int64() ||
        seq->as_int64() < 0 || seq->as_int64() > INT32_MAX) {
      co_return bad_field("producer",
                          "{\"id\", \"epoch\"} from POST /v1/producers and \"sequence\": the "
                          "number of records this producer sent to the partition before");
    }
    if (!partition) {
      co_return bad_field("partition",
                          "given with \"producer\": sequences are counted per partition");
    }
    producer = producer_fields{id->as_int64(), static_cast<int16_t>(epoch->as_int64()),
                               static_cast<int32_t>(seq->as_int64())};
  }
  const std::string topic = req.params.at("topic");
  auto out = co_await produce_json_records(ctx, req, topic, body.if_contains("records"), f,
                                           partition, producer);
  if (out.bad) co_return *out.bad;
  bj::array offsets;
  std::error_code first_error;
  size_t failed = 0;
  bool duplicate = false;
  for (const auto& r : out.rows) {
    bj::object row{{"partition", r.partition}};
    if (r.error) {
      const auto e = classify(r.error);
      row["error"] = e.name;
      row["error_code"] = e.code;
      row["message"] = broker::to_broker_error(r.error).message();
      if (!first_error) first_error = r.error;
      ++failed;
    } else if (r.held) {
      row["delayed"] = true;  // no offset yet: it gets one when it is due
    } else {
      row["offset"] = r.offset;
    }
    duplicate = duplicate || r.duplicate;
    offsets.push_back(std::move(row));
  }
  if (failed == out.rows.size()) co_return from_error(first_error);
  bj::object answer{{"topic", topic}, {"offsets", std::move(offsets)}};
  if (producer) answer["duplicate"] = duplicate;
  co_return json(200, to_json(answer));
}

net::task<response> produce(server_context& ctx, request& req) {
  const std::string* key = req.header("idempotency-key");
  if (!key) co_return co_await produce_body(ctx, req);
  if (key->empty() || key->size() > 256) {
    co_return error(400, "invalid_idempotency_key",
                    "the Idempotency-Key header must be 1 to 256 characters");
  }
  // One key per topic: the same key on two topics names two requests.
  const std::string scoped = req.params.at("topic") + '\n' + *key;
  const unsigned home = idempotency_shard(scoped, ctx.broker.shards().size());
  const uint64_t hash = body_hash(req.body);
  auto begun = co_await ctx.broker.shards().invoke_on(home, idempotency_begin(scoped, hash));
  using state = idempotency_cache::state;
  if (begun.what == state::done) {
    begun.answer.headers.emplace_back("Idempotent-Replayed", "true");
    co_return begun.answer;
  }
  if (begun.what == state::in_progress) {
    co_return error(409, "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still being handled; retry it "
                    "shortly");
  }
  if (begun.what == state::mismatch) {
    co_return error(422, "idempotency_key_reused",
                    "this Idempotency-Key was used for a different request body", 42206);
  }
  auto answer = co_await produce_body(ctx, req);
  co_await ctx.broker.shards().invoke_on(home, idempotency_finish(scoped, answer));
  co_return answer;
}

net::task<response> create_producer(server_context& ctx, request&) {
  const int64_t id = co_await ctx.broker.allocate_producer_id();
  if (id < 0) {
    co_return error(503, "producer_id_unavailable",
                    "no producer id could be reserved (the data directory refused the write)");
  }
  co_return json(201, to_json(bj::object{{"id", id}, {"epoch", 0}}));
}

net::task<response> read(server_context& ctx, request& req) {
  const std::string& topic = req.params.at("topic");
  auto t = ctx.broker.metadata()->find(topic);
  if (!t) {
    co_return error(404, "unknown_topic", fmt::format("topic '{}' does not exist", topic), 40401);
  }
  auto p = path_int(req, "partition", 0, INT32_MAX);
  if (p.bad) co_return *p.bad;
  if (p.value >= t->partitions) {
    co_return error(404, "unknown_partition",
                    fmt::format("topic '{}' has {} partitions", topic, t->partitions), 40402);
  }
  format f = format::json;
  if (const std::string* fs = req.query_param("format")) {
    auto parsed = parse_format(*fs);
    if (!parsed) co_return bad_field("format", "json, text or binary");
    f = *parsed;
  }
  auto max_records = query_int(req, "max_records", 500, 1, 10000);
  if (max_records.bad) co_return *max_records.bad;
  auto max_bytes = query_int(req, "max_bytes", 1 << 20, 1, 64 << 20);
  if (max_bytes.bad) co_return *max_bytes.bad;
  auto timeout = query_int(req, "timeout_ms", 0, 0, ctx.options.max_wait.count());
  if (timeout.bad) co_return *timeout.bad;

  broker::topic_partition tp{topic, static_cast<int32_t>(p.value)};
  int64_t offset = 0;
  const std::string* os = req.query_param("offset");
  const std::string* ts = req.query_param("timestamp");
  if (ts) {
    auto when = query_int(req, "timestamp", 0, 0, INT64_MAX);
    if (when.bad) co_return *when.bad;
    auto r = co_await ctx.broker.data().list_offset(req.who, tp, broker::offset_spec::by_timestamp,
                                                    when.value);
    if (r.error) co_return from_error(r.error);
    if (r.offset < 0) {
      r = co_await ctx.broker.data().list_offset(req.who, tp, broker::offset_spec::latest);
      if (r.error) co_return from_error(r.error);
    }
    offset = r.offset;
  } else if (!os || *os == "earliest" || *os == "latest") {
    const auto spec =
        os && *os == "latest" ? broker::offset_spec::latest : broker::offset_spec::earliest;
    auto r = co_await ctx.broker.data().list_offset(req.who, tp, spec);
    if (r.error) co_return from_error(r.error);
    offset = r.offset;
  } else {
    auto o = query_int(req, "offset", 0, 0, INT64_MAX);
    if (o.bad) {
      co_return bad_field("offset", "an offset (integer >= 0), \"earliest\" or \"latest\"");
    }
    offset = o.value;
  }

  auto answer = co_await read_records(
      ctx.broker, req.who, tp, offset, static_cast<size_t>(max_records.value),
      static_cast<size_t>(max_bytes.value), std::chrono::milliseconds(timeout.value));
  if (answer.error) {
    auto r = from_error(answer.error);
    if (classify(answer.error).status == 416) {
      r.body = fmt::format("offset {} is outside the partition's records: {} to {}", offset,
                           answer.log_start, answer.high_watermark);
    }
    co_return r;
  }
  bj::array records;
  for (const auto& rec : answer.records) {
    records.push_back(record_to_json(rec, static_cast<int32_t>(p.value), f));
  }
  co_return json(200, to_json(bj::object{{"topic", topic},
                                         {"partition", p.value},
                                         {"records", std::move(records)},
                                         {"next_offset", answer.next_offset},
                                         {"high_watermark", answer.high_watermark}}));
}

}  // namespace

void add_record_routes(router& r) {
  r.add({.method = "POST",
         .pattern = "/v1/topics/{topic}/records",
         .fn = produce,
         .summary = "Appends records; answers each record's partition and offset once the "
                    "topic's durability policy is met. A record without a partition goes "
                    "where a Kafka client would put its key (murmur2).",
         .tag = "records",
         .request_body = R"({"type":"object","required":["records"],"properties":{)"
                         R"("format":{"type":"string","enum":["json","text","binary"]},)"
                         R"("records":{"type":"array","items":{"type":"object","properties":{)"
                         R"("key":{},"value":{},"partition":{"type":"integer"},)"
                         R"("timestamp":{"type":"integer"},"headers":{"type":"object"},)"
                         R"("delay_ms":{"type":"integer"},"deliver_at":{"type":"integer"}}}}}})",
         .content_types = {"application/json"},
         .statuses = {400, 403, 404, 409, 413, 415, 422, 503, 507}});
  r.add({.method = "POST",
         .pattern = "/v1/producers",
         .fn = create_producer,
         .summary = "Reserves an idempotent producer id: produce with {\"producer\": {\"id\", "
                    "\"epoch\", \"sequence\"}} and a partition, and the partition stores a "
                    "retried request once, across restarts too",
         .tag = "records",
         .statuses = {201, 503}});
  r.add({.method = "GET",
         .pattern = "/v1/topics/{topic}/partitions/{partition}/records",
         .fn = read,
         .summary = "Records of one partition from an offset (or earliest, latest, or the "
                    "first at a timestamp), waiting up to timeout_ms for new ones",
         .tag = "records",
         .query = {{"offset", "query", "string", "an offset, earliest (default) or latest", false},
                   {"timestamp", "query", "integer",
                    "start at the first record at or after this time (ms since the epoch)", false},
                   {"max_records", "query", "integer", "at most this many records (500)", false},
                   {"max_bytes", "query", "integer", "about this many bytes of records (1 MiB)",
                    false},
                   {"timeout_ms", "query", "integer",
                    "wait this long for a record when there is none (0)", false},
                   {"format", "query", "string", "json (default), text or binary", false}},
         .statuses = {400, 404, 416}});
}

}  // namespace http
