"""Hostile and careless clients against the real broker, with raw sockets: what one client
can make the broker hold is bounded in time, and a well-behaved client keeps working
during the attack.

Each attack runs beside a normal client (whose produce latency is printed as p50/p99) while
the broker's resident memory is sampled; the tests that bound memory assert the peak stays
under the bound the configured budget implies."""

import os
import socket
import struct
import sys
import threading
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition

import test_malformed as wire
from harness import ServerTest


def closed_within(sock, timeout):
    """True when the broker closes `sock` within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def drained_to_close(sock, timeout):
    """True when `sock` reaches its end (or a reset) within `timeout`, reading what is left."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 16):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Watch:
    """Samples the broker's RSS and runs a normal producer (acks=all, one record at a time)
    while an attack goes on; `report()` prints the latency percentiles and the peak."""

    def __init__(self, server, topic):
        self.server, self.topic = server, topic
        self.peak = self.baseline = rss_mib(server.proc.pid)
        self.latencies, self.errors = [], []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.sample), threading.Thread(target=self.produce)]
        for t in self.threads:
            t.start()

    def sample(self):
        while not self.stopping.is_set():
            try:
                self.peak = max(self.peak, rss_mib(self.server.proc.pid))
            except OSError:
                return
            time.sleep(0.02)

    def produce(self):
        p = Producer({"bootstrap.servers": self.server.bootstrap, "acks": "all",
                      "linger.ms": 0, "message.timeout.ms": 60000})
        i = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            p.produce(self.topic, b"steady-%d" % i,
                      on_delivery=lambda err, _m: err and self.errors.append(err))
            p.flush(60)
            self.latencies.append(time.monotonic() - started)
            i += 1
            time.sleep(0.01)

    def stop(self, name):
        self.stopping.set()
        for t in self.threads:
            t.join(90)
        lat = sorted(self.latencies) or [float("nan")]
        pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        print(f"\n[{name}] normal producer: {len(self.latencies)} records, p50 {pick(0.5):.2f} ms, "
              f"p99 {pick(0.99):.2f} ms, max {lat[-1] * 1000:.2f} ms; broker RSS "
              f"{self.baseline:.0f} -> peak {self.peak:.0f} MiB", file=sys.stderr)
        return self


def metadata_v1(topics):
    return struct.pack(">i", len(topics)) + b"".join(wire.string(t) for t in topics)


