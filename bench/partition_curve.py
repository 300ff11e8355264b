#!/usr/bin/python3
"""Riptide's throughput, latency, memory and descriptors as the partition count grows.

For each partition count, a fresh `riptide serve` (free loopback ports, temporary
directory, stopped by its PID) is driven by `riptide bench`:

  throughput  1 KiB records, fsync before ack, one producer and one consumer, flat out
  latency     the same records at a fixed rate with no linger: end-to-end p50 and p99

with the dirty pages of the previous run written back (sync) before each, and after both
the broker's resident memory (VmRSS, and its peak VmHWM), its open
descriptors and threads are read from /proc. One table; --json-out keeps the figures.

    bench/partition_curve.py                          # 1, 8, 100, 1000; 100 topics x 10
    bench/partition_curve.py --partitions 8,1000 --duration 5
"""

import argparse
import json
import os
import subprocess
import sys
import time

from local_broker import LocalBroker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def settle(quiet=3):
    """Writes back what the previous run left dirty and waits, so that its writeback is
    not charged to the next run (as bench/peers/run.py does between workloads)."""
    os.sync()
    time.sleep(quiet)


def bench(riptide, broker, topic, topics, partitions, extra, timeout):
    settle()
    argv = [riptide, "bench", "-b", broker.bootstrap, "--topic", topic, "--mode", "both",
            "--record-size", "1024", "--topics", str(topics), "--partitions", str(partitions),
            "--acks", "all", "--json", "--quiet", *extra]
    print("  $ " + " ".join(argv[1:]), file=sys.stderr, flush=True)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        tail = p.stderr.strip().splitlines()
        raise RuntimeError(f"riptide bench failed: {tail[-1] if tail else p.returncode}")
    return json.loads([line for line in p.stdout.splitlines() if line.startswith("{")][-1])


def measure(riptide, topics, partitions, duration, rate):
    with LocalBroker(riptide, prefix="riptide-curve-") as broker:
        cpu0 = broker.cpu_seconds()
        flat = bench(riptide, broker, "curve", topics, partitions,
                     ["--linger-ms", "5", "--duration", str(duration)], duration + 300)
        cpu = broker.cpu_seconds() - cpu0
        paced = bench(riptide, broker, "curve-latency", topics, partitions,
                      ["--linger-ms", "0", "--rate", str(rate), "--warmup", "1",
                       "--duration", str(duration)], duration + 300)
        produced = flat["produce"]["msgs"]
        return {
            "case": case_name(topics, partitions),
            "topics": topics,
            "partitions": topics * partitions,
            "produce_msgs_per_sec": flat["produce"]["msgs_per_sec"],
            "consume_msgs_per_sec": flat["consume"]["msgs_per_sec"],
            "broker_cpu_seconds": cpu,
            "us_cpu_per_record": cpu / produced * 1e6 if produced else None,
            "rate": rate,
            "achieved_rate": paced["produce"]["msgs_per_sec"],
            "e2e_p50_ms": paced["e2e_latency"]["p50_us"] / 1000,
            "e2e_p99_ms": paced["e2e_latency"]["p99_us"] / 1000,
            "rss_bytes": broker.status("VmRSS"),
            "peak_rss_bytes": broker.status("VmHWM"),
            "descriptors": broker.descriptors(),
            "threads": broker.status("Threads"),
        }


def case_name(topics, partitions):
    """"1,000" for one topic; "1,000 (100 topics x 10)" for several."""
    total = f"{topics * partitions:,}"
    return total if topics == 1 else f"{total} ({topics} topics x {partitions})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--partitions", default="1,8,100,1000,100x10",
                    help="comma-separated partition counts of one topic, or TxP for T topics "
                         "of P partitions each")
    ap.add_argument("--duration", type=float, default=10, help="seconds per run")
    ap.add_argument("--rate", type=int, default=10000, help="records/s of the latency run")
    ap.add_argument("--json-out", help="also write the figures to this file")
    args = ap.parse_args()
    riptide = os.path.join(os.path.abspath(args.build_dir), "riptide")

    rows = []
    for case in args.partitions.split(","):
        topics, _, parts = case.rpartition("x")
        topics, parts = int(topics or 1), int(parts)
        print(f"{case_name(topics, parts)}", file=sys.stderr, flush=True)
        try:
            rows.append(measure(riptide, topics, parts, args.duration, args.rate))
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            rows.append({"case": case_name(topics, parts), "error": str(e)})

    base = next((r for r in rows if r.get("case") == "8" and "error" not in r), None)
    print("\n| partitions | produce msgs/s | of 8 partitions | broker CPU us/record | "
          f"e2e p50 / p99 ms at {args.rate:,}/s | RSS MiB (peak) | descriptors | threads |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['case']} | not measured: {r['error']} | | | | | | |")
            continue
        share = (f"{r['produce_msgs_per_sec'] / base['produce_msgs_per_sec'] * 100:.0f} %"
                 if base else "-")
        print(f"| {r['case']} | {r['produce_msgs_per_sec']:,.0f} | {share} | "
              f"{r['us_cpu_per_record']:.2f} | {r['e2e_p50_ms']:.2f} / {r['e2e_p99_ms']:.2f} | "
              f"{r['rss_bytes'] / 2**20:.0f} ({r['peak_rss_bytes'] / 2**20:.0f}) | "
              f"{r['descriptors']} | {r['threads']} |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
