"""Authentication. SASL on the Kafka listener (SASL_PLAINTEXT): real clients authenticate
with SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN against users made with `riptide user create`;
wrong passwords, unknown users, clients without SASL and hostile raw connections are
refused; users added while the broker runs can log in at once; super users manage users
over the Kafka API. HTTP basic authentication with the same users (curl). A listener the
network can reach without authentication stops `serve` unless the operator opts in.

kcat and confluent-kafka (librdkafka) use SaslHandshake v1 and SaslAuthenticate;
kafka-python 2.0 uses SaslHandshake v0 and raw SASL tokens; Sarama (Go) its own SCRAM
client over SaslHandshake v1."""

import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from kafka import KafkaProducer
from kafka.errors import NoBrokersAvailable

import test_malformed as wire
from test_topic_table import Reader, compact_string, uvarint
from harness import RIPTIDE, ServerTest
from test_sarama import SARAMA

MECHANISMS = "SCRAM-SHA-512,SCRAM-SHA-256,PLAIN"
SASL_HANDSHAKE, SASL_AUTHENTICATE, METADATA = 17, 36, 3
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58
DESCRIBE_USER_SCRAM, ALTER_USER_SCRAM = 50, 51
CLUSTER_AUTHORIZATION_FAILED, RESOURCE_NOT_FOUND, DUPLICATE_RESOURCE = 31, 91, 92
UNACCEPTABLE_CREDENTIAL = 93
SHA256, SHA512 = 1, 2


# --- A minimal raw Kafka client for the SCRAM user APIs (flexible versions) ---

def compact_bytes(b):
    return uvarint(len(b) + 1) + b


class RawClient:
    """One connection, authenticated with SASL/PLAIN (SaslHandshake v1, SaslAuthenticate v1)."""

    def __init__(self, port, user, password):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.corr = 0
        body = self.call(SASL_HANDSHAKE, 1, wire.string("PLAIN"))
        assert struct.unpack(">h", body[:2])[0] == 0, body
        token = f"\0{user}\0{password}".encode()
        body = self.call(SASL_AUTHENTICATE, 1, struct.pack(">i", len(token)) + token)
        self.auth_error = struct.unpack(">h", body[:2])[0]

    def call(self, api, version, body, flexible=False):
        self.corr += 1
        header = struct.pack(">hhi", api, version, self.corr) + wire.string("raw")
        if flexible:
            header += b"\0"
        payload = header + body
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        frame = wire.read_frame(self.sock)
        assert frame is not None, "connection closed"
        assert struct.unpack(">i", frame[:4])[0] == self.corr
        return frame[5:] if flexible else frame[4:]

    def alter(self, deletions=(), upsertions=()):
        """{user: (error_code, message)} of AlterUserScramCredentials v0."""
        body = uvarint(len(deletions) + 1)
        for name, mech in deletions:
            body += compact_string(name) + struct.pack(">b", mech) + b"\0"
        body += uvarint(len(upsertions) + 1)
        for name, mech, iterations, salt, salted in upsertions:
            body += (compact_string(name) + struct.pack(">bi", mech, iterations) +
                     compact_bytes(salt) + compact_bytes(salted) + b"\0")
        r = Reader(self.call(ALTER_USER_SCRAM, 0, body + b"\0", flexible=True))
        r.int32()
        out = {}
        for _ in range(r.uvarint() - 1):
            user, err, msg = r.compact_string(), r.int16(), r.compact_string()
            r.tagged_fields()
            out[user] = (err, msg)
        return out

    def describe(self, users=None):
        """(error, {user: (error, {mechanism: iterations})}) of DescribeUserScramCredentials v0."""
        if users is None:
            body = b"\0"
        else:
            body = uvarint(len(users) + 1) + b"".join(compact_string(u) + b"\0" for u in users)
        r = Reader(self.call(DESCRIBE_USER_SCRAM, 0, body + b"\0", flexible=True))
        r.int32()
        error, _ = r.int16(), r.compact_string()
        out = {}
        for _ in range(r.uvarint() - 1):
            user, err, _msg = r.compact_string(), r.int16(), r.compact_string()
            infos = {}
            for _ in range(r.uvarint() - 1):
                mech, iterations = r.int8(), r.int32()
                r.tagged_fields()
                infos[mech] = iterations
            r.tagged_fields()
            out[user] = (err, infos)
        return error, out


