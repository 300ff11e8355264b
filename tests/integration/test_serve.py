"""`riptide serve` as a user runs it: start, recovery report, clean shutdown, bad config."""

import glob
import os
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
        # Fill a partition through the storage engine with kill -9s along the way.
        subprocess.run([CRASH_TEST, "--kills", "3", "--keep", part], check=True,
                       capture_output=True, timeout=120)
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
