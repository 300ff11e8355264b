#include "storage/compression.h"

#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <cstring>
#include <memory>

#include "storage/errc.h"

namespace storage {
namespace {

constexpr size_t kStep = 64 << 10;  // output grows this much at a time, up to the bound

// Grows `out` by up to kStep bytes without passing `max_bytes`; false when it is full.
bool grow(std::vector<uint8_t>& out, size_t used, size_t max_bytes) {
  if (used >= max_bytes) return false;
  out.resize(used + std::min(kStep, max_bytes - used));
  return true;
}

base::status gunzip(std::span<const uint8_t> in, std::vector<uint8_t>& out, size_t max_bytes) {
  z_stream z{};
  // 15 + 32: a zlib or gzip header, detected from the stream.
  if (inflateInit2(&z, 15 + 32) != Z_OK) return errc::invalid_batch;
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, inflateEnd);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  size_t used = 0;
  for (;;) {
    if (used == out.size() && !grow(out, used, max_bytes)) return errc::invalid_batch;
    z.next_out = out.data() + used;
    z.avail_out = static_cast<uInt>(out.size() - used);
    const int rc = inflate(&z, Z_NO_FLUSH);
    used = out.size() - z.avail_out;
    if (rc == Z_STREAM_END) {
      // Concatenated gzip members are allowed by the format; Kafka clients write one.
      if (z.avail_in == 0) break;
      if (inflateReset(&z) != Z_OK) return errc::invalid_batch;
      continue;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0) return errc::invalid_batch;  // truncated
    if (rc != Z_OK && rc != Z_BUF_ERROR) return errc::invalid_batch;
  }
  out.resize(used);
  return {};
}

base::status gzip(std::span<const uint8_t> in, std::vector<uint8_t>& out, int level) {
  z_stream z{};
  // 15 + 16: a gzip header, as Kafka clients write.
  if (level == default_compression_level) level = Z_DEFAULT_COMPRESSION;
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return errc::invalid_batch;
  }
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, deflateEnd);
  out.resize(deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) return errc::invalid_batch;
  out.resize(z.total_out);
  return {};
}

// The xerial snappy framing: magic, two version ints, then big-endian length-prefixed
// raw snappy blocks.
constexpr std::array<uint8_t, 8> kXerialMagic{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t kXerialHeader = 16;

base::status append_snappy_block(std::span<const uint8_t> block, std::vector<uint8_t>& out,
                                 size_t max_bytes) {
  const char* src = reinterpret_cast<const char*>(block.data());
  size_t n = 0;
  if (!snappy::GetUncompressedLength(src, block.size(), &n)) return errc::invalid_batch;
  if (n > max_bytes - out.size()) return errc::invalid_batch;
  const size_t at = out.size();
  out.resize(at + n);
  if (!snappy::RawUncompress(src, block.size(), reinterpret_cast<char*>(out.data() + at))) {
    return errc::invalid_batch;
  }
  return {};
}

base::status unsnappy(std::span<const uint8_t> in, std::vector<uint8_t>& out, size_t max_bytes) {
  out.clear();
  if (in.size() < kXerialHeader || std::memcmp(in.data(), kXerialMagic.data(), 8) != 0) {
    return append_snappy_block(in, out, max_bytes);
  }
  for (size_t pos = kXerialHeader; pos < in.size();) {
    if (in.size() - pos < 4) return errc::invalid_batch;
    const auto len = static_cast<uint32_t>(get_i32(in.data() + pos));
    pos += 4;
    if (len > in.size() - pos) return errc::invalid_batch;
    RIPTIDE_TRY(append_snappy_block(in.subspan(pos, len), out, max_bytes));
    pos += len;
  }
  return {};
}

base::status snappy_compress(std::span<const uint8_t> in, std::vector<uint8_t>& out) {
  out.resize(snappy::MaxCompressedLength(in.size()));
  size_t n = 0;
  snappy::RawCompress(reinterpret_cast<const char*>(in.data()), in.size(),
                      reinterpret_cast<char*>(out.data()), &n);
  out.resize(n);
  return {};
}

base::status unlz4(std::span<const uint8_t> in, std::vector<uint8_t>& out, size_t max_bytes) {
  LZ4F_dctx* ctx = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
    return errc::invalid_batch;
  }
  std::unique_ptr<LZ4F_dctx, size_t (*)(LZ4F_dctx*)> guard(ctx, LZ4F_freeDecompressionContext);
  size_t in_pos = 0;
  size_t used = 0;
  for (;;) {
    if (used == out.size() && !grow(out, used, max_bytes)) return errc::invalid_batch;
    size_t dst = out.size() - used;
    size_t src = in.size() - in_pos;
    const size_t hint =
        LZ4F_decompress(ctx, out.data() + used, &dst, in.data() + in_pos, &src, nullptr);
    if (LZ4F_isError(hint)) return errc::invalid_batch;
    in_pos += src;
    used += dst;
    if (hint == 0) break;                                             // the frame is complete
    if (in_pos == in.size() && dst == 0) return errc::invalid_batch;  // truncated
  }
  out.resize(used);
  return {};
}

