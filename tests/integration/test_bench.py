"""`riptide bench` against the real broker, and the fetch long poll it relies on."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from harness import RIPTIDE, ServerTest


class BenchTest(ServerTest):
    def bench(self, server, *args, timeout=120):
        return self.run_riptide("bench", "--brokers", server.bootstrap, "--quiet", *args,
                                timeout=timeout)

    def bench_json(self, server, *args):
        """Runs `riptide bench ... --json`, which must succeed; returns its result."""
        r = self.bench(server, *args, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_both_reads_back_every_record_and_reports_latency(self):
        s = self.start()
        out = self.bench_json(s, "--topic", "rt", "--partitions", "3", "--count", "3000",
                              "--record-size", "200", "--keys", "10")
        self.assertEqual(out["produce"]["msgs"], 3000)
        self.assertEqual(out["produce"]["bytes"], 3000 * 200)
        self.assertEqual(out["produce"]["errors"], 0)
        self.assertEqual(out["consume"]["msgs"], 3000)
        self.assertEqual(out["durability"], "fsync")
        lat = out["e2e_latency"]
        self.assertGreater(lat["count"], 0)  # flat out, a sample of the records is timed
        self.assertLessEqual(lat["count"], 3000)
        self.assertLessEqual(lat["p50_us"], lat["p99_us"])
        self.assertLessEqual(lat["p99_us"], lat["max_us"])
        self.assertGreater(lat["p50_us"], 0)

    def test_a_paced_run_times_every_record(self):
        s = self.start()
        out = self.bench_json(s, "--topic", "paced", "--partitions", "1", "--count", "1000",
                              "--rate", "2000", "--linger-ms", "0")
        self.assertEqual(out["consume"]["msgs"], 1000)
        self.assertEqual(out["e2e_latency"]["count"], 1000)
        self.assertEqual(out["ack_latency"]["count"], 1000)
        # 1000 records at 2000/s take about half a second to send.
        self.assertGreaterEqual(out["produce"]["seconds"], 0.45)

    def test_paced_steps_deliver_every_keyed_record(self):
        # 50 ms steps at 4,000/s: each step's ~200 records go to the client in one call.
        s = self.start()
        out = self.bench_json(s, "--topic", "steps", "--partitions", "4", "--count", "1200",
                              "--rate", "4000", "--pace-step-us", "50000", "--keys", "7",
                              "--record-size", "300", "--linger-ms", "0")
        self.assertEqual(out["produce"]["msgs"], 1200)
        self.assertEqual(out["produce"]["errors"], 0)
        self.assertEqual(out["consume"]["msgs"], 1200)
        self.assertEqual(out["e2e_latency"]["count"], 1200)
        # The schedule still holds: 1,200 at 4,000/s take 0.3 s, less at most one step.
        self.assertGreaterEqual(out["produce"]["seconds"], 0.25)
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "steps-check",
                      "auto.offset.reset": "earliest", "enable.partition.eof": False})
        c.subscribe(["steps"])
        keys, values = {}, 0
        deadline = time.monotonic() + 60
        while values < 1200 and time.monotonic() < deadline:
            m = c.poll(1)
            if m is None or m.error():
                continue
            values += 1
            self.assertEqual(len(m.value()), 300)
            keys.setdefault(m.key(), set()).add(m.partition())
        c.close()
        self.assertEqual(values, 1200)
        self.assertEqual(sorted(keys), sorted(b"key-%d" % k for k in range(7)))
        for key, partitions in keys.items():
            self.assertEqual(len(partitions), 1, key)  # a key keeps to one partition

    def test_consume_mode_catches_up_on_the_backlog(self):
        s = self.start()
        out = self.bench_json(s, "--topic", "backlog", "--mode", "produce", "--count", "500",
                              "--record-size", "4096", "--acks", "1",
                              "--topic-config", "riptide.durability=page_cache")
        self.assertEqual(out["durability"], "page_cache")
        out = self.bench_json(s, "--topic", "backlog", "--mode", "consume")
        self.assertEqual(out["consume"]["msgs"], 500)
        self.assertEqual(out["consume"]["bytes"], 500 * 4096)

    def test_progress_lines_give_each_second_its_own_latency(self):
        s = self.start()
        r = self.run_riptide("bench", "--brokers", s.bootstrap, "--topic", "progress",
                             "--partitions", "1", "--duration", "2.5", "--rate", "500",
                             "--linger-ms", "0", timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l.startswith("[")]
        self.assertGreaterEqual(len(lines), 2, r.stderr)
        for line in lines:
            self.assertRegex(line, r"produced +\d+ msg/s .* \| consumed +\d+ msg/s")
        timed = [l for l in lines if "e2e p50" in l]
        self.assertTrue(timed, r.stderr)
        for line in timed:
            self.assertRegex(line, r"e2e p50 [\d.]+ ms p99 [\d.]+ ms max [\d.]+ ms$")

    def test_table_output_names_the_figures(self):
        s = self.start()
        r = self.bench(s, "--topic", "table", "--count", "200", "--rate", "1000")
        self.assertEqual(r.returncode, 0, r.stderr)
        for word in ("produced", "consumed", "msgs/s", "MB/s", "p99.9", "end-to-end"):
            self.assertIn(word, r.stdout)

    def test_bad_input_is_refused_with_a_clear_error(self):
        s = self.start()
        cases = [
            (["--mode", "sideways"], "--mode must be produce, consume or both"),
            (["--acks", "2"], "--acks must be all"),
            (["--topic-config", "novalue"], "not of the form key=value"),
            (["-X", "no.such.property=1"], "no.such.property"),
            (["--rate", "10", "--pace-step-us", "-1"], "--pace-step-us must be >= 0"),
        ]
        for args, message in cases:
            r = self.bench(s, "--topic", "bad", "--count", "1", *args)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(message, r.stderr, args)
        r = self.bench(s, "--topic", "empty", "--partitions", "1", "--mode", "produce",
                       "--count", "0", "--duration", "0")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--duration", r.stderr)

    def test_consume_of_an_empty_topic_says_what_to_do(self):
        s = self.start()
        p = Producer({"bootstrap.servers": s.bootstrap})
        p.list_topics("nothing-here", timeout=10)  # auto-creates it, empty
        r = self.bench(s, "--topic", "nothing-here", "--mode", "consume")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("holds no records", r.stderr)


def poll_record(consumer, seconds):
    """The next record the consumer delivers within `seconds`, or None."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        msg = consumer.poll(1)
        if msg is not None and not msg.error():
            return msg
    return None


