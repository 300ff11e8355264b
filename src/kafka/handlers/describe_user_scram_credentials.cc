#include <set>

#include "kafka/handlers/handlers.h"
#include "kafka/handlers/scram_mechanisms.h"
#include "kafka/protocol/generated/describe_user_scram_credentials_request.h"
#include "kafka/protocol/generated/describe_user_scram_credentials_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// The users' mechanisms and iteration counts (never salts or keys): every user when the
// request names none; RESOURCE_NOT_FOUND for a named user without credentials and
// DUPLICATE_RESOURCE for a user named twice, as Kafka.
net::task<handler_result> describe_user_scram_credentials(request_context& ctx) {
  protocol::describe_user_scram_credentials_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::describe_user_scram_credentials_response r;
  r.error_message = std::nullopt;
  if (!ctx.server.users || !ctx.server.may_manage_users(ctx.who.principal)) {
    r.error_code = code(error_code::cluster_authorization_failed);
    r.error_message = "only the super users (security.super_users) may describe SCRAM users";
    co_return respond(r, ctx.api_version);
  }
  const auto table = ctx.server.users->snapshot();
  const auto describe = [&](const std::string& name) {
    auto& out = r.results.emplace_back();
    out.user = name;
    out.error_message = std::nullopt;
    auto it = table->find(name);
    if (it == table->end()) {
      out.error_code = code(error_code::resource_not_found);
      out.error_message = "no SCRAM credentials for user '" + name + "'";
      return;
    }
    for (const auto& [m, c] : it->second.by_mechanism) {
      out.credential_infos.push_back({scram_mechanism_code(m), c.iterations});
    }
  };
  if (!req.users || req.users->empty()) {
    for (const auto& [name, creds] : *table) describe(name);
    co_return respond(r, ctx.api_version);
  }
  std::multiset<std::string> named;
  for (const auto& u : *req.users) named.insert(u.name);
  std::set<std::string> done;
  for (const auto& u : *req.users) {
    if (!done.insert(u.name).second) continue;
    if (named.count(u.name) > 1) {
      auto& out = r.results.emplace_back();
      out.user = u.name;
      out.error_code = code(error_code::duplicate_resource);
      out.error_message = "user '" + u.name + "' is named more than once";
      continue;
    }
    describe(u.name);
  }
  co_return respond(r, ctx.api_version);
}

}  // namespace kafka::handlers
