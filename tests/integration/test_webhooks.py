"""Webhook push: a queue with a webhook POSTs its records to a local receiver that fails,
times out and recovers on a schedule. Retries follow the queue's backoff, the circuit
breaker opens and closes, nothing is lost, a record the receiver always refuses goes to
the dead-letter topic after max_deliveries, and every body's HMAC signature verifies."""

import hashlib
import hmac
import json
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from test_queues import QueueServerTest

SECRET = "s3cret"


class Receiver:
    """Answers POSTs by a schedule: `plan(n, records)` -> ("ok" | "fail" | "slow")."""

    def __init__(self, plan):
        self.plan = plan
        self.lock = threading.Lock()
        self.requests = []  # (time, [values], outcome, signature ok)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(want, self.headers.get("X-Riptide-Signature-256", ""))
                doc = json.loads(body)
                values = [r["value"] for r in doc["records"]]
                with receiver.lock:
                    n = len(receiver.requests)
                    outcome = receiver.plan(n, values)
                    receiver.requests.append((time.monotonic(), values, outcome, signed))
                if outcome == "slow":
                    time.sleep(1.0)  # past the webhook's timeout
                    outcome = "ok"   # answered, but too late to count
                code = 200 if outcome == "ok" else 500
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self):
        with self.lock:
            return list(self.requests)


class WebhookTest(QueueServerTest):
    def test_retries_breaker_dead_letters_and_signatures(self):
        s = self.start_broker()
        self.create_topic(s, "events", 1)

        def plan(n, values):
            if "poison" in values:
                return "fail"
            if n < 3:
                return "fail"      # opens the breaker (3 in a row)
            if n in (3, 4):
                return "slow"      # the probe times out: open again; then again
            return "ok"

        rx = Receiver(plan)
        self.addCleanup(rx.stop)
        status, q = self.http.call("PUT", "/v1/queues/hooks", {
            "topic": "events", "max_deliveries": 6, "visibility_timeout_ms": 5000,
            "retry_backoff_ms": 200, "retry_backoff_max_ms": 2000,
            "webhook": {"url": f"http://127.0.0.1:{rx.port}/in", "secret": SECRET,
                        "batch_size": 1, "concurrency": 1, "timeout_ms": 300,
                        "breaker_failures": 3, "breaker_open_ms": 800}})
        self.assertEqual(status, 201, q)
        self.assertEqual(q["retry_backoff"], "exponential")
        self.assertEqual(q["webhook"]["signed"], True)
        self.assertNotIn("secret", q["webhook"])
        values = [f"e{i}" for i in range(20)] + ["poison"]
        self.produce(s, "events", values, partition=0)

        # The breaker opens after three failures in a row.
        saw_open = False
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not saw_open:
            _, d = self.http.call("GET", "/v1/queues/hooks")
            saw_open = d["webhook"].get("breaker") == "open"
            time.sleep(0.05)
        self.assertTrue(saw_open)

        # Everything ends delivered or dead: the queue drains. The breaker closes once the
        # receiver recovers (the poison record alone may open it again at the end).
        states = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            _, d = self.http.call("GET", "/v1/queues/hooks")
            states.append(d["webhook"]["breaker"])
            if d["partitions"][0]["start"] == d["partitions"][0]["log_end"]:
                break
            time.sleep(0.05)
        self.assertEqual(d["partitions"][0]["start"], d["partitions"][0]["log_end"], d)
        self.assertIn("closed", states)
        self.assertGreater(d["webhook"]["delivered"], 0)

        reqs = rx.snapshot()
        self.assertTrue(all(ok for _, _, _, ok in reqs), "a signature did not verify")
        delivered = [v for _, vs, outcome, _ in reqs if outcome == "ok" for v in vs]
        # Nothing lost: each record got a 2xx (a late answer to a timed-out request does
        # not count: that record was sent again).
        self.assertEqual(set(delivered) - {"poison"}, set(values) - {"poison"})
        # While open, nothing was sent: after the third failure the next request waited
        # for breaker_open_ms.
        t = [at for at, _, _, _ in reqs]
        self.assertGreaterEqual(t[3] - t[2], 0.7, t[:6])
        # The probe (request 3) timed out: open again before request 4.
        self.assertGreaterEqual(t[4] - t[3], 0.7, t[:6])
        # Each record's attempts follow the backoff: the n-th retry waits at least half of
        # 200 ms * 2^(n-1), at most 2 s (equal jitter).
        attempts = {}
        for at, vs, _, _ in reqs:
            for v in vs:
                attempts.setdefault(v, []).append(at)
        for v, times in attempts.items():
            for n, (a, b) in enumerate(zip(times, times[1:]), start=1):
                self.assertGreaterEqual(b - a, min(0.2 * 2 ** (n - 1), 2.0) / 2 - 0.02,
                                        (v, times))
        # The record always refused: tried max_deliveries times, then dead-lettered.
        self.assertEqual(len(attempts["poison"]), 6)
        dead = self.dead_letters(s, "hooks.dlq", 1)
        self.assertEqual(len(dead), 1)
        value, headers = dead[0]
        self.assertEqual(value, "poison")
        self.assertEqual(headers["riptide-dlq-deliveries"], "6")
        self.assertEqual(headers["riptide-dlq-error"], "HTTP 500")
        metrics = s.http_get("/metrics")[1]
        self.assertIn('riptide_webhook_breaker_state{queue="hooks"}', metrics)
        self.assertIn('riptide_webhook_records_total{queue="hooks"} 20', metrics)

    def test_the_broker_stops_cleanly_while_a_request_hangs(self):
        s = self.start_broker()
        self.create_topic(s, "events", 1)
        rx = Receiver(lambda n, values: "slow")  # every answer comes after 1 s
        self.addCleanup(rx.stop)
        status, _ = self.http.call("PUT", "/v1/queues/stuck", {
            "topic": "events", "webhook": {"url": f"http://127.0.0.1:{rx.port}/",
                                           "timeout_ms": 5000, "concurrency": 2}})
        self.assertEqual(status, 201)
        self.produce(s, "events", ["a", "b", "c"], partition=0)
        deadline = time.monotonic() + 20
        while not rx.snapshot() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(rx.snapshot())
        self.assertEqual(s.stop(), 0)
        # What was in flight is handed out again after a restart.
        s = self.start_broker(data_dir=s.data_dir)
        _, d = self.http.call("GET", "/v1/queues/stuck")
        self.assertEqual(d["partitions"][0]["log_end"], 3)

    def test_bad_webhook_definitions_are_refused(self):
        s = self.start_broker()
        self.create_topic(s, "events", 1)
        for hook, field in (({"url": "https://example.com/x"}, "webhook.url"),
                            ({"url": "ftp://x"}, "webhook.url"),
                            ({"url": "http://h:99999/"}, "webhook.url"),
                            ({"url": "http://h/", "batch_size": 0}, "batch_size"),
                            ({"url": "http://[::1]:80/"}, "webhook.url"),
                            ({"url": "http://h/", "timeout_ms": 60000}, "webhook.timeout_ms"),
                            ({"url": "http://h/", "colour": "red"}, "webhook.colour")):
            status, body = self.http.call("PUT", "/v1/queues/bad",
                                          {"topic": "events", "webhook": hook})
            self.assertEqual(status, 400, (hook, body))
            self.assertIn(field, body["message"], hook)


if __name__ == "__main__":
    unittest.main()
