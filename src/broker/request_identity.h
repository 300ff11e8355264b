#pragma once
// request_identity: who is asking. Every front door builds one per request and hands it
// to the broker core with each call, so that authorization and auditing happen in one
// place (the partition service and the admin operations), never in a front door.

#include <optional>
#include <string>

namespace broker {

struct request_identity {
  // The authenticated principal, as Kafka writes it ("User:alice"); every client is
  // anonymous until a listener authenticates.
  std::string principal = "User:ANONYMOUS";
  // What the client calls itself (Kafka's client.id; an HTTP client's User-Agent).
  std::optional<std::string> client_id;
  // The peer's address as Kafka shows it ("/127.0.0.1").
  std::string address;
  // The front door the request came through ("kafka", "http").
  const char* listener = "internal";

  // The broker acting on its own behalf (group commits, housekeeping, tests).
  static const request_identity& internal() {
    static const request_identity self{"User:riptide", std::nullopt, "", "internal"};
    return self;
  }
};

// "User:alice (client 'app-1' at /10.0.0.5 over kafka)", for logs and audits.
inline std::string audit_name(const request_identity& who) {
  std::string out = who.principal + " (";
  if (who.client_id && !who.client_id->empty()) out += "client '" + *who.client_id + "' ";
  if (!who.address.empty()) out += "at " + who.address + " ";
  return out + "over " + who.listener + ")";
}

}  // namespace broker
