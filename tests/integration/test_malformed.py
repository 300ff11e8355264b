"""Malformed input over a raw socket: each gets an error answer or a closed connection,
never a crash or unbounded memory, and the broker keeps serving other clients."""

import socket
import struct
import subprocess
import time
import unittest

from harness import ServerTest


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def varint(n):
    n = (n << 1) ^ (n >> 63)
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def record_batch(values, magic=2, corrupt=False):
    records = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        records += varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, 1000, 1000, -1, -1, -1,
                            len(values)) + records
    crc = crc32c(after_crc) ^ (1 if corrupt else 0)
    rest = struct.pack(">ibI", -1, magic, crc) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def frame(api_key, version, correlation_id, body):
    header = struct.pack(">hhi", api_key, version, correlation_id) + string("malformed-test")
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def produce_v3(topic, batch, acks=-1):
    return (struct.pack(">h", -1) + struct.pack(">hi", acks, 5000) + struct.pack(">i", 1) +
            string(topic) + struct.pack(">i", 1) + struct.pack(">i", 0) +
            struct.pack(">i", len(batch)) + batch)


def read_frame(sock, timeout=10):
    sock.settimeout(timeout)
    size = recv_exact(sock, 4)
    if size is None:
        return None
    return recv_exact(sock, struct.unpack(">i", size)[0])


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def closed_by_peer(sock, timeout=10):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


class MalformedInputTest(ServerTest):
    def setUp(self):
        super().setUp()
        self.server = self.start()
        self.server.wait_for("ready")
        self.port = self.server.kafka_port
        r = subprocess.run(["kcat", "-b", self.server.bootstrap, "-P", "-t", "healthy"],
                           input="before\n", capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        # Whatever the test sent, the broker still serves a well-behaved client...
        r = subprocess.run(["kcat", "-b", self.server.bootstrap, "-C", "-t", "healthy", "-e", "-q",
                            "-c", "1"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout.splitlines(), ["before"], self.server.log)
        # ... and is still the same process.
        self.assertIsNone(self.server.proc.poll(), self.server.log)
        super().tearDown()

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def test_two_gib_length_prefix_closes_without_allocating(self):
        with self.connect() as s:
            s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\x00" * 16)
            self.assertTrue(closed_by_peer(s))
        self.server.wait_for("request size 2147483647 outside")

    def test_negative_and_tiny_length_prefixes_close(self):
        for prefix in (struct.pack(">i", -1), struct.pack(">i", 0), struct.pack(">i", 3)):
            with self.connect() as s:
                s.sendall(prefix + b"\x00" * 8)
                self.assertTrue(closed_by_peer(s))

    def test_truncated_frame_then_hang_up(self):
        with self.connect() as s:
            s.sendall(struct.pack(">i", 100) + b"\x00\x12\x00\x00")
        with self.connect() as s:
            s.sendall(struct.pack(">i", 1000))  # and never the body

    def test_unknown_api_key_closes(self):
        with self.connect() as s:
            s.sendall(frame(999, 0, 1, b""))
            self.assertTrue(closed_by_peer(s))

    def test_unsupported_version_closes(self):
        with self.connect() as s:
            s.sendall(frame(0, 99, 1, b""))
            self.assertTrue(closed_by_peer(s))

    def test_produce_v0_to_v2_are_advertised_but_refused(self):
        # ApiVersions lists Produce from v0 (librdkafka compresses only for such a broker),
        # but the old message formats are not served: using them closes the connection.
        with self.connect() as s:
            s.sendall(frame(18, 0, 1, b""))
            resp = read_frame(s)
            _, error, count = struct.unpack(">ihi", resp[:10])
            self.assertEqual(error, 0)
            ranges = {k: (lo, hi) for k, lo, hi in
                      (struct.unpack(">hhh", resp[10 + 6 * i:16 + 6 * i]) for i in range(count))}
            self.assertEqual(ranges[0][0], 0)
        for version in (0, 1, 2):
            with self.connect() as s:
                s.sendall(frame(0, version, 1, produce_v3("healthy", record_batch([b"old"]))))
                self.assertTrue(closed_by_peer(s), version)

    def test_api_versions_too_new_answers_unsupported_with_the_list(self):
        with self.connect() as s:
            s.sendall(frame(18, 99, 7, b"\x00garbage"))
            resp = read_frame(s)
        correlation, error, count = struct.unpack(">ihi", resp[:10])
        self.assertEqual(correlation, 7)
        self.assertEqual(error, 35)  # UNSUPPORTED_VERSION
        keys = {struct.unpack(">hhh", resp[10 + 6 * i:16 + 6 * i])[0] for i in range(count)}
        self.assertIn(18, keys)
        self.assertIn(0, keys)

    def test_garbage_body_closes(self):
        with self.connect() as s:
            s.sendall(frame(3, 1, 1, b"\xff\xff\xff\x7f" + b"\x01" * 7))  # 2^31 topics
            self.assertTrue(closed_by_peer(s))

    def test_invalid_record_batches_get_kafka_errors(self):
        cases = [
            (record_batch([b"x"], corrupt=True), 2),   # CORRUPT_MESSAGE
            (record_batch([b"x"], magic=1), 87),       # INVALID_RECORD
            (record_batch([b"x"])[:-3], 87),           # batch length beyond the data
            (b"\x00" * 10, 2),                         # shorter than a batch header
        ]
        with self.connect() as s:
            for i, (batch, expected) in enumerate(cases):
                s.sendall(frame(0, 3, 100 + i, produce_v3("healthy", batch)))
                resp = read_frame(s)
                self.assertIsNotNone(resp, f"case {i}: connection closed")
                correlation = struct.unpack(">i", resp[:4])[0]
                self.assertEqual(correlation, 100 + i)
                # responses[1] { name, partitions[1] { index, error_code, ... } }
                name_len = struct.unpack(">h", resp[8:10])[0]
                pos = 10 + name_len + 4
                index, error = struct.unpack(">ih", resp[pos:pos + 6])
                self.assertEqual((index, error), (0, expected), f"case {i}")
            # A valid batch on the same connection is stored.
            s.sendall(frame(0, 3, 200, produce_v3("healthy", record_batch([b"fine"]))))
            resp = read_frame(s)
            name_len = struct.unpack(">h", resp[8:10])[0]
            pos = 10 + name_len + 4
            index, error, offset = struct.unpack(">ihq", resp[pos:pos + 14])
            self.assertEqual((error, offset), (0, 1))
        r = subprocess.run(["kcat", "-b", self.server.bootstrap, "-C", "-t", "healthy", "-e", "-q"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout.splitlines(), ["before", "fine"])

    def test_pipelined_requests_are_answered_in_order(self):
        with self.connect() as s:
            reqs = b"".join(frame(18, 0, i, b"") if i % 2 else frame(3, 1, i, struct.pack(">i", 0))
                            for i in range(50))
            s.sendall(reqs)
            seen = [struct.unpack(">i", read_frame(s)[:4])[0] for _ in range(50)]
        self.assertEqual(seen, list(range(50)))


if __name__ == "__main__":
    unittest.main()
