"""The benchmark scripts beside bench-peers: bench/profile.py (a stage breakdown of the
broker's CPU under `riptide bench`) and bench/partition_curve.py (figures per partition
count).

The profile's attribution rules are checked on hand-written stacks (what `perf script`
prints); short real runs check that each script starts its broker, measures it, prints
its table with consistent figures, and stops the broker it started. Nothing here asserts
a speed."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import RIPTIDE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "bench", "profile.py")
CURVE = os.path.join(ROOT, "bench", "partition_curve.py")

sys.path.insert(0, os.path.join(ROOT, "bench"))
spec = importlib.util.spec_from_file_location("profile_stages", SCRIPT)
profile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(profile)

PERF_SCRIPT = """shard-0 
\tffffffff815a4dfe copy_folio_from_iter_atomic
\tffffffff816da899 do_pwritev
\t          42a890 base::file::pwritev_all
\t          411a87 storage::segment::append
\t          3f7544 storage::partition_log::append

shard-1 
\tffffffff81734874 splice_to_socket
\tffffffff816dcc08 __x64_sys_sendfile64
\t          397679 net::send_iobuf

journal-0 
\tffffffff81000130 entry_SYSCALL_64_after_hwframe
\t          10a974 fdatasync

shard-0 
\t          412345 base::crc32c
\t          412346 storage::validate_batch
\t          3f7544 storage::partition_log::append

shard-1 
\t          999999 some_function_of_nobody
"""


class StageRulesTest(unittest.TestCase):
    def test_each_sample_goes_to_the_stage_of_its_stack_or_thread(self):
        samples = list(profile.parse_samples(PERF_SCRIPT))
        self.assertEqual(len(samples), 5)
        self.assertEqual(samples[0][0], "shard-0")
        self.assertEqual(samples[0][1][0], "copy_folio_from_iter_atomic")
        counts = profile.stage_table(samples)
        stage = profile.LABELS
        self.assertEqual(counts[stage["segment_write"]], 1)
        self.assertEqual(counts[stage["fetch"]], 1)
        self.assertEqual(counts[stage["journal_thread"]], 1)
        # The CRC rule comes before validation: the checksum is its own stage.
        self.assertEqual(counts[stage["crc"]], 1)
        self.assertEqual(counts[profile.OTHER], 1)
        self.assertEqual(sum(counts.values()), 5)


@unittest.skipUnless(shutil.which("perf"), "perf is not installed")
class ProfileRunTest(unittest.TestCase):
    def test_a_short_run_prints_a_table_of_stages_and_stops_its_broker(self):
        build = os.path.dirname(os.path.abspath(RIPTIDE))
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "stages.json")
            r = subprocess.run(
                ["/usr/bin/python3", SCRIPT, "--build-dir", build, "--duration", "3",
                 "--partitions", "2", "--json-out", out_json],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
            if r.returncode != 0 and "perf record failed" in r.stderr:
                self.skipTest(f"perf cannot sample here: {r.stderr.strip()[-200:]}")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("| stage | share of broker CPU | us per record | cycles per record |",
                          r.stdout)
            with open(out_json) as f:
                figures = json.load(f)
        self.assertGreater(figures["produce_msgs_per_sec"], 0)
        self.assertGreater(figures["samples"], 0)
        self.assertAlmostEqual(sum(s["share"] for s in figures["stages"]), 1.0, places=6)
        self.assertGreater(figures["us_per_record"], 0)
        # The broker it started is gone.
        ps = subprocess.run(["pgrep", "-f", "riptide-profile-"], stdout=subprocess.PIPE, text=True)
        self.assertEqual(ps.stdout.strip(), "", "the profiled broker is still running")


class PartitionCurveTest(unittest.TestCase):
    def test_each_partition_count_gets_a_row_and_its_broker_is_stopped(self):
        build = os.path.dirname(os.path.abspath(RIPTIDE))
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "curve.json")
            r = subprocess.run(
                ["/usr/bin/python3", CURVE, "--build-dir", build, "--partitions", "1,8,20,4x2",
                 "--duration", "2", "--rate", "500", "--json-out", out_json],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out_json) as f:
                rows = json.load(f)
        self.assertEqual([row["partitions"] for row in rows], [1, 8, 20, 8])
        self.assertEqual([row["topics"] for row in rows], [1, 1, 1, 4])
        for row in rows:
            self.assertNotIn("error", row)
            self.assertGreater(row["produce_msgs_per_sec"], 0)
            self.assertGreater(row["e2e_p99_ms"], 0)
            self.assertGreaterEqual(row["e2e_p99_ms"], row["e2e_p50_ms"])
            self.assertGreater(row["rss_bytes"], 0)
            self.assertGreaterEqual(row["peak_rss_bytes"], row["rss_bytes"])
        # More partitions hold more open files (each partition's segment and indexes).
        self.assertGreater(rows[2]["descriptors"], rows[0]["descriptors"])
        for line in ("| 1 | ", "| 8 | ", "| 20 | ", "| 8 (4 topics x 2) | "):
            self.assertIn(line, r.stdout)
        ps = subprocess.run(["pgrep", "-f", "riptide-curve-"], stdout=subprocess.PIPE, text=True)
        self.assertEqual(ps.stdout.strip(), "", "a measured broker is still running")


if __name__ == "__main__":
    unittest.main()
