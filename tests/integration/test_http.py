"""The HTTP API (/v1) end to end: records in and out in every format, the same bytes as
Kafka clients see, topic admin, every refusal with its documented status (and nothing
stored), keep-alive, gzip, CORS, the OpenAPI document, Server-Sent Events and WebSocket
streams (credit, slow clients), and a real browser (headless Chromium) subscribing over
both.

Every request goes through `Api.call`, which refuses a route missing from ROUTES_USED, so
the OpenAPI test checks every route these tests use."""

import asyncio
import base64
import functools
import gzip
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest
import urllib.request
import zlib

import websockets
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from harness import ServerTest
from test_kafka import consume_all
from test_metrics import metric

# (method, pattern) of every route the tests call; test_openapi_lists_every_route checks
# the document lists each.
ROUTES_USED = [
    ("GET", "/v1/topics"), ("POST", "/v1/topics"),
    ("GET", "/v1/topics/{topic}"), ("DELETE", "/v1/topics/{topic}"),
    ("GET", "/v1/topics/{topic}/configs"), ("PATCH", "/v1/topics/{topic}/configs"),
    ("GET", "/v1/topics/{topic}/partitions"), ("POST", "/v1/topics/{topic}/partitions"),
    ("GET", "/v1/topics/{topic}/partitions/{partition}"),
    ("POST", "/v1/topics/{topic}/records"),
    ("GET", "/v1/topics/{topic}/partitions/{partition}/records"),
    ("GET", "/v1/topics/{topic}/events"), ("GET", "/v1/topics/{topic}/ws"),
    ("GET", "/v1/cluster"), ("GET", "/v1/openapi.json"),
    ("GET", "/metrics"), ("GET", "/healthz"), ("GET", "/readyz"),
]


def route_of(method, path):
    path = path.split("?", 1)[0]
    for m, pattern in ROUTES_USED:
        if m == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", pattern), path):
            return pattern
    return None


def b64(data):
    return base64.b64encode(data).decode()


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Api:
    """Requests to the broker's HTTP listener, one connection each."""

    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, headers=None, routed=True):
        if routed:
            assert route_of(method, path), f"{method} {path}: add its route to ROUTES_USED"
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.call("POST", path, body, **kw)

    def create_topic(self, name, partitions=1):
        r = self.post("/v1/topics", {"name": name, "partitions": partitions})
        assert r.status == 201, r
        return r

    def produce(self, topic, records, fmt=None):
        body = {"records": records}
        if fmt:
            body["format"] = fmt
        r = self.post(f"/v1/topics/{topic}/records", body)
        assert r.status == 200, r
        return r.json["offsets"]

    def read(self, topic, partition, query=""):
        r = self.get(f"/v1/topics/{topic}/partitions/{partition}/records?{query}")
        assert r.status == 200, r
        return r.json

    def high_watermark(self, topic, partition=0):
        r = self.get(f"/v1/topics/{topic}/partitions/{partition}")
        assert r.status == 200, r
        return r.json["high_watermark"]


def read_response(f):
    """(status, headers, body) of one HTTP/1.1 response read from the binary file `f`."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split(b" ", 2)[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, v = h.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", 0))
    return status, headers, f.read(n) if n else b""


def raw_exchange(port, data, timeout=10):
    """Sends `data` on a fresh connection; the first response, or None if the server
    closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed early: whatever answer it sent is still readable
        try:
            return read_response(s.makefile("rb"))
        except ConnectionResetError:
            return None


def kafka_produce(bootstrap, topic, records, **conf):
    """Produces dicts of key/value/headers/partition; the delivered messages, in order."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **conf})
    delivered = []

    def on_delivery(err, msg):
        assert err is None, err
        delivered.append(msg)

    for r in records:
        p.produce(topic, value=r.get("value"), key=r.get("key"), headers=r.get("headers"),
                  partition=r.get("partition", -1), on_delivery=on_delivery)
    assert p.flush(30) == 0
    return delivered


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class SseClient:
    """A Server-Sent Events subscription on a raw socket, parsed as EventSource would."""

    def __init__(self, port, path, headers=None, timeout=15):
        assert route_of("GET", path)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          f"Accept: text/event-stream\r\n{extra}\r\n".encode())
        self.f = self.sock.makefile("rb")
        line = self.f.readline()
        self.status = int(line.split(b" ", 2)[1])
        self.headers = {}
        while (h := self.f.readline()) not in (b"\r\n", b""):
            k, v = h.decode().split(":", 1)
            self.headers[k.strip().lower()] = v.strip()

    def next_event(self):
        """{"id", "event", "data"} of the next event (comments skipped)."""
        ev, data = {}, []
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("the server closed the stream")
            line = line.decode().rstrip("\n")
            if not line:
                if data:
                    ev["data"] = "\n".join(data)
                    return ev
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                ev[name] = value

    def records(self, n):
        """Reads events until `n` records came; [(event id, record)]."""
        out = []
        while len(out) < n:
            ev = self.next_event()
            assert ev.get("event") == "records", ev
            out.extend((ev["id"], r) for r in json.loads(ev["data"])["records"])
        return out

    def close(self):
        self.f.close()
        self.sock.close()


async def ws_receive(ws, timeout):
    """Records of the messages that arrive within `timeout` seconds."""
    out = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            break
        out.extend(json.loads(msg)["records"])
    return out


async def ws_receive_n(ws, n, timeout=20):
    out = []
    while len(out) < n:
        out.extend(json.loads(await asyncio.wait_for(ws.recv(), timeout))["records"])
    return out


def raw_websocket(port, path, rcvbuf=None):
    """A WebSocket opened by hand on a socket that the test may leave unread."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    key = b64(os.urandom(16))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
              f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def websocket_close_code(data):
    """The status code of the close frame among the server's frames in `data`, or None."""
    i = 0
    while i + 2 <= len(data):
        opcode, n, j = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if n == 126:
            n, j = int.from_bytes(data[j:j + 2], "big"), j + 2
        elif n == 127:
            n, j = int.from_bytes(data[j:j + 8], "big"), j + 8
        if opcode == 8 and j + 2 <= len(data):
            return int.from_bytes(data[j:j + 2], "big")
        i = j + n
    return None


