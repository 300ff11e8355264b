#include <vector>
// libFuzzer target for RecordBatch v2 parsing: batch validation (lengths, magic, CRC)
// and record iteration must reject malformed input without reading out of bounds.
// A batch that validates is also walked record by record, decompressed for every codec
// (bounded: a bomb is refused), and checked as an append checks it (scan_records); one
// an append takes is split as delayed delivery splits it, and what the split stores at
// once must be a batch an append takes too. The internal topic's record decoders get
// the raw input.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "broker/delayed_records.h"
#include "storage/record_batch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  // Exercise record parsing even when the fuzzer has not found a matching CRC: the
  // first byte chooses whether the CRC is recomputed over the input.
  std::vector<uint8_t> bytes(in.begin(), in.end());
  if (!bytes.empty() && (bytes[0] & 1) && bytes.size() >= storage::batch_header_size) {
    auto h = storage::decode_header(bytes);
    if (h.batch_length >= 0 && h.size_bytes() <= bytes.size() &&
        h.size_bytes() >= storage::batch_header_size) {
      storage::put_i32(
          &bytes[storage::batch_crc_offset],
          static_cast<int32_t>(storage::compute_batch_crc(std::span(bytes).first(h.size_bytes()))));
    }
  }
  auto h = storage::validate_batch(bytes);
  if (h) {
    const auto batch = std::span<const uint8_t>(bytes).first(h->size_bytes());
    size_t seen = 0;
    std::vector<uint8_t> scratch;
    (void)storage::for_each_record(
        batch,
        [&](const storage::record_view& r) {
          seen += r.key ? r.key->size() : 0;
          return true;
        },
        scratch);
    auto info = storage::scan_records(batch, *h, scratch);
    // What an append accepts has exactly record_count records whose offsets are
    // base..base+lastOffsetDelta.
    if (info && h->record_count != h->last_offset_delta + 1) __builtin_trap();
    if (info && info->max_timestamp_offset >= 0 &&
        (info->max_timestamp_offset < h->base_offset ||
         info->max_timestamp_offset > h->last_offset())) {
      __builtin_trap();
    }
    if (info) {
      const std::array<uint8_t, 16> id{};
      auto split = broker::split_delayed(batch, 1'000'000, (bytes[0] & 2) ? 500 : 0, id, 0);
      if (split && split->remainder) {
        auto rh = storage::validate_batch(*split->remainder);
        if (!rh || rh->record_count != split->kept) __builtin_trap();
        storage::scan_options gaps;
        gaps.allow_offset_gaps = true;
        if (!storage::scan_records(*split->remainder, *rh, scratch, gaps)) __builtin_trap();
      }
      if (split) {
        for (const auto& held : split->held) {
          auto back = broker::decode_held_record(broker::encode_held_record(held));
          if (!back || back->rec != held.rec) __builtin_trap();
        }
      }
    }
  }
  (void)broker::decode_held_record(in);
  (void)broker::decode_move_intent(in);
  (void)broker::decode_delayed_key(in);
  return 0;
}
