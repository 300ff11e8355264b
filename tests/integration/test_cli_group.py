"""`riptide consume --group` and `riptide group list|describe|seek|delete` against the broker's
group coordinator, with committed offsets checked through confluent-kafka; and the group
examples of docs/cli.md."""

import json
import os
import subprocess
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition

from harness import RIPTIDE
from test_cli import BrokerFixture, doc_examples


class GroupTest(BrokerFixture):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = subprocess.run([RIPTIDE, "topic", "create", "jobs", "--partitions", "2", "--brokers",
                            cls.bootstrap], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        p = Producer({"bootstrap.servers": cls.bootstrap, "log_level": 0})
        for i in range(6):
            p.produce("jobs", value=f"a{i}", partition=0)
        for i in range(4):
            p.produce("jobs", value=f"b{i}", partition=1)
        assert p.flush(10) == 0

    def committed(self, group):
        """{partition: committed offset} of `group` on topic jobs, as another client sees it."""
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "log_level": 0})
        try:
            tps = c.committed([TopicPartition("jobs", 0), TopicPartition("jobs", 1)], timeout=10)
            return {tp.partition: tp.offset for tp in tps}
        finally:
            c.close()

    def member(self, group):
        """A confluent-kafka consumer that has joined `group` (close it when done)."""
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                      "log_level": 0})
        c.subscribe(["jobs"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not c.assignment():
            c.poll(0.2)
        self.assertTrue(c.assignment(), "the consumer was not assigned partitions")
        return c

    def test_consume_with_a_group_resumes_and_commits(self):
        first = self.ok("consume", "jobs", "--group", "g1", "--count", "7").splitlines()
        self.assertEqual(len(first), 7)
        rest = self.ok("consume", "jobs", "--group", "g1", "-e").splitlines()
        self.assertEqual(sorted(first + rest),
                         sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(4)]))
        self.assertEqual(self.committed("g1"), {0: 6, 1: 4})
        # Nothing new: a third run prints nothing.
        self.assertEqual(self.ok("consume", "jobs", "--group", "g1", "-e"), "")
        # --offset end for a group without committed offsets starts at the end.
        self.assertEqual(self.ok("consume", "jobs", "--group", "g1-new", "--offset", "end",
                                 "-e"), "")

    def test_list_describe_seek_delete(self):
        self.ok("consume", "jobs", "--group", "g2", "-e")
        self.assertEqual(self.committed("g2"), {0: 6, 1: 4})

        groups = {g["group"]: g["state"] for g in json.loads(self.ok("group", "list", "--json"))}
        self.assertEqual(groups.get("g2"), "Empty")
        self.assertRegex(self.ok("group", "list"), r"(?m)^g2 +Empty$")

        # seek to the beginning of one partition, to an offset, and to the end.
        self.ok("group", "seek", "g2", "--topic", "jobs:1", "--to", "beginning")
        self.assertEqual(self.committed("g2"), {0: 6, 1: 0})
        out = json.loads(self.ok("group", "seek", "g2", "--topic", "jobs", "--to", "3", "--json"))
        self.assertEqual(out["offsets"], [{"topic": "jobs", "partition": 0, "offset": 3},
                                          {"topic": "jobs", "partition": 1, "offset": 3}])
        self.assertEqual(self.committed("g2"), {0: 3, 1: 3})

        d = json.loads(self.ok("group", "describe", "g2", "--json"))
        self.assertEqual(d["state"], "Empty")
        self.assertEqual(d["members"], [])
        self.assertEqual([(p["partition"], p["committed"], p["log_start"], p["log_end"], p["lag"])
                          for p in d["partitions"]], [(0, 3, 0, 6, 3), (1, 3, 0, 4, 1)])
        human = self.ok("group", "describe", "g2")
        self.assertRegex(human, r"(?m)^TOPIC +PARTITION +COMMITTED +LOG-START +LOG-END +LAG")
        self.assertRegex(human, r"(?m)^jobs +0 +3 +0 +6 +3 ")

        # Consuming resumes at the sought offsets.
        self.assertEqual(sorted(self.ok("consume", "jobs", "--group", "g2", "-e").splitlines()),
                         ["a3", "a4", "a5", "b3"])
        self.ok("group", "seek", "g2", "--topic", "jobs", "--to", "end")
        self.assertEqual(self.committed("g2"), {0: 6, 1: 4})

        self.assertIn("deleted group 'g2'", self.ok("group", "delete", "g2"))
        groups = {g["group"] for g in json.loads(self.ok("group", "list", "--json"))}
        self.assertNotIn("g2", groups)
        self.assertEqual(self.committed("g2"), {0: -1001, 1: -1001})

    def test_describe_matches_the_brokers_metrics(self):
        self.ok("consume", "jobs", "--group", "lagging", "--count", "5")
        self.ok("group", "seek", "lagging", "--topic", "jobs:1", "--to", "1")
        d = json.loads(self.ok("group", "describe", "lagging", "--json"))
        status, body = self.server.http_get("/metrics")
        self.assertEqual(status, 200)
        metrics = {}
        for line in body.splitlines():
            for name in ("committed_offset", "log_end_offset", "lag"):
                prefix = f'riptide_group_{name}{{group="lagging",topic="jobs",partition="'
                if line.startswith(prefix):
                    partition = int(line[len(prefix):].split('"')[0])
                    metrics[(name, partition)] = int(line.split()[-1])
        self.assertEqual(len(d["partitions"]), 2)
        for p in d["partitions"]:
            q = p["partition"]
            self.assertEqual(p["committed"], metrics[("committed_offset", q)])
            self.assertEqual(p["log_end"], metrics[("log_end_offset", q)])
            self.assertEqual(p["lag"], metrics[("lag", q)])
        self.assertGreater(sum(p["lag"] for p in d["partitions"]), 0)

    def test_active_members_are_shown_and_block_seek_and_delete(self):
        c = self.member("g3")
        try:
            d = json.loads(self.ok("group", "describe", "g3", "--json"))
            self.assertEqual(d["state"], "Stable")
            self.assertEqual(len(d["members"]), 1)
            self.assertEqual(sum(m["partitions"] for m in d["members"]), 2)
            self.assertTrue(all(p["member"] == d["members"][0]["member_id"]
                                for p in d["partitions"]))
            for args in (["seek", "g3", "--topic", "jobs", "--to", "beginning"],
                         ["delete", "g3"]):
                r = self.cli("group", *args)
                self.assertEqual(r.returncode, 1, (args, r.stderr))
                self.assertIn("while it has active members: stop its consumers first", r.stderr)
        finally:
            c.close()

    def test_unknown_group_and_bad_values(self):
        for args in (["describe", "nobody"], ["delete", "nobody"]):
            r = self.cli("group", *args)
            self.assertEqual(r.returncode, 1, (args, r.stderr))
            self.assertIn("group 'nobody' does not exist: see `riptide group list`", r.stderr)
        for args, text in ((["--topic", "jobs", "--to", "later"], 'invalid --to "later"'),
                           (["--topic", "jobs:x", "--to", "end"], 'invalid --topic "jobs:x"'),
                           (["--topic", "jobs:5", "--to", "end"], "has partitions 0 to 1")):
            r = self.cli("group", "seek", "g4", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(text, r.stderr)
        r = self.cli("group", "seek", "g4", "--topic", "ghost", "--to", "end")
        self.assertEqual(r.returncode, 1)
        self.assertIn("topic 'ghost' does not exist", r.stderr)


class GroupDocsExamplesTest(BrokerFixture):
    def test_group_examples_in_docs_cli_md_work(self):
        self.ok("topic", "create", "orders", "--partitions", "3")
        self.ok("produce", "orders", stdin="".join(f"order-{i}\n" for i in range(20)))
        commands = doc_examples("sh group")
        self.assertGreater(len(commands), 3)
        env = dict(os.environ, RIPTIDE_BROKERS=self.bootstrap,
                   PATH=os.path.dirname(os.path.abspath(RIPTIDE)) + os.pathsep +
                   os.environ.get("PATH", ""))
        for cmd in commands:
            r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                               text=True, env=env, cwd=self.tmp, timeout=60)
            self.assertEqual(r.returncode, 0, f"{cmd}\n{r.stdout}\n{r.stderr}")


if __name__ == "__main__":
    unittest.main()
