#pragma once
// Streams of records pushed to a client over Server-Sent Events or a WebSocket.
//
// A topic_stream follows every partition of one topic from a position per partition and
// hands out events of records as they become readable. Over WebSocket the client grants
// credit (records it is ready for); the stream never hands out more. The transport
// (transport.cc) writes the events and bounds what a slow client can make it hold.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/request_identity.h"
#include "http/api.h"
#include "http/memory.h"
#include "http/positions.h"
#include "http/reader.h"
#include "http/record_json.h"

namespace http {

class server_context;

struct stream_event {
  std::string id{};    // SSE event id: where to resume after this event
  std::string name{};  // SSE event name ("records", "error")
  std::string data{};  // JSON
  // JSON shared with other subscribers (instead of `data`), and what keeps it and the
  // shard memory it is counted in until written.
  std::shared_ptr<const std::string> shared{};
  std::shared_ptr<const void> keep{};
  memory_hold hold{};  // the shard memory the events of one next() take, until written

  std::string_view body() const { return shared ? std::string_view(*shared) : data; }
};

class event_stream {
 public:
  virtual ~event_stream() = default;
  // Events ready now, or after waiting up to `max_wait` (cut short by `wake`); may be
  // empty. After an event named "error" the stream has ended.
  virtual net::task<std::vector<stream_event>> next(std::shared_ptr<wakeup> wake,
                                                    std::chrono::milliseconds max_wait) = 0;
  // A text message from a WebSocket client; an error text ends the stream (the
  // connection closes with 1008 and that reason).
  virtual std::optional<std::string> on_message(std::string_view text) = 0;
  virtual bool ended() const = 0;
  // The client has gone: release what the stream holds (a group membership).
  virtual net::task<void> close() { co_return; }
};

// Credit a WebSocket client grants: {"credit": N}. Adds N to `credit`, or returns why the
// message is refused.
std::optional<std::string> take_credit(std::string_view text, uint64_t& credit);

struct topic_stream_options {
  format fmt = format::json;
  bool credit_flow = false;     // WebSocket: records only against credit the client grants
  uint64_t initial_credit = 0;  // records
  size_t max_event_records = 500;
  size_t max_read_bytes = 1u << 20;
};

class topic_stream final : public event_stream {
 public:
  topic_stream(server_context& ctx, broker::request_identity who, std::string topic,
               std::map<int32_t, int64_t> positions, topic_stream_options opts);

  net::task<std::vector<stream_event>> next(std::shared_ptr<wakeup> wake,
                                            std::chrono::milliseconds max_wait) override;
  std::optional<std::string> on_message(std::string_view text) override;
  bool ended() const override { return ended_; }

  const std::map<int32_t, int64_t>& positions() const { return positions_; }

 private:
  stream_event fail(std::string_view name, std::string message);

  server_context& ctx_;
  broker::request_identity who_;
  std::string topic_;
  std::map<int32_t, int64_t> positions_;
  topic_stream_options opts_;
  uint64_t credit_ = 0;
  bool ended_ = false;
};

// A stream as a member of a consumer group: an HTTP consumer (consumer.h) made for the
// connection, given the partitions the group assigns it, committing what it pushed, and
// deleted (leaving the group) when the connection closes.
class group_stream final : public event_stream {
 public:
  group_stream(server_context& ctx, std::string group, std::string name, topic_stream_options opts);

  net::task<std::vector<stream_event>> next(std::shared_ptr<wakeup> wake,
                                            std::chrono::milliseconds max_wait) override;
  std::optional<std::string> on_message(std::string_view text) override {
    return take_credit(text, credit_);
  }
  bool ended() const override { return ended_; }
  net::task<void> close() override;

 private:
  server_context& ctx_;
  std::string group_;
  std::string name_;
  topic_stream_options opts_;
  uint64_t credit_ = 0;
  bool ended_ = false;
};

// Where a new subscription starts, from `from` ("earliest", "latest", "timestamp:MS",
// or positions "0:15,1:7"; partitions not named start at the latest offset), for every
// partition of `topic`. The error answer when `from` or the topic is wrong.
struct start_positions {
  std::map<int32_t, int64_t> positions;
  std::optional<response> bad;
};
net::task<start_positions> resolve_start(server_context& ctx, const broker::request_identity& who,
                                         std::string topic, std::string from);

}  // namespace http
