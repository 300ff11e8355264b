"""Retrying an HTTP produce does not store its records twice: Idempotency-Key within a
broker's run, and an idempotent producer id across a restart too."""

import json
import unittest

from harness import ServerTest
from test_http_groups import HttpClient


class HttpIdempotenceTest(ServerTest):
    def high_watermarks(self, http, topic):
        _, r = http.call("GET", f"/v1/topics/{topic}/partitions")
        return [p["high_watermark"] for p in r["partitions"]]

    def test_idempotency_key_replays_the_first_answer(self):
        s = self.start()
        http = HttpClient(s.http_port)
        self.assertEqual(http.call("POST", "/v1/topics", {"name": "orders", "partitions": 2})[0],
                         201)
        body = {"records": [{"key": "o-1", "value": {"total": 5}}, {"key": "o-2", "value": 7}]}
        first = http.call("POST", "/v1/topics/orders/records", body,
                          headers={"Idempotency-Key": "order-batch-1"})
        again = http.call("POST", "/v1/topics/orders/records", body,
                          headers={"Idempotency-Key": "order-batch-1"})
        self.assertEqual(first[0], 200, first)
        self.assertEqual(again, first)
        self.assertEqual(sum(self.high_watermarks(http, "orders")), 2)
        # The same key with another body is a client bug, not a retry.
        status, r = http.call("POST", "/v1/topics/orders/records", {"records": [{"value": 1}]},
                              headers={"Idempotency-Key": "order-batch-1"})
        self.assertEqual((status, r["error"]), (422, "idempotency_key_reused"))
        # Another key is another request.
        status, _ = http.call("POST", "/v1/topics/orders/records", body,
                              headers={"Idempotency-Key": "order-batch-2"})
        self.assertEqual(status, 200)
        self.assertEqual(sum(self.high_watermarks(http, "orders")), 4)
        # A refused request is not remembered: fixing it and retrying stores it.
        bad = {"records": [{"value": "x", "partition": 9}]}
        self.assertEqual(http.call("POST", "/v1/topics/orders/records", bad,
                                   headers={"Idempotency-Key": "k3"})[0], 404)
        self.assertEqual(http.call("POST", "/v1/topics/orders/records", bad,
                                   headers={"Idempotency-Key": "k3"})[0], 404)

    def test_producer_id_deduplicates_across_a_restart(self):
        s = self.start()
        http = HttpClient(s.http_port)
        self.assertEqual(http.call("POST", "/v1/topics", {"name": "pay", "partitions": 2})[0], 201)
        status, p = http.call("POST", "/v1/producers")
        self.assertEqual(status, 201, p)
        req = {"partition": 1, "producer": {"id": p["id"], "epoch": p["epoch"], "sequence": 0},
               "records": [{"value": "a"}, {"value": "b"}]}
        status, r = http.call("POST", "/v1/topics/pay/records", req)
        self.assertEqual((status, r["duplicate"]), (200, False))
        self.assertEqual([o["offset"] for o in r["offsets"]], [0, 1])
        self.assertEqual(s.stop(), 0)

        s2 = self.start(data_dir=s.data_dir)
        http = HttpClient(s2.http_port)
        status, r = http.call("POST", "/v1/topics/pay/records", req)
        self.assertEqual((status, r["duplicate"]), (200, True), r)
        self.assertEqual([o["offset"] for o in r["offsets"]], [0, 1])
        self.assertEqual(self.high_watermarks(http, "pay"), [0, 2])
        # A gap in the sequence is refused, nothing stored.
        req["producer"]["sequence"] = 5
        status, r = http.call("POST", "/v1/topics/pay/records", req)
        self.assertEqual((status, r["error"]), (409, "out_of_order_sequence"))
        req["producer"]["sequence"] = 2
        self.assertEqual(http.call("POST", "/v1/topics/pay/records", req)[0], 200)
        self.assertEqual(self.high_watermarks(http, "pay"), [0, 4])
        # Without a partition the sequence would mean nothing: refused, naming the field.
        del req["partition"]
        status, r = http.call("POST", "/v1/topics/pay/records", req)
        self.assertEqual(status, 400)
        self.assertIn("partition", r["message"])


if __name__ == "__main__":
    unittest.main()
