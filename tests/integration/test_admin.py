"""Admin APIs against the real broker: CreatePartitions, DescribeConfigs, AlterConfigs,
IncrementalAlterConfigs and DescribeCluster, driven by confluent-kafka (librdkafka) and
kafka-python's admin clients, and by hand-encoded requests for the versions and APIs
neither client sends (flexible versions, IncrementalAlterConfigs, DescribeCluster)."""

import glob
import json
import os
import socket
import struct
import subprocess
import time
import unittest

from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer,
                             KafkaError, KafkaException, Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, ConfigResource, ConfigSource, NewPartitions,
                                   NewTopic)

from harness import RIPTIDE, ServerTest

SEVEN_DAYS_MS = str(7 * 24 * 3600 * 1000)

# Kafka error codes.
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_PARTITIONS = 37
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_CONFIG = 40
INVALID_REQUEST = 42

TOPIC = 2
BROKER = 4


# --- A minimal Kafka client for requests no installed client sends -------------------

class Writer:
    """Kafka primitive encodings; `flex` selects the compact forms of flexible versions."""

    def __init__(self, flex):
        self.flex = flex
        self.out = bytearray()

    def i8(self, v):
        self.out += struct.pack(">b", v)
        return self

    def i16(self, v):
        self.out += struct.pack(">h", v)
        return self

    def i32(self, v):
        self.out += struct.pack(">i", v)
        return self

    def i64(self, v):
        self.out += struct.pack(">q", v)
        return self

    def boolean(self, v):
        return self.i8(1 if v else 0)

    def uvarint(self, n):
        while n >= 0x80:
            self.out.append((n & 0x7F) | 0x80)
            n >>= 7
        self.out.append(n)
        return self

    def string(self, s):
        if s is None:
            return self.uvarint(0) if self.flex else self.i16(-1)
        data = s.encode()
        if self.flex:
            self.uvarint(len(data) + 1)
        else:
            self.i16(len(data))
        self.out += data
        return self

    def array(self, items, write_item):
        if items is None:
            return self.uvarint(0) if self.flex else self.i32(-1)
        if self.flex:
            self.uvarint(len(items) + 1)
        else:
            self.i32(len(items))
        for item in items:
            write_item(item)
        return self

    def tags(self):
        if self.flex:
            self.uvarint(0)
        return self


class Reader:
    def __init__(self, data, flex):
        self.data = data
        self.pos = 0
        self.flex = flex

    def _take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def i8(self):
        return self._take(">b")

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def boolean(self):
        return self.i8() != 0

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def string(self):
        n = self.uvarint() - 1 if self.flex else self.i16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def array(self, read_item):
        n = self.uvarint() - 1 if self.flex else self.i32()
        return None if n < 0 else [read_item() for _ in range(n)]

    def tags(self):
        if self.flex:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.pos += self.uvarint()

    def done(self):
        return self.pos == len(self.data)


def call(bootstrap, api_key, version, flex, body):
    """Sends one request (header v2 when `flex`, else v1) and returns a Reader over the
    response body."""
    header = Writer(False).i16(api_key).i16(version).i32(7).string("admin-test")
    if flex:
        header.uvarint(0)
    payload = bytes(header.out) + bytes(body.out)
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(struct.pack(">i", len(payload)) + payload)

        def recv_exactly(n):
            buf = b""
            while len(buf) < n:
                chunk = s.recv(n - len(buf))
                if not chunk:
                    raise AssertionError("connection closed by the broker")
                buf += chunk
            return buf

        size = struct.unpack(">i", recv_exactly(4))[0]
        frame = recv_exactly(size)
    r = Reader(frame, flex)
    assert r.i32() == 7, "correlation id"
    r.tags()  # response header v1
    return r


def read_alter_results(r):
    """AlterConfigs / IncrementalAlterConfigs response → {name: (error_code, message)}."""
    r.i32()  # throttle

    def item():
        err, msg, _, name = r.i16(), r.string(), r.i8(), r.string()
        r.tags()
        return name, (err, msg)

    out = dict(r.array(item))
    r.tags()
    assert r.done()
    return out


def incremental_alter(bootstrap, version, resources, validate_only=False):
    """resources: [(type, name, [(key, op, value)])]."""
    w = Writer(version >= 1)

    def config(c):
        w.string(c[0]).i8(c[1]).string(c[2]).tags()

    def resource(res):
        w.i8(res[0]).string(res[1]).array(res[2], config).tags()

    w.array(resources, resource).boolean(validate_only).tags()
    return read_alter_results(call(bootstrap, 44, version, version >= 1, w))


SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def consume(bootstrap, topic, partition, expected, timeout=30):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, partition, 0)])
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
            continue
        if m.error():
            raise KafkaException(m.error())
        out.append(m)
    c.close()
    return out


