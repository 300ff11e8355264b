"""A queue at full size under faults: 100,000 records, 20 workers (half over HTTP, half
over WebSocket) that die at random holding their leases and never ack some records on
purpose, and a broker killed with SIGKILL several times. At the end every record is acked
or in the dead-letter topic; an acked record is never handed out after its ack; a record
comes back early only after a nack; delivery counts only go up and match the dead-letter
headers. (Under the sanitizers, which slow the broker several times, it runs the same
with 20,000 records.)"""

import asyncio
import json
import os
import random
import signal
import threading
import time
import unittest
import urllib.error

import websockets

from test_queues import QueueServerTest

N = 20_000 if os.environ.get("TEST_SANITIZED") == "1" else 100_000
MAX_DELIVERIES = 4


def never_acked(value):
    return int(value[1:]) % 1000 == 7  # one record in a thousand


class QueueChaosTest(QueueServerTest):
    def test_http_and_websocket_workers_and_a_killed_broker_lose_nothing(self):
        s = self.start_broker()
        data_dir = s.data_dir
        self.create_topic(s, "big", 8)
        p = __import__("confluent_kafka").Producer(
            {"bootstrap.servers": s.bootstrap, "linger.ms": 20, "batch.num.messages": 5000})
        for i in range(N):
            while True:
                try:
                    p.produce("big", f"r{i}".encode())
                    break
                except BufferError:
                    p.poll(0.05)
        self.assertEqual(p.flush(60), 0)
        status, _ = self.http.call("PUT", "/v1/queues/bq",
                                   {"topic": "big", "visibility_timeout_ms": 2000,
                                    "max_deliveries": MAX_DELIVERIES, "max_in_flight": 2000})
        self.assertEqual(status, 201)

        lock = threading.Lock()
        receptions = {}    # (p, o) -> [(handed out at, delivery_count, lease end, answered at)]
        values = {}        # (p, o) -> value
        nacked = {}        # (p, o) -> nacks sent
        confirmed = {}     # (p, o) -> when its ack's answer arrived
        attempted = set()  # acks sent whose answer may have been lost
        done = threading.Event()
        errors = []
        http_port = [self.http.base.rsplit(":", 1)[1]]

        def note(recs, started, answered):
            with lock:
                for r in recs:
                    key = (r["partition"], r["offset"])
                    values[key] = r["value"]
                    receptions.setdefault(key, []).append(
                        (started, r["delivery_count"], r["lease_expires_ms"] / 1000, answered))

        def decide(recs, rng):
            acks = [r for r in recs if not never_acked(r["value"]) and rng.random() < 0.93]
            nacks = [r for r in recs if r not in acks]
            with lock:
                for r in nacks:
                    key = (r["partition"], r["offset"])
                    nacked[key] = nacked.get(key, 0) + 1
                attempted.update((r["partition"], r["offset"]) for r in acks)
            return acks, nacks

        def confirm(keys, results, answered):
            with lock:
                for key, res in zip(keys, results):
                    if "error" not in res:
                        confirmed[key] = answered

        def call(method, path, body):
            while not done.is_set():
                try:
                    return self.http.call(method, path, body)
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.1)  # the broker is being restarted
            return None, None

        def http_worker(index):
            rng = random.Random(index)
            crashes = 0
            name = f"h{index}-0"
            try:
                while not done.is_set():
                    started = time.time()
                    status, body = call("POST", "/v1/queues/bq/receive",
                                        {"consumer": name, "max_records": 100,
                                         "timeout_ms": 200, "format": "text"})
                    if status != 200:
                        continue
                    recs = body["records"]
                    note(recs, started, time.time())
                    if recs and rng.random() < 0.03:
                        crashes += 1  # dies holding its leases; another one starts
                        name = f"h{index}-{crashes}"
                        continue
                    acks, nacks = decide(recs, rng)
                    if nacks:
                        call("POST", "/v1/queues/bq/nack",
                             {"consumer": name, "error": "flaky",
                              "records": [{"partition": r["partition"], "offset": r["offset"]}
                                          for r in nacks]})
                    if not acks:
                        continue
                    keys = [(r["partition"], r["offset"]) for r in acks]
                    try:
                        status, body = self.http.call(
                            "POST", "/v1/queues/bq/ack",
                            {"consumer": name, "records": [{"partition": p, "offset": o}
                                                           for p, o in keys]})
                    except (urllib.error.URLError, ConnectionError, OSError):
                        continue
                    if status == 200:
                        confirm(keys, body["results"], time.time())
            except Exception as e:  # reported below
                errors.append(e)

        def ws_worker(index):
            rng = random.Random(1000 + index)

            async def session(name):
                url = (f"ws://127.0.0.1:{http_port[0]}/v1/queues/bq/ws?consumer={name}"
                       "&credit=100&format=text")
                async with websockets.connect(url, open_timeout=5, max_size=2**24) as ws:
                    while not done.is_set():
                        try:
                            msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                        except asyncio.TimeoutError:
                            continue
                        if msg.get("settled_action") == "ack":
                            # One answer may cover several ack messages: each record's
                            # result names it.
                            results = msg.get("results", [])
                            keys = [(r["partition"], r["offset"]) for r in results]
                            confirm(keys, results, time.time())
                            continue
                        recs = msg.get("records") or []
                        if not recs:
                            continue
                        now = time.time()
                        note(recs, now, now)
                        if rng.random() < 0.03:
                            return  # dies holding its leases (the socket just closes)
                        acks, nacks = decide(recs, rng)
                        if nacks:
                            await ws.send(json.dumps(
                                {"nack": [{"partition": r["partition"], "offset": r["offset"]}
                                          for r in nacks], "error": "flaky"}))
                        if acks:
                            keys = [(r["partition"], r["offset"]) for r in acks]
                            await ws.send(json.dumps(
                                {"ack": [{"partition": p, "offset": o} for p, o in keys]}))
                        await ws.send(json.dumps({"credit": len(recs)}))

            async def run():
                crashes = 0
                while not done.is_set():
                    try:
                        await session(f"s{index}-{crashes}")
                    except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
                        await asyncio.sleep(0.1)  # the broker is being restarted
                    crashes += 1

            try:
                asyncio.run(run())
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=http_worker, args=(i,)) for i in range(10)]
        threads += [threading.Thread(target=ws_worker, args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        d = None
        try:
            progress = []
            for _ in range(4):
                time.sleep(2)
                with lock:
                    progress.append(len(confirmed))
                s.proc.send_signal(signal.SIGKILL)
                s.wait_exit()
                s = self.start_broker(data_dir=data_dir)
                http_port[0] = self.http.base.rsplit(":", 1)[1]
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                status, d = self.http.call("GET", "/v1/queues/bq")
                if status == 200 and all(p["start"] == p["log_end"] for p in d["partitions"]):
                    break
                time.sleep(0.5)
        finally:
            done.set()
            for t in threads:
                t.join(30)
        self.assertEqual(errors, [])
        self.assertTrue(all(p["start"] == p["log_end"] for p in d["partitions"]), d)
        self.assertLess(progress[0], N, progress)  # the first kill came mid-way
        dead = {(int(h["riptide-dlq-partition"]), int(h["riptide-dlq-offset"])): h
                for _, h in self.all_records(s, "bq.dlq")}
        everything = set(receptions)
        self.assertEqual(len(everything), N)  # every record was handed out
        self.assertEqual(sorted(values.values()), sorted(f"r{i}" for i in range(N)))
        # None lost: acked (answer seen, or sent when a kill cut the answer) or dead.
        self.assertEqual(everything - set(confirmed) - attempted - set(dead), set())
        for key, got in receptions.items():
            counts = [c for _, c, _, _ in got]
            self.assertEqual(counts, sorted(set(counts)), key)  # counts only go up
            if key in confirmed:  # never handed out again after its ack was answered
                self.assertFalse([g for g in got if g[0] > confirmed[key] + 0.05], key)
            # Handed out again before its lease ended only after a nack.
            early = sum(1 for prev, nxt in zip(got, got[1:]) if nxt[3] < prev[2] - 0.05)
            self.assertLessEqual(early, nacked.get(key, 0), (key, got))
            if key in dead:
                self.assertGreaterEqual(int(dead[key]["riptide-dlq-deliveries"]), counts[-1])
        # The records never acked on purpose are all dead, after every delivery allowed.
        never = {key for key, v in values.items() if never_acked(v)}
        self.assertEqual(len(never), N // 1000)
        self.assertEqual(never - set(dead), set())
        for key in never:
            self.assertEqual(int(dead[key]["riptide-dlq-deliveries"]), MAX_DELIVERIES, key)


if __name__ == "__main__":
    unittest.main()
