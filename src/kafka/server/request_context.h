#pragma once
// What a Kafka API handler gets: the decoded request header, the request body (a view
// into the frame, which stays alive until the response is sent), the broker, and the
// connection's shard.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/users.h"
#include "base/iobuf.h"
#include "broker/broker.h"
#include "kafka/protocol/wire.h"
#include "net/asio.h"
#include "net/shard.h"

namespace kafka {
class sasl_session;
}

namespace kafka {

struct server_info {
  int32_t node_id = 0;
  std::string advertised_host;
  int32_t advertised_port = 0;
  std::string cluster_id;
  int32_t fetch_max_wait_ms = 30'000;  // the longest a Fetch long poll waits
  int32_t fetch_max_bytes = 55 << 20;  // the most record bytes in one Fetch response
  // The SCRAM users (users.json), and who may manage them over the Kafka API: the super
  // users only (on a listener without SASL every client is User:ANONYMOUS, which may not
  // unless listed), so no one can plant a user before authentication is turned on.
  std::shared_ptr<auth::user_store> users;
  std::vector<std::string> super_users;  // principals, "User:admin"
  bool may_manage_users(const std::string& principal) const {
    for (const auto& p : super_users) {
      if (p == principal) return true;
    }
    return false;
  }
};

struct request_context {
  broker::broker& broker;
  const server_info& server;
  unsigned shard;
  int16_t api_key;
  int16_t api_version;
  int32_t correlation_id;
  // Who is asking (principal, client id, address), passed with every call into the core.
  broker::request_identity who;
  std::shared_ptr<const uint8_t[]> frame;  // keeps `body` valid
  protocol::reader body;
  sasl_session* sasl = nullptr;  // the connection's; set for SaslHandshake and SaslAuthenticate
};

// A handler's answer: the encoded response body, or none (Produce with acks=0). A
// request that cannot be parsed closes the connection, as Kafka does.
struct handler_result {
  std::optional<base::iobuf> body;
  bool close_connection = false;

  static handler_result none() { return {}; }
  static handler_result close() { return {std::nullopt, true}; }
};

template <typename Response>
handler_result respond(const Response& r, int16_t version) {
  base::iobuf out;
  protocol::writer w(out);
  r.encode(w, version);
  return {std::move(out), false};
}

}  // namespace kafka
