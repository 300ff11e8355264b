#!/usr/bin/python3
"""Delayed delivery under load: what holding many records costs the broker, and how close
to its due time a held record becomes visible to a Kafka consumer.

Starts `riptide serve` on free loopback ports in a temporary directory (stopped by its PID
at the end, also on failure), then:
  1. holds --pending records (100-byte values, `riptide-deliver-at` spread over the 10 to
     20 minutes ahead, so none falls due during the run) and reports the broker's resident
     memory before and after, and the index files on disk;
  2. with those still held, produces --timed records due over the next --spread seconds
     and reads the topic with a plain librdkafka consumer (confluent-kafka), reporting
     per record how long after its due time it was first seen (p50, p99, max), next to the
     broker's own riptide_delayed_lateness_seconds.

    bench/delayed.py                       # 1,000,000 held, 20,000 timed
    bench/delayed.py --pending 100000 --json-out delayed.json
"""

import argparse
import json
import os
import sys
import threading
import time
import urllib.request

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from local_broker import LocalBroker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def now_ms():
    return int(time.time() * 1000)


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


def produce(bootstrap, topic, n, due_of, progress):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 10, "batch.num.messages": 2000,
                  "queue.buffering.max.messages": 500000, "acks": "all"})
    value = b"x" * 100
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(err)

    for i in range(n):
        while True:
            try:
                p.produce(topic, value + str(i).encode(),
                          headers=[("riptide-deliver-at", str(due_of(i)).encode())],
                          on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
        if progress and i and i % 100000 == 0:
            print(f"  {i:,} produced", file=sys.stderr, flush=True)
    p.flush(120)
    if failed:
        raise RuntimeError(f"{len(failed)} produce(s) failed, first: {failed[0]}")


def metric(broker, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key = line.rsplit(" ", 1)[0]
        if key == name or ("{" not in name and key.startswith(name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--riptide", default=os.path.join(ROOT, "build/release/riptide"))
    ap.add_argument("--pending", type=int, default=1_000_000)
    ap.add_argument("--timed", type=int, default=20_000)
    ap.add_argument("--spread", type=float, default=20.0, help="seconds the timed records span")
    ap.add_argument("--json-out")
    args = ap.parse_args()

    with LocalBroker(args.riptide, prefix="riptide-delayed-") as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        for f in admin.create_topics([NewTopic("held", 8), NewTopic("timed", 8)]).values():
            f.result(timeout=30)
        time.sleep(1)
        rss_before = b.status("VmRSS")
        start = now_ms()
        print(f"holding {args.pending:,} records ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        produce(b.bootstrap, "held", args.pending,
                lambda i: start + 600_000 + (i * 7919) % 600_000, True)
        hold_seconds = time.monotonic() - t0
        time.sleep(3)
        rss_after = b.status("VmRSS")
        pending = metric(b, "riptide_delayed_pending")
        index_bytes = du(os.path.join(b.work, "data", ".delayed-index"))
        print(f"  {pending:,.0f} pending; RSS {rss_before / 2**20:.1f} -> "
              f"{rss_after / 2**20:.1f} MiB", file=sys.stderr)

        # Timed records, read by a consumer that is assigned (no group to join) and
        # polling before the first falls due.
        seen = {}
        done = threading.Event()
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "lateness",
                      "auto.offset.reset": "earliest", "fetch.wait.max.ms": 5,
                      "enable.auto.commit": False})
        c.subscribe(["timed"])
        deadline = time.monotonic() + 30
        while not c.assignment() and time.monotonic() < deadline:
            c.poll(0.1)

        def read():
            while not done.is_set() and len(seen) < args.timed:
                m = c.poll(0.05)
                if m is None or m.error():
                    continue
                t = now_ms()
                headers = dict(m.headers() or [])
                seen.setdefault(m.value(), (t, int(headers["riptide-deliver-at"])))

        reader = threading.Thread(target=read)
        reader.start()
        base = now_ms() + 3000
        spread_ms = int(args.spread * 1000)
        produce(b.bootstrap, "timed", args.timed,
                lambda i: base + (i * 104729) % spread_ms, False)
        reader.join(timeout=args.spread + 60)
        done.set()
        c.close()
        late = sorted(t - due for t, due in seen.values())
        early = sum(1 for v in late if v < 0)
        broker_p = {}
        count = metric(b, "riptide_delayed_lateness_seconds_count")
        for le in ("0.005", "0.01", "0.025", "0.05", "0.1"):
            broker_p[le] = metric(b, f'riptide_delayed_lateness_seconds_bucket{{le="{le}"}}')
        result = {
            "pending": int(pending),
            "hold_seconds": round(hold_seconds, 1),
            "hold_records_per_second": round(args.pending / hold_seconds),
            "rss_before_mib": round(rss_before / 2**20, 1),
            "rss_after_mib": round(rss_after / 2**20, 1),
            "rss_growth_mib": round((rss_after - rss_before) / 2**20, 1),
            "index_file_mib": round(index_bytes / 2**20, 1),
            "timed": args.timed,
            "seen": len(seen),
            "seen_before_due": early,
            "lateness_ms": {"p50": percentile(late, 50), "p99": percentile(late, 99),
                            "max": late[-1] if late else None},
            "broker_moves_within": {le: round(v / count, 4) if count else None
                                    for le, v in broker_p.items()},
        }
    print(json.dumps(result, indent=2))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=2)
    if result["seen"] != args.timed or early:
        sys.exit(1)


if __name__ == "__main__":
    main()