class HttpTest(ServerTest):
    def start_http(self, *args, env=None):
        s = self.start(*args, env=env)
        s.wait_for("ready")
        self.server = s
        self.api = Api(s.http_port)
        return s


class RecordsTest(HttpTest):
    def test_produce_and_read_back_in_json_text_and_binary_formats(self):
        self.start_http()
        api = self.api
        api.create_topic("formats")
        self.assertEqual(api.produce("formats", [
            {"key": "k1", "value": {"a": [1, 2], "b": None}, "headers": {"trace": "t-1"},
             "timestamp": 1700000000000},
            {"key": None, "value": "just text"},
            {"value": 42},
        ]), [{"partition": 0, "offset": 0}, {"partition": 0, "offset": 1},
             {"partition": 0, "offset": 2}])
        api.produce("formats", [
            {"key": "tk", "value": "héllo wörld",
             "headers": [{"key": "h", "value": "x"}, {"key": "empty", "value": None}]},
        ], fmt="text")
        blob = bytes(range(256))
        api.produce("formats", [
            {"key": b64(b"\x00\x01"), "value": b64(blob), "headers": {"bin": b64(b"\xff\xfe")}},
            {"key": None, "value": None},
        ], fmt="binary")

        got = api.read("formats", 0, "offset=0&format=json")
        self.assertEqual(got["next_offset"], 6)
        self.assertEqual(got["high_watermark"], 6)
        recs = got["records"]
        self.assertEqual([r["offset"] for r in recs], list(range(6)))
        self.assertEqual((recs[0]["key"], recs[0]["value"]), ("k1", {"a": [1, 2], "b": None}))
        self.assertEqual(recs[0]["headers"], [{"key": "trace", "value": "t-1"}])
        self.assertEqual(recs[0]["timestamp"], 1700000000000)
        self.assertEqual((recs[1]["key"], recs[1]["value"]), (None, "just text"))
        self.assertEqual(recs[2]["value"], 42)
        self.assertEqual(recs[3]["value"], "héllo wörld")
        # Bytes that are not UTF-8 come back in base64, and say so.
        self.assertEqual((recs[4]["value"], recs[4]["value_encoding"]), (b64(blob), "base64"))
        self.assertEqual(recs[4]["key"], "\x00\x01")
        self.assertEqual((recs[5]["key"], recs[5]["value"]), (None, None))

        text = api.read("formats", 0, "offset=3&max_records=1&format=text")
        self.assertEqual(text["next_offset"], 4)
        [r] = text["records"]
        self.assertEqual((r["key"], r["value"]), ("tk", "héllo wörld"))
        self.assertEqual(r["headers"],
                         [{"key": "h", "value": "x"}, {"key": "empty", "value": None}])

        binary = api.read("formats", 0, "offset=4&format=binary")["records"]
        self.assertEqual(len(binary), 2)
        self.assertEqual(binary[0]["key"], b64(b"\x00\x01"))
        self.assertEqual(binary[0]["value"], b64(blob))
        self.assertEqual(binary[0]["headers"], [{"key": "bin", "value": b64(b"\xff\xfe")}])
        self.assertNotIn("value_encoding", binary[0])
        self.assertEqual((binary[1]["key"], binary[1]["value"]), (None, None))

    def test_records_produced_over_http_read_by_kafka_client_with_same_bytes(self):
        s = self.start_http()
        self.api.create_topic("to-kafka")
        blob = bytes(range(255, -1, -1))
        self.api.produce("to-kafka", [
            {"key": "order-1", "value": "créé", "headers": {"source": "http"},
             "timestamp": 1700000000123},
            {"key": None, "value": "no key"},
        ], fmt="text")
        self.api.produce("to-kafka", [
            {"key": b64(b"\xc3\x28"), "value": b64(blob),
             "headers": [{"key": "raw", "value": b64(b"\x00\x80")}]},
        ], fmt="binary")
        self.api.produce("to-kafka", [{"key": "j", "value": {"n": 1}}])
        msgs = consume_all(s.bootstrap, "to-kafka", 1, 4)
        self.assertEqual([(m.key(), m.value(), m.headers()) for m in msgs], [
            (b"order-1", "créé".encode(), [("source", b"http")]),
            (None, b"no key", None),
            (b"\xc3\x28", blob, [("raw", b"\x00\x80")]),
            (b"j", b'{"n":1}', None),
        ])
        self.assertEqual(msgs[0].timestamp()[1], 1700000000123)

    def test_records_produced_by_kafka_client_read_over_http(self):
        s = self.start_http()
        self.api.create_topic("from-kafka")
        kafka_produce(s.bootstrap, "from-kafka", [
            {"key": b"user-7", "value": b"plain text", "headers": [("h", b"v")]},
            {"key": b"k\xff", "value": b"\x00\xfe\xff", "headers": [("bin", b"\x80\x81")]},
            {"key": b"tomb", "value": None},
            {"value": b'{"json":true}'},
        ])
        recs = self.api.read("from-kafka", 0, "format=binary")["records"]
        self.assertEqual([(r["key"], r["value"]) for r in recs], [
            (b64(b"user-7"), b64(b"plain text")),
            (b64(b"k\xff"), b64(b"\x00\xfe\xff")),
            (b64(b"tomb"), None),
            (None, b64(b'{"json":true}')),
        ])
        self.assertEqual(recs[1]["headers"], [{"key": "bin", "value": b64(b"\x80\x81")}])
        recs = self.api.read("from-kafka", 0, "format=json")["records"]
        self.assertEqual((recs[0]["key"], recs[0]["value"]), ("user-7", "plain text"))
        self.assertEqual(recs[0]["headers"], [{"key": "h", "value": "v"}])
        self.assertEqual((recs[1]["value"], recs[1]["value_encoding"]),
                         (b64(b"\x00\xfe\xff"), "base64"))
        self.assertEqual(recs[3]["value"], {"json": True})

    def test_keyed_http_record_lands_in_the_java_clients_partition(self):
        s = self.start_http()
        self.api.create_topic("keyed", partitions=6)
        keys = [f"customer-{i}" for i in range(40)] + ["", "ünïcode", "x" * 300]
        by_http = [o["partition"] for o in self.api.produce(
            "keyed", [{"key": k, "value": "h"} for k in keys], fmt="text")]
        # json format: a key that is a JSON string is hashed as its text too.
        by_http_json = [o["partition"] for o in self.api.produce(
            "keyed", [{"key": k, "value": {"v": 1}} for k in keys])]
        delivered = kafka_produce(s.bootstrap, "keyed",
                                  [{"key": k.encode(), "value": b"k"} for k in keys],
                                  partitioner="murmur2_random")
        partition_of = {m.key().decode(): m.partition() for m in delivered}
        by_kafka = [partition_of[k] for k in keys]
        self.assertEqual(len(set(by_kafka)), 6)  # the keys do spread: the check means something
        self.assertEqual(by_http, by_kafka)
        self.assertEqual(by_http_json, by_kafka)

    def test_long_poll_returns_the_record_produced_while_waiting(self):
        s = self.start_http()
        self.api.create_topic("poll")
        result = {}

        def wait_for_record():
            result["reply"] = self.api.get(
                "/v1/topics/poll/partitions/0/records?offset=0&timeout_ms=20000&format=text")

        waiting = threading.Thread(target=wait_for_record)
        waiting.start()
        time.sleep(0.3)
        kafka_produce(s.bootstrap, "poll", [{"key": b"k", "value": b"arrived"}])
        waiting.join(25)
        self.assertFalse(waiting.is_alive(), "the long poll did not return")
        reply = result["reply"]
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual([r["value"] for r in reply.json["records"]], ["arrived"])
        self.assertEqual(reply.json["next_offset"], 1)

        # Nothing new: an empty answer once the wait is over.
        started = time.monotonic()
        empty = self.api.read("poll", 0, "offset=1&timeout_ms=400")
        self.assertGreaterEqual(time.monotonic() - started, 0.35)
        self.assertEqual(empty["records"], [])
        self.assertEqual(empty["next_offset"], 1)
        # Longer than http.max_wait (30 s) is refused, naming the parameter.
        r = self.api.get("/v1/topics/poll/partitions/0/records?timeout_ms=999999")
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_parameter"), r)
        self.assertIn("timeout_ms", r.json["message"])


