// Streams of a topic's records: /v1/topics/{topic}/events (Server-Sent Events) and
// /v1/topics/{topic}/ws (WebSocket, with credit-based flow control).

#include <fmt/format.h>

#include "http/consumer.h"
#include "http/errors.h"
#include "http/json_util.h"
#include "http/server.h"
#include "http/stream.h"

namespace http {
namespace {

struct stream_request {
  std::optional<response> bad;
  topic_stream_options opts;
  std::string from;
};

stream_request parse(const request& req) {
  stream_request out;
  if (const std::string* f = req.query_param("format")) {
    auto parsed = parse_format(*f);
    if (!parsed) {
      out.bad = bad_field("format", "json, text or binary");
      return out;
    }
    out.opts.fmt = *parsed;
  }
  if (const std::string* from = req.query_param("from")) out.from = *from;
  return out;
}

net::task<response> open_stream(server_context& ctx, request& req, bool websocket) {
  auto sr = parse(req);
  if (sr.bad) co_return *sr.bad;
  if (websocket) {
    const std::string* upgrade = req.header("upgrade");
    if (!upgrade || upgrade->find("websocket") == std::string::npos) {
      auto r = error(426, "upgrade_required",
                     "this path speaks WebSocket: connect with a WebSocket client "
                     "(ws://HOST:PORT" +
                         req.path + ")");
      r.headers.emplace_back("Upgrade", "websocket");
      co_return r;
    }
    auto credit = query_int(req, "credit", 0, 0, 1000000000);
    if (credit.bad) co_return *credit.bad;
    sr.opts.credit_flow = true;
    sr.opts.initial_credit = static_cast<uint64_t>(credit.value);
  } else if (const std::string* last = req.header("last-event-id"); last && !last->empty()) {
    // An EventSource reconnecting: resume after the last event it saw.
    sr.from = *last;
  }
  const std::string topic = req.params.at("topic");
  if (const std::string* group = req.query_param("group")) {
    // As a member of a group: the group's partitions and committed offsets decide what
    // comes; `from` (earliest or latest) only where the group has committed nothing.
    if (group->empty()) co_return bad_field("group", "a group id");
    if (!ctx.broker.metadata()->find(topic)) {
      co_return error(404, "unknown_topic", fmt::format("topic '{}' does not exist", topic), 40401);
    }
    if (!sr.from.empty() && sr.from != "earliest" && sr.from != "latest") {
      co_return bad_field("from", "earliest or latest with group (the group's offsets apply)");
    }
    static thread_local uint64_t streams = 0;
    consumer_settings s;
    s.group = *group;
    s.name = fmt::format("{}-stream-{}-{}", websocket ? "ws" : "sse", ctx.broker.shards().current(),
                         ++streams);
    s.fmt = sr.opts.fmt;
    s.reset_earliest = sr.from == "earliest";
    s.auto_commit = true;
    s.instance_timeout = ctx.options.consumer_timeout;
    const std::string name = s.name;
    std::optional<std::vector<std::string>> topics{{topic}};
    auto v = co_await ctx.broker.shards().invoke_on(
        ctx.broker.group_shard(*group),
        create_consumer(ctx.broker, req.who, std::move(s), std::move(topics),
                        ctx.options.max_consumers));
    if (v.bad) co_return *v.bad;
    response r;
    r.stream = std::make_shared<group_stream>(ctx, *group, name, sr.opts);
    r.websocket = websocket;
    co_return r;
  }
  auto start = co_await resolve_start(ctx, req.who, topic, sr.from);
  if (start.bad) co_return *start.bad;
  response r;
  r.stream =
      std::make_shared<topic_stream>(ctx, req.who, topic, std::move(start.positions), sr.opts);
  r.websocket = websocket;
  co_return r;
}

net::task<response> sse(server_context& ctx, request& req) {
  return open_stream(ctx, req, false);
}

net::task<response> ws(server_context& ctx, request& req) {
  return open_stream(ctx, req, true);
}

}  // namespace

void add_stream_routes(router& r) {
  const std::vector<route_param> common = {
      {"from", "query", "string",
       "earliest, latest (default), timestamp:MS, or positions 0:15,1:7 (partition:offset; "
       "partitions not named start at latest)",
       false},
      {"format", "query", "string", "json (default), text or binary", false},
      {"group", "query", "string",
       "follow the topic as a member of this consumer group: the group's partitions and "
       "committed offsets (committed as records are pushed); with from = earliest or latest "
       "for partitions it has not committed",
       false}};
  r.add({.method = "GET",
         .pattern = "/v1/topics/{topic}/events",
         .fn = sse,
         .summary = "Server-Sent Events: every record of the topic as it becomes readable; "
                    "each event's id is the position to resume from (Last-Event-ID)",
         .tag = "streams",
         .query = common,
         .statuses = {400, 404}});
  auto ws_params = common;
  ws_params.push_back({"credit", "query", "integer",
                       "records the client is ready for at once (0); grant more by sending "
                       "{\"credit\": N}",
                       false});
  r.add({.method = "GET",
         .pattern = "/v1/topics/{topic}/ws",
         .fn = ws,
         .summary = "WebSocket: the topic's records as JSON messages, within the credit the "
                    "client grants",
         .tag = "streams",
         .query = ws_params,
         .statuses = {400, 404, 426}});
}

}  // namespace http
