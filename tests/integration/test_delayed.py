"""Delayed delivery: records produced with a due time (the riptide-deliver-at or
riptide-delay-ms header, the HTTP fields, or a topic's riptide.delivery.delay.ms) are held
and appear in their topic, for every reader, at that time: never before it, exactly once,
across kill -9 of the broker too."""

import json
import time
import unittest
import urllib.request

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import ServerTest


def now_ms():
    return int(time.time() * 1000)


class DelayedDeliveryTest(ServerTest):
    def start_broker(self, *args, data_dir=None):
        s = self.start(*args, data_dir=data_dir)
        s.wait_for("ready")
        return s

    def create_topic(self, s, name, partitions=1, config=None):
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic(name, partitions, config=config or {})])[name].result(
            timeout=30)

    def produce(self, s, topic, records, **conf):
        """records: (value, headers) pairs; returns the delivery reports' (error, offset)."""
        p = Producer({"bootstrap.servers": s.bootstrap, "linger.ms": 20, **conf})
        reports = []
        for value, headers in records:
            p.produce(topic, value.encode(), headers=headers,
                      on_delivery=lambda err, m: reports.append((err, m.offset())))
        self.assertEqual(p.flush(30), 0)
        return reports

    def consume(self, s, topic, want, timeout=30):
        """Reads `topic` from the start until `want` records arrived (or the timeout): a
        list of (value, headers, wall ms when seen, offset)."""
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": f"r-{topic}-{now_ms()}",
                      "auto.offset.reset": "earliest", "fetch.wait.max.ms": 10})
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < deadline:
            m = c.poll(0.05)
            if m is None or m.error():
                continue
            got.append((m.value().decode(), {k: v.decode() for k, v in (m.headers() or [])},
                        now_ms(), m.offset()))
        c.close()
        return got

    def count_now(self, s, topic, partitions=1):
        """How many records `topic`'s partitions hold now (read to their ends, assigned
        rather than subscribed: no group to join first)."""
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": f"n-{now_ms()}",
                      "enable.partition.eof": True, "enable.auto.commit": False})
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        n, ended, deadline = 0, set(), time.monotonic() + 20
        while len(ended) < partitions and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    ended.add(m.partition())
                continue
            n += 1
        c.close()
        self.assertEqual(len(ended), partitions)
        return n

    def test_kafka_headers_hold_records_until_due_and_consumers_see_them_once(self):
        s = self.start_broker()
        self.create_topic(s, "orders", 1)
        start = now_ms()
        # Due times that differ within one batch: each record at its own.
        records = [(f"later-{i}", [("riptide-delay-ms", b"1500" if i % 2 else b"3000"),
                                   ("trace", b"t%d" % i)])
                   for i in range(50)]
        records += [(f"at-{i}", [("riptide-deliver-at", str(start + 2500).encode())])
                    for i in range(20)]
        records += [(f"now-{i}", []) for i in range(30)]
        reports = self.produce(s, "orders", records)
        self.assertTrue(all(err is None for err, _ in reports), reports)
        # The plain records are there at once; the held ones are not.
        self.assertEqual(self.count_now(s, "orders"), 30)
        got = self.consume(s, "orders", 100)
        values = [v for v, _, _, _ in got]
        self.assertEqual(sorted(values), sorted(v for v, _ in records))
        self.assertEqual(len(set(values)), 100)
        for value, headers, seen, _ in got:
            if value.startswith("now-"):
                self.assertEqual(headers, {})
                continue
            # Seen at its due time, not before; the request headers are gone, the due
            # time and where it was held are said instead.
            due = int(headers["riptide-deliver-at"])
            self.assertGreaterEqual(seen, due, value)
            self.assertNotIn("riptide-delay-ms", headers)
            self.assertIn("riptide-delayed-id", headers)
            if value.startswith("at-"):
                self.assertEqual(due, start + 2500)
            else:
                self.assertGreaterEqual(due, start + (1500 if int(value[6:]) % 2 else 3000))
                self.assertEqual(headers["trace"], "t" + value.split("-")[1])
        # The moved records come after those stored at once.
        offsets = {v: o for v, _, _, o in got}
        self.assertLess(max(offsets[f"now-{i}"] for i in range(30)),
                        min(offsets[f"later-{i}"] for i in range(50)))
        metrics = s.http_get("/metrics")[1]
        self.assertIn("riptide_delayed_moved_total 70", metrics)

    def test_idempotent_compressed_batches_mixing_held_and_plain_records(self):
        s = self.start_broker()
        self.create_topic(s, "mixed", 2)
        records = []
        for i in range(400):
            headers = [("riptide-delay-ms", b"1000")] if i % 3 == 0 else []
            records.append((f"r-{i}", headers))
        reports = self.produce(s, "mixed", records, **{"enable.idempotence": True,
                                                       "compression.type": "lz4",
                                                       "batch.num.messages": 37})
        self.assertTrue(all(err is None for err, _ in reports), reports)
        got = self.consume(s, "mixed", 400)
        self.assertEqual(sorted(v for v, _, _, _ in got), sorted(v for v, _ in records))
        self.assertEqual(len({v for v, _, _, _ in got}), 400)
        self.assertEqual(self.count_now(s, "mixed", 2), 400)

    def test_topic_default_delay_and_past_due_times(self):
        s = self.start_broker()
        self.create_topic(s, "slow", 1, {"riptide.delivery.delay.ms": "1200"})
        reports = self.produce(s, "slow", [
            ("default", []),
            ("past", [("riptide-deliver-at", str(now_ms() - 5000).encode())]),
            ("zero", [("riptide-delay-ms", b"0")]),
        ])
        self.assertTrue(all(err is None for err, _ in reports), reports)
        self.assertEqual(self.count_now(s, "slow"), 2)
        got = self.consume(s, "slow", 3)
        self.assertEqual(sorted(v for v, _, _, _ in got), ["default", "past", "zero"])

    def test_bad_delay_headers_are_refused(self):
        s = self.start_broker()
        self.create_topic(s, "strict", 1)
        for bad in (b"soon", b"-5", b"99999999999999999"):
            p = Producer({"bootstrap.servers": s.bootstrap, "retries": 0})
            errors = []
            p.produce("strict", b"x", headers=[("riptide-delay-ms", bad)],
                      on_delivery=lambda err, m: errors.append(err))
            p.flush(30)
            self.assertEqual(len(errors), 1)
            self.assertIsNotNone(errors[0], bad)
            self.assertEqual(errors[0].name(), "INVALID_RECORD", bad)
        self.assertEqual(self.count_now(s, "strict"), 0)

    def test_http_produce_fields(self):
        s = self.start_broker()
        self.create_topic(s, "web", 1)

        def post(body):
            req = urllib.request.Request(
                f"http://127.0.0.1:{s.http_port}/v1/topics/web/records",
                data=json.dumps(body).encode(), method="POST",
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())

        out = post({"format": "text", "records": [
            {"value": "a", "delay_ms": 800},
            {"value": "b"},
            {"value": "c", "deliver_at": now_ms() + 1000},
        ]})
        rows = out["offsets"]
        self.assertEqual(rows[0], {"partition": 0, "delayed": True})
        self.assertEqual(rows[1], {"partition": 0, "offset": 1})
        self.assertTrue(rows[2]["delayed"])
        got = self.consume(s, "web", 3)
        self.assertEqual(sorted(v for v, _, _, _ in got), ["a", "b", "c"])
        try:
            post({"records": [{"value": 1, "delay_ms": "soon"}]})
            self.fail("a bad delay_ms was accepted")
        except urllib.error.HTTPError as e:
            self.assertEqual(e.code, 400)
            self.assertIn("delay_ms", json.loads(e.read())["message"])

    def test_held_records_survive_kill_and_are_moved_exactly_once(self):
        data = self.tmp + "/data"
        s = self.start_broker(data_dir=data)
        self.create_topic(s, "jobs", 4)
        # Phase 1: held, then the broker dies before they are due.
        due = now_ms() + 4000
        first = [(f"a-{i}", [("riptide-deliver-at", str(due).encode())]) for i in range(2000)]
        reports = self.produce(s, "jobs", first)
        self.assertTrue(all(err is None for err, _ in reports))
        s.kill()
        s = self.start_broker(data_dir=data)
        # Phase 2: many due at once; the broker is killed while it moves them.
        due2 = now_ms() + 3000
        second = [(f"b-{i}", [("riptide-deliver-at", str(due2).encode())])
                  for i in range(30000)]
        reports = self.produce(s, "jobs", second, **{"batch.num.messages": 1000})
        self.assertTrue(all(err is None for err, _ in reports))
        while now_ms() < due2 + 5:
            time.sleep(0.001)
        s.kill()
        s = self.start_broker(data_dir=data)
        got = self.consume(s, "jobs", 32000, timeout=60)
        values = [v for v, _, _, _ in got]
        self.assertEqual(len(values), 32000)
        self.assertEqual(set(values), {v for v, _ in first + second})
        # Nothing more comes: no record was moved twice.
        time.sleep(1)
        self.assertEqual(self.count_now(s, "jobs", 4), 32000)


if __name__ == "__main__":
    unittest.main()
