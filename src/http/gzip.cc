#include "http/gzip.h"

#include <zlib.h>

namespace http {

std::optional<std::string> gunzip(std::string_view in, size_t max_bytes) {
  z_stream zs{};
  // 32 + 15: accept a gzip or a zlib header, the largest window.
  if (inflateInit2(&zs, 32 + 15) != Z_OK) return std::nullopt;
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char chunk[16384];
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    const size_t got = sizeof(chunk) - zs.avail_out;
    if (out.size() + got > max_bytes) {
      rc = Z_DATA_ERROR;
      break;
    }
    out.append(chunk, got);
    if (rc == Z_OK && got == 0 && zs.avail_in == 0) {
      rc = Z_DATA_ERROR;  // truncated
      break;
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

std::string gzip(std::string_view in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace http