class TopicAdminTest(HttpTest):
    def kafka_partitions(self, topic):
        md = AdminClient({"bootstrap.servers": self.server.bootstrap}).list_topics(timeout=10)
        t = md.topics.get(topic)
        return None if t is None or t.error is not None else len(t.partitions)

    def test_create_duplicate_and_invalid_topics(self):
        self.start_http()
        r = self.api.post("/v1/topics", {"name": "orders", "partitions": 3})
        self.assertEqual((r.status, r.json), (201, {"name": "orders", "partitions": 3}))
        self.assertEqual(self.kafka_partitions("orders"), 3)

        r = self.api.post("/v1/topics", {"name": "orders", "partitions": 3})
        self.assertEqual((r.status, r.json["error"]), (409, "topic_exists"), r)

        for bad in (0, -1, "three", 2_000_000):
            r = self.api.post("/v1/topics", {"name": "bad-parts", "partitions": bad})
            self.assertEqual((r.status, r.json["error"]), (400, "invalid_field"), r)
            self.assertIn("'partitions'", r.json["message"])
            self.assertTrue(r.json["request_id"])
        r = self.api.post("/v1/topics", {"name": "no spaces/allowed"})
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_topic_name"), r)
        r = self.api.post("/v1/topics", {"partitions": 1})
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_field"), r)
        self.assertIn("'name'", r.json["message"])

        names = [t["name"] for t in self.api.get("/v1/topics").json["topics"]]
        self.assertEqual(names, ["orders"])
        self.assertIsNone(self.kafka_partitions("bad-parts"))

    def test_describe_and_configs(self):
        s = self.start_http()
        self.api.create_topic("described", partitions=2)
        self.api.produce("described", [{"value": "a", "partition": 1},
                                       {"value": "b", "partition": 1}])
        d = self.api.get("/v1/topics/described").json
        self.assertEqual(d["partition_count"], 2)
        self.assertEqual(d["partitions"], [
            {"partition": 0, "earliest_offset": 0, "high_watermark": 0},
            {"partition": 1, "earliest_offset": 0, "high_watermark": 2}])
        self.assertEqual(d["overrides"], {})

        def retention():
            r = self.api.get("/v1/topics/described/configs")
            self.assertEqual(r.status, 200, r)
            [c] = [c for c in r.json["configs"] if c["name"] == "retention.ms"]
            return c["value"], c["source"]

        self.assertEqual(retention(), ("604800000", "default"))
        r = self.api.call("PATCH", "/v1/topics/described/configs",
                          {"configs": {"retention.ms": "3600000"}})
        self.assertEqual(r.status, 200, r)
        self.assertIn({"name": "retention.ms", "value": "3600000", "source": "topic"},
                      r.json["configs"])
        self.assertEqual(retention(), ("3600000", "topic"))
        self.assertEqual(self.api.get("/v1/topics/described").json["overrides"],
                         {"retention.ms": "3600000"})
        # A Kafka client sees the same config.
        res = ConfigResource(ConfigResource.Type.TOPIC, "described")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        entries = admin.describe_configs([res])[res].result(timeout=10)
        self.assertEqual(entries["retention.ms"].value, "3600000")

        r = self.api.call("PATCH", "/v1/topics/described/configs",
                          {"configs": {"retention.ms": "forever"}})
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_config"), r)
        self.assertIn("retention.ms", r.json["message"])
        self.assertEqual(retention(), ("3600000", "topic"))
        r = self.api.call("PATCH", "/v1/topics/described/configs",
                          {"configs": {"retention.ms": "1000", "retention.mss": "1"}})
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_config"), r)
        self.assertIn("'retention.mss'", r.json["message"])
        self.assertEqual(retention(), ("3600000", "topic"))  # nothing of a refused edit applies

        r = self.api.call("PATCH", "/v1/topics/described/configs",
                          {"configs": {"retention.ms": None}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(retention(), ("604800000", "default"))

    def test_add_partitions_then_delete(self):
        self.start_http()
        self.api.create_topic("growing", partitions=2)
        r = self.api.post("/v1/topics/growing/partitions", {"count": 5})
        self.assertEqual((r.status, r.json), (200, {"name": "growing", "partitions": 5}))
        parts = self.api.get("/v1/topics/growing/partitions").json["partitions"]
        self.assertEqual([p["partition"] for p in parts], [0, 1, 2, 3, 4])
        self.assertEqual(self.kafka_partitions("growing"), 5)
        self.assertEqual(self.api.produce("growing", [{"value": "new", "partition": 4}]),
                         [{"partition": 4, "offset": 0}])
        r = self.api.post("/v1/topics/growing/partitions", {"count": 3})
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_field"), r)
        self.assertIn("'count'", r.json["message"])

        r = self.api.call("DELETE", "/v1/topics/growing")
        self.assertEqual((r.status, r.body), (204, b""))
        r = self.api.get("/v1/topics/growing")
        self.assertEqual((r.status, r.json["error"]), (404, "unknown_topic"), r)
        r = self.api.call("DELETE", "/v1/topics/growing")
        self.assertEqual((r.status, r.json["error"]), (404, "unknown_topic"), r)
        self.assertIsNone(self.kafka_partitions("growing"))


class RefusalChecks:
    """Helpers for the refusal tests: the documented answer, and no harm done."""

    def assert_refused(self, reply, status, name):
        self.assertIsNotNone(reply, "the connection closed without an answer")
        if isinstance(reply, tuple):
            reply = Reply(*reply)
        self.assertEqual(reply.status, status, reply)
        body = reply.json
        self.assertEqual(body["error"], name, body)
        self.assertEqual(body["error_code"] // 100, status)
        self.assertTrue(body["message"])
        return body

    def assert_nothing_stored_and_still_serving(self):
        self.assertIsNone(self.server.proc.poll(), "the broker exited")
        self.assertEqual(self.api.high_watermark("guarded"), 0)
        c = Consumer({"bootstrap.servers": self.server.bootstrap, "group.id": "check"})
        try:
            self.assertEqual(c.get_watermark_offsets(TopicPartition("guarded", 0), timeout=10),
                             (0, 0))
        finally:
            c.close()
        n = self.api.high_watermark("other")
        self.assertEqual(self.api.produce("other", [{"value": "fine"}]),
                         [{"partition": 0, "offset": n}])
        self.assertEqual(self.api.get("/healthz").status, 200)


class BadInputTest(RefusalChecks, HttpTest):
    """Each refusal with its documented status and error name, nothing stored, and the
    broker still serving Kafka and HTTP clients afterwards."""

    def setUp(self):
        super().setUp()
        self.start_http("--http-max-body-bytes", "4KiB", "--http-request-timeout", "500ms")
        self.api.create_topic("guarded")
        self.api.create_topic("other")

    def post_raw(self, path, body, headers):
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def test_malformed_json(self):
        for body in (b'{"records": [{"value": "a"}', b"records=1", b"[1, 2]", b""):
            r = self.api.post("/v1/topics/guarded/records", body,
                              headers={"Content-Type": "application/json"})
            self.assert_refused(r, 400, "invalid_json")
        self.assert_nothing_stored_and_still_serving()

    def test_wrong_content_type(self):
        body = json.dumps({"records": [{"value": "a"}]}).encode()
        for ct in ("text/plain", "application/x-www-form-urlencoded"):
            r = self.api.post("/v1/topics/guarded/records", body, headers={"Content-Type": ct})
            body_json = self.assert_refused(r, 415, "unsupported_media_type")
            self.assertIn("application/json", body_json["message"])
        self.assert_nothing_stored_and_still_serving()

    def test_body_over_max_body_bytes(self):
        body = json.dumps({"records": [{"value": "x" * 5000}]}).encode()
        r = self.api.post("/v1/topics/guarded/records", body,
                          headers={"Content-Type": "application/json"})
        body_json = self.assert_refused(r, 413, "body_too_large")
        self.assertIn("http.max_body_bytes", body_json["message"])
        # Chunked, so the size is only known while reading.
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c)
                           for c in (body[:3000], body[3000:])) + b"0\r\n\r\n"
        r = raw_exchange(self.api.port, (
            b"POST /v1/topics/guarded/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n") + chunked)
        self.assert_refused(r, 413, "body_too_large")
        self.assert_nothing_stored_and_still_serving()

    def test_slow_loris_body(self):
        body = json.dumps({"records": [{"value": "slow"}]}).encode()
        request = self.post_raw("/v1/topics/guarded/records", body,
                                {"Content-Type": "application/json"})
        with socket.create_connection(("127.0.0.1", self.api.port), timeout=10) as s:
            s.sendall(request[:-10])  # the headers and most of the body, then nothing
            reply = read_response(s.makefile("rb"))
            self.assertEqual(s.recv(1), b"", "the connection stays open")
        self.assertIn("http.request_timeout",
                      self.assert_refused(reply, 408, "request_timeout")["message"])
        self.assert_nothing_stored_and_still_serving()

    def test_invalid_base64_in_binary_format(self):
        for value in ("not base64!", "YWJj=", "YW Jj"):
            r = self.api.post("/v1/topics/guarded/records", {
                "format": "binary", "records": [{"value": b64(b"ok")}, {"value": value}]})
            body = self.assert_refused(r, 400, "invalid_field")
            self.assertIn("records[1].value", body["message"])
        r = self.api.post("/v1/topics/guarded/records", {
            "format": "binary", "records": [{"key": "%%%", "value": b64(b"ok")}]})
        self.assertIn("records[0].key", self.assert_refused(r, 400, "invalid_field")["message"])
        self.assert_nothing_stored_and_still_serving()

    def test_unknown_topic(self):
        r = self.api.post("/v1/topics/missing/records", {"records": [{"value": "a"}]})
        self.assert_refused(r, 404, "unknown_topic")
        r = self.api.get("/v1/topics/missing/partitions/0/records")
        self.assert_refused(r, 404, "unknown_topic")
        self.assert_refused(self.api.get("/v1/topics/missing/events"), 404, "unknown_topic")
        self.assertEqual([t["name"] for t in self.api.get("/v1/topics").json["topics"]],
                         ["guarded", "other"])
        self.assert_nothing_stored_and_still_serving()

    def test_unknown_partition(self):
        r = self.api.post("/v1/topics/guarded/records",
                          {"records": [{"value": "a", "partition": 1}]})
        self.assertIn("records[0].partition",
                      self.assert_refused(r, 404, "unknown_partition")["message"])
        self.assert_refused(self.api.get("/v1/topics/guarded/partitions/1/records"), 404,
                            "unknown_partition")
        self.assert_refused(self.api.get("/v1/topics/guarded/partitions/1"), 404,
                            "unknown_partition")
        self.assert_nothing_stored_and_still_serving()

    def test_method_not_allowed(self):
        r = self.api.call("PUT", "/v1/topics/guarded/records", {"records": [{"value": "a"}]},
                          routed=False)
        self.assert_refused(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "POST")
        r = self.api.call("DELETE", "/v1/topics", routed=False)
        self.assert_refused(r, 405, "method_not_allowed")
        self.assertEqual(sorted(r.headers["allow"].split(", ")), ["GET", "POST"])
        self.assert_nothing_stored_and_still_serving()

    def test_oversized_headers(self):
        r = self.api.post("/v1/topics/guarded/records", {"records": [{"value": "a"}]},
                          headers={"X-Padding": "p" * 20000})
        self.assert_refused(r, 431, "headers_too_large")
        self.assert_nothing_stored_and_still_serving()


def gzip_bomb(mib):
    """A valid gzip stream of `mib` MiB of "0" in about a thousandth of that: the same
    flushed deflate block repeated, then a trailer with the CRC of the whole."""
    chunk = b"0" * (1 << 20)
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
    again = z.compress(chunk) + z.flush(zlib.Z_FULL_FLUSH)
    end = z.flush()[:-8]  # the last (empty) block, without the trailer of three chunks
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return first + again * (mib - 1) + end + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)


