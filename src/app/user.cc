// riptide user create|delete|list: the SASL/SCRAM users of a data directory. They work on
// the broker's machine, running or not (the broker reads users.json again when it changes),
// as Kafka's storage tool adds SCRAM users before a first start.

#include "app/user.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "auth/users.h"
#include "base/file.h"
#include "cli/client.h"

namespace app {
namespace {

struct user_args {
  std::string data_dir;
  std::string name;
  std::string password;
  std::string password_file;
  std::string mechanism = "all";
  int iterations = auth::kMinIterations;
};

std::vector<auth::scram_mechanism> mechanisms_of(const std::string& m) {
  if (m == "all") return {auth::scram_mechanism::sha256, auth::scram_mechanism::sha512};
  auto one = auth::parse_scram_mechanism(m);
  if (!one) {
    cli::usage_error("--mechanism " + m + ": expected SCRAM-SHA-256, SCRAM-SHA-512 or all (both)");
  }
  return {*one};
}

std::string data_dir_of(const user_args& a) {
  if (!a.data_dir.empty()) return a.data_dir;
  if (const char* env = std::getenv("RIPTIDE_DATA_DIR"); env && *env) return env;
  return "./data";
}

std::unique_ptr<auth::user_store> open_store(const user_args& a) {
  const std::filesystem::path dir = data_dir_of(a);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    auto made = base::create_directories_durably(dir);
    if (!made) {
      cli::fail("cannot create the data directory " + dir.string() + ": " + made.error().message() +
                " (give the broker's with --data-dir)");
    }
  }
  auto store = std::make_unique<auth::user_store>(dir / "users.json");
  if (!store->load()) cli::fail("cannot read " + store->error() + "; repair or remove the file");
  return store;
}

std::string read_password(const user_args& a) {
  if (!a.password.empty()) return a.password;
  std::string pw;
  if (a.password_file == "-") {
    std::getline(std::cin, pw);
  } else {
    auto text = base::read_whole_file(a.password_file);
    if (!text) {
      cli::fail("cannot read the password file " + a.password_file + ": " + text.error().message());
    }
    pw = *text;
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
  }
  if (pw.empty()) cli::usage_error("the password is empty");
  return pw;
}

int create_user(const user_args& a) {
  if (a.password.empty() && a.password_file.empty()) {
    cli::usage_error(
        "give the password with --password-file FILE (- reads standard input) "
        "or --password");
  }
  const auto mechs = mechanisms_of(a.mechanism);
  const std::string pw = read_password(a);
  auto store = open_store(a);
  std::map<auth::scram_mechanism, auth::scram_credential> creds;
  for (auto m : mechs) creds[m] = auth::make_credential(m, pw, a.iterations);
  if (auto st = store->upsert(a.name, std::move(creds)); !st) {
    cli::fail("cannot write " + store->error());
  }
  std::printf("user %s: %s credentials stored in %s\n", a.name.c_str(),
              a.mechanism == "all" ? "SCRAM-SHA-256 and SCRAM-SHA-512" : a.mechanism.c_str(),
              store->path().c_str());
  return 0;
}

int remove_user(const user_args& a) {
  std::optional<auth::scram_mechanism> m;
  if (a.mechanism != "all") m = mechanisms_of(a.mechanism).front();
  auto store = open_store(a);
  auto removed = store->remove(a.name, m);
  if (!removed) cli::fail("cannot write " + store->error());
  if (!*removed) {
    cli::fail("no user '" + a.name + "'" +
              (m ? " with " + std::string(auth::to_string(*m)) + " credentials" : "") + " in " +
              store->path().string() + " (riptide user list shows them)");
  }
  std::printf("user %s: deleted%s\n", a.name.c_str(),
              m ? (" its " + std::string(auth::to_string(*m)) + " credentials").c_str() : "");
  return 0;
}

int list_users(const user_args& a) {
  auto store = open_store(a);
  std::printf("%-32s %s\n", "USER", "MECHANISMS");
  for (const auto& [name, creds] : *store->snapshot()) {
    std::string mechs;
    for (const auto& [m, c] : creds.by_mechanism) {
      if (!mechs.empty()) mechs += ", ";
      mechs +=
          std::string(auth::to_string(m)) + " (" + std::to_string(c.iterations) + " iterations)";
    }
    std::printf("%-32s %s\n", name.c_str(), mechs.c_str());
  }
  return 0;
}

// Runs a verb: its failures are printed and become the exit code, as for the client verbs.
int guarded(int (*verb)(const user_args&), const user_args& a) {
  try {
    return verb(a);
  } catch (const cli::failure& f) {
    std::fflush(stdout);
    std::fprintf(stderr, "riptide: %s\n", f.what());
    return static_cast<int>(f.code);
  }
}

}  // namespace

void declare_user(CLI::App& root, cli::action& run) {
  auto* cmd = root.add_subcommand(
      "user", "SASL/SCRAM users of a data directory (run on the broker's machine).");
  cmd->require_subcommand(1);
  auto args = std::make_shared<user_args>();
  const auto common = [&](CLI::App* c) {
    c->add_option("--data-dir", args->data_dir,
                  "The broker's data directory [default: $RIPTIDE_DATA_DIR or ./data]");
  };
  auto* create_cmd = cmd->add_subcommand("create", "Add a user, or set a user's password.");
  create_cmd->add_option("name", args->name, "User name (the principal is User:NAME)")->required();
  create_cmd->add_option("--password-file", args->password_file,
                         "File whose first line is the password; - reads standard input");
  create_cmd->add_option("--password", args->password,
                         "The password (visible to other local users in the process list; "
                         "prefer --password-file)");
  create_cmd->add_option("--mechanism", args->mechanism,
                         "SCRAM-SHA-256, SCRAM-SHA-512 or all [default: all]");
  create_cmd->add_option("--iterations", args->iterations, "PBKDF2 iterations [default: 4096]")
      ->check(CLI::Range(auth::kMinIterations, auth::kMaxIterations));
  common(create_cmd);
  create_cmd->callback([&run, args] { run = [args] { return guarded(create_user, *args); }; });

  auto* delete_cmd = cmd->add_subcommand("delete", "Remove a user (or one of its mechanisms).");
  delete_cmd->add_option("name", args->name, "User name")->required();
  delete_cmd->add_option("--mechanism", args->mechanism,
                         "Remove only these credentials: SCRAM-SHA-256 or SCRAM-SHA-512");
  common(delete_cmd);
  delete_cmd->callback([&run, args] { run = [args] { return guarded(remove_user, *args); }; });

  auto* list_cmd = cmd->add_subcommand("list", "List the users and their mechanisms.");
  common(list_cmd);
  list_cmd->callback([&run, args] { run = [args] { return guarded(list_users, *args); }; });
}

}  // namespace app
