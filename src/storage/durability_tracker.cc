#include "storage/durability_tracker.h"

#include <algorithm>
#include <utility>
#include <vector>

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
  // Take every waiter now covered before calling any: a callback may wait again, or fail
  // the log, and a failure must not reach a waiter whose data is already durable.
  size_t ready = 0;
  while (ready < waiters_.size() && waiters_[ready].offset <= durable_.offset) ++ready;
  if (ready == 0) return;
  std::vector<callback> done;
  done.reserve(ready);
  for (size_t i = 0; i < ready; ++i) done.push_back(std::move(waiters_[i].done));
  waiters_.erase(waiters_.begin(), waiters_.begin() + static_cast<std::ptrdiff_t>(ready));
  for (auto& d : done) d({});
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
