"""Log compaction (cleanup.policy=compact) against the real broker: a topic of 100 keys
written 10,000 times each compacts to its latest values, readable by kcat and
confluent-kafka at their original offsets; tombstones go after delete.retention.ms; a
restart reads the same; and the offsets topic, compacted by the same cleaner, keeps the
latest commits and deletions across a restart."""

import glob
import os
import socket
import subprocess
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from harness import ServerTest

KEYS = 100
VERSIONS = 10_000
DELETED = 10  # key-000 .. key-009 get tombstones


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class CompactionTest(ServerTest):
    def start_broker(self, port, *extra):
        s = self.start("--storage-housekeeping-interval", "200ms",
                       "--storage-cleaner-io-bytes-per-second", "0", *extra,
                       data_dir=os.path.join(self.tmp, "data"), listen=f"127.0.0.1:{port}")
        s.wait_for("ready")
        return s

    def partition_size(self, server, topic, partition=0):
        _, body = server.http_get("/metrics")
        prefix = f'riptide_partition_size_bytes{{topic="{topic}",partition="{partition}"}}'
        for line in body.splitlines():
            if line.startswith(prefix):
                return int(float(line.split()[-1]))
        raise AssertionError(f"no size for {topic}-{partition}:\n{body}")

    def read_confluent(self, server, topic):
        """(offset, key, value) of every record of partition 0, via confluent-kafka."""
        c = Consumer({"bootstrap.servers": server.bootstrap, "group.id": "reader",
                      "enable.auto.commit": False, "enable.partition.eof": True})
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        rows = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == m.error()._PARTITION_EOF:
                    break
                raise AssertionError(m.error())
            rows.append((m.offset(), m.key().decode(),
                         None if m.value() is None else m.value().decode()))
        c.close()
        return rows

    def read_kcat(self, server, topic):
        """(offset, key, value) of every record of partition 0, via kcat (-Z: NULL values)."""
        r = subprocess.run(["kcat", "-b", server.bootstrap, "-C", "-t", topic, "-p", "0",
                            "-o", "beginning", "-e", "-q", "-Z", "-f", "%o|%k|%s\\n"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = []
        for line in r.stdout.splitlines():
            o, k, v = line.split("|")
            rows.append((int(o), k, None if v == "NULL" else v))
        return rows

    def test_a_compacted_topic_keeps_the_latest_value_of_each_key(self):
        port = free_port()
        s = self.start_broker(port)
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic("compacted", 1, 1, config={
            "cleanup.policy": "compact", "segment.bytes": "1048576", "segment.ms": "2000",
            "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "8000"})])[
                "compacted"].result(30)

        p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all", "linger.ms": 20,
                      "compression.type": "lz4", "batch.num.messages": 10000,
                      "queue.buffering.max.messages": 2_000_000})
        for v in range(VERSIONS):
            value = f"v{v}".encode()
            for k in range(KEYS):
                p.produce("compacted", key=f"key-{k:03d}".encode(), value=value, partition=0)
            p.poll(0)
        for k in range(DELETED):
            p.produce("compacted", key=f"key-{k:03d}".encode(), value=None, partition=0)
        self.assertEqual(p.flush(60), 0)
        written = self.partition_size(s, "compacted")
        # Past segment.ms the next append rolls the active segment: everything before it
        # is sealed and may be cleaned.
        time.sleep(2.2)
        p.produce("compacted", key=b"marker", value=b"last", partition=0)
        self.assertEqual(p.flush(30), 0)

        end = KEYS * VERSIONS + DELETED  # the marker's offset
        live = [((VERSIONS - 1) * KEYS + k, f"key-{k:03d}", f"v{VERSIONS - 1}")
                for k in range(DELETED, KEYS)]
        tombstones = [(KEYS * VERSIONS + k, f"key-{k:03d}", None) for k in range(DELETED)]
        marker = [(end, "marker", "last")]
        want = sorted(live + tombstones + marker)

        wait_until(lambda: self.partition_size(s, "compacted") < written // 20, 60,
                   "the topic to be compacted")
        # Tombstones are kept for delete.retention.ms after their first cleaning.
        self.assertEqual(self.read_confluent(s, "compacted"), want)
        self.assertEqual(self.read_kcat(s, "compacted"), want)

        # ... then removed; every key's latest value stays, at its original offset.
        want = sorted(live + marker)
        wait_until(lambda: self.read_confluent(s, "compacted") == want, 30,
                   "tombstones to be removed")
        self.assertEqual(self.read_kcat(s, "compacted"), want)
        s.wait_for("tombstone(s)), ")
        self.assertIn("riptide_cleaner_runs_total", s.http_get("/metrics")[1])

        part = os.path.join(self.tmp, "data", "compacted-0")
        self.assertLessEqual(len(glob.glob(os.path.join(part, "*.log"))), 3)
        self.assertEqual(glob.glob(os.path.join(part, "*.cleaned")) +
                         glob.glob(os.path.join(part, "*.swap")), [])

        self.assertEqual(s.stop(), 0)
        s = self.start_broker(port)
        self.assertEqual(self.read_confluent(s, "compacted"), want)
        self.assertEqual(self.read_kcat(s, "compacted"), want)
        # A record without a key is refused by a compacted topic.
        errors = []
        p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all", "retries": 0})
        p.produce("compacted", value=b"no key", partition=0,
                  on_delivery=lambda err, msg: errors.append(err))
        p.flush(30)
        self.assertEqual(len(errors), 1)
        self.assertIsNotNone(errors[0])
        self.assertEqual(errors[0].name(), "INVALID_RECORD")

    def test_the_offsets_topic_is_compacted_and_keeps_commits_and_deletions(self):
        port = free_port()
        s = self.start_broker(port, "--groups-offsets-partitions", "1")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic("ticks", 2, 1)])["ticks"].result(30)
        # AlterConfigs replaces a topic's configs: keep the offsets topic compacted.
        res = ConfigResource("topic", "__consumer_offsets", set_config={
            "cleanup.policy": "compact", "segment.bytes": "16384",
            "min.cleanable.dirty.ratio": "0.01", "retention.ms": "-1", "retention.bytes": "-1"})
        for f in admin.alter_configs([res]).values():
            f.result(30)

        gone = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "gone",
                         "enable.auto.commit": False})
        gone.commit(offsets=[TopicPartition("ticks", 0, 42)], asynchronous=False)
        gone.close()
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "busy",
                      "enable.auto.commit": False})
        for i in range(1500):
            c.commit(offsets=[TopicPartition("ticks", i % 2, i)], asynchronous=False)
        c.close()
        from kafka.admin import KafkaAdminClient
        ka = KafkaAdminClient(bootstrap_servers=s.bootstrap)
        self.assertEqual(ka.delete_consumer_groups(["gone"])[0][1].__name__, "NoError")
        ka.close()

        # 1500 commits take well over 150 KB; compaction keeps a few KB.
        wait_until(lambda: self.partition_size(s, "__consumer_offsets") < 16 * 1024, 30,
                   "the offsets topic to be compacted")

        def committed(group):
            cc = Consumer({"bootstrap.servers": s.bootstrap, "group.id": group})
            got = {tp.partition: tp.offset for tp in cc.committed(
                [TopicPartition("ticks", 0), TopicPartition("ticks", 1)], 10)}
            cc.close()
            return got

        self.assertEqual(committed("busy"), {0: 1498, 1: 1499})
        self.assertEqual(s.stop(), 0)
        s = self.start_broker(port)
        self.assertEqual(committed("busy"), {0: 1498, 1: 1499})
        # The deletion's tombstone is still there (delete.retention.ms): the replay at
        # start does not bring the group's old commit back.
        self.assertLess(committed("gone")[0], 0)
