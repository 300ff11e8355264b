#pragma once
// Reading one partition's records for the HTTP API and the streams (SSE, WebSocket):
// whole batches from the partition service, decoded into records, with a long poll that
// the partition's next readable record (or the caller) cuts short.

#include <chrono>
#include <memory>
#include <system_error>
#include <vector>

#include "broker/broker.h"
#include "broker/records.h"
#include "net/asio.h"

namespace http {

// What a waiting read sleeps on: a timer that a partition's owner (through a
// data_waiter), a closing connection or a stream's new credit cancels.
struct wakeup {
  explicit wakeup(const net::asio::any_io_executor& ex) : timer(ex) {}
  void wake() {
    woken = true;
    timer.cancel();
  }
  net::asio::steady_timer timer;
  bool woken = false;  // touched only on the timer's shard
};

// A data_waiter that wakes `w` on its own shard (from a partition's owner).
std::shared_ptr<broker::data_waiter> waiter_for(const std::shared_ptr<wakeup>& w);

// The calling shard's waits (long polls, streams, consumers), so that a stopping server
// can end them at once instead of after their timeouts. register_wait remembers `w`
// (weakly); stop_waits wakes every one and makes stopping() true on this shard, after
// which nothing should start waiting.
void register_wait(const std::shared_ptr<wakeup>& w);
// Drops from `waits` the ones that have ended and the ones listed twice.
void sweep_waits(std::vector<std::weak_ptr<wakeup>>& waits);
void stop_waits();
bool stopping();

struct read_answer {
  std::error_code error;
  std::vector<broker::record> records;
  int64_t next_offset = -1;  // where the next read starts
  int64_t high_watermark = -1;
  int64_t log_start = -1;
};

// Reads records of `tp` from `offset`: at most `max_records`, and about `max_bytes` of
// batches (the first batch is returned whole even when larger). When there are none yet
// it waits up to `wait` for the high watermark to pass `offset` (or for `cancel` to be
// woken, when given).
net::task<read_answer> read_records(broker::broker& b, const broker::request_identity& who,
                                    broker::topic_partition tp, int64_t offset, size_t max_records,
                                    size_t max_bytes, std::chrono::milliseconds wait,
                                    std::shared_ptr<wakeup> cancel = nullptr);

}  // namespace http
