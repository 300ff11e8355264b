#pragma once
// The parts of `riptide bench` that talk to the cluster outside the measured loop: its
// options, librdkafka configuration, and preparing the topic.

#include <librdkafka/rdkafka.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli::bench {

struct options {
  std::string brokers = "127.0.0.1:9092";
  std::string topic = "riptide-bench";
  std::string mode = "both";  // produce, consume, both
  size_t record_size = 1024;
  int keys = 0;  // distinct keys; 0 sends records without a key
  int partitions = 8;
  int topics = 1;  // more than one: topics <topic>-0 ... <topic>-(topics-1), records spread
  int producers = 1;
  int consumers = 1;
  std::string acks = "all";
  std::string compression = "none";
  double linger_ms = 5;
  int batch_size = 1 << 20;
  double rate = 0;             // records per second over all producers; 0 = flat out
  double pace_step_us = 1000;  // how far ahead of schedule a paced producer may run
  double duration_s = 10;
  uint64_t count = 0;  // records (produce) or records to read (consume); 0 = use duration
  double warmup_s = 0;
  std::string from = "beginning";  // consume mode: where to start
  std::vector<std::string> topic_configs;
  std::vector<std::string> properties;
  std::string durability;  // label for the report; default: read from the topic
  bool json = false;
  bool quiet = false;
};

// A failure to report to the user (exit code 1, message on stderr).
struct bench_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct handle_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using handle = std::unique_ptr<rd_kafka_t, handle_deleter>;

// Sets one client property; throws bench_error naming it if librdkafka refuses it.
void set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v);
// The configuration every client of a run shares: brokers and the -X properties.
rd_kafka_conf_t* base_conf(const options& o);
// Takes ownership of `conf`.
handle make_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf);
// Creates the topic if `create` and it is missing; returns its partition count.
int prepare_topic(rd_kafka_t* rk, const options& o, bool create);
// The topic's riptide.durability, or "" if the broker does not report one.
std::string topic_durability(rd_kafka_t* rk, const std::string& topic);

}  // namespace cli::bench
