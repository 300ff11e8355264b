#include <map>
#include <string>

#include "base/logging.h"
#include "kafka/handlers/handlers.h"
#include "kafka/handlers/scram_mechanisms.h"
#include "kafka/protocol/generated/alter_user_scram_credentials_request.h"
#include "kafka/protocol/generated/alter_user_scram_credentials_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

struct outcome {
  int16_t error = 0;
  std::string message;
};

std::string as_string(const std::vector<uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

}  // namespace

// Adds, replaces and removes SCRAM credentials in users.json. The client sends the salt and
// the salted password (never the password); the broker keeps the keys derived from them.
// One result per user; a user named more than once in the request is refused whole
// (DUPLICATE_RESOURCE), as Kafka.
net::task<handler_result> alter_user_scram_credentials(request_context& ctx) {
  protocol::alter_user_scram_credentials_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::alter_user_scram_credentials_response r;
  std::map<std::string, int> mentions;
  for (const auto& d : req.deletions) ++mentions[d.name];
  for (const auto& u : req.upsertions) ++mentions[u.name];
  std::map<std::string, outcome> results;
  const bool allowed = ctx.server.users && ctx.server.may_manage_users(ctx.who.principal);
  const auto refuse = [&](const std::string& user, error_code e, std::string why) {
    auto& o = results[user];
    if (o.error == 0) o = {code(e), std::move(why)};
  };
  for (const auto& [user, n] : mentions) {
    if (!allowed) {
      refuse(user, error_code::cluster_authorization_failed,
             "only the super users (security.super_users) may alter SCRAM users");
    } else if (n > 1) {
      refuse(user, error_code::duplicate_resource,
             "user '" + user + "' appears more than once in the request");
    } else if (user.empty()) {
      refuse(user, error_code::unacceptable_credential, "the user name is empty");
    } else {
      results[user];
    }
  }
  for (const auto& d : req.deletions) {
    if (results[d.name].error != 0) continue;
    const auto m = scram_mechanism_from_code(d.mechanism);
    if (!m) {
      refuse(d.name, error_code::unsupported_sasl_mechanism,
             "unknown SCRAM mechanism " + std::to_string(d.mechanism));
      continue;
    }
    auto removed = ctx.server.users->remove(d.name, *m);
    if (!removed) {
      refuse(d.name, error_code::kafka_storage_error, ctx.server.users->error());
    } else if (!*removed) {
      refuse(d.name, error_code::resource_not_found,
             "user '" + d.name + "' has no " + std::string(auth::to_string(*m)) + " credentials");
    } else {
      base::logger("kafka")->info("{} deleted the {} credentials of user {}", ctx.who.principal,
                                  auth::to_string(*m), d.name);
    }
  }
  for (const auto& u : req.upsertions) {
    if (results[u.name].error != 0) continue;
    const auto m = scram_mechanism_from_code(u.mechanism);
    if (!m) {
      refuse(u.name, error_code::unsupported_sasl_mechanism,
             "unknown SCRAM mechanism " + std::to_string(u.mechanism));
      continue;
    }
    if (u.iterations < auth::kMinIterations || u.iterations > auth::kMaxIterations) {
      refuse(u.name, error_code::unacceptable_credential,
             "iterations must be between " + std::to_string(auth::kMinIterations) + " and " +
                 std::to_string(auth::kMaxIterations));
      continue;
    }
    if (u.salt.empty() || u.salted_password.empty()) {
      refuse(u.name, error_code::unacceptable_credential, "the salt or salted password is empty");
      continue;
    }
    auto st = ctx.server.users->upsert(
        u.name, {{*m, auth::credential_from_salted(*m, as_string(u.salt), u.iterations,
                                                   as_string(u.salted_password))}});
    if (!st) {
      refuse(u.name, error_code::kafka_storage_error, ctx.server.users->error());
    } else {
      base::logger("kafka")->info("{} set the {} credentials of user {}", ctx.who.principal,
                                  auth::to_string(*m), u.name);
    }
  }
  for (const auto& [user, o] : results) {
    auto& out = r.results.emplace_back();
    out.user = user;
    out.error_code = o.error;
    if (o.error == 0) {
      out.error_message = std::nullopt;
    } else {
      out.error_message = o.message;
    }
  }
  co_return respond(r, ctx.api_version);
}

}  // namespace kafka::handlers
