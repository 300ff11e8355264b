/* A librdkafka C consumer in a consumer group, for the end-to-end group tests.
 *
 *   rdkafka_group BOOTSTRAP TOPIC GROUP [SESSION_TIMEOUT_MS]
 *
 * Subscribes TOPIC as a member of GROUP and prints, line-buffered on stdout:
 *   ASSIGN p,p,...   after every rebalance (the partitions it now owns)
 *   MSG p offset value   for every record received
 * Offsets are committed synchronously when partitions are revoked, and every 100 ms
 * otherwise (auto-commit of what was received). SIGTERM or SIGINT closes the consumer
 * cleanly (final commit, LeaveGroup); exit code 0. */

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t running = 1;
static void on_signal(int sig) {
  (void)sig;
  running = 0;
}

static void print_assignment(const rd_kafka_topic_partition_list_t *parts) {
  printf("ASSIGN ");
  for (int i = 0; parts && i < parts->cnt; i++) {
    printf("%s%d", i ? "," : "", parts->elems[i].partition);
  }
  printf("\n");
}

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque) {
  (void)opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_assign(rk, parts);
    print_assignment(parts);
  } else {
    /* What was received is committed before another member takes the partitions. */
    rd_kafka_commit(rk, NULL, 0);
    rd_kafka_assign(rk, NULL);
    print_assignment(NULL);
  }
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: rdkafka_group BOOTSTRAP TOPIC GROUP [SESSION_TIMEOUT_MS]\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *session = argc == 5 ? argv[4] : "10000";
  if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) ||
      rd_kafka_conf_set(conf, "group.id", argv[3], err, sizeof err) ||
      rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err) ||
      rd_kafka_conf_set(conf, "session.timeout.ms", session, err, sizeof err) ||
      rd_kafka_conf_set(conf, "heartbeat.interval.ms", "500", err, sizeof err) ||
      rd_kafka_conf_set(conf, "auto.commit.interval.ms", "100", err, sizeof err)) {
    fprintf(stderr, "rdkafka_group: %s\n", err);
    return 2;
  }
  rd_kafka_conf_set_rebalance_cb(conf, rebalance);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rdkafka_group: %s\n", err);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, argv[2], RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e) {
    fprintf(stderr, "rdkafka_group: subscribe: %s\n", rd_kafka_err2str(e));
    return 1;
  }
  while (running) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m) continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        fprintf(stderr, "rdkafka_group: %s\n", rd_kafka_message_errstr(m));
      }
    } else {
      printf("MSG %d %lld %.*s\n", m->partition, (long long)m->offset, (int)m->len,
             (const char *)m->payload);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}
