"""Consumer groups end to end: librdkafka C consumers (separate processes),
confluent-kafka and kafka-python sharing topics in groups, committed offsets surviving
a kill -9 of the broker, members removed when they stop heartbeating, and bad group
requests answered with Kafka error codes."""

import os
import signal
import socket
import struct
import subprocess
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import ServerTest
from test_malformed import frame, read_frame, string

GROUP_BIN = os.environ.get("TEST_RDKAFKA_GROUP_BIN", "build/release/tests/rdkafka_group")


class GroupMember:
    """One rdkafka_group process; its ASSIGN and MSG lines are collected as they come."""

    def __init__(self, bootstrap, topic, group, session_ms=10000):
        self.proc = subprocess.Popen([GROUP_BIN, bootstrap, topic, group, str(session_ms)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lock = threading.Lock()
        self.messages = []      # (partition, offset, value)
        self.assignments = []   # list of partition lists, in order
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            with self.lock:
                if parts and parts[0] == "MSG":
                    self.messages.append((int(parts[1]), int(parts[2]), parts[3]))
                elif parts and parts[0] == "ASSIGN":
                    self.assignments.append(
                        [int(p) for p in parts[1].split(",")] if len(parts) > 1 else [])

    @property
    def assignment(self):
        with self.lock:
            return self.assignments[-1] if self.assignments else None

    def values(self):
        with self.lock:
            return [m[2] for m in self.messages]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GroupFixture(ServerTest):
    def setUp(self):
        super().setUp()
        self.members = []

    def tearDown(self):
        for m in self.members:
            m.kill()
        super().tearDown()

    def member(self, server, topic, group, session_ms=10000):
        m = GroupMember(server.bootstrap, topic, group, session_ms)
        self.members.append(m)
        return m

    def create_topic(self, server, name, partitions):
        admin = AdminClient({"bootstrap.servers": server.bootstrap})
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)

    def produce(self, server, topic, values, partitions=4):
        p = Producer({"bootstrap.servers": server.bootstrap, "acks": "all", "linger.ms": 5})
        for v in values:
            p.produce(topic, value=v.encode(), partition=int(v.split("-")[1]) % partitions)
        self.assertEqual(p.flush(30), 0)



class GroupTest(GroupFixture):
    def test_two_c_consumers_split_a_topic_and_consume_each_record_once(self):
        s = self.start()
        self.create_topic(s, "orders", 4)
        values = [f"v-{i}" for i in range(4000)]
        self.produce(s, "orders", values)
        a = self.member(s, "orders", "billing")
        b = self.member(s, "orders", "billing")
        wait_until(lambda: len(a.values()) + len(b.values()) >= 4000, 60, "4000 records")
        time.sleep(1)  # anything extra (a duplicate) would arrive now
        self.assertEqual(len(a.values()) + len(b.values()), 4000)
        self.assertEqual(sorted(a.values() + b.values()), sorted(values))
        self.assertEqual(sorted(a.assignment + b.assignment), [0, 1, 2, 3])
        self.assertTrue(a.assignment and b.assignment, (a.assignment, b.assignment))
        a.stop()
        b.stop()
        # Both committed everything: the group's lag is zero in /metrics.
        status, body = s.http_get("/metrics")
        lags = [l for l in body.splitlines() if l.startswith('riptide_group_lag{group="billing"')]
        self.assertEqual(len(lags), 4, body)
        self.assertTrue(all(l.endswith(" 0") for l in lags), lags)

    def test_members_join_and_leave_mid_stream_without_losing_records(self):
        s = self.start("--groups-initial-rebalance-delay", "500ms")
        self.create_topic(s, "clicks", 4)
        values = [f"v-{i}" for i in range(6000)]
        a = self.member(s, "clicks", "etl")
        b = self.member(s, "clicks", "etl")
        producer = threading.Thread(
            target=lambda: [self.produce(s, "clicks", values[i:i + 500])
                            for i in range(0, 6000, 500) if not time.sleep(0.4)])
        producer.start()
        wait_until(lambda: len(a.values()) + len(b.values()) >= 1000, 60, "first records")
        c = self.member(s, "clicks", "etl")
        wait_until(lambda: c.assignment, 60, "the third member's assignment")
        a.stop()  # leaves the group mid-stream
        producer.join()
        everyone = lambda: set(a.values()) | set(b.values()) | set(c.values())
        try:
            wait_until(lambda: everyone() >= set(values), 60, "every record")
        except AssertionError:
            missing = sorted(set(values) - everyone(), key=lambda v: int(v.split("-")[1]))
            raise AssertionError(f"{len(missing)} missing, e.g. {missing[:10]}; "
                                 f"assignments a={a.assignments} b={b.assignments} "
                                 f"c={c.assignments}\n{s.log[-3000:]}")
        self.assertEqual(everyone(), set(values))
        self.assertEqual(sorted(b.assignment + c.assignment), [0, 1, 2, 3])

    def test_new_consumer_resumes_from_committed_offsets_after_kill_9(self):
        port = free_port()
        data = os.path.join(self.tmp, "data")
        s = self.start(data_dir=data, listen=f"127.0.0.1:{port}")
        self.create_topic(s, "jobs", 4)
        values = [f"v-{i}" for i in range(2000)]
        self.produce(s, "jobs", values[:1000])
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "workers",
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        c.subscribe(["jobs"])
        seen = []
        deadline = time.monotonic() + 60
        while len(seen) < 1000 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                seen.append(m.value().decode())
        self.assertEqual(len(seen), 1000)
        c.commit(asynchronous=False)
        committed = {tp.partition: tp.offset
                     for tp in c.committed([TopicPartition("jobs", p) for p in range(4)], 10)}
        c.close()
        self.assertEqual(sum(committed.values()), 1000)

        s.proc.send_signal(signal.SIGKILL)
        s.wait_exit()
        s = self.start(data_dir=data, listen=f"127.0.0.1:{port}")
        s.wait_for("ready")
        self.produce(s, "jobs", values[1000:])
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "workers",
                      "auto.offset.reset": "earliest"})
        c.subscribe(["jobs"])
        rest, first = [], {}
        deadline = time.monotonic() + 60
        while len(rest) < 1000 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                rest.append(m.value().decode())
                first.setdefault(m.partition(), m.offset())
        c.close()
        self.assertEqual(sorted(rest), sorted(values[1000:]))
        self.assertEqual(first, committed)

    def test_member_that_stops_heartbeating_is_removed_after_its_session_timeout(self):
        s = self.start("--groups-min-session-timeout", "1s", "--groups-initial-rebalance-delay",
                       "0")
        self.create_topic(s, "events", 4)
        a = self.member(s, "events", "alerts", session_ms=3000)
        wait_until(lambda: a.assignment == [0, 1, 2, 3], 30, "the first member's assignment")
        b = self.member(s, "events", "alerts", session_ms=3000)
        wait_until(lambda: b.assignment and a.assignment and
                   len(a.assignment) + len(b.assignment) == 4, 30, "a split")
        a.proc.send_signal(signal.SIGSTOP)  # alive, connected, silent
        stopped = time.monotonic()
        wait_until(lambda: b.assignment == [0, 1, 2, 3], 30, "the partitions moving to b")
        took = time.monotonic() - stopped
        self.assertGreaterEqual(took, 2.5, "removed before its session timeout")
        values = [f"v-{i}" for i in range(400)]
        self.produce(s, "events", values)
        wait_until(lambda: set(b.values()) >= set(values), 30, "b consuming every partition")
        from kafka.admin import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=s.bootstrap)
        desc = admin.describe_consumer_groups(["alerts"])[0]
        admin.close()
        self.assertEqual(desc.state, "Stable")
        self.assertEqual(len(desc.members), 1)

    def test_offsets_of_a_group_without_members_expire_and_stay_deleted(self):
        port = free_port()
        data = os.path.join(self.tmp, "data")
        s = self.start("--groups-offsets-retention", "2s", data_dir=data,
                       listen=f"127.0.0.1:{port}")
        self.create_topic(s, "audit", 1)
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "keep",
                      "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition("audit", 0, 0)], asynchronous=False)
        # A member keeps its group's offsets alive however long it stays.
        c.subscribe(["audit"])
        deadline = time.monotonic() + 30
        while not c.assignment() and time.monotonic() < deadline:
            c.poll(0.2)
        time.sleep(3)
        self.assertEqual(c.committed([TopicPartition("audit", 0)], 10)[0].offset, 0)
        c.close()
        s.wait_for("group keep: committed offsets expired", timeout=20)
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "keep"})
        self.assertLess(c.committed([TopicPartition("audit", 0)], 10)[0].offset, 0)
        c.close()
        self.assertEqual(s.stop(), 0)
        s = self.start(data_dir=data, listen=f"127.0.0.1:{port}")
        s.wait_for("ready")
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "keep"})
        self.assertLess(c.committed([TopicPartition("audit", 0)], 10)[0].offset, 0)
        c.close()

    def test_offsets_topic_is_compacted_and_keeps_the_latest_commits(self):
        from confluent_kafka.admin import ConfigResource
        port = free_port()
        data = os.path.join(self.tmp, "data")
        s = self.start("--groups-offsets-partitions", "1", data_dir=data,
                       listen=f"127.0.0.1:{port}")
        self.create_topic(s, "ticks", 2)
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        # AlterConfigs replaces a topic's configs, so cleanup.policy is given again.
        res = ConfigResource("topic", "__consumer_offsets",
                             set_config={"cleanup.policy": "compact", "segment.bytes": "16384",
                                         "retention.ms": "-1", "retention.bytes": "-1"})
        for f in admin.alter_configs([res]).values():
            f.result(30)
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "ticker",
                      "enable.auto.commit": False})
        for i in range(3000):
            c.commit(offsets=[TopicPartition("ticks", i % 2, i)], asynchronous=False)
        c.close()

        def offsets_bytes():
            status, body = s.http_get("/metrics")
            for line in body.splitlines():
                if line.startswith('riptide_partition_size_bytes{topic="__consumer_offsets"'):
                    return int(line.split()[-1])
            raise AssertionError("no size for __consumer_offsets")
        # 3000 commit records take well over 300 KB; compaction keeps a few segments.
        wait_until(lambda: offsets_bytes() < 64 * 1024, 30, "compaction")
        self.assertEqual(s.stop(), 0)
        s = self.start(data_dir=data, listen=f"127.0.0.1:{port}")
        s.wait_for("ready")
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "ticker"})
        got = {tp.partition: tp.offset
               for tp in c.committed([TopicPartition("ticks", 0), TopicPartition("ticks", 1)], 10)}
        c.close()
        self.assertEqual(got, {0: 2998, 1: 2999})

    def test_offset_delete_removes_one_partitions_commit(self):
        s = self.start()
        self.create_topic(s, "ledger", 2)
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "books",
                      "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition("ledger", 0, 5), TopicPartition("ledger", 1, 7)],
                 asynchronous=False)
        with socket.create_connection(("127.0.0.1", s.kafka_port)) as sock:
            sock.sendall(offset_delete_v0("books", "ledger", [0]))
            body = read_frame(sock)[4:]
            self.assertEqual(struct.unpack(">h", body[:2])[0], 0)
            self.assertEqual(struct.unpack(">h", body[-2:])[0], 0)
        got = {tp.partition: tp.offset for tp in
               c.committed([TopicPartition("ledger", 0), TopicPartition("ledger", 1)], 10)}
        c.close()
        self.assertEqual(got, {0: -1001, 1: 7})

    def test_kafka_python_consumers_share_a_group(self):
        from kafka import KafkaConsumer
        s = self.start("--groups-initial-rebalance-delay", "1s")
        self.create_topic(s, "logs", 4)
        values = [f"v-{i}" for i in range(2000)]
        self.produce(s, "logs", values)
        got = [[], []]
        assigned = [set(), set()]

        def consume(i):
            c = KafkaConsumer("logs", bootstrap_servers=s.bootstrap, group_id="py",
                              auto_offset_reset="earliest", consumer_timeout_ms=4000,
                              session_timeout_ms=10000, heartbeat_interval_ms=500)
            for m in c:
                got[i].append(m.value.decode())
                assigned[i] = {tp.partition for tp in c.assignment()}
            c.commit()
            c.close()

        threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        self.assertEqual(sorted(got[0] + got[1]), sorted(values))
        self.assertTrue(got[0] and got[1], "both consumers received records")
        self.assertEqual(assigned[0] & assigned[1], set())
        # Committed offsets are visible to another client library.
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "py"})
        committed = c.committed([TopicPartition("logs", p) for p in range(4)], 10)
        c.close()
        self.assertEqual(sum(tp.offset for tp in committed), 2000)


