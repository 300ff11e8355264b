#!/usr/bin/python3
"""Where the broker's CPU goes, stage by stage, while `riptide bench` drives a workload.

Starts `riptide serve` on free loopback ports in a temporary directory, runs one
`riptide bench` workload against it, samples the broker with `perf record` (software
cpu-clock with DWARF call graphs: works on VMs without hardware counters) while the
workload runs, and attributes every sample to the stage of the request's path it belongs
to, by its thread and the functions on its stack (the first rule in STAGES that matches,
from the sampled function outwards). Prints, per stage, its share of the broker's CPU
time, microseconds and cycles per record (cycles at the CPU's nominal clock, since
software sampling counts time, not cycles). The broker is stopped by its PID, also on
failure.

    bench/profile.py                          # workload a: 1 KiB, fsync before ack, 8 partitions
    bench/profile.py --partitions 1 --duration 10
    bench/profile.py --json-out stages.json   # also keep the figures
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from local_broker import LocalBroker

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (key, stage, thread-name pattern or None, stack pattern or None). The first rule whose thread
# and stack patterns both match (a stack pattern matches any function on the sample's
# stack, searched from the sampled function outwards) names the sample's stage.
STAGES = [
    ("journal_thread", "journal: copy, write and fdatasync (journal threads)", r"^journal-", None),
    ("flusher", "segments: writeback and fdatasync (flusher threads)", r"^flusher-", None),
    ("crc", "CRC-32C of each batch", None, r"crc32c"),
    ("validation", "record validation (parse every record, timestamps, sequences)", None,
     r"scan_records|check_records|for_each_record|producer_state|check_header|validate_batch"),
    ("journal_handoff", "journal hand-off (copy into the journal's buffer)", None,
     r"storage::journal::"),
    ("segment_write", "segment write (copy into the page cache)", None,
     r"storage::segment::(append|write)|pwritev?"),
    ("fetch", "consumer fetch (read, sendfile, response)", None,
     r"partition_service::read|handlers::fetch|sendfile|splice|partition_log::read"),
    ("decode", "request decode", None, r"kafka::protocol::.*decode|reader::"),
    ("socket_read", "socket read", None,
     r"tcp_recvmsg|__x64_sys_recv|__x64_sys_read\b|async_read|do_readv|sock_read"),
    ("respond", "response encode and send", None,
     r"kafka::protocol::.*encode|writer::|tcp_sendmsg|__x64_sys_sendmsg|__x64_sys_write|do_writev"),
    ("wakeups", "wake-ups, cross-shard hand-offs, scheduling", None,
     r"epoll|futex|schedule|post|scheduler::|try_to_wake_up|eventfd|wake"),
    ("bookkeeping", "produce bookkeeping (core, durability waits)", None,
     r"partition_service|partition_log|durability_tracker|handlers::produce"),
    ("allocation", "memory allocation", None, r"malloc|free|operator new|operator delete|_int_"),
]
LABELS = {key: label for key, label, _, _ in STAGES}
OTHER = "other"


def nominal_mhz():
    """The CPU's nominal clock: the model name's GHz if it says, else cpu MHz."""
    with open("/proc/cpuinfo") as f:
        info = f.read()
    m = re.search(r"model name\s*:.*@\s*([\d.]+)GHz", info)
    if m:
        return float(m.group(1)) * 1000
    m = re.search(r"cpu MHz\s*:\s*([\d.]+)", info)
    return float(m.group(1)) if m else None


def parse_samples(script_text):
    """Yields (thread name, [functions from the sampled one outwards]) per sample of
    `perf script -F comm,ip,sym` output."""
    comm, stack = None, []
    for line in script_text.splitlines():
        if not line.strip():
            if comm is not None:
                yield comm, stack
            comm, stack = None, []
        elif not line[0].isspace():
            comm, stack = line.split()[0], []
        else:
            parts = line.split(None, 1)
            stack.append(parts[1].strip() if len(parts) > 1 else "[unknown]")
    if comm is not None:
        yield comm, stack


def classify(comm, stack, rules):
    for name, thread_re, stack_re in rules:
        if thread_re and not thread_re.search(comm):
            continue
        if stack_re and not any(stack_re.search(fn) for fn in stack):
            continue
        return name
    return OTHER


def stage_table(samples):
    rules = [(n, re.compile(t) if t else None, re.compile(s) if s else None)
             for _, n, t, s in STAGES]
    counts = {}
    for comm, stack in samples:
        stage = classify(comm, stack, rules)
        counts[stage] = counts.get(stage, 0) + 1
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--duration", type=float, default=10, help="seconds of the workload")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--record-size", type=int, default=1024)
    ap.add_argument("--acks", default="all")
    ap.add_argument("--linger-ms", default="5")
    ap.add_argument("--mode", default="both", help="both (produce and consume) or produce")
    ap.add_argument("--topic-config", nargs="*", default=[],
                    help="topic configs, e.g. riptide.durability=page_cache")
    ap.add_argument("--frequency", type=int, default=499, help="samples per second per CPU")
    ap.add_argument("--json-out", help="also write the figures to this file")
    args = ap.parse_args()

    riptide = os.path.join(os.path.abspath(args.build_dir), "riptide")
    if not shutil.which("perf"):
        raise SystemExit("perf is missing: install Debian's linux-perf")
    with LocalBroker(riptide, prefix="riptide-profile-") as broker, \
            tempfile.TemporaryDirectory(prefix="riptide-perf-") as tmp:
        bench = [riptide, "bench", "-b", broker.bootstrap, "--topic", "profile",
                 "--mode", args.mode, "--record-size", str(args.record_size),
                 "--partitions", str(args.partitions), "--acks", args.acks,
                 "--linger-ms", args.linger_ms, "--duration", str(args.duration),
                 "--json", "--quiet"]
        if args.topic_config:
            bench += ["--topic-config", *args.topic_config]
        print("$ " + " ".join(bench), file=sys.stderr)
        client = subprocess.Popen(bench, stdout=subprocess.PIPE, text=True)
        time.sleep(1)  # past topic creation and the clients' start
        data = os.path.join(tmp, "perf.data")
        cpu0, t0 = broker.cpu_seconds(), time.monotonic()
        perf = subprocess.run(
            ["perf", "record", "-q", "-e", "cpu-clock", "-F", str(args.frequency),
             "--call-graph", "dwarf,16384", "-p", str(broker.pid), "-o", data, "--",
             "sleep", str(max(args.duration - 2, 1))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cpu, wall = broker.cpu_seconds() - cpu0, time.monotonic() - t0
        out, _ = client.communicate(timeout=args.duration + 120)
        if client.returncode != 0:
            raise SystemExit(f"riptide bench failed with code {client.returncode}")
        if perf.returncode != 0:
            raise SystemExit(f"perf record failed: {perf.stderr.strip()}")
        result = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
        rate = result["produce"]["msgs_per_sec"]
        script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,ip,sym"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True).stdout

    counts = stage_table(parse_samples(script))
    total = sum(counts.values()) or 1
    records = rate * wall  # records produced while the broker was sampled
    us_per_record = cpu / records * 1e6 if records else 0
    mhz = nominal_mhz()
    rows = []
    for stage, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        share = n / total
        rows.append({"stage": stage, "samples": n, "share": share,
                     "us_per_record": share * us_per_record,
                     "cycles_per_record": share * us_per_record * mhz if mhz else None})
    figures = {"workload": " ".join(bench[5:]), "produce_msgs_per_sec": rate,
               "broker_cpu_seconds": cpu, "wall_seconds": wall,
               "broker_cores": cpu / wall, "us_per_record": us_per_record,
               "nominal_mhz": mhz, "samples": total, "stages": rows}
    print(f"\nWorkload: {figures['workload']}")
    print(f"Produced {rate:,.0f} msgs/s; the broker used {cpu / wall:.2f} cores: "
          f"{us_per_record:.2f} us ({us_per_record * (mhz or 0):,.0f} cycles at "
          f"{mhz or 0:.0f} MHz) of CPU per record; {total} samples.\n")
    print("| stage | share of broker CPU | us per record | cycles per record |")
    print("|---|---|---|---|")
    for r in rows:
        cyc = f"{r['cycles_per_record']:,.0f}" if r["cycles_per_record"] is not None else "-"
        print(f"| {r['stage']} | {r['share'] * 100:.1f} % | {r['us_per_record']:.3f} | {cyc} |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
