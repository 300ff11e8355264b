/* A librdkafka C client round trip: produce N keyed records with two headers at
 * acks=all to every partition of a topic, consume them back from the beginning and
 * check content and per-partition order.
 *
 *   rdkafka_roundtrip BOOTSTRAP TOPIC PARTITIONS COUNT
 * Exit code 0 and "OK ..." on success; a message naming the mismatch otherwise. */

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
  fprintf(stderr, "rdkafka_roundtrip: %s\n", what);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 5) return fail("usage: rdkafka_roundtrip BOOTSTRAP TOPIC PARTITIONS COUNT");
  const char *bootstrap = argv[1], *topic = argv[2];
  const int partitions = atoi(argv[3]), count = atoi(argv[4]);
  char err[512];

  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) ||
      rd_kafka_conf_set(conf, "acks", "all", err, sizeof err) ||
      rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err))
    return fail(err);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!p) return fail(err);
  for (int i = 0; i < count; i++) {
    char value[64], seq[16];
    snprintf(value, sizeof value, "value-%d", i);
    snprintf(seq, sizeof seq, "%d", i);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(hdrs, "source", -1, "c", 1);
    rd_kafka_header_add(hdrs, "seq", -1, seq, strlen(seq));
    int partition = i % partitions;
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY(seq, strlen(seq)),
                                  RD_KAFKA_V_VALUE(value, strlen(value)),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(p, 10);
    if (e) return fail(rd_kafka_err2str(e));
  }
  if (rd_kafka_flush(p, 60000)) return fail("flush timed out");
  rd_kafka_destroy(p);

  conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) ||
      rd_kafka_conf_set(conf, "group.id", "rdkafka-roundtrip", err, sizeof err) ||
      rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err))
    return fail(err);
  rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!c) return fail(err);
  rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(partitions);
  for (int i = 0; i < partitions; i++)
    rd_kafka_topic_partition_list_add(assignment, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
  if (rd_kafka_assign(c, assignment)) return fail("assign failed");
  rd_kafka_topic_partition_list_destroy(assignment);

  int *next = calloc((size_t)partitions, sizeof(int)); /* next expected i per partition */
  for (int i = 0; i < partitions; i++) next[i] = i;
  int received = 0, idle = 0;
  while (received < count && idle < 300) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
    if (!m) {
      idle++;
      continue;
    }
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) return fail(rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    idle = 0;
    char want[64];
    int expected = next[m->partition];
    snprintf(want, sizeof want, "value-%d", expected);
    if (m->len != strlen(want) || memcmp(m->payload, want, m->len) != 0) {
      fprintf(stderr, "partition %d offset %lld: got %.*s, want %s\n", m->partition,
              (long long)m->offset, (int)m->len, (const char *)m->payload, want);
      return 1;
    }
    rd_kafka_headers_t *hdrs;
    const void *hv;
    size_t hl;
    if (rd_kafka_message_headers(m, &hdrs) ||
        rd_kafka_header_get_last(hdrs, "source", &hv, &hl) || hl != 1 ||
        memcmp(hv, "c", 1) != 0)
      return fail("header 'source' missing or wrong");
    next[m->partition] += partitions;
    received++;
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  free(next);
  if (received != count) {
    fprintf(stderr, "rdkafka_roundtrip: received %d of %d records\n", received, count);
    return 1;
  }
  printf("OK %d records in order across %d partitions\n", count, partitions);
  return 0;
}
