"""The client verbs of the riptide binary (topic, produce, consume, cluster) against a real
broker, with every result checked through an independent client: kcat or confluent-kafka.
Also: exit codes and error messages, RIPTIDE_BROKERS, and the examples of docs/cli.md."""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from harness import RIPTIDE, Server, ServerTest

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "cli.md")


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def doc_examples(tag):
    """The command lines of the ```<tag> blocks of docs/cli.md, in order."""
    with open(DOCS) as f:
        text = f.read()
    blocks = re.findall(r"^```" + re.escape(tag) + r"\n(.*?)^```", text, re.S | re.M)
    return [line for b in blocks for line in b.splitlines() if line.strip()]


class BrokerFixture(unittest.TestCase):
    """One broker for the whole class; each test uses its own topics."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="riptide-cli-")
        cls.server = Server(os.path.join(cls.tmp, "data"), "--kafka-listen", "127.0.0.1:0",
                            "--http-listen", "127.0.0.1:0", "--shards", "2")
        try:
            cls.server.wait_for("ready")
            cls.bootstrap = cls.server.bootstrap
        except Exception:
            cls.server.kill()
            raise
        cls.admin = AdminClient({"bootstrap.servers": cls.bootstrap, "log_level": 0})

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cli(self, *args, stdin=None, env=None, brokers=True, timeout=60):
        """Runs `riptide ARGS` (with --brokers unless told not to)."""
        full_env = dict(os.environ)
        full_env.pop("RIPTIDE_BROKERS", None)
        full_env.update(env or {})
        argv = [RIPTIDE, *args]
        if brokers:
            argv += ["--brokers", self.bootstrap]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=full_env,
                              timeout=timeout, cwd=self.tmp)

    def ok(self, *args, **kw):
        r = self.cli(*args, **kw)
        self.assertEqual(r.returncode, 0, f"riptide {args}: {r.stderr}")
        return r.stdout

    def topic_partitions(self, topic):
        md = self.admin.list_topics(timeout=10)
        t = md.topics.get(topic)
        return None if t is None or t.error is not None else len(t.partitions)

    def topic_config(self, topic):
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        entries = self.admin.describe_configs([res])[res].result(timeout=10)
        return {k: (e.value, e.is_default) for k, e in entries.items()}

    def produce_with_client(self, topic, messages):
        """messages: (partition, key, value, headers, timestamp_ms) tuples."""
        p = Producer({"bootstrap.servers": self.bootstrap, "log_level": 0})
        for part, key, value, headers, ts in messages:
            p.produce(topic, value=value, key=key, partition=part, headers=headers, timestamp=ts)
        self.assertEqual(p.flush(10), 0)

    def kcat(self, topic):
        """(partition, offset, key, value, headers) of every message, via kcat."""
        r = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-e", "-q",
                            "-f", "%p|%o|%k|%s|%h\\n"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = []
        for line in r.stdout.splitlines():
            p, o, k, v, h = line.split("|")
            rows.append((int(p), int(o), k, v, h))
        return sorted(rows)


class TopicTest(BrokerFixture):
    def test_create_list_describe_alter_grow_delete(self):
        out = self.ok("topic", "create", "orders", "--partitions", "3", "--config",
                      "retention.ms=3600000", "--config", "cleanup.policy=delete")
        self.assertIn("created topic 'orders' with 3 partitions", out)
        self.assertEqual(self.topic_partitions("orders"), 3)
        self.assertEqual(self.topic_config("orders")["retention.ms"], ("3600000", False))

        # list: aligned table and JSON agree with the broker.
        table = self.ok("topic", "list")
        self.assertRegex(table, r"(?m)^TOPIC +PARTITIONS$")
        self.assertRegex(table, r"(?m)^orders +3$")
        listed = {t["topic"]: t["partitions"] for t in json.loads(self.ok("topic", "list", "--json"))}
        self.assertEqual(listed["orders"], 3)

        # describe: offsets match what an independent client wrote.
        self.produce_with_client("orders", [(1, None, b"a", None, 0)] * 4)
        d = json.loads(self.ok("topic", "describe", "orders", "--json"))
        self.assertEqual(d["topic"], "orders")
        self.assertEqual([(p["partition"], p["log_start"], p["log_end"]) for p in d["partitions"]],
                         [(0, 0, 0), (1, 0, 4), (2, 0, 0)])
        configs = {c["name"]: c for c in d["configs"]}
        self.assertEqual(configs["retention.ms"]["value"], "3600000")
        self.assertFalse(configs["retention.ms"]["default"])
        self.assertTrue(configs["segment.bytes"]["default"])
        human = self.ok("topic", "describe", "orders")
        self.assertRegex(human, r"(?m)^PARTITION +LEADER +LOG-START +LOG-END")
        self.assertRegex(human, r"(?m)^1 +\d+ +0 +4 ")
        self.assertRegex(human, r"(?m)^retention\.ms +3600000 ")

        # alter-config keeps the other overrides, sets and removes the ones named.
        self.ok("topic", "alter-config", "orders", "--set", "segment.ms=600000",
                "--delete", "retention.ms")
        cfg = self.topic_config("orders")
        self.assertEqual(cfg["segment.ms"], ("600000", False))
        self.assertTrue(cfg["retention.ms"][1], cfg["retention.ms"])
        self.assertEqual(cfg["cleanup.policy"], ("delete", False))

        out = self.ok("topic", "add-partitions", "orders", "--count", "5")
        self.assertIn("now has 5 partitions", out)
        self.assertEqual(self.topic_partitions("orders"), 5)

        self.assertIn("deleted topic 'orders'", self.ok("topic", "delete", "orders"))
        self.assertIsNone(self.topic_partitions("orders"))

    def test_refusals_name_the_topic_and_the_fix(self):
        self.ok("topic", "create", "dup")
        r = self.cli("topic", "create", "dup")
        self.assertEqual(r.returncode, 1)
        self.assertIn("topic 'dup' already exists", r.stderr)

        for verb in (["describe", "ghost"], ["alter-config", "ghost", "--set", "segment.ms=1000"],
                     ["add-partitions", "ghost", "--count", "2"]):
            r = self.cli("topic", *verb)
            self.assertEqual(r.returncode, 1, verb)
            self.assertIn("topic 'ghost' does not exist: create it with "
                          "`riptide topic create ghost`", r.stderr)
        r = self.cli("topic", "delete", "ghost")
        self.assertEqual(r.returncode, 1)
        self.assertIn("topic 'ghost' does not exist", r.stderr)

        # Invalid config values are refused by the broker, with its reason.
        r = self.cli("topic", "alter-config", "dup", "--set", "retention.ms=soon")
        self.assertEqual(r.returncode, 1)
        self.assertIn("retention.ms", r.stderr)
        r = self.cli("topic", "add-partitions", "dup", "--count", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot add partitions to topic 'dup'", r.stderr)


class ProduceTest(BrokerFixture):
    def test_lines_with_key_separator_and_headers_reach_kcat(self):
        self.ok("topic", "create", "p1", "--partitions", "2")
        out = self.ok("produce", "p1", "--key-separator", ":", "--header", "src=cli",
                      "--header", "n=1", "--partition", "1",
                      stdin="k1:v1\nk2:v:2\nno-key\n\n")
        self.assertIn("delivered 4 messages to topic 'p1'", out)
        self.assertEqual(self.kcat("p1"), [
            (1, 0, "k1", "v1", "src=cli,n=1"),
            (1, 1, "k2", "v:2", "src=cli,n=1"),
            (1, 2, "", "no-key", "src=cli,n=1"),
            (1, 3, "", "", "src=cli,n=1"),
        ])

    def test_every_codec_and_acks_setting_round_trips(self):
        self.ok("topic", "create", "codecs")
        sent = []
        for codec, acks in (("none", "all"), ("gzip", "1"), ("snappy", "all"), ("lz4", "1"),
                            ("zstd", "all")):
            lines = [f"{codec}-{acks}-{i}" for i in range(50)]
            r = json.loads(self.ok("produce", "codecs", "--compression", codec, "--acks", acks,
                                   "--key", codec, "--json", stdin="\n".join(lines) + "\n"))
            self.assertEqual(r, {"topic": "codecs", "delivered": 50, "failed": 0})
            sent += [(codec, v) for v in lines]
        got = [(k, v) for _, _, k, v, _ in self.kcat("codecs")]
        self.assertEqual(got, sent)

    def test_acks_0_messages_are_stored(self):
        self.ok("topic", "create", "fire-and-forget")
        r = json.loads(self.ok("produce", "fire-and-forget", "--acks", "0", "--json",
                               stdin="a\nb\n"))
        self.assertEqual(r, {"topic": "fire-and-forget", "delivered": 2, "failed": 0})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(self.kcat("fire-and-forget")) < 2:
            time.sleep(0.1)
        self.assertEqual([v for *_, v, _ in self.kcat("fire-and-forget")], ["a", "b"])

    def test_file_input_and_progress(self):
        self.ok("topic", "create", "big")
        path = os.path.join(self.tmp, "big.txt")
        with open(path, "w") as f:
            f.writelines(f"line {i}\n" for i in range(20000))
        r = self.cli("produce", "big", "--file", path, "--progress")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("delivered 20000 messages", r.stdout)
        self.assertRegex(r.stderr, r"sent 20000, delivered 20000, failed 0\n$")
        rows = self.kcat("big")
        self.assertEqual(len(rows), 20000)
        self.assertEqual(rows[-1][3], "line 19999")

    def test_refused_messages_fail_with_the_reason(self):
        self.ok("topic", "create", "tiny", "--config", "max.message.bytes=2000")
        r = self.cli("produce", "tiny", stdin="x" * 5000 + "\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("delivered 0 messages", r.stdout)
        self.assertIn("1 of 1 messages were not delivered to topic 'tiny' "
                      "(Broker: Message size too large)", r.stderr)
        self.assertEqual(self.kcat("tiny"), [])

    def test_bad_input_is_a_usage_error(self):
        self.ok("topic", "create", "p2")
        for args, text in ((["--compression", "brotli"], "--compression"),
                           (["--acks", "2"], "--acks"),
                           (["--header", "novalue"], "invalid --header \"novalue\""),
                           (["--partition", "7"], "topic 'p2' has partitions 0 to 0"),
                           (["--file", "/nonexistent/x"], "cannot open --file"),
                           (["-X", "no.such.property=1"], "invalid -X no.such.property=1"),
                           (["--key", "a", "--key-separator", ":"], "excludes")):
            r = self.cli("produce", "p2", *args, stdin="x\n")
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(text, r.stderr)
        self.assertEqual(self.kcat("p2"), [])

        r = self.cli("produce", "nowhere", stdin="x\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("topic 'nowhere' does not exist: create it with "
                      "`riptide topic create nowhere`", r.stderr)
        # The broker creates topics on metadata requests by default; the CLI must not.
        self.assertIsNone(self.topic_partitions("nowhere"))


class ConsumeTest(BrokerFixture):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin_create = subprocess.run(
            [RIPTIDE, "topic", "create", "events", "--partitions", "2", "--brokers",
             cls.bootstrap], capture_output=True, text=True, timeout=60)
        # Partition 0: e0..e4 at timestamps 1000..5000; partition 1: f0, f1.
        p = Producer({"bootstrap.servers": cls.bootstrap, "log_level": 0})
        for i in range(5):
            p.produce("events", value=f"e{i}", key=f"k{i}", partition=0,
                      headers=[("h", f"{i}")], timestamp=1000 * (i + 1))
        p.produce("events", value="f0", key=None, partition=1, timestamp=10000)
        p.produce("events", value="f1", key="k", partition=1, timestamp=20000)
        assert p.flush(10) == 0

    def values(self, *args):
        return self.ok("consume", "events", *args).splitlines()

    def test_offset_forms(self):
        self.assertEqual(self.admin_create.returncode, 0, self.admin_create.stderr)
        self.assertEqual(self.values("-p", "0", "-e"), ["e0", "e1", "e2", "e3", "e4"])
        self.assertEqual(self.values("-p", "0", "-e", "--offset", "beginning"),
                         ["e0", "e1", "e2", "e3", "e4"])
        self.assertEqual(self.values("-p", "0", "-e", "--offset", "end"), [])
        self.assertEqual(self.values("-p", "0", "-e", "--offset", "3"), ["e3", "e4"])
        self.assertEqual(self.values("-p", "0", "-e", "--offset", "-2"), ["e3", "e4"])
        self.assertEqual(self.values("-p", "0", "-e", "--offset", "@2500"), ["e2", "e3", "e4"])
        self.assertEqual(self.values("-p", "0", "-e", "--offset", "@999999"), [])
        # Every partition, relative offsets per partition.
        self.assertEqual(sorted(self.values("-e", "--offset", "-1")), ["e4", "f1"])
        self.assertEqual(sorted(self.values("-e")), ["e0", "e1", "e2", "e3", "e4", "f0", "f1"])

    def test_count_and_timeout_end_the_read(self):
        self.assertEqual(self.values("-p", "0", "--count", "2"), ["e0", "e1"])
        # Without -e or --count, --timeout ends a read that has nothing more to show.
        self.assertEqual(self.values("-p", "1", "--timeout", "1s"), ["f0", "f1"])

    def test_format_template(self):
        out = self.ok("consume", "events", "-p", "0", "-c", "1", "--format",
                      "%t|%p|%o|%k|%s|%T|%h|100%%\\t.\\n")
        self.assertEqual(out, "events|0|0|k0|e0|1000|h=0|100%\t.\n")
        out = self.ok("consume", "events", "-p", "1", "-e", "-f", "[%k]%s\\n")
        self.assertEqual(out, "[]f0\n[k]f1\n")

    def test_json_envelopes(self):
        lines = self.ok("consume", "events", "-e", "--json", "-p", "1").splitlines()
        self.assertEqual([json.loads(l) for l in lines], [
            {"topic": "events", "partition": 1, "offset": 0, "timestamp": 10000, "key": None,
             "value": "f0", "headers": []},
            {"topic": "events", "partition": 1, "offset": 1, "timestamp": 20000, "key": "k",
             "value": "f1", "headers": []},
        ])
        first = json.loads(self.ok("consume", "events", "--json", "-p", "0", "-c", "1"))
        self.assertEqual(first["headers"], [{"key": "h", "value": "0"}])

    def test_bytes_that_need_escaping_in_json(self):
        self.ok("topic", "create", "raw")
        self.produce_with_client("raw", [(0, b"\xff", b'q"\\\n\x01\xc3\xa9\xe2\x82', None, 5)])
        env = json.loads(self.ok("consume", "raw", "--json", "-e"))
        self.assertEqual(env["key"], "\ufffd")
        self.assertEqual(env["value"], 'q"\\\n\x01\u00e9\ufffd\ufffd')

    def test_bad_values_are_usage_errors(self):
        for args, text in ((["--offset", "soon"], 'invalid --offset "soon"'),
                           (["--offset", "@x"], 'invalid --offset "@x"'),
                           (["--format", "%q"], "unknown field %q"),
                           (["--format", "abc\\"], "lone \\"),
                           (["--partition", "9"], "topic 'events' has partitions 0 to 1"),
                           (["--timeout", "fast"], 'invalid --timeout "fast"'),
                           (["--count", "0"], "--count"),
                           (["--group", "g", "--offset", "5"], "riptide group seek"),
                           (["--json", "--format", "%s"], "excludes")):
            r = self.cli("consume", "events", "-e", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(text, r.stderr)
        r = self.cli("consume", "missing", "-e")
        self.assertEqual(r.returncode, 1)
        self.assertIn("topic 'missing' does not exist: create it with "
                      "`riptide topic create missing`", r.stderr)
        self.assertIsNone(self.topic_partitions("missing"))


class ClusterTest(BrokerFixture):
    def test_info_matches_the_metadata_other_clients_see(self):
        md = self.admin.list_topics(timeout=10)
        self.ok("topic", "create", "c1", "--partitions", "4")
        info = json.loads(self.ok("cluster", "info", "--json"))
        self.assertEqual(info["cluster_id"], md.cluster_id)
        self.assertEqual(info["controller"], md.controller_id)
        self.assertEqual([(b["id"], b["host"], b["port"]) for b in info["brokers"]],
                         [(b.id, b.host, b.port) for b in md.brokers.values()])
        md = self.admin.list_topics(timeout=10)
        self.assertEqual(info["topics"], len(md.topics))
        self.assertEqual(info["partitions"], sum(len(t.partitions) for t in md.topics.values()))
        # The API versions, as kcat reads them from the broker.
        apis = {a["key"]: (a["min_version"], a["max_version"]) for a in info["api_versions"]}
        r = subprocess.run(["kcat", "-b", self.bootstrap, "-L", "-X", "debug=feature"],
                           capture_output=True, text=True, timeout=30)
        advertised = {int(key): (int(lo), int(hi)) for key, lo, hi in
                      re.findall(r"ApiKey \w+ \((\d+)\) Versions (\d+)\.\.(\d+)", r.stderr)}
        self.assertIn(0, advertised, r.stderr[-2000:])
        # librdkafka logs only the APIs it knows of.
        self.assertEqual({k: v for k, v in apis.items() if k in advertised}, advertised)
        self.assertIn("Produce", [a["name"] for a in info["api_versions"] if a["key"] == 0])
        human = self.ok("cluster", "info")
        self.assertIn(f"Cluster id:  {md.cluster_id}", human)
        self.assertRegex(human, r"(?m)^BROKER +HOST +PORT$")


class HttpStatsTest(BrokerFixture):
    def http_url(self):
        return f"http://127.0.0.1:{self.server.http_port}"

    def test_stats_count_what_the_http_listener_served(self):
        url = self.http_url()
        self.ok("topic", "create", "stats-t")
        before = json.loads(self.ok("http", "stats", "--url", url, "--json", brokers=False))
        route = ("POST", "/v1/topics/{topic}/records")

        def served(stats, key):
            return next((r for r in stats["routes"] if (r["method"], r["route"]) == key), None)

        prior = served(before, route) or {"requests": 0, "errors": 0}
        for i in range(5):
            req = urllib.request.Request(f"{url}/v1/topics/stats-t/records", method="POST",
                                         data=json.dumps({"records": [{"value": i}]}).encode(),
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                self.assertEqual(r.status, 200)
        # A refused one: the body is not JSON.
        req = urllib.request.Request(f"{url}/v1/topics/stats-t/records", method="POST",
                                     data=b"{nope", headers={"Content-Type": "application/json"})
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 400)

        after = json.loads(self.ok("http", "stats", "--url", url, "--json", brokers=False))
        got = served(after, route)
        self.assertEqual(got["requests"] - prior["requests"], 6)
        self.assertEqual(got["errors"] - prior["errors"], 1)
        self.assertGreater(got["p99_ms"], 0)
        self.assertLessEqual(got["p50_ms"], got["p99_ms"])
        self.assertEqual(set(after["streams"]), {"websocket", "sse"})
        self.assertEqual(after["streams"]["websocket"]["open"], 0)

        # The table by default, with RIPTIDE_HTTP_URL as the default address.
        text = self.ok("http", "stats", brokers=False, env={"RIPTIDE_HTTP_URL": url})
        self.assertIn(f"HTTP listener {url}", text)
        row = next(line for line in text.splitlines() if "/v1/topics/{topic}/records" in line)
        self.assertEqual(row.split()[:4], ["POST", "/v1/topics/{topic}/records",
                                           str(got["requests"]), str(got["errors"])])

    def test_stats_errors_name_the_listener_and_the_fix(self):
        closed = free_port()
        r = self.cli("http", "stats", "--url", f"http://127.0.0.1:{closed}", brokers=False)
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(f"cannot reach the HTTP listener at http://127.0.0.1:{closed}", r.stderr)
        self.assertIn("http_listen", r.stderr)
        # The Kafka port is not an HTTP listener.
        r = self.cli("http", "stats", "--url", f"http://{self.bootstrap}", "--timeout", "2s",
                     brokers=False)
        self.assertIn(r.returncode, (1, 3), r.stderr)
        self.assertIn(self.bootstrap, r.stderr)
        r = self.cli("http", "stats", "--url", "ftp://x", brokers=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid --url", r.stderr)


class QueueCliTest(BrokerFixture):
    def q(self, *args):
        return self.cli("queue", *args, brokers=False,
                        env={"RIPTIDE_HTTP_URL": f"http://127.0.0.1:{self.server.http_port}"})

    def test_a_worker_from_the_shell(self):
        self.ok("topic", "create", "cli-jobs")
        self.produce_with_client("cli-jobs", [(0, None, f"job-{i}".encode(), None, 0)
                                              for i in range(3)])
        r = self.q("create", "cli-q", "--topic", "cli-jobs", "--max-deliveries", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dead letters to 'cli-q.dlq'", r.stdout)
        r = self.q("receive", "cli-q", "--consumer", "w1", "--max", "2")
        self.assertEqual(r.stdout.splitlines(), ["0:0\t1\t\tjob-0", "0:1\t1\t\tjob-1"])
        r = self.q("ack", "cli-q", "--consumer", "w1", "0:0")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ack 1 of 1"), r.stderr)
        r = self.q("ack", "cli-q", "--consumer", "w2", "0:1", "0:0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("0:1 not ack: other_worker", r.stderr)
        self.assertIn("0:0 not ack: not_delivered", r.stderr)
        r = self.q("nack", "cli-q", "--consumer", "w1", "0:1", "--error", "later")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.q("receive", "cli-q", "--consumer", "w2", "--json", "--ack", "--wait", "2s")
        got = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(sorted((g["offset"], g["delivery_count"]) for g in got),
                         [(1, 2), (2, 1)])
        d = json.loads(self.q("describe", "cli-q", "--json").stdout)
        self.assertEqual((d["ready"], d["leased"], d["partitions"][0]["start"]), (0, 0, 3))
        self.assertEqual(self.q("delete", "cli-q").returncode, 0)
        self.assertEqual(json.loads(self.q("list", "--json").stdout)["queues"], [])
        r = self.q("describe", "cli-q")
        self.assertEqual(r.returncode, 1)
        self.assertIn("see `riptide queue list`", r.stderr)
        r = self.q("ack", "cli-q", "--consumer", "w", "zero")
        self.assertEqual(r.returncode, 2)
        self.assertIn("PARTITION:OFFSET", r.stderr)
        r = self.cli("queue", "list", "--url", f"http://127.0.0.1:{free_port()}", brokers=False)
        self.assertEqual(r.returncode, 3)

    def test_dead_letters_listed_inspected_and_replayed(self):
        self.ok("topic", "create", "cli-mail", "--partitions", "2")
        self.produce_with_client("cli-mail", [(1, b"k", b"to-ann", [("trace", b"t1")], 0),
                                              (1, None, b"to-bob", None, 0)])
        self.assertEqual(self.q("create", "mailq", "--topic", "cli-mail").returncode, 0)
        got = self.q("receive", "mailq", "--consumer", "w", "--max", "10").stdout.splitlines()
        self.assertEqual(len(got), 2)
        r = self.q("reject", "mailq", "--consumer", "w", "1:0", "1:1", "--error", "bounced")
        self.assertEqual(r.returncode, 0, r.stderr)
        env = {"RIPTIDE_HTTP_URL": f"http://127.0.0.1:{self.server.http_port}"}
        listed = json.loads(self.ok("dlq", "list", "--json", env=env))
        self.assertIn({"queue": "mailq", "topic": "mailq.dlq", "records": 2}, listed)
        dead = [json.loads(line) for line in self.ok("dlq", "inspect", "mailq.dlq",
                                                     "--json").splitlines()]
        self.assertEqual([(d["value"], d["headers"]["riptide-dlq-offset"],
                           d["headers"]["riptide-dlq-error"]) for d in dead],
                         [("to-ann", "0", "bounced"), ("to-bob", "1", "bounced")])
        self.assertEqual(dead[0]["headers"]["trace"], "t1")
        self.assertEqual(dead[0]["key"], "k")
        out = json.loads(self.ok("dlq", "replay", "mailq.dlq", "--json"))
        self.assertEqual((out["replayed"], out["failed"], out["skipped"]), (2, 0, 0))
        # Back in the topic, where they came from, without the dead-letter headers.
        rows = self.kcat("cli-mail")
        self.assertEqual([(p, o, k, v) for p, o, k, v, _ in rows if o >= 2],
                         [(1, 2, "k", "to-ann"), (1, 3, "", "to-bob")])
        replayed = [h for p, o, k, v, h in rows if o == 2][0]
        self.assertIn("trace", str(replayed))
        self.assertNotIn("riptide-dlq", str(replayed))
        got = self.q("receive", "mailq", "--consumer", "w", "--max", "10").stdout.splitlines()
        self.assertEqual([line.split("\t")[3] for line in got], ["to-ann", "to-bob"])
        r = self.cli("dlq", "inspect", "no-such-dlq")
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not exist", r.stderr)


class ConnectionTest(BrokerFixture):
    def test_unreachable_broker_fails_fast_with_the_fix(self):
        dead = f"127.0.0.1:{free_port()}"
        for verb in (["topic", "list"], ["cluster", "info"], ["consume", "x", "-e"],
                     ["produce", "x"], ["group", "list"]):
            # The subprocess timeout only guards against a hang.
            r = self.cli(*verb, "--brokers", dead, brokers=False, stdin="", timeout=20)
            self.assertEqual(r.returncode, 3, (verb, r.stderr))
            self.assertIn(f"cannot reach broker at {dead}", r.stderr)
            self.assertIn("is `riptide serve` running? set --brokers or RIPTIDE_BROKERS",
                          r.stderr)
            self.assertIn("Connection refused", r.stderr)

    def test_riptide_brokers_is_the_default_and_the_flag_wins(self):
        self.ok("topic", "create", "envtopic")
        out = self.ok("topic", "list", env={"RIPTIDE_BROKERS": self.bootstrap}, brokers=False)
        self.assertRegex(out, r"(?m)^envtopic +1$")
        dead = f"127.0.0.1:{free_port()}"
        self.ok("topic", "list", env={"RIPTIDE_BROKERS": dead})  # --brokers given
        r = self.cli("topic", "list", env={"RIPTIDE_BROKERS": dead}, brokers=False)
        self.assertEqual(r.returncode, 3)
        self.assertIn(f"cannot reach broker at {dead}", r.stderr)

    def test_usage_errors_exit_2_and_help_documents_exit_codes(self):
        for args in (["topic"], ["topic", "create"], ["topic", "frobnicate"],
                     ["topic", "create", "x", "--partitions", "zero"],
                     ["topic", "list", "--timeout", "-1s"],
                     ["topic", "create", "x", "--config", "novalue"]):
            r = self.cli(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
        self.assertIsNone(self.topic_partitions("x"))
        r = self.cli("topic", "create", "--help", brokers=False)
        self.assertEqual(r.returncode, 0)
        self.assertIn("Exit codes: 0 success; 1 the operation failed", r.stdout)
        self.assertIn("3 no broker answered", r.stdout)


class OwnServerTest(ServerTest):
    def test_create_without_partitions_uses_the_broker_default(self):
        s = self.start("--topics-default-partitions", "4")
        out = self.run_riptide("topic", "create", "d", "--json", "--brokers", s.bootstrap)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), {"topic": "d", "partitions": 4})
        md = AdminClient({"bootstrap.servers": s.bootstrap, "log_level": 0}).list_topics(timeout=10)
        self.assertEqual(len(md.topics["d"].partitions), 4)

    def test_serve_starts_with_riptide_brokers_set(self):
        s = self.start(env={"RIPTIDE_BROKERS": "127.0.0.1:1"})
        s.wait_for("ready")
        r = self.run_riptide("topic", "create", "t", env={"RIPTIDE_BROKERS": s.bootstrap})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(s.stop(), 0)
        # A misspelt client variable is still refused by serve.
        r = self.run_riptide("serve", "--data-dir", os.path.join(self.tmp, "d2"),
                             env={"RIPTIDE_BROKER": "127.0.0.1:1"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown environment variable RIPTIDE_BROKER", r.stderr)


class DocsExamplesTest(BrokerFixture):
    def test_every_example_in_docs_cli_md_works(self):
        commands = doc_examples("sh")
        self.assertGreater(len(commands), 10)
        http = f"127.0.0.1:{self.server.http_port}"
        env = dict(os.environ, RIPTIDE_BROKERS=self.bootstrap, RIPTIDE_HTTP_URL=f"http://{http}",
                   PATH=os.path.dirname(os.path.abspath(RIPTIDE)) + os.pathsep +
                   os.environ.get("PATH", ""))
        for cmd in commands:
            cmd = cmd.replace("localhost:9644", http)  # the examples' default listener
            r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                               text=True, env=env, cwd=self.tmp, timeout=60)
            self.assertEqual(r.returncode, 0, f"{cmd}\n{r.stdout}\n{r.stderr}")


if __name__ == "__main__":
    unittest.main()
