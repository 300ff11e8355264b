"""Consumer groups over HTTP shared with Kafka consumers: an HTTP consumer and a librdkafka
consumer split a topic's partitions and see each other's commits; streams as group
members; a REST Proxy v2 consumer session as Confluent documents it, with curl; the REST
Proxy v3 topic and record paths."""

import json
import subprocess
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition

from test_groups import GroupFixture, wait_until


class HttpClient:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None, content_type="application/json", headers=None):
        data = None if body is None else json.dumps(body).encode()
        h = dict(headers or {})
        if data is not None:
            h["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read().decode()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, json.loads(text) if text else None


class HttpGroupTest(GroupFixture):
    def test_http_and_librdkafka_members_split_a_topic_and_share_commits(self):
        s = self.start("--groups-initial-rebalance-delay", "500ms")
        http = HttpClient(s.http_port)
        self.create_topic(s, "orders", 4)
        status, c = http.call("POST", "/v1/groups/billing/consumers",
                              {"name": "web-1", "topics": ["orders"],
                               "auto_offset_reset": "earliest", "auto_commit": False,
                               "format": "text"})
        self.assertEqual(status, 201, c)
        kafka = self.member(s, "orders", "billing")

        def split():
            _, d = http.call("GET", "/v1/groups/billing/consumers/web-1")
            mine = sorted(a["partition"] for a in d["assignment"])
            return mine, kafka.assignment

        # Until both members hold two partitions each, the group is still rebalancing.
        wait_until(lambda: len(split()[0]) == 2 and kafka.assignment and len(kafka.assignment) == 2,
                   60, "the HTTP and the librdkafka member to split the partitions")
        mine, theirs = split()
        self.assertEqual(sorted(mine + theirs), [0, 1, 2, 3])

        values = [f"v-{i}" for i in range(400)]
        self.produce(s, "orders", values)
        got = []
        deadline = time.monotonic() + 60
        while len(got) + len(kafka.values()) < 400 and time.monotonic() < deadline:
            status, r = http.call("GET", "/v1/groups/billing/consumers/web-1/records"
                                  "?timeout_ms=500&max_records=100")
            self.assertEqual(status, 200, r)
            self.assertFalse(r["rebalancing"], r)
            for rec in r["records"]:
                self.assertIn(rec["partition"], mine)
                got.append(rec["value"])
        time.sleep(1)  # a duplicate on the Kafka side would arrive now
        self.assertEqual(sorted(got + kafka.values()), sorted(values))
        self.assertEqual(len(got), 200)  # two of four partitions, 100 records each

        # The HTTP member commits; a Kafka client of the group sees its offsets, and the
        # HTTP API sees what the librdkafka member committed.
        status, r = http.call("POST", "/v1/groups/billing/consumers/web-1/commit", {})
        self.assertEqual(status, 200, r)
        viewer = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "billing"})
        try:
            committed = viewer.committed([TopicPartition("orders", p) for p in mine], timeout=30)
        finally:
            viewer.close()
        self.assertEqual([tp.offset for tp in committed], [100, 100])

        def http_view():
            _, d = http.call("GET", "/v1/groups/billing")
            return {o["partition"]: o["committed"] for o in d["offsets"]}
        wait_until(lambda: all(http_view().get(p) == 100 for p in theirs), 30,
                   "the librdkafka member's commits in GET /v1/groups/billing")
        _, d = http.call("GET", "/v1/groups/billing")
        self.assertEqual(d["lag"], 0)
        self.assertEqual(sorted(m["client_id"] for m in d["members"]), ["rdkafka", "web-1"])

        # The Kafka member leaves: the HTTP member takes every partition and goes on from
        # the committed offsets (nothing consumed before comes again).
        kafka.stop()
        wait_until(lambda: split()[0] == [0, 1, 2, 3], 60,
                   "the HTTP member to take every partition")
        more = [f"w-{i}" for i in range(40)]
        self.produce(s, "orders", more)
        later = []
        deadline = time.monotonic() + 60
        while len(later) < 40 and time.monotonic() < deadline:
            status, r = http.call("GET", "/v1/groups/billing/consumers/web-1/records"
                                  "?timeout_ms=500")
            self.assertEqual(status, 200, r)
            later += [rec["value"] for rec in r["records"]]
        self.assertEqual(sorted(later), sorted(more))
        status, _ = http.call("DELETE", "/v1/groups/billing/consumers/web-1")
        self.assertEqual(status, 204)
        status, r = http.call("GET", "/v1/groups/billing/consumers/web-1")
        self.assertEqual((status, r["error"]), (404, "unknown_consumer"))

    def test_rest_proxy_v2_consumer_session_with_curl(self):
        s = self.start("--groups-initial-rebalance-delay", "500ms")
        base = f"http://127.0.0.1:{s.http_port}"

        def curl(*args):
            out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
            body, _, code = out.rpartition("\n")
            return int(code), (json.loads(body) if body.strip() else None)

        # As in Confluent's quick start: produce JSON (the topic is created on first use).
        code, r = curl("-X", "POST", "-H", "Content-Type: application/vnd.kafka.json.v2+json",
                       "--data", '{"records":[{"value":{"foo":"bar"}},{"key":"k","value":[1,2]}]}',
                       f"{base}/topics/jsontest")
        self.assertEqual(code, 200, r)
        self.assertEqual([o["offset"] for o in r["offsets"]], [0, 1])
        code, r = curl("-X", "POST", "-H", "Content-Type: application/vnd.kafka.v2+json",
                       "--data", '{"name": "my_consumer_instance", "format": "json", '
                       '"auto.offset.reset": "earliest"}',
                       f"{base}/consumers/my_json_consumer")
        self.assertEqual(code, 200, r)
        self.assertEqual(r["instance_id"], "my_consumer_instance")
        inst = r["base_uri"]
        self.assertEqual(inst, f"{base}/consumers/my_json_consumer/instances/my_consumer_instance")
        code, r = curl("-X", "POST", "-H", "Content-Type: application/vnd.kafka.v2+json",
                       "--data", '{"topics":["jsontest"]}', f"{inst}/subscription")
        self.assertEqual(code, 204, r)
        records = []
        deadline = time.monotonic() + 30
        while len(records) < 2 and time.monotonic() < deadline:
            code, r = curl("-X", "GET", "-H", "Accept: application/vnd.kafka.json.v2+json",
                           f"{inst}/records")
            self.assertEqual(code, 200, r)
            records += r
        self.assertEqual([(x["key"], x["value"], x["offset"]) for x in records],
                         [(None, {"foo": "bar"}, 0), ("k", [1, 2], 1)])
        # Commit the last record consumed, as the REST Proxy takes it.
        code, r = curl("-X", "POST", "-H", "Content-Type: application/vnd.kafka.v2+json",
                       "--data", '{"offsets":[{"topic":"jsontest","partition":0,"offset":1}]}',
                       f"{inst}/offsets")
        self.assertIn(code, (200, 204), r)
        code, r = curl("-X", "GET", f"{inst}/assignments")
        self.assertEqual(r, {"partitions": [{"topic": "jsontest", "partition": 0}]})
        code, r = curl("-X", "DELETE", "-H", "Content-Type: application/vnd.kafka.v2+json", inst)
        self.assertEqual(code, 204, r)
        # The group's committed offset is the next record to read, for every client.
        viewer = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "my_json_consumer"})
        try:
            committed = viewer.committed([TopicPartition("jsontest", 0)], timeout=30)
        finally:
            viewer.close()
        self.assertEqual(committed[0].offset, 2)
        code, r = curl("-X", "GET", "-H", "Accept: application/vnd.kafka.json.v2+json",
                       f"{inst}/records")
        self.assertEqual((code, r["error_code"]), (404, 40403))

    def test_rest_proxy_v2_binary_produce_and_consume(self):
        s = self.start("--groups-initial-rebalance-delay", "500ms")
        http = HttpClient(s.http_port)
        self.create_topic(s, "bin", 1)
        status, r = http.call("POST", "/topics/bin", {"records": [
            {"key": "a2V5", "value": "AAH/"}, {"value": "aGVsbG8="}]},
            content_type="application/vnd.kafka.binary.v2+json")
        self.assertEqual(status, 200, r)
        # A Kafka consumer reads the decoded bytes.
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "reader",
                      "auto.offset.reset": "earliest"})
        try:
            c.assign([TopicPartition("bin", 0, 0)])
            got = []
            deadline = time.monotonic() + 30
            while len(got) < 2 and time.monotonic() < deadline:
                m = c.poll(1)
                if m is not None and not m.error():
                    got.append((m.key(), m.value()))
        finally:
            c.close()
        self.assertEqual(got, [(b"key", b"\x00\x01\xff"), (None, b"hello")])
        status, r = http.call("POST", "/consumers/g", {"name": "b", "format": "binary",
                                                       "auto.offset.reset": "earliest"},
                              content_type="application/vnd.kafka.v2+json")
        self.assertEqual(status, 200, r)
        status, _ = http.call("POST", "/consumers/g/instances/b/subscription", {"topics": ["bin"]},
                              content_type="application/vnd.kafka.v2+json")
        self.assertEqual(status, 204)
        records = []
        deadline = time.monotonic() + 30
        while len(records) < 2 and time.monotonic() < deadline:
            status, r = http.call("GET", "/consumers/g/instances/b/records",
                                  headers={"Accept": "application/vnd.kafka.binary.v2+json"})
            self.assertEqual(status, 200, r)
            records += r
        self.assertEqual([(x["key"], x["value"]) for x in records],
                         [("a2V5", "AAH/"), (None, "aGVsbG8=")])
        # Seeking back to the beginning gives the same records again; a bad element is
        # named.
        status, r = http.call("POST", "/consumers/g/instances/b/positions/beginning",
                              {"partitions": [{"topic": "bin", "partition": 0}]},
                              content_type="application/vnd.kafka.v2+json")
        self.assertEqual(status, 204, r)
        status, r = http.call("GET", "/consumers/g/instances/b/records",
                              headers={"Accept": "application/vnd.kafka.binary.v2+json"})
        self.assertEqual([x["offset"] for x in r], [0, 1])
        status, r = http.call("POST", "/consumers/g/instances/b/positions",
                              {"offsets": [{"topic": "bin", "partition": 0, "offset": -3}]},
                              content_type="application/vnd.kafka.v2+json")
        self.assertEqual(status, 400)
        self.assertIn("offsets[0]", r["message"])
        status, r = http.call("POST", "/consumers/g/instances/b/positions",
                              {"offsets": [{"topic": "bin", "partition": 0, "offset": 1}]},
                              content_type="application/vnd.kafka.v2+json")
        self.assertEqual(status, 204, r)
        status, r = http.call("GET", "/consumers/g/instances/b/records",
                              headers={"Accept": "application/vnd.kafka.binary.v2+json"})
        self.assertEqual([x["offset"] for x in r], [1])
        # Asking a binary consumer for JSON is refused, not garbled.
        status, r = http.call("GET", "/consumers/g/instances/b/records",
                              headers={"Accept": "application/vnd.kafka.json.v2+json"})
        self.assertEqual((status, r["error_code"]), (406, 40601))
        # Produce needs a REST Proxy embedded-format content type.
        status, r = http.call("POST", "/topics/bin", {"records": [{"value": "x"}]},
                              content_type="text/plain")
        self.assertEqual(status, 415, r)


    def test_websocket_stream_as_a_group_member_resumes_from_the_groups_offsets(self):
        import asyncio
        import websockets
        s = self.start("--groups-initial-rebalance-delay", "200ms")
        http = HttpClient(s.http_port)
        self.create_topic(s, "feed", 2)
        self.produce(s, "feed", [f"v-{i}" for i in range(10)], partitions=2)
        url = (f"ws://127.0.0.1:{s.http_port}/v1/topics/feed/ws?group=screens&from=earliest"
               "&format=text")

        async def take(n, credit):
            got = []
            async with websockets.connect(f"{url}&credit={credit}") as ws:
                while len(got) < n:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    self.assertEqual(m["group"], "screens")
                    got += [r["value"] for r in m["records"]]
            return got

        first = asyncio.run(take(10, 10))
        self.assertEqual(sorted(first), sorted(f"v-{i}" for i in range(10)))
        # Closing the stream committed what it pushed and left the group.
        wait_until(lambda: http.call("GET", "/v1/groups/screens")[1]["members"] == [], 30,
                   "the stream's member to leave the group")
        _, d = http.call("GET", "/v1/groups/screens")
        self.assertEqual(sum(o["committed"] for o in d["offsets"]), 10)
        # A new member of the group starts after what was pushed: only new records come.
        self.produce(s, "feed", [f"w-{i}" for i in range(4)], partitions=2)
        second = asyncio.run(take(4, 100))
        self.assertEqual(sorted(second), sorted(f"w-{i}" for i in range(4)))


    def test_http_consumers_are_bounded_by_http_max_consumers(self):
        s = self.start("--http-max-consumers", "2")
        http = HttpClient(s.http_port)
        self.create_topic(s, "bounded", 1)
        for group in ("a", "b"):  # in different groups, so on different shards too
            status, _ = http.call("POST", f"/v1/groups/{group}/consumers", {"name": "c"})
            self.assertEqual(status, 201)
        status, body = http.call("POST", "/v1/groups/c/consumers", {"name": "c"})
        self.assertEqual((status, body["error"]), (429, "too_many_consumers"), body)
        self.assertIn("http.max_consumers", body["message"])
        status, body = http.call("POST", "/consumers/c", {"name": "c"},  # REST Proxy v2 too
                                 content_type="application/vnd.kafka.v2+json")
        self.assertEqual(status, 429, body)
        self.assertEqual(http.call("DELETE", "/v1/groups/a/consumers/c")[0], 204)
        status, body = http.call("POST", "/v1/groups/c/consumers", {"name": "c"})
        self.assertEqual(status, 201, body)

    def test_broker_stops_cleanly_with_consumers_streams_and_long_polls_open(self):
        import socket
        s = self.start("--groups-initial-rebalance-delay", "200ms")
        http = HttpClient(s.http_port)
        self.create_topic(s, "live", 2)
        status, _ = http.call("POST", "/v1/groups/g/consumers", {"name": "c", "topics": ["live"]})
        self.assertEqual(status, 201)
        wait_until(lambda: http.call("GET", "/v1/groups/g/consumers/c")[1]["assignment"], 30,
                   "the consumer to join")
        held = []
        for path in ("/v1/topics/live/partitions/0/records?timeout_ms=30000",
                     "/v1/topics/live/events", "/v1/topics/live/events?group=g2"):
            c = socket.create_connection(("127.0.0.1", s.http_port))
            c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            held.append(c)
        time.sleep(1)
        started = time.monotonic()
        self.assertEqual(s.stop(), 0)  # no crash, everything acknowledged durable
        self.assertLess(time.monotonic() - started, 20)  # not the long poll's 30 s
        for c in held:
            c.close()

    def test_rest_proxy_v3_topics_and_records(self):
        s = self.start()
        http = HttpClient(s.http_port)
        _, clusters = http.call("GET", "/v3/clusters")
        cid = clusters["data"][0]["cluster_id"]
        status, r = http.call("POST", f"/v3/clusters/{cid}/topics",
                              {"topic_name": "v3", "partitions_count": 3,
                               "configs": [{"name": "retention.ms", "value": "3600000"}]})
        self.assertEqual((status, r["partitions_count"]), (201, 3), r)
        status, r = http.call("GET", f"/v3/clusters/{cid}/topics")
        self.assertIn("v3", [t["topic_name"] for t in r["data"]])
        status, r = http.call("POST", f"/v3/clusters/{cid}/topics/v3/records",
                              {"partition_id": 2, "key": {"type": "STRING", "data": "k"},
                               "value": {"type": "JSON", "data": {"n": 1}},
                               "headers": [{"name": "trace", "value": "dDE="}]})
        self.assertEqual((status, r["error_code"], r["partition_id"], r["offset"]),
                         (200, 200, 2, 0), r)
        # A Kafka consumer reads what the v3 record said.
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "v3-reader"})
        try:
            c.assign([TopicPartition("v3", 2, 0)])
            m = None
            deadline = time.monotonic() + 30
            while m is None and time.monotonic() < deadline:
                m = c.poll(1)
                if m is not None and m.error():
                    m = None
        finally:
            c.close()
        self.assertEqual((m.key(), m.value(), m.headers()), (b"k", b'{"n":1}', [("trace", b"t1")]))
        # The wrong cluster id and an unknown topic are 404s; a schema type is refused.
        self.assertEqual(http.call("GET", "/v3/clusters/other/topics")[0], 404)
        self.assertEqual(http.call("POST", f"/v3/clusters/{cid}/topics/none/records",
                                   {"value": {"type": "STRING", "data": "x"}})[0], 404)
        status, r = http.call("POST", f"/v3/clusters/{cid}/topics/v3/records",
                              {"value": {"type": "AVRO", "data": "x"}})
        self.assertEqual(status, 400, r)
        self.assertEqual(http.call("DELETE", f"/v3/clusters/{cid}/topics/v3")[0], 204)
        self.assertEqual(http.call("GET", f"/v3/clusters/{cid}/topics/v3")[0], 404)


if __name__ == "__main__":
    import unittest
    unittest.main()
