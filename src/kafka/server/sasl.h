#pragma once
// SASL on the Kafka listener: the mechanisms it offers, and one connection's progress
// through SaslHandshake and SaslAuthenticate (or, after a v0 handshake, through raw SASL
// tokens framed by their size alone, as kafka-python and older clients send them). Until
// a connection has authenticated it may send only ApiVersions, SaslHandshake and
// SaslAuthenticate; anything else closes it, as Kafka does.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/scram.h"
#include "auth/users.h"

namespace kafka {

struct sasl_options {
  std::vector<std::string> mechanisms;  // in the order offered; empty: no authentication
  std::shared_ptr<auth::user_store> users;
  bool enabled() const { return !mechanisms.empty(); }
};

// The mechanisms this broker implements.
bool known_sasl_mechanism(std::string_view name);

class sasl_session {
 public:
  explicit sasl_session(const sasl_options* opts) : opts_(opts) {}

  bool required() const { return opts_ && opts_->enabled(); }
  bool authenticated() const { return !required() || state_ == state::done; }
  // After a v0 handshake the next frames are raw SASL tokens.
  bool raw_tokens() const { return state_ == state::raw; }
  // "User:NAME" once authenticated; "User:ANONYMOUS" on a listener without SASL.
  const std::string& principal() const { return principal_; }
  const std::string& mechanism() const { return mechanism_; }
  std::vector<std::string> offered() const;

  // SaslHandshake: a Kafka error code (0, UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE).
  int16_t handshake(std::string_view mechanism, int16_t version);
  // One token of the exchange (SaslAuthenticate's bytes or a raw token). A failed step
  // ends the session: the connection is closed after its answer.
  auth::sasl_step step(std::string_view token);
  // Whether SaslAuthenticate is expected now.
  bool expecting_token() const { return state_ == state::exchanging || state_ == state::raw; }

 private:
  enum class state { start, exchanging, raw, done, failed };
  const sasl_options* opts_;
  state state_ = state::start;
  std::string mechanism_;
  std::optional<auth::scram_server> scram_;
  std::string principal_ = "User:ANONYMOUS";
};

}  // namespace kafka
