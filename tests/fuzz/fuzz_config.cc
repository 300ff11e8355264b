// libFuzzer target for the configuration a user types: the input is a riptide.toml
// file, loaded against the broker's own key table (toml++ parsing, then every value's
// validation and conversion), and, line by line, the size, duration, integer and boolean
// syntaxes that flags and environment variables use. Besides "no crash, no
// out-of-bounds read", it checks that every size and duration accepted is printed back
// in a form that parses to the same value.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "app/server_config.h"
#include "base/config.h"

namespace {

struct temp_file {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("riptide-fuzz-config-" + std::to_string(::getpid()) + ".toml");
  ~temp_file() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

void check_round_trip(std::string_view line) {
  if (auto n = base::parse_size(line)) {
    if (base::parse_size(base::format_size(*n)) != n) std::abort();
  }
  if (auto ms = base::parse_duration_ms(line)) {
    if (base::parse_duration_ms(base::format_duration_ms(*ms)) != ms) std::abort();
  }
  (void)base::parse_integer(line);
  (void)base::parse_bool(line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const temp_file tmp;
  const auto& file = tmp.path;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (FILE* f = std::fopen(file.c_str(), "wb")) {
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  base::config_inputs in;
  in.file = file;
  auto loaded = base::load(app::server_config_keys(), in);
  if (loaded) {
    for (const auto& v : loaded->values()) (void)v.raw.size();
  } else if (loaded.error().message.empty()) {
    std::abort();  // a refused file must say why
  }
  for (size_t at = 0; at <= text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    check_round_trip(text.substr(at, end - at));
    at = end + 1;
  }
  return 0;
}
