#include "auth/users.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <span>
#include <system_error>

#include "base/base64.h"
#include "base/file.h"
#include "base/logging.h"

namespace auth {
namespace {

constexpr auto kRecheck = std::chrono::seconds(1);
// Bounds on what the file may hold, so a damaged or hostile file cannot make the broker
// allocate without limit.
constexpr size_t kMaxFileBytes = 64 << 20;
constexpr size_t kMaxNameBytes = 1024;

// An advisory lock on `<file>.lock` for the time of a read-modify-write.
class file_lock {
 public:
  explicit file_lock(const std::filesystem::path& file) {
    const std::string lock = file.string() + ".lock";
    fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~file_lock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace

std::string encode_users(const user_table& t) {
  boost::json::object users;
  for (const auto& [name, creds] : t) {
    boost::json::object mechs;
    for (const auto& [m, c] : creds.by_mechanism) {
      mechs[to_string(m)] = boost::json::object{{"iterations", c.iterations},
                                                {"salt", base::base64_encode(c.salt)},
                                                {"stored_key", base::base64_encode(c.stored_key)},
                                                {"server_key", base::base64_encode(c.server_key)}};
    }
    users[name] = std::move(mechs);
  }
  return boost::json::serialize(boost::json::object{{"version", 1}, {"users", std::move(users)}}) +
         "\n";
}

std::optional<user_table> decode_users(std::string_view json, std::string* why) {
  const auto bad = [&](std::string what) -> std::optional<user_table> {
    if (why) *why = std::move(what);
    return std::nullopt;
  };
  boost::system::error_code ec;
  const auto doc = boost::json::parse(json, ec);
  if (ec || !doc.is_object()) return bad("not a JSON object");
  const auto& root = doc.get_object();
  const auto* version = root.if_contains("version");
  if (!version || !version->is_int64() || version->get_int64() != 1) {
    return bad("unknown \"version\" (this broker reads version 1)");
  }
  const auto* users = root.if_contains("users");
  if (!users || !users->is_object()) return bad("no \"users\" object");
  user_table out;
  for (const auto& [name, mechs] : users->get_object()) {
    if (name.empty() || name.size() > kMaxNameBytes) return bad("a user name is empty or too long");
    if (!mechs.is_object()) return bad("user '" + std::string(name) + "' is not an object");
    auto& creds = out[std::string(name)];
    for (const auto& [mname, c] : mechs.get_object()) {
      const auto m = parse_scram_mechanism(mname);
      if (!m)
        return bad("user '" + std::string(name) + "': unknown mechanism '" + std::string(mname) +
                   "'");
      const auto* o = c.if_object();
      const auto field = [&](const char* key) -> std::optional<std::string> {
        const auto* v = o ? o->if_contains(key) : nullptr;
        if (!v || !v->is_string()) return std::nullopt;
        return base::base64_decode(v->get_string());
      };
      const auto* it = o ? o->if_contains("iterations") : nullptr;
      auto salt = field("salt");
      auto stored = field("stored_key");
      auto server = field("server_key");
      if (!it || !it->is_int64() || it->get_int64() < kMinIterations ||
          it->get_int64() > kMaxIterations || !salt || !stored || !server) {
        return bad("user '" + std::string(name) + "', " + std::string(mname) +
                   ": needs iterations (4096-16384) and base64 salt, stored_key, server_key");
      }
      creds.by_mechanism[*m] =
          scram_credential{std::move(*salt), static_cast<int32_t>(it->get_int64()),
                           std::move(*stored), std::move(*server)};
    }
  }
  return out;
}

user_store::user_store(std::filesystem::path file) : file_(std::move(file)) {}

base::result<std::shared_ptr<const user_table>> user_store::read_file() {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file_, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return std::make_shared<const user_table>();
    error_ = file_.string() + ": " + ec.message();
    return ec;
  }
  if (size > kMaxFileBytes) {
    error_ = file_.string() + ": larger than 64 MiB";
    return make_error_code(std::errc::file_too_large);
  }
  auto text = base::read_whole_file(file_);
  if (!text) {
    error_ = file_.string() + ": " + text.error().message();
    return text.error();
  }
  std::string why;
  auto t = decode_users(*text, &why);
  if (!t) {
    error_ = file_.string() + ": " + why;
    return make_error_code(std::errc::invalid_argument);
  }
  return std::make_shared<const user_table>(std::move(*t));
}

base::result<void> user_store::write_file(const user_table& t) {
  const std::string text = encode_users(t);
  auto st = base::write_file_atomically(
      file_, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), 0600);
  if (!st) {
    error_ = file_.string() + ": " + st.error().message();
    return st;
  }
  return {};
}

user_store::file_id user_store::identify(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    file_id none;
    none.unreadable = errno != ENOENT;  // only a missing file means "no users"
    return none;
  }
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size)};
}

