"""Descriptors, seen from outside the real binary: under a low `ulimit -n`, many partitions
of many small segments are written, read back and reopened after a restart while the
process's open descriptors stay bounded (sealed segments' files live in a bounded cache);
a segment roll that cannot create its file (EMFILE, EACCES) is refused with a retriable
error and works again once the cause is gone, without a restart; a partition that cannot be
opened at start is reported and the others are served, and it is opened once it can be.

Faults come from an LD_PRELOAD shim (io_shim.c) that fails chosen opens while a trigger file
exists (the file names the errno)."""

import json
import os
import re
import resource
import time
import unittest

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import ServerTest

SHIM = os.environ.get("TEST_IO_SHIM", "build/release/tests/io_shim.so")
FD_LIMIT = 128


def low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def produce(bootstrap, topic, records, retries=0, timeout_ms=10000):
    """Delivery errors (None for a record acknowledged), one per (partition, value). With
    retries the producer is idempotent, so a retried batch keeps its place."""
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": retries,
                  "enable.idempotence": retries > 0, "message.timeout.ms": timeout_ms,
                  "linger.ms": 5, "batch.size": 4096, "retry.backoff.ms": 50})
    for partition, value in records:
        p.produce(topic, value, partition=partition,
                  on_delivery=lambda err, msg: errors.append(err))
        p.poll(0)
    p.flush(60)
    return errors