class GzipBombTest(RefusalChecks, HttpTest):
    def test_gzip_bomb(self):
        self.start_http()  # the default limits: 8 MiB of body, after decompression
        self.api.create_topic("guarded")
        self.api.create_topic("other")
        bomb = gzip_bomb(512)  # 512 MiB in about 0.5 MiB
        self.assertLess(len(bomb), 1 << 20)
        rss_before = rss_bytes(self.server.proc.pid)
        r = self.api.post("/v1/topics/guarded/records", bomb,
                          headers={"Content-Type": "application/json",
                                   "Content-Encoding": "gzip"})
        self.assertIn("http.max_body_bytes", self.assert_refused(r, 400, "bad_gzip")["message"])
        self.assertLess(rss_bytes(self.server.proc.pid) - rss_before, 64 << 20)
        self.assert_nothing_stored_and_still_serving()


class ConnectionTest(HttpTest):
    def test_pipelined_requests_get_responses_in_order(self):
        self.start_http()
        self.api.create_topic("piped")
        produce = json.dumps({"format": "text", "records": [{"value": "one"}]}).encode()
        with socket.create_connection(("127.0.0.1", self.api.port), timeout=10) as s:
            s.sendall(b"POST /v1/topics/piped/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"X-Request-Id: first\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s"
                      b"GET /v1/topics/piped/partitions/0/records?format=text HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\nX-Request-Id: second\r\n\r\n" % (len(produce), produce))
            f = s.makefile("rb")
            first, second = read_response(f), read_response(f)
            # Still open for a third request on the same connection.
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: third\r\n\r\n")
            third = read_response(f)
        self.assertEqual((first[0], first[1]["x-request-id"]), (200, "first"))
        self.assertEqual(json.loads(first[2])["offsets"], [{"partition": 0, "offset": 0}])
        self.assertEqual((second[0], second[1]["x-request-id"]), (200, "second"))
        self.assertEqual([r["value"] for r in json.loads(second[2])["records"]], ["one"])
        self.assertEqual((third[0], third[1]["x-request-id"], third[2]),
                         (200, "third", b'{"status":"ok"}'))

    def test_gzip_request_body_and_gzip_response(self):
        self.start_http()
        self.api.create_topic("zipped")
        records = [{"value": f"record {i} " + "z" * 100} for i in range(50)]
        body = gzip.compress(json.dumps({"format": "text", "records": records}).encode())
        r = self.api.post("/v1/topics/zipped/records", body,
                          headers={"Content-Type": "application/json",
                                   "Content-Encoding": "gzip"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["offsets"]), 50)

        r = self.api.get("/v1/topics/zipped/partitions/0/records?format=text",
                         headers={"Accept-Encoding": "gzip"})
        self.assertEqual((r.status, r.headers.get("content-encoding")), (200, "gzip"))
        self.assertEqual(int(r.headers["content-length"]), len(r.body))
        plain = json.loads(gzip.decompress(r.body))
        self.assertLess(len(r.body), len(json.dumps(plain)) / 4)
        self.assertEqual([x["value"] for x in plain["records"]], [x["value"] for x in records])
        # Without Accept-Encoding: the plain body.
        r = self.api.get("/v1/topics/zipped/partitions/0/records?format=text")
        self.assertNotIn("content-encoding", r.headers)
        self.assertEqual(len(r.json["records"]), 50)

    def test_cors_off_by_default(self):
        self.start_http()
        r = self.api.get("/v1/topics", headers={"Origin": "https://app.example"})
        self.assertEqual(r.status, 200)
        self.assertNotIn("access-control-allow-origin", r.headers)
        r = self.api.call("OPTIONS", "/v1/topics", routed=False,
                          headers={"Origin": "https://app.example",
                                   "Access-Control-Request-Method": "POST"})
        self.assertNotIn("access-control-allow-origin", r.headers)

    def test_cors_on_with_allowed_origins(self):
        self.start_http("--http-cors-origins", "https://app.example, https://other.example")
        self.api.create_topic("shared")
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"}
        r = self.api.call("OPTIONS", "/v1/topics/shared/records", headers=preflight, routed=False)
        self.assertIn(r.status, (200, 204), r)
        self.assertEqual(r.headers["access-control-allow-origin"], "https://app.example")
        self.assertIn("POST", r.headers["access-control-allow-methods"].split(", "))
        self.assertIn("content-type", r.headers["access-control-allow-headers"].lower())
        # A preflight for a path with several methods names each of them.
        r = self.api.call("OPTIONS", "/v1/topics", headers=preflight, routed=False)
        self.assertEqual(sorted(r.headers["access-control-allow-methods"].split(", ")),
                         ["GET", "POST"])

        r = self.api.post("/v1/topics/shared/records", {"records": [{"value": "x"}]},
                          headers={"Origin": "https://other.example"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["access-control-allow-origin"], "https://other.example")
        self.assertIn("x-request-id", r.headers["access-control-expose-headers"].lower())
        r = self.api.get("/v1/topics", headers={"Origin": "https://evil.example"})
        self.assertEqual(r.status, 200)
        self.assertNotIn("access-control-allow-origin", r.headers)

    def test_openapi_lists_every_route(self):
        s = self.start_http()
        r = self.api.get("/v1/openapi.json")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("application/json"))
        doc = r.json
        self.assertEqual(doc["openapi"], "3.0.3")
        documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
        self.assertEqual(set(ROUTES_USED) - documented, set())
        produce = doc["paths"]["/v1/topics/{topic}/records"]["post"]
        schema = produce["requestBody"]["content"]["application/json"]["schema"]
        self.assertEqual(schema["properties"]["format"]["enum"], ["json", "text", "binary"])
        read = doc["paths"]["/v1/topics/{topic}/partitions/{partition}/records"]["get"]
        self.assertLessEqual({"offset", "max_records", "max_bytes", "timeout_ms", "format"},
                             {p["name"] for p in read["parameters"]})
        # /v1/cluster names the cluster Kafka clients see.
        md = AdminClient({"bootstrap.servers": s.bootstrap}).list_topics(timeout=10)
        self.assertEqual(self.api.get("/v1/cluster").json["cluster_id"], md.cluster_id)
        self.assertEqual(self.api.get("/readyz").status, 200)
        self.assertEqual(self.api.get("/healthz").status, 200)


