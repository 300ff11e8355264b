#include "kafka/server/error_codes.h"

#include <gtest/gtest.h>

#include "broker/errc.h"
#include "storage/errc.h"

namespace {

using kafka::error_code;

TEST(ErrorCodes, EveryBrokerErrorHasAKafkaCode) {
  EXPECT_EQ(kafka::to_kafka_error(broker::errc::ok), error_code::none);
  for (int e = 1; e <= static_cast<int>(broker::last_errc); ++e) {
    const auto ec = make_error_code(static_cast<broker::errc>(e));
    if (ec != broker::errc::internal_error) {
      EXPECT_NE(kafka::to_kafka_error(ec), error_code::unknown_server_error) << ec.message();
    }
    EXPECT_NE(kafka::to_kafka_error(ec), error_code::none) << ec.message();
    EXPECT_NE(ec.message().rfind("broker error ", 0), 0u) << e << " has no message";
  }
}

TEST(ErrorCodes, EveryStorageErrorBecomesABrokerErrorWithAKafkaCode) {
  EXPECT_FALSE(broker::to_broker_error(storage::errc::ok));
  for (int e = 1; e <= static_cast<int>(storage::last_errc); ++e) {
    const auto ec = make_error_code(static_cast<storage::errc>(e));
    const auto b = broker::to_broker_error(ec);
    EXPECT_EQ(&b.category(), &broker::broker_category()) << ec.message();
    EXPECT_NE(b, broker::errc::internal_error) << ec.message();
    EXPECT_NE(kafka::to_kafka_error(ec), error_code::unknown_server_error) << ec.message();
    EXPECT_NE(kafka::to_kafka_error(ec), error_code::none) << ec.message();
  }
}

TEST(ErrorCodes, RecordErrorsAnswerWhatKafkaAnswers) {
  EXPECT_EQ(kafka::to_kafka_error(storage::errc::corrupt_batch), error_code::corrupt_message);
  EXPECT_EQ(kafka::to_kafka_error(storage::errc::batch_too_large), error_code::message_too_large);
  EXPECT_EQ(kafka::to_kafka_error(storage::errc::log_closed), error_code::not_leader_or_follower);
  EXPECT_EQ(kafka::to_kafka_error(storage::errc::out_of_order_sequence),
            error_code::out_of_order_sequence_number);
  EXPECT_EQ(kafka::to_kafka_error(storage::errc::temporarily_unavailable),
            error_code::kafka_storage_error);
  EXPECT_EQ(kafka::to_kafka_error(std::make_error_code(std::errc::no_space_on_device)),
            error_code::kafka_storage_error);
  EXPECT_EQ(kafka::to_kafka_error(broker::errc::internal_error), error_code::unknown_server_error);
  EXPECT_EQ(kafka::to_kafka_error(broker::errc::not_enough_replicas),
            error_code::not_enough_replicas);
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