# Raw requests for the bad-input cases (Kafka's own error codes come back).
def join_group_v0(group, session_ms, protocols, member_id=""):
    body = string(group) + struct.pack(">i", session_ms) + string(member_id) + string("consumer")
    body += struct.pack(">i", len(protocols))
    for name, metadata in protocols:
        body += string(name) + struct.pack(">i", len(metadata)) + metadata
    return frame(11, 0, 1, body)


def offset_commit_v2(group, generation, member_id, topic, offset):
    body = (string(group) + struct.pack(">i", generation) + string(member_id) +
            struct.pack(">q", -1) + struct.pack(">i", 1) + string(topic) +
            struct.pack(">i", 1) + struct.pack(">iq", 0, offset) + string(""))
    return frame(8, 2, 1, body)


def offset_delete_v0(group, topic, partitions):
    body = string(group) + struct.pack(">i", 1) + string(topic) + struct.pack(">i", len(partitions))
    for p in partitions:
        body += struct.pack(">i", p)
    return frame(47, 0, 1, body)


class BadGroupInputTest(GroupFixture):
    def ask(self, sock, request):
        sock.sendall(request)
        resp = read_frame(sock)
        self.assertIsNotNone(resp, "connection closed")
        return resp[4:]  # after the correlation id

    def test_bad_group_requests_get_error_codes_and_other_groups_keep_working(self):
        s = self.start("--groups-initial-rebalance-delay", "0")
        self.create_topic(s, "t", 4)
        bystander = self.member(s, "t", "healthy")
        wait_until(lambda: bystander.assignment == [0, 1, 2, 3], 30, "a healthy group")
        with socket.create_connection(("127.0.0.1", s.kafka_port)) as sock:
            error = lambda body: struct.unpack(">h", body[:2])[0]
            # Session timeouts outside the broker's range: INVALID_SESSION_TIMEOUT (26).
            self.assertEqual(error(self.ask(sock, join_group_v0("g", 1, [("range", b"")]))), 26)
            self.assertEqual(
                error(self.ask(sock, join_group_v0("g", 2**31 - 1, [("range", b"")]))), 26)
            # No protocols: INCONSISTENT_GROUP_PROTOCOL (23).
            self.assertEqual(error(self.ask(sock, join_group_v0("g", 10000, []))), 23)
            # 2 MiB of member metadata: INVALID_REQUEST (42).
            self.assertEqual(
                error(self.ask(sock, join_group_v0("g", 10000, [("range", b"x" * (2 << 20))]))),
                42)
            # A commit from a member the group does not have: UNKNOWN_MEMBER_ID (25),
            # both for a group with members and for one without.
            for group in ("healthy", "nobody"):
                body = self.ask(sock, offset_commit_v2(group, 1, "ghost", "t", 5))
                self.assertEqual(struct.unpack(">h", body[-2:])[0], 25, group)
            # Joined, then a commit with a stale generation: ILLEGAL_GENERATION (22).
            body = self.ask(sock, join_group_v0("solo", 10000, [("range", b"")]))
            self.assertEqual(error(body), 0)
            generation = struct.unpack(">i", body[2:6])[0]
            rest = body[6:]
            protocol_len = struct.unpack(">h", rest[:2])[0]
            rest = rest[2 + protocol_len:]
            leader_len = struct.unpack(">h", rest[:2])[0]
            rest = rest[2 + leader_len:]
            member_len = struct.unpack(">h", rest[:2])[0]
            member_id = rest[2:2 + member_len].decode()
            body = self.ask(sock, offset_commit_v2("solo", generation + 7, member_id, "t", 5))
            self.assertEqual(struct.unpack(">h", body[-2:])[0], 22)
            # OffsetDelete: refused for a topic an active group consumes
            # (GROUP_SUBSCRIBED_TO_TOPIC, 86), unknown groups are GROUP_ID_NOT_FOUND (69).
            body = self.ask(sock, offset_delete_v0("healthy", "t", [0]))
            self.assertEqual(struct.unpack(">h", body[:2])[0], 0)
            self.assertEqual(struct.unpack(">h", body[-2:])[0], 86)
            body = self.ask(sock, offset_delete_v0("no-such-group", "t", [0]))
            self.assertEqual(struct.unpack(">h", body[:2])[0], 69)
            # An empty group id: INVALID_GROUP_ID (24).
            self.assertEqual(error(self.ask(sock, join_group_v0("", 10000, [("range", b"")]))),
                             24)
        # The healthy group never noticed.
        values = [f"v-{i}" for i in range(200)]
        self.produce(s, "t", values)
        wait_until(lambda: set(bystander.values()) >= set(values), 30, "the healthy group")
        self.assertEqual(bystander.assignment, [0, 1, 2, 3])
        self.assertEqual(len(bystander.assignments), 1, "no rebalance of the healthy group")
        self.assertIsNone(s.proc.poll())
