#include "cli/bench_client.h"

#include <chrono>
#include <string_view>
#include <thread>

namespace cli::bench {
namespace {

void split_kv(const std::string& s, const char* what, std::string& k, std::string& v) {
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw bench_error(std::string(what) + " '" + s + "' is not of the form key=value");
  }
  k = s.substr(0, eq);
  v = s.substr(eq + 1);
}

}  // namespace

void set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw bench_error("client property " + k + "=" + v + ": " + err);
  }
}

rd_kafka_conf_t* base_conf(const options& o) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", o.brokers);
  set(conf, "client.id", "riptide-bench");
  set(conf, "log_level", "3");
  // Nagle would hold small requests back by up to a delayed-ACK period on loopback.
  set(conf, "socket.nagle.disable", "true");
  for (const auto& p : o.properties) {
    std::string k, v;
    split_kv(p, "--property", k, v);
    set(conf, k, v);
  }
  return conf;
}

handle make_handle(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw bench_error(std::string("cannot create the Kafka client: ") + err);
  }
  return handle(rk);
}

// Waits for one admin result event on `q` (10 s at most).
static rd_kafka_event_t* wait_event(rd_kafka_queue_t* q, const char* what) {
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 10000);
  if (ev == nullptr) throw bench_error(std::string(what) + ": no answer from the broker in 10 s");
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::string msg = std::string(what) + ": " + rd_kafka_event_error_string(ev);
    rd_kafka_event_destroy(ev);
    throw bench_error(msg);
  }
  return ev;
}

// Creates the topic if it is missing; returns its partition count.
int prepare_topic(rd_kafka_t* rk, const options& o, bool create) {
  if (create) {
    char err[512];
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(o.topic.c_str(), o.partitions, 1, err, sizeof err);
    if (nt == nullptr) throw bench_error(std::string("topic ") + o.topic + ": " + err);
    for (const auto& c : o.topic_configs) {
      std::string k, v;
      split_kv(c, "--topic-config", k, v);
      rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    }
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_event_t* ev = nullptr;
    try {
      ev = wait_event(q, "creating the topic");
    } catch (...) {
      rd_kafka_queue_destroy(q);
      throw;
    }
    size_t n = 0;
    const auto** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    std::string failure;
    for (size_t i = 0; i < n; ++i) {
      auto e = rd_kafka_topic_result_error(res[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* s = rd_kafka_topic_result_error_string(res[i]);
        failure = s ? s : rd_kafka_err2str(e);
      }
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    if (!failure.empty()) throw bench_error("creating topic " + o.topic + ": " + failure);
  }
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int parts = -1;
  std::string failure;
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_err2str(e);
    } else {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
          md->topics[0].partition_cnt > 0) {
        parts = md->topics[0].partition_cnt;
      } else if (md->topic_cnt == 1) {
        failure = rd_kafka_err2str(md->topics[0].err);
      }
      rd_kafka_metadata_destroy(md);
    }
    if (parts > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  rd_kafka_topic_destroy(rkt);
  if (parts <= 0) throw bench_error("topic " + o.topic + " is not available: " + failure);
  return parts;
}

// The topic's riptide.durability, or "" if the broker does not report one.
std::string topic_durability(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_ConfigResource_t* res =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_DescribeConfigs(rk, &res, 1, nullptr, q);
  rd_kafka_ConfigResource_destroy(res);
  std::string out;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 5000);
  if (ev != nullptr && rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    size_t n = 0;
    const auto** rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      size_t m = 0;
      const auto** entries = rd_kafka_ConfigResource_configs(rs[i], &m);
      for (size_t j = 0; j < m; ++j) {
        if (std::string_view(rd_kafka_ConfigEntry_name(entries[j])) == "riptide.durability") {
          const char* v = rd_kafka_ConfigEntry_value(entries[j]);
          if (v) out = v;
        }
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  return out;
}

}  // namespace cli::bench
