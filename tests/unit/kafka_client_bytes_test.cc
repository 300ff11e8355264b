// Request frames sent by real clients decode with the generated codecs, carry what the
// client meant, and re-encode to the very same bytes.
//
// The frames in tests/data/kafka/ were captured on 127.0.0.1 with a throwaway stub broker
// that recorded each request and answered just enough for the client to send the next
// one: ApiVersions advertising Produce 0-7, Fetch 0-11, Metadata 0-4 (and a few more), a
// Metadata response naming the stub as the only broker and the leader of topic "t", a
// Produce response and a FindCoordinator response. Each file holds one frame without
// its 4-byte size prefix (request header + body).
//   librdkafka_*   kcat 1.7.1 on librdkafka 2.0.2:
//                  `kcat -b 127.0.0.1:PORT -L` (ApiVersions v3; Metadata v4 with an empty
//                  topic list, then with a null one) and
//                  `echo hi | kcat -b 127.0.0.1:PORT -P -t t` (Metadata v4 for "t", Produce v7).
//   kafka_python_* kafka-python 2.0.2 under /usr/bin/python3:
//                  KafkaProducer(bootstrap_servers=..., client_id="kafka-python-probe")
//                  .send("t", b"hello") -> version probe ApiVersions v0 + Metadata v0, then
//                  Metadata v1;
//                  KafkaProducer(..., api_version=(2, 5, 0), client_id="kafka-python-producer",
//                  acks=1).send("t", key=b"k", value=b"hello") -> Produce v7;
//                  KafkaConsumer("t", ..., api_version=(2, 5, 0), group_id="g1",
//                  client_id="kafka-python-consumer") -> FindCoordinator v0, JoinGroup v2.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "base/crc32c.h"
#include "kafka/protocol/generated/api_table.h"
#include "kafka/protocol/generated/api_versions_request.h"
#include "kafka/protocol/generated/consumer_protocol_subscription.h"
#include "kafka/protocol/generated/find_coordinator_request.h"
#include "kafka/protocol/generated/join_group_request.h"
#include "kafka/protocol/generated/metadata_request.h"
#include "kafka/protocol/generated/produce_request.h"
#include "kafka/protocol/generated/request_header.h"

namespace {

using namespace kafka::protocol;
using bytes = std::vector<uint8_t>;

bytes load(const std::string& name) {
  const auto path = std::filesystem::path(RIPTIDE_SOURCE_DIR) / "tests/data/kafka" / name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << path.string();
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int16_t be16(const bytes& b, size_t at) {
  return static_cast<int16_t>((b.at(at) << 8) | b.at(at + 1));
}

uint32_t be32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         b[at + 3];
}

// Decodes header and body of `frame` (which must outlive the result: records point into
// it), checks that nothing is left over and that encoding both again gives `frame`.
template <typename T>
T decode_frame(const bytes& frame, request_header& header) {
  const int16_t api_key = be16(frame, 0);
  const int16_t api_version = be16(frame, 2);
  EXPECT_EQ(api_key, T::api_key);
  const int16_t header_version = request_header_version(api_key, api_version);
  reader r(frame);
  EXPECT_TRUE(header.decode(r, header_version));
  T body;
  EXPECT_TRUE(body.decode(r, api_version));
  EXPECT_EQ(r.remaining(), 0u);

  base::iobuf out;
  writer w(out);
  header.encode(w, header_version);
  body.encode(w, api_version);
  EXPECT_TRUE(w.ok());
  auto again = out.linearize();
  EXPECT_TRUE(again.has_value());
  if (again) {
    EXPECT_EQ(*again, frame);
  }
  return body;
}

// A RecordBatch v2 as a producer sends it: magic 2 at offset 16, a batch length that
// covers the rest, and a CRC-32C over everything from the attributes on.
void expect_record_batch(const records& rec, std::string_view last_value) {
  ASSERT_FALSE(rec.is_null);
  const auto b = rec.view;
  ASSERT_GE(b.size(), 61u);
  EXPECT_EQ(b[16], 2) << "magic";
  EXPECT_EQ(be32(b, 8) + 12, b.size()) << "batch length";
  EXPECT_EQ(be32(b, 17), base::crc32c(b.subspan(21))) << "crc";
  EXPECT_EQ(be32(b, 57), 1u) << "record count";
  const std::string tail(b.end() - static_cast<ptrdiff_t>(last_value.size()) - 1, b.end() - 1);
  EXPECT_EQ(tail, last_value);  // the value, then a zero header count
}

TEST(KafkaClientBytes, LibrdkafkaApiVersionsV3) {
  const bytes frame = load("librdkafka_api_versions_v3.bin");
  request_header h;
  auto req = decode_frame<api_versions_request>(frame, h);
  EXPECT_EQ(h.request_api_version, 3);
  EXPECT_EQ(h.correlation_id, 1);
  EXPECT_EQ(h.client_id, "rdkafka");
  EXPECT_EQ(req.client_software_name, "librdkafka");
  EXPECT_EQ(req.client_software_version, "2.0.2");
}

TEST(KafkaClientBytes, LibrdkafkaMetadataV4) {
  const bytes none = load("librdkafka_metadata_v4_no_topics.bin");
  request_header h;
  auto brokers_only = decode_frame<metadata_request>(none, h);
  EXPECT_EQ(h.request_api_version, 4);
  EXPECT_EQ(h.client_id, "rdkafka");
  ASSERT_TRUE(brokers_only.topics.has_value());
  EXPECT_TRUE(brokers_only.topics->empty());

  const bytes all = load("librdkafka_metadata_v4_all_topics.bin");
  auto all_topics = decode_frame<metadata_request>(all, h);
  EXPECT_FALSE(all_topics.topics.has_value());  // null: every topic
  EXPECT_TRUE(all_topics.allow_auto_topic_creation);

  const bytes one = load("librdkafka_metadata_v4_topic.bin");
  auto topic = decode_frame<metadata_request>(one, h);
  ASSERT_TRUE(topic.topics.has_value());
  ASSERT_EQ(topic.topics->size(), 1u);
  EXPECT_EQ((*topic.topics)[0].name, "t");
}

TEST(KafkaClientBytes, LibrdkafkaProduceV7) {
  const bytes frame = load("librdkafka_produce_v7.bin");
  request_header h;
  auto req = decode_frame<produce_request>(frame, h);
  EXPECT_EQ(h.request_api_version, 7);
  EXPECT_EQ(h.client_id, "rdkafka");
  EXPECT_FALSE(req.transactional_id.has_value());
  EXPECT_EQ(req.acks, -1);
  EXPECT_EQ(req.timeout_ms, 30000);
  ASSERT_EQ(req.topic_data.size(), 1u);
  EXPECT_EQ(req.topic_data[0].name, "t");
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 1u);
  const auto& part = req.topic_data[0].partition_data[0];
  EXPECT_EQ(part.index, 0);
  // Zero copy: the records are a view into the frame.
  EXPECT_GE(part.records.view.data(), frame.data());
  EXPECT_LE(part.records.view.data() + part.records.view.size(), frame.data() + frame.size());
  expect_record_batch(part.records, "hi");
}

