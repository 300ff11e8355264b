#include "storage/durability_tracker.h"

#include <algorithm>
#include <utility>

namespace storage {

void durability_tracker::journal_failed() {
  for (auto& m : marks_) {
    if (m.journal_pos != 0) {
      m.journal_pos = 0;
      ++unjournaled_;
    }
  }
}

void durability_tracker::wait(int64_t end_offset, callback done) {
  if (end_offset <= durable_.offset) return done({});
  if (waiters_.empty() || waiters_.back().offset <= end_offset) {
    waiters_.push_back({end_offset, std::move(done)});
    return;
  }
  auto at = std::upper_bound(waiters_.begin(), waiters_.end(), end_offset,
                             [](int64_t o, const waiter& w) { return o < w.offset; });
  waiters_.insert(at, {end_offset, std::move(done)});
}

void durability_tracker::advance(const durable_point& synced, uint64_t journal_durable) {
  if (synced.offset >= durable_.offset) durable_ = synced;
  // Appends now covered: by the synced point, or (past an unjournaled one that it
  // covers) by what the journal already made durable.
  while (!marks_.empty()) {
    const auto& m = marks_.front();
    if (m.end.offset <= durable_.offset) {
      if (m.journal_pos == 0) --unjournaled_;
    } else if (m.journal_pos != 0 && m.journal_pos <= journal_durable) {
      durable_ = m.end;
    } else {
      break;
    }
    marks_.pop_front();
  }
  // One at a time: a callback may wait again, or fail the log.
  while (!waiters_.empty() && waiters_.front().offset <= durable_.offset) {
    auto done = std::move(waiters_.front().done);
    waiters_.pop_front();
    done({});
  }
}

void durability_tracker::fail(std::error_code ec) {
  marks_.clear();
  unjournaled_ = 0;
  while (!waiters_.empty()) {
    auto done = std::move(waiters_.front().done);
    waiters_.pop_front();
    done(ec);
  }
}

}  // namespace storage
