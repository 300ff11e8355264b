"""`riptide bench` against the real broker, and the fetch long poll it relies on."""

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


if __name__ == "__main__":
    unittest.main()


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