class AdminTest(ServerTest):
    def setUp(self):
        super().setUp()
        self.server = self.start()
        self.server.wait_for("ready")

    def tearDown(self):
        self._admin = None  # disconnect before the server goes away
        super().tearDown()

    @property
    def bootstrap(self):
        return self.server.bootstrap

    def admin(self):
        """One client per server (its futures fail once the client is destroyed)."""
        if getattr(self, "_admin_for", None) is not self.server:
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
            self._admin_for = self.server
        return self._admin

    def kafka_python_admin(self):
        from kafka.admin import KafkaAdminClient
        client = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        self.addCleanup(client.close)
        return client

    def create_topic(self, name, partitions=1, config=None):
        fs = self.admin().create_topics([NewTopic(name, partitions, 1, config=config or {})])
        fs[name].result(timeout=30)

    def describe(self, topic):
        res = ConfigResource("topic", topic)
        return self.admin().describe_configs([res])[res].result(timeout=30)

    def alter(self, topic, configs):
        res = ConfigResource("topic", topic, set_config=configs)
        return self.admin().alter_configs([res])[res].result(timeout=30)

    def restart(self):
        self.assertEqual(self.server.stop(), 0)
        self.server = self.start(data_dir=self.server.data_dir)
        self.server.wait_for("ready")

    # --- Who asked: the log of admin operations -----------------------------------

    def test_admin_operations_are_logged_with_who_asked_for_them(self):
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "client.id": "audit-app"})
        admin.create_topics([NewTopic("audited", 1, 1)])["audited"].result(timeout=30)
        res = ConfigResource("topic", "audited", set_config={"retention.ms": "60000"})
        admin.alter_configs([res])[res].result(timeout=30)
        admin.create_partitions([NewPartitions("audited", 2)])["audited"].result(timeout=30)
        admin.delete_topics(["audited"])["audited"].result(timeout=30)
        who = "for User:ANONYMOUS (client 'audit-app' at /127.0.0.1 over kafka)"
        for line in ("created topic audited with 1 partition(s), ",
                     "topic audited: configs are now retention.ms=60000, ",
                     "topic audited: 2 partition(s), was 1, ",
                     "deleted topic audited, "):
            self.server.wait_for(line + who, timeout=10)

    # --- CreatePartitions ---------------------------------------------------------

    def test_create_partitions_grows_a_topic_and_refuses_to_shrink(self):
        self.create_topic("grow", 1)
        admin = self.admin()

        # validate_only changes nothing.
        admin.create_partitions([NewPartitions("grow", 5)],
                                validate_only=True)["grow"].result(timeout=30)
        self.assertEqual(len(admin.list_topics(timeout=10).topics["grow"].partitions), 1)

        admin.create_partitions([NewPartitions("grow", 3)])["grow"].result(timeout=30)
        md = admin.list_topics(topic="grow", timeout=10)
        self.assertEqual(sorted(md.topics["grow"].partitions), [0, 1, 2])

        # The new partition takes records and gives them back.
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all"})
        for i in range(5):
            p.produce("grow", f"p2-{i}".encode(), partition=2)
        self.assertEqual(p.flush(30), 0)
        got = consume(self.bootstrap, "grow", 2, 5)
        self.assertEqual([m.value() for m in got], [f"p2-{i}".encode() for i in range(5)])
        self.assertEqual({m.partition() for m in got}, {2})

        for count in (2, 3):  # fewer, or as many as it has
            with self.assertRaises(KafkaException) as e:
                admin.create_partitions([NewPartitions("grow", count)])["grow"].result(timeout=30)
            self.assertEqual(e.exception.args[0].code(), KafkaError.INVALID_PARTITIONS)
            self.assertIn("3 partitions", e.exception.args[0].str())
        with self.assertRaises(KafkaException) as e:
            admin.create_partitions([NewPartitions("missing", 2)])["missing"].result(timeout=30)
        self.assertEqual(e.exception.args[0].code(), KafkaError.UNKNOWN_TOPIC_OR_PART)

        # The count survives a restart, and the new partition's records too.
        self.restart()
        md = self.admin().list_topics(topic="grow", timeout=10)
        self.assertEqual(len(md.topics["grow"].partitions), 3)
        self.assertEqual(len(consume(self.bootstrap, "grow", 2, 5)), 5)

    def test_create_partitions_with_kafka_python_and_flexible_v3(self):
        from kafka.admin import NewPartitions as KpNewPartitions
        from kafka.errors import InvalidPartitionsError, InvalidReplicationAssignmentError
        self.create_topic("kp-grow", 2)
        client = self.kafka_python_admin()
        client.create_partitions({"kp-grow": KpNewPartitions(4)})
        with self.assertRaises(InvalidPartitionsError):
            client.create_partitions({"kp-grow": KpNewPartitions(1)})
        # Assignments may only name this node (0).
        with self.assertRaises(InvalidReplicationAssignmentError):
            client.create_partitions({"kp-grow": KpNewPartitions(6, [[1], [1]])})
        md = self.admin().list_topics(topic="kp-grow", timeout=10)
        self.assertEqual(len(md.topics["kp-grow"].partitions), 4)

        # v3 (flexible), hand-encoded: grow to 6, then shrink (refused), in one request.
        w = Writer(True)

        def topic(t):
            w.string(t[0]).i32(t[1]).array(None, None).tags()

        w.array([("kp-grow", 6), ("nope", 2)], topic).i32(10000).boolean(False).tags()
        r = call(self.bootstrap, 37, 3, True, w)
        r.i32()

        def result():
            name, err, msg = r.string(), r.i16(), r.string()
            r.tags()
            return name, (err, msg)

        results = dict(r.array(result))
        r.tags()
        self.assertTrue(r.done())
        self.assertEqual(results["kp-grow"], (0, None))
        self.assertEqual(results["nope"][0], UNKNOWN_TOPIC_OR_PARTITION)
        md = self.admin().list_topics(topic="kp-grow", timeout=10)
        self.assertEqual(len(md.topics["kp-grow"].partitions), 6)

    # --- DescribeConfigs / AlterConfigs ---------------------------------------------

    def test_describe_then_alter_configs_survives_restart(self):
        self.create_topic("cfg")
        before = self.describe("cfg")
        self.assertEqual(before["retention.ms"].value, SEVEN_DAYS_MS)
        self.assertEqual(before["message.timestamp.type"].value, "CreateTime")
        self.assertEqual(before["cleanup.policy"].value, "delete")
        self.assertEqual(before["retention.ms"].source, ConfigSource.DEFAULT_CONFIG.value)
        self.assertTrue(before["retention.ms"].is_default)
        self.assertFalse(before["retention.ms"].is_read_only)
        for key in ("retention.bytes", "segment.bytes", "segment.ms", "max.message.bytes",
                    "riptide.durability", "flush.ms"):
            self.assertIn(key, before)

        self.alter("cfg", {"retention.ms": "3600000", "message.timestamp.type": "LogAppendTime"})
        after = self.describe("cfg")
        self.assertEqual(after["retention.ms"].value, "3600000")
        self.assertEqual(after["message.timestamp.type"].value, "LogAppendTime")
        self.assertEqual(after["retention.ms"].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
        self.assertFalse(after["retention.ms"].is_default)
        self.assertEqual(after["segment.bytes"].source, ConfigSource.DEFAULT_CONFIG.value)

        self.restart()
        survived = self.describe("cfg")
        self.assertEqual(survived["retention.ms"].value, "3600000")
        self.assertEqual(survived["message.timestamp.type"].value, "LogAppendTime")

        # AlterConfigs replaces the whole set: a key left out returns to its default.
        self.alter("cfg", {"retention.ms": "7200000"})
        replaced = self.describe("cfg")
        self.assertEqual(replaced["retention.ms"].value, "7200000")
        self.assertEqual(replaced["message.timestamp.type"].value, "CreateTime")
        self.assertEqual(replaced["message.timestamp.type"].source,
                         ConfigSource.DEFAULT_CONFIG.value)

        with self.assertRaises(KafkaException) as e:
            self.describe("missing")
        self.assertEqual(e.exception.args[0].code(), KafkaError.UNKNOWN_TOPIC_OR_PART)

        res = ConfigResource("broker", "0")
        broker = self.admin().describe_configs([res])[res].result(timeout=30)
        self.assertEqual(broker["log.retention.ms"].value, SEVEN_DAYS_MS)
        self.assertFalse(broker["log.retention.ms"].is_read_only)  # a dynamic broker config
        self.assertTrue(broker["num.partitions"].is_read_only)

    def test_invalid_values_are_refused_and_change_nothing(self):
        self.create_topic("strict", config={"retention.ms": "60000"})
        for bad in ({"retention.ms": "abc"}, {"cleanup.policy": "shred"},
                    {"no.such.key": "1"}, {"segment.bytes": "10"},
                    {"retention.ms": "120000", "message.timestamp.type": "Sometimes"}):
            with self.assertRaises(KafkaException, msg=str(bad)) as e:
                self.alter("strict", bad)
            self.assertEqual(e.exception.args[0].code(), KafkaError.INVALID_CONFIG, bad)
        self.assertIn("cleanup.policy", self.admin_error("strict", {"cleanup.policy": "shred"}))
        cfg = self.describe("strict")
        self.assertEqual(cfg["retention.ms"].value, "60000")
        self.assertEqual(cfg["cleanup.policy"].value, "delete")
        self.assertEqual(cfg["message.timestamp.type"].value, "CreateTime")

        # Through IncrementalAlterConfigs too, and APPEND has no list-type key to apply to.
        for op in ((("retention.ms", SET, "abc"),), (("retention.ms", APPEND, "5"),),
                   (("cleanup.policy", SUBTRACT, "delete"),), (("unknown.key", SET, "1"),)):
            res = incremental_alter(self.bootstrap, 1, [(TOPIC, "strict", list(op))])
            self.assertEqual(res["strict"][0], INVALID_CONFIG, op)
            self.assertTrue(res["strict"][1], op)
        self.assertEqual(self.describe("strict")["retention.ms"].value, "60000")

        # Broker configs: invalid values and static settings are refused.
        for bad in ({"log.retention.ms": "abc"}, {"num.partitions": "3"}):
            res = ConfigResource("broker", "0", set_config=bad)
            with self.assertRaises(KafkaException, msg=str(bad)) as e:
                self.admin().alter_configs([res])[res].result(timeout=30)
            self.assertEqual(e.exception.args[0].code(), KafkaError.INVALID_CONFIG, bad)
            self.assertIn(list(bad)[0], e.exception.args[0].str())

    def admin_error(self, topic, configs):
        try:
            self.alter(topic, configs)
        except KafkaException as e:
            return e.args[0].str()
        self.fail(f"{configs} was accepted")

    def test_kafka_python_describe_and_alter_configs(self):
        from kafka.admin import ConfigResource as KpResource, ConfigResourceType
        self.create_topic("kp-cfg")
        client = self.kafka_python_admin()

        def values(include_synonyms=False, keys=None):
            [resp] = client.describe_configs(
                [KpResource(ConfigResourceType.TOPIC, "kp-cfg", keys)],
                include_synonyms=include_synonyms)
            self.assertEqual(resp.API_VERSION, 2)
            [(err, msg, rtype, name, entries)] = resp.resources
            self.assertEqual((err, rtype, name), (0, TOPIC, "kp-cfg"), msg)
            return {e[0]: e for e in entries}

        self.assertEqual(values()["retention.ms"][1], SEVEN_DAYS_MS)
        resp = client.alter_configs([KpResource(
            ConfigResourceType.TOPIC, "kp-cfg",
            {"retention.ms": "86400000", "message.timestamp.type": "LogAppendTime"})])
        self.assertEqual(resp.API_VERSION, 1)
        self.assertEqual([r[:2] for r in resp.resources], [(0, None)])
        got = values(include_synonyms=True)
        self.assertEqual(got["retention.ms"][1], "86400000")
        self.assertEqual(got["message.timestamp.type"][1], "LogAppendTime")
        # Synonyms, most specific first: the topic's override, then the default.
        self.assertEqual([tuple(s) for s in got["retention.ms"][5]],
                         [("retention.ms", "86400000", 1), ("retention.ms", SEVEN_DAYS_MS, 5)])
        # Only the keys asked for.
        self.assertEqual(set(values(keys={"retention.ms": None, "segment.bytes": None})),
                         {"retention.ms", "segment.bytes"})

        resp = client.alter_configs([KpResource(ConfigResourceType.TOPIC, "kp-cfg",
                                                {"retention.ms": "abc"})])
        [(err, msg, _, _)] = resp.resources
        self.assertEqual(err, INVALID_CONFIG)
        self.assertIn("retention.ms", msg)
        resp = client.alter_configs([KpResource(ConfigResourceType.TOPIC, "absent",
                                                {"retention.ms": "1"})])
        self.assertEqual(resp.resources[0][0], UNKNOWN_TOPIC_OR_PARTITION)
        self.assertEqual(values()["retention.ms"][1], "86400000")

        # The broker's own (read-only) settings.
        [resp] = client.describe_configs([KpResource(ConfigResourceType.BROKER, "0")])
        [(err, _, rtype, _, entries)] = resp.resources
        self.assertEqual((err, rtype), (0, BROKER))
        broker = {e[0]: e for e in entries}
        self.assertEqual(broker["log.retention.ms"][1], SEVEN_DAYS_MS)
        self.assertEqual(broker["auto.create.topics.enable"][1], "true")
        self.assertTrue(broker["num.partitions"][2])  # read_only

    def test_describe_configs_every_version(self):
        """v0-4 hand-encoded: v0 carries is_default, v1+ the config source, v3+ the type
        and (when asked) the documentation, v4 is flexible."""
        self.create_topic("versions", config={"segment.bytes": "1048576"})
        for version in range(5):
            flex = version >= 4
            w = Writer(flex)

            def resource(res):
                w.i8(res[0]).string(res[1]).array(res[2], w.string).tags()

            w.array([(TOPIC, "versions", None), (TOPIC, "absent", None),
                     (BROKER, "", ["message.max.bytes"]), (3, "group", None)], resource)
            if version >= 1:
                w.boolean(True)  # include_synonyms
            if version >= 3:
                w.boolean(True)  # include_documentation
            w.tags()
            r = call(self.bootstrap, 32, version, flex, w)
            r.i32()

            def entry():
                e = {"name": r.string(), "value": r.string(), "read_only": r.boolean()}
                if version == 0:
                    e["is_default"] = r.boolean()
                else:
                    e["source"] = r.i8()
                e["sensitive"] = r.boolean()
                if version >= 1:
                    def synonym():
                        s = (r.string(), r.string(), r.i8())
                        r.tags()
                        return s
                    e["synonyms"] = r.array(synonym)
                if version >= 3:
                    e["type"] = r.i8()
                    e["doc"] = r.string()
                r.tags()
                return e

            def result():
                res = {"error": r.i16(), "message": r.string(), "type": r.i8(),
                       "name": r.string()}
                res["configs"] = {e["name"]: e for e in r.array(entry)}
                r.tags()
                return res

            results = r.array(result)
            r.tags()
            self.assertTrue(r.done(), version)
            topic, absent, broker, group = results
            self.assertEqual(topic["error"], 0, version)
            seg, ret = topic["configs"]["segment.bytes"], topic["configs"]["retention.ms"]
            self.assertEqual(seg["value"], "1048576")
            self.assertEqual(ret["value"], SEVEN_DAYS_MS)
            if version == 0:
                self.assertEqual((seg["is_default"], ret["is_default"]), (False, True))
            else:
                self.assertEqual((seg["source"], ret["source"]), (1, 5), version)
                self.assertEqual([s[2] for s in seg["synonyms"]], [1, 5])
            if version >= 3:
                self.assertEqual((seg["type"], ret["type"]), (3, 5))  # INT, LONG
                self.assertEqual(topic["configs"]["cleanup.policy"]["type"], 7)  # LIST
                self.assertIn("segment", seg["doc"])
            self.assertEqual(absent["error"], UNKNOWN_TOPIC_OR_PARTITION)
            self.assertTrue(absent["message"])
            self.assertEqual(broker["error"], 0)
            self.assertEqual(list(broker["configs"]), ["message.max.bytes"])
            self.assertFalse(broker["configs"]["message.max.bytes"]["read_only"])
            self.assertEqual(group["error"], INVALID_REQUEST)
            self.assertTrue(group["message"])

    def test_alter_configs_v2_flexible_and_validate_only(self):
        self.create_topic("v2")

        def alter(configs, validate_only):
            w = Writer(True)

            def config(c):
                w.string(c[0]).string(c[1]).tags()

            def resource(res):
                w.i8(TOPIC).string(res).array(configs, config).tags()

            w.array(["v2"], resource).boolean(validate_only).tags()
            return read_alter_results(call(self.bootstrap, 33, 2, True, w))["v2"]

        self.assertEqual(alter([("retention.ms", "1000")], True), (0, None))
        self.assertEqual(self.describe("v2")["retention.ms"].value, SEVEN_DAYS_MS)
        self.assertEqual(alter([("retention.ms", "5000")], False), (0, None))
        self.assertEqual(self.describe("v2")["retention.ms"].value, "5000")
        err, msg = alter([("flush.ms", "0")], False)
        self.assertEqual(err, INVALID_CONFIG)
        self.assertIn("flush.ms", msg)

    # --- IncrementalAlterConfigs ---------------------------------------------------

    def test_incremental_alter_configs_set_and_delete(self):
        self.create_topic("inc", config={"retention.ms": "60000", "segment.ms": "3600000"})
        for version in (0, 1):
            res = incremental_alter(self.bootstrap, version, [
                (TOPIC, "inc", [("message.timestamp.type", SET, "LogAppendTime"),
                                ("segment.ms", DELETE, None)]),
                (TOPIC, "missing", [("retention.ms", SET, "1")]),
                (BROKER, "0", [("log.retention.ms", SET, "abc")]),
                (BROKER, "7", [("log.retention.ms", SET, "1")])])
            self.assertEqual(res["inc"], (0, None), version)
            self.assertEqual(res["missing"][0], UNKNOWN_TOPIC_OR_PARTITION)
            self.assertEqual(res["0"][0], INVALID_CONFIG)
            self.assertEqual(res["7"][0], INVALID_REQUEST)  # another broker's id
            cfg = self.describe("inc")
            # Untouched keys keep their overrides; deleted ones return to the default.
            self.assertEqual(cfg["retention.ms"].value, "60000")
            self.assertEqual(cfg["message.timestamp.type"].value, "LogAppendTime")
            self.assertEqual(cfg["segment.ms"].value, SEVEN_DAYS_MS)
            self.assertEqual(cfg["segment.ms"].source, ConfigSource.DEFAULT_CONFIG.value)
            self.alter("inc", {"retention.ms": "60000", "segment.ms": "3600000"})

        res = incremental_alter(self.bootstrap, 1,
                                [(TOPIC, "inc", [("retention.ms", SET, "1")])],
                                validate_only=True)
        self.assertEqual(res["inc"], (0, None))
        self.assertEqual(self.describe("inc")["retention.ms"].value, "60000")
        res = incremental_alter(self.bootstrap, 1, [
            (TOPIC, "inc", [("retention.ms", SET, "1"), ("retention.ms", DELETE, None)])])
        self.assertEqual(res["inc"][0], INVALID_REQUEST)  # the same key twice

        self.restart()
        res = incremental_alter(self.bootstrap, 0, [(TOPIC, "inc", [("retention.ms", SET, "5")])])
        self.assertEqual(res["inc"], (0, None))
        cfg = self.describe("inc")
        self.assertEqual(cfg["retention.ms"].value, "5")
        self.assertEqual(cfg["segment.ms"].value, "3600000")

    # --- Kafka's topic configs and replica assignments ---------------------------------

    def test_every_kafka_topic_config_is_accepted_described_and_kept(self):
        # The configs a tool copies from a Kafka cluster's topic, with non-default values.
        configs = {
            "cleanup.policy": "delete", "compression.type": "producer",
            "delete.retention.ms": "3600000", "file.delete.delay.ms": "1000",
            "flush.messages": "100", "index.interval.bytes": "8192",
            "follower.replication.throttled.replicas": "",
            "leader.replication.throttled.replicas": "",
            "local.retention.bytes": "-2", "local.retention.ms": "-2",
            "max.compaction.lag.ms": "86400000", "max.message.bytes": "2000000",
            "message.downconversion.enable": "false", "message.format.version": "3.0-IV1",
            "message.timestamp.after.max.ms": "3600000",
            "message.timestamp.before.max.ms": "86400000",
            "message.timestamp.difference.max.ms": "86400000",
            "message.timestamp.type": "CreateTime", "min.cleanable.dirty.ratio": "0.3",
            "min.compaction.lag.ms": "1000", "min.insync.replicas": "1", "preallocate": "true",
            "remote.storage.enable": "false", "retention.bytes": "1000000000",
            "retention.ms": "86400000", "segment.bytes": "104857600",
            "segment.index.bytes": "1048576", "segment.jitter.ms": "1000",
            "segment.ms": "3600000", "unclean.leader.election.enable": "false",
            "compression.gzip.level": "6", "compression.lz4.level": "9",
            "compression.zstd.level": "3"}
        self.create_topic("kafka-configs", config=configs)
        described = self.describe("kafka-configs")
        for key, value in configs.items():
            self.assertEqual(described[key].value, value, key)
            self.assertEqual(described[key].source, ConfigSource.DYNAMIC_TOPIC_CONFIG.value, key)
        self.restart()
        described = self.describe("kafka-configs")
        self.assertEqual({k: described[k].value for k in configs}, configs)
        # Values Kafka refuses are refused with the key named.
        with self.assertRaises(KafkaException) as e:
            self.create_topic("bad-configs", config={"min.cleanable.dirty.ratio": "2"})
        self.assertEqual(e.exception.args[0].code(), KafkaError.INVALID_CONFIG)
        self.assertIn("min.cleanable.dirty.ratio", e.exception.args[0].str())

    def test_replica_assignments_naming_this_node_are_accepted(self):
        fs = self.admin().create_topics(
            [NewTopic("assigned", num_partitions=3, replica_assignment=[[0], [0], [0]])])
        fs["assigned"].result(timeout=30)
        md = self.admin().list_topics(topic="assigned", timeout=10)
        self.assertEqual(len(md.topics["assigned"].partitions), 3)
        self.assertEqual(md.topics["assigned"].partitions[2].replicas, [0])
        fs = self.admin().create_topics([NewTopic("elsewhere", num_partitions=2,
                                                   replica_assignment=[[0], [1]])])
        with self.assertRaises(KafkaException) as e:
            fs["elsewhere"].result(timeout=30)
        self.assertEqual(e.exception.args[0].code(), KafkaError.INVALID_REPLICA_ASSIGNMENT)
        fs = self.admin().create_partitions(
            [NewPartitions("assigned", 5, replica_assignment=[[0], [0]])])
        fs["assigned"].result(timeout=30)
        md = self.admin().list_topics(topic="assigned", timeout=10)
        self.assertEqual(len(md.topics["assigned"].partitions), 5)
        fs = self.admin().create_partitions(
            [NewPartitions("assigned", 6, replica_assignment=[[3]])])
        with self.assertRaises(KafkaException) as e:
            fs["assigned"].result(timeout=30)
        self.assertEqual(e.exception.args[0].code(), KafkaError.INVALID_REPLICA_ASSIGNMENT)

    def test_alter_configs_on_a_missing_topic_says_unknown_topic_first(self):
        res = ConfigResource("topic", "missing", set_config={"no.such.key": "1"})
        with self.assertRaises(KafkaException) as e:
            self.admin().alter_configs([res])[res].result(timeout=30)
        self.assertEqual(e.exception.args[0].code(), KafkaError.UNKNOWN_TOPIC_OR_PART)
        res = incremental_alter(self.bootstrap, 1,
                                [(TOPIC, "missing", [("no.such.key", SET, "1")])])
        self.assertEqual(res["missing"][0], UNKNOWN_TOPIC_OR_PARTITION)

    def test_concurrent_incremental_alters_of_one_topic_all_apply(self):
        # Each request sets its own key of the same topic at the same moment; the broker
        # applies each to the overrides as they are then, so none is lost.
        import threading
        self.create_topic("contended")
        keys = ["retention.ms", "segment.ms", "delete.retention.ms", "max.message.bytes",
                "index.interval.bytes", "segment.jitter.ms", "min.compaction.lag.ms",
                "file.delete.delay.ms", "min.cleanable.dirty.ratio", "retention.bytes"]
        values = ["3600000", "3600000", "60000", "2000000", "8192", "1000", "1000", "1000",
                  "0.3", "1000000000"]
        for rnd in range(3):
            start = threading.Barrier(len(keys))
            results = {}

            def alter(i):
                value = values[i] if rnd == 0 else str(int(float(values[i]) * 2 ** rnd)) \
                    if "." not in values[i] else "0.%d" % (3 + rnd)
                start.wait()
                results[keys[i]] = (value, incremental_alter(
                    self.bootstrap, 1, [(TOPIC, "contended", [(keys[i], SET, value)])]))

            threads = [threading.Thread(target=alter, args=(i,)) for i in range(len(keys))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            cfg = self.describe("contended")
            for key, (value, res) in results.items():
                self.assertEqual(res["contended"], (0, None), key)
                self.assertEqual(cfg[key].value, value, f"round {rnd}: {key} was lost")

    def test_incremental_append_and_subtract_on_list_configs(self):
        self.create_topic("lists")
        key = "leader.replication.throttled.replicas"
        res = incremental_alter(self.bootstrap, 1, [(TOPIC, "lists", [(key, APPEND, "0:0,1:0")])])
        self.assertEqual(res["lists"], (0, None))
        res = incremental_alter(self.bootstrap, 1, [(TOPIC, "lists", [(key, APPEND, "1:0,2:0")])])
        self.assertEqual(res["lists"], (0, None))
        self.assertEqual(self.describe("lists")[key].value, "0:0,1:0,2:0")
        res = incremental_alter(self.bootstrap, 1, [(TOPIC, "lists", [(key, SUBTRACT, "1:0")])])
        self.assertEqual(self.describe("lists")[key].value, "0:0,2:0")
        res = incremental_alter(self.bootstrap, 1,
                                [(TOPIC, "lists", [("retention.ms", APPEND, "5")])])
        self.assertEqual(res["lists"][0], INVALID_CONFIG)

    def test_min_insync_replicas_above_one_refuses_acks_all(self):
        self.create_topic("isr", config={"min.insync.replicas": "2"})
        errors = []
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "retries": 0,
                      "message.timeout.ms": 5000})
        p.produce("isr", b"x", on_delivery=lambda err, msg: errors.append(err))
        p.flush(30)
        self.assertEqual(errors[0].code(), KafkaError.NOT_ENOUGH_REPLICAS)
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": 1})
        p.produce("isr", b"y", on_delivery=lambda err, msg: errors.append(err))
        p.flush(30)
        self.assertIsNone(errors[1])

    def test_compression_type_stores_batches_with_the_topics_codec(self):
        self.create_topic("recompressed", config={"compression.type": "gzip"})
        p = Producer({"bootstrap.servers": self.bootstrap, "compression.type": "lz4",
                      "linger.ms": 50})
        for i in range(100):
            p.produce("recompressed", b"value-%d" % i, key=b"k%d" % i)
        self.assertEqual(p.flush(30), 0)
        got = consume(self.bootstrap, "recompressed", 0, 100)
        self.assertEqual([m.value() for m in got], [b"value-%d" % i for i in range(100)])
        self.assertEqual([m.key() for m in got], [b"k%d" % i for i in range(100)])
        # Every stored batch carries gzip (codec 1) in its attributes.
        self.server.stop()
        (log,) = glob.glob(os.path.join(self.server.data_dir, "recompressed-0", "*.log"))
        data = open(log, "rb").read()
        pos, codecs = 0, set()
        while pos + 61 <= len(data):
            length = struct.unpack(">i", data[pos + 8:pos + 12])[0]
            codecs.add(struct.unpack(">h", data[pos + 21:pos + 23])[0] & 7)
            pos += 12 + length
        self.assertEqual(codecs, {1})

    # --- DeleteRecords and the single-node answers of the replica APIs ------------------

    def riptide(self, *args):
        return subprocess.run([RIPTIDE, *args, "-b", self.bootstrap], capture_output=True,
                              text=True, timeout=60)

    def test_trim_deletes_records_below_an_offset(self):
        # `riptide topic trim` is librdkafka's DeleteRecords (rd_kafka_DeleteRecords).
        self.create_topic("trimmed", 2, config={"segment.bytes": "16384"})
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0,
                      "batch.num.messages": 1})
        base = 1_700_000_000_000
        for i in range(100):
            for part in (0, 1):
                p.produce("trimmed", b"%d" % i + b"." * 1000, partition=part,
                          timestamp=base + i * 1000)
        self.assertEqual(p.flush(30), 0)
        segments = lambda: glob.glob(os.path.join(self.server.data_dir, "trimmed-0", "*.log"))
        before = len(segments())
        r = self.riptide("topic", "trim", "trimmed", "--partition", "0", "--before", "50")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("partition 0 now starts at offset 50", r.stdout)
        self.assertLess(len(segments()), before)  # whole segments below 50 are gone
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused"})
        self.addCleanup(c.close)
        self.assertEqual(c.get_watermark_offsets(TopicPartition("trimmed", 0), timeout=10),
                         (50, 100))
        self.assertEqual(c.get_watermark_offsets(TopicPartition("trimmed", 1), timeout=10),
                         (0, 100))
        got = consume(self.bootstrap, "trimmed", 0, 50)
        self.assertEqual([m.offset() for m in got], list(range(50, 100)))
        # A time lookup into the trimmed part answers the new start.
        found = c.offsets_for_times([TopicPartition("trimmed", 0, base)], timeout=10)
        self.assertEqual(found[0].offset, 50)

        # Past the end: refused, naming the end and the fix.
        r = self.riptide("topic", "trim", "trimmed", "--before", "500")
        self.assertEqual(r.returncode, 1)
        self.assertIn("its end is 100", r.stderr)
        # The new start survives a restart; "end" empties every partition.
        self.restart()
        r = self.riptide("topic", "trim", "trimmed", "--before", "end", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["partitions"],
                         [{"partition": 0, "log_start": 100}, {"partition": 1, "log_start": 100}])
        c2 = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused"})
        self.addCleanup(c2.close)
        self.assertEqual(c2.get_watermark_offsets(TopicPartition("trimmed", 0), timeout=10),
                         (100, 100))

        # DeleteRecords v2 (flexible), raw: a missing topic and a lower offset (no change).
        w = Writer(True)
        w.array([("trimmed", 0, 10), ("missing", 0, 1)], lambda t: w.string(t[0]).array(
            [t], lambda q: w.i32(q[1]).i64(q[2]).tags()).tags()).i32(30000).tags()
        rd = call(self.bootstrap, 21, 2, True, w)
        rd.i32()

        def part():
            out = (rd.i32(), rd.i64(), rd.i16())
            rd.tags()
            return out

        def topic():
            name, parts = rd.string(), rd.array(part)
            rd.tags()
            return name, parts

        results = dict(rd.array(topic))
        self.assertEqual(results["trimmed"], [(0, 100, 0)])
        self.assertEqual(results["missing"], [(0, -1, UNKNOWN_TOPIC_OR_PARTITION)])

    def test_list_offsets_v7_max_timestamp_and_v8_earliest_local(self):
        self.create_topic("maxts")
        base = 1_700_000_000_000
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0,
                      "batch.num.messages": 1, "compression.type": "lz4"})
        for ts in (5000, 9000, 1000, 9000):  # the largest first at offset 1
            p.produce("maxts", b"x", timestamp=base + ts)
            p.flush(30)
        r = self.riptide("topic", "trim", "maxts", "--before", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        for version in (7, 8):
            queries = [-3, -4, -2, -1] if version == 8 else [-3]

            def ask(q):
                # One query per request: a partition named twice is INVALID_REQUEST.
                w = Writer(True)
                w.i32(-1).i8(0).array(
                    [("maxts", q)],
                    lambda t: w.string(t[0]).array(
                        [t[1]], lambda ts: w.i32(0).i32(-1).i64(ts).tags()).tags()).tags()
                resp = call(self.bootstrap, 2, version, True, w)
                resp.i32()

                def part():
                    out = (resp.i32(), resp.i16(), resp.i64(), resp.i64(), resp.i32())
                    resp.tags()
                    return out

                def topic():
                    name, parts = resp.string(), resp.array(part)
                    resp.tags()
                    return parts[0]

                return resp.array(topic)[0]

            answers = {q: ask(q) for q in queries}
            # (partition, error, timestamp, offset, leader epoch)
            self.assertEqual(answers[-3], (0, 0, base + 9000, 1, 0), version)
            if version == 8:
                self.assertEqual(answers[-4][1:4:2], (0, 1))  # earliest local: the log start
                self.assertEqual(answers[-2][1:4:2], (0, 1))
                self.assertEqual(answers[-1][1:4:2], (0, 4))

    def test_offset_for_leader_epoch_answers_epoch_zero(self):
        self.create_topic("epochs")
        p = Producer({"bootstrap.servers": self.bootstrap})
        for i in range(7):
            p.produce("epochs", b"x")
        self.assertEqual(p.flush(30), 0)
        for version in (0, 2, 4):
            flex = version >= 4
            w = Writer(flex)
            if version >= 3:
                w.i32(-1)  # replica id: a consumer
            queries = [(0, -1, 0), (0, -1, 5), (0, 3, 0), (9, -1, 0)]

            def query(q):
                w.i32(q[0])
                if version >= 2:
                    w.i32(q[1])
                w.i32(q[2]).tags()

            w.array([("epochs", queries)],
                    lambda t: w.string(t[0]).array(t[1], query).tags()).tags()
            r = call(self.bootstrap, 23, version, flex, w)
            if version >= 2:
                r.i32()

            def result():
                err, part = r.i16(), r.i32()
                epoch = r.i32() if version >= 1 else 0
                out = (part, err, epoch, r.i64())
                r.tags()
                return out

            def topic():
                name, parts = r.string(), r.array(result)
                r.tags()
                return parts

            parts = r.array(topic)[0]
            expected_epoch = 0 if version >= 1 else 0
            self.assertEqual(parts[0], (0, 0, expected_epoch, 7), version)
            self.assertEqual(parts[1][1:], (0, -1 if version >= 1 else 0, -1), version)
            if version >= 2:
                self.assertEqual(parts[2][1], 75)  # UNKNOWN_LEADER_EPOCH
            self.assertEqual(parts[3][1], UNKNOWN_TOPIC_OR_PARTITION, version)

    def test_describe_log_dirs_and_producers(self):
        self.create_topic("dirs", 2)
        p = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True})
        for i in range(10):
            p.produce("dirs", b"y" * 100, partition=0)
        self.assertEqual(p.flush(30), 0)
        for version in (0, 4):
            flex = version >= 2
            w = Writer(flex)
            w.array([("dirs", [0, 1])],
                    lambda t: w.string(t[0]).array(t[1], w.i32).tags()).tags()
            r = call(self.bootstrap, 35, version, flex, w)
            r.i32()
            if version >= 3:
                self.assertEqual(r.i16(), 0)

            def part():
                out = (r.i32(), r.i64(), r.i64(), r.boolean())
                r.tags()
                return out

            def topic():
                name, parts = r.string(), r.array(part)
                r.tags()
                return name, parts

            def result():
                err, path, topics = r.i16(), r.string(), dict(r.array(topic))
                total = usable = None
                if version >= 4:
                    total, usable = r.i64(), r.i64()
                r.tags()
                return err, path, topics, total, usable

            (err, path, topics, total, usable), = r.array(result)
            self.assertEqual(err, 0)
            self.assertEqual(os.path.realpath(path), os.path.realpath(self.server.data_dir))
            sizes = {q[0]: q[1] for q in topics["dirs"]}
            self.assertGreater(sizes[0], 1000)
            self.assertEqual(sizes[1], 0)
            if version >= 4:
                self.assertGreater(total, 0)
                self.assertGreater(usable, 0)

        # DescribeProducers: the idempotent producer and its last sequence.
        w = Writer(True)
        w.array([("dirs", [0, 1, 7])], lambda t: w.string(t[0]).array(t[1], w.i32).tags()).tags()
        r = call(self.bootstrap, 61, 0, True, w)
        r.i32()

        def producer():
            out = (r.i64(), r.i32(), r.i32(), r.i64(), r.i32(), r.i64())
            r.tags()
            return out

        def dp_part():
            out = (r.i32(), r.i16(), r.string(), r.array(producer))
            r.tags()
            return out

        def dp_topic():
            name, parts = r.string(), r.array(dp_part)
            r.tags()
            return name, parts

        parts = {q[0]: q for q in dict(r.array(dp_topic))["dirs"]}
        (pid, epoch, last_seq, last_ts, coord, txn), = parts[0][3]
        self.assertGreaterEqual(pid, 0)
        self.assertEqual((epoch, last_seq, txn), (0, 9, -1))
        self.assertEqual(parts[1][3], [])
        self.assertEqual(parts[7][1], UNKNOWN_TOPIC_OR_PARTITION)

    def test_elect_leaders_and_alter_replica_log_dirs_on_one_node(self):
        self.create_topic("elect", 2)
        for version in (0, 2):
            flex = version >= 2
            w = Writer(flex)
            if version >= 1:
                w.i8(0)  # preferred
            w.array([("elect", [0, 1, 5])],
                    lambda t: w.string(t[0]).array(t[1], w.i32).tags()).i32(30000).tags()
            r = call(self.bootstrap, 43, version, flex, w)
            r.i32()
            if version >= 1:
                self.assertEqual(r.i16(), 0)

            def part():
                out = (r.i32(), r.i16(), r.string())
                r.tags()
                return out

            def topic():
                name, parts = r.string(), r.array(part)
                r.tags()
                return name, parts

            parts = dict(r.array(topic))["elect"]
            self.assertEqual([(q[0], q[1]) for q in parts],
                             [(0, 84), (1, 84), (5, UNKNOWN_TOPIC_OR_PARTITION)], version)
        # AlterReplicaLogDirs v1: to the data directory is a no-op, elsewhere is not found.
        w = Writer(False)
        w.array([(self.server.data_dir, "elect"), ("/elsewhere", "elect")],
                lambda d: w.string(d[0]).array([d[1]], lambda t: w.string(t).array(
                    [0], w.i32)))
        r = call(self.bootstrap, 34, 1, False, w)
        r.i32()
        results = r.array(lambda: (r.string(), r.array(lambda: (r.i32(), r.i16()))))
        self.assertEqual(results, [("elect", [(0, 0)]), ("elect", [(0, 57)])])

    # --- Dynamic broker configs --------------------------------------------------------

    def test_dynamic_broker_configs_apply_to_topics_and_survive_restart(self):
        self.create_topic("inherits")
        self.create_topic("overrides", config={"retention.ms": "60000"})
        res = incremental_alter(self.bootstrap, 1, [
            (BROKER, "", [("log.retention.ms", SET, "3600000"),
                          ("min.insync.replicas", SET, "2"),
                          ("log.cleanup.policy", APPEND, "delete")]),
            (8, "0", [("storage", SET, "DEBUG"), ("nosuch", SET, "INFO")])])
        self.assertEqual(res[""], (0, None))
        self.assertEqual(res["0"][0], INVALID_CONFIG)  # an unknown logger
        res = incremental_alter(self.bootstrap, 1, [(8, "0", [("storage", SET, "DEBUG")])])
        self.assertEqual(res["0"], (0, None))

        def check():
            inherits, overrides = self.describe("inherits"), self.describe("overrides")
            self.assertEqual(inherits["retention.ms"].value, "3600000")
            self.assertEqual(inherits["retention.ms"].source,
                             ConfigSource.DYNAMIC_BROKER_CONFIG.value)
            self.assertEqual(overrides["retention.ms"].value, "60000")
            self.assertEqual(overrides["retention.ms"].source,
                             ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
            broker = ConfigResource("broker", "0")
            got = self.admin().describe_configs([broker])[broker].result(timeout=30)
            self.assertEqual(got["log.retention.ms"].value, "3600000")
            self.assertEqual(got["log.retention.ms"].source,
                             ConfigSource.DYNAMIC_BROKER_CONFIG.value)
            # Inherited min.insync.replicas=2 refuses acks=all on one node.
            errors = []
            p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "retries": 0})
            p.produce("inherits", b"x", on_delivery=lambda err, msg: errors.append(err))
            p.flush(30)
            self.assertEqual(errors[0].code(), KafkaError.NOT_ENOUGH_REPLICAS)
            # The logger level, on the BROKER_LOGGER resource (DescribeConfigs v1).
            w = Writer(False)
            w.array([(8, "0", ["storage", "kafka"])],
                    lambda q: w.i8(q[0]).string(q[1]).array(q[2], w.string)).boolean(False)
            r = call(self.bootstrap, 32, 1, False, w)
            r.i32()

            def entry():
                e = (r.string(), r.string(), r.boolean(), r.i8(), r.boolean())
                r.array(lambda: (r.string(), r.string(), r.i8()))
                return e

            (err, _, _, _, entries), = r.array(
                lambda: (r.i16(), r.string(), r.i8(), r.string(), r.array(entry)))
            self.assertEqual(err, 0)
            levels = {e[0]: (e[1], e[3]) for e in entries}
            self.assertEqual(levels["storage"], ("DEBUG", 6))  # DYNAMIC_BROKER_LOGGER_CONFIG
            self.assertEqual(levels["kafka"][0], "INFO")

        check()
        self.restart()
        check()
        # Removing the broker config returns topics to the static default.
        res = incremental_alter(self.bootstrap, 1, [(BROKER, "0", [("log.retention.ms", DELETE,
                                                                    None)])])
        self.assertEqual(res["0"], (0, None))
        self.assertEqual(self.describe("inherits")["retention.ms"].value, SEVEN_DAYS_MS)

    # --- Effects of topic configs ----------------------------------------------------

    def test_log_append_time_replaces_the_producer_timestamp(self):
        self.create_topic("stamped")
        old = 1_500_000_000_000
        p = Producer({"bootstrap.servers": self.bootstrap, "acks": "all"})
        p.produce("stamped", b"before", timestamp=old)
        self.assertEqual(p.flush(30), 0)
        self.alter("stamped", {"message.timestamp.type": "LogAppendTime"})
        p.produce("stamped", b"after", timestamp=old)
        self.assertEqual(p.flush(30), 0)
        now_ms = time.time() * 1000

        before, after = consume(self.bootstrap, "stamped", 0, 2)
        self.assertEqual(before.value(), b"before")
        self.assertEqual(before.timestamp(), (TIMESTAMP_CREATE_TIME, old))
        self.assertEqual(after.value(), b"after")
        kind, ts = after.timestamp()
        self.assertEqual(kind, TIMESTAMP_LOG_APPEND_TIME)
        self.assertLess(abs(ts - now_ms), 60_000)

    def test_small_segment_and_retention_bytes_take_effect(self):
        self.server.stop()
        self.server = self.start("--storage-housekeeping-interval", "200ms",
                                 data_dir=self.server.data_dir)
        self.server.wait_for("ready")
        self.create_topic("small")
        self.alter("small", {"segment.bytes": "16384", "retention.bytes": "40000"})
        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0, "batch.num.messages": 1})
        for i in range(200):
            p.produce("small", bytes([i % 256]) * 1000)
            p.poll(0)
        self.assertEqual(p.flush(30), 0)

        segments = os.path.join(self.server.data_dir, "small-0", "*.log")
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused"})
        deadline = time.monotonic() + 30
        size = lambda fs: sum(os.path.getsize(f) for f in fs if os.path.exists(f))
        while True:
            # Retention runs every 200 ms, also while the records arrive: wait for the
            # pass after the last record rather than stopping at the first deletion.
            low, high = c.get_watermark_offsets(TopicPartition("small", 0), timeout=10)
            files = glob.glob(segments)
            if (low > 0 and size(files) < 80_000) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        c.close()
        self.assertEqual(high, 200)
        self.assertGreater(low, 0, "retention.bytes deleted nothing")
        # ~200 KB in segments of at most 16 KiB, of which about 40 KB are kept.
        self.assertGreaterEqual(len(files), 2)
        self.assertLess(size(files), 80_000)

    # --- DescribeCluster -------------------------------------------------------------

    def test_describe_cluster_both_versions(self):
        port = self.server.kafka_port
        for version in (0, 1):
            w = Writer(True).boolean(False)
            if version >= 1:
                w.i8(1)
            w.tags()
            r = call(self.bootstrap, 60, version, True, w)
            throttle, err, msg = r.i32(), r.i16(), r.string()
            endpoint = r.i8() if version >= 1 else 1
            cluster_id, controller = r.string(), r.i32()

            def broker():
                b = (r.i32(), r.string(), r.i32(), r.string())
                r.tags()
                return b

            brokers = r.array(broker)
            ops = r.i32()
            r.tags()
            self.assertTrue(r.done())
            self.assertEqual((throttle, err, msg, endpoint), (0, 0, None, 1))
            self.assertTrue(cluster_id)
            self.assertEqual(controller, 0)
            self.assertEqual(brokers, [(0, "127.0.0.1", port, None)])
            self.assertEqual(ops, -2147483648)

        # Asking a broker for the controllers is an error (MISMATCHED_ENDPOINT_TYPE).
        r = call(self.bootstrap, 60, 1, True, Writer(True).boolean(False).i8(2).tags())
        r.i32()
        self.assertEqual(r.i16(), 114)

    def test_api_versions_advertises_the_admin_apis(self):
        from kafka import KafkaClient
        client = KafkaClient(bootstrap_servers=self.bootstrap)
        self.addCleanup(client.close)
        versions = client.check_version() and client.get_api_versions()
        for key, span in {32: (0, 4), 33: (0, 2), 37: (0, 3), 44: (0, 1), 60: (0, 1)}.items():
            self.assertEqual(versions.get(key), span, key)


if __name__ == "__main__":
    unittest.main()