class FetchLongPollTest(ServerTest):
    def test_a_waiting_fetch_answers_when_data_arrives_not_at_max_wait(self):
        # A consumer parked in a long poll with a 60 s max wait must get a record produced
        # while it waits as soon as the record is durable (Kafka's long-poll contract),
        # rather than when the wait runs out.
        s = self.start()
        topic = "longpoll"
        p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all"})
        p.produce(topic, b"first")
        self.assertEqual(p.flush(30), 0)
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "unused",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 60000,
                      "socket.timeout.ms": 90000, "enable.partition.eof": False})
        c.assign([TopicPartition(topic, 0, 1)])  # after "first": nothing to read yet

        def produce_later():
            time.sleep(2)
            p.produce(topic, b"second")
            p.flush(30)

        threading.Thread(target=produce_later, daemon=True).start()
        started = time.monotonic()
        msg = poll_record(c, 50)
        waited = time.monotonic() - started
        c.close()
        self.assertIsNotNone(msg, "the record never arrived")
        self.assertEqual(msg.value(), b"second")
        self.assertLess(waited, 50, "the fetch was answered only at its max wait")

    def test_a_fetch_over_partitions_of_both_shards_wakes_for_each(self):
        # One fetch covers all eight partitions, spread over the broker's two shards; a
        # record produced to any of them must end its long poll, not the 60 s max wait.
        s = self.start()
        topic = "spread"
        admin = AdminClient({"bootstrap.servers": s.bootstrap})
        admin.create_topics([NewTopic(topic, 8, 1)])[topic].result(30)
        p = Producer({"bootstrap.servers": s.bootstrap, "acks": "all"})
        # One record in each partition first: librdkafka adds partitions to its fetches
        # only between requests, so its first fetch may name a single partition. Once it
        # has read all eight, every fetch after that names all eight.
        for q in range(8):
            p.produce(topic, b"warm-up", partition=q)
        self.assertEqual(p.flush(30), 0)
        c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "unused",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 60000,
                      "socket.timeout.ms": 90000, "enable.partition.eof": False})
        c.assign([TopicPartition(topic, q, 0) for q in range(8)])
        warmed = set()
        while len(warmed) < 8 and (msg := poll_record(c, 30)) is not None:
            warmed.add(msg.partition())
        self.assertEqual(warmed, set(range(8)), "the warm-up records were not all read")
        self.assertIsNone(c.poll(1))  # parked: nothing more to read
        for q in (5, 0, 3, 6):
            value = f"to-{q}".encode()
            p.produce(topic, value, partition=q)
            self.assertEqual(p.flush(30), 0)
            msg = poll_record(c, 30)
            # Half the max wait: a fetch answered only when its wait ran out fails here.
            self.assertIsNotNone(msg, f"partition {q}: no record within 30 s")
            self.assertEqual((msg.partition(), msg.value()), (q, value))
        c.close()


