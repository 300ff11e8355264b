"""Idempotent producers under retries: 50,000 records from a confluent-kafka producer
with enable.idempotence=true while the broker is killed with kill -9 and restarted, and
while the broker cuts every connection before sending its next response (the
test-only fault switch). Afterwards each partition holds every record exactly once, in
the order produced, at the offset its delivery report named."""

import json
import os
import signal
import socket
import time
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import ServerTest

PARTITIONS = 4
COUNT = 50_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IdempotenceTest(ServerTest):
    def broker(self, port, data):
        s = self.start("--testing-fault-injection", "true", data_dir=data,
                       listen=f"127.0.0.1:{port}")
        s.wait_for("ready")
        return s

    def cut_connections(self, server):
        req = urllib.request.Request(
            f"http://127.0.0.1:{server.http_port}/v1/faults/cut-kafka-connections",
            method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)
            return json.loads(r.read())["cut"]

    def duplicates(self, server):
        status, body = server.http_get("/metrics")
        self.assertEqual(status, 200)
        for line in body.splitlines():
            if line.startswith("riptide_produce_duplicate_batches_total"):
                return int(float(line.split()[-1]))
        return 0

    def test_no_duplicates_gaps_or_reordering_across_kill_9_and_cut_connections(self):
        port = free_port()
        data = os.path.join(self.tmp, "data")
        s = self.broker(port, data)
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic("payments", PARTITIONS, 1)])["payments"].result(30)

        delivered, errors = {}, []

        def on_delivery(err, msg):
            if err:
                errors.append(str(err))
            else:
                delivered[msg.value().decode()] = (msg.partition(), msg.offset())

        p = Producer({"bootstrap.servers": s.bootstrap, "enable.idempotence": True,
                      "acks": "all", "linger.ms": 2, "message.timeout.ms": 300000,
                      "retry.backoff.ms": 50, "reconnect.backoff.ms": 50,
                      "reconnect.backoff.max.ms": 500})
        chunk = 1000
        duplicates_before_kill = 0
        for start in range(0, COUNT, chunk):
            for i in range(start, start + chunk):
                while True:
                    try:
                        p.produce("payments", value=str(i).encode(), partition=i % PARTITIONS,
                                  on_delivery=on_delivery)
                        break
                    except BufferError:
                        p.poll(0.05)
            p.poll(0.02)
            n = start // chunk
            if n in (8, 16, 32, 40, 44):
                self.cut_connections(s)  # in-flight responses are lost: clients retry
            if n == 24:
                duplicates_before_kill = self.duplicates(s)
                s.proc.send_signal(signal.SIGKILL)
                s.wait_exit()
                s = self.broker(port, data)
        left = p.flush(240)
        self.assertEqual(left, 0, f"{left} records still undelivered after 240 s "
                                  f"({len(delivered)} delivered, errors: {errors[:5]})")
        self.assertEqual(errors, [])
        self.assertEqual(len(delivered), COUNT)
        retried = duplicates_before_kill + self.duplicates(s)
        self.assertGreater(retried, 0, "no retry ever reached the broker's duplicate check "
                                       "(five cuts: two before the kill -9, three after)")

        # Read every partition back from the start.
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "verify",
                      "enable.auto.commit": False, "enable.partition.eof": True})
        c.assign([TopicPartition("payments", q, 0) for q in range(PARTITIONS)])
        logs = {q: [] for q in range(PARTITIONS)}
        at_end = set()
        deadline = time.monotonic() + 120
        while len(at_end) < PARTITIONS and time.monotonic() < deadline:
            m = c.poll(1)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    at_end.add(m.partition())
                continue
            logs[m.partition()].append((m.offset(), m.value().decode()))
        c.close()
        for q in range(PARTITIONS):
            expected = [str(i) for i in range(q, COUNT, PARTITIONS)]
            values = [v for _, v in logs[q]]
            self.assertEqual(len(values), len(expected), f"partition {q}: count")
            self.assertEqual(values, expected, f"partition {q}: duplicates, gaps or order")
            for offset, value in logs[q]:
                self.assertEqual(delivered[value], (q, offset), f"delivery report of {value}")
