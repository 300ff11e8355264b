#pragma once
// Kafka wire primitives: a bounds-checked big-endian reader over a contiguous request
// buffer and a writer that appends to an iobuf. The generated message codecs
// (kafka/protocol/generated/) are written in terms of these two classes.
//
// Encodings (Kafka protocol guide; KIP-482 for the compact forms used by flexible versions):
//   string  int16 length (-1 = null) + UTF-8       compact: uvarint length+1 (0 = null)
//   bytes   int32 length (-1 = null) + bytes        compact: uvarint length+1 (0 = null)
//   array   int32 count (-1 = null) + elements      compact: uvarint count+1 (0 = null)
//   records like bytes; the payload is one or more record batches, not decoded here.
//
// The reader never throws and never reads outside its input: the first malformed value
// puts it in a sticky failed state, after which every read returns a zero value. Lengths
// and counts are checked against the bytes that remain before anything is allocated.
// Neither class is thread-safe; both are meant to live on one shard for one message.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/iobuf.h"

namespace kafka::protocol {

using uuid = std::array<uint8_t, 16>;

// A records field (Produce/Fetch record batches). Kept as raw bytes so batches travel
// from socket to disk and from disk to socket without being decoded or copied.
struct records {
  bool is_null = false;
  // Decode: the payload, pointing into the reader's input (the caller keeps it alive).
  std::span<const uint8_t> view;
  // Encode: when non-empty, written instead of `view` (may hold file ranges).
  base::iobuf data;

  size_t size() const { return data.empty() ? view.size() : data.size(); }

  // Compares nullness and content. Memory bytes are compared by value; file ranges
  // (which would need I/O to read) only match the same range of the same file.
  bool operator==(const records& other) const;
};

// The memory a decoded request costs beyond its wire bytes (the elements of its arrays),
// charged as the decoder allocates them. A request whose decoded form would pass `limit`
// fails to decode instead of allocating; `shared`, when set, is the account of every
// request on the shard, raised by the same amounts (the owner of the account gives
// `charged` back when the request is done).
struct decode_account {
  uint64_t limit = UINT64_MAX;
  uint64_t charged = 0;
  uint64_t* shared = nullptr;
  bool over_limit = false;
};

class reader {
 public:
  explicit reader(std::span<const uint8_t> in, decode_account* account = nullptr)
      : in_(in), account_(account) {}

  bool ok() const { return ok_; }
  // Puts the reader in the failed state (used by decoders for semantic violations,
  // e.g. a null where the version does not allow one).
  void fail() { ok_ = false; }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }
  std::span<const uint8_t> rest() const { return in_.subspan(pos_); }

  int8_t read_int8();
  int16_t read_int16();
  int32_t read_int32();
  int64_t read_int64();
  uint16_t read_uint16();
  uint32_t read_uint32();
  double read_float64();
  bool read_bool();  // any non-zero byte is true
  uuid read_uuid();

  // Unsigned varint of at most 5 bytes (a uint32); longer encodings fail.
  uint32_t read_unsigned_varint();
  // Zigzag varint (at most 5 bytes) and varlong (at most 10 bytes).
  int32_t read_varint();
  int64_t read_varlong();

  // Non-nullable reads fail on the null marker.
  std::string read_string();
  std::optional<std::string> read_nullable_string();
  std::string read_compact_string();
  std::optional<std::string> read_compact_nullable_string();

  std::vector<uint8_t> read_bytes();
  std::optional<std::vector<uint8_t>> read_nullable_bytes();
  std::vector<uint8_t> read_compact_bytes();
  std::optional<std::vector<uint8_t>> read_compact_nullable_bytes();

  // Length-prefixed record data as a view into the input; a null marker sets is_null.
  records read_records();
  records read_compact_records();