def load_peers_runner():
    """bench/peers/run.py as a module (it is a script, not a package)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                        "peers", "run.py")
    spec = importlib.util.spec_from_file_location("peers_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PeersServerCpuTest(unittest.TestCase):
    """The `server CPU, cores` figure of `make bench-peers`."""

    def setUp(self):
        self.run = load_peers_runner()
        self.work = tempfile.mkdtemp(prefix="riptide-peers-")
        self.services = []

    def tearDown(self):
        for s in self.services:
            s.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def test_a_session_counts_the_children_it_reaped_and_nothing_else(self):
        # A start script whose child burns 0.6 s of CPU and exits, like RabbitMQ's
        # script and its Erlang VM; and an idle process in a session of its own.
        done = os.path.join(self.work, "child-exited")
        busy = subprocess.Popen(
            ["sh", "-c", "/usr/bin/python3 -c 'import time\n"
             "t = time.process_time()\n"
             f"while time.process_time() - t < 0.6: pass'; touch {done}; sleep 30"],
            start_new_session=True)
        idle = subprocess.Popen(["sleep", "30"], start_new_session=True)
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(done) and time.monotonic() < deadline:
                time.sleep(0.1)
            # The child is gone: only the script's count of reaped children holds its time.
            self.assertTrue(os.path.exists(done))
            self.assertGreaterEqual(self.run.session_cpu_seconds({busy.pid}), 0.5)
            self.assertLess(self.run.session_cpu_seconds({idle.pid}), 0.1)
        finally:
            for p in (busy, idle):
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def test_a_workload_reports_the_brokers_cpu(self):
        port, http = self.run.free_port(), self.run.free_port()
        srv = self.run.Service("riptide", [
            RIPTIDE, "serve", "--data-dir", os.path.join(self.work, "data"),
            "--kafka-listen", f"127.0.0.1:{port}", "--http-listen", f"127.0.0.1:{http}"],
            port, self.work)
        self.services.append(srv)
        self.assertIsNone(srv.error)
        result, err = self.run.run_json(
            [RIPTIDE, "bench", "--brokers", f"127.0.0.1:{port}", "--json", "--quiet",
             "--topic", "cpu", "--count", "20000", "--record-size", "1024"], 120,
            servers=[srv])
        self.assertIsNone(err)
        self.assertEqual(result["produce"]["msgs"], 20000)
        self.assertGreater(result["server_cpu_seconds"], 0)
        cores = self.run.server_cores(result)
        self.assertGreater(cores, 0)
        self.assertLessEqual(cores, os.cpu_count())
        # Without servers to watch, the figure is absent rather than zero.
        result, err = self.run.run_json(
            [RIPTIDE, "bench", "--brokers", f"127.0.0.1:{port}", "--json", "--quiet",
             "--topic", "cpu", "--count", "100"], 120)
        self.assertIsNone(err)
        self.assertNotIn("server_cpu_seconds", result)
        self.assertIsNone(self.run.server_cores(result))


BUILD_DIR = os.path.dirname(os.path.abspath(RIPTIDE))


def peers_bench(run, work):
    """A run.py Bench over this build, for tiny runs: 1 s each, no quiet time between."""
    args = argparse.Namespace(build_dir=BUILD_DIR, quick=True, duration=1,
                              catchup_bytes=4 << 20, settle_seconds=0)
    b = run.Bench(args)
    shutil.rmtree(b.work, ignore_errors=True)
    b.work = work
    return b


class PeerDriversTest(unittest.TestCase):
    """The ways each peer driver sends more at once (connections, pipeline depth,
    publishers, channels, acknowledgements in flight), each against the real peer where it
    and its driver are installed (scripts/install-peers; make bench-peers builds the
    drivers). Tiny runs check that every record is acknowledged and read back, not speed."""

    def setUp(self):
        self.run = load_peers_runner()
        self.work = tempfile.mkdtemp(prefix="riptide-peers-")
        self.bench = peers_bench(self.run, self.work)

    def tearDown(self):
        self.bench.stop_all()
        shutil.rmtree(self.work, ignore_errors=True)

    def need(self, driver, *servers):
        drv = self.bench.driver(driver)
        if not drv:
            self.skipTest(f"{driver} not built (needs its client library: scripts/install-peers)")
        for exe in servers:
            if not exe or not os.path.exists(exe):
                self.skipTest(f"{exe or 'a peer server'} not installed (scripts/install-peers)")
        return drv

    def drive(self, argv, count, paced=False, mode="both"):
        result, err = self.run.run_json(argv + ["--json", "--mode", mode, "--count", str(count)],
                                        120, quiet=0)
        self.assertIsNone(err, argv)
        self.assertEqual(result["produce"]["msgs"], count, argv)
        self.assertEqual(result["produce"]["errors"], 0, argv)
        self.assertEqual(result["ack_latency"]["count"], count, argv)
        if mode == "both":
            self.assertEqual(result["consume"]["msgs"], count, argv)
            if paced:
                self.assertEqual(result["e2e_latency"]["count"], count, argv)
        if mode == "queue":  # each record acked by a worker, once
            self.assertEqual(result["consume"]["msgs"], count, argv)
            self.assertEqual(result["e2e_latency"]["count"], count, argv)
        return result

    def refused(self, drv, args, message):
        r = subprocess.run([drv, *args], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, args)
        self.assertIn(message, r.stderr, args)

    def test_redis_connections_and_pipeline(self):
        exe = shutil.which("redis-server")
        drv = self.need("redis_bench", exe)
        port, err = self.bench.start_redis(exe, "redis-always",
                                           ["--appendonly", "yes", "--appendfsync", "always"])
        self.assertIsNone(err)
        url = [drv, "--url", f"127.0.0.1:{port}"]
        # Flat out from one thread over five connections, at most four XADDs unanswered on
        # each (the count is not a multiple of either).
        self.drive(url + ["--connections", "5", "--pipeline", "4", "--record-size", "200"], 2003)
        self.drive(url + ["--connections", "3", "--pipeline", "7", "--record-size", "100"], 1001,
                   mode="produce")
        # Paced: the records go to the connections in turn.
        self.drive(url + ["--connections", "3", "--pipeline", "2", "--rate", "2000"], 600,
                   paced=True)
        self.refused(drv, ["--connections", "0"], "must be at least 1")
        self.refused(drv, ["--channels", "2"], "unknown option --channels")

    def test_nats_publishers_and_window(self):
        exe = shutil.which("nats-server")
        drv = self.need("nats_bench", exe)
        port, err = self.bench.start_nats(exe)
        self.assertIsNone(err)
        url = [drv, "--url", f"nats://127.0.0.1:{port}"]
        # Three publishers, each on its own connection with at most 16 acks outstanding;
        # each run starts on a fresh stream.
        self.drive(url + ["--publishers", "3", "--window", "16"], 1001)
        self.drive(url + ["--publishers", "2", "--window", "16384", "--record-size", "100"],
                   2000, mode="produce")
        self.drive(url + ["--publishers", "2", "--rate", "2000"], 600, paced=True)
        # A work queue: four workers, each holding at most 8 unacked, never more than 50
        # records waiting for a worker.
        self.drive(url + ["--workers", "4", "--prefetch", "8", "--max-backlog", "50"], 1001,
                   mode="queue")
        self.refused(drv, ["--publishers", "0"], "must be at least 1")
        self.refused(drv, ["--pipeline", "2"], "unknown option --pipeline")

    def test_rabbitmq_connections_channels_and_window(self):
        epmd = shutil.which("epmd")
        drv = self.need("rabbitmq_bench", self.run.RABBITMQ_SERVER, epmd)
        port, err = self.bench.start_rabbitmq(self.run.RABBITMQ_SERVER, epmd)
        self.assertIsNone(err)
        url = [drv, "--url", f"127.0.0.1:{port}", "--extra", "quorum"]
        # Two connections of three channels, at most 8 unconfirmed on each channel.
        self.drive(url + ["--connections", "2", "--channels", "3", "--window", "8"], 1001)
        self.drive(url + ["--channels", "4", "--rate", "2000"], 400, paced=True)
        self.drive(url + ["--workers", "3", "--prefetch", "8", "--max-backlog", "50"], 601,
                   mode="queue")
        self.refused(drv, ["--channels", "0"], "must be at least 1")
        self.refused(drv, ["--publishers", "2"], "unknown option --publishers")


class PeersBestOfTest(unittest.TestCase):
    """How run.py picks the figure it reports for each system among the ways it drove it."""

    def setUp(self):
        self.run = load_peers_runner()
        self.work = tempfile.mkdtemp(prefix="riptide-peers-")
        self.bench = peers_bench(self.run, self.work)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    @staticmethod
    def result(msgs_per_sec, p99_us=1000.0):
        return {"durability": "d", "produce": {"msgs": 10, "msgs_per_sec": msgs_per_sec,
                                               "mb_per_sec": msgs_per_sec / 1000},
                "e2e_latency": {"p50_us": p99_us / 2, "p99_us": p99_us, "p999_us": p99_us,
                                "max_us": p99_us}}

    def replay(self, outcomes):
        """Makes the Bench's runs return `outcomes` (result or reason) in turn."""
        outcomes = list(outcomes)

        def run_json(argv, timeout):
            o = outcomes.pop(0)
            return (o, None) if isinstance(o, dict) else (None, o)
        self.bench.run_json = run_json

    def test_the_highest_rate_is_reported_and_every_try_is_listed(self):
        self.replay([self.result(1000), "client exited with 1", self.result(3000),
                     self.result(2000)])
        tries = [(f"way {i}", ["x"]) for i in range(4)]
        self.bench.best_of("a", "redis-always", tries, 10)
        self.replay([self.result(5000), self.result(4000)])
        self.bench.best_of("a", "riptide", [("1 producer + 1 consumer", []),
                                            ("4 producers + 1 consumer", [])], 10)
        best = self.bench.results[("a", "redis-always")]
        self.assertEqual(best["driven"], "way 2")
        self.assertEqual(best["produce"]["msgs_per_sec"], 3000)
        self.assertEqual([t["driven"] for t in best["tried"]], [d for d, _ in tries])
        self.assertEqual(best["tried"][1]["error"], "client exited with 1")
        json.dumps(self.bench.results[("a", "riptide")])  # what --json-out writes

        table = self.bench.table()
        rows = [l for l in table.splitlines() if l.startswith("| a. ")]
        head = [c.strip() for c in table.splitlines()[0].strip("|").split("|")]
        self.assertIn("riptide driven", head)
        self.assertIn("peer driven", head)
        row = [c.strip() for c in next(r for r in rows if "redis-always" in r and
                                       "produce msgs/s" in r).strip("|").split("|")]
        self.assertEqual(row[head.index("riptide")], "5,000")
        self.assertEqual(row[head.index("riptide driven")], "1 producer + 1 consumer (best of 2)")
        self.assertEqual(row[head.index("peer value")], "3,000")
        self.assertEqual(row[head.index("peer driven")], "way 2 (best of 4)")
        self.assertEqual(row[head.index("riptide/peer")], "1.67x")
        # The 1-partition variant is compared with the same peer results.
        a1 = [l for l in table.splitlines() if l.startswith("| a1. ") and "redis-always" in l]
        self.assertTrue(a1)
        self.assertIn("way 2 (best of 4)", a1[0])

        tried = self.bench.tried_table()
        self.assertIn("| a | redis-always | way 2 | produce msgs/s | 3,000 | best |", tried)
        self.assertIn("| a | redis-always | way 1 | produce msgs/s | "
                      "not measured: client exited with 1 |  |", tried)

    def test_latency_is_the_lowest_p99_among_tries_that_kept_the_rate(self):
        self.replay([self.result(10000, p99_us=900), self.result(7000, p99_us=300),
                     self.result(9990, p99_us=600)])
        self.bench.best_of("c", "nats-jetstream", [("x", []), ("y", []), ("z", [])], 10)
        self.assertEqual(self.bench.results[("c", "nats-jetstream")]["driven"], "z")

    def test_a_system_that_failed_every_way_gets_the_reason(self):
        self.replay(["first reason", "last reason"])
        self.bench.best_of("b", "redis-no-aof", [("x", []), ("y", [])], 10)
        self.assertEqual(self.bench.results[("b", "redis-no-aof")], "last reason")
        self.assertIn("not measured: last reason", self.bench.table())


