"""Hostile and careless clients against the real broker, with raw sockets: what one client
can make the broker hold is bounded in time, and a well-behaved client keeps working
during the attack.

Covered so far: connections that send a request's size prefix and never its body, Fetch
long polls asking to wait for days, long polls pending at shutdown, and compression
bombs."""

import socket
import struct
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


class HostileClientsTest(ServerTest):
    def produce_and_consume(self, bootstrap, topic, count):
        """A normal client's round trip; returns the values read back."""
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                      "message.timeout.ms": 30000})
        for i in range(count):
            p.produce(topic, b"normal-%d" % i)
        self.assertEqual(p.flush(40), 0, "the normal producer's records were not acknowledged")
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
        s.wait_for("did not arrive within 1000 ms (kafka.request_timeout)")
        self.assertIsNone(s.proc.poll())
        self.assertEqual(s.stop(), 0)

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
        for codec, packed in ((1, gzip.compress(zeros, 9)),
                              (4, zstandard.ZstdCompressor(level=19).compress(zeros))):
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
        # Nothing was stored, and the broker still serves.
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "x"})
        self.assertEqual(c.get_watermark_offsets(TopicPartition("bombed", 0), timeout=10),
                         (0, 1))
        c.close()
        self.assertEqual(self.produce_and_consume(s.bootstrap, "bombed", 2),
                         [b"normal-0", b"normal-0"])
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
