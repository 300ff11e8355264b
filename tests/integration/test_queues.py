"""Queue subscriptions over HTTP: workers share a topic's records, each leased to one worker
until it is acked, nacked, extended or rejected; ended leases come back; records handed out
too often or rejected go to the dead-letter topic with headers naming their origin; and
all of it survives kill -9."""

import asyncio
import json
import re
import signal
import threading
import time
import unittest
import urllib.error
import urllib.request

import websockets
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from harness import ServerTest
from test_http_groups import HttpClient


class Http(HttpClient):
    def receive(self, queue, consumer, n=100, timeout_ms=0):
        status, body = self.call("POST", f"/v1/queues/{queue}/receive",
                                 {"consumer": consumer, "max_records": n,
                                  "timeout_ms": timeout_ms, "format": "text"})
        assert status == 200, body
        return body["records"]

    def decide(self, queue, verb, consumer, records, **extra):
        status, body = self.call("POST", f"/v1/queues/{queue}/{verb}",
                                 {"consumer": consumer, **extra,
                                  "records": [{"partition": r["partition"],
                                               "offset": r["offset"]} for r in records]})
        assert status == 200, body
        return body


class QueueServerTest(ServerTest):
    """A broker with an HTTP client, and what queue tests read and write (no tests)."""

    def start_broker(self, *args, data_dir=None):
        s = self.start(*args, data_dir=data_dir)
        s.wait_for("ready")
        self.http = Http(s.http_port)
        return s

    def create_topic(self, s, name, partitions):
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic(name, partitions)])[name].result(timeout=30)

    def produce(self, s, topic, values, partition=None):
        p = Producer({"bootstrap.servers": s.bootstrap, "linger.ms": 5})
        for v in values:
            if partition is None:
                p.produce(topic, v.encode())
            else:
                p.produce(topic, v.encode(), partition=partition)
        self.assertEqual(p.flush(30), 0)

    def queue_metric(self, name, queue):
        """The value of a queue's series in /metrics (None: absent)."""
        with urllib.request.urlopen(self.http.base + "/metrics", timeout=10) as r:
            page = r.read().decode()
        m = re.search(rf'^{name}{{queue="{queue}"}} ([0-9.e+-]+)$', page, re.M)
        return float(m.group(1)) if m else None

    def dead_letters(self, s, topic, n):
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "dlq-reader",
                      "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append((m.value().decode(),
                            {k: v.decode() for k, v in (m.headers() or [])}))
        c.close()
        return got

    def all_records(self, s, topic):
        """(value, headers) of every record of `topic`, read to its end."""
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "reader-" + topic,
                      "auto.offset.reset": "earliest", "enable.partition.eof": True})
        c.subscribe([topic])
        got, ended, parts = [], set(), None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if parts is None and c.assignment():
                parts = {tp.partition for tp in c.assignment()}
            if parts is not None and ended >= parts:
                break
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    ended.add(m.partition())
                continue
            got.append((m.value().decode(), {k: v.decode() for k, v in (m.headers() or [])}))
        c.close()
        return got