class HostileClientsTest(ServerTest):
    # What the memory tests configure, and the RSS they allow above the idle broker: both
    # shards' budgets in full plus what the normal client's traffic and the allocator need.
    # Under AddressSanitizer every allocation carries redzones and freed memory sits in a
    # quarantine (256 MiB by default), so the same budget shows as about three times the
    # resident memory there.
    BUDGET_MIB = 64
    SANITIZED = os.environ.get("TEST_SANITIZED") == "1"

    def assert_bounded(self, watch, budget_mib=BUDGET_MIB):
        self.assertEqual(watch.errors, [], "the normal producer saw errors")
        self.assertGreater(len(watch.latencies), 0, "the normal producer made no progress")
        allowance = (2 * budget_mib + 160) * (3 if self.SANITIZED else 1)
        self.assertLess(watch.peak - watch.baseline, allowance,
                        f"RSS grew from {watch.baseline:.0f} to {watch.peak:.0f} MiB")

    def restart_cleanly(self, s):
        self.assertEqual(s.stop(), 0)
        again = self.start(data_dir=s.data_dir)
        again.wait_for("ready")
        self.assertEqual(again.stop(), 0)

    def produce_and_consume(self, bootstrap, topic, count):
        """A normal client's round trip; returns the values read back."""
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                      "message.timeout.ms": 30000})
        failed = []
        started = time.monotonic()
        for i in range(count):
            p.produce(topic, b"normal-%d" % i,
                      on_delivery=lambda err, _m: err and failed.append(err))
        self.assertEqual(p.flush(40), 0, "the normal producer's records were not acknowledged")
        self.assertEqual(failed, [], f"delivery failed after {time.monotonic() - started:.1f} s")
        return self.consume(bootstrap, topic, count)

    def consume(self, bootstrap, topic, count):
        """Up to `count` values read from the start of partition 0."""
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "normal",
                      "auto.offset.reset": "earliest"})
        c.assign([TopicPartition(topic, 0, 0)])
        out = []
        deadline = time.monotonic() + 40
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append(m.value())
        c.close()
        return out

    def test_size_prefixes_without_bodies_are_cut_off(self):
        # 300 connections each announce a 4 MiB request and send nothing more: together
        # far more than a shard's request memory (256 MiB), which they would hold for as
        # long as they stay connected. With the body deadline they are closed.
        s = self.start("--kafka-request-timeout", "1s")
        s.wait_for("ready")
        watch = Watch(s, "steady")
        attackers = []
        for _ in range(300):
            a = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
            a.sendall(struct.pack(">i", 4 << 20))
            attackers.append(a)
        try:
            # A normal client gets through during the attack.
            self.assertEqual(self.produce_and_consume(s.bootstrap, "during", 10),
                             [b"normal-%d" % i for i in range(10)])
            # Every attacker was disconnected.
            self.assertTrue(all(closed_within(a, 15) for a in attackers))
        finally:
            for a in attackers:
                a.close()
            watch.stop("size prefixes without bodies")
        self.assert_bounded(watch, budget_mib=256)
        s.wait_for("did not arrive within 1000 ms (kafka.request_timeout)")
        self.assertIsNone(s.proc.poll())
        self.restart_cleanly(s)

    def test_a_fetch_asking_to_wait_for_weeks_is_answered_within_the_cap(self):
        s = self.start("--kafka-fetch-max-wait", "1s")
        s.wait_for("ready")
        self.assertEqual(self.produce_and_consume(s.bootstrap, "quiet", 1), [b"normal-0"])
        with socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10) as sock:
            # Fetch v4 from the end of the partition: nothing to return, so it long-polls.
            body = (struct.pack(">iiiib", -1, 0x7FFFFFFF, 1, 1 << 20, 0) +
                    struct.pack(">i", 1) + wire.string("quiet") + struct.pack(">i", 1) +
                    struct.pack(">iqi", 0, 1, 1 << 20))
            sock.sendall(wire.frame(1, 4, 9, body))
            resp = wire.read_frame(sock, timeout=20)
        self.assertIsNotNone(resp, "no answer to the long poll")
        self.assertEqual(struct.unpack(">i", resp[:4])[0], 9)
        self.assertEqual(s.stop(), 0)

    def test_shutdown_does_not_wait_for_long_polls(self):
        # Long polls asking for 25 s (under the 30 s cap) are answered at SIGTERM instead
        # of holding the shutdown until they expire.
        s = self.start()
        s.wait_for("ready")
        self.assertEqual(self.produce_and_consume(s.bootstrap, "idle", 1), [b"normal-0"])
        polls = []
        for i in range(3):
            sock = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
            body = (struct.pack(">iiiib", -1, 25000, 1, 1 << 20, 0) +
                    struct.pack(">i", 1) + wire.string("idle") + struct.pack(">i", 1) +
                    struct.pack(">iqi", 0, 1, 1 << 20))
            sock.sendall(wire.frame(1, 4, 20 + i, body))
            polls.append(sock)
        time.sleep(0.5)  # the polls are waiting
        started = time.monotonic()
        try:
            self.assertEqual(s.stop(timeout=15), 0)
            stopped_after = time.monotonic() - started
            for sock in polls:
                # Answered (empty) or closed, not left hanging.
                sock.settimeout(5)
                try:
                    sock.recv(4)
                except ConnectionResetError:
                    pass
        finally:
            for sock in polls:
                sock.close()
        self.assertLess(stopped_after, 15)
        self.assertIn("stopped; everything acknowledged is durable", s.log)

    def test_compression_bombs_are_refused_and_stored_nowhere(self):
        # A 61-byte header over a few hundred KiB of gzip and zstd that inflate to 256 MiB
        # of records: the broker stops decompressing at its 64 MiB bound and refuses it.
        import gzip
        import zstandard
        s = self.start()
        s.wait_for("ready")
        self.assertEqual(self.produce_and_consume(s.bootstrap, "bombed", 1), [b"normal-0"])
        zeros = bytes(256 << 20)
        bombs = ((1, gzip.compress(zeros, 9)),
                 (4, zstandard.ZstdCompressor(level=19).compress(zeros)))
        del zeros
        watch = Watch(s, "steady")
        for codec, packed in bombs * 3:
            after_crc = struct.pack(">hiqqqhii", codec, 0, 1000, 1000, -1, -1, -1, 1) + packed
            rest = struct.pack(">ibI", -1, 2, wire.crc32c(after_crc)) + after_crc
            batch = struct.pack(">qi", 0, len(rest)) + rest
            body = (struct.pack(">h", -1) + struct.pack(">hi", -1, 5000) + struct.pack(">i", 1) +
                    wire.string("bombed") + struct.pack(">ii", 1, 0) +
                    struct.pack(">i", len(batch)) + batch)
            with socket.create_connection(("127.0.0.1", s.kafka_port), timeout=30) as sock:
                sock.sendall(wire.frame(0, 7, 5, body))
                resp = wire.read_frame(sock, timeout=30)
            self.assertIsNotNone(resp, f"codec {codec}: no answer")
            name_len = struct.unpack(">h", resp[8:10])[0]
            _, error = struct.unpack(">ih", resp[14 + name_len:14 + name_len + 6])
            self.assertEqual(error, 87, f"codec {codec}")  # INVALID_RECORD
        watch.stop("compression bombs")
        self.assert_bounded(watch, budget_mib=256)
        # Nothing was stored, and the broker still serves.
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "x"})
        self.assertEqual(c.get_watermark_offsets(TopicPartition("bombed", 0), timeout=10),
                         (0, 1))
        c.close()
        self.assertEqual(self.produce_and_consume(s.bootstrap, "bombed", 2),
                         [b"normal-0", b"normal-0"])
        self.restart_cleanly(s)

    def test_unread_pipelined_responses_stop_the_reading_and_are_cut_off(self):
        # 16 connections pipeline thousands of Metadata requests for a 500-partition topic
        # (about 13 KiB per answer, 600 MiB in all) and never read an answer. Each is read
        # only until it holds an eighth of its shard's budget, then cut off at the write
        # deadline.
        s = self.start("--kafka-memory-budget", f"{self.BUDGET_MIB}MiB",
                       "--kafka-write-timeout", "5s")
        s.wait_for("ready")
        self.assertEqual(self.run_riptide("topic", "create", "wide", "--partitions", "500",
                                          "--brokers", s.bootstrap).returncode, 0)
        # A 4 KiB client id makes the requests big enough that what the broker does not
        # read stays on the attacker's side instead of fitting in the kernel's buffers.
        payload = (struct.pack(">hhi", 3, 1, 1) + wire.string("x" * 4096) +
                   metadata_v1(["wide"]))
        request = struct.pack(">i", len(payload)) + payload
        watch = Watch(s, "steady")
        attackers = []
        try:
            for _ in range(16):
                a = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
                a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                a.setblocking(False)
                attackers.append(a)
            blob = memoryview(request * 6000)  # 25 MiB per connection
            sent = [0] * len(attackers)
            deadline = time.monotonic() + 3  # within the write deadline (5 s)
            while time.monotonic() < deadline and min(sent) < len(blob):
                for i, a in enumerate(attackers):
                    try:
                        sent[i] += a.send(blob[sent[i]:sent[i] + (1 << 20)])
                    except (BlockingIOError, OSError):
                        pass
                time.sleep(0.01)
            # The broker stopped reading them: most of each stays unsent on this side.
            self.assertTrue(all(n < len(blob) for n in sent),
                            f"the broker read every pipelined request: {sent}")
            # Cut off at the write deadline: what the kernel still holds can be read, then
            # the connection ends.
            s.wait_for("(kafka.write_timeout)", timeout=30)
            time.sleep(3)
            for a in attackers:
                a.setblocking(True)
            self.assertTrue(all(drained_to_close(a, 20) for a in attackers))
        finally:
            for a in attackers:
                a.close()
            watch.stop("unread responses")
        self.assert_bounded(watch)
        self.assertIn("(kafka.write_timeout)", s.log)
        self.restart_cleanly(s)

    def test_a_topic_named_a_thousand_times_is_described_once(self):
        s = self.start()
        s.wait_for("ready")
        self.assertEqual(self.run_riptide("topic", "create", "wide", "--partitions", "500",
                                          "--brokers", s.bootstrap).returncode, 0)
        with socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10) as sock:
            sock.sendall(wire.frame(3, 1, 7, metadata_v1(["wide"] * 1000)))
            once = wire.read_frame(sock, timeout=20)
            sock.sendall(wire.frame(3, 1, 8, metadata_v1(["wide"])))
            single = wire.read_frame(sock, timeout=20)
        self.assertEqual(once[4:], single[4:])  # same answer, correlation id aside
        self.assertLess(len(once), 64 << 10)
        self.assertEqual(s.stop(), 0)

    def test_a_produce_with_a_million_partition_entries_is_refused_before_it_costs(self):
        # 10 MiB of Produce naming 1.3M partitions decodes into far more memory than it
        # has bytes: over an eighth of the budget it is refused while being decoded.
        s = self.start("--kafka-memory-budget", f"{self.BUDGET_MIB}MiB")
        s.wait_for("ready")
        watch = Watch(s, "steady")
        try:
            n = 1_300_000
            entries = b"".join(struct.pack(">ii", i, -1) for i in range(n))
            body = (struct.pack(">h", -1) + struct.pack(">hi", -1, 5000) + struct.pack(">i", 1) +
                    wire.string("amplified") + struct.pack(">i", n) + entries)
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", s.kafka_port), timeout=30) as sock:
                    sock.sendall(wire.frame(0, 7, 5, body))
                    self.assertTrue(closed_within(sock, 30))
        finally:
            watch.stop("million-entry produce")
        self.assert_bounded(watch)
        self.assertIn("would decode into more than", s.log)
        self.restart_cleanly(s)

    def test_a_join_with_150000_protocols_is_refused(self):
        s = self.start()
        s.wait_for("ready")
        watch = Watch(s, "steady")
        try:
            n = 150_000
            protocols = b"".join(wire.string("p%d" % i) + struct.pack(">i", 0) for i in range(n))
            # JoinGroup v1: group, session timeout, rebalance timeout, member id, type, protocols.
            body = (wire.string("swollen") + struct.pack(">ii", 10000, 10000) + wire.string("") +
                    wire.string("consumer") + struct.pack(">i", n) + protocols)
            answers = []
            for i in range(5):
                with socket.create_connection(("127.0.0.1", s.kafka_port), timeout=30) as sock:
                    sock.sendall(wire.frame(11, 1, 40 + i, body))
                    resp = wire.read_frame(sock, timeout=30)
                    answers.append(struct.unpack(">h", resp[4:6])[0] if resp else None)
        finally:
            watch.stop("150,000-protocol join")
        # Each is refused (INVALID_REQUEST: the protocols cost over 1 MiB in memory).
        self.assertEqual(answers, [42] * 5)
        self.assert_bounded(watch)
        self.restart_cleanly(s)

    def test_connection_floods_are_capped_per_address_and_in_all(self):
        s = self.start("--kafka-max-connections-per-ip", "50", "--kafka-max-connections", "120")
        s.wait_for("ready")
        watch = Watch(s, "steady")
        flood = []
        try:
            # 200 connections from 127.0.0.2: 50 stay, the rest are closed at once.
            for _ in range(200):
                a = socket.socket()
                a.bind(("127.0.0.2", 0))
                a.connect(("127.0.0.1", s.kafka_port))
                flood.append(a)
            time.sleep(0.5)
            open_ones = [a for a in flood if not closed_within(a, 0.2)]
            self.assertEqual(len(open_ones), 50)
            # From 127.0.0.3 and 127.0.0.4: up to 120 in all (the normal client holds some).
            more = []
            for host in ("127.0.0.3", "127.0.0.4"):
                for _ in range(50):
                    a = socket.socket()
                    a.bind((host, 0))
                    a.connect(("127.0.0.1", s.kafka_port))
                    more.append(a)
            flood += more
            time.sleep(0.5)
            total_open = len(open_ones) + sum(1 for a in more if not closed_within(a, 0.2))
            self.assertLessEqual(total_open, 120)
            self.assertGreater(total_open, 100)
        finally:
            for a in flood:
                a.close()
            watch.stop("connection flood")
        self.assertEqual(watch.errors, [])
        s.wait_for("kafka.max_connections_per_ip = 50")
        s.wait_for("kafka.max_connections = 120")
        # Once the flood is gone, new clients get in again.
        self.assertEqual(self.produce_and_consume(s.bootstrap, "after-flood", 3),
                         [b"normal-%d" % i for i in range(3)])
        self.restart_cleanly(s)

    def test_the_decompression_bound_is_configurable(self):
        # One record with a 2 MiB value, gzip-compressed to about 2 KiB: accepted under the
        # default bound (64 MiB), refused under a 1 MiB one.
        import gzip
        value = bytes(2 << 20)
        body = (b"\x00" + wire.varint(0) + wire.varint(0) + wire.varint(-1) +
                wire.varint(len(value)) + value + wire.varint(0))
        packed = gzip.compress(wire.varint(len(body)) + body)
        after_crc = struct.pack(">hiqqqhii", 1, 0, 1000, 1000, -1, -1, -1, 1) + packed
        rest = struct.pack(">ibI", -1, 2, wire.crc32c(after_crc)) + after_crc
        batch = struct.pack(">qi", 0, len(rest)) + rest
        errors = []
        for args in ((), ("--storage-max-decompressed-batch-bytes", "1MiB")):
            s = self.start(*args, data_dir=os.path.join(self.tmp, f"d{len(errors)}"))
            s.wait_for("ready")
            self.assertEqual(self.run_riptide("topic", "create", "inflated",
                                              "--brokers", s.bootstrap).returncode, 0)
            with socket.create_connection(("127.0.0.1", s.kafka_port), timeout=30) as sock:
                sock.sendall(wire.frame(0, 3, 1, wire.produce_v3("inflated", batch)))
                resp = wire.read_frame(sock, timeout=30)
            errors.append(struct.unpack(">h", resp[-22:-20])[0])
            self.assertEqual(s.stop(), 0)
        self.assertEqual(errors, [0, 87])  # INVALID_RECORD under the lower bound

    def test_groups_beyond_the_cap_are_refused(self):
        # Each shard keeps its share of groups.max_groups (2 of 4 with 2 shards).
        from confluent_kafka import KafkaError, KafkaException
        s = self.start("--groups-max-groups", "4")
        s.wait_for("ready")
        self.assertEqual(self.produce_and_consume(s.bootstrap, "g", 1), [b"normal-0"])
        kept, refused = 1, []  # produce_and_consume's group "normal" is the first
        for i in range(20):
            c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": f"many-{i}"})
            try:
                c.commit(offsets=[TopicPartition("g", 0, 1)], asynchronous=False)
                kept += 1
            except KafkaException as e:
                refused.append(e.args[0].code())
            finally:
                c.close()
        self.assertLessEqual(kept, 4)
        self.assertGreaterEqual(kept, 2)
        self.assertEqual(set(refused), {KafkaError.POLICY_VIOLATION})
        s.wait_for("share of groups.max_groups = 4")
        self.assertEqual(s.stop(), 0)

    def test_sigterm_with_hostile_clients_connected_ends_cleanly(self):
        # Prefix-only connections, unread pipelined responses and long polls are all
        # connected when SIGTERM arrives: the broker still stops within its drain bound
        # with everything acknowledged durable.
        s = self.start()
        s.wait_for("ready")
        self.assertEqual(self.run_riptide("topic", "create", "wide", "--partitions", "200",
                                          "--brokers", s.bootstrap).returncode, 0)
        self.assertEqual(self.produce_and_consume(s.bootstrap, "kept", 5),
                         [b"normal-%d" % i for i in range(5)])
        hostile = []
        try:
            for _ in range(20):
                a = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
                a.sendall(struct.pack(">i", 1 << 20))  # a prefix, no body
                hostile.append(a)
            payload = (struct.pack(">hhi", 3, 1, 1) + wire.string("x" * 4096) +
                       metadata_v1(["wide"]))
            for _ in range(4):
                a = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
                a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                a.setblocking(False)
                blob = (struct.pack(">i", len(payload)) + payload) * 2000
                try:
                    a.send(blob)
                except BlockingIOError:
                    pass
                hostile.append(a)
            for i in range(3):
                a = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
                body = (struct.pack(">iiiib", -1, 25000, 1, 1 << 20, 0) +
                        struct.pack(">i", 1) + wire.string("kept") + struct.pack(">i", 1) +
                        struct.pack(">iqi", 0, 5, 1 << 20))
                a.sendall(wire.frame(1, 4, 30 + i, body))
                hostile.append(a)
            time.sleep(1)
            started = time.monotonic()
            self.assertEqual(s.stop(timeout=30), 0)
            self.assertLess(time.monotonic() - started, 15)
        finally:
            for a in hostile:
                a.close()
        self.assertIn("stopped; everything acknowledged is durable", s.log)
        again = self.start(data_dir=s.data_dir)
        again.wait_for("ready")
        self.assertEqual(self.consume(again.bootstrap, "kept", 5),
                         [b"normal-%d" % i for i in range(5)])
        self.assertEqual(again.stop(), 0)

    def test_batches_claiming_two_billion_records_are_refused_without_rolling(self):
        s = self.start()
        s.wait_for("ready")
        self.assertEqual(self.produce_and_consume(s.bootstrap, "counted", 1), [b"normal-0"])
        watch = Watch(s, "steady")
        with socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10) as sock:
            for i in range(50):
                # One real record, a header claiming 2^31-1 (lastOffsetDelta to match).
                rec = b"\x00" + wire.varint(0) + wire.varint(0) + wire.varint(-1) + \
                    wire.varint(1) + b"x" + wire.varint(0)
                after_crc = struct.pack(">hiqqqhii", 0, 0x7FFFFFFE, 1000, 1000, -1, -1, -1,
                                        0x7FFFFFFF) + wire.varint(len(rec)) + rec
                rest = struct.pack(">ibI", -1, 2, wire.crc32c(after_crc)) + after_crc
                batch = struct.pack(">qi", 0, len(rest)) + rest
                sock.sendall(wire.frame(0, 3, 100 + i, wire.produce_v3("counted", batch)))
                resp = wire.read_frame(sock)
                self.assertIsNotNone(resp)
                self.assertEqual(struct.unpack(">h", resp[-22:-20])[0], 87)  # INVALID_RECORD
        watch.stop("batches claiming 2^31-1 records")
        self.assert_bounded(watch, budget_mib=256)
        segments = [f for f in os.listdir(os.path.join(s.data_dir, "counted-0"))
                    if f.endswith(".log")]
        self.assertEqual(len(segments), 1, segments)
        self.assertEqual(self.produce_and_consume(s.bootstrap, "counted", 1)[-1], b"normal-0")
        self.restart_cleanly(s)


if __name__ == "__main__":
    unittest.main()