class PeersRunTest(unittest.TestCase):
    """bench/peers/run.py end to end on Riptide and (where installed) Redis, with tiny runs."""

    def test_the_table_names_how_each_system_was_driven(self):
        work = tempfile.mkdtemp(prefix="riptide-peers-")
        self.addCleanup(shutil.rmtree, work, True)
        runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench",
                              "peers", "run.py")
        out = os.path.join(work, "results.json")
        redis = shutil.which("redis-server") and os.path.exists(
            os.path.join(BUILD_DIR, "bench", "redis_bench"))
        r = subprocess.run(
            ["/usr/bin/python3", runner, "--build-dir", BUILD_DIR, "--quick", "--duration", "2",
             "--catchup-bytes", str(4 << 20), "--settle-seconds", "0",
             "--systems", "riptide,redis" if redis else "riptide", "--json-out", out],
            capture_output=True, text=True, timeout=500)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        rows = [l for l in r.stdout.splitlines() if l.startswith("| a. ")]
        self.assertTrue(rows, r.stdout)
        for row in rows:
            self.assertRegex(row, r"\| [14] producers? \+ 1 consumer \(best of 2\) \|")
        self.assertTrue(any(l.startswith("| a1. ") and "(best of 2)" in l
                            for l in r.stdout.splitlines()), r.stdout)
        self.assertIn("| d | riptide | 1 consumer | consume MB/s |", r.stdout)
        # The queue workload needs http_bench, which a build without benchmarks lacks: its
        # rows then say so instead of giving a figure.
        http_bench = os.path.exists(os.path.join(BUILD_DIR, "bench", "http_bench"))
        figure = r"[\d,.]+" if http_bench else r"not measured: http_bench missing \(make build\)"
        self.assertRegex(r.stdout, r"\| q\. queue: [^|]+ \| acked msgs/s \| " + figure + r" \| ")
        self.assertRegex(r.stdout, r"\| ql\. queue latency [^|]+ \| p99 ms \| " + figure + r" \| ")
        with open(out) as f:
            results = json.load(f)
        self.assertEqual(len(results["a/riptide"]["tried"]), 2)
        self.assertEqual(len(results["a1/riptide"]["tried"]), 2)
        if http_bench:
            self.assertEqual(len(results["q/riptide"]["tried"]), 2)
            for t in results["q/riptide"]["tried"]:
                self.assertEqual(t["consume"]["msgs"], t["produce"]["msgs"], t)
        if redis:
            self.assertIn("| redis-always | ", r.stdout)
            self.assertRegex(r.stdout, r"\| redis-always \| [\d,.]+ \| AOF, appendfsync always \| "
                                       r"\d+ conns? × pipeline \d+ \(best of 3\) \|")
            self.assertEqual(len(results["b/redis-no-aof"]["tried"]), 3)
            for t in results["b/redis-no-aof"]["tried"]:
                self.assertNotIn("error", t)


if __name__ == "__main__":
    unittest.main()
