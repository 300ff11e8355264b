"""The shards' write-ahead journal, end to end: records acknowledged under the fsync
policy survive a kill -9 followed by the loss of every byte the segments had not
fsynced (simulated by emptying the segment files, as a power failure could), because
the next start re-appends them from the journal; a clean shutdown leaves no journal; a
deleted topic's journaled records never reappear in a topic created with its name."""

import glob
import os
import signal

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import ServerTest

PARTITIONS = 6


class JournalTest(ServerTest):
    def broker(self, data):
        # Files larger than the test writes: no journal file is reused, so no segment
        # is fsynced before the kill and emptying them loses every record they hold.
        s = self.start("--storage-journal-file-bytes", "64MiB", data_dir=data)
        s.wait_for("ready")
        return s

    def create(self, server, topic, partitions=PARTITIONS):
        admin = AdminClient({"bootstrap.servers": server.bootstrap})
        for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
            f.result(timeout=30)

    def produce(self, server, topic, count, tag):
        acked = {}
        errors = []

        def report(err, msg):
            if err is not None:
                errors.append(err)
            else:
                acked[(msg.partition(), msg.offset())] = msg.value()

        p = Producer({"bootstrap.servers": server.bootstrap, "acks": "all",
                      "linger.ms": 2, "enable.idempotence": False})
        for i in range(count):
            p.produce(topic, value=f"{tag}-{i:06d}-".encode() + b"x" * 300, key=str(i).encode(),
                      on_delivery=report)
            if i % 1000 == 0:
                p.poll(0)
        self.assertEqual(p.flush(60), 0)
        self.assertEqual(errors, [])
        self.assertEqual(len(acked), count)
        return acked

    def read_all(self, server, topic, partitions=PARTITIONS):
        c = Consumer({"bootstrap.servers": server.bootstrap, "group.id": "journal-check",
                      "enable.auto.commit": False, "enable.partition.eof": True})
        c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        got, eof = {}, set()
        while len(eof) < partitions:
            m = c.poll(10)
            self.assertIsNotNone(m, f"consumer stalled with {len(got)} records")
            if m.error():
                self.assertEqual(m.error().code(), -191, m.error())  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            got[(m.partition(), m.offset())] = m.value()
        c.close()
        return got

    def empty_segments(self, data, topic):
        emptied = 0
        for path in glob.glob(os.path.join(data, f"{topic}-*", "*.log")):
            if os.path.getsize(path):
                emptied += 1
            os.truncate(path, 0)
        return emptied

    def test_acknowledged_records_come_back_from_the_journal(self):
        data = os.path.join(self.tmp, "data")
        s = self.broker(data)
        self.create(s, "orders")
        acked = self.produce(s, "orders", 12_000, "a")
        s.kill()
        self.assertEqual(self.empty_segments(data, "orders"), PARTITIONS)

        s = self.broker(data)
        self.assertIn("from the journal", s.log)
        got = self.read_all(s, "orders")
        self.assertEqual(len(got), len(acked))
        self.assertTrue(got == acked, "records differ after replay")
        # Writing goes on after the replay, and a second crash loses nothing either.
        more = self.produce(s, "orders", 100, "b")
        s.kill()
        s = self.broker(data)
        acked.update(more)
        self.assertTrue(self.read_all(s, "orders") == acked)

    def test_a_clean_shutdown_leaves_no_journal(self):
        data = os.path.join(self.tmp, "data")
        s = self.broker(data)
        self.create(s, "events", 2)
        self.produce(s, "events", 500, "c")
        self.assertTrue(glob.glob(os.path.join(data, "journal", "*.wal")))
        self.assertEqual(s.stop(signal.SIGTERM), 0)
        self.assertEqual(glob.glob(os.path.join(data, "journal", "*.wal")), [])
        s = self.broker(data)
        self.assertNotIn("from the journal", s.log)
        self.assertEqual(len(self.read_all(s, "events", 2)), 500)

    def test_a_deleted_topic_is_not_replayed_into_its_successor(self):
        data = os.path.join(self.tmp, "data")
        s = self.broker(data)
        self.create(s, "reused", 2)
        self.produce(s, "reused", 2_000, "old")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        for f in admin.delete_topics(["reused"]).values():
            f.result(timeout=30)
        self.create(s, "reused", 2)
        acked = self.produce(s, "reused", 10, "new")
        s.kill()
        self.empty_segments(data, "reused")

        s = self.broker(data)
        got = self.read_all(s, "reused", 2)
        self.assertEqual(got, acked)
        self.assertTrue(all(v.startswith(b"new-") for v in got.values()))


if __name__ == "__main__":
    import unittest
    unittest.main()