std::string user_store::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

base::result<void> user_store::load() {
  std::lock_guard lock(mu_);
  seen_ = identify(file_);
  auto t = read_file();
  if (!t) return t.error();
  table_ = std::move(*t);
  next_check_ = std::chrono::steady_clock::now() + kRecheck;
  return {};
}

void user_store::reload_if_changed() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return;
  next_check_ = now + kRecheck;
  const file_id id = identify(file_);
  if (id == seen_) return;
  seen_ = id;
  if (id.size < 0 && !id.unreadable) {
    table_ = std::make_shared<user_table>();  // the file was deleted: no users
    base::logger("auth")->warn("{} was removed: no user can authenticate now", file_.string());
    return;
  }
  auto t =
      id.unreadable
          ? base::result<std::shared_ptr<const user_table>>(make_error_code(std::errc::io_error))
          : read_file();
  if (id.unreadable) error_ = file_.string() + ": cannot be examined (stat failed)";
  if (!t) {
    // The users known before stay (a half-edited file must not lock everyone out); say so.
    static base::log_rate_limiter limiter(1, std::chrono::seconds(60));
    if (auto note = limiter.allow()) {
      base::logger("auth")->error(
          "cannot read the users file again: {}; the users read before stay in force until "
          "it is repaired{}",
          error_, *note);
    }
    return;
  }
  table_ = std::move(*t);
}

std::optional<scram_credential> user_store::find(const std::string& user, scram_mechanism m) {
  auto t = snapshot();
  auto it = t->find(user);
  if (it == t->end()) return std::nullopt;
  auto c = it->second.by_mechanism.find(m);
  if (c == it->second.by_mechanism.end()) return std::nullopt;
  return c->second;
}

std::shared_ptr<const user_table> user_store::snapshot() {
  std::lock_guard lock(mu_);
  reload_if_changed();
  return table_;
}

// Read, change and write the file under its lock, so two writers (the broker and the CLI)
// never lose each other's changes. `change` returns whether it changed anything.
base::result<bool> user_store::modify(const std::function<bool(user_table&)>& change) {
  file_lock held(file_);
  if (!held.ok()) return base::last_system_error();
  std::lock_guard lock(mu_);
  auto current = read_file();
  if (!current) return current.error();
  user_table t = **current;
  if (!change(t)) return false;
  if (auto st = write_file(t); !st) return st.error();
  table_ = std::make_shared<const user_table>(std::move(t));
  seen_ = identify(file_);
  return true;
}

base::result<void> user_store::upsert(const std::string& user,
                                      std::map<scram_mechanism, scram_credential> creds) {
  auto r = modify([&](user_table& t) {
    for (auto& [m, c] : creds) t[user].by_mechanism[m] = std::move(c);
    return true;
  });
  if (!r) return r.error();
  return {};
}

base::result<bool> user_store::remove(const std::string& user, std::optional<scram_mechanism> m) {
  return modify([&](user_table& t) {
    auto it = t.find(user);
    if (it == t.end()) return false;
    if (!m) {
      t.erase(it);
      return true;
    }
    if (it->second.by_mechanism.erase(*m) == 0) return false;
    if (it->second.by_mechanism.empty()) t.erase(it);
    return true;
  });
}

bool check_user_password(user_store& users, const std::string& user, std::string_view password) {
  for (auto m : {scram_mechanism::sha512, scram_mechanism::sha256}) {
    auto cred = users.find(user, m);
    if (!cred) continue;
    // Successful checks only, by user: failures are not remembered, so guesses cannot push
    // out the user's own entry. Bounded: cleared when full.
    constexpr size_t kMaxRemembered = 4096;
    thread_local std::map<std::string, std::string> passed;
    const std::string digest = password_digest(m, *cred, password);
    if (auto it = passed.find(user); it != passed.end() && it->second == digest) return true;
    if (!check_password(m, *cred, password)) return false;
    if (passed.size() >= kMaxRemembered) passed.clear();
    passed[user] = digest;
    return true;
  }
  return false;
}

}  // namespace auth