def kcat(bootstrap, *args, stdin=None, timeout=60):
    return subprocess.run(["kcat", "-b", bootstrap, *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def sasl_conf(mechanism, user, password):
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": mechanism,
            "sasl.username": user, "sasl.password": password}


class SecurityTest(ServerTest):
    def riptide_cmd(self):
        return [RIPTIDE]

    def add_user(self, data_dir, name, password, *extra):
        """`riptide user create`, the password on standard input."""
        r = subprocess.run([RIPTIDE, "user", "create", name, "--password-file", "-",
                            "--data-dir", data_dir, *extra],
                           input=password + "\n", capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def start_sasl(self, *users):
        data = os.path.join(self.tmp, "data")
        for name, password in users:
            self.add_user(data, name, password)
        s = self.start("--kafka-sasl-mechanisms", MECHANISMS, data_dir=data)
        s.wait_for("ready")
        return s

    def consume(self, bootstrap, topic, n, conf, timeout=30):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "sasl-reader",
                      "auto.offset.reset": "earliest", **conf})
        c.assign([TopicPartition(topic, 0, 0)])
        out, deadline = [], time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append(m.value().decode())
        c.close()
        return out

    def metric(self, s, pattern):
        _, page = s.http_get("/metrics")
        total = 0.0
        for line in page.splitlines():
            if line.startswith("riptide_kafka_sasl_authentications_total") and \
                    re.search(pattern, line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def test_real_clients_authenticate_with_scram_and_plain(self):
        s = self.start_sasl(("alice", "wonder land"), ("bob", "builder"))
        # The users file holds no password.
        with open(os.path.join(s.data_dir, "users.json")) as f:
            stored = f.read()
        self.assertNotIn("wonder land", stored)
        self.assertIn("SCRAM-SHA-512", json.loads(stored)["users"]["alice"])
        self.assertIn("SCRAM-SHA-256", json.loads(stored)["users"]["alice"])

        # kcat with SCRAM-SHA-512 (SaslHandshake v1, SaslAuthenticate).
        r = kcat(s.bootstrap, "-P", "-t", "orders", "-X", "security.protocol=SASL_PLAINTEXT",
                 "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice",
                 "-X", "sasl.password=wonder land", stdin="from-kcat\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        # confluent-kafka with SCRAM-SHA-256 and PLAIN.
        for mech in ("SCRAM-SHA-256", "PLAIN"):
            p = Producer({"bootstrap.servers": s.bootstrap, **sasl_conf(mech, "bob", "builder")})
            p.produce("orders", f"from-confluent-{mech}".encode())
            self.assertEqual(p.flush(30), 0)
        # kafka-python: SaslHandshake v0 and raw tokens, PLAIN and SCRAM.
        for mech in ("PLAIN", "SCRAM-SHA-512"):
            kp = KafkaProducer(bootstrap_servers=s.bootstrap, security_protocol="SASL_PLAINTEXT",
                               sasl_mechanism=mech, sasl_plain_username="alice",
                               sasl_plain_password="wonder land")
            kp.send("orders", f"from-kafka-python-{mech}".encode()).get(timeout=30)
            kp.close()
        # Sarama with its own SCRAM-SHA-512 client.
        r = subprocess.run([SARAMA, "produce", "-brokers", s.bootstrap, "-topic", "orders",
                            "-sasl-mechanism", "SCRAM-SHA-512", "-sasl-user", "alice",
                            "-sasl-password", "wonder land"],
                           input=json.dumps({"value": "ZnJvbS1zYXJhbWE="}) + "\n",
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

        got = self.consume(s.bootstrap, "orders", 7, sasl_conf("SCRAM-SHA-512", "alice",
                                                               "wonder land"))
        self.assertEqual(sorted(got), sorted([
            "from-kcat", "from-confluent-SCRAM-SHA-256", "from-confluent-PLAIN",
            "from-kafka-python-PLAIN", "from-kafka-python-SCRAM-SHA-512", "from-sarama"]))
        self.assertGreaterEqual(self.metric(s, 'result="success"'), 6)
        # The riptide client verbs, with the same librdkafka properties.
        r = subprocess.run([RIPTIDE, "topic", "list", "--brokers", s.bootstrap,
                            "-X", "security.protocol=SASL_PLAINTEXT",
                            "-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", "sasl.username=bob",
                            "-X", "sasl.password=builder"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("orders", r.stdout)

    def test_wrong_passwords_unknown_users_and_clients_without_sasl_are_refused(self):
        s = self.start_sasl(("alice", "right"))
        errors = []
        for conf in (sasl_conf("SCRAM-SHA-512", "alice", "wrong"),
                     sasl_conf("SCRAM-SHA-256", "mallory", "right"),
                     sasl_conf("PLAIN", "alice", "wrong")):
            seen = []
            p = Producer({"bootstrap.servers": s.bootstrap, **conf,
                          "error_cb": lambda e, seen=seen: seen.append(e)})
            p.produce("orders", b"must not land")
            self.assertEqual(p.flush(5), 1)  # never delivered
            self.assertTrue(any(e.code() == KafkaError._AUTHENTICATION for e in seen), seen)
            errors.extend(seen)
        with self.assertRaises(NoBrokersAvailable):
            KafkaProducer(bootstrap_servers=s.bootstrap, security_protocol="SASL_PLAINTEXT",
                          sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="alice",
                          sasl_plain_password="wrong", api_version_auto_timeout_ms=3000,
                          request_timeout_ms=3000)
        # A client without SASL gets nothing: kcat cannot even read the metadata.
        r = kcat(s.bootstrap, "-L", "-m", "3")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("before SASL authentication", s.log)
        self.assertIn("SASL SCRAM-SHA-512 authentication from /127.0.0.1 failed", s.log)
        self.assertGreaterEqual(self.metric(s, 'result="failure"'), 4)
        # Nothing was written.
        self.assertEqual(self.consume(s.bootstrap, "orders", 1,
                                      sasl_conf("PLAIN", "alice", "right"), timeout=3), [])

    def test_users_added_and_removed_while_running_take_effect_without_a_restart(self):
        s = self.start_sasl(("admin", "first"))
        conf = sasl_conf("SCRAM-SHA-256", "carol", "later")

        def can_log_in():
            r = kcat(s.bootstrap, "-L", "-m", "5", *sum((["-X", f"{k}={v}"]
                                                         for k, v in conf.items()), []))
            return r.returncode == 0

        self.assertFalse(can_log_in())
        self.add_user(s.data_dir, "carol", "later", "--mechanism", "SCRAM-SHA-256")
        deadline = time.monotonic() + 10
        while not can_log_in():
            self.assertLess(time.monotonic(), deadline, "the new user never got in")
            time.sleep(0.2)
        r = subprocess.run([*self.riptide_cmd(), "user", "list", "--data-dir", s.data_dir],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"carol\s+SCRAM-SHA-256 \(4096 iterations\)")
        self.assertRegex(r.stdout, r"admin\s+SCRAM-SHA-256 .*SCRAM-SHA-512")
        r = subprocess.run([*self.riptide_cmd(), "user", "delete", "carol", "--data-dir",
                            s.data_dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.monotonic() + 10
        while can_log_in():
            self.assertLess(time.monotonic(), deadline, "the deleted user still got in")
            time.sleep(0.2)

    def test_super_users_manage_scram_users_over_the_kafka_api(self):
        data = os.path.join(self.tmp, "data")
        self.add_user(data, "admin", "root-pw")
        self.add_user(data, "alice", "alice-pw")
        s = self.start("--kafka-sasl-mechanisms", MECHANISMS,
                       "--security-super-users", "User:ops; User:admin", data_dir=data)
        s.wait_for("ready")
        admin = RawClient(s.kafka_port, "admin", "root-pw")
        self.addCleanup(admin.sock.close)
        self.assertEqual(admin.auth_error, 0)
        # The client salts the password; the broker never sees it.
        salt = os.urandom(24)
        salted = hashlib.pbkdf2_hmac("sha512", b"dave-pw", salt, 8192)
        self.assertEqual(admin.alter(upsertions=[("dave", SHA512, 8192, salt, salted)]),
                         {"dave": (0, None)})
        with open(os.path.join(data, "users.json")) as f:
            self.assertNotIn("dave-pw", f.read())
        r = kcat(s.bootstrap, "-L", "-m", "5", "-X", "security.protocol=SASL_PLAINTEXT",
                 "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=dave",
                 "-X", "sasl.password=dave-pw")
        self.assertEqual(r.returncode, 0, r.stderr)
        error, users = admin.describe()
        self.assertEqual(error, 0)
        self.assertEqual(users, {"admin": (0, {SHA256: 4096, SHA512: 4096}),
                                 "alice": (0, {SHA256: 4096, SHA512: 4096}),
                                 "dave": (0, {SHA512: 8192})})
        self.assertEqual(admin.describe(["dave", "nobody"])[1],
                         {"dave": (0, {SHA512: 8192}), "nobody": (RESOURCE_NOT_FOUND, {})})
        self.assertEqual(admin.describe(["dave", "dave"])[1]["dave"][0], DUPLICATE_RESOURCE)
        # Refusals, each for its own user.
        got = admin.alter(deletions=[("nobody", SHA256), ("dup", SHA256)],
                          upsertions=[("weak", SHA256, 1000, salt, salted),
                                      ("odd", 7, 4096, salt, salted),
                                      ("dup", SHA256, 4096, salt, salted)])
        self.assertEqual({u: e for u, (e, _) in got.items()},
                         {"nobody": RESOURCE_NOT_FOUND, "dup": DUPLICATE_RESOURCE,
                          "weak": UNACCEPTABLE_CREDENTIAL, "odd": UNSUPPORTED_SASL_MECHANISM})
        self.assertIn("iterations", got["weak"][1])
        # Deleting dave's only credential removes dave: a new login fails.
        self.assertEqual(admin.alter(deletions=[("dave", SHA512)]), {"dave": (0, None)})
        self.assertNotIn("dave", admin.describe()[1])
        r = kcat(s.bootstrap, "-L", "-m", "5", "-X", "security.protocol=SASL_PLAINTEXT",
                 "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=dave",
                 "-X", "sasl.password=dave-pw")
        self.assertNotEqual(r.returncode, 0)
        # Another authenticated user is not a super user.
        alice = RawClient(s.kafka_port, "alice", "alice-pw")
        self.addCleanup(alice.sock.close)
        self.assertEqual(alice.auth_error, 0)
        self.assertEqual(alice.describe()[0], CLUSTER_AUTHORIZATION_FAILED)
        self.assertEqual(alice.alter(upsertions=[("alice", SHA256, 4096, salt, salted)]),
                         {"alice": (CLUSTER_AUTHORIZATION_FAILED,
                                    "only the super users (security.super_users) may alter "
                                    "SCRAM users")})
        self.assertIn("User:admin set the SCRAM-SHA-512 credentials of user dave", s.log)

    def test_hostile_connections_before_authentication_are_closed(self):
        s = self.start_sasl(("alice", "right"))

        def connect():
            c = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
            self.addCleanup(c.close)
            return c

        # Any API but ApiVersions and the SASL ones: closed at once.
        c = connect()
        c.sendall(wire.frame(METADATA, 1, 1, struct.pack(">i", -1)))
        self.assertTrue(wire.closed_by_peer(c))
        # A frame larger than 512 KiB before authentication: closed without reading it.
        c = connect()
        c.sendall(struct.pack(">i", 10 << 20) + b"\0" * 1024)
        self.assertTrue(wire.closed_by_peer(c))
        # SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE, then closed.
        c = connect()
        c.sendall(wire.frame(SASL_AUTHENTICATE, 1, 2, struct.pack(">i", 3) + b"abc"))
        body = wire.read_frame(c)
        self.assertEqual(struct.unpack(">ih", body[:6]), (2, ILLEGAL_SASL_STATE))
        self.assertTrue(wire.closed_by_peer(c))
        # An unknown mechanism: UNSUPPORTED_SASL_MECHANISM and the list offered.
        c = connect()
        c.sendall(wire.frame(SASL_HANDSHAKE, 1, 3, wire.string("GSSAPI")))
        body = wire.read_frame(c)
        self.assertEqual(struct.unpack(">ih", body[:6]), (3, UNSUPPORTED_SASL_MECHANISM))
        for m in MECHANISMS.split(","):
            self.assertIn(m.encode(), body)
        # A malformed SCRAM message: SASL_AUTHENTICATION_FAILED with a reason, then closed.
        c = connect()
        c.sendall(wire.frame(SASL_HANDSHAKE, 1, 4, wire.string("SCRAM-SHA-256")))
        self.assertEqual(struct.unpack(">ih", wire.read_frame(c)[:6]), (4, 0))
        c.sendall(wire.frame(SASL_AUTHENTICATE, 1, 5, struct.pack(">i", 7) + b"garbage"))
        body = wire.read_frame(c)
        self.assertEqual(struct.unpack(">ih", body[:6]), (5, SASL_AUTHENTICATION_FAILED))
        self.assertIn(b"malformed SCRAM", body)
        self.assertTrue(wire.closed_by_peer(c))
        # After a v0 handshake, a bad raw token closes the connection.
        c = connect()
        c.sendall(wire.frame(SASL_HANDSHAKE, 0, 6, wire.string("PLAIN")))
        self.assertEqual(struct.unpack(">ih", wire.read_frame(c)[:6]), (6, 0))
        c.sendall(struct.pack(">i", 5) + b"x\0y\0z")
        self.assertTrue(wire.closed_by_peer(c))
        # The broker still serves an authenticated client.
        p = Producer({"bootstrap.servers": s.bootstrap, **sasl_conf("PLAIN", "alice", "right")})
        p.produce("after", b"ok")
        self.assertEqual(p.flush(30), 0)

    def test_a_connection_that_never_authenticates_is_closed_in_time(self):
        data = os.path.join(self.tmp, "data")
        self.add_user(data, "alice", "right")
        s = self.start("--kafka-sasl-mechanisms", "PLAIN", "--kafka-request-timeout", "1s",
                       data_dir=data)
        s.wait_for("ready")
        c = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
        self.addCleanup(c.close)
        # ApiVersions now and then keeps the connection busy but not authenticated.
        started, closed = time.monotonic(), False
        for i in range(20):
            try:
                c.sendall(wire.frame(18, 0, i, b""))
                if wire.read_frame(c, timeout=2) is None:
                    closed = True
                    break
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            time.sleep(0.25)
        self.assertTrue(closed, "an unauthenticated connection stayed open")
        self.assertLess(time.monotonic() - started, 4.5)
        self.assertIn("not authenticated within 1000 ms", s.log)
        # One that authenticates in time is not cut off later.
        p = Producer({"bootstrap.servers": s.bootstrap, **sasl_conf("PLAIN", "alice", "right")})
        for _ in range(3):
            p.produce("slow", b"x")
            self.assertEqual(p.flush(10), 0)
            time.sleep(1)
        self.assertEqual(s.log.count("not authenticated within"), 1, s.log)

    def test_a_listener_without_sasl_refuses_the_handshake(self):
        s = self.start()
        s.wait_for("ready")
        c = socket.create_connection(("127.0.0.1", s.kafka_port), timeout=10)
        self.addCleanup(c.close)
        c.sendall(wire.frame(SASL_HANDSHAKE, 1, 1, wire.string("PLAIN")))
        body = wire.read_frame(c)
        self.assertEqual(struct.unpack(">ih", body[:6]), (1, ILLEGAL_SASL_STATE))
        r = kcat(s.bootstrap, "-L", "-m", "5", "-X", "security.protocol=SASL_PLAINTEXT",
                 "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=a", "-X", "sasl.password=b")
        self.assertNotEqual(r.returncode, 0)

    def test_http_basic_auth_with_the_scram_users(self):
        data = os.path.join(self.tmp, "data")
        self.add_user(data, "alice", "wonder land")
        s = self.start("--http-auth", "basic", data_dir=data)
        s.wait_for("ready")
        base = f"http://127.0.0.1:{s.http_port}"

        def curl(*args):
            r = subprocess.run(["curl", "-s", "-o", "/dev/stderr", "-w", "%{http_code}", *args],
                               capture_output=True, text=True, timeout=30)
            return int(r.stdout), r.stderr

        # No credentials, a wrong password, an unknown user, another scheme: 401 with JSON.
        for extra in ([], ["-u", "alice:wrong"], ["-u", "bob:wonder land"],
                      ["-H", "Authorization: Bearer abc"], ["-H", "Authorization: Basic !!"]):
            status, body = curl(*extra, f"{base}/v1/topics")
            self.assertEqual(status, 401, (extra, body))
            self.assertEqual(json.loads(body)["error"], "unauthorized")
        r = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null", f"{base}/v1/topics"],
                           capture_output=True, text=True, timeout=30)
        self.assertIn('www-authenticate: basic realm="riptide"', r.stdout.lower())
        # Refused at the headers: no 100 Continue, no body read, and the connection closes.
        c = socket.create_connection(("127.0.0.1", s.http_port), timeout=10)
        self.addCleanup(c.close)
        c.sendall(b"POST /v1/topics/orders/records HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 8000000\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        reply = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                break
            reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 401"), reply[:200])
        self.assertNotIn(b"100 Continue", reply)
        # Health checks stay open for load balancers; the rest needs the user.
        self.assertEqual(curl(f"{base}/healthz")[0], 200)
        self.assertEqual(curl(f"{base}/metrics")[0], 401)
        status, body = curl("-u", "alice:wonder land", "-X", "POST", "-H",
                            "Content-Type: application/json", "-d",
                            '{"name": "orders", "partitions": 2}', f"{base}/v1/topics")
        self.assertEqual(status, 201, body)
        status, body = curl("-u", "alice:wonder land", "-X", "POST", "-H",
                            "Content-Type: application/json", "-d",
                            '{"records": [{"value": "from-http"}]}',
                            f"{base}/v1/topics/orders/records")
        self.assertEqual(status, 200, body)
        # The principal is the user, in the audit log.
        self.assertIn("created topic orders with 2 partition(s), for User:alice", s.log)
        status, page = curl("-u", "alice:wonder land", f"{base}/metrics")
        self.assertEqual(status, 200)
        self.assertRegex(page, r'riptide_http_refused_total\{limit="unauthenticated"\} ([7-9]|1\d)')
        # The Kafka listener is not affected by http.auth.
        self.assertEqual(kcat(s.bootstrap, "-L", "-m", "5").returncode, 0)

    def test_network_listeners_without_authentication_stop_serve_unless_allowed(self):
        s = self.start(listen="0.0.0.0:0")
        self.assertEqual(s.wait_exit(), 2)
        self.assertIn("refusing to start: the Kafka (kafka_listen 0.0.0.0:0) listener is "
                      "reachable from the network and authenticates no one", s.log)
        s = self.start("--kafka-sasl-mechanisms", "PLAIN", http_listen="0.0.0.0:0")
        self.assertEqual(s.wait_exit(), 2)
        self.assertIn("the HTTP (http_listen 0.0.0.0:0) listener", s.log)
        # Opted in: it starts and warns for each listener.
        s = self.start("--security-allow-unauthenticated-network", "true", listen="0.0.0.0:0")
        s.wait_for("ready")
        self.assertIn("the Kafka (kafka_listen 0.0.0.0:0) listener is reachable from the "
                      "network and authenticates no one", s.log)
        s.stop()
        # Both listeners authenticating: no opt-in needed.
        s = self.start("--http-auth", "basic", "--kafka-sasl-mechanisms", "SCRAM-SHA-512",
                       listen="0.0.0.0:0", http_listen="0.0.0.0:0",
                       data_dir=os.path.join(self.tmp, "d3"))
        s.wait_for("ready")
        self.assertNotIn("authenticates no one", s.log)

    def test_bad_configuration_and_cli_use_name_what_to_fix(self):
        s = self.start("--kafka-sasl-mechanisms", "SCRAM-SHA-512,GSSAPI")
        self.assertEqual(s.wait_exit(), 2)
        self.assertIn('unknown SASL mechanism "GSSAPI" in kafka.sasl_mechanisms', s.log)
        data = os.path.join(self.tmp, "d2")
        r = subprocess.run([*self.riptide_cmd(), "user", "create", "x", "--data-dir", data],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--password-file", r.stderr)
        r = subprocess.run([*self.riptide_cmd(), "user", "create", "x", "--password", "p",
                            "--mechanism", "SCRAM-SHA-1", "--data-dir", data],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("SCRAM-SHA-256, SCRAM-SHA-512 or all", r.stderr)
        r = subprocess.run([*self.riptide_cmd(), "user", "delete", "nobody", "--data-dir", data],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no user 'nobody'", r.stderr)
        # A damaged users file stops the broker with the file named.
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(data, "users.json"), "w") as f:
            f.write("{oops")
        s = self.start("--kafka-sasl-mechanisms", "PLAIN", data_dir=data)
        self.assertEqual(s.wait_exit(), 1)
        self.assertIn("users.json: not a JSON object", s.log)


if __name__ == "__main__":
    unittest.main()