class StreamsTest(HttpTest):
    def sse(self, path, headers=None):
        c = SseClient(self.api.port, path, headers)
        self.addCleanup(c.close)
        return c

    def test_sse_pushes_records_produced_afterwards_by_a_kafka_client(self):
        s = self.start_http()
        self.api.create_topic("feed", partitions=2)
        c = self.sse("/v1/topics/feed/events?format=text")
        self.assertEqual(c.status, 200)
        self.assertTrue(c.headers["content-type"].startswith("text/event-stream"))
        sent = kafka_produce(s.bootstrap, "feed", [
            {"key": f"k{i}".encode(), "value": f"v{i}".encode(),
             "headers": [("n", str(i).encode())]} for i in range(10)])
        got = c.records(10)
        # Delivery reports carry no headers: each record's header is its index.
        self.assertEqual(sorted((r["partition"], r["offset"], r["key"], r["value"],
                                 r["headers"]) for _, r in got),
                         sorted((m.partition(), m.offset(), m.key().decode(), m.value().decode(),
                                 [{"key": "n", "value": m.key().decode()[1:]}]) for m in sent))
        for event_id, _ in got:
            self.assertRegex(event_id, r"^0:\d+,1:\d+$")

    def test_sse_resumes_with_last_event_id_without_repeats_or_gaps(self):
        s = self.start_http()
        self.api.create_topic("resumable", partitions=2)
        kafka_produce(s.bootstrap, "resumable",
                      [{"value": f"a{i}".encode(), "partition": i % 2} for i in range(20)])
        first = self.sse("/v1/topics/resumable/events?from=earliest&format=text")
        ev = first.next_event()  # one event, then the client goes away mid-stream
        seen = [(r["partition"], r["offset"]) for r in json.loads(ev["data"])["records"]]
        self.assertLess(len(seen), 20)
        first.close()
        kafka_produce(s.bootstrap, "resumable",
                      [{"value": f"b{i}".encode(), "partition": i % 2} for i in range(20)])

        again = self.sse("/v1/topics/resumable/events?format=text",
                         headers={"Last-Event-ID": ev["id"]})
        self.assertEqual(again.status, 200)
        seen += [(r["partition"], r["offset"]) for _, r in again.records(40 - len(seen))]
        self.assertEqual(sorted(seen), [(p, o) for p in (0, 1) for o in range(20)])

    def test_websocket_credit_flow(self):
        self.start_http()
        self.api.create_topic("credit")
        self.api.produce("credit", [{"value": f"r{i}"} for i in range(10)], fmt="text")

        async def run():
            url = f"ws://127.0.0.1:{self.api.port}/v1/topics/credit/ws?from=earliest&credit=3"
            async with websockets.connect(url) as ws:
                got = await ws_receive(ws, 1.0)
                self.assertEqual(len(got), 3)
                await ws.send(json.dumps({"credit": 4}))
                got += await ws_receive(ws, 1.0)
                self.assertEqual(len(got), 7)
                await ws.send(json.dumps({"credit": 100}))
                got += await ws_receive_n(ws, 3)
                self.api.produce("credit", [{"value": "later"}], fmt="text")
                got += await ws_receive_n(ws, 1)
                return got

        got = asyncio.run(run())
        self.assertEqual([r["offset"] for r in got], list(range(11)))
        self.assertEqual(got[-1]["value"], "later")

    def test_websocket_pushes_records_produced_by_a_kafka_client(self):
        s = self.start_http()
        self.api.create_topic("pushed", partitions=3)

        async def run():
            url = f"ws://127.0.0.1:{self.api.port}/v1/topics/pushed/ws?credit=1000&format=binary"
            async with websockets.connect(url) as ws:
                sent = await asyncio.to_thread(kafka_produce, s.bootstrap, "pushed", [
                    {"key": f"key-{i}".encode(), "value": bytes([i, 0, 255]),
                     "headers": [("i", bytes([i]))]} for i in range(12)])
                return sent, await ws_receive_n(ws, 12)

        sent, got = asyncio.run(run())
        self.assertEqual(
            sorted((r["partition"], r["offset"], r["key"], r["value"], r["headers"]) for r in got),
            sorted((m.partition(), m.offset(), b64(m.key()), b64(m.value()),
                    [{"key": "i", "value": b64(m.value()[:1])}]) for m in sent))

    def test_many_subscribers_at_one_position_each_get_their_records(self):
        # Subscribers at the same position share one read and one encoding per format;
        # each still gets what its own format, credit and start say.
        s = self.start_http()
        self.api.create_topic("shared-feed", partitions=2)
        kafka_produce(s.bootstrap, "shared-feed",
                      [{"value": f"old{i}".encode(), "partition": i % 2} for i in range(4)])
        base = f"ws://127.0.0.1:{self.api.port}/v1/topics/shared-feed/ws"
        n = 20

        async def run():
            subs = []
            for i in range(40):
                fmt = "binary" if i % 4 == 0 else "text"
                ws = await websockets.connect(f"{base}?credit=1000&format={fmt}")
                subs.append((fmt, n, ws, False))
            # One with little credit at a time, one from the start.
            ws = await websockets.connect(f"{base}?credit=2&format=text")
            subs.append(("text", n, ws, True))
            ws = await websockets.connect(f"{base}?from=earliest&credit=1000&format=text")
            subs.append(("text", n + 4, ws, False))
            await asyncio.sleep(0.5)  # every subscriber is at the end of both partitions
            await asyncio.to_thread(kafka_produce, s.bootstrap, "shared-feed", [
                {"value": f"new{i}".encode(), "partition": i % 2} for i in range(n)])

            async def receive(fmt, want, ws, regrant):
                got = []
                while len(got) < want:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    got += msg["records"]
                    self.assertLessEqual(len(msg["records"]), 2 if regrant else 1000)
                    if regrant:
                        await ws.send(json.dumps({"credit": len(msg["records"])}))
                await ws.close()
                return fmt, got

            return await asyncio.gather(*(receive(*sub) for sub in subs))

        results = asyncio.run(run())
        expect_new = sorted((i % 2, 2 + i // 2, f"new{i}") for i in range(n))
        expect_old = sorted((i % 2, i // 2, f"old{i}") for i in range(4))
        for i, (fmt, got) in enumerate(results):
            values = [base64.b64decode(r["value"]).decode() if fmt == "binary" else r["value"]
                      for r in got]
            seen = sorted((r["partition"], r["offset"], v) for r, v in zip(got, values))
            self.assertEqual(seen, sorted(expect_old + expect_new) if i == len(results) - 1
                             else expect_new, i)
            for p in (0, 1):  # in order within each partition
                offsets = [r["offset"] for r in got if r["partition"] == p]
                self.assertEqual(offsets, sorted(offsets))

    def test_websocket_bad_client_message_closes_with_1008(self):
        self.start_http()
        self.api.create_topic("strict")

        async def close_code(message):
            url = f"ws://127.0.0.1:{self.api.port}/v1/topics/strict/ws"
            async with websockets.connect(url) as ws:
                await ws.send(message)
                try:
                    await asyncio.wait_for(ws.recv(), 10)
                except websockets.ConnectionClosed:
                    pass
                return ws.close_code, ws.close_reason

        for message in ("not json", '{"credit": -1}', '{"credits": 5}', b"\x01\x02"):
            code, reason = asyncio.run(close_code(message))
            self.assertEqual(code, 1008, (message, reason))
            self.assertTrue(reason)
        # Over plain HTTP the path asks for the upgrade.
        r = self.api.get("/v1/topics/strict/ws")
        self.assertEqual((r.status, r.json["error"]), (426, "upgrade_required"))
        self.assertEqual(self.api.get("/healthz").status, 200)

    def test_subscribers_catch_up_on_a_backlog(self):
        s = self.start_http()
        self.api.create_topic("backlog")
        n = 16000  # about 16 MiB: many times what a client may leave unread
        kafka_produce(s.bootstrap, "backlog", [{"value": b"%06d" % i + b"b" * 1000}
                                               for i in range(n)])

        async def ws_read():
            url = (f"ws://127.0.0.1:{self.api.port}/v1/topics/backlog/ws"
                   f"?from=earliest&credit=1000000&format=text")
            async with websockets.connect(url, max_size=None) as ws:
                return await ws_receive_n(ws, n)

        got = asyncio.run(ws_read())
        self.assertEqual([r["offset"] for r in got], list(range(n)))
        got = self.sse("/v1/topics/backlog/events?from=earliest&format=text").records(n)
        self.assertEqual([r["offset"] for _, r in got], list(range(n)))
        self.assertEqual(metric(self.api.get("/metrics").body.decode(),
                                "riptide_http_stream_slow_disconnects_total",
                                kind="websocket") or 0, 0)

    def test_websocket_client_that_stops_reading_is_disconnected(self):
        # Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default)
        # before it is reused, which RSS would count: keep it small so that RSS still says
        # what the broker holds.
        sanitized = os.environ.get("TEST_SANITIZED") == "1"
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"}
        s = self.start_http("--http-write-timeout", "2s", env=env if sanitized else None)
        self.api.create_topic("burst")
        base_rss = rss_bytes(s.proc.pid)
        path = "/v1/topics/burst/ws?credit=1000000000&format=text"
        stalled = raw_websocket(self.api.port, path, rcvbuf=32 * 1024)
        self.addCleanup(stalled.close)
        n, size = 30000, 1000  # about 30 MiB of records

        async def run():
            async with websockets.connect(f"ws://127.0.0.1:{self.api.port}{path}",
                                          max_size=None) as ws:
                def produce():
                    p = Producer({"bootstrap.servers": s.bootstrap, "linger.ms": 5})
                    for i in range(n):
                        p.produce("burst", b"%06d" % i + b"s" * (size - 6))
                        if i % 1000 == 999:
                            p.poll(0)
                            time.sleep(0.05)  # ~20 MB/s: a reading client keeps up
                    assert p.flush(30) == 0

                producing = asyncio.create_task(asyncio.to_thread(produce))
                got = await ws_receive_n(ws, n, timeout=30)
                await producing
                return got

        got = asyncio.run(run())
        self.assertEqual([r["offset"] for r in got], list(range(n)))

        def slow_disconnects():
            text = self.api.get("/metrics").body.decode()
            return metric(text, "riptide_http_stream_slow_disconnects_total", kind="websocket")

        wait_until(lambda: slow_disconnects() == 1, 15, "the stalled client's disconnection")
        # The broker held nothing like the 30 MiB the stalled client did not read (3x the
        # allowance under the sanitizers: their redzones and metadata, as in test_hostile).
        self.assertLess(rss_bytes(s.proc.pid) - base_rss, (16 << 20) * (3 if sanitized else 1))
        # What reached the stalled client ends with a close frame saying why: 1008.
        stalled.settimeout(5)
        data = b""
        try:
            while chunk := stalled.recv(1 << 20):
                data += chunk
        except ConnectionResetError:
            pass
        self.assertLess(len(data), 4 << 20)
        self.assertEqual(websocket_close_code(data), 1008)


class BrowserTest(HttpTest):
    PAGE = """<!doctype html>
<html><body><ol id="ws"></ol><ol id="sse"></ol><ul id="status"></ul>
<script>
const q = new URLSearchParams(location.search);
const base = q.get("broker"), topic = q.get("topic");
function add(list, text) {
  const li = document.createElement("li");
  li.textContent = text;
  document.getElementById(list).appendChild(li);
}
const ws = new WebSocket(base.replace("http:", "ws:") + "/v1/topics/" + topic +
                         "/ws?from=earliest&credit=100&format=text");
ws.onopen = () => add("status", "ws-open");
ws.onmessage = (m) => { for (const r of JSON.parse(m.data).records) add("ws", r.value); };
const es = new EventSource(base + "/v1/topics/" + topic + "/events?from=earliest&format=text");
es.onopen = () => add("status", "sse-open");
es.addEventListener("records", (e) => {
  for (const r of JSON.parse(e.data).records) add("sse", r.value);
});
</script></body></html>
"""

    def serve_page(self):
        root = os.path.join(self.tmp, "www")
        os.makedirs(root)
        with open(os.path.join(root, "page.html"), "w") as f:
            f.write(self.PAGE)

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                functools.partial(Quiet, directory=root))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        return httpd.server_address[1]

    def start_chromium(self, url):
        chromium = shutil.which("chromium")
        self.assertIsNotNone(chromium, "chromium is not installed (scripts/install-deps)")
        proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--remote-debugging-port=0",
             f"--user-data-dir={os.path.join(self.tmp, 'chromium')}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True)

        lines, found = [], threading.Event()

        def read_log():  # chromium logs to stderr until it exits: keep draining it
            for line in proc.stderr:
                lines.append(line)
                if "DevTools listening on" in line:
                    found.set()

        reader = threading.Thread(target=read_log, daemon=True)
        reader.start()

        def stop():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            reader.join(5)
            proc.stderr.close()

        self.addCleanup(stop)
        if not found.wait(30):
            self.fail("chromium did not start:\n" + "".join(lines[-20:]))
        m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", "".join(lines))
        self.assertIsNotNone(m, "".join(lines[-20:]))
        return int(m.group(1))

    def test_browser_receives_records_over_websocket_and_sse(self):
        s = self.start_http("--http-cors-origins", "*")
        self.api.create_topic("browser", partitions=1)
        kafka_produce(s.bootstrap, "browser", [{"value": b"before-1"}, {"value": b"before-2"}])
        page_port = self.serve_page()
        url = (f"http://127.0.0.1:{page_port}/page.html"
               f"?broker=http://127.0.0.1:{self.api.port}&topic=browser")
        devtools = self.start_chromium(url)

        def page_target():
            with urllib.request.urlopen(f"http://127.0.0.1:{devtools}/json/list",
                                        timeout=10) as r:
                pages = [t for t in json.load(r) if t["type"] == "page" and "page.html" in t["url"]]
            return pages[0]["webSocketDebuggerUrl"] if pages else None

        wait_until(page_target, 20, "chromium to open the page")

        lists_js = ("JSON.stringify(['ws', 'sse', 'status'].map(id => Array.from("
                    "document.querySelectorAll('#' + id + ' li'), li => li.textContent)))")

        async def dom_lists(cdp):
            await cdp.send(json.dumps({
                "id": 1, "method": "Runtime.evaluate",
                "params": {"returnByValue": True, "expression": lists_js}}))
            while True:
                reply = json.loads(await cdp.recv())
                if reply.get("id") == 1:
                    value = reply["result"]["result"].get("value")
                    return json.loads(value) if value else [[], [], []]

        async def watch(until, timeout=20):
            async with websockets.connect(page_target(), max_size=None) as cdp:
                deadline = time.monotonic() + timeout
                while True:
                    lists = await dom_lists(cdp)
                    if until(lists) or time.monotonic() > deadline:
                        return lists
                    await asyncio.sleep(0.1)

        lists = asyncio.run(watch(lambda l: {"ws-open", "sse-open"} <= set(l[2])
                                  and len(l[0]) >= 2 and len(l[1]) >= 2))
        self.assertEqual(sorted(lists[2]), ["sse-open", "ws-open"], lists)
        kafka_produce(s.bootstrap, "browser", [{"value": b"after-1"}, {"value": b"after-2"},
                                               {"value": "après-3".encode()}])
        expected = ["before-1", "before-2", "after-1", "after-2", "après-3"]
        ws_list, sse_list, _ = asyncio.run(watch(lambda l: len(l[0]) >= 5 and len(l[1]) >= 5))
        self.assertEqual(ws_list, expected)
        self.assertEqual(sse_list, expected)


if __name__ == "__main__":
    unittest.main()
