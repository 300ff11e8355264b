#!/usr/bin/python3
"""Riptide's HTTP API under load, in one run, with one markdown table per question.

  produce  1 KiB records with fsync before the acknowledgement, on 8 partitions: Kafka
           (`riptide bench`, librdkafka, 1 and 4 producers) beside HTTP (`http_bench
           produce`, 100 records per keep-alive request, 1, 4 and 8 connections); the
           best of each, their ratio and the HTTP request latency.
  ws-idle  10,000 idle WebSocket subscribers: the broker's resident memory (VmRSS) before
           and after they open, per subscriber.
  fanout   1,000 WebSocket subscribers, one producer posting over HTTP at increasing
           rates (10 to 5,000 records/s): records delivered per second and producer ->
           subscriber latency, and the highest rate whose p99 stays within 10 ms; the same
           against NATS core pub/sub over its WebSocket listener when nats-server is
           installed.

Each broker is `riptide serve` on free loopback ports in a temporary directory
(bench/local_broker.py), with `storage.durability = fsync`, log level warn (no access log
lines, as bench-peers runs it) and, for the WebSocket cases, `http.max_connections`
raised; each is stopped by its PID, also when something fails.

    bench/http_bench.py             # full: about 7 minutes
    bench/http_bench.py --quick     # a smoke run: about a minute
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from local_broker import LocalBroker, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FSYNC = "fsync, ack after fdatasync"


def settle(quiet):
    """Writes back what the previous run left dirty and waits (as bench/peers/run.py)."""
    os.sync()
    time.sleep(quiet)


def last_json(text):
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError("printed no JSON result")
    return json.loads(lines[-1])


def fmt(v, digits=2):
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.{digits}f}"


def ms(lat, key):
    return lat[key] / 1000 if lat and lat.get("count") else None


def markdown(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


class Run:
    def __init__(self, args):
        self.args = args
        build = os.path.abspath(args.build_dir)
        self.riptide = os.path.join(build, "riptide")
        self.tool = args.http_bench or os.path.join(build, "bench", "http_bench")
        self.quick = args.quick
        self.duration = args.duration or (3 if args.quick else 20)
        self.results = {}
        self.loads = {}  # the 1-minute load average as each case started

    def command(self, argv, timeout):
        """Runs a client to completion; its last JSON line, or raises with its last words."""
        print("  $ " + " ".join(os.path.basename(a) if i == 0 else a
                                for i, a in enumerate(argv)), file=sys.stderr, flush=True)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            tail = p.stderr.strip().splitlines() or p.stdout.strip().splitlines()
            raise RuntimeError(tail[-1] if tail else f"exit code {p.returncode}")
        return last_json(p.stdout)

    def broker_args(self, max_connections=None):
        a = ["--storage-durability", "fsync", "--log-level", "warn"]
        if max_connections:
            a += ["--http-max-connections", str(max_connections)]
        return a

    # --- produce: Kafka beside HTTP ------------------------------------------------------
    def produce(self):
        kafka_ways = [1] if self.quick else [1, 4]
        http_ways = [1, 4] if self.quick else [1, 4, 8]
        tried = []
        with LocalBroker(self.riptide, prefix="riptide-httpbench-",
                         args=self.broker_args()) as b:
            url = f"http://127.0.0.1:{b.http_port}"
            for n in kafka_ways:
                topic = f"kafka-{n}"
                settle(self.args.settle_seconds)
                cpu0, t0 = b.cpu_seconds(), time.monotonic()
                try:
                    r = self.command([
                        self.riptide, "bench", "-b", b.bootstrap, "--topic", topic,
                        "--mode", "produce", "--record-size", "1024", "--partitions", "8",
                        "--producers", str(n), "--acks", "all", "--linger-ms", "5",
                        "--duration", str(self.duration), "--json", "--quiet",
                        "--durability", FSYNC], self.duration * 3 + 60)
                    tried.append({
                        "system": "kafka", "driven": f"{n} producer{'s' if n > 1 else ''} "
                        "(librdkafka, acks=all, linger 5 ms)",
                        "msgs_per_sec": r["produce"]["msgs_per_sec"],
                        "mb_per_sec": r["produce"]["mb_per_sec"],
                        "latency": r.get("ack_latency"),
                        "latency_name": "ack (librdkafka's queue included)",
                        "cores": (b.cpu_seconds() - cpu0) / (time.monotonic() - t0)})
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    tried.append({"system": "kafka", "driven": f"{n} producers", "error": str(e)})
                self.drop(b, topic)
            for c in http_ways:
                topic = f"http-{c}"
                settle(self.args.settle_seconds)
                cpu0, t0 = b.cpu_seconds(), time.monotonic()
                try:
                    r = self.command([
                        self.tool, "produce", "--url", url, "--topic", topic,
                        "--partitions", "8", "--connections", str(c),
                        "--records-per-request", "100", "--record-bytes", "1024",
                        "--seconds", str(self.duration), "--json"], self.duration * 3 + 60)
                    tried.append({
                        "system": "http", "driven": f"{c} keep-alive connection"
                        f"{'s' if c > 1 else ''} × 100 records per request",
                        "msgs_per_sec": r["msgs_per_sec"], "mb_per_sec": r["mb_per_sec"],
                        "requests_per_sec": r["requests_per_sec"], "errors": r["errors"],
                        "latency": r["latency"], "latency_name": "request",
                        "cores": (b.cpu_seconds() - cpu0) / (time.monotonic() - t0)})
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    tried.append({"system": "http", "driven": f"{c} connections",
                                  "error": str(e)})
                self.drop(b, topic)
        best = {}
        for t in tried:
            if "error" not in t and t["msgs_per_sec"] > best.get(t["system"], {}).get(
                    "msgs_per_sec", -1):
                best[t["system"]] = t
        self.results["produce"] = {"tried": tried, "best": best}

    def drop(self, broker, topic):
        """What a try wrote is not needed afterwards: keep the disk from filling up."""
        try:
            subprocess.run([self.riptide, "topic", "delete", topic, "--brokers", broker.bootstrap],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        except subprocess.TimeoutExpired:
            pass

    # --- idle WebSocket subscribers -------------------------------------------------------
    def ws_idle(self):
        n = self.args.idle_subscribers or (1000 if self.quick else 10000)
        hold = 4 if self.quick else 10
        out = {"subscribers": n}
        with LocalBroker(self.riptide, prefix="riptide-httpbench-",
                         args=self.broker_args(n + 1000)) as b:
            url = f"http://127.0.0.1:{b.http_port}"
            out["descriptor_limit"] = descriptor_limit(b.pid)
            # A few subscribers opened and closed first, so that what every connection's
            # first use allocates once (thread caches, metrics) is in the "before" figure.
            self.command([self.tool, "ws-idle", "--url", url, "--topic", "idle",
                          "--partitions", "1", "--subscribers", "100", "--hold-seconds", "1",
                          "--json"], 120)
            time.sleep(1)
            out["rss_before"] = b.status("VmRSS")
            out["fds_before"] = b.descriptors()
            argv = [self.tool, "ws-idle", "--url", url, "--topic", "idle",
                    "--subscribers", str(n), "--hold-seconds", str(hold), "--json"]
            print("  $ " + " ".join([os.path.basename(argv[0])] + argv[1:]), file=sys.stderr,
                  flush=True)
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            err_lines = []
            reader = threading.Thread(target=lambda: err_lines.extend(p.stderr), daemon=True)
            reader.start()
            try:
                lines = []
                for line in p.stdout:
                    lines.append(line)
                    if line.startswith('{"event":"open"'):
                        # Measured once the subscriptions have settled (each sits in its
                        # first wait for credit), well inside the hold.
                        time.sleep(min(3, hold / 2))
                        out["rss_after"] = b.status("VmRSS")
                        out["fds_after"] = b.descriptors()
                        out["hwm"] = b.status("VmHWM")
                p.wait(timeout=hold + 120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise RuntimeError("ws-idle did not finish")
            reader.join(timeout=5)
            if p.returncode != 0:
                raise RuntimeError((err_lines or ["ws-idle failed"])[-1].strip())
            out.update(last_json("".join(lines)))
            time.sleep(1)
            out["rss_closed"] = b.status("VmRSS")
        opened = out.get("open", 0)
        if opened and "rss_after" in out:
            out["kib_per_subscriber"] = (out["rss_after"] - out["rss_before"]) / 1024 / opened
        self.results["ws_idle"] = out

    # --- fan-out ---------------------------------------------------------------------------
    def fanout_args(self):
        return ["--subscribers", str(self.fanout_subscribers()), "--rate", self.rates(),
                "--seconds", str(self.step_seconds()), "--record-bytes",
                str(self.args.fanout_record_bytes), "--drain-seconds",
                "5" if self.quick else "10", "--json"]

    def fanout_subscribers(self):
        return self.args.fanout_subscribers or (100 if self.quick else 1000)

    def rates(self):
        return self.args.rates or ("100,500" if self.quick else
                                   "10,20,50,100,200,500,1000,2000,5000")

    def step_seconds(self):
        return 2 if self.quick else 10

    def timeout(self):
        steps = len(self.rates().split(","))
        return steps * (self.step_seconds() + 20) + 120

    def fanout(self):
        n = self.fanout_subscribers()
        with LocalBroker(self.riptide, prefix="riptide-httpbench-",
                         args=self.broker_args(n + 1000)) as b:
            settle(self.args.settle_seconds)
            cpu0, t0 = b.cpu_seconds(), time.monotonic()
            try:
                r = self.command([self.tool, "fanout", "--url", f"http://127.0.0.1:{b.http_port}",
                                  "--topic", "fanout", "--partitions", "1", *self.fanout_args()],
                                 self.timeout())
                r["cores"] = (b.cpu_seconds() - cpu0) / (time.monotonic() - t0)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                r = {"error": str(e)}
        self.results["fanout_riptide"] = r

    def fanout_nats(self):
        exe = shutil.which("nats-server")
        if self.args.no_nats:
            self.results["fanout_nats"] = {"error": "not run (--no-nats)"}
            return
        if not exe:
            self.results["fanout_nats"] = {
                "error": "nats-server is not installed (scripts/install-peers installs it)"}
            return
        work = tempfile.mkdtemp(prefix="riptide-httpbench-nats-")
        port, ws_port = free_port(), free_port()
        conf = os.path.join(work, "nats.conf")
        with open(conf, "w") as f:
            f.write(f"listen: 127.0.0.1:{port}\n"
                    f"websocket {{\n  listen: \"127.0.0.1:{ws_port}\"\n  no_tls: true\n}}\n")
        log = open(os.path.join(work, "nats.log"), "w")
        proc = subprocess.Popen([exe, "-c", conf], stdout=log, stderr=subprocess.STDOUT,
                                cwd=work, start_new_session=True)
        try:
            wait_port(ws_port, proc)
            settle(self.args.settle_seconds)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            r = self.command([self.tool, "fanout", "--nats", f"nats://127.0.0.1:{port}",
                              "--nats-ws", f"ws://127.0.0.1:{ws_port}", "--topic", "fanout",
                              *self.fanout_args()], self.timeout())
            r["cores"] = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
            r["version"] = subprocess.run([exe, "--version"], stdout=subprocess.PIPE,
                                          text=True).stdout.strip()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            r = {"error": str(e)}
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()
            shutil.rmtree(work, ignore_errors=True)
        self.results["fanout_nats"] = r

    # --- tables ----------------------------------------------------------------------------
    def report(self):
        out = []
        p = self.results.get("produce")
        if p:
            rows = []
            for t in p["tried"]:
                chosen = "best" if p["best"].get(t["system"]) is t else ""
                if "error" in t:
                    rows.append([t["system"], t["driven"], f"not measured: {t['error']}",
                                 "", "", "", "", "", "", chosen])
                    continue
                lat = t["latency"]
                rows.append([t["system"], t["driven"], fmt(t["msgs_per_sec"]),
                             fmt(t["mb_per_sec"]), fmt(t.get("requests_per_sec")),
                             t["latency_name"], fmt(ms(lat, "p50_us")), fmt(ms(lat, "p99_us")),
                             fmt(t["cores"]), chosen])
            out.append("Produce, 1 KiB records, fsync before the acknowledgement, 8 partitions, "
                       f"{self.duration} s per try (load average {self.load('produce')}):\n")
            out.append(markdown(["system", "driven", "msgs/s", "MB/s", "requests/s",
                                 "latency of", "p50 ms", "p99 ms", "broker CPU, cores",
                                 "chosen"], rows))
        w = self.results.get("ws_idle")
        if w:
            out.append(f"\nIdle WebSocket subscribers (credit 0, one topic of 1 partition), "
                       f"broker descriptor limit {w.get('descriptor_limit', '?')} (load average "
                       f"{self.load('ws_idle')}):\n")
            if "error" in w:
                out.append(f"not measured: {w['error']}")
            else:
                out.append(markdown(
                    ["subscribers asked", "open", "open after hold", "connect s",
                     "RSS before MiB", "RSS open MiB", "RSS after close MiB",
                     "KiB per subscriber", "descriptors open"],
                    [[f"{w['subscribers']:,}", f"{w.get('open', 0):,}",
                      f"{w.get('open_after_hold', 0):,}", fmt(w.get("connect_seconds")),
                      fmt(w["rss_before"] / 2**20, 1), fmt(w.get("rss_after", 0) / 2**20, 1),
                      fmt(w.get("rss_closed", 0) / 2**20, 1), fmt(w.get("kib_per_subscriber"), 1),
                      w.get("fds_after", "-")]]))
                if w.get("first_error"):
                    out.append(f"\nfirst error: {w['first_error']}")
        rip, nats = self.results.get("fanout_riptide"), self.results.get("fanout_nats")
        if rip or nats:
            out.append(f"\nFan-out to {self.fanout_subscribers():,} WebSocket subscribers, "
                       f"{self.args.fanout_record_bytes}-byte records, {self.step_seconds()} s "
                       "per rate; latency from the producer's send to the subscriber's read, "
                       f"ms (load average {self.load('fanout')} at Riptide's start, "
                       f"{self.load('fanout_nats')} at NATS's):\n")
            out.append(self.fanout_table(rip, nats))
        out.append("\nTargets:\n")
        out.append(self.targets_table())
        return "\n".join(out)

    def load(self, case):
        v = self.loads.get(case)
        return "-" if v is None else f"{v:.1f}"

    def fanout_table(self, rip, nats):
        def by_rate(r):
            return {s["rate"]: s for s in r.get("steps", [])} if r and "error" not in r else {}

        rs, ns = by_rate(rip), by_rate(nats)
        rows = []
        for rate in sorted(set(rs) | set(ns)):
            row = [f"{rate:,.0f}"]
            for r in (rs.get(rate), ns.get(rate)):
                if r is None:
                    row += ["-"] * 6
                    continue
                lat = r["latency"]
                note = "" if r["drained"] else " (fell behind)"
                row += [fmt(r["achieved_rate"]), fmt(r["delivered_per_sec"]) + note,
                        fmt(ms(lat, "p50_us")), fmt(ms(lat, "p99_us")), fmt(ms(lat, "p999_us")),
                        fmt(ms(lat, "max_us"))]
            rows.append(row)
        head = ["rate/s", "riptide achieved/s", "riptide delivered/s", "p50", "p99", "p99.9",
                "max", "nats achieved/s", "nats delivered/s", "p50", "p99", "p99.9", "max"]
        text = markdown(head, rows)
        for name, r in (("riptide", rip), ("nats", nats)):
            if r and r.get("error"):
                text += f"\n\n{name}: not measured: {r['error']}"
                continue
            if r and r.get("stopped"):
                text += f"\n\n{name}: stopped: {r['stopped']}"
            if r and r.get("cores") is not None:
                text += (f"\n\n{name}: server CPU {r['cores']:.2f} cores over the whole run "
                         f"(connects, every rate and its drain)")
        return text

    def targets_table(self):
        rows = []
        p = self.results.get("produce", {}).get("best", {})
        if "http" in p and "kafka" in p:
            ratio = p["http"]["msgs_per_sec"] / p["kafka"]["msgs_per_sec"]
            self.results["http_kafka_ratio"] = ratio
            rows.append(["HTTP produce ≥ 50 % of Kafka produce msgs/s (1 KiB, fsync)",
                         "yes" if ratio >= 0.5 else "no",
                         f"{ratio * 100:.0f} %: {fmt(p['http']['msgs_per_sec'])} against "
                         f"{fmt(p['kafka']['msgs_per_sec'])} msgs/s; HTTP request p50 "
                         f"{fmt(ms(p['http']['latency'], 'p50_us'))} ms, p99 "
                         f"{fmt(ms(p['http']['latency'], 'p99_us'))} ms"])
        w = self.results.get("ws_idle", {})
        if w.get("kib_per_subscriber") is not None:
            k = w["kib_per_subscriber"]
            rows.append(["≤ 16 KiB of broker RSS per idle WebSocket subscriber",
                         "yes" if k <= 16 else "no",
                         f"{k:.1f} KiB ({w['open']:,} of {w['subscribers']:,} open)"])
        for name, key in (("Riptide", "fanout_riptide"), ("NATS", "fanout_nats")):
            r = self.results.get(key)
            if not r or "error" in r:
                continue
            # A rate counts when the producer kept up with it, every record reached every
            # subscriber, and the p99 stayed within 10 ms; the figure is the highest rate
            # up to which every rate tried counts (a faster one that counts after one that
            # did not is named beside it).
            def counts(s):
                return (s["drained"] and s["achieved_rate"] >= 0.95 * s["rate"]
                        and s["latency"].get("count") and s["latency"]["p99_us"] <= 10000)
            steps = sorted(r["steps"], key=lambda s: s["rate"])
            best = None
            for s in steps:
                if not counts(s):
                    break
                best = s["rate"]
            also = [s["rate"] for s in steps if counts(s) and (best is None or s["rate"] > best)]
            r["best_rate_p99_10ms"] = best
            text = (f"{best:,.0f} records/s ({best * r['open']:,.0f} deliveries/s)" if best
                    else f"none of the rates tried ({steps[0]['rate']:,.0f} records/s and up: "
                         f"p99 {steps[0]['latency']['p99_us'] / 1000:.1f} ms at the lowest)"
                    if steps else "no rate measured")
            if also:
                text += "; also " + ", ".join(f"{a:,.0f}" for a in also) + " records/s"
            rows.append([f"{name}: highest fan-out rate with p99 ≤ 10 ms "
                         f"({r['open']:,} subscribers)", "-", text])
        return markdown(["target", "met?", "measured"], rows)


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descriptor_limit(pid):
    """The broker's soft descriptor limit (it raises it to the hard one at start)."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


def wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nats-server exited with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nats-server did not listen within 30 s")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short smoke run")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--http-bench", help="the http_bench binary (default: BUILD/bench/http_bench)")
    ap.add_argument("--duration", type=int, default=0, help="seconds per produce try")
    ap.add_argument("--idle-subscribers", type=int, default=0)
    ap.add_argument("--fanout-subscribers", type=int, default=0)
    ap.add_argument("--fanout-record-bytes", type=int, default=100)
    ap.add_argument("--rates", default="", help="fan-out rates, e.g. 100,500,1000")
    ap.add_argument("--settle-seconds", type=float, default=3,
                    help="quiet time after the writeback before each run")
    ap.add_argument("--cases", default="produce,ws-idle,fanout",
                    help="comma-separated subset of produce, ws-idle, fanout")
    ap.add_argument("--no-nats", action="store_true", help="fan-out against Riptide only")
    ap.add_argument("--json-out", help="also write every raw result to this file")
    args = ap.parse_args()
    run = Run(args)
    for exe in (run.riptide, run.tool):
        if not os.path.exists(exe):
            sys.exit(f"{exe} not found: build first (ninja -C {args.build_dir} riptide http_bench)")
    cases = set(args.cases.split(","))
    load0 = os.getloadavg()[0]
    steps = [("produce", run.produce), ("ws-idle", run.ws_idle), ("fanout", run.fanout),
             ("fanout", run.fanout_nats)]
    for case, fn in steps:
        if case not in cases:
            continue
        print(f"{case} ...", file=sys.stderr, flush=True)
        run.loads[fn.__name__] = os.getloadavg()[0]
        try:
            fn()
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
            key = {"ws-idle": "ws_idle"}.get(case, case)
            run.results.setdefault(key, {"error": str(e)})
    mode = "quick" if args.quick else "full"
    print(f"\nRiptide's HTTP API, {mode} mode, {os.cpu_count()} CPUs, load average "
          f"{load0:.1f} at the start and {os.getloadavg()[0]:.1f} at the end\n")
    print(run.report())
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(dict(run.results, load_average=run.loads), f, indent=1, default=str)


if __name__ == "__main__":
    main()
