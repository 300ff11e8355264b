#pragma once
// The SCRAM users a broker accepts, kept in one file of the data directory (`users.json`,
// mode 0600): per user and mechanism the salt, the iteration count and the stored and
// server keys; never a password. The broker reads it at start and again whenever it
// changes on disk (looked at no more than once a second), so `riptide user create` on the
// broker's machine takes effect without a restart. Writers (the broker, the CLI) replace
// the file atomically under an advisory lock on `users.json.lock`.

#include <chrono>
#include <cstdint>
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
  // What the last failed load, reload or write found wrong (the file named).
  std::string error() const;

  std::optional<scram_credential> find(const std::string& user, scram_mechanism m);
  std::shared_ptr<const user_table> snapshot();

  // Adds or replaces the user's credentials for these mechanisms, in one write.
  base::result<void> upsert(const std::string& user,
                            std::map<scram_mechanism, scram_credential> creds);
  // Removes the user's credential for `m` (none: every mechanism); false when there was none.
  base::result<bool> remove(const std::string& user, std::optional<scram_mechanism> m);

  const std::filesystem::path& path() const { return file_; }

 private:
  base::result<std::shared_ptr<const user_table>> read_file();
  base::result<void> write_file(const user_table& t);
  base::result<bool> modify(const std::function<bool(user_table&)>& change);
  void reload_if_changed();

  std::filesystem::path file_;
  mutable std::mutex mu_;
  std::shared_ptr<const user_table> table_ = std::make_shared<user_table>();
  // The file as last read: a replace makes a new inode; an edit in place moves mtime/size.
  struct file_id {
    uint64_t device = 0, inode = 0;
    int64_t mtime_ns = 0;
    int64_t size = -1;        // -1: no file
    bool unreadable = false;  // stat failed for another reason than a missing file
    bool operator==(const file_id&) const = default;
  };
  file_id seen_{};
  static file_id identify(const std::filesystem::path& p);
  std::chrono::steady_clock::time_point next_check_{};
  std::string error_;  // see error(); guarded by mu_
};

// Checks a user's password (HTTP basic auth, SASL/PLAIN) against the stored SCRAM
// credential (SHA-512 when the user has one). PBKDF2 is the cost of a check; the outcome
// for the same credential and password is remembered per thread (a digest, never the
// password), so a client that sends its credentials with every request pays it once.
// A changed credential is checked afresh.
bool check_user_password(user_store& users, const std::string& user, std::string_view password);

// Encodes and decodes the file's JSON (exposed for tests and the fuzzer).
std::string encode_users(const user_table& t);
std::optional<user_table> decode_users(std::string_view json, std::string* why);

}  // namespace auth
