"""The data directory's durability edges, seen from outside the real binary: new
directories fsynced into their parents, the identity written into a new directory and the
loud warning that goes with it, a partition turned read-only by a failing disk and a full
disk, each reported by /readyz, /metrics and the log.

An LD_PRELOAD shim (io_shim.c) logs every mkdir, fsync and fdatasync with its path, and
fails writes to chosen files while a trigger file exists."""

import json
import os
import unittest

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from harness import ServerTest

SHIM = os.environ.get("TEST_IO_SHIM", "build/release/tests/io_shim.so")


def produce(bootstrap, topic, values):
    """Delivery errors (None for a record acknowledged), one per value."""
    errors = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0,
                  "message.timeout.ms": 10000})
    for v in values:
        p.produce(topic, v, on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    return errors


class DataDirTest(ServerTest):
    def shim_env(self, **extra):
        # ASan wants its runtime first in the library list; the shim comes before it.
        env = {"LD_PRELOAD": SHIM, "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
               ":verify_asan_link_order=0"}
        env.update(extra)
        return env

    def test_new_directories_are_fsynced_into_their_parents(self):
        log = os.path.join(self.tmp, "io.log")
        parent = os.path.realpath(os.path.join(self.tmp, "disk", "brokers"))
        data = os.path.join(parent, "data")
        s = self.start(data_dir=data, env=self.shim_env(IO_SHIM_LOG=log))
        s.wait_for("ready")
        self.assertIn(f"created the data directory {data}: it is new and empty", s.log)
        self.assertEqual(produce(s.bootstrap, "orders", [b"a", b"b"]), [None, None])
        self.assertEqual(s.stop(), 0)

        with open(log) as f:
            calls = [line.rstrip("\n").split(" ", 1) for line in f]

        def fsynced_after_mkdir(directory):
            """The directory's creation is followed by an fsync of its parent."""
            made = calls.index(["mkdir", directory])
            return ["fsync", os.path.dirname(directory)] in calls[made + 1:]

        self.assertTrue(fsynced_after_mkdir(os.path.join(self.tmp, "disk")), calls[:20])
        self.assertTrue(fsynced_after_mkdir(parent), calls[:20])
        self.assertTrue(fsynced_after_mkdir(data), calls[:20])
        self.assertTrue(fsynced_after_mkdir(os.path.join(data, "orders-0")), calls)

        # The identity is in the directory; the next start on it is no news.
        with open(os.path.join(data, "identity")) as f:
            identity = dict(line.strip().split("=", 1) for line in f)
        self.assertEqual(identity["node.id"], "0")
        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertNotIn("new and empty", s.log)
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        self.assertEqual(admin.list_topics(timeout=10).cluster_id, identity["cluster.id"])

    def test_an_existing_empty_directory_is_announced_and_another_nodes_is_refused(self):
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertIn(f"starting on the data directory {data}: it is new and empty", s.log)
        self.assertEqual(s.stop(), 0)
        with open(os.path.join(data, "identity"), "w") as f:
            f.write("cluster.id=abc\nnode.id=3\n")
        s = self.start(data_dir=data)
        self.assertNotEqual(s.wait_exit(), 0)
        self.assertIn("belongs to node 3, but this broker is node 0", s.log)

    def test_a_read_only_partition_fails_readyz_and_sets_a_metric(self):
        trigger = os.path.join(self.tmp, "disk-failing")
        s = self.start(env=self.shim_env(IO_SHIM_FAIL_WRITES="/fragile-0/",
                                         IO_SHIM_FAIL_WHILE=trigger))
        s.wait_for("ready")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        for name, fs in admin.create_topics([NewTopic("fragile", 1, 1),
                                             NewTopic("sturdy", 1, 1)]).items():
            fs.result(timeout=30)
        self.assertEqual(produce(s.bootstrap, "fragile", [b"kept"]), [None])
        self.assertEqual(s.http_get("/readyz")[0], 200)

        open(trigger, "w").close()
        errors = produce(s.bootstrap, "fragile", [b"lost"])
        self.assertEqual(errors[0].code(), KafkaError.KAFKA_STORAGE_ERROR)
        os.remove(trigger)  # the disk is back, but the partition stays read-only

        status, body = s.http_get("/readyz")
        self.assertEqual(status, 503)
        report = json.loads(body)
        self.assertEqual(report["status"], "degraded")
        self.assertEqual([p["partition"] for p in report["read_only_partitions"]], ["fragile-0"])
        self.assertIn("error", report["read_only_partitions"][0]["error"].lower())
        _, metrics = s.http_get("/metrics")
        self.assertIn('riptide_partition_read_only{topic="fragile",partition="0"} 1', metrics)
        self.assertIn('riptide_partition_read_only{topic="sturdy",partition="0"} 0', metrics)
        # The other partition keeps working.
        self.assertEqual(produce(s.bootstrap, "sturdy", [b"fine"]), [None])

    def test_a_full_disk_is_logged_counted_and_reported_by_readyz(self):
        # A minimum free space no file system has: every append is refused as disk full.
        s = self.start("--storage-min-free-bytes", str(1 << 60))
        s.wait_for("ready")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic("spill", 1, 1)])["spill"].result(timeout=30)
        errors = produce(s.bootstrap, "spill", [b"a", b"b"])
        self.assertEqual([e.code() for e in errors], [KafkaError.KAFKA_STORAGE_ERROR] * 2)
        s.wait_for("disk full: refusing writes to")
        self.assertIn("below storage.min_free_bytes = 1152921504606846976", s.log)
        status, body = s.http_get("/readyz")
        self.assertEqual(status, 503)
        report = json.loads(body)
        self.assertEqual(report["status"], "degraded")
        self.assertEqual(report["disk_full"]["min_free_bytes"], 1 << 60)
        self.assertNotIn("read_only_partitions", report)  # full, not failed
        _, metrics = s.http_get("/metrics")
        self.assertIn("riptide_disk_full 1\n", metrics)
        refused = [line for line in metrics.splitlines()
                   if line.startswith("riptide_disk_full_refusals_total ")]
        self.assertGreaterEqual(int(refused[0].split()[1]), 1)
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
