"""Real Kafka clients against the real broker: kcat, confluent-kafka (librdkafka) and
kafka-python, all from Debian packages under /usr/bin/python3."""

import glob
import os
import socket
import struct
import subprocess
import time
import unittest

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import test_malformed as wire
from harness import ServerTest


def kcat(bootstrap, *args, stdin=None, timeout=60):
    return subprocess.run(["kcat", "-b", bootstrap, *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def consume_all(bootstrap, topic, partitions, expected, timeout=60, **conf):
    """Reads every partition from the beginning until `expected` records arrived."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", **conf})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(m.error())
        out.append(m)
    c.close()
    return out


def stored_codecs(data_dir, partition_dir):
    """The codec (attributes & 7) of every batch in a partition's segment files."""
    codecs = set()
    for log in glob.glob(os.path.join(data_dir, partition_dir, "*.log")):
        with open(log, "rb") as f:
            data = f.read()
        pos = 0
        while pos + 61 <= len(data):
            length = struct.unpack(">i", data[pos + 8:pos + 12])[0]
            codecs.add(struct.unpack(">h", data[pos + 21:pos + 23])[0] & 7)
            pos += 12 + length
    return codecs


class KafkaClientsTest(ServerTest):
    def setUp(self):
        super().setUp()
        self.server = self.start()
        self.server.wait_for("ready")
        self.bootstrap = self.server.bootstrap

    def create_topic(self, name, partitions, config=None):
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        fs = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
        fs[name].result(timeout=30)

    def test_kcat_quick_start(self):
        r = kcat(self.bootstrap, "-P", "-t", "demo", stdin="hello\nworld\n")
        self.assertEqual(r.returncode, 0, r.stderr + self.server.log)
        r = kcat(self.bootstrap, "-C", "-t", "demo", "-e", "-q")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines(), ["hello", "world"])
        r = kcat(self.bootstrap, "-L", "-t", "demo")
        self.assertIn('topic "demo" with 1 partitions', r.stdout)

    def test_create_and_delete_topic(self):
        self.create_topic("orders", 3)
        md = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=10)
        self.assertEqual(len(md.topics["orders"].partitions), 3)
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.delete_topics(["orders"])["orders"].result(timeout=30)
        md = admin.list_topics(timeout=10)
        self.assertNotIn("orders", md.topics)
        # Creating it twice: TOPIC_ALREADY_EXISTS.
        self.create_topic("again", 1)
        with self.assertRaises(KafkaException) as e:
            self.create_topic("again", 1)
        self.assertEqual(e.exception.args[0].code(), KafkaError.TOPIC_ALREADY_EXISTS)

    def test_ten_thousand_keyed_records_with_headers_in_order(self):
        self.create_topic("keyed", 4)
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 5})
        sent = {}
        for i in range(10000):
            key = f"key-{i % 97}".encode()
            value = f"value-{i}".encode()
            p.produce("keyed", value, key, headers=[("h1", b"one"), ("h2", str(i).encode())])
            sent.setdefault(key, []).append(value)
        self.assertEqual(p.flush(60), 0)
        got = consume_all(self.bootstrap, "keyed", 4, 10000)
        self.assertEqual(len(got), 10000)
        by_key = {}
        for m in got:
            self.assertEqual(m.headers()[0], ("h1", b"one"))
            self.assertEqual(m.headers()[1][1], m.value().split(b"-")[1])
            by_key.setdefault(m.key(), []).append(m.value())
        # Same key → same partition → the order it was produced in.
        self.assertEqual(by_key, sent)

        # Everything is still there after a restart.
        self.assertEqual(self.server.stop(), 0)
        self.server = self.start(data_dir=self.server.data_dir)
        self.server.wait_for("ready")
        got = consume_all(self.server.bootstrap, "keyed", 4, 10000)
        self.assertEqual(len(got), 10000)

    def test_librdkafka_c_client_round_trip(self):
        self.create_topic("c-client", 3)
        tool = os.environ.get("TEST_RDKAFKA_ROUNDTRIP_BIN", "build/release/tests/rdkafka_roundtrip")
        r = subprocess.run([tool, self.bootstrap, "c-client", "3", "10000"], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn("OK 10000 records", r.stdout)

    def test_every_compression_codec(self):
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            topic = f"codec-{codec}"
            p = Producer({"bootstrap.servers": self.bootstrap, "compression.type": codec,
                          "linger.ms": 20})
            for i in range(500):
                p.produce(topic, f"{codec}-{i}".encode() * 10)
            self.assertEqual(p.flush(30), 0, codec)
            got = consume_all(self.bootstrap, topic, 1, 500)
            self.assertEqual([m.value() for m in got],
                             [f"{codec}-{i}".encode() * 10 for i in range(500)], codec)
            # The batches were stored compressed with the producer's codec: librdkafka
            # compresses only for a broker whose ApiVersions lists Produce v0.
            codes = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
            self.assertEqual(stored_codecs(self.server.data_dir, f"{topic}-0"), {codes[codec]},
                             codec)

    def fetch_v4(self, sock, correlation, max_bytes, partitions, partition_max):
        """Raw Fetch v4 of `topic` partitions from offset 0; returns {partition: bytes}."""
        body = struct.pack(">iiiib", -1, 0, 1, max_bytes, 0) + struct.pack(">i", 1)
        body += wire.string("limits") + struct.pack(">i", len(partitions))
        for p in partitions:
            body += struct.pack(">iqi", p, 0, partition_max)
        sock.sendall(wire.frame(1, 4, correlation, body))
        resp = wire.read_frame(sock)
        pos = 4 + 4 + 4  # correlation, throttle, topic count
        pos += 2 + struct.unpack(">h", resp[pos:pos + 2])[0]
        (count,) = struct.unpack(">i", resp[pos:pos + 4])
        pos += 4
        out = {}
        for _ in range(count):
            p, err, _, _, aborted = struct.unpack(">ihqqi", resp[pos:pos + 26])
            self.assertEqual(err, 0)
            pos += 26 + 16 * max(aborted, 0)
            (size,) = struct.unpack(">i", resp[pos:pos + 4])
            out[p] = resp[pos + 4:pos + 4 + max(size, 0)]
            pos += 4 + max(size, 0)
        return out

    def test_fetch_stays_within_max_bytes(self):
        # KIP-74: a response holds at most the request's max_bytes, except that its first
        # batch is returned whole even when larger, so a consumer always makes progress.
        self.create_topic("limits", 2)
        batch = wire.record_batch([b"x" * 540])  # about 600 bytes
        with socket.create_connection(("127.0.0.1", self.server.kafka_port), timeout=10) as s:
            for p in (0, 1):
                for i in range(5):
                    body = (struct.pack(">hhi", -1, -1, 5000) + struct.pack(">i", 1) +
                            wire.string("limits") + struct.pack(">ii", 1, p) +
                            struct.pack(">i", len(batch)) + batch)
                    s.sendall(wire.frame(0, 3, i, body))
                    self.assertIsNotNone(wire.read_frame(s))
            got = self.fetch_v4(s, 10, 1000, [0, 1], 1 << 20)
            self.assertEqual((len(got[0]), len(got[1])), (len(batch), 0))
            got = self.fetch_v4(s, 11, 100, [0, 1], 1 << 20)  # smaller than one batch
            self.assertEqual((len(got[0]), len(got[1])), (len(batch), 0))
            got = self.fetch_v4(s, 12, 1 << 20, [0, 1], 1300)  # per-partition limit
            self.assertEqual((len(got[0]), len(got[1])), (2 * len(batch), 2 * len(batch)))
            got = self.fetch_v4(s, 13, 2 * len(batch) + 10, [0, 1], 1 << 20)
            self.assertEqual((len(got[0]), len(got[1])), (2 * len(batch), 0))

    def test_consumer_with_small_fetch_max_and_large_partition_max(self):
        # The whole fetch stays near fetch.max.bytes even when max.partition.fetch.bytes
        # is far larger; otherwise the response passes receive.message.max.bytes and
        # librdkafka refuses it over and over.
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        for i in range(40):
            p.produce("big-records", bytes([i]) * 400_000)
        self.assertEqual(p.flush(60), 0)
        got = consume_all(self.bootstrap, "big-records", 1, 40,
                          **{"fetch.max.bytes": 1 << 20,
                             "max.partition.fetch.bytes": 20 << 20,
                             "receive.message.max.bytes": (1 << 20) + 512})
        self.assertEqual([m.value()[0] for m in got], list(range(40)))

    def test_list_offsets_when_the_batch_header_understates_its_max_timestamp(self):
        # A producer that writes a max timestamp smaller than its records' (here the first
        # record's): the broker stores the real one, so time lookups see every record.
        base = 1_700_000_000_000
        records = b""
        for i in range(3):
            body = (b"\x00" + wire.varint(i * 1000) + wire.varint(i) + wire.varint(-1) +
                    wire.varint(1) + b"%d" % i + wire.varint(0))
            records += wire.varint(len(body)) + body
        after_crc = struct.pack(">hiqqqhii", 0, 2, base, base, -1, -1, -1, 3) + records
        rest = struct.pack(">ibI", -1, 2, wire.crc32c(after_crc)) + after_crc
        batch = struct.pack(">qi", 0, len(rest)) + rest
        self.create_topic("understated", 1)
        with socket.create_connection(("127.0.0.1", self.server.kafka_port), timeout=10) as s:
            s.sendall(wire.frame(0, 3, 1, wire.produce_v3("understated", batch)))
            resp = wire.read_frame(s)
        name_len = struct.unpack(">h", resp[8:10])[0]
        error = struct.unpack(">h", resp[10 + name_len + 8:10 + name_len + 10])[0]
        self.assertEqual(error, 0)
        from kafka import KafkaConsumer, TopicPartition as KTopicPartition
        kc = KafkaConsumer(bootstrap_servers=self.bootstrap, api_version=(2, 1, 0))
        self.addCleanup(kc.close)
        tp = KTopicPartition("understated", 0)
        found = kc.offsets_for_times({tp: base + 1500})[tp]
        self.assertEqual((found.offset, found.timestamp), (2, base + 2000))
        found = kc.offsets_for_times({tp: base + 1})[tp]
        self.assertEqual((found.offset, found.timestamp), (1, base + 1000))
        self.assertIsNone(kc.offsets_for_times({tp: base + 2001})[tp])

    def test_list_offsets_on_a_log_append_time_topic(self):
        self.create_topic("appended", 1, {"message.timestamp.type": "LogAppendTime"})
        p = Producer({"bootstrap.servers": self.bootstrap, "compression.type": "gzip"})
        before = int(time.time() * 1000)
        for i in range(5):
            p.produce("appended", b"v%d" % i, timestamp=1_000_000)  # replaced by the broker
        self.assertEqual(p.flush(30), 0)
        from kafka import KafkaConsumer, TopicPartition as KTopicPartition
        kc = KafkaConsumer(bootstrap_servers=self.bootstrap, api_version=(2, 1, 0))
        self.addCleanup(kc.close)
        tp = KTopicPartition("appended", 0)
        found = kc.offsets_for_times({tp: before - 1000})[tp]
        self.assertEqual(found.offset, 0)
        self.assertGreaterEqual(found.timestamp, before - 1000)
        self.assertLess(abs(found.timestamp - before), 60_000)

    def test_list_offsets_by_timestamp(self):
        p = Producer({"bootstrap.servers": self.bootstrap})
        base = 1_700_000_000_000
        for i in range(10):
            p.produce("times", f"v{i}".encode(), timestamp=base + i * 1000)
            p.flush(10)
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "x"})
        found = c.offsets_for_times([TopicPartition("times", 0, base + 3500)], timeout=10)
        self.assertEqual(found[0].offset, 4)
        none = c.offsets_for_times([TopicPartition("times", 0, base + 99_000)], timeout=10)
        self.assertEqual(none[0].offset, -1)
        lo, hi = c.get_watermark_offsets(TopicPartition("times", 0), timeout=10)
        self.assertEqual((lo, hi), (0, 10))
        c.close()

    def test_timestamps_outside_the_allowed_difference_are_refused(self):
        self.create_topic("clocked", 1, {"message.timestamp.difference.max.ms": "60000"})
        results = []
        p = Producer({"bootstrap.servers": self.bootstrap})
        now = int(time.time() * 1000)
        for ts in (now, now - 3_600_000, now + 3_600_000):
            p.produce("clocked", b"v", timestamp=ts, on_delivery=lambda e, m: results.append(e))
            p.flush(10)
        self.assertIsNone(results[0])
        self.assertEqual(results[1].code(), KafkaError.INVALID_TIMESTAMP)
        self.assertEqual(results[2].code(), KafkaError.INVALID_TIMESTAMP)

    def test_large_record_round_trips_and_too_large_is_refused(self):
        big = bytes(range(256)) * (900 * 4)  # 900 KiB
        p = Producer({"bootstrap.servers": self.bootstrap, "message.max.bytes": 4_000_000})
        p.produce("large", big)
        self.assertEqual(p.flush(30), 0)
        got = consume_all(self.bootstrap, "large", 1, 1, **{"fetch.max.bytes": 4_000_000})
        self.assertEqual(got[0].value(), big)

        errors = []
        p.produce("large", b"x" * (2 << 20), on_delivery=lambda err, msg: errors.append(err))
        p.flush(30)
        self.assertEqual(errors[0].code(), KafkaError.MSG_SIZE_TOO_LARGE)

    def test_kafka_python_every_codec(self):
        from kafka import KafkaConsumer, KafkaProducer
        for codec in ("gzip", "snappy", "lz4", "zstd"):
            topic = f"kp-{codec}"
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                     compression_type=codec, linger_ms=10)
            for i in range(300):
                producer.send(topic, value=f"{codec}-{i}".encode() * 5)
            producer.flush(30)
            producer.close()
            consumer = KafkaConsumer(topic, bootstrap_servers=self.bootstrap,
                                     auto_offset_reset="earliest", enable_auto_commit=False,
                                     consumer_timeout_ms=10000, group_id=None)
            values = []
            for m in consumer:
                values.append(m.value)
                if len(values) == 300:
                    break
            consumer.close()
            self.assertEqual(values, [f"{codec}-{i}".encode() * 5 for i in range(300)], codec)

    def test_kafka_python_produces_and_consumes(self):
        from kafka import KafkaConsumer, KafkaProducer
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                 compression_type="gzip")
        for i in range(200):
            producer.send("kp", key=b"k", value=f"v{i}".encode(), headers=[("h", b"x")])
        producer.flush(30)
        producer.close()
        consumer = KafkaConsumer("kp", bootstrap_servers=self.bootstrap,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=5000, group_id=None)
        values = [m.value for m in consumer]
        consumer.close()
        self.assertEqual(values, [f"v{i}".encode() for i in range(200)])


if __name__ == "__main__":
    unittest.main()