  // Array counts: returns the count, or -1 for the null marker (the caller decides
  // whether null is allowed). Fails, returning 0, on any other negative count and on a
  // count that cannot fit: count * max(1, min_element_size) > remaining().
  int32_t read_array_count(size_t min_element_size = 1);
  int32_t read_compact_array_count(size_t min_element_size = 1);
  // Makes room for `n` decoded elements in `v`, charging them to the decode account;
  // fails instead when the account's limit would be passed.
  template <typename Vector>
  void reserve_elements(Vector& v, int32_t n) {
    if (n <= 0 || !charge(static_cast<uint64_t>(n) * sizeof(typename Vector::value_type))) return;
    v.reserve(static_cast<size_t>(n));
  }
  decode_account* account() const { return account_; }

  // The next `n` bytes as a view; fails (returning an empty span) if fewer remain.
  std::span<const uint8_t> read_raw(size_t n);
  void skip(size_t n) { (void)read_raw(n); }
  // A reader over exactly the next `n` bytes, which this reader skips. If fewer than
  // `n` remain, this reader fails and the returned one is already failed.
  reader sub_reader(size_t n);
  // Skips a whole tagged-field section (count, then tag/size/payload triples).
  void skip_tagged_fields();

 private:
  // Pointer to the next `n` bytes (advancing past them), or nullptr after failing.
  const uint8_t* take(size_t n);
  // Checks a decoded length against remaining(); fails and returns false if too long.
  bool fits(uint64_t n);
  // Adds `bytes` to the decode account (if any); false (and failed) over its limit.
  bool charge(uint64_t bytes);

  std::span<const uint8_t> in_;
  decode_account* account_ = nullptr;
  size_t pos_ = 0;
  bool ok_ = true;
};

class writer {
 public:
  explicit writer(base::iobuf& out) : out_(out), start_(out.size()) {}

  // False once a value could not be represented (a classic string longer than 32767
  // bytes, a length above the int32 or uvarint range). The value is then replaced by an
  // empty one so the output stays parseable, but it is not what the caller asked for.
  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  // Bytes appended through this writer.
  size_t written() const { return out_.size() - start_; }
  base::iobuf& buffer() { return out_; }
  const base::iobuf& buffer() const { return out_; }

  void write_int8(int8_t v);
  void write_int16(int16_t v);
  void write_int32(int32_t v);
  void write_int64(int64_t v);
  void write_uint16(uint16_t v);
  void write_uint32(uint32_t v);
  void write_float64(double v);
  void write_bool(bool v) { write_int8(v ? 1 : 0); }
  void write_uuid(const uuid& v) { write_raw(v); }

  void write_unsigned_varint(uint32_t v);
  void write_varint(int32_t v);
  void write_varlong(int64_t v);

  void write_string(std::string_view s);
  void write_nullable_string(const std::optional<std::string>& s);
  void write_compact_string(std::string_view s);
  void write_compact_nullable_string(const std::optional<std::string>& s);

  void write_bytes(std::span<const uint8_t> b);
  void write_nullable_bytes(const std::optional<std::vector<uint8_t>>& b);
  void write_compact_bytes(std::span<const uint8_t> b);
  void write_compact_nullable_bytes(const std::optional<std::vector<uint8_t>>& b);

  // Writes `r.data` (appending its fragments, file ranges included) or else `r.view`.
  void write_records(const records& r);
  void write_compact_records(const records& r);

  void write_array_count(size_t n);
  void write_null_array_count() { write_int32(-1); }
  void write_compact_array_count(size_t n);
  void write_compact_null_array_count() { write_unsigned_varint(0); }

  void write_raw(std::span<const uint8_t> b) { out_.append(b); }
  // Writes one tagged field: tag, payload size, then everything `payload` wrote.
  // `payload` must write to a buffer other than this writer's.
  void write_tagged_field(uint32_t tag, const writer& payload);

 private:
  void write_records_payload(const records& r);

  base::iobuf& out_;
  size_t start_;
  bool ok_ = true;
};

}  // namespace kafka::protocol