base::status lz4_compress(std::span<const uint8_t> in, std::vector<uint8_t>& out, int level) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.compressionLevel = level == default_compression_level ? 0 : level;
  out.resize(LZ4F_compressFrameBound(in.size(), &prefs));
  const size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) return errc::invalid_batch;
  out.resize(n);
  return {};
}

base::status unzstd(std::span<const uint8_t> in, std::vector<uint8_t>& out, size_t max_bytes) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!ctx) return errc::invalid_batch;
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  size_t used = 0;
  size_t last = 1;
  while (src.pos < src.size || last != 0) {
    if (used == out.size() && !grow(out, used, max_bytes)) return errc::invalid_batch;
    ZSTD_outBuffer dst{out.data() + used, out.size() - used, 0};
    const size_t before_in = src.pos;
    last = ZSTD_decompressStream(ctx.get(), &dst, &src);
    if (ZSTD_isError(last)) return errc::invalid_batch;
    used += dst.pos;
    // No input consumed and no output made: a truncated frame.
    if (dst.pos == 0 && src.pos == before_in && dst.size > 0) return errc::invalid_batch;
  }
  out.resize(used);
  return {};
}

base::status zstd_compress(std::span<const uint8_t> in, std::vector<uint8_t>& out, int level) {
  out.resize(ZSTD_compressBound(in.size()));
  if (level == default_compression_level) level = 3;
  const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n)) return errc::invalid_batch;
  out.resize(n);
  return {};
}

}  // namespace

base::status decompress(compression codec, std::span<const uint8_t> in, std::vector<uint8_t>& out,
                        size_t max_bytes) {
  out.clear();
  switch (codec) {
    case compression::none:
      if (in.size() > max_bytes) return errc::invalid_batch;
      out.assign(in.begin(), in.end());
      return {};
    case compression::gzip:
      return gunzip(in, out, max_bytes);
    case compression::snappy:
      return unsnappy(in, out, max_bytes);
    case compression::lz4:
      return unlz4(in, out, max_bytes);
    case compression::zstd:
      return unzstd(in, out, max_bytes);
  }
  return errc::invalid_batch;
}

base::status compress(compression codec, std::span<const uint8_t> in, std::vector<uint8_t>& out,
                      int level) {
  switch (codec) {
    case compression::none:
      out.assign(in.begin(), in.end());
      return {};
    case compression::gzip:
      return gzip(in, out, level);
    case compression::snappy:
      return snappy_compress(in, out);
    case compression::lz4:
      return lz4_compress(in, out, level);
    case compression::zstd:
      return zstd_compress(in, out, level);
  }
  return errc::invalid_batch;
}

base::result<std::vector<uint8_t>> recompress_batch(std::span<const uint8_t> batch,
                                                    const batch_header& h, compression to,
                                                    int level) {
  const auto body = batch.subspan(batch_header_size, h.size_bytes() - batch_header_size);
  std::vector<uint8_t> plain;
  if (h.codec() == compression::none) {
    plain.assign(body.begin(), body.end());
  } else {
    // The batch passed the append's bound already.
    RIPTIDE_TRY(decompress(h.codec(), body, plain, decompressed_batch_bytes_ceiling));
  }
  std::vector<uint8_t> packed;
  RIPTIDE_TRY(compress(to, plain, packed, level));
  if (packed.size() > static_cast<size_t>(INT32_MAX) - batch_header_size) {
    return errc::batch_too_large;
  }
  std::vector<uint8_t> out(batch_header_size + packed.size());
  std::memcpy(out.data(), batch.data(), batch_header_size);
  std::memcpy(out.data() + batch_header_size, packed.data(), packed.size());
  put_i32(out.data() + batch_length_offset,
          static_cast<int32_t>(out.size() - batch_length_overhead));
  const auto attrs = static_cast<uint16_t>((h.attributes & ~0x7) | static_cast<int>(to));
  out[21] = static_cast<uint8_t>(attrs >> 8);
  out[22] = static_cast<uint8_t>(attrs);
  put_i32(out.data() + batch_crc_offset, static_cast<int32_t>(compute_batch_crc(out)));
  return out;
}

}  // namespace storage
