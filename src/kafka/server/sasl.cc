#include "kafka/server/sasl.h"

#include "kafka/server/error_codes.h"

namespace kafka {

bool known_sasl_mechanism(std::string_view name) {
  return name == "PLAIN" || auth::parse_scram_mechanism(name).has_value();
}

std::vector<std::string> sasl_session::offered() const {
  return opts_ ? opts_->mechanisms : std::vector<std::string>{};
}

int16_t sasl_session::handshake(std::string_view mechanism, int16_t version) {
  if (!required() || state_ != state::start) {
    return code(error_code::illegal_sasl_state);
  }
  bool offered_here = false;
  for (const auto& m : opts_->mechanisms) offered_here |= m == mechanism;
  if (!offered_here) return code(error_code::unsupported_sasl_mechanism);
  mechanism_ = std::string(mechanism);
  if (auto m = auth::parse_scram_mechanism(mechanism)) {
    auto users = opts_->users;
    scram_.emplace(*m, [users](const std::string& user, auth::scram_mechanism mech) {
      return users ? users->find(user, mech) : std::nullopt;
    });
  }
  state_ = version == 0 ? state::raw : state::exchanging;
  return 0;
}

auth::sasl_step sasl_session::step(std::string_view token) {
  auth::sasl_step out;
  if (!expecting_token()) {
    out.failed = true;
    out.error = "no SASL exchange is under way (SaslHandshake first)";
  } else if (scram_) {
    out = scram_->next(token);
  } else {
    auto users = opts_->users;
    out = auth::plain_authenticate(token, [users](const std::string& user, std::string_view pw) {
      return users && auth::check_user_password(*users, user, pw);
    });
  }
  if (out.failed) {
    state_ = state::failed;
  } else if (out.done) {
    state_ = state::done;
    principal_ = "User:" + out.user;
  }
  return out;
}

}  // namespace kafka
