#include "base/crc32c.h"

#include <array>
#include <cstring>

namespace base {
namespace {

constexpr uint32_t kPolynomial = 0x82f63b78;  // reflected Castagnoli polynomial

// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
constexpr std::array<std::array<uint32_t, 256>, 8> make_tables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPolynomial : 0);
    t[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}

constexpr auto kTables = make_tables();

}  // namespace

uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size) {
  auto p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  while (size >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    w ^= crc;
    crc = kTables[7][w & 0xff] ^ kTables[6][(w >> 8) & 0xff] ^ kTables[5][(w >> 16) & 0xff] ^
          kTables[4][(w >> 24) & 0xff] ^ kTables[3][(w >> 32) & 0xff] ^
          kTables[2][(w >> 40) & 0xff] ^ kTables[1][(w >> 48) & 0xff] ^ kTables[0][w >> 56];
    p += 8;
    size -= 8;
  }
  while (size--) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

namespace {

// Multiplies two polynomials modulo the Castagnoli polynomial, both in the reflected
// representation (bit 31 is x^0). Feeding n zero bytes to a CRC register r yields
// r * x^(8n) mod P, which is what combining independently computed streams needs.
constexpr uint32_t multiply_mod_p(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
    if (a & bit) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPolynomial : b >> 1;
  }
  return product;
}

// kPowers[k] = x^(8 * 2^k) mod P.
constexpr std::array<uint32_t, 64> make_powers() {
  std::array<uint32_t, 64> powers{};
  powers[0] = 1u << (31 - 8);  // x^8
  for (size_t k = 1; k < powers.size(); ++k) {
    powers[k] = multiply_mod_p(powers[k - 1], powers[k - 1]);
  }
  return powers;
}
constexpr auto kPowers = make_powers();

// x^(8 * bytes) mod P: the product of the powers of the set bits of `bytes`.
constexpr uint32_t x_pow_8n(uint64_t bytes) {
  uint32_t result = 1u << 31;  // x^0
  for (size_t k = 0; bytes != 0; ++k, bytes >>= 1) {
    if (bytes & 1) result = multiply_mod_p(kPowers[k], result);
  }
  return result;
}

// Tables that advance a CRC register over `Bytes` zero bytes: shift(r) = r * x^(8*Bytes).
// The product is linear in r, so it is the XOR of the products of r's four bytes.
template <size_t Bytes>
struct zero_shift {
  std::array<std::array<uint32_t, 256>, 4> table{};
  constexpr zero_shift() {
    const uint32_t factor = x_pow_8n(Bytes);
    for (uint32_t k = 0; k < 4; ++k) {
      for (uint32_t b = 0; b < 256; ++b) table[k][b] = multiply_mod_p(factor, b << (8 * k));
    }
  }
  uint32_t operator()(uint32_t r) const {
    return table[0][r & 0xff] ^ table[1][(r >> 8) & 0xff] ^ table[2][(r >> 16) & 0xff] ^
           table[3][r >> 24];
  }
};

}  // namespace

#if defined(__x86_64__)
namespace {

// The crc32 instruction has a latency of three cycles and a throughput of one per cycle, so
// one dependent chain uses a third of it. Long inputs are cut into blocks of three equal
// stripes whose CRCs are computed side by side and then combined: the first stripe's
// register advanced over the other two stripes' length, XORed with the second's advanced
// over the third's, XORed with the third's.
constexpr size_t kLongStripe = 4096;
constexpr size_t kShortStripe = 256;
constexpr zero_shift<kLongStripe> kLongShift;
constexpr zero_shift<kShortStripe> kShortShift;

__attribute__((target("sse4.2"))) inline uint64_t crc_word(uint64_t c, const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return __builtin_ia32_crc32di(c, w);
}

template <size_t Stripe>
__attribute__((target("sse4.2"))) uint64_t crc_three_stripes(uint64_t c, const uint8_t*& p,
                                                             size_t& size,
                                                             const zero_shift<Stripe>& shift) {
  static_assert(Stripe % 8 == 0);
  while (size >= 3 * Stripe) {
    uint64_t c1 = 0, c2 = 0;
    for (size_t i = 0; i < Stripe; i += 8) {
      c = crc_word(c, p + i);
      c1 = crc_word(c1, p + Stripe + i);
      c2 = crc_word(c2, p + 2 * Stripe + i);
    }
    c = shift(shift(static_cast<uint32_t>(c)) ^ static_cast<uint32_t>(c1)) ^
        static_cast<uint32_t>(c2);
    p += 3 * Stripe;
    size -= 3 * Stripe;
  }
  return c;
}

}  // namespace

__attribute__((target("sse4.2"))) uint32_t crc32c_extend_hardware(uint32_t crc, const void* data,
                                                                  size_t size) {
  auto p = static_cast<const uint8_t*>(data);
  uint64_t c = ~crc;
  c = crc_three_stripes(c, p, size, kLongShift);
  c = crc_three_stripes(c, p, size, kShortShift);
  for (; size >= 8; p += 8, size -= 8) c = crc_word(c, p);
  auto c32 = static_cast<uint32_t>(c);
  while (size--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}

bool crc32c_hardware_available() {
  return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t crc32c_extend_hardware(uint32_t crc, const void* data, size_t size) {
  return crc32c_extend_portable(crc, data, size);
}
bool crc32c_hardware_available() {
  return false;
}
#endif

uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  // crc(A || B) = crc(A) * x^(8 |B|) xor crc(B): the pre- and post-inversions cancel.
  return multiply_mod_p(x_pow_8n(len_b), crc_a) ^ crc_b;
}

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size) {
  static const bool hardware = crc32c_hardware_available();
  return hardware ? crc32c_extend_hardware(crc, data, size)
                  : crc32c_extend_portable(crc, data, size);
}

}  // namespace base
