"""The benchmark scripts beside bench-peers: bench/profile.py (a stage breakdown of the
broker's CPU under `riptide bench`), bench/partition_curve.py (figures per partition
count), bench/delayed.py (held records' memory and lateness), and the HTTP API's load
generator bench/http_bench (its produce, ws-idle and fanout modes) with its driver
bench/http_bench.py.

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
import urllib.request

from harness import RIPTIDE, ServerTest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "bench", "profile.py")
CURVE = os.path.join(ROOT, "bench", "partition_curve.py")
DELAYED = os.path.join(ROOT, "bench", "delayed.py")
HTTP_DRIVER = os.path.join(ROOT, "bench", "http_bench.py")
HTTP_BENCH = os.environ.get("TEST_HTTP_BENCH_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(RIPTIDE)), "bench", "http_bench")

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
@unittest.skipIf(os.environ.get("TEST_SANITIZED") == "1",
                 "a profile of a sanitized broker measures the sanitizer, and its perf "
                 "post-processing takes minutes; the release run covers the script")
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


class DelayedBenchTest(unittest.TestCase):
    def test_a_small_run_reports_memory_and_lateness_and_stops_its_broker(self):
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "delayed.json")
            r = subprocess.run(
                ["/usr/bin/python3", DELAYED, "--riptide", RIPTIDE, "--pending", "3000",
                 "--timed", "300", "--spread", "2", "--json-out", out_json],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(out_json) as f:
                result = json.load(f)
        self.assertEqual(result["pending"], 3000)
        self.assertEqual((result["timed"], result["seen"], result["seen_before_due"]),
                         (300, 300, 0))
        self.assertGreater(result["rss_after_mib"], 0)
        self.assertGreaterEqual(result["lateness_ms"]["max"], result["lateness_ms"]["p99"])
        self.assertGreaterEqual(result["lateness_ms"]["p99"], result["lateness_ms"]["p50"])
        ps = subprocess.run(["pgrep", "-f", "riptide-delayed-"], stdout=subprocess.PIPE,
                            text=True)
        self.assertEqual(ps.stdout.strip(), "", "the measured broker is still running")


def last_json(text):
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


@unittest.skipUnless(os.path.exists(HTTP_BENCH), "http_bench is not built (RIPTIDE_BENCH=OFF)")
class HttpBenchToolTest(ServerTest):
    """Each mode of bench/http_bench, briefly, against a real broker: its JSON parses and
    its figures are positive (no speed is asserted)."""

    def tool(self, *args, timeout=120):
        r = subprocess.run([HTTP_BENCH, *args, "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        return r.stdout

    def test_produce_posts_records_and_reports_rates_and_latency(self):
        url = f"http://127.0.0.1:{self.start().http_port}"
        out = last_json(self.tool("produce", "--url", url, "--topic", "p", "--partitions", "2",
                                  "--connections", "2", "--records-per-request", "10",
                                  "--record-bytes", "100", "--seconds", "1"))
        self.assertEqual(out["mode"], "produce")
        self.assertEqual(out["errors"], 0, out["first_error"])
        self.assertGreater(out["requests"], 0)
        self.assertEqual(out["records"], out["requests"] * 10)
        for key in ("msgs_per_sec", "mb_per_sec", "requests_per_sec"):
            self.assertGreater(out[key], 0, key)
        lat = out["latency"]
        self.assertEqual(lat["count"], out["requests"])
        self.assertGreater(lat["p50_us"], 0)
        self.assertLessEqual(lat["p50_us"], lat["p99_us"])
        self.assertLessEqual(lat["p99_us"], lat["p999_us"])

    def test_ws_idle_opens_holds_and_closes_its_subscribers(self):
        server = self.start()
        url = f"http://127.0.0.1:{server.http_port}"
        text = self.tool("ws-idle", "--url", url, "--topic", "idle", "--partitions", "1",
                         "--subscribers", "50", "--hold-seconds", "1")
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        self.assertEqual(lines[0]["event"], "open")
        self.assertEqual(lines[0]["open"], 50)
        out = lines[-1]
        self.assertEqual(out["mode"], "ws-idle")
        self.assertEqual((out["open"], out["open_after_hold"], out["failed"], out["dropped"]),
                         (50, 50, 0, 0), out["first_error"])
        self.assertGreater(out["connect_seconds"], 0)

    def test_fanout_delivers_every_record_to_every_subscriber(self):
        url = f"http://127.0.0.1:{self.start().http_port}"
        out = last_json(self.tool("fanout", "--url", url, "--topic", "f", "--partitions", "1",
                                  "--subscribers", "20", "--rate", "50,200", "--seconds", "1",
                                  "--record-bytes", "64"))
        self.assertEqual(out["target"], "riptide")
        self.assertEqual(out["open"], 20, out["first_error"])
        self.assertEqual(out["stopped"], "")
        self.assertEqual([s["rate"] for s in out["steps"]], [50, 200])
        for step in out["steps"]:
            self.assertGreater(step["produced"], 0)
            self.assertTrue(step["drained"], step)
            self.assertEqual(step["delivered"], step["produced"] * 20)
            self.assertGreater(step["delivered_per_sec"], 0)
            self.assertEqual(step["latency"]["count"], step["delivered"])
            self.assertGreater(step["latency"]["p50_us"], 0)
            self.assertGreater(step["publish_latency"]["count"], 0)

    def test_queue_workers_ack_every_record_produced(self):
        server = self.start()
        url = f"http://127.0.0.1:{server.http_port}"
        out = last_json(self.tool("queue", "--url", url, "--topic", "qb", "--partitions", "2",
                                  "--workers", "3", "--prefetch", "20", "--seconds", "1",
                                  "--records-per-request", "10", "--max-backlog", "200"))
        self.assertEqual(out["workload"], "queue")
        produced, acked = out["produce"]["msgs"], out["consume"]["msgs"]
        self.assertGreater(produced, 0)
        self.assertEqual(produced % 10, 0)
        self.assertEqual(acked, produced)  # each acked once, answered by the broker
        self.assertEqual(out["e2e_latency"]["count"], acked)
        self.assertLessEqual(out["e2e_latency"]["p50_us"], out["e2e_latency"]["p99_us"])
        self.assertEqual(out["ack_latency"]["count"], produced // 10)
        # The broker agrees: nothing ready or leased is left, every partition is finished.
        with urllib.request.urlopen(f"{url}/v1/queues/qb-queue", timeout=10) as r:
            q = json.loads(r.read())
        self.assertEqual((q["ready"], q["leased"]), (0, 0))
        self.assertEqual(sum(p["start"] for p in q["partitions"]), produced)

    @unittest.skipUnless(shutil.which("nats-server"), "nats-server is not installed")
    def test_fanout_against_nats_over_websocket(self):
        from local_broker import free_port
        port, ws_port = free_port(), free_port()
        conf = os.path.join(self.tmp, "nats.conf")
        with open(conf, "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\n"
                    f"websocket {{\n  listen: \"127.0.0.1:{ws_port}\"\n  no_tls: true\n}}\n")
        nats = subprocess.Popen(["nats-server", "-c", conf], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            import socket
            import time
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", ws_port), timeout=1).close()
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline, "nats-server did not listen")
                    time.sleep(0.1)
            out = last_json(self.tool("fanout", "--nats", f"nats://127.0.0.1:{port}",
                                      "--nats-ws", f"ws://127.0.0.1:{ws_port}",
                                      "--subscribers", "20", "--rate", "100", "--seconds", "1",
                                      "--record-bytes", "64"))
        finally:
            nats.terminate()
            nats.wait(timeout=30)
        self.assertEqual(out["target"], "nats")
        self.assertEqual(out["open"], 20, out["first_error"])
        step = out["steps"][0]
        self.assertTrue(step["drained"], step)
        self.assertEqual(step["delivered"], step["produced"] * 20)
        self.assertGreater(step["latency"]["p50_us"], 0)


@unittest.skipUnless(os.path.exists(HTTP_BENCH), "http_bench is not built (RIPTIDE_BENCH=OFF)")
class HttpBenchDriverTest(unittest.TestCase):
    def test_a_tiny_run_prints_every_table_and_stops_its_brokers(self):
        build = os.path.dirname(os.path.abspath(RIPTIDE))
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "http.json")
            r = subprocess.run(
                ["/usr/bin/python3", HTTP_DRIVER, "--quick", "--build-dir", build,
                 "--http-bench", HTTP_BENCH, "--duration", "1", "--settle-seconds", "0",
                 "--idle-subscribers", "200", "--fanout-subscribers", "10", "--rates", "100",
                 "--json-out", out_json],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=400)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            with open(out_json) as f:
                results = json.load(f)
        best = results["produce"]["best"]
        self.assertGreater(best["kafka"]["msgs_per_sec"], 0)
        self.assertGreater(best["http"]["msgs_per_sec"], 0)
        self.assertGreater(results["http_kafka_ratio"], 0)
        idle = results["ws_idle"]
        self.assertEqual(idle["open"], 200, idle)
        self.assertGreater(idle["rss_after"], 0)
        fan = results["fanout_riptide"]
        self.assertNotIn("error", fan)
        self.assertTrue(fan["steps"][0]["drained"])
        for line in ("| system | driven | msgs/s |", "| subscribers asked | open |",
                     "| rate/s | riptide achieved/s |", "| target | met? | measured |",
                     "HTTP produce ≥ 50 % of Kafka"):
            self.assertIn(line, r.stdout)
        ps = subprocess.run(["pgrep", "-f", "riptide-httpbench-"], stdout=subprocess.PIPE,
                            text=True)
        self.assertEqual(ps.stdout.strip(), "", "a measured broker is still running")


if __name__ == "__main__":
    unittest.main()
