"""The topic table and the object limits, seen from outside the real binary: a creation
over a limit is refused at once with the error a Kafka client understands and nothing on
disk; the table survives SIGKILL; a create or delete cut short is rolled back or finished
at the next start; partition directories of no topic are moved aside, never adopted."""

import glob
import os
import resource
import signal
import socket
import struct
import time
import unittest

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

import test_malformed as wire
from harness import ServerTest

POLICY_VIOLATION = 44
LEADER_NOT_AVAILABLE = 5
THROTTLING_QUOTA_EXCEEDED = 89


# ---- Raw CreateTopics v6 (flexible) and Metadata v4, to see the exact error codes ------

def uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def compact_string(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        out = self.data[self.pos:self.pos + n]
        assert len(out) == n, "response ends early"
        self.pos += n
        return out

    def int8(self):
        return struct.unpack(">b", self.take(1))[0]

    def int16(self):
        return struct.unpack(">h", self.take(2))[0]

    def int32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        n, shift = 0, 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def string(self):
        n = self.int16()
        return None if n < 0 else self.take(n).decode()

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def exchange(port, api_key, version, body, flexible):
    header = struct.pack(">hhi", api_key, version, 7) + wire.string("topic-table-test")
    if flexible:
        header += b"\x00"
    payload = header + body
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(struct.pack(">i", len(payload)) + payload)
        response = wire.read_frame(s, timeout=60)
    assert response is not None, "the broker closed the connection"
    r = Reader(response)
    assert r.int32() == 7
    if flexible:
        r.tagged_fields()
    return r


def create_topics_v6(port, topics, validate_only=False):
    """[(name, error code, error message)] for [(name, partitions)]."""
    body = uvarint(len(topics) + 1)
    for name, partitions in topics:
        body += compact_string(name) + struct.pack(">ih", partitions, 1)
        body += uvarint(1) + uvarint(1) + uvarint(0)  # no assignments, no configs
    body += struct.pack(">ib", 30000, 1 if validate_only else 0) + uvarint(0)
    r = exchange(port, 19, 6, body, flexible=True)
    r.int32()  # throttle_time_ms
    out = []
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        code = r.int16()
        message = r.compact_string()
        r.int32()
        r.int16()
        configs = r.uvarint()
        for _ in range(max(0, configs - 1)):
            r.compact_string()
            r.compact_string()
            r.take(3)
            r.tagged_fields()
        r.tagged_fields()
        out.append((name, code, message))
    return out


def metadata_v4(port, names):
    """{name: (error code, partitions)}, asking to create missing topics."""
    body = struct.pack(">i", len(names)) + b"".join(wire.string(n) for n in names) + b"\x01"
    r = exchange(port, 3, 4, body, flexible=False)
    r.int32()
    for _ in range(r.int32()):
        r.int32()
        r.string()
        r.int32()
        r.string()
    r.string()
    r.int32()
    out = {}
    for _ in range(r.int32()):
        code = r.int16()
        name = r.string()
        r.int8()
        partitions = r.int32()
        for _ in range(partitions):
            r.int16()
            r.int32()
            r.int32()
            r.take(4 * r.int32())
            r.take(4 * r.int32())
        out[name] = (code, partitions)
    return out


# ---- The table file, as a crash leaves it --------------------------------------------

def table_line(body):
    return "%08x %s\n" % (wire.crc32c(body.encode()), body)


def partition_dirs(data, topic):
    return sorted(d for d in glob.glob(os.path.join(data, f"{topic}-*"))
                  if os.path.basename(d)[len(topic) + 1:].isdigit())


class TopicTableTest(ServerTest):
    def admin(self, server):
        """The server's admin client (kept: a client destroyed drops its requests)."""
        if not hasattr(server, "admin_client"):
            server.admin_client = AdminClient({"bootstrap.servers": server.bootstrap})
        return server.admin_client

    def create(self, server, *topics):
        fs = self.admin(server).create_topics(list(topics), operation_timeout=60,
                                              request_timeout=60)
        for f in fs.values():
            f.result(60)

    def create_error(self, server, topic):
        """The KafkaError a create of `topic` fails with."""
        f = self.admin(server).create_topics([topic], request_timeout=60)[topic.topic]
        with self.assertRaises(Exception) as caught:
            f.result(60)
        return caught.exception.args[0]

    def round_trip(self, server, topic, count=20):
        p = Producer({"bootstrap.servers": server.bootstrap, "acks": "all",
                      "message.timeout.ms": 30000})
        for i in range(count):
            p.produce(topic, b"v%d" % i, partition=0)
        self.assertEqual(p.flush(40), 0, "records were not acknowledged")
        c = Consumer({"bootstrap.servers": server.bootstrap, "group.id": "check",
                      "enable.partition.eof": True})
        c.assign([TopicPartition(topic, 0, 0)])
        values = []
        while True:
            m = c.poll(30)
            self.assertIsNotNone(m, "the partition was not read to its end")
            if m.error():
                self.assertEqual(m.error().code(), KafkaError._PARTITION_EOF, m.error())
                break
            values.append(m.value())
        c.close()
        return values

    def test_twenty_thousand_partitions_are_refused_with_nothing_on_disk(self):
        s = self.start()
        s.wait_for("ready")
        data = s.data_dir
        self.create(s, NewTopic("orders", 2, 1))
        with open(os.path.join(data, "topics")) as f:
            table = f.read()

        err = self.create_error(s, NewTopic("huge", 20000, 1))
        self.assertEqual(err.code(), KafkaError.POLICY_VIOLATION, err)
        self.assertIn("limits.max_partitions", err.str())
        self.assertIn("10000", err.str())
        # One partition more than the limit leaves, added to an existing topic.
        err = self.admin(s).create_partitions([NewPartitions("orders", 9995)])["orders"]
        with self.assertRaises(Exception) as caught:
            err.result(60)
        self.assertEqual(caught.exception.args[0].code(), KafkaError.POLICY_VIOLATION)
        self.assertIn("limits.max_partitions", caught.exception.args[0].str())

        # Nothing was written: no directory, no line in the table.
        self.assertEqual(partition_dirs(data, "huge"), [])
        self.assertEqual(len(partition_dirs(data, "orders")), 2)
        with open(os.path.join(data, "topics")) as f:
            self.assertEqual(f.read(), table)
        self.assertIn("refused: Cannot create topic 'huge' with 20000 partitions", s.log)
        status, metrics = s.http_get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn('riptide_limit_refusals_total{limit="limits.max_partitions"} 2', metrics)

        # The broker serves a normal client, and restarts cleanly with the same table.
        self.assertEqual(self.round_trip(s, "orders"), [b"v%d" % i for i in range(20)])
        self.assertEqual(s.stop(), 0)
        s = self.start(data_dir=data)
        s.wait_for("ready")
        topics = self.admin(s).list_topics(timeout=10).topics
        self.assertNotIn("huge", topics)
        self.assertEqual(len(topics["orders"].partitions), 2)
        self.assertEqual(len(self.round_trip(s, "orders")), 40)
        self.assertEqual(s.stop(), 0)

    def test_topic_limits_and_the_per_request_bound(self):
        # __consumer_offsets (1 partition here) counts as a topic.
        s = self.start("--limits-max-topics", "6", "--limits-max-partitions", "12",
                       "--limits-max-topics-per-request", "3", "--groups-offsets-partitions",
                       "1")
        s.wait_for("ready")
        port = s.kafka_port
        # Three per request; the others are to be sent again (v6+ can say so).
        answers = create_topics_v6(port, [(f"t{i}", 1) for i in range(5)])
        self.assertEqual([a[1] for a in answers], [0, 0, 0] + [THROTTLING_QUOTA_EXCEEDED] * 2,
                         answers)
        self.assertIn("limits.max_topics_per_request", answers[3][2])
        self.assertEqual(partition_dirs(s.data_dir, "t3"), [])
        # Sent again they are created, up to limits.max_topics.
        answers = create_topics_v6(port, [("t3", 1), ("t4", 1), ("t5", 1)])
        self.assertEqual([a[1] for a in answers], [0, 0, POLICY_VIOLATION], answers)
        self.assertIn("limits.max_topics", answers[2][2])
        # Automatic creation is bounded the same way.
        md = metadata_v4(port, ["auto-1"])
        self.assertEqual(md["auto-1"][0], POLICY_VIOLATION)
        for f in self.admin(s).delete_topics(["t0", "t1"]).values():
            f.result(60)
        md = metadata_v4(port, ["auto-1", "auto-2"])
        self.assertEqual(md["auto-1"], (0, 1), md)
        self.assertEqual(md["auto-2"], (0, 1), md)
        # Partitions: 5 topics of 1 partition each after this delete, limit 12.
        self.admin(s).delete_topics(["auto-2"])["auto-2"].result(60)
        answer = create_topics_v6(port, [("t1", 8)])[0]
        self.assertEqual(answer[1], POLICY_VIOLATION, answer)
        self.assertIn("limits.max_partitions", answer[2])
        self.assertEqual(create_topics_v6(port, [("t1", 7)])[0][1], 0)
        self.assertEqual(partition_dirs(s.data_dir, "t1"),
                         sorted(os.path.join(s.data_dir, f"t1-{p}") for p in range(7)))
        self.assertIn("refused: Topic 't3' was not created: one CreateTopics request may create "
                      "at most 3 topics (limits.max_topics_per_request)", s.log)
        self.assertEqual(s.stop(), 0)

    def test_metadata_auto_creation_is_bounded_per_request(self):
        s = self.start("--limits-max-topics-per-request", "2")
        s.wait_for("ready")
        md = metadata_v4(s.kafka_port, ["a1", "a2", "a3", "a4"])
        self.assertEqual({n: md[n][0] for n in md},
                         {"a1": 0, "a2": 0, "a3": LEADER_NOT_AVAILABLE, "a4": LEADER_NOT_AVAILABLE})
        # Asked again, as clients do after LEADER_NOT_AVAILABLE, the rest are created.
        md = metadata_v4(s.kafka_port, ["a1", "a2", "a3", "a4"])
        self.assertEqual({n: md[n][0] for n in md}, {"a1": 0, "a2": 0, "a3": 0, "a4": 0})
        self.assertEqual(s.stop(), 0)

    def test_the_table_survives_sigkill(self):
        s = self.start()
        s.wait_for("ready")
        data = s.data_dir
        self.create(s, NewTopic("a", 1, 1), NewTopic("b", 2, 1),
                    NewTopic("c", 1, 1, config={"cleanup.policy": "compact, delete"}))
        admin = self.admin(s)
        admin.delete_topics(["b"])["b"].result(60)
        admin.create_partitions([NewPartitions("a", 3)])["a"].result(60)
        for f in admin.alter_configs(
                [ConfigResource("topic", "c", set_config={"retention.ms": "86400000"})]).values():
            f.result(60)
        self.round_trip(s, "a", 5)
        s.stop(signal.SIGKILL)

        with open(os.path.join(data, "topics")) as f:
            lines = f.read().splitlines()
        # Every change was appended, none rewrote the file.
        self.assertEqual(lines[0], "riptide-topics v2")
        self.assertGreaterEqual(len(lines), 12, lines)

        s = self.start(data_dir=data)
        s.wait_for("ready")
        md = self.admin(s).list_topics(timeout=10).topics
        self.assertEqual(sorted(t for t in md if not t.startswith("__")), ["a", "c"])
        self.assertEqual(len(md["a"].partitions), 3)
        self.assertEqual(len(md["c"].partitions), 1)
        cfg = self.admin(s).describe_configs([ConfigResource("topic", "c")])
        cfg = list(cfg.values())[0].result(30)
        self.assertEqual(cfg["retention.ms"].value, "86400000")
        self.assertEqual(partition_dirs(data, "b"), [])
        self.assertEqual(self.round_trip(s, "a", 5), [b"v%d" % i for i in range(5)] * 2)
        self.assertNotIn("rolled back", s.log)
        self.assertEqual(s.stop(), 0)

    def test_a_create_cut_short_by_sigkill_is_rolled_back_at_start(self):
        s = self.start()
        s.wait_for("ready")
        data = s.data_dir
        self.create(s, NewTopic("kept", 1, 1))
        self.round_trip(s, "kept", 3)
        admin = self.admin(s)
        admin.create_topics([NewTopic("big", 5000, 1)], request_timeout=120)
        deadline = time.monotonic() + 60
        while len(partition_dirs(data, "big")) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        s.stop(signal.SIGKILL)
        made = len(partition_dirs(data, "big"))
        self.assertGreaterEqual(made, 50)
        self.assertLess(made, 5000, "the create finished before the broker was killed")

        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertIn("rolled back the creation of topic big (5000 partitions), which the "
                      "broker's stop interrupted", s.log)
        self.assertEqual(partition_dirs(data, "big"), [])
        self.assertNotIn("big", self.admin(s).list_topics(timeout=10).topics)
        self.assertEqual(len(self.round_trip(s, "kept", 3)), 6)
        # The name is free again.
        self.create(s, NewTopic("big", 2, 1))
        self.assertEqual(len(partition_dirs(data, "big")), 2)
        self.assertEqual(s.stop(), 0)

    def test_a_create_that_runs_out_of_descriptors_is_rolled_back(self):
        # The broker gets 300 descriptors (hard limit too: it raises its soft limit to the
        # hard one at start); a topic of 400 partitions needs one each, more than that.
        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))

        s = self.start("--groups-offsets-partitions", "1", preexec_fn=limit)
        s.wait_for("ready")
        data = s.data_dir
        self.create(s, NewTopic("kept", 1, 1))
        # A sanitizer build checks each dynamic type the first time it meets it and needs a
        # descriptor for that: take the rollback's path once (a delete) while there are some.
        self.create(s, NewTopic("scratch", 1, 1))
        self.admin(s).delete_topics(["scratch"])["scratch"].result(60)
        err = self.create_error(s, NewTopic("big", 400, 1))
        self.assertEqual(err.code(), KafkaError.KAFKA_STORAGE_ERROR, err)
        self.assertIn("Too many open files", err.str())
        self.assertIn("cannot create topic big (400 partitions): Too many open files; rolling "
                      "back", s.log)
        self.assertEqual(partition_dirs(data, "big"), [])
        self.assertNotIn("big", self.admin(s).list_topics(timeout=10).topics)
        # The descriptors are back: clients connect, and a smaller topic can be made.
        self.assertEqual(len(self.round_trip(s, "kept", 3)), 3)
        self.create(s, NewTopic("big", 10, 1))
        self.assertEqual(s.stop(), 0)
        with open(os.path.join(data, "topics")) as f:
            lines = f.read().splitlines()
        self.assertTrue(any(line.endswith(" remove big") for line in lines), lines)
        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertNotIn("rolled back", s.log)
        self.assertEqual(len(self.admin(s).list_topics(timeout=10).topics["big"].partitions), 10)
        self.assertEqual(s.stop(), 0)

    def test_intents_left_by_a_crash_are_rolled_back_or_finished(self):
        # The table as a crash leaves it: a topic being created, one gaining partitions
        # and one being deleted, each with some of its directories made or removed.
        s = self.start()
        s.wait_for("ready")
        data = s.data_dir
        self.create(s, NewTopic("growing", 2, 1), NewTopic("doomed", 3, 1))
        self.round_trip(s, "growing", 4)
        self.assertEqual(s.stop(), 0)
        ids = {}
        with open(os.path.join(data, "topics")) as f:
            for fields in (line.split(" ") for line in f.read().splitlines()[1:]):
                if fields[1] == "topic":
                    ids[fields[2]] = fields[4]
        with open(os.path.join(data, "topics"), "a") as f:
            f.write(table_line(f"topic fresh 4 {'ab' * 16} - creating"))
            f.write(table_line(f"topic growing 5 {ids['growing']} - adding-from-2"))
            f.write(table_line(f"topic doomed 3 {ids['doomed']} - deleting"))
        for d in ("fresh-0", "fresh-1", "growing-2", "growing-3"):
            os.mkdir(os.path.join(data, d))

        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertIn("rolled back the creation of topic fresh (4 partitions)", s.log)
        self.assertIn("topic growing: rolled back adding partitions 2 to 4", s.log)
        self.assertIn("finished deleting topic doomed", s.log)
        md = self.admin(s).list_topics(timeout=10).topics
        self.assertNotIn("fresh", md)
        self.assertNotIn("doomed", md)
        self.assertEqual(len(md["growing"].partitions), 2)
        for topic in ("fresh", "doomed"):
            self.assertEqual(partition_dirs(data, topic), [])
        self.assertEqual(len(partition_dirs(data, "growing")), 2)
        self.assertEqual(len(self.round_trip(s, "growing", 4)), 8)
        self.assertEqual(s.stop(), 0)
        # Resolved for good: the next start has nothing to do.
        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertNotIn("rolled back", s.log)
        self.assertNotIn("finished deleting", s.log)
        self.assertEqual(s.stop(), 0)

    def test_a_leftover_partition_directory_is_moved_aside_not_adopted(self):
        s = self.start("--groups-offsets-partitions", "1")
        s.wait_for("ready")
        data = s.data_dir
        self.create(s, NewTopic("kept", 1, 1))
        self.round_trip(s, "kept", 3)
        self.assertEqual(s.stop(), 0)
        # What a delete that failed half-way under an earlier version left: a partition
        # directory of no topic in the table, with a high partition number; and a
        # directory beyond a known topic's partitions.
        ghost = os.path.join(data, "ghost-18939")
        os.mkdir(ghost)
        with open(os.path.join(ghost, "00000000000000000000.log"), "wb") as f:
            f.write(b"")
        os.mkdir(os.path.join(data, "kept-4"))

        s = self.start("--groups-offsets-partitions", "1", data_dir=data)
        s.wait_for("ready")
        orphaned = os.path.join(data, "orphaned")
        self.assertIn(f"1 partition directory of topic ghost (the topic table has no such topic) "
                      f"moved to {orphaned}, not adopted", s.log)
        self.assertIn("1 partition directory of topic kept (the topic has 1 partition(s)) "
                      f"moved to {orphaned}", s.log)
        md = self.admin(s).list_topics(timeout=10).topics
        self.assertNotIn("ghost", md)
        self.assertEqual(len(md["kept"].partitions), 1)
        self.assertTrue(os.path.isfile(os.path.join(orphaned, "ghost-18939",
                                                    "00000000000000000000.log")))
        self.assertTrue(os.path.isdir(os.path.join(orphaned, "kept-4")))
        self.assertFalse(os.path.exists(ghost))
        self.assertIn("opened 2 partition(s)", s.log)  # kept-0 and __consumer_offsets-0
        # A directory in the way of a new partition is moved aside too, not adopted.
        os.mkdir(os.path.join(data, "newer-0"))
        with open(os.path.join(data, "newer-0", "marker"), "w") as f:
            f.write("old")
        self.create(s, NewTopic("newer", 1, 1))
        self.assertFalse(os.path.exists(os.path.join(data, "newer-0", "marker")))
        self.assertTrue(os.path.exists(os.path.join(orphaned, "newer-0", "marker")))
        self.assertEqual(s.stop(), 0)

    def test_a_version_one_table_loads_and_is_rewritten_at_the_first_change(self):
        s = self.start()
        s.wait_for("ready")
        data = s.data_dir
        self.create(s, NewTopic("old", 1, 1, config={"retention.ms": "3600000"}))
        self.round_trip(s, "old", 2)
        self.assertEqual(s.stop(), 0)
        ids = {}
        with open(os.path.join(data, "topics")) as f:
            for fields in (line.split(" ") for line in f.read().splitlines()[1:]):
                if fields[1] == "topic":
                    ids[fields[2]] = (fields[3], fields[4], fields[5])
        with open(os.path.join(data, "topics"), "w") as f:
            f.write("riptide-topics v1\n")
            for name, (parts, topic_id, cfg) in sorted(ids.items()):
                f.write(f"{name} {parts} {topic_id} {cfg}\n")

        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertIn("topic table of an earlier version", s.log)
        self.assertEqual(len(self.round_trip(s, "old", 2)), 4)
        self.create(s, NewTopic("new", 1, 1))
        with open(os.path.join(data, "topics")) as f:
            text = f.read()
        self.assertTrue(text.startswith("riptide-topics v2\n"), text)
        self.assertIn(f" topic old 1 {ids['old'][1]} retention.ms=3600000 live\n", text)
        self.assertEqual(s.stop(), 0)
        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertNotIn("earlier version", s.log)
        md = self.admin(s).list_topics(timeout=10).topics
        self.assertIn("old", md)
        self.assertIn("new", md)
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
