"""The HTTP listener's operations side: /metrics agrees with what clients did; health endpoints."""

import json
import re
import unittest

from confluent_kafka import Producer

from harness import ServerTest
from test_kafka import consume_all


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
    m = re.search(r"^" + pattern + r"$", text, re.M)
    return float(m.group(1)) if m else None


class MetricsTest(ServerTest):
    def test_metrics_count_traffic_per_topic_and_api(self):
        s = self.start()
        s.wait_for("ready")
        p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all", "linger.ms": 5})
        for i in range(300):
            p.produce("metered", f"value-{i}".encode())
        self.assertEqual(p.flush(30), 0)
        got = consume_all(s.bootstrap, "metered", 1, 300)
        self.assertEqual(len(got), 300)

        status, text = s.http_get("/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(metric(text, "riptide_topic_records_in_total", topic="metered"), 300)
        self.assertEqual(metric(text, "riptide_topic_records_out_total", topic="metered"), 300)
        self.assertGreater(metric(text, "riptide_topic_bytes_in_total", topic="metered"), 300 * 7)
        self.assertGreaterEqual(metric(text, "riptide_topic_bytes_out_total", topic="metered"),
                                metric(text, "riptide_topic_bytes_in_total", topic="metered"))
        self.assertGreaterEqual(metric(text, "riptide_kafka_requests_total", api="Produce"), 1)
        self.assertGreaterEqual(
            metric(text, "riptide_kafka_request_seconds_count", api="Fetch"), 1)
        self.assertEqual(
            metric(text, "riptide_partition_log_end_offset", topic="metered", partition="0"), 300)
        self.assertEqual(
            metric(text, "riptide_partition_high_watermark", topic="metered", partition="0"), 300)
        self.assertGreater(
            metric(text, "riptide_partition_size_bytes", topic="metered", partition="0"), 0)
        self.assertGreaterEqual(metric(text, "riptide_fsync_seconds_count"), 1)
        self.assertIsNotNone(metric(text, "riptide_kafka_connections"))
        self.assertEqual(s.stop(), 0)

    def test_health_endpoints_and_errors(self):
        s = self.start()
        s.wait_for("ready")
        self.assertEqual(s.http_get("/healthz"), (200, '{"status":"ok"}'))
        self.assertEqual(s.http_get("/readyz"), (200, '{"status":"ready"}'))
        status, body = s.http_get("/nope")
        self.assertEqual(status, 404)
        err = json.loads(body)
        self.assertEqual(err["error"], "not_found")
        self.assertIn("/v1/openapi.json", err["message"])
        self.assertTrue(err["request_id"])
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
