#include <regex>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/api_versions_request.h"
#include "kafka/protocol/generated/api_versions_response.h"
#include "kafka/server/api_table.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

protocol::api_versions_response supported_list() {
  protocol::api_versions_response r;
  for (const auto& api : supported_apis()) {
    auto& k = r.api_keys.emplace_back();
    k.api_key = api.key;
    k.min_version = api.advertised_min();
    k.max_version = api.max_version;
  }
  return r;
}

bool valid_software_field(const std::string& s) {
  static const std::regex pattern("[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?");
  return std::regex_match(s, pattern);
}

}  // namespace

base::iobuf api_versions_unsupported() {
  auto r = supported_list();
  r.error_code = code(error_code::unsupported_version);
  return *respond(r, 0).body;
}

net::task<handler_result> api_versions(request_context& ctx) {
  protocol::api_versions_request req;
  auto r = supported_list();
  if (!req.decode(ctx.body, ctx.api_version)) {
    r.error_code = code(error_code::invalid_request);
  } else if (ctx.api_version >= 3 && (!valid_software_field(req.client_software_name) ||
                                      !valid_software_field(req.client_software_version))) {
    r.error_code = code(error_code::invalid_request);
  }
  co_return respond(r, ctx.api_version);
}

}  // namespace kafka::handlers
