#pragma once
// durability_tracker: what of one partition's log is durable, and who waits for what.
//
// It holds the durable point (the log's end as of the last fsync or journal round that
// covered it), the appends not yet durable in offset order, each with the journal
// position at its end (0: not journaled, so only an fsync of its segment covers it),
// and the callers waiting for an offset to become durable. It does no I/O and owns no
// executor: the partition_log it belongs to reports fsyncs and journal rounds, and the
// callbacks run on the caller's thread (the shard of the partition).

#include <cstdint>
#include <deque>
#include <functional>
#include <system_error>

namespace storage {

// A position in a log: the offset following the last batch, and where that batch ends
// (its segment's base offset and the byte position in the segment's file).
struct durable_point {
  int64_t offset = 0;
  int64_t segment_base = 0;
  uint64_t position = 0;
};

class durability_tracker {
 public:
  using callback = std::function<void(std::error_code)>;

  explicit durability_tracker(const durable_point& start = {}) : durable_(start) {}

  // Every offset below durable().offset is durable.
  const durable_point& durable() const { return durable_; }

  // An append ending at `end`, after every append noted before it. `journal_pos` is the
  // journal position at the end of its entry, or 0 when it was not journaled (it is then
  // durable only once its segment is fsynced up to `end`).
  void note_append(const durable_point& end, uint64_t journal_pos) {
    marks_.push_back({end, journal_pos});
    if (journal_pos == 0) ++unjournaled_;
  }
  // How many appends not yet durable wait for a segment fsync (none were journaled).
  size_t unjournaled() const { return unjournaled_; }
  // The journal failed: every append not yet durable waits for a segment fsync.
  void journal_failed();

  // Calls `done` once every offset below `end_offset` is durable: at once if it already
  // is, otherwise when advance() passes it. Waiters complete in offset order (those with
  // the same offset in the order they came).
  void wait(int64_t end_offset, callback done);
  // Whether anyone waits for an offset that is not durable yet.
  bool waiting() const { return !waiters_.empty() && waiters_.back().offset > durable_.offset; }

  // The segments are fsynced up to `synced` (ignored if below the durable point) and the
  // journal is durable up to `journal_durable`: moves the durable point past every
  // leading append this covers and completes the waiters it passes.
  void advance(const durable_point& synced, uint64_t journal_durable);

  // Nothing more will become durable: forgets the appends not yet durable and completes
  // every waiter with `ec`.
  void fail(std::error_code ec);

 private:
  struct mark {
    durable_point end;
    uint64_t journal_pos;
  };
  struct waiter {
    int64_t offset;
    callback done;
  };

  durable_point durable_;
  std::deque<mark> marks_;
  size_t unjournaled_ = 0;
  std::deque<waiter> waiters_;  // by offset
};

}  // namespace storage
