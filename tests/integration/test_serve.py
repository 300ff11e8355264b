"""`riptide serve` as a user runs it: start, recovery report, clean shutdown, bad config."""

import glob
import os
import shutil
import signal
import subprocess
import unittest

from harness import ServerTest

CRASH_TEST = os.environ.get("TEST_CRASH_TEST_BIN", "build/release/tests/crash_test")


class ServeTest(ServerTest):
    def test_starts_and_stops_cleanly_on_sigterm_and_sigint(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            s = self.start()
            s.wait_for("ready")
            self.assertTrue(os.path.isdir(s.data_dir))
            self.assertEqual(s.stop(sig), 0, s.log)
            self.assertIn("everything acknowledged is durable", s.log)

    def test_second_process_on_the_same_directory_is_refused(self):
        first = self.start()
        first.wait_for("ready")
        second = self.start()
        self.assertEqual(second.wait_exit(), 1)
        self.assertIn(f"in use by riptide process {first.proc.pid}", second.log)
        self.assertEqual(first.stop(), 0)

    def test_second_broker_on_a_port_in_use_is_refused(self):
        first = self.start()
        port = first.kafka_port
        second = self.start(data_dir=os.path.join(self.tmp, "other"), listen=f"127.0.0.1:{port}")
        self.assertEqual(second.wait_exit(), 1)
        self.assertIn(f"cannot listen for Kafka clients on 127.0.0.1:{port}: Address already "
                      "in use", second.log)
        self.assertIsNone(first.proc.poll())

    def test_reports_what_recovery_found(self):
        data = os.path.join(self.tmp, "data")
        part = os.path.join(data, "events-0")
        # Fill a partition through the storage engine with kill -9s along the way, under a
        # topic table as earlier versions wrote it.
        subprocess.run([CRASH_TEST, "--kills", "3", "--keep", part], check=True,
                       capture_output=True, timeout=120)
        with open(os.path.join(data, "topics"), "w") as f:
            f.write("riptide-topics v1\nevents 1 9f0c49e1aa0b4f6c8d2e7a1b3c5d7e9f -\n")
        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertIn("recovered events-0: offsets [0, ", s.log)
        self.assertEqual(s.stop(), 0)

        # A torn write at the tail after a crash: recovery truncates it and says so.
        segment = sorted(glob.glob(os.path.join(part, "*.log")))[-1]
        with open(segment, "ab") as f:
            f.write(b"\x00\x00\x00\x00\x00\x00\x00\x07torn")
        os.remove(os.path.join(part, "recovery-point"))
        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertIn("TRUNCATED 12 bytes", s.log)
        self.assertIn("1 with a truncated unacknowledged tail", s.log)
        self.assertEqual(s.stop(), 0)

        # After the clean stop the next start trusts the recovery point.
        s = self.start(data_dir=data)
        s.wait_for("ready")
        self.assertIn("clean (nothing after the recovery point)", s.log)
        self.assertEqual(s.stop(), 0)

    def test_a_damaged_topic_table_or_producer_id_file_is_refused_naming_it_and_the_fix(self):
        from confluent_kafka import Consumer, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        data = os.path.join(self.tmp, "data")
        s = self.start(data_dir=data)
        s.wait_for("ready")
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic("orders", 2, 1, config={"retention.ms": "3600000"})])[
            "orders"].result(30)
        p = Producer({"bootstrap.servers": s.bootstrap, "enable.idempotence": True})
        for i in range(10):
            p.produce("orders", str(i).encode(), partition=i % 2)
        self.assertEqual(p.flush(30), 0)
        self.assertEqual(s.stop(), 0)

        table = os.path.join(data, "topics")
        with open(table) as f:
            good = f.read()
        lines = good.splitlines(keepends=True)
        self.assertEqual(lines[0], "riptide-topics v2\n")
        topic_id = next(line for line in lines if " topic orders " in line).split(" ")[4]
        damaged_line = lines[1][:12] + ("x" if lines[1][12] != "x" else "y") + lines[1][13:]
        damages = [
            ("riptide-topics v9\n" + "".join(lines[1:]), 1, 'expected "riptide-topics v2"'),
            (lines[0] + damaged_line + "".join(lines[2:]), 2,
             "checksum mismatch (the line is not as written)"),
            # The format of earlier versions is read, and checked, as before.
            (f"riptide-topics v1\norders 2 {'z' * 32} -\n", 2,
             f'topic id "{"z" * 32}" is not 32 hexadecimal digits'),
            (f"riptide-topics v1\norders 2 {topic_id} riptide.durability=sometimes\n", 2,
             'riptide.durability must be fsync, interval or page_cache, got "sometimes"'),
            (f"riptide-topics v1\norders -2 {topic_id} -\n", 2,
             "-2 partitions is outside 1-100000"),
            ("riptide-topics v1\norders 2\n", 2, "expected \"<topic> <partitions>"),
        ]
        for text, at, what in damages:
            with open(table, "w") as f:
                f.write(text)
            b = self.start(data_dir=data)
            self.assertEqual(b.wait_exit(), 1, b.log)  # an error, not a crash
            self.assertIn(f"topics, line {at}: {what}", b.log)
            self.assertIn("restore it from a backup", b.log)
            with open(table) as f:
                self.assertEqual(f.read(), text)  # left for the operator to look at
        with open(table, "w") as f:
            f.write(good)

        ids = os.path.join(data, "producer-ids")
        with open(ids) as f:
            good_ids = f.read()
        for bad in ("", "12 apples", "-5"):
            with open(ids, "w") as f:
                f.write(bad)
            b = self.start(data_dir=data)
            self.assertEqual(b.wait_exit(), 1, b.log)
            self.assertIn("producer-ids: expected the next free producer id", b.log)
            self.assertIn("at least as large as the last producer id handed out", b.log)
        with open(ids, "w") as f:
            f.write(good_ids)

        # Without the table, no directory is adopted: they are moved aside, kept whole.
        os.rename(table, table + ".damaged")
        s = self.start(data_dir=data)
        s.wait_for("ready")
        orphaned = os.path.join(data, "orphaned")
        self.assertIn("2 partition directories of topic orders (the topic table has no such "
                      f"topic) moved to {orphaned}, not adopted", s.log)
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        self.assertNotIn("orders", admin.list_topics(timeout=10).topics)
        # The troubleshooting guide's recovery: create the topic again, stop, put the
        # directories back over the new empty ones, start.
        admin.create_topics([NewTopic("orders", 2, 1)])["orders"].result(30)
        self.assertEqual(s.stop(), 0)
        for q in (0, 1):
            shutil.rmtree(os.path.join(data, f"orders-{q}"))
            os.rename(os.path.join(orphaned, f"orders-{q}"), os.path.join(data, f"orders-{q}"))
        s = self.start(data_dir=data)
        s.wait_for("ready")
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "check",
                      "enable.partition.eof": True})
        c.assign([TopicPartition("orders", q, 0) for q in (0, 1)])
        values, at_end = [], set()
        while len(at_end) < 2:
            m = c.poll(30)
            self.assertIsNotNone(m, "the recovered partitions were not read to their end")
            if m.error():
                at_end.add(m.partition())
            else:
                values.append(int(m.value()))
        c.close()
        self.assertEqual(sorted(values), list(range(10)))
        self.assertEqual(s.stop(), 0)

    def test_invalid_values_are_refused_naming_key_source_and_fix(self):
        r = self.run_riptide("serve", "--storage-segment-bytes", "12XB")
        self.assertEqual(r.returncode, 2)
        self.assertIn('invalid value "12XB" for storage.segment_bytes (from flag '
                      '--storage-segment-bytes)', r.stderr)
        self.assertIn("expected a size such as", r.stderr)

        r = self.run_riptide("serve", env={"RIPTIDE_STORAGE_DURABILITY": "sometimes"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("RIPTIDE_STORAGE_DURABILITY", r.stderr)
        self.assertIn("fsync, interval, page_cache", r.stderr)

        cfg = os.path.join(self.tmp, "bad.toml")
        with open(cfg, "w") as f:
            f.write("[storage]\nsegment_byte = 5\n")
        r = self.run_riptide("serve", "--config", cfg)
        self.assertEqual(r.returncode, 2)
        self.assertIn("segment_byte", r.stderr)
        self.assertIn("storage.segment_bytes", r.stderr)  # the suggestion

    def test_print_config_shows_sources(self):
        cfg = os.path.join(self.tmp, "riptide.toml")
        with open(cfg, "w") as f:
            f.write('[storage]\nsegment_bytes = "256MiB"\n')
        r = self.run_riptide("serve", "--config", cfg, "--print-config", "--log-level", "warn",
                             env={"RIPTIDE_STORAGE_DURABILITY": "interval"})
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = {l.split("=")[0].strip(): l for l in r.stdout.splitlines() if "=" in l}
        self.assertIn("256MiB", lines["storage.segment_bytes"])
        self.assertIn(cfg, lines["storage.segment_bytes"])
        self.assertIn("RIPTIDE_STORAGE_DURABILITY", lines["storage.durability"])
        self.assertIn("flag --log-level", lines["log.level"])
        self.assertIn("# default", lines["data_dir"])


if __name__ == "__main__":
    unittest.main()
