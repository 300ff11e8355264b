#include "kafka/server/error_codes.h"

#include <gtest/gtest.h>

#include "broker/errc.h"

namespace {

using kafka::error_code;

TEST(ErrorCodes, EveryBrokerErrorHasAKafkaCode) {
  EXPECT_EQ(kafka::to_kafka_error(broker::errc::ok), error_code::none);
  for (int e = 1; e <= static_cast<int>(broker::last_errc); ++e) {
    const auto ec = make_error_code(static_cast<broker::errc>(e));
    EXPECT_NE(kafka::to_kafka_error(ec), error_code::unknown_server_error) << ec.message();
    EXPECT_NE(kafka::to_kafka_error(ec), error_code::none) << ec.message();
    EXPECT_NE(ec.message().rfind("broker error ", 0), 0u) << e << " has no message";
  }
}

TEST(ErrorCodes, ObjectLimitsAreErrorsKafkaClientsKnow) {
  // A limit is a policy of this broker; the per-request bound asks for a retry (KIP-599).
  EXPECT_EQ(kafka::to_kafka_error(broker::errc::limit_exceeded), error_code::policy_violation);
  EXPECT_EQ(kafka::to_kafka_error(broker::errc::too_many_groups), error_code::policy_violation);
  EXPECT_EQ(kafka::to_kafka_error(broker::errc::too_many_topics_in_request),
            error_code::throttling_quota_exceeded);
  EXPECT_EQ(kafka::code(error_code::policy_violation), 44);
  EXPECT_EQ(kafka::code(error_code::throttling_quota_exceeded), 89);
}

}  // namespace