def consume(bootstrap, topic, partitions, expected):
    """{partition: [values]} read from the start until `expected` records arrived."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                  "enable.auto.commit": False, "max.partition.fetch.bytes": 8192})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {p: [] for p in range(partitions)}
    count = 0
    deadline = time.monotonic() + 60
    try:
        while count < expected and time.monotonic() < deadline:
            for m in c.consume(num_messages=min(500, expected - count), timeout=1):
                if m.error():
                    continue
                got[m.partition()].append(m.value())
                count += 1
    finally:
        c.close()
    return got


def metric(metrics, line_start):
    for line in metrics.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {line_start!r} in:\n{metrics}")


class DescriptorsTest(ServerTest):
    def shim_env(self, **extra):
        # ASan wants its runtime first in the library list; the shim comes before it.
        env = {"LD_PRELOAD": SHIM, "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
               ":verify_asan_link_order=0"}
        env.update(extra)
        return env

    def test_many_sealed_segments_under_a_low_descriptor_limit(self):
        partitions, per_partition = 16, 128  # 128 KiB each: 7+ sealed 16 KiB segments
        cache = 16
        # Active segments (the topic's and __consumer_offsets' 8) + the cache + a reserve
        # for listeners, journal, client connections; without the cache, the 110+ sealed
        # segments alone would pass the limit.
        bound = partitions + 8 + cache + 60
        args = ("--storage-max-open-segment-files", str(cache))
        s = self.start(*args, preexec_fn=low_fd_limit)
        s.wait_for("ready")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic("many", partitions, 1,
                                      config={"segment.bytes": "16384"})])["many"].result(30)
        del admin  # a client left open waits for the stopped broker when it is destroyed

        def value(p, i):
            return f"{p}-{i}-".encode().ljust(1000, b"x")

        records = [(p, value(p, i)) for i in range(per_partition) for p in range(partitions)]
        # Retries: a roll waits (refused as retriable) while the shard's sealed segments
        # waiting for their fsync fill the cache.
        errors = produce(s.bootstrap, "many", records, retries=1000, timeout_ms=60000)
        self.assertEqual([e for e in errors if e is not None], [])
        self.assertEqual(len(errors), len(records))
        self.assertLessEqual(open_fds(s.proc.pid), bound)

        sealed = sum(len([f for f in os.listdir(os.path.join(s.data_dir, f"many-{p}"))
                          if f.endswith(".log")]) - 1 for p in range(partitions))
        self.assertGreater(sealed + partitions + 8, FD_LIMIT)  # more than could all be open

        expected = {p: [value(p, i) for i in range(per_partition)] for p in range(partitions)}
        self.assertEqual(consume(s.bootstrap, "many", partitions, len(records)), expected)
        self.assertLessEqual(open_fds(s.proc.pid), bound)
        _, metrics = s.http_get("/metrics")
        self.assertGreater(metric(metrics, "riptide_segment_file_evictions_total "), 0)
        self.assertLessEqual(metric(metrics, 'riptide_open_segment_files{kind="sealed"}'), cache)
        self.assertEqual(metric(metrics, 'riptide_open_segment_files{kind="active"}'),
                         partitions + 8)
        self.assertNotIn("read-only", s.log)
        self.assertNotIn("cannot", s.log)
        self.assertEqual(s.stop(), 0)

        # A restart opens the sealed segments lazily: within the same bound.
        s = self.start(*args, preexec_fn=low_fd_limit)
        s.wait_for("ready")
        self.assertLessEqual(open_fds(s.proc.pid), bound)
        self.assertIn(f"opened {partitions + 8} partition(s)", s.log)
        self.assertEqual(consume(s.bootstrap, "many", partitions, len(records)), expected)
        self.assertLessEqual(open_fds(s.proc.pid), bound)
        self.assertNotIn("cannot", s.log)
        self.assertEqual(s.stop(), 0)

    def test_a_roll_that_cannot_create_its_file_is_refused_until_it_can(self):
        trigger = os.path.join(self.tmp, "no-new-files")
        s = self.start(env=self.shim_env(IO_SHIM_FAIL_CREATES="/rolling-0/",
                                         IO_SHIM_FAIL_WHILE=trigger))
        s.wait_for("ready")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic("rolling", 1, 1,
                                      config={"segment.bytes": "16384"})])["rolling"].result(30)
        del admin
        big = [b"%d" % i + b"." * 12000 for i in range(6)]
        self.assertEqual(produce(s.bootstrap, "rolling", [(0, big[0])]), [None])

        for name, text in (("EMFILE", "Too many open files"), ("EACCES", "Permission denied")):
            with open(trigger, "w") as f:
                f.write(name)
            # The next record needs a new segment, whose file cannot be created.
            errors = produce(s.bootstrap, "rolling", [(0, b"refused " + big[1])])
            self.assertEqual(errors[0].code(), KafkaError.KAFKA_STORAGE_ERROR, name)
            s.wait_for(f"rolling-0: cannot create the next segment")
            self.assertIn(text, s.log)
            # Not read-only: /readyz and the metric say so.
            self.assertEqual(s.http_get("/readyz")[0], 200, name)
            _, metrics = s.http_get("/metrics")
            self.assertIn('riptide_partition_read_only{topic="rolling",partition="0"} 0',
                          metrics)
        self.assertIn("ulimit -n", s.log)
        self.assertIn("writable by the broker's user", s.log)

        # A producer that retries gets through once the cause is gone, without a restart.
        with open(trigger, "w") as f:
            f.write("EMFILE")
        from threading import Timer
        Timer(1.0, os.remove, [trigger]).start()
        errors = produce(s.bootstrap, "rolling", [(0, big[2]), (0, big[3])], retries=100,
                         timeout_ms=30000)
        self.assertEqual(errors, [None, None])
        self.assertFalse(os.path.exists(trigger))
        self.assertEqual(produce(s.bootstrap, "rolling", [(0, big[4])]), [None])
        self.assertNotIn("read-only", s.log)
        self.assertEqual(consume(s.bootstrap, "rolling", 1, 4)[0],
                         [big[0], big[2], big[3], big[4]])
        self.assertEqual(s.stop(), 0)

        s = self.start()
        s.wait_for("ready")
        self.assertEqual(consume(s.bootstrap, "rolling", 1, 4)[0],
                         [big[0], big[2], big[3], big[4]])

    def test_a_partition_that_cannot_be_opened_does_not_stop_the_start(self):
        trigger = os.path.join(self.tmp, "broken")
        env = self.shim_env(IO_SHIM_FAIL_OPENS="/broken-0/", IO_SHIM_FAIL_WHILE=trigger)
        args = ("--storage-housekeeping-interval", "200ms")
        s = self.start(*args, env=env)
        s.wait_for("ready")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        for _, f in admin.create_topics([NewTopic("broken", 1, 1),
                                         NewTopic("fine", 1, 1)]).items():
            f.result(30)
        del admin
        self.assertEqual(produce(s.bootstrap, "broken", [(0, b"b0")]), [None])
        self.assertEqual(produce(s.bootstrap, "fine", [(0, b"f0")]), [None])
        self.assertEqual(s.stop(), 0)

        with open(trigger, "w") as f:
            f.write("EACCES")
        s = self.start(*args, env=env)
        s.wait_for("ready")
        s.wait_for("cannot open partition broken-0")
        self.assertIn("Permission denied", s.log)
        self.assertIn("1 partition(s) could not be opened and are not served", s.log)
        status, body = s.http_get("/readyz")
        self.assertEqual(status, 503)
        report = json.loads(body)
        self.assertEqual([p["partition"] for p in report["read_only_partitions"]], ["broken-0"])
        # The other partitions are served.
        self.assertEqual(produce(s.bootstrap, "fine", [(0, b"f1")]), [None])
        self.assertEqual(consume(s.bootstrap, "fine", 1, 2)[0], [b"f0", b"f1"])

        # Once it can be opened, it is, without a restart.
        os.remove(trigger)
        s.wait_for("opened partition broken-0")
        self.assertEqual(produce(s.bootstrap, "broken", [(0, b"b1")], retries=10), [None])
        self.assertEqual(consume(s.bootstrap, "broken", 1, 2)[0], [b"b0", b"b1"])
        self.assertEqual(s.http_get("/readyz")[0], 200)
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