class QueueTest(QueueServerTest):
    def test_workers_share_every_partition_and_each_record_is_acked_once(self):
        s = self.start_broker()
        self.create_topic(s, "orders", 4)
        values = [f"order-{i}" for i in range(400)]
        self.produce(s, "orders", values)
        status, q = self.http.call("PUT", "/v1/queues/billing", {"topic": "orders"})
        self.assertEqual(status, 201, q)
        self.assertEqual((q["dead_letter_topic"], q["max_deliveries"]), ("billing.dlq", 5))
        # The same definition again is fine; another one is refused.
        self.assertEqual(self.http.call("PUT", "/v1/queues/billing", {"topic": "orders"})[0], 200)
        status, body = self.http.call("PUT", "/v1/queues/billing",
                                      {"topic": "orders", "max_deliveries": 3})
        self.assertEqual((status, body["error"]), (409, "queue_exists"))
        # Every record is ready before any worker asks, in /metrics as in the API.
        self.assertEqual(self.queue_metric("riptide_queue_ready", "billing"), 400)
        self.assertEqual(self.queue_metric("riptide_queue_not_yet_delivered", "billing"), 400)
        self.assertEqual(self.http.call("GET", "/v1/queues/billing")[1]["ready"], 400)

        received, lock, errors = [], threading.Lock(), []

        def worker(name):
            try:
                idle = 0
                while idle < 3:
                    recs = self.http.receive("billing", name, n=7, timeout_ms=300)
                    if not recs:
                        idle += 1
                        continue
                    idle = 0
                    with lock:
                        received.extend((r["partition"], r["offset"], r["value"],
                                         r["delivery_count"], name) for r in recs)
                    body = self.http.decide("billing", "ack", name, recs)
                    assert body["refused"] == 0, body
            except Exception as e:  # reported below
                errors.append(e)

        # More workers than partitions: parallelism is not bound by the partition count.
        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(v for _, _, v, _, _ in received), sorted(values))
        self.assertEqual(len({(p, o) for p, o, _, _, _ in received}), 400)
        self.assertTrue(all(d == 1 for _, _, _, d, _ in received))
        self.assertGreater(len({w for *_, w in received}), 1)
        status, d = self.http.call("GET", "/v1/queues/billing")
        self.assertEqual(status, 200)
        self.assertEqual((d["ready"], d["leased"], d["dead_lettered"]), (0, 0, 0))
        self.assertEqual(d["oldest_unacked_age_ms"], 0)  # nothing handed out is waiting
        self.assertEqual(sum(p["start"] for p in d["partitions"]),
                         sum(p["log_end"] for p in d["partitions"]))
        # Records produced later are handed out too.
        self.produce(s, "orders", ["late"])
        recs = self.http.receive("billing", "w0", timeout_ms=5000)
        self.assertEqual([r["value"] for r in recs], ["late"])
        # Handed out and not acked: its age, from its timestamp, grows.
        time.sleep(1.2)
        _, d = self.http.call("GET", "/v1/queues/billing")
        self.assertGreaterEqual(d["oldest_unacked_age_ms"], 1200)
        self.assertLess(d["oldest_unacked_age_ms"], 120_000)
        # The queue's figures in /metrics.
        with urllib.request.urlopen(self.http.base + "/metrics", timeout=10) as r:
            page = r.read().decode()

        def metric(name):
            m = re.search(rf'^{name}{{queue="billing"}} ([0-9.e+]+)$', page, re.M)
            return float(m.group(1)) if m else None

        self.assertEqual(metric("riptide_queue_delivered"), 401)
        self.assertEqual(metric("riptide_queue_acked"), 400)
        self.assertEqual(metric("riptide_queue_leased"), 1)
        self.assertEqual(metric("riptide_queue_dead_lettered"), 0)
        self.assertGreaterEqual(metric("riptide_queue_oldest_unacked_age_seconds"), 1.2)
        self.assertEqual(metric("riptide_queue_ready"), 0)
        # Records produced and not asked for yet are ready; a nacked one is ready again, and
        # not while its delay runs.
        self.produce(s, "orders", ["r1", "r2", "r3"])
        self.assertEqual(self.queue_metric("riptide_queue_ready", "billing"), 3)
        self.assertEqual(self.http.call("GET", "/v1/queues/billing")[1]["ready"], 3)
        self.http.decide("billing", "nack", "w0", recs)
        self.assertEqual(self.queue_metric("riptide_queue_ready", "billing"), 4)
        self.assertEqual(self.queue_metric("riptide_queue_not_yet_delivered", "billing"), 3)
        recs = self.http.receive("billing", "w0", n=10, timeout_ms=5000)
        self.assertEqual(sorted(r["value"] for r in recs), ["late", "r1", "r2", "r3"])
        self.assertEqual(self.queue_metric("riptide_queue_ready", "billing"), 0)
        self.http.decide("billing", "nack", "w0", recs[:1], delay_ms=60_000)
        self.assertEqual(self.queue_metric("riptide_queue_ready", "billing"), 0)
        self.assertEqual(self.queue_metric("riptide_queue_delayed", "billing"), 1)
        # A deleted queue leaves /metrics.
        self.assertEqual(self.http.call("DELETE", "/v1/queues/billing")[0], 204)
        with urllib.request.urlopen(self.http.base + "/metrics", timeout=10) as r:
            self.assertNotIn('queue="billing"', r.read().decode())

    def test_nack_extend_reject_and_ended_leases_lead_to_the_dead_letter_topic(self):
        s = self.start_broker()
        self.create_topic(s, "jobs", 1)
        self.produce(s, "jobs", ["ok", "retry", "poison", "slow"])
        status, _ = self.http.call("PUT", "/v1/queues/jobs-q",
                                   {"topic": "jobs", "visibility_timeout_ms": 1000,
                                    "max_deliveries": 2, "dead_letter_topic": "jobs-dead"})
        self.assertEqual(status, 201)
        recs = {r["value"]: r for r in self.http.receive("jobs-q", "w1", n=10)}
        self.assertEqual(set(recs), {"ok", "retry", "poison", "slow"})
        # Only the lease holder decides.
        body = self.http.decide("jobs-q", "ack", "w2", [recs["ok"]])
        self.assertEqual(body["results"][0]["error"], "other_worker")
        self.assertEqual(self.http.decide("jobs-q", "ack", "w1", [recs["ok"]])["refused"], 0)
        self.http.decide("jobs-q", "nack", "w1", [recs["retry"]], delay_ms=400,
                         error="db timeout")
        self.http.decide("jobs-q", "reject", "w1", [recs["poison"]], error="cannot parse")
        self.http.decide("jobs-q", "extend", "w1", [recs["slow"]], visibility_timeout_ms=30000)
        # The nacked record is delayed; nothing else is ready.
        self.assertEqual(self.http.receive("jobs-q", "w2"), [])
        again = self.http.receive("jobs-q", "w2", timeout_ms=5000)
        self.assertEqual([(r["value"], r["delivery_count"]) for r in again], [("retry", 2)])
        # w2 lets its lease end: delivered twice already, so it is dead-lettered.
        got = dict(self.dead_letters(s, "jobs-dead", 2))
        self.assertEqual(set(got), {"poison", "retry"})
        self.assertEqual(got["poison"]["riptide-dlq-error"], "cannot parse")
        self.assertEqual(got["poison"]["riptide-dlq-deliveries"], "1")
        self.assertEqual(got["retry"]["riptide-dlq-error"], "db timeout")
        self.assertEqual(got["retry"]["riptide-dlq-deliveries"], "2")
        self.assertEqual((got["retry"]["riptide-dlq-topic"], got["retry"]["riptide-dlq-partition"],
                          got["retry"]["riptide-dlq-offset"], got["retry"]["riptide-dlq-queue"]),
                         ("jobs", "0", str(recs["retry"]["offset"]), "jobs-q"))
        # The extended lease still holds; acking it finishes the queue.
        self.assertEqual(self.http.receive("jobs-q", "w3", timeout_ms=1500), [])
        self.assertEqual(self.http.decide("jobs-q", "ack", "w1", [recs["slow"]])["refused"], 0)
        _, d = self.http.call("GET", "/v1/queues/jobs-q")
        self.assertEqual((d["ready"], d["leased"], d["dead_lettered"]), (0, 0, 2))
        self.assertGreaterEqual(d["lease_expiries"], 1)
        # An acked record cannot be decided on again.
        body = self.http.decide("jobs-q", "nack", "w1", [recs["ok"]])
        self.assertEqual(body["results"][0]["error"], "not_delivered")

    def test_acks_leases_and_delivery_counts_survive_kill_9(self):
        s = self.start_broker()
        self.create_topic(s, "tasks", 1)
        self.produce(s, "tasks", [f"t{i}" for i in range(20)])
        status, _ = self.http.call("PUT", "/v1/queues/tq",
                                   {"topic": "tasks", "visibility_timeout_ms": 3000})
        self.assertEqual(status, 201)
        first = self.http.receive("tq", "w1", n=10)
        self.assertEqual([r["value"] for r in first], [f"t{i}" for i in range(10)])
        self.assertEqual(self.http.decide("tq", "ack", "w1", first[:5])["refused"], 0)
        leased_until = first[5]["lease_expires_ms"]
        s.proc.send_signal(signal.SIGKILL)
        s.wait_exit()

        s = self.start_broker(data_dir=s.data_dir)
        # The five still leased stay with w1 until their lease ends; the acked never return.
        now = self.http.receive("tq", "w2", n=100)
        self.assertEqual([r["value"] for r in now], [f"t{i}" for i in range(10, 20)])
        self.assertEqual(self.http.decide("tq", "ack", "w2", now)["refused"], 0)
        self.assertEqual(self.http.decide("tq", "ack", "w1", first[5:6])["refused"], 0)
        time.sleep(max(0, leased_until / 1000 - time.time()) + 0.3)
        later = self.http.receive("tq", "w3", n=100, timeout_ms=3000)
        self.assertEqual([(r["value"], r["delivery_count"]) for r in later],
                         [(f"t{i}", 2) for i in range(6, 10)])
        self.assertEqual(self.http.decide("tq", "ack", "w3", later)["refused"], 0)
        _, d = self.http.call("GET", "/v1/queues/tq")
        self.assertEqual((d["ready"], d["leased"]), (0, 0))
        self.assertEqual(d["partitions"][0]["start"], 20)

    def test_workers_that_crash_and_a_broker_killed_three_times_lose_nothing(self):
        s = self.start_broker()
        data_dir = s.data_dir
        self.create_topic(s, "chaos", 4)
        n = 8000
        self.produce(s, "chaos", [f"r{i}" for i in range(n)])
        status, _ = self.http.call("PUT", "/v1/queues/cq",
                                   {"topic": "chaos", "visibility_timeout_ms": 1500,
                                    "max_deliveries": 4})
        self.assertEqual(status, 201)
        lock = threading.Lock()
        receptions = {}   # (p, o) -> [(receive started, delivery_count, lease end, worker)]
        nacked = {}       # (p, o) -> times a nack was sent for it
        confirmed = {}    # (p, o) -> when the ack's answer arrived
        attempted = set()  # acks sent whose answer was lost to a kill
        done = threading.Event()
        rng = __import__("random").Random(7)

        def call(method, path, body):
            while not done.is_set():
                try:
                    return self.http.call(method, path, body)
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.1)  # the broker is being restarted
            return None, None

        def worker(index):
            name = f"w{index}-0"
            crashes = 0
            while not done.is_set():
                started = time.time()
                status, body = call("POST", "/v1/queues/cq/receive",
                                    {"consumer": name, "max_records": 20, "timeout_ms": 200})
                if status != 200:
                    continue
                recs = body["records"]
                answered = time.time()
                with lock:
                    for r in recs:
                        receptions.setdefault((r["partition"], r["offset"]), []).append(
                            (started, r["delivery_count"], r["lease_expires_ms"] / 1000,
                             answered))
                if recs and rng.random() < 0.1:
                    crashes += 1  # the worker dies holding its leases; a new one starts
                    name = f"w{index}-{crashes}"
                    continue
                acks = [r for r in recs if rng.random() < 0.9]
                nacks = [r for r in recs if r not in acks]
                if nacks:
                    with lock:
                        for r in nacks:
                            nacked[(r["partition"], r["offset"])] = \
                                nacked.get((r["partition"], r["offset"]), 0) + 1
                    call("POST", "/v1/queues/cq/nack",
                         {"consumer": name, "error": "flaky",
                          "records": [{"partition": r["partition"], "offset": r["offset"]}
                                      for r in nacks]})
                if not acks:
                    continue
                keys = [(r["partition"], r["offset"]) for r in acks]
                with lock:
                    attempted.update(keys)
                try:
                    status, body = self.http.call(
                        "POST", "/v1/queues/cq/ack",
                        {"consumer": name, "records": [{"partition": p, "offset": o}
                                                       for p, o in keys]})
                except (urllib.error.URLError, ConnectionError, OSError):
                    continue
                answered = time.time()
                if status == 200:
                    with lock:
                        for key, res in zip(keys, body["results"]):
                            if "error" not in res:
                                confirmed[key] = answered

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        try:
            progress = []
            for _ in range(3):
                time.sleep(0.7)
                with lock:
                    progress.append(len(confirmed))
                s.proc.send_signal(signal.SIGKILL)
                s.wait_exit()
                s = self.start_broker(data_dir=data_dir)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                status, d = self.http.call("GET", "/v1/queues/cq")
                if status == 200 and all(p["start"] == p["log_end"] for p in d["partitions"]):
                    break
                time.sleep(0.5)
        finally:
            done.set()
            for t in threads:
                t.join(30)
        self.assertTrue(all(p["start"] == p["log_end"] for p in d["partitions"]), d)
        # The kills came while the workers were busy (the first one at least, whatever the
        # machine's speed).
        self.assertLess(progress[0], n, progress)
        dead = {(int(h["riptide-dlq-partition"]), int(h["riptide-dlq-offset"])): h
                for _, h in self.all_records(s, "cq.dlq")}
        everything = set(receptions)
        self.assertEqual(len(everything), n)  # every record was handed out
        # None lost: each is acked (answer seen, or sent when a kill cut the answer) or
        # dead-lettered.
        self.assertEqual(everything - set(confirmed) - attempted - set(dead), set())
        for key, got in receptions.items():
            counts = [c for _, c, _, _ in got]
            self.assertEqual(counts, sorted(set(counts)), key)  # counts only go up
            if key in confirmed:  # never handed out again after its ack was answered
                self.assertFalse([g for g in got if g[0] > confirmed[key] + 0.05], key)
            # Handed out again only after its lease ended, or after a nack.
            early = sum(1 for prev, nxt in zip(got, got[1:]) if nxt[3] < prev[2] - 0.05)
            self.assertLessEqual(early, nacked.get(key, 0), (key, got))
            if key in dead:
                self.assertGreaterEqual(int(dead[key]["riptide-dlq-deliveries"]), counts[-1])

    def test_acks_sent_back_to_back_on_a_websocket_are_each_answered(self):
        s = self.start_broker()
        self.create_topic(s, "b2bq", 2)
        self.produce(s, "b2bq", [f"r{i}" for i in range(40)])
        self.assertEqual(self.http.call("PUT", "/v1/queues/bq2", {"topic": "b2bq"})[0], 201)
        url = (f"ws://127.0.0.1:{self.http.base.rsplit(':', 1)[1]}/v1/queues/bq2/ws"
               "?consumer=ws-1&credit=40&format=text")

        async def run():
            async with websockets.connect(url) as ws:
                async def message():
                    return json.loads(await asyncio.wait_for(ws.recv(), 10))

                got = []
                while len(got) < 40:
                    got += (await message())["records"]
                # One message per record, all at once; answers may cover several of them.
                keys = [(r["partition"], r["offset"]) for r in got]
                for p, o in keys:
                    await ws.send(json.dumps({"ack": [{"partition": p, "offset": o}]}))
                answered = []
                while len(answered) < len(keys):
                    m = await message()
                    self.assertEqual(m["settled_action"], "ack")
                    self.assertEqual(m["refused"], 0)
                    answered += [(r["partition"], r["offset"]) for r in m["results"]]
                self.assertEqual(sorted(answered), sorted(keys))
                # Acked once: acking again is refused, record by record.
                await ws.send(json.dumps({"ack": [{"partition": p, "offset": o}
                                                  for p, o in keys[:3]]}))
                m = await message()
                self.assertEqual((m["settled"], m["refused"]), (0, 3))

        asyncio.run(run())
        _, d = self.http.call("GET", "/v1/queues/bq2")
        self.assertEqual((d["ready"], d["leased"]), (0, 0))
        self.assertEqual(sorted(p["start"] for p in d["partitions"]),
                         sorted(p["log_end"] for p in d["partitions"]))

    def test_a_websocket_worker_gets_records_within_its_credit_and_decides_on_the_socket(self):
        s = self.start_broker()
        self.create_topic(s, "pushq", 1)
        self.produce(s, "pushq", [f"p{i}" for i in range(6)])
        self.assertEqual(self.http.call("PUT", "/v1/queues/pq", {"topic": "pushq"})[0], 201)
        url = (f"ws://127.0.0.1:{self.http.base.rsplit(':', 1)[1]}/v1/queues/pq/ws"
               "?consumer=ws-1&credit=3&format=text")

        async def run():
            async with websockets.connect(url) as ws:
                async def message():
                    return json.loads(await asyncio.wait_for(ws.recv(), 10))

                got = []
                while len(got) < 3:
                    got += (await message())["records"]
                self.assertEqual([r["value"] for r in got], ["p0", "p1", "p2"])
                # No more than the credit: nothing else comes.
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 1)
                await ws.send(json.dumps({"ack": [{"partition": 0, "offset": 0},
                                                  {"partition": 0, "offset": 1}]}))
                settled = await message()
                self.assertEqual((settled["settled_action"], settled["settled"]), ("ack", 2))
                await ws.send(json.dumps({"nack": [{"partition": 0, "offset": 2}],
                                          "error": "retry"}))
                self.assertEqual((await message())["settled_action"], "nack")
                await ws.send(json.dumps({"credit": 10}))
                more = []
                while len(more) < 4:
                    m = await message()
                    more += m.get("records", [])
                self.assertEqual(sorted((r["offset"], r["delivery_count"]) for r in more),
                                 [(2, 2), (3, 1), (4, 1), (5, 1)])
                await ws.send(json.dumps({"ack": [{"partition": 0, "offset": o}
                                                  for o in range(2, 6)]}))
                self.assertEqual((await message())["settled"], 4)
                # A message that is not a decision closes the socket with 1008.
                await ws.send(json.dumps({"ack": "everything"}))
                with self.assertRaises(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                return ws.close_code

        self.assertEqual(asyncio.run(run()), 1008)
        _, d = self.http.call("GET", "/v1/queues/pq")
        self.assertEqual((d["ready"], d["leased"], d["partitions"][0]["start"]), (0, 0, 6))
        # Without the upgrade, or for a queue that does not exist.
        self.assertEqual(self.http.call("GET", "/v1/queues/pq/ws?consumer=x")[0], 426)

        async def refused():
            try:
                async with websockets.connect(url.replace("/pq/", "/nope/")):
                    return None
            except websockets.InvalidStatusCode as e:
                return e.status_code

        self.assertEqual(asyncio.run(refused()), 404)

    def test_ordering_by_key_hands_out_a_keys_records_one_at_a_time(self):
        s = self.start_broker()
        self.create_topic(s, "keyed", 1)
        p = Producer({"bootstrap.servers": s.bootstrap})
        for i, key in enumerate(["a", "a", "b", "a", "c", "b"]):
            p.produce("keyed", f"{key}{i}".encode(), key=key.encode(), partition=0)
        self.assertEqual(p.flush(30), 0)
        status, _ = self.http.call("PUT", "/v1/queues/kq", {"topic": "keyed", "ordering": "key"})
        self.assertEqual(status, 201)
        first = self.http.receive("kq", "w1", n=10)
        # One record per key: the first of each.
        self.assertEqual([r["value"] for r in first], ["a0", "b2", "c4"])
        self.assertEqual(self.http.receive("kq", "w2", n=10), [])
        # a's next record waits for a0; b's for b2.
        self.http.decide("kq", "ack", "w1", [first[0]])
        self.assertEqual([r["value"] for r in self.http.receive("kq", "w2", n=10)], ["a1"])
        self.http.decide("kq", "nack", "w1", [first[1]])  # b2 again, before b5
        again = self.http.receive("kq", "w3", n=10)
        self.assertEqual([(r["value"], r["delivery_count"]) for r in again], [("b2", 2)])
        self.http.decide("kq", "ack", "w3", again)
        self.assertEqual([r["value"] for r in self.http.receive("kq", "w3", n=10)], ["b5"])

    def test_start_latest_skips_what_the_topic_held_and_new_partitions_are_followed(self):
        s = self.start_broker()
        self.create_topic(s, "fresh", 1)
        self.produce(s, "fresh", ["old"])
        status, q = self.http.call("PUT", "/v1/queues/fq", {"topic": "fresh", "start": "latest"})
        self.assertEqual((status, q["start"]), (201, "latest"))
        self.assertEqual(self.http.receive("fq", "w"), [])
        self.produce(s, "fresh", ["new"])
        self.assertEqual([r["value"] for r in self.http.receive("fq", "w", timeout_ms=5000)],
                         ["new"])
        # A partition added later is handed out from its start.
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_partitions([NewPartitions("fresh", 2)])["fresh"].result(timeout=30)
        time.sleep(0.5)
        self.produce(s, "fresh", ["p1"], partition=1)
        got = self.http.receive("fq", "w", timeout_ms=5000)
        self.assertEqual([(r["partition"], r["value"]) for r in got], [(1, "p1")])

    def test_retry_backoff_holds_records_back_after_a_failure(self):
        s = self.start_broker()
        self.create_topic(s, "flaky", 1)
        self.produce(s, "flaky", ["f0"])
        status, q = self.http.call("PUT", "/v1/queues/bq",
                                   {"topic": "flaky", "visibility_timeout_ms": 300,
                                    "retry_backoff": "exponential", "retry_backoff_ms": 1200,
                                    "retry_backoff_max_ms": 10000})
        self.assertEqual((status, q["retry_backoff"], q["retry_backoff_ms"]),
                         (201, "exponential", 1200), q)
        first = self.http.receive("bq", "w")
        self.http.decide("bq", "nack", "w", first)  # no delay of its own: the backoff's
        nacked = time.monotonic()
        got = self.http.receive("bq", "w", timeout_ms=5000)
        waited = time.monotonic() - nacked
        self.assertEqual([(r["value"], r["delivery_count"]) for r in got], [("f0", 2)])
        self.assertGreaterEqual(waited, 0.55)  # at least half of 1.2 s (the jitter)
        # Its lease (300 ms) ends: now two deliveries, so 2.4 s before jitter, 1.2 s at least.
        ended = got[0]["lease_expires_ms"] / 1000
        got = self.http.receive("bq", "w", timeout_ms=8000)
        self.assertEqual([r["delivery_count"] for r in got], [3])
        self.assertGreaterEqual(time.time() - ended, 1.15)
        status, body = self.http.call("PUT", "/v1/queues/bad",
                                      {"topic": "flaky", "retry_backoff": "linear"})
        self.assertEqual(status, 400)
        self.assertIn("retry_backoff", body["message"])

    def test_a_dead_letter_that_cannot_be_written_is_kept_and_tried_again(self):
        s = self.start_broker()
        self.create_topic(s, "mails", 1)
        self.produce(s, "mails", ["m0"])
        status, _ = self.http.call("PUT", "/v1/queues/mq",
                                   {"topic": "mails", "dead_letter_topic": "mails-dead"})
        self.assertEqual(status, 201)
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.delete_topics(["mails-dead"])["mails-dead"].result(timeout=30)
        got = self.http.receive("mq", "w")
        self.assertEqual(self.http.decide("mq", "reject", "w", got, error="bad")["settled"], 1)
        # Not written (no dead-letter topic), and never handed out again meanwhile.
        self.assertEqual(self.http.receive("mq", "w2", timeout_ms=1500), [])
        self.create_topic(s, "mails-dead", 1)
        dead = self.all_records(s, "mails-dead")
        deadline = time.monotonic() + 20
        while not dead and time.monotonic() < deadline:
            time.sleep(0.5)
            dead = self.all_records(s, "mails-dead")
        self.assertEqual([(v, h["riptide-dlq-error"]) for v, h in dead], [("m0", "bad")])
        _, d = self.http.call("GET", "/v1/queues/mq")
        self.assertEqual((d["partitions"][0]["start"], d["dead_lettered"]), (1, 1))

    def test_a_topic_made_again_is_handed_out_from_its_start(self):
        s = self.start_broker()
        self.create_topic(s, "again", 1)
        self.produce(s, "again", ["x0", "x1", "x2"])
        self.assertEqual(self.http.call("PUT", "/v1/queues/aq", {"topic": "again"})[0], 201)
        got = self.http.receive("aq", "w")
        self.assertEqual(self.http.decide("aq", "ack", "w", got)["settled"], 3)
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.delete_topics(["again"])["again"].result(timeout=30)
        status, body = self.http.call("POST", "/v1/queues/aq/receive", {"consumer": "w"})
        self.assertEqual((status, body["error"]), (404, "unknown_topic"))
        time.sleep(0.5)
        self.create_topic(s, "again", 1)
        self.produce(s, "again", ["y0"])
        got = self.http.receive("aq", "w", timeout_ms=3000)
        self.assertEqual([(r["offset"], r["value"]) for r in got], [(0, "y0")])

    def test_queues_are_bounded_by_queues_max_queues(self):
        s = self.start_broker("--queues-max-queues", "2")
        self.create_topic(s, "t", 1)
        for name in ("a", "b"):  # on either shard: the bound is the broker's
            self.assertEqual(self.http.call("PUT", f"/v1/queues/{name}", {"topic": "t"})[0], 201)
        status, body = self.http.call("PUT", "/v1/queues/c", {"topic": "t"})
        self.assertEqual((status, body["error"]), (409, "limit_exceeded"), body)
        self.assertIn("queues.max_queues", body["message"])
        self.assertEqual(self.http.call("DELETE", "/v1/queues/a")[0], 204)
        self.assertEqual(self.http.call("PUT", "/v1/queues/c", {"topic": "t"})[0], 201)

    def test_bad_requests_get_their_errors(self):
        s = self.start_broker()
        self.create_topic(s, "t", 1)
        status, body = self.http.call("GET", "/v1/queues/nope")
        self.assertEqual((status, body["error"]), (404, "unknown_queue"))
        status, body = self.http.call("POST", "/v1/queues/nope/receive", {"consumer": "w"})
        self.assertEqual((status, body["error"]), (404, "unknown_queue"))
        status, body = self.http.call("PUT", "/v1/queues/q", {"topic": "missing"})
        self.assertEqual((status, body["error"]), (404, "unknown_topic"))
        for bad, field in (({}, "topic"), ({"topic": "t", "max_deliveries": 0}, "max_deliveries"),
                           ({"topic": "t", "ordering": "fifo"}, "ordering"),
                           ({"topic": "t", "visibility_timeout_ms": "1s"},
                            "visibility_timeout_ms")):
            status, body = self.http.call("PUT", "/v1/queues/q", bad)
            self.assertEqual(status, 400, bad)
            self.assertIn(field, body["message"])
        req = urllib.request.Request(self.http.base + "/v1/queues/q", data=b"{not json",
                                     method="PUT", headers={"Content-Type": "application/json"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 400)
        self.assertEqual(self.http.call("PUT", "/v1/queues/q", {"topic": "t"})[0], 201)
        status, body = self.http.call("POST", "/v1/queues/q/receive", {"max_records": 1})
        self.assertEqual(status, 400)
        self.assertIn("consumer", body["message"])
        status, body = self.http.call("POST", "/v1/queues/q/ack",
                                      {"consumer": "w", "records": [{"partition": -1}]})
        self.assertEqual(status, 400)
        self.assertIn("records[0]", body["message"])
        status, body = self.http.call("GET", "/v1/queues")
        self.assertEqual([q["name"] for q in body["queues"]], ["q"])
        self.assertEqual(self.http.call("DELETE", "/v1/queues/q")[0], 204)
        self.assertEqual(self.http.call("DELETE", "/v1/queues/q")[0], 404)
        self.assertEqual(self.http.call("GET", "/healthz")[0], 200)
        # Every queue route is in the OpenAPI document.
        _, doc = self.http.call("GET", "/v1/openapi.json")
        documented = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
        routes = {("GET", "/v1/queues"), ("PUT", "/v1/queues/{queue}"),
                  ("GET", "/v1/queues/{queue}"), ("DELETE", "/v1/queues/{queue}")}
        routes |= {("POST", f"/v1/queues/{{queue}}/{verb}")
                   for verb in ("receive", "ack", "nack", "extend", "reject")}
        self.assertEqual(routes - documented, set())


if __name__ == "__main__":
    unittest.main()