TEST(KafkaClientBytes, KafkaPythonApiVersionsV0AndMetadata) {
  const bytes api = load("kafka_python_api_versions_v0.bin");
  request_header h;
  decode_frame<api_versions_request>(api, h);
  EXPECT_EQ(h.request_api_version, 0);
  EXPECT_EQ(h.client_id, "kafka-python-probe");

  const bytes v0 = load("kafka_python_metadata_v0.bin");
  auto probe = decode_frame<metadata_request>(v0, h);
  EXPECT_EQ(h.request_api_version, 0);
  ASSERT_TRUE(probe.topics.has_value());
  EXPECT_TRUE(probe.topics->empty());  // v0: empty means every topic

  const bytes v1 = load("kafka_python_metadata_v1.bin");
  auto all = decode_frame<metadata_request>(v1, h);
  EXPECT_EQ(h.request_api_version, 1);
  EXPECT_FALSE(all.topics.has_value());
}

TEST(KafkaClientBytes, KafkaPythonProduceV7) {
  const bytes frame = load("kafka_python_produce_v7.bin");
  request_header h;
  auto req = decode_frame<produce_request>(frame, h);
  EXPECT_EQ(h.request_api_version, 7);
  EXPECT_EQ(h.client_id, "kafka-python-producer");
  EXPECT_EQ(req.acks, 1);
  ASSERT_EQ(req.topic_data.size(), 1u);
  EXPECT_EQ(req.topic_data[0].name, "t");
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 1u);
  expect_record_batch(req.topic_data[0].partition_data[0].records, "hello");
}

TEST(KafkaClientBytes, KafkaPythonConsumerGroup) {
  const bytes find = load("kafka_python_find_coordinator_v0.bin");
  request_header h;
  auto coordinator = decode_frame<find_coordinator_request>(find, h);
  EXPECT_EQ(h.client_id, "kafka-python-consumer");
  EXPECT_EQ(coordinator.key, "g1");

  const bytes join = load("kafka_python_join_group_v2.bin");
  auto req = decode_frame<join_group_request>(join, h);
  EXPECT_EQ(h.request_api_version, 2);
  EXPECT_EQ(req.group_id, "g1");
  EXPECT_EQ(req.session_timeout_ms, 10000);
  EXPECT_EQ(req.rebalance_timeout_ms, 300000);
  EXPECT_EQ(req.member_id, "");
  EXPECT_EQ(req.protocol_type, "consumer");
  ASSERT_EQ(req.protocols.size(), 2u);
  EXPECT_EQ(req.protocols[0].name, "range");
  EXPECT_EQ(req.protocols[1].name, "roundrobin");

  // The protocol metadata is a ConsumerProtocolSubscription after an int16 version.
  const bytes& metadata = req.protocols[0].metadata;
  ASSERT_GE(metadata.size(), 2u);
  const int16_t version = be16(metadata, 0);
  EXPECT_EQ(version, 0);
  consumer_protocol_subscription sub;
  reader r(std::span<const uint8_t>(metadata).subspan(2));
  ASSERT_TRUE(sub.decode(r, version));
  EXPECT_EQ(r.remaining(), 0u);
  ASSERT_EQ(sub.topics.size(), 1u);
  EXPECT_EQ(sub.topics[0], "t");
  base::iobuf out;
  writer w(out);
  sub.encode(w, version);
  EXPECT_EQ(out.linearize().value(), bytes(metadata.begin() + 2, metadata.end()));
}

}  // namespace
