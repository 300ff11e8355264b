#include "kafka/protocol/wire.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>
#include <variant>

#include "base/varint.h"

namespace kafka::protocol {
namespace {

// A piece of a records payload: memory bytes, or a range of a file (source != nullptr).
struct piece {
  std::span<const uint8_t> bytes;
  const base::file* source = nullptr;
  uint64_t offset = 0;
  size_t size = 0;
};

std::vector<piece> pieces_of(const records& r) {
  std::vector<piece> out;
  if (r.data.empty()) {
    if (!r.view.empty()) out.push_back({r.view, nullptr, 0, r.view.size()});
    return out;
  }
  for (const auto& frag : r.data.fragments()) {
    if (const auto* m = std::get_if<base::memory_fragment>(&frag)) {
      if (m->size > 0) out.push_back({m->bytes(), nullptr, 0, m->size});
    } else {
      const auto& f = std::get<base::file_fragment>(frag);
      if (f.size > 0) out.push_back({{}, f.source.get(), f.offset, f.size});
    }
  }
  return out;
}

template <typename T>
T load_be(const uint8_t* p) {
  using U = std::make_unsigned_t<T>;
  U v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<U>((v << 8) | p[i]);
  return static_cast<T>(v);
}

template <typename T>
void store_be(T value, uint8_t* p) {
  using U = std::make_unsigned_t<T>;
  auto v = static_cast<U>(value);
  for (size_t i = sizeof(T); i-- > 0;) {
    p[i] = static_cast<uint8_t>(v & 0xff);
    v = static_cast<U>(v >> 8);
  }
}

std::string to_string(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

constexpr size_t max_classic_string = std::numeric_limits<int16_t>::max();
constexpr size_t max_int32 = std::numeric_limits<int32_t>::max();
// A compact length is encoded as length+1 in a uint32 varint.
constexpr size_t max_compact = std::numeric_limits<uint32_t>::max() - 1;

}  // namespace

bool records::operator==(const records& other) const {
  if (is_null != other.is_null) return false;
  if (size() != other.size()) return false;
  auto a = pieces_of(*this);
  auto b = pieces_of(other);
  size_t ia = 0, ib = 0, oa = 0, ob = 0;  // piece index and offset within it
  while (ia < a.size() && ib < b.size()) {
    const piece& pa = a[ia];
    const piece& pb = b[ib];
    const size_t n = std::min(pa.size - oa, pb.size - ob);
    if ((pa.source == nullptr) != (pb.source == nullptr)) return false;
    if (pa.source == nullptr) {
      if (std::memcmp(pa.bytes.data() + oa, pb.bytes.data() + ob, n) != 0) return false;
    } else if (pa.source != pb.source || pa.offset + oa != pb.offset + ob) {
      return false;
    }
    oa += n;
    ob += n;
    if (oa == pa.size) ++ia, oa = 0;
    if (ob == pb.size) ++ib, ob = 0;
  }
  return true;
}

// ---- reader ----

const uint8_t* reader::take(size_t n) {
  if (!ok_ || n > remaining()) {
    ok_ = false;
    return nullptr;
  }
  const uint8_t* p = in_.data() + pos_;
  pos_ += n;
  return p;
}

bool reader::fits(uint64_t n) {
  if (!ok_ || n > remaining()) {
    ok_ = false;
    return false;
  }
  return true;
}

int8_t reader::read_int8() {
  const uint8_t* p = take(1);
  return p ? static_cast<int8_t>(*p) : 0;
}
int16_t reader::read_int16() {
  const uint8_t* p = take(2);
  return p ? load_be<int16_t>(p) : 0;
}
int32_t reader::read_int32() {
  const uint8_t* p = take(4);
  return p ? load_be<int32_t>(p) : 0;
}
int64_t reader::read_int64() {
  const uint8_t* p = take(8);
  return p ? load_be<int64_t>(p) : 0;
}
uint16_t reader::read_uint16() {
  const uint8_t* p = take(2);
  return p ? load_be<uint16_t>(p) : 0;
}
uint32_t reader::read_uint32() {
  const uint8_t* p = take(4);
  return p ? load_be<uint32_t>(p) : 0;
}
double reader::read_float64() {
  const uint8_t* p = take(8);
  return p ? std::bit_cast<double>(load_be<uint64_t>(p)) : 0.0;
}
bool reader::read_bool() {
  return read_int8() != 0;
}

uuid reader::read_uuid() {
  uuid v{};
  if (const uint8_t* p = take(v.size())) std::memcpy(v.data(), p, v.size());
  return v;
}

uint32_t reader::read_unsigned_varint() {
  if (!ok_) return 0;
  auto d = base::varint::decode_unsigned32(rest());
  if (!d) {
    ok_ = false;
    return 0;
  }
  pos_ += d->size;
  return d->value;
}

int32_t reader::read_varint() {
  if (!ok_) return 0;
  auto d = base::varint::decode_signed32(rest());
  if (!d) {
    ok_ = false;
    return 0;
  }
  pos_ += d->size;
  return d->value;
}

int64_t reader::read_varlong() {
  if (!ok_) return 0;
  auto d = base::varint::decode_signed64(rest());
  if (!d) {
    ok_ = false;
    return 0;
  }
  pos_ += d->size;
  return d->value;
}

std::string reader::read_string() {
  auto s = read_nullable_string();
  if (!s) {
    ok_ = false;
    return {};
  }
  return std::move(*s);
}

std::optional<std::string> reader::read_nullable_string() {
  const int16_t len = read_int16();
  if (!ok_) return std::string();
  if (len == -1) return std::nullopt;
  if (len < 0 || !fits(static_cast<uint64_t>(len))) {
    ok_ = false;
    return std::string();
  }
  return to_string(read_raw(static_cast<size_t>(len)));
}

std::string reader::read_compact_string() {
  auto s = read_compact_nullable_string();
  if (!s) {
    ok_ = false;
    return {};
  }
  return std::move(*s);
}

std::optional<std::string> reader::read_compact_nullable_string() {
  const uint32_t n = read_unsigned_varint();
  if (!ok_) return std::string();
  if (n == 0) return std::nullopt;
  if (!fits(n - 1)) return std::string();
  return to_string(read_raw(n - 1));
}

std::vector<uint8_t> reader::read_bytes() {
  auto b = read_nullable_bytes();
  if (!b) {
    ok_ = false;
    return {};
  }
  return std::move(*b);
}

std::optional<std::vector<uint8_t>> reader::read_nullable_bytes() {
  const int32_t len = read_int32();
  if (!ok_) return std::vector<uint8_t>();
  if (len == -1) return std::nullopt;
  if (len < 0 || !fits(static_cast<uint64_t>(len))) {
    ok_ = false;
    return std::vector<uint8_t>();
  }
  auto raw = read_raw(static_cast<size_t>(len));
  return std::vector<uint8_t>(raw.begin(), raw.end());
}

std::vector<uint8_t> reader::read_compact_bytes() {
  auto b = read_compact_nullable_bytes();
  if (!b) {
    ok_ = false;
    return {};
  }
  return std::move(*b);
}

std::optional<std::vector<uint8_t>> reader::read_compact_nullable_bytes() {
  const uint32_t n = read_unsigned_varint();
  if (!ok_) return std::vector<uint8_t>();
  if (n == 0) return std::nullopt;
  if (!fits(n - 1)) return std::vector<uint8_t>();
  auto raw = read_raw(n - 1);
  return std::vector<uint8_t>(raw.begin(), raw.end());
}

records reader::read_records() {
  records r;
  const int32_t len = read_int32();
  if (!ok_) return r;
  if (len == -1) {
    r.is_null = true;
  } else if (len < 0) {
    ok_ = false;
  } else {
    r.view = read_raw(static_cast<size_t>(len));
  }
  return r;
}

records reader::read_compact_records() {
  records r;
  const uint32_t n = read_unsigned_varint();
  if (!ok_) return r;
  if (n == 0) {
    r.is_null = true;
  } else {
    r.view = read_raw(n - 1);
  }
  return r;
}

int32_t reader::read_array_count(size_t min_element_size) {
  const int32_t n = read_int32();
  if (!ok_) return 0;
  if (n == -1) return -1;
  if (n < 0 || !fits(static_cast<uint64_t>(n) * std::max<size_t>(1, min_element_size))) {
    ok_ = false;
    return 0;
  }
  return n;
}

int32_t reader::read_compact_array_count(size_t min_element_size) {
  const uint32_t n = read_unsigned_varint();
  if (!ok_) return 0;
  if (n == 0) return -1;
  const uint64_t count = n - 1;
  if (count > max_int32 || !fits(count * std::max<size_t>(1, min_element_size))) {
    ok_ = false;
    return 0;
  }
  return static_cast<int32_t>(count);
}

std::span<const uint8_t> reader::read_raw(size_t n) {
  const uint8_t* p = take(n);
  if (p == nullptr) return {};
  return {p, n};
}

bool reader::charge(uint64_t bytes) {
  if (!account_ || !ok_) return ok_;
  if (account_->charged + bytes > account_->limit) {
    account_->over_limit = true;
    ok_ = false;
    return false;
  }
  account_->charged += bytes;
  if (account_->shared) *account_->shared += bytes;
  return true;
}

reader reader::sub_reader(size_t n) {
  auto bytes = read_raw(n);
  reader sub(bytes, account_);
  if (!ok_) sub.fail();
  return sub;
}

void reader::skip_tagged_fields() {
  const uint32_t count = read_unsigned_varint();
  // Each field takes at least two bytes (tag and size), so a bogus count stops early.
  for (uint32_t i = 0; i < count && ok_; ++i) {
    (void)read_unsigned_varint();  // tag
    const uint32_t size = read_unsigned_varint();
    skip(size);
  }
}

// ---- writer ----

void writer::write_int8(int8_t v) {
  const auto b = static_cast<uint8_t>(v);
  out_.append(std::span<const uint8_t>(&b, 1));
}

void writer::write_int16(int16_t v) {
  uint8_t b[2];
  store_be(v, b);
  out_.append(b);
}

void writer::write_int32(int32_t v) {
  uint8_t b[4];
  store_be(v, b);
  out_.append(b);
}

void writer::write_int64(int64_t v) {
  uint8_t b[8];
  store_be(v, b);
  out_.append(b);
}

void writer::write_uint16(uint16_t v) {
  uint8_t b[2];
  store_be(v, b);
  out_.append(b);
}

void writer::write_uint32(uint32_t v) {
  uint8_t b[4];
  store_be(v, b);
  out_.append(b);
}

void writer::write_float64(double v) {
  uint8_t b[8];
  store_be(std::bit_cast<uint64_t>(v), b);
  out_.append(b);
}

void writer::write_unsigned_varint(uint32_t v) {
  uint8_t b[base::varint::max_size32];
  const size_t n = base::varint::encode_unsigned(v, b);
  out_.append(std::span<const uint8_t>(b, n));
}

void writer::write_varint(int32_t v) {
  uint8_t b[base::varint::max_size32];
  const size_t n = base::varint::encode_signed32(v, b);
  out_.append(std::span<const uint8_t>(b, n));
}

void writer::write_varlong(int64_t v) {
  uint8_t b[base::varint::max_size64];
  const size_t n = base::varint::encode_signed64(v, b);
  out_.append(std::span<const uint8_t>(b, n));
}

void writer::write_string(std::string_view s) {
  if (s.size() > max_classic_string) {
    ok_ = false;
    s = {};
  }
  write_int16(static_cast<int16_t>(s.size()));
  write_raw(as_bytes(s));
}

void writer::write_nullable_string(const std::optional<std::string>& s) {
  if (!s) {
    write_int16(-1);
  } else {
    write_string(*s);
  }
}

void writer::write_compact_string(std::string_view s) {
  if (s.size() > max_compact) {
    ok_ = false;
    s = {};
  }
  write_unsigned_varint(static_cast<uint32_t>(s.size() + 1));
  write_raw(as_bytes(s));
}

void writer::write_compact_nullable_string(const std::optional<std::string>& s) {
  if (!s) {
    write_unsigned_varint(0);
  } else {
    write_compact_string(*s);
  }
}

void writer::write_bytes(std::span<const uint8_t> b) {
  if (b.size() > max_int32) {
    ok_ = false;
    b = {};
  }
  write_int32(static_cast<int32_t>(b.size()));
  write_raw(b);
}

void writer::write_nullable_bytes(const std::optional<std::vector<uint8_t>>& b) {
  if (!b) {
    write_int32(-1);
  } else {
    write_bytes(*b);
  }
}

void writer::write_compact_bytes(std::span<const uint8_t> b) {
  if (b.size() > max_compact) {
    ok_ = false;
    b = {};
  }
  write_unsigned_varint(static_cast<uint32_t>(b.size() + 1));
  write_raw(b);
}

void writer::write_compact_nullable_bytes(const std::optional<std::vector<uint8_t>>& b) {
  if (!b) {
    write_unsigned_varint(0);
  } else {
    write_compact_bytes(*b);
  }
}

void writer::write_records_payload(const records& r) {
  if (r.data.empty()) {
    write_raw(r.view);
  } else {
    // Copying an iobuf shares its fragments; appending moves those references.
    base::iobuf shared = r.data;
    out_.append(std::move(shared));
  }
}

void writer::write_records(const records& r) {
  if (r.is_null) {
    write_int32(-1);
    return;
  }
  if (r.size() > max_int32) {
    ok_ = false;
    write_int32(0);
    return;
  }
  write_int32(static_cast<int32_t>(r.size()));
  write_records_payload(r);
}

void writer::write_compact_records(const records& r) {
  if (r.is_null) {
    write_unsigned_varint(0);
    return;
  }
  if (r.size() > max_compact) {
    ok_ = false;
    write_unsigned_varint(1);
    return;
  }
  write_unsigned_varint(static_cast<uint32_t>(r.size() + 1));
  write_records_payload(r);
}

void writer::write_array_count(size_t n) {
  if (n > max_int32) {
    ok_ = false;
    n = 0;
  }
  write_int32(static_cast<int32_t>(n));
}

void writer::write_compact_array_count(size_t n) {
  if (n > max_compact) {
    ok_ = false;
    n = 0;
  }
  write_unsigned_varint(static_cast<uint32_t>(n + 1));
}

void writer::write_tagged_field(uint32_t tag, const writer& payload) {
  if (!payload.ok()) ok_ = false;
  const size_t size = payload.written();
  write_unsigned_varint(tag);
  if (size > std::numeric_limits<uint32_t>::max()) {
    ok_ = false;
    write_unsigned_varint(0);
    return;
  }
  write_unsigned_varint(static_cast<uint32_t>(size));
  // The payload buffer is a scratch buffer owned by the caller: share its fragments,
  // skipping whatever it held before the payload writer started.
  size_t skip = payload.buffer().size() - size;
  for (const auto& frag : payload.buffer().fragments()) {
    if (const auto* m = std::get_if<base::memory_fragment>(&frag)) {
      auto bytes = m->bytes();
      const size_t drop = std::min(skip, bytes.size());
      skip -= drop;
      out_.append(bytes.subspan(drop));
    } else {
      const auto& f = std::get<base::file_fragment>(frag);
      const size_t drop = std::min(skip, f.size);
      skip -= drop;
      out_.append_file_range(f.source, f.offset + drop, f.size - drop);
    }
  }
}

}  // namespace kafka::protocol
