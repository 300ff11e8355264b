#pragma once
// The SCRAM users a broker accepts, kept in one file of the data directory (`users.json`,
// mode 0600): per user and mechanism the salt, the iteration count and the stored and
// server keys; never a password. The broker reads it at start and again whenever it
// changes on disk (looked at no more than once a second), so `riptide user create` on the
// broker's machine takes effect without a restart. Writers (the broker, the CLI) replace
// the file atomically under an advisory lock on `users.json.lock`.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/scram.h"
#include "base/result.h"

namespace auth {

struct user_credentials {
  std::map<scram_mechanism, scram_credential> by_mechanism;
};
using user_table = std::map<std::string, user_credentials>;

class user_store {
 public:
  explicit user_store(std::filesystem::path file);

  // Reads the file (none yet: no users). An unreadable or malformed file is an error that
  // names it.
  base::result<void> load();
  const std::string& error() const { return error_; }

  std::optional<scram_credential> find(const std::string& user, scram_mechanism m);
  std::shared_ptr<const user_table> snapshot();

  // Adds or replaces the user's credential for `m`.
  base::result<void> upsert(const std::string& user, scram_mechanism m, scram_credential c);
  // Removes the user's credential for `m` (none: every mechanism); false when there was none.
  base::result<bool> remove(const std::string& user, std::optional<scram_mechanism> m);

  const std::filesystem::path& path() const { return file_; }

 private:
  base::result<std::shared_ptr<const user_table>> read_file();
  base::result<void> write_file(const user_table& t);
  base::result<bool> modify(const std::function<bool(user_table&)>& change);
  void reload_if_changed();

  std::filesystem::path file_;
  std::mutex mu_;
  std::shared_ptr<const user_table> table_ = std::make_shared<user_table>();
  std::filesystem::file_time_type seen_mtime_{};
  uintmax_t seen_size_ = 0;
  std::chrono::steady_clock::time_point next_check_{};
  std::string error_;  // what load() or the last reload found wrong
};

// Encodes and decodes the file's JSON (exposed for tests and the fuzzer).
std::string encode_users(const user_table& t);
std::optional<user_table> decode_users(std::string_view json, std::string* why);

}  // namespace auth
