"""The Sarama Go client (Debian's 1.22 sources, built as tests/sarama/sarama_client)
against the real broker, cross-checked with confluent-kafka and kafka-python.

Sarama is a client family of its own, not a librdkafka binding: it writes -1 as a record
batch's max_timestamp, sends Produce v3, Fetch v4 and ListOffsets v1, skips the records of
a fetched batch before the offset it asked for, and assigns group partitions on the
client. Its ClusterAdmin sends CreateTopics v2, DescribeConfigs v0 (is_default rather than
a config source), the legacy AlterConfigs and DeleteRecords v0, and keeps only the error
message of a refused AlterConfigs. Keys and values travel to and from sarama_client as
base64 in JSON.

Sarama 1.22 encodes ListOffsets v0 and v1 only, so it cannot ask for the offset of the
max timestamp (v7, timestamp -3), and its Fetch max_bytes is sarama.MaxResponseSize.
"""

import base64
import json
import os
import subprocess
import threading
import time
import unittest
import urllib.request

from confluent_kafka import (TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka.structs import TopicPartition as KTopicPartition

from harness import RIPTIDE, ServerTest

SARAMA = os.environ.get("TEST_SARAMA_CLIENT_BIN", "build/release/tests/sarama/sarama_client")
BASE_TS = 1_700_000_000_000
# Kafka error codes the tests expect.
UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_ENOUGH_REPLICAS = 19
INVALID_TIMESTAMP = 32
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_CONFIG = 40
UNSUPPORTED_COMPRESSION_TYPE = 76


def encode_records(records):
    """JSON lines for `sarama_client produce`: dicts with key, value (bytes or None),
    timestamp_ms and optionally partition."""
    lines = []
    for r in records:
        d = {k: v for k, v in r.items() if k not in ("key", "value")}
        for k in ("key", "value"):
            d[k] = None if r.get(k) is None else base64.b64encode(r[k]).decode()
        lines.append(json.dumps(d))
    return "\n".join(lines) + "\n"


def decode_record(d):
    return {"partition": d["partition"], "offset": d["offset"],
            "key": None if d["key"] is None else base64.b64decode(d["key"]),
            "value": None if d["value"] is None else base64.b64decode(d["value"]),
            "timestamp_ms": d["timestamp_ms"]}


def confluent_read(bootstrap, topic, partition, count, timeout=30):
    """`count` records of one partition from offset 0, read by librdkafka."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                  "enable.auto.commit": False, "log_level": 0})
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(m.error())
            out.append(m)
    finally:
        c.close()
    return out


class SaramaMember:
    """One `sarama_client group` process; its JSON events are collected as they come."""

    def __init__(self, bootstrap, topic, group, count):
        self.proc = subprocess.Popen(
            [SARAMA, "group", "-brokers", bootstrap, "-topics", topic, "-group", group,
             "-count", str(count), "-timeout", "60s", "-commit-interval", "200ms"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lock = threading.Lock()
        self.events = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if e["event"] == kind]

    @property
    def assignment(self):
        """(generation, partitions) of the latest generation this member joined."""
        assigned = self.of("assigned")
        if not assigned:
            return None
        last = assigned[-1]
        return last["generation"], sorted(p for ps in last["claims"].values() for p in ps)

    def wait(self, timeout=60):
        """(exit code, stderr) once the process has exited (killed after `timeout`)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        return self.proc.returncode, self.proc.stderr.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def now_ms():
    return int(time.time() * 1000)


def config_flags(configs):
    """`-config key=value` flags for sarama_client's admin subcommands."""
    return [flag for k, v in configs.items() for flag in ("-config", f"{k}={v}")]


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class SaramaTest(ServerTest):
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.server = self.start("--groups-initial-rebalance-delay", "100ms")
        self.server.wait_for("ready")
        self.bootstrap = self.server.bootstrap
        self.members = []

    def tearDown(self):
        for m in self.members:
            m.kill()
        super().tearDown()

    def test_a_compacted_topic_keeps_each_keys_latest_value_for_sarama(self):
        # Sarama writes the versions (batches of 50, lz4) and a tombstone; once the cleaner
        # ran, a Sarama consumer reads one record per live key at its original offset.
        self.server.stop()
        self.server = self.start("--storage-housekeeping-interval", "200ms")
        self.server.wait_for("ready")
        self.bootstrap = self.server.bootstrap
        self.sarama("create-topic", "-topic", "state", "-partitions", "1",
                    *config_flags({"cleanup.policy": "compact", "segment.bytes": "16384",
                                   "min.cleanable.dirty.ratio": "0.01",
                                   "delete.retention.ms": "100"}))
        records = [{"key": b"k%d" % (i % 10), "value": b"v%d" % i + b"." * 100,
                    "timestamp_ms": now_ms()} for i in range(1000)]
        records.append({"key": b"k3", "value": None, "timestamp_ms": now_ms()})  # delete k3
        self.assertEqual(self.produce("state", records, "-codec", "lz4", "-batch", "50"),
                         list(range(1001)))
        # The tombstone's segment must be sealed before it is cleaned: roll past it.
        filler = [{"key": b"filler-%d" % i, "value": b"f" * 2000, "timestamp_ms": now_ms()}
                  for i in range(20)]
        self.produce("state", filler, "-batch", "1")

        latest = {}
        for i, r in enumerate(records):
            latest[r["key"]] = (i, r["value"])
        expected = sorted((off, k, v) for k, (off, v) in latest.items() if v is not None)

        def live():
            # Everything readable: the kept values, maybe the tombstone, the fillers.
            got = self.consume("state", 0, len(expected) + 20)
            return [(r["offset"], r["key"], r["value"]) for r in got
                    if not r["key"].startswith(b"filler")]

        # Cleaned, and the tombstone gone once delete.retention.ms passed.
        wait_until(lambda: live() == expected, 60,
                   "the cleaner to keep only each key's latest value")
        self.assertNotIn(b"k3", [k for _, k, _ in live()])

    def create_topic(self, name, partitions):
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)

    def sarama_run(self, command, *args, stdin=None):
        return subprocess.run([SARAMA, command, "-brokers", self.bootstrap, "-timeout", "30s",
                               *args], input=stdin, capture_output=True, text=True, timeout=60)

    def sarama(self, command, *args, stdin=None):
        """Runs a sarama_client subcommand that must succeed; returns its JSON output."""
        r = self.sarama_run(command, *args, stdin=stdin)
        self.assertEqual(r.returncode, 0, f"sarama_client {command} {' '.join(args)}: "
                                          f"{r.stderr}")
        return json.loads(r.stdout)

    def sarama_refused(self, code, command, *args, stdin=None):
        """Runs a sarama_client subcommand that must fail with Kafka error `code`."""
        r = self.sarama_run(command, *args, stdin=stdin)
        self.assertNotEqual(r.returncode, 0, f"sarama_client {command} {' '.join(args)} "
                                             f"succeeded: {r.stdout}")
        self.assertIn(f"broker error {code}:", r.stderr)
        return r.stderr

    def produce(self, topic, records, *args):
        out = self.sarama("produce", "-topic", topic, *args, stdin=encode_records(records))
        return out["offsets"]

    def consume(self, topic, partition, count, offset=-2):
        out = self.sarama("consume", "-topic", topic, "-partition", str(partition),
                          "-offset", str(offset), "-count", str(count))
        return [decode_record(r) for r in out["records"]]

    def batches(self, topic, partition=0):
        return self.sarama("batches", "-topic", topic, "-partition", str(partition))["batches"]

    def list_offsets(self, topic, times, partition=0):
        """{query: (offset, timestamp)} from ListOffsets v1, after checking that Sarama's
        Client.GetOffset returns the same offset."""
        out = self.sarama("offsets", "-topic", topic, "-partition", str(partition),
                          "-times", ",".join(str(t) for t in times))
        for r in out["results"]:
            self.assertEqual(r["get_offset"], r["offset"], r)
        return {r["time"]: (r["offset"], r["timestamp"]) for r in out["results"]}

    def test_every_codec_round_trips_keys_values_and_timestamps(self):
        # Binary keys and values, a null key and an empty value; 40 records per batch.
        records = []
        for i in range(200):
            key = None if i % 17 == 0 else bytes([i % 256, 0, 255]) + b"k%d" % (i % 13)
            value = b"" if i == 5 else bytes(range(256))[i % 256:] + b"-%d" % i * (i % 7 + 1)
            records.append({"key": key, "value": value, "timestamp_ms": BASE_TS + i * 10})
        for codec in ("none", "gzip", "snappy", "lz4"):
            with self.subTest(codec=codec):
                topic = f"codec-{codec}"
                offsets = self.produce(topic, records, "-codec", codec, "-batch", "40")
                self.assertEqual(offsets, list(range(200)))
                self.assertEqual([(b["base_offset"], b["records"], b["codec"])
                                  for b in self.batches(topic)],
                                 [(i, 40, codec) for i in range(0, 200, 40)])

                got = self.consume(topic, 0, 200)
                self.assertEqual([r["offset"] for r in got], list(range(200)))
                self.assertEqual([(r["key"], r["value"], r["timestamp_ms"]) for r in got],
                                 [(r["key"], r["value"], r["timestamp_ms"]) for r in records])

                # From the middle of a batch: Sarama drops the records before the offset.
                got = self.consume(topic, 0, 10, offset=123)
                self.assertEqual([r["offset"] for r in got], list(range(123, 133)))
                self.assertEqual([r["value"] for r in got],
                                 [r["value"] for r in records[123:133]])

                # librdkafka reads the same records from Sarama's batches.
                got = confluent_read(self.bootstrap, topic, 0, 200)
                self.assertEqual([(m.offset(), m.key(), m.value(), m.timestamp()[1])
                                  for m in got],
                                 [(i, r["key"], r["value"], r["timestamp_ms"])
                                  for i, r in enumerate(records)])

                self.assertEqual(self.list_offsets(topic, [-2, -1]),
                                 {-2: (0, -1), -1: (200, -1)})

    def test_zstd_needs_produce_v7_which_sarama_1_22_does_not_send(self):
        # Sarama 1.22 compresses with zstd when asked but still sends Produce v3. Kafka
        # accepts zstd batches only in Produce v7 and newer and answers older versions with
        # UNSUPPORTED_COMPRESSION_TYPE; so must the broker, without appending anything.
        records = [{"key": b"k%d" % i, "value": b"zstd-%d" % i * 20,
                    "timestamp_ms": BASE_TS + i} for i in range(20)]
        r = self.sarama_run("produce", "-topic", "zstd", "-codec", "zstd", "-batch", "10",
                            stdin=encode_records(records))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn(f"broker error {UNSUPPORTED_COMPRESSION_TYPE}:", r.stderr)
        self.assertEqual(self.list_offsets("zstd", [-1]), {-1: (0, -1)})

        # The same records from a client that sends Produce v7+ are accepted, and the
        # Sarama-compatible codecs still work on the same topic.
        p = Producer({"bootstrap.servers": self.bootstrap, "compression.type": "zstd",
                      "linger.ms": 20})
        for rec in records:
            p.produce("zstd", rec["value"], rec["key"], partition=0,
                      timestamp=rec["timestamp_ms"])
        self.assertEqual(p.flush(30), 0)
        self.assertEqual(self.produce("zstd", records[:3], "-codec", "lz4", "-batch", "3"),
                         [20, 21, 22])
        self.assertEqual({b["codec"] for b in self.batches("zstd")}, {"zstd", "lz4"})
        got = confluent_read(self.bootstrap, "zstd", 0, 23)
        self.assertEqual([m.value() for m in got],
                         [r["value"] for r in records] + [r["value"] for r in records[:3]])

    def test_two_group_members_split_four_partitions_and_commit(self):
        self.create_topic("jobs", 4)
        first = SaramaMember(self.bootstrap, "jobs", "workers", 40)
        self.members.append(first)
        wait_until(lambda: first.assignment is not None, 30, "the first member's assignment")
        self.assertEqual(first.assignment[1], [0, 1, 2, 3])
        second = SaramaMember(self.bootstrap, "jobs", "workers", 40)
        self.members.append(second)

        def split():
            a, b = first.assignment, second.assignment
            return a and b and a[0] == b[0] and len(a[1]) == 2 and len(b[1]) == 2
        wait_until(split, 30, f"a two-way split (events: {first.events}, {second.events})")
        halves = {"first": first.assignment[1], "second": second.assignment[1]}
        self.assertEqual(sorted(halves["first"] + halves["second"]), [0, 1, 2, 3])

        # While both are members the broker describes them with their partitions.
        r = subprocess.run([RIPTIDE, "group", "describe", "workers", "--json", "--brokers",
                            self.bootstrap], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual(d["state"], "Stable")
        self.assertEqual(sorted(m["partitions"] for m in d["members"]), [2, 2])

        records = [{"partition": i % 4, "key": b"job-%d" % i, "value": b"payload-%d" % i,
                    "timestamp_ms": BASE_TS + i} for i in range(80)]
        self.produce("jobs", records)
        results = {}
        for name, m in (("first", first), ("second", second)):
            rc, err = m.wait()
            self.assertEqual(rc, 0, f"{name} member: {err}")
            self.assertEqual(m.of("done"), [{"event": "done", "records": 40}])
            got = [decode_record(e["record"]) for e in m.of("record")]
            self.assertEqual({r["partition"] for r in got}, set(halves[name]), name)
            results[name] = got
        everything = results["first"] + results["second"]
        self.assertEqual(sorted(r["value"] for r in everything),
                         sorted(r["value"] for r in records))
        for r in everything:
            self.assertEqual(r["key"], b"job-" + r["value"].split(b"-")[1])

        # Each member committed what it consumed: 20 records on each of the 4 partitions.
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "workers",
                      "log_level": 0})
        try:
            committed = c.committed([TopicPartition("jobs", p) for p in range(4)], timeout=10)
        finally:
            c.close()
        self.assertEqual({tp.partition: tp.offset for tp in committed}, {0: 20, 1: 20, 2: 20,
                                                                          3: 20})
        r = subprocess.run([RIPTIDE, "group", "describe", "workers", "--json", "--brokers",
                            self.bootstrap], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual(d["members"], [])
        self.assertEqual([(p["partition"], p["committed"], p["lag"]) for p in d["partitions"]],
                         [(p, 20, 0) for p in range(4)])

    def check_offsets_for_times(self, codec, writer="sarama"):
        """ListOffsets by timestamp on batches of 5 records: the answer is the first offset
        whose record timestamp is >= the query, with that record's own timestamp. Sarama
        writes -1 as each batch's max_timestamp, so the broker has to read the records;
        librdkafka's batches (the control) carry their real max_timestamp."""
        topic = f"times-{codec}"
        ts = [BASE_TS + i * 1000 for i in range(20)]
        records = [{"key": b"k%d" % i, "value": b"v%d" % i * 30, "timestamp_ms": t}
                   for i, t in enumerate(ts)]
        if writer == "sarama":
            self.assertEqual(self.produce(topic, records, "-codec", codec, "-batch", "5"),
                             list(range(20)))
        else:
            # librdkafka sends a record that waited for the topic's metadata in a batch of
            # its own when the metadata arrives in the middle of the produce calls: the
            # topic exists and its partition is known before the first record.
            self.create_topic(topic, 1)
            p = Producer({"bootstrap.servers": self.bootstrap, "compression.type": codec,
                          "linger.ms": 1000, "batch.num.messages": 5})
            p.list_topics(topic, timeout=10)
            for r in records:
                p.produce(topic, r["value"], r["key"], partition=0,
                          timestamp=r["timestamp_ms"])
            self.assertEqual(p.flush(30), 0)
        # The broker stores each batch's real max timestamp (the last record's here), also
        # for Sarama's batches that arrived with -1 in the header, as Kafka does.
        batches = self.batches(topic)
        self.assertEqual([(b["base_offset"], b["records"], b["codec"], b["max_timestamp"])
                          for b in batches],
                         [(i, 5, codec, ts[i + 4]) for i in range(0, 20, 5)])

        # query -> offset expected: before every record, each record's own timestamp,
        # between two batches, between two records inside a batch, after every record.
        expected = {BASE_TS - 60_000: 0, ts[0]: 0, ts[3]: 3, ts[4] + 500: 5, ts[6] + 1: 7,
                    ts[12] - 1: 12, ts[19]: 19, ts[19] + 1: -1, BASE_TS + 3_600_000: -1}

        # Sarama (ListOffsets v1) answers an offset and that record's timestamp; -1 for both
        # when no record is that late.
        sarama = self.list_offsets(topic, list(expected))
        # librdkafka answers the offset (one query per call: a request names a partition
        # once).
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused",
                      "log_level": 0})
        try:
            confluent = {q: c.offsets_for_times([TopicPartition(topic, 0, q)],
                                                timeout=10)[0].offset for q in expected}
        finally:
            c.close()
        # kafka-python answers (offset, timestamp), or None when no record is that late.
        kc = KafkaConsumer(bootstrap_servers=self.bootstrap, api_version=(2, 1, 0))
        try:
            ktp = KTopicPartition(topic, 0)
            kafka_python = {}
            for q in expected:
                got = kc.offsets_for_times({ktp: q})[ktp]
                kafka_python[q] = None if got is None else (got.offset, got.timestamp)
        finally:
            kc.close()

        got = {"sarama": sarama, "confluent-kafka": confluent, "kafka-python": kafka_python}
        want = {"sarama": {q: (o, ts[o] if o >= 0 else -1) for q, o in expected.items()},
                "confluent-kafka": expected,
                "kafka-python": {q: (o, ts[o]) if o >= 0 else None
                                 for q, o in expected.items()}}
        wrong = [f"{client}: query {q} answered {got[client][q]}, expected {want[client][q]}"
                 for client in want for q in expected if got[client][q] != want[client][q]]
        if wrong:
            self.fail(f"ListOffsets by timestamp on {writer}'s {codec} batches of 5 records "
                      f"(record timestamps {ts[0]} + 1000 * offset):\n" + "\n".join(wrong))

        # The record at each found offset carries the timestamp the broker answered.
        got = self.consume(topic, 0, 20)
        self.assertEqual([r["timestamp_ms"] for r in got], ts)

    def test_offsets_for_times_uncompressed_batches(self):
        self.check_offsets_for_times("none")

    def test_offsets_for_times_gzip_batches(self):
        self.check_offsets_for_times("gzip")

    def test_offsets_for_times_lz4_batches(self):
        self.check_offsets_for_times("lz4")

    def test_offsets_for_times_zstd_batches_from_librdkafka(self):
        # zstd: librdkafka 2.0 sends gzip, snappy and lz4 uncompressed to a broker whose
        # oldest Produce version is above 0.
        self.check_offsets_for_times("zstd", writer="librdkafka")

    def test_idempotent_producer_writes_each_record_once_in_order(self):
        self.create_topic("payments", 2)
        records = [{"partition": i % 2, "key": b"acct-%d" % (i % 7), "value": b"%d" % i,
                    "timestamp_ms": BASE_TS + i} for i in range(1000)]
        offsets = self.produce("payments", records, "-idempotent", "-batch", "50",
                               "-codec", "snappy")
        self.assertEqual(offsets, [i // 2 for i in range(1000)])
        # A second producer (a new producer id) continues after the first one's records.
        more = [{"partition": i % 2, "key": None, "value": b"%d" % i,
                 "timestamp_ms": BASE_TS + i} for i in range(1000, 1100)]
        self.assertEqual(self.produce("payments", more, "-idempotent", "-batch", "10"),
                         [i // 2 for i in range(1000, 1100)])

        for p in (0, 1):
            # Each request of 50 (then 10) records carries one batch per partition.
            batches = self.batches("payments", p)
            self.assertEqual(len(batches), 20 + 10)
            first_id = batches[0]["producer_id"]
            second_id = batches[20]["producer_id"]
            self.assertGreaterEqual(first_id, 0)
            self.assertNotEqual(first_id, second_id)
            self.assertEqual([(b["producer_id"], b["first_sequence"]) for b in batches],
                             [(first_id, 25 * i) for i in range(20)]
                             + [(second_id, 5 * i) for i in range(10)])

            expected = [str(i).encode() for i in range(p, 1100, 2)]
            got = self.consume("payments", p, 550)
            self.assertEqual([r["value"] for r in got], expected, f"partition {p}")
            self.assertEqual([r["offset"] for r in got], list(range(550)))
            got = confluent_read(self.bootstrap, "payments", p, 550)
            self.assertEqual([m.value() for m in got], expected, f"partition {p}")
            self.assertEqual(self.list_offsets("payments", [-1], p), {-1: (550, -1)})

    def test_idempotent_producer_retries_after_cut_connections_without_duplicates(self):
        # A broker that drops the responses in flight: Sarama resends the same batches with
        # the same sequence numbers, and the broker answers them with their first offsets.
        server = self.start("--testing-fault-injection", "true",
                            data_dir=os.path.join(self.tmp, "faults"))
        server.wait_for("ready")
        bootstrap = self.bootstrap = server.bootstrap
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("ledger", 2, 1)])["ledger"].result(timeout=30)
        records = [{"partition": i % 2, "key": None, "value": b"%d" % i,
                    "timestamp_ms": BASE_TS + i} for i in range(2000)]
        out = os.path.join(self.tmp, "produce.out")
        with open(out, "w") as stdout, open(out + ".err", "w") as stderr:
            # 100 requests of 20 records, 20 ms apart: a cut mostly finds the producer idle,
            # so the response it loses is the next produce response.
            proc = subprocess.Popen(
                [SARAMA, "produce", "-brokers", bootstrap, "-topic", "ledger", "-idempotent",
                 "-batch", "20", "-pause", "20ms", "-timeout", "30s"],
                stdin=subprocess.PIPE, stdout=stdout, stderr=stderr, text=True)
        try:
            proc.stdin.write(encode_records(records))
            proc.stdin.close()
            cuts = 0
            for _ in range(3):
                time.sleep(0.4)
                req = urllib.request.Request(
                    f"http://127.0.0.1:{server.http_port}/v1/faults/cut-kafka-connections",
                    method="POST")
                with urllib.request.urlopen(req, timeout=10) as r:
                    cuts += json.loads(r.read())["cut"]
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with open(out + ".err") as f:
            self.assertEqual(rc, 0, f.read())
        with open(out) as f:
            offsets = json.load(f)["offsets"]
        self.assertGreater(cuts, 0)
        self.assertEqual(offsets, [i // 2 for i in range(2000)])

        status, body = server.http_get("/metrics")
        self.assertEqual(status, 200)
        duplicates = sum(int(float(line.split()[-1])) for line in body.splitlines()
                         if line.startswith("riptide_produce_duplicate_batches_total"))
        self.assertGreater(duplicates, 0, f"no resent batch reached the duplicate check "
                                          f"({cuts} connections cut)")
        for p in (0, 1):
            got = self.sarama_run("consume", "-topic", "ledger", "-partition", str(p),
                                  "-count", "1000")
            self.assertEqual(got.returncode, 0, got.stderr)
            self.assertEqual([base64.b64decode(r["value"]) for r in
                              json.loads(got.stdout)["records"]],
                             [b"%d" % i for i in range(p, 2000, 2)], f"partition {p}")
            self.assertEqual(self.list_offsets("ledger", [-1], p), {-1: (1000, -1)})

    def test_log_append_time_topic_stamps_records_with_the_broker_clock(self):
        # Created through Sarama's ClusterAdmin; the producer still writes 2023 timestamps.
        self.sarama("create-topic", "-topic", "stamped", "-partitions", "1",
                    "-config", "message.timestamp.type=LogAppendTime")
        records = [{"key": b"k%d" % i, "value": b"v%d" % i, "timestamp_ms": BASE_TS + i}
                   for i in range(10)]
        first = self.sarama("produce", "-topic", "stamped", "-batch", "5",
                            stdin=encode_records(records[:5]))
        time.sleep(0.01)
        second = self.sarama("produce", "-topic", "stamped", "-batch", "5", "-codec", "gzip",
                             stdin=encode_records(records[5:]))
        self.assertEqual(first["offsets"] + second["offsets"], list(range(10)))

        # Each Produce response carries the broker's append time of its batch, which Sarama
        # hands back as the timestamp of the batch's messages.
        t1, t2 = first["timestamps"][0], second["timestamps"][0]
        self.assertEqual(first["timestamps"] + second["timestamps"], [t1] * 5 + [t2] * 5)
        self.assertLess(t1, t2)
        for t in (t1, t2):
            self.assertLess(abs(t - now_ms()), 60_000, f"append time {t} is not the broker's")

        # Stored batches say LogAppendTime and carry that time, compressed ones too.
        self.assertEqual([(b["base_offset"], b["codec"], b["log_append_time"], b["max_timestamp"])
                          for b in self.batches("stamped")],
                         [(0, "none", True, t1), (5, "gzip", True, t2)])
        # Consumers see the broker's time, not the producer's.
        got = self.consume("stamped", 0, 10)
        self.assertEqual([(r["value"], r["timestamp_ms"]) for r in got],
                         [(r["value"], t) for r, t in zip(records, [t1] * 5 + [t2] * 5)])
        got = confluent_read(self.bootstrap, "stamped", 0, 10)
        self.assertEqual([m.timestamp() for m in got],
                         [(TIMESTAMP_LOG_APPEND_TIME, t1)] * 5
                         + [(TIMESTAMP_LOG_APPEND_TIME, t2)] * 5)

        # ListOffsets by timestamp searches the broker's times: a producer's timestamp
        # (BASE_TS + 7 would find offset 7 on a CreateTime topic) finds the first record.
        self.assertEqual(self.list_offsets("stamped", [BASE_TS, BASE_TS + 7, t1, t1 + 1, t2,
                                                       t2 + 1]),
                         {BASE_TS: (0, t1), BASE_TS + 7: (0, t1), t1: (0, t1), t1 + 1: (5, t2),
                          t2: (5, t2), t2 + 1: (-1, -1)})

    def test_cluster_admin_manages_topics_and_their_configs(self):
        configs = {"retention.ms": "3600000", "cleanup.policy": "delete",
                   "compression.type": "gzip", "min.insync.replicas": "2",
                   "segment.index.bytes": "4096",
                   "message.timestamp.difference.max.ms": "3600000"}
        self.sarama("create-topic", "-topic", "orders", "-partitions", "3",
                    "-replication-factor", "1", *config_flags(configs))
        self.sarama_refused(TOPIC_ALREADY_EXISTS, "create-topic", "-topic", "orders",
                            "-partitions", "1")
        self.sarama_refused(INVALID_REPLICATION_FACTOR, "create-topic", "-topic", "mirrored",
                            "-partitions", "1", "-replication-factor", "2")
        self.sarama_refused(INVALID_CONFIG, "create-topic", "-topic", "misconfigured",
                            "-partitions", "1", "-config", "cleanup.policy=shred")
        # A replica assignment may name this node, and only this node (node id 0).
        self.sarama("create-topic", "-topic", "placed", "-partitions", "-1",
                    "-replication-factor", "-1", "-assignment", '{"0": [0], "1": [0]}')
        self.sarama_refused(INVALID_REPLICA_ASSIGNMENT, "create-topic", "-topic", "elsewhere",
                            "-partitions", "-1", "-replication-factor", "-1",
                            "-assignment", '{"0": [0], "1": [1]}')

        # ListTopics: partitions, replicas and the non-default configs (from DescribeConfigs
        # v0's is_default flag) of exactly the topics created.
        topics = self.sarama("list-topics")["topics"]
        self.assertEqual(set(topics) - {"__consumer_offsets"}, {"orders", "placed"})
        self.assertEqual(topics["orders"], {"partitions": 3, "replication_factor": 1,
                                            "replicas": {"0": [0], "1": [0], "2": [0]},
                                            "configs": configs})
        self.assertEqual(topics["placed"], {"partitions": 2, "replication_factor": 1,
                                            "replicas": {"0": [0], "1": [0]}, "configs": {}})

        # DescribeConfig: every Kafka topic config, the ones set as given and not default.
        described = self.sarama("describe-config", "-topic", "orders")["configs"]
        for key in ("cleanup.policy", "compression.type", "delete.retention.ms",
                    "max.message.bytes", "message.timestamp.type", "min.insync.replicas",
                    "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes",
                    "segment.ms", "unclean.leader.election.enable"):
            self.assertIn(key, described)
        self.assertEqual({k: e["value"] for k, e in described.items() if not e["default"]},
                         configs)
        self.assertEqual(described["message.timestamp.type"]["value"], "CreateTime")
        self.assertFalse(any(e["sensitive"] for e in described.values()))

        # The configs apply to what Sarama produces: a timestamp more than an hour old is
        # refused, acks=all wants two in-sync replicas, lz4 batches are stored gzipped.
        now = now_ms()
        records = [{"partition": 1, "key": b"o%d" % i, "value": b"order-%d" % i * 50,
                    "timestamp_ms": now + i} for i in range(10)]
        self.sarama_refused(INVALID_TIMESTAMP, "produce", "-topic", "orders", "-acks", "local",
                            stdin=encode_records([dict(records[0], timestamp_ms=BASE_TS)]))
        self.sarama_refused(NOT_ENOUGH_REPLICAS, "produce", "-topic", "orders",
                            stdin=encode_records(records))
        self.assertEqual(self.produce("orders", records, "-acks", "local", "-codec", "lz4",
                                      "-batch", "10"), list(range(10)))
        self.assertEqual([(b["records"], b["codec"]) for b in self.batches("orders", 1)],
                         [(10, "gzip")])
        self.assertEqual([r["value"] for r in self.consume("orders", 1, 10)],
                         [r["value"] for r in records])

        # AlterConfig (the legacy API) replaces the whole set of overrides.
        self.sarama("alter-config", "-topic", "orders", "-config", "retention.ms=7200000")
        described = self.sarama("describe-config", "-topic", "orders")["configs"]
        self.assertEqual({k: e["value"] for k, e in described.items() if not e["default"]},
                         {"retention.ms": "7200000"})
        self.assertEqual(described["min.insync.replicas"]["value"], "1")
        self.sarama_refused(INVALID_CONFIG, "alter-config", "-topic", "orders",
                            "-config", "retention.ms=soon")
        self.sarama_refused(UNKNOWN_TOPIC_OR_PARTITION, "alter-config", "-topic", "missing",
                            "-config", "retention.ms=1000")
        r = self.sarama_run("describe-config", "-topic", "missing")
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertEqual(self.sarama("list-topics")["topics"]["orders"]["configs"],
                         {"retention.ms": "7200000"})

        # CreatePartitions grows a topic and never shrinks it.
        self.sarama("create-partitions", "-topic", "orders", "-count", "5")
        self.sarama_refused(INVALID_PARTITIONS, "create-partitions", "-topic", "orders",
                            "-count", "4")
        self.assertEqual(self.sarama("list-topics")["topics"]["orders"]["partitions"], 5)
        self.assertEqual(self.produce("orders", [dict(records[0], partition=4)]), [0])

        # DeleteTopic, once.
        self.sarama("delete-topic", "-topic", "placed")
        self.sarama_refused(UNKNOWN_TOPIC_OR_PARTITION, "delete-topic", "-topic", "placed")
        self.assertEqual(set(self.sarama("list-topics")["topics"]) - {"__consumer_offsets"},
                         {"orders"})

    def test_min_insync_replicas_above_one_refuses_acks_all_but_not_acks_leader(self):
        self.sarama("create-topic", "-topic", "guarded", "-partitions", "1",
                    "-config", "min.insync.replicas=2")
        records = [{"key": None, "value": b"entry-%d" % i, "timestamp_ms": BASE_TS + i}
                   for i in range(5)]
        # Sarama retries NOT_ENOUGH_REPLICAS, then gives up with it; nothing was appended.
        self.sarama_refused(NOT_ENOUGH_REPLICAS, "produce", "-topic", "guarded",
                            "-acks", "all", stdin=encode_records(records))
        self.assertEqual(self.list_offsets("guarded", [-1]), {-1: (0, -1)})
        # WaitForLocal needs only the leader.
        self.assertEqual(self.produce("guarded", records, "-acks", "local"), list(range(5)))
        # Lowered to 1, acks=all goes through again.
        self.sarama("alter-config", "-topic", "guarded", "-config", "min.insync.replicas=1")
        self.assertEqual(self.produce("guarded", records, "-acks", "all"), list(range(5, 10)))
        self.assertEqual([r["value"] for r in self.consume("guarded", 0, 10)],
                         [r["value"] for r in records] * 2)

    def test_delete_records_moves_the_log_start_offset_for_good(self):
        self.sarama("create-topic", "-topic", "trimmed", "-partitions", "2")
        # Batches of 5 records per partition: offsets 0-4, 5-9, 10-14 and 15-19.
        records = [{"partition": i % 2, "key": None, "value": b"%d" % i,
                    "timestamp_ms": BASE_TS + i} for i in range(40)]
        self.produce("trimmed", records, "-batch", "10")
        # Sarama 1.22's DeleteRecords drops the broker's answer; its effect is checked below.
        self.sarama("delete-records", "-topic", "trimmed", "-offsets", "0=7,1=15")

        def check():
            for p, start in ((0, 7), (1, 15)):
                self.assertEqual(self.list_offsets("trimmed", [-2, -1], p),
                                 {-2: (start, -1), -1: (20, -1)}, f"partition {p}")
                # From the oldest offset, Sarama starts at the log start offset, also inside a
                # batch (7).
                got = self.consume("trimmed", p, 20 - start)
                self.assertEqual([(r["offset"], r["value"]) for r in got],
                                 [(o, b"%d" % (2 * o + p)) for o in range(start, 20)])
                # Below it, Sarama refuses to start.
                r = self.sarama_run("consume", "-topic", "trimmed", "-partition", str(p),
                                    "-offset", str(start - 1))
                self.assertNotEqual(r.returncode, 0, r.stdout)
                self.assertIn("outside the range of offsets", r.stderr)
            c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused",
                          "log_level": 0})
            try:
                self.assertEqual([c.get_watermark_offsets(TopicPartition("trimmed", p),
                                                          timeout=10) for p in (0, 1)],
                                 [(7, 20), (15, 20)])
            finally:
                c.close()

        check()
        # The log start offsets are persisted: a restart on the same data directory keeps them.
        self.assertEqual(self.server.stop(), 0)
        self.server = self.start()
        self.server.wait_for("ready")
        self.bootstrap = self.server.bootstrap
        check()

    def test_large_records_under_small_fetch_limits(self):
        # Partition 0: twelve batches of one 100 kB record. Partition 1: two batches of three.
        self.sarama("create-topic", "-topic", "large", "-partitions", "2")
        singles = [{"partition": 0, "key": None, "value": bytes([i]) * 100_000,
                    "timestamp_ms": BASE_TS + i} for i in range(12)]
        triples = [{"partition": 1, "key": None, "value": bytes([i]) * 100_000,
                    "timestamp_ms": BASE_TS + i} for i in range(6)]
        self.assertEqual(self.produce("large", singles), list(range(12)))
        self.assertEqual(self.produce("large", triples, "-batch", "3"), list(range(6)))

        # Sarama 1.22 has two fetch limits. The partition's max_bytes is
        # Consumer.Fetch.Default, doubled up to Consumer.Fetch.Max while the broker answers
        # with only part of a batch. Both below one record: the broker answers with the first
        # whole batch (KIP-74), so Sarama neither gives up (ErrMessageTooLarge) nor stalls.
        for p, records in ((0, singles), (1, triples)):
            out = self.sarama("consume", "-topic", "large", "-partition", str(p),
                              "-count", str(len(records)), "-fetch-default", "16384",
                              "-fetch-max", "32768")
            got = [decode_record(r) for r in out["records"]]
            self.assertEqual([(r["offset"], r["value"]) for r in got],
                             [(o, r["value"]) for o, r in enumerate(records)], f"partition {p}")
        # The request's max_bytes is sarama.MaxResponseSize, also the largest response Sarama
        # decodes: at 250 000 bytes, every response has to stay within it.
        out = self.sarama("consume", "-topic", "large", "-partition", "0", "-count", "12",
                          "-max-response-size", "250000")
        self.assertEqual([base64.b64decode(r["value"]) for r in out["records"]],
                         [r["value"] for r in singles])

        # The same limits on Fetch v4 requests, counting the whole batches of each response:
        # two under a 250 000 byte request limit, one when the partition's limit is smaller
        # than a batch, and still one when the request's limit is.
        def per_fetch(p, *limits):
            return self.sarama("batches", "-topic", "large", "-partition", str(p),
                               *limits)["batches_per_fetch"]
        self.assertEqual(per_fetch(0, "-max-bytes", "250000"), [2] * 6)
        self.assertEqual(per_fetch(0, "-partition-max-bytes", "16384"), [1] * 12)
        self.assertEqual(per_fetch(0, "-max-bytes", "1000"), [1] * 12)
        self.assertEqual(per_fetch(1, "-max-bytes", "16384"), [1, 1])


if __name__ == "__main__":
    unittest.main()
