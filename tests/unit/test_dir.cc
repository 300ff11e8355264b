#include "test_dir.h"

#include <stdlib.h>

#include <string>
#include <system_error>

namespace riptide::testing {

temp_dir::temp_dir(bool in_memory) {
  std::error_code ec;
  const bool shm = in_memory && std::filesystem::is_directory("/dev/shm", ec);
  const auto base =
      shm ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
  std::string tmpl = (base / "riptide-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace riptide::testing
