#!/usr/bin/python3
"""Runs the same workloads against Riptide and its peers and prints one table.

Each system is started on loopback with a temporary directory, driven by `riptide bench`
or by the peer driver built beside it (bench/peers/*_bench.cc, same JSON), and stopped by
its PID even when something fails. Each system is driven in several ways for each
workload (producers, connections, pipeline depth, channels, acknowledgements in flight);
the table gives the best of those tried and says how it was driven, and a second table
lists every one tried. A system that cannot be started or measured gets a
"not measured: <reason>" row, never a number.

    bench/peers/run.py --quick            # a few seconds per workload, 256 MiB catch-up
    bench/peers/run.py                    # full: 20 s per workload, 2 GiB catch-up
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
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # Debian's; not on PATH


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with code {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return None
        except OSError:
            time.sleep(0.2)
    return f"did not accept connections within {timeout} s"


class Service:
    """A server process we started; stop() ends it (and only it) by PID."""

    def __init__(self, name, argv, port, workdir, env=None, start_timeout=30):
        self.name = name
        self.port = port
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env, cwd=workdir, start_new_session=True)
        self.error = wait_port(port, start_timeout, self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def settle(quiet=3):
    """Writes back what earlier workloads left dirty (sync(2)), then waits `quiet` seconds,
    so that one workload's writeback (and the work that follows it) does not land in the
    next one's figures. Forcing it rather than waiting for the kernel's 30 s expiry also
    keeps a freshly written backlog from sitting idle long enough for the host's memory
    reclaim (DAMON pageout of pages idle for 60 s, on this VM) to evict it."""
    os.sync()
    time.sleep(quiet)


def session_cpu_seconds(sessions):
    """CPU time (user + system, with reaped children) of every process in `sessions`.

    Each server runs in a session of its own whose id is its PID, so this covers the
    processes a server starts (RabbitMQ's Erlang VM under its start script) as well."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) in sessions:  # session id
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / tick


def run_json(argv, timeout, servers=(), quiet=3):
    """Runs a benchmark client; returns (result dict, None) or (None, reason).

    The result gains `server_cpu_seconds` and `wall_seconds`: what the servers' processes
    spent on the CPU while the client ran, and how long it ran."""
    settle(quiet)
    print("  $ " + " ".join(argv), file=sys.stderr, flush=True)
    sessions = {s.proc.pid for s in servers}
    cpu0, t0 = session_cpu_seconds(sessions), time.monotonic()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"client did not finish within {timeout} s"
    wall = time.monotonic() - t0
    cpu = session_cpu_seconds(sessions) - cpu0
    tail = p.stderr.strip().splitlines()
    if p.returncode != 0:
        return None, (tail[-1] if tail else f"client exited with {p.returncode}")
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            if sessions:
                result["server_cpu_seconds"] = round(cpu, 2)
                result["wall_seconds"] = round(wall, 2)
            return result, None
    return None, "client printed no result"


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        self.riptide = os.path.join(self.build, "riptide")
        self.work = tempfile.mkdtemp(prefix="riptide-bench-")
        # (workload, system) -> the best result (a dict with "driven" and "tried") or the
        # reason nothing was measured
        self.results = {}
        self.services = []
        d = 5 if args.quick else 20
        self.duration = args.duration or d
        self.catchup_bytes = args.catchup_bytes or ((256 << 20) if args.quick else (2 << 30))
        self.quiet = args.settle_seconds

    def wants(self, workload):
        only = getattr(self.args, "workloads", "")
        return not only or workload in only.split(",")

    def driver(self, name):
        path = os.path.join(self.build, "bench", name)
        return path if os.path.exists(path) else None

    def start(self, name, argv, port, env=None, timeout=30):
        s = Service(name, argv, port, self.work, env=env, start_timeout=timeout)
        self.services.append(s)
        if s.error:
            s.stop()
            with open(s.log_path) as f:
                last = [l.strip() for l in f.read().splitlines() if l.strip()][-1:]
            return None, f"{name} {s.error}" + (f" ({last[0][:120]})" if last else "")
        return s, None

    def run_json(self, argv, timeout):
        return run_json(argv, timeout, servers=self.services, quiet=self.quiet)

    def stop_all(self):
        for s in self.services:
            s.stop()
        self.services = []

    def best_of(self, workload, system, tries, timeout, after=None):
        """Runs each (how driven, argv) of `tries` and keeps the best result by the
        workload's measure; `after(index)` runs after each try (e.g. to drop its data)."""
        if not self.wants(workload):
            return
        tried, best, best_score = [], None, None
        for i, (driven, argv) in enumerate(tries):
            result, err = self.run_json(argv, timeout)
            if after:
                after(i)
            if result is None:
                tried.append({"driven": driven, "error": err})
                continue
            result["driven"] = driven
            tried.append(result)
            score = WORKLOADS[workload].score(result)
            if score is not None and (best_score is None or score > best_score):
                best, best_score = result, score
        if best is None:
            errors = [t["error"] for t in tried if "error" in t]
            self.results[(workload, system)] = errors[-1] if errors else "no figure measured"
        else:
            self.results[(workload, system)] = dict(best, tried=tried)

    # --- Riptide -------------------------------------------------------------------------
    def run_riptide(self):
        port, http = free_port(), free_port()
        data = os.path.join(self.work, "riptide-data")
        srv, err = self.start("riptide", [self.riptide, "serve", "--data-dir", data,
                                          "--kafka-listen", f"127.0.0.1:{port}",
                                          "--http-listen", f"127.0.0.1:{http}",
                                          "--log-level", "warn"], port)
        if err:
            for w in WORKLOADS:
                self.results[(w, "riptide")] = err
            return
        brokers = ["--brokers", f"127.0.0.1:{port}"]
        base = [self.riptide, "bench", *brokers, "--json", "--quiet"]
        t = self.duration * 3 + 60
        fs = "fsync, ack after fdatasync"
        pc = "page_cache, ack after write"

        def producers(n, consumer=True):
            return f"{n} producer{'s' if n > 1 else ''}" + (" + 1 consumer" if consumer else "")

        def drop(topics):
            # What a try wrote is not needed afterwards: keep the disk from filling up.
            def after(i):
                try:
                    subprocess.run([self.riptide, "topic", "delete", topics[i], *brokers],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   timeout=60)
                except subprocess.TimeoutExpired:
                    pass  # the next run starts on a topic of its own all the same
            return after

        for w, partitions in (("a", 8), ("a1", 1)):
            topics = [f"{w}-{n}" for n in RIPTIDE_PRODUCERS]
            self.best_of(w, "riptide", [
                (producers(n), base + [
                    "--topic", topic, "--mode", "both", "--record-size", "1024",
                    "--partitions", str(partitions), "--producers", str(n), "--acks", "all",
                    "--linger-ms", "5", "--duration", str(self.duration), "--durability", fs])
                for n, topic in zip(RIPTIDE_PRODUCERS, topics)], t, after=drop(topics))
        self.best_of("c", "riptide", [(producers(1), base + [
            "--topic", "c", "--mode", "both", "--record-size", "1024", "--partitions", "1",
            "--acks", "all", "--linger-ms", "0", "--rate", "10000", "--warmup", "1",
            "--duration", str(self.duration), "--durability", fs])], t)
        topics = [f"b-{n}" for n in RIPTIDE_PRODUCERS]
        self.best_of("b", "riptide", [
            (producers(n, consumer=False), base + [
                "--topic", topic, "--mode", "produce", "--record-size", "100",
                "--partitions", "8", "--producers", str(n), "--acks", "1", "--linger-ms", "5",
                "--batch-size", str(1 << 20), "--topic-config", "riptide.durability=page_cache",
                "--duration", str(self.duration), "--durability", pc])
            for n, topic in zip(RIPTIDE_PRODUCERS, topics)], t, after=drop(topics))
        self.run_riptide_queue(http)
        if not self.wants("d"):
            self.stop_all()
            return
        # d: fill, then read it all back from the start.
        n = max(1, self.catchup_bytes // (16 << 10))
        fill, err = self.run_json(base + [
            "--topic", "d", "--mode", "produce", "--record-size", str(16 << 10),
            "--partitions", "8", "--acks", "1", "--linger-ms", "5", "--count", str(n),
            "--topic-config", "riptide.durability=page_cache"], t + n // 1000)
        if err:
            self.results[("d", "riptide")] = "filling the topic: " + err
        else:
            self.best_of("d", "riptide", [("1 consumer", base + [
                "--topic", "d", "--mode", "consume", "--from", "beginning",
                "--durability", "page_cache (records on disk, in the page cache)"])], t)
        self.stop_all()

    def run_riptide_queue(self, http):
        """q and ql: a queue over a topic, HTTP producers, WebSocket workers acking each
        record with a message of its own (bench/http_bench_queue.cc)."""
        drv = self.driver("http_bench")
        if not drv:
            for w in ("q", "ql"):
                self.results[(w, "riptide")] = "http_bench missing (make build)"
            return
        base = [drv, "queue", "--url", f"http://127.0.0.1:{http}", "--json",
                "--durability", "fsync, ack after fdatasync; queue acks durable before answered"]
        t = self.duration * 3 + 90

        def way(workers, prefetch, partitions, tag):
            return (f"{workers} WebSocket workers × credit {prefetch}, {partitions} "
                    f"partition{'s' if partitions > 1 else ''}, 2 HTTP producers",
                    base + ["--topic", f"{tag}-{workers}-{partitions}", "--workers", str(workers),
                            "--prefetch", str(prefetch), "--partitions", str(partitions)])

        self.best_of("q", "riptide", [
            (driven, argv + ["--seconds", str(self.duration)])
            for driven, argv in (way(w, p, n, "q") for w, p, n in QUEUE_WAYS["riptide"])], t)
        driven, argv = way(*QUEUE_WAYS["riptide"][0], "ql")
        # Paced: a request of 5 records every 4 ms on each of 4 producers.
        driven = driven.replace("2 HTTP producers", "4 HTTP producers")
        self.best_of("ql", "riptide", [(driven, argv + [
            "--seconds", str(self.duration), "--rate", str(QUEUE_RATE), "--producers", "4",
            "--records-per-request", "5"])], t)

    # --- NATS JetStream --------------------------------------------------------------------
    def start_nats(self, exe):
        """Starts nats-server with JetStream; returns (port, None) or (None, reason)."""
        port = free_port()
        store = os.path.join(self.work, "nats")
        _, err = self.start("nats", [exe, "-js", "-a", "127.0.0.1", "-p", str(port),
                                     "-sd", store], port)
        return (None, err) if err else (port, None)

    def run_nats(self):
        label = "nats-jetstream"
        drv = self.driver("nats_bench")
        exe = shutil.which("nats-server")
        if not drv or not exe:
            self.not_measured(label, PEER_WORKLOADS[label],
                              "nats-server or nats_bench missing (make bench-peers installs them)")
            return
        port, err = self.start_nats(exe)
        if err:
            self.not_measured(label, PEER_WORKLOADS[label], err)
            return
        base = [drv, "--url", f"nats://127.0.0.1:{port}", "--json",
                "--durability", "file store, ack before fsync (default)"]
        t = self.duration * 3 + 60

        def way(publishers, window):
            each = " each" if publishers > 1 else ""
            return (f"{publishers} async publisher{'s' if publishers > 1 else ''}, "
                    f"{window} acks in flight{each}",
                    ["--publishers", str(publishers), "--window", str(window)])

        for w, size, mode in (("a", 1024, "both"), ("b", 100, "produce")):
            self.best_of(w, label, [(driven, base + opts + [
                "--mode", mode, "--record-size", str(size), "--duration", str(self.duration)])
                for driven, opts in (way(n, window) for n, window in NATS_WAYS[w])], t)
        driven, opts = way(*NATS_WAYS["c"][0])
        self.best_of("c", label, [(driven, base + opts + [
            "--mode", "both", "--record-size", "1024", "--rate", "10000", "--warmup", "1",
            "--duration", str(self.duration)])], t)
        self.run_queue_peer(label, base, t)
        self.stop_all()

    def run_queue_peer(self, label, base, t):
        """q and ql for a peer driver: one async publisher, --workers workers each holding
        --prefetch messages unacked and acking each one on its own."""
        def way(workers, prefetch):
            return (f"1 publisher, {workers} workers × prefetch {prefetch}",
                    base + ["--mode", "queue", "--record-size", "1024", "--workers", str(workers),
                            "--prefetch", str(prefetch)])

        self.best_of("q", label, [(driven, argv + ["--duration", str(self.duration)])
                                  for driven, argv in (way(w, p) for w, p in QUEUE_WAYS[label])],
                     t)
        driven, argv = way(*QUEUE_WAYS[label][0])
        self.best_of("ql", label, [(driven, argv + [
            "--duration", str(self.duration), "--rate", str(QUEUE_RATE)])], t)

    # --- Redis Streams ---------------------------------------------------------------------
    def start_redis(self, exe, label, conf):
        """Starts redis-server with `conf` (its flags) and no snapshots; returns (port, None)
        or (None, reason)."""
        port = free_port()
        d = os.path.join(self.work, label)
        os.makedirs(d)
        _, err = self.start(label, [exe, "--port", str(port), "--bind", "127.0.0.1",
                                    "--dir", d, "--save", "", *conf], port)
        return (None, err) if err else (port, None)

    def run_redis(self, label, conf, durability):
        workloads = PEER_WORKLOADS[label]
        drv = self.driver("redis_bench")
        exe = shutil.which("redis-server")
        if not drv or not exe:
            self.not_measured(label, workloads,
                              "redis-server or redis_bench missing (make bench-peers installs them)")
            return
        port, err = self.start_redis(exe, label, conf)
        if err:
            self.not_measured(label, workloads, err)
            return
        base = [drv, "--url", f"127.0.0.1:{port}", "--json", "--durability", durability]
        t = self.duration * 3 + 60

        def way(conns, pipeline):
            return (f"{conns} conn{'s' if conns > 1 else ''} × pipeline {pipeline}",
                    ["--connections", str(conns), "--pipeline", str(pipeline)])

        for w, size, mode in (("a", 1024, "both"), ("b", 100, "produce")):
            if w in workloads:
                self.best_of(w, label, [(driven, base + opts + [
                    "--mode", mode, "--record-size", str(size), "--duration", str(self.duration)])
                    for driven, opts in (way(c, p) for c, p in REDIS_WAYS[w])], t)
        if "c" in workloads:
            driven, opts = way(*REDIS_WAYS["c"][0])
            self.best_of("c", label, [(driven, base + opts + [
                "--mode", "both", "--record-size", "1024", "--rate", "10000", "--warmup", "1",
                "--duration", str(self.duration)])], t)
        self.stop_all()

    # --- RabbitMQ --------------------------------------------------------------------------
    def start_rabbitmq(self, exe, epmd):
        """Starts RabbitMQ (and an epmd of its own) with no plugins; returns (port, None) or
        (None, reason)."""
        port, dist, epmd_port = free_port(), free_port(), free_port()
        base = os.path.join(self.work, "rabbitmq")
        os.makedirs(base)
        with open(os.path.join(base, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        env = {
            "HOME": base,
            "RABBITMQ_NODENAME": f"riptidebench{port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_MNESIA_BASE": os.path.join(base, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(base, "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(base, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": os.path.join(base, "rabbitmq"),
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        # Our own epmd, in the foreground, so it is stopped by PID like the rest.
        _, err = self.start("epmd", [epmd, "-port", str(epmd_port), "-address", "127.0.0.1"],
                            epmd_port, env=env)
        if err:
            return None, err
        _, err = self.start("rabbitmq", [exe], port, env=env, timeout=60)
        return (None, err) if err else (port, None)

    def run_rabbitmq(self):
        label = "rabbitmq-quorum"
        workloads = PEER_WORKLOADS[label]
        drv = self.driver("rabbitmq_bench")
        exe = RABBITMQ_SERVER
        epmd = shutil.which("epmd")
        if not drv or not os.path.exists(exe) or not epmd:
            self.not_measured(label, workloads,
                              "rabbitmq-server or rabbitmq_bench missing (make bench-peers)")
            return
        port, err = self.start_rabbitmq(exe, epmd)
        if err:
            self.not_measured(label, workloads, err)
            self.stop_all()
            return
        url = [drv, "--url", f"127.0.0.1:{port}", "--json", "--extra", "quorum",
               "--durability", "quorum queue, confirm after fsync"]
        t = self.duration * 3 + 60

        def way(conns, channels, window):
            each = " each" if conns * channels > 1 else ""
            return (f"{conns} conn{'s' if conns > 1 else ''} × {channels} "
                    f"channel{'s' if channels > 1 else ''}, {window} confirms in flight{each}",
                    ["--connections", str(conns), "--channels", str(channels),
                     "--window", str(window)])

        self.best_of("a", label, [(driven, url + opts + [
            "--mode", "both", "--record-size", "1024", "--duration", str(self.duration)])
            for driven, opts in (way(*w) for w in RABBITMQ_WAYS["a"])], t)
        driven, opts = way(*RABBITMQ_WAYS["c"][0])
        self.best_of("c", label, [(driven, url + opts + [
            "--mode", "both", "--record-size", "1024", "--rate", "10000", "--warmup", "1",
            "--duration", str(self.duration)])], t)
        self.run_queue_peer(label, url, t)
        self.stop_all()

    # --- results ---------------------------------------------------------------------------
    def not_measured(self, system, workloads, reason):
        for w in workloads:
            self.results[(w, system)] = reason

    def table(self):
        rows = []
        for w, spec in WORKLOADS.items():
            r = self.results.get((w, "riptide"), "not run (--systems)")
            for peer in spec.peers:
                p = self.results.get((spec.peer_results or w, peer), "not run (--systems)")
                for fig_name, getter, higher_better in spec.figures:
                    rv = getter(r) if isinstance(r, dict) else None
                    pv = getter(p) if isinstance(p, dict) else None
                    ratio = f"{rv / pv:.2f}x" if rv is not None and pv else "-"
                    rows.append([
                        f"{w}. {spec.title}", fig_name,
                        fmt(rv) if rv is not None else f"not measured: {r}",
                        dur(r), driven(r), peer,
                        fmt(pv) if pv is not None else f"not measured: {p}",
                        dur(p), driven(p), ratio])
            if not spec.peers:
                for fig_name, getter, _ in spec.figures:
                    rv = getter(r) if isinstance(r, dict) else None
                    rows.append([f"{w}. {spec.title}", fig_name,
                                 fmt(rv) if rv is not None else f"not measured: {r}",
                                 dur(r), driven(r), "-", "-", "-", "-", "-"])
        head = ["workload", "figure", "riptide", "riptide durability", "riptide driven",
                "peer", "peer value", "peer durability", "peer driven", "riptide/peer"]
        return markdown(head, rows)

    def tried_table(self):
        """Every way each system was driven, with the figure the best was chosen by."""
        rows = []
        for w, spec in WORKLOADS.items():
            for (rw, system), r in self.results.items():
                if rw != w or not isinstance(r, dict):
                    continue
                name, getter, _ = spec.figures[spec.rank_figure]
                for t in r.get("tried", []):
                    if "error" in t:
                        value = f"not measured: {t['error']}"
                    else:
                        v = getter(t)
                        value = fmt(v) if v is not None else "-"
                    best = "best" if t.get("driven") == r.get("driven") else ""
                    rows.append([w, system, t["driven"], name, value, best])
        head = ["workload", "system", "driven", "ranked by", "value", "chosen"]
        return markdown(head, rows)


def markdown(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        out.append("| " + " | ".join(row) + " |")
    return "\n".join(out)


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}"


def dur(r):
    return r.get("durability", "") if isinstance(r, dict) else ""


def driven(r):
    """How a result was driven; "(best of N)" when N ways were tried."""
    if not isinstance(r, dict) or "driven" not in r:
        return ""
    n = len(r.get("tried", []))
    return r["driven"] + (f" (best of {n})" if n > 1 else "")


def produce_rate(r):
    return r["produce"]["msgs_per_sec"] if r["produce"]["msgs"] else None


def consume_rate(r):
    return r["consume"]["msgs_per_sec"] if r["consume"]["msgs"] else None


def produce_mb(r):
    return r["produce"]["mb_per_sec"] if r["produce"]["msgs"] else None


def consume_mb(r):
    return r["consume"]["mb_per_sec"] if r["consume"]["msgs"] else None


def server_cores(r):
    """The servers' CPU time over the client's run time, in cores: 1.0 is one core busy."""
    cpu, wall = r.get("server_cpu_seconds"), r.get("wall_seconds")
    return cpu / wall if cpu is not None and wall else None


def e2e(q):
    def get(r):
        lat = r.get("e2e_latency")
        return lat[q] / 1000.0 if lat else None
    return get


def most(getter):
    """Best is the highest figure."""
    return getter


def lowest_p99_at_rate(rate):
    """Best is the lowest end-to-end p99 among the tries that kept up with `rate`; a try
    that fell behind ranks below every one that kept up."""
    def score(r):
        achieved, p99 = produce_rate(r), e2e("p99_us")(r)
        if achieved is None or p99 is None:
            return None
        return (achieved >= 0.95 * rate, -p99)
    return score


class Workload:
    def __init__(self, title, figures, peers, score, rank_figure=0, peer_results=None):
        self.title = title
        self.figures = figures          # (name, getter, higher is better)
        self.peers = peers
        self.score = score              # result -> comparable, higher is better; None: no figure
        self.rank_figure = rank_figure  # the figure `score` ranks by, for the tried table
        self.peer_results = peer_results  # another workload whose peer results are compared


QUEUE_PEERS = ["nats-jetstream", "rabbitmq-quorum"]
QUEUE_RATE = 5000
A_FIGURES = [("produce msgs/s", produce_rate, True), ("produce MB/s", produce_mb, True),
             ("server CPU, cores", server_cores, False)]
FSYNC_PEERS = ["nats-jetstream", "redis-always", "rabbitmq-quorum"]

WORKLOADS = {
    "a": Workload("1 KiB, fsync before ack, producers + 1 consumer, 8 partitions",
                  A_FIGURES, FSYNC_PEERS, most(produce_rate)),
    # The peers have one stream or queue whatever the partitions: the same results as a.
    "a1": Workload("1 KiB, fsync before ack, producers + 1 consumer, 1 partition",
                   A_FIGURES, FSYNC_PEERS, most(produce_rate), peer_results="a"),
    "b": Workload("100 B, acks=1, page-cache durability, producers only",
                  [("produce msgs/s", produce_rate, True),
                   ("server CPU, cores", server_cores, False)],
                  ["nats-jetstream", "redis-everysec", "redis-no-aof"], most(produce_rate)),
    "c": Workload("e2e latency at 10,000 msgs/s, 1 KiB, fsync before ack, linger 0",
                  [("achieved msgs/s", produce_rate, True),
                   ("p50 ms", e2e("p50_us"), False), ("p99 ms", e2e("p99_us"), False),
                   ("p99.9 ms", e2e("p999_us"), False), ("max ms", e2e("max_us"), False),
                   ("server CPU, cores", server_cores, False)],
                  FSYNC_PEERS, lowest_p99_at_rate(10000), rank_figure=2),
    "q": Workload("queue: 1 KiB, fsync before ack, workers acking each record on its own",
                  [("acked msgs/s", consume_rate, True),
                   ("produce -> ack p50 ms", e2e("p50_us"), False),
                   ("server CPU, cores", server_cores, False)],
                  QUEUE_PEERS, most(consume_rate)),
    "ql": Workload(f"queue latency at {QUEUE_RATE:,} msgs/s: produce -> worker's ack",
                   [("acked msgs/s", consume_rate, True),
                    ("p50 ms", e2e("p50_us"), False), ("p99 ms", e2e("p99_us"), False),
                    ("p99.9 ms", e2e("p999_us"), False), ("max ms", e2e("max_us"), False),
                    ("server CPU, cores", server_cores, False)],
                   QUEUE_PEERS, lowest_p99_at_rate(QUEUE_RATE), rank_figure=2),
    "d": Workload("consumer catching up on a backlog of 16 KiB records",
                  [("consume MB/s", consume_mb, True), ("server CPU, cores", server_cores, False)],
                  [], most(consume_mb)),
}

# The workloads each peer runs.
PEER_WORKLOADS = {
    "nats-jetstream": ["a", "b", "c", "q", "ql"],
    "redis-always": ["a", "c"],
    "redis-everysec": ["b"],
    "redis-no-aof": ["b"],
    "rabbitmq-quorum": ["a", "c", "q", "ql"],
}

# The ways each system is driven. Flat-out workloads (a, b) try each; the paced workload c
# runs the one that measures best at its rate. The first of each list is how the peers were
# driven with one producer connection.
RIPTIDE_PRODUCERS = [1, 4]
NATS_WAYS = {  # (publishers, acks in flight per publisher)
    "a": [(1, 1024), (1, 16384), (4, 16384)],
    "b": [(1, 4096), (1, 16384), (4, 16384)],
    "c": [(1, 1024)],
}
REDIS_WAYS = {  # (connections, pipeline depth per connection), as redis-benchmark -c -P
    "a": [(1, 1024), (16, 16), (50, 16)],
    "b": [(1, 1024), (16, 16), (50, 16)],
    "c": [(1, 1024)],
}
# The queue workload: Riptide (workers, credit each, partitions); the peers (workers,
# prefetch each). The first of each list also runs the paced latency workload ql.
QUEUE_WAYS = {
    "riptide": [(8, 100, 1), (16, 100, 2)],
    "nats-jetstream": [(8, 100), (4, 100), (12, 100)],
    "rabbitmq-quorum": [(8, 100), (4, 200)],
}
RABBITMQ_WAYS = {  # (connections, channels per connection, confirms in flight per channel)
    "a": [(1, 1, 1024), (1, 4, 1024), (4, 2, 1024)],
    "c": [(1, 1, 1024)],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs, small catch-up backlog")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--duration", type=int, default=0, help="seconds per workload")
    ap.add_argument("--catchup-bytes", type=int, default=0, help="backlog size for workload d")
    ap.add_argument("--settle-seconds", type=float, default=3,
                    help="quiet time after the writeback before each run")
    ap.add_argument("--systems", default="riptide,nats,redis,rabbitmq",
                    help="comma-separated subset to run")
    ap.add_argument("--json-out", help="also write every raw result to this file")
    ap.add_argument("--workloads", default="",
                    help="comma-separated subset of the workloads (a,a1,b,c,d,q,ql) to run")
    args = ap.parse_args()
    b = Bench(args)
    if not os.path.exists(b.riptide):
        sys.exit(f"{b.riptide} not found: build first (make build)")
    systems = set(args.systems.split(","))
    try:
        if "riptide" in systems:
            print("riptide ...", file=sys.stderr, flush=True)
            b.run_riptide()
        if "nats" in systems:
            print("nats-server -js ...", file=sys.stderr, flush=True)
            b.run_nats()
        if "redis" in systems:
            print("redis-server ...", file=sys.stderr, flush=True)
            b.run_redis("redis-always", ["--appendonly", "yes", "--appendfsync", "always"],
                        "AOF, appendfsync always")
            b.run_redis("redis-everysec", ["--appendonly", "yes", "--appendfsync", "everysec"],
                        "AOF, appendfsync everysec")
            b.run_redis("redis-no-aof", ["--appendonly", "no"], "no AOF, no snapshots")
        if "rabbitmq" in systems:
            print("rabbitmq-server ...", file=sys.stderr, flush=True)
            b.run_rabbitmq()
    finally:
        b.stop_all()
        shutil.rmtree(b.work, ignore_errors=True)
    mode = "quick" if args.quick else "full"
    print(f"\nRiptide and peers, {mode} mode: {b.duration} s per run, "
          f"catch-up backlog {b.catchup_bytes >> 20} MiB, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("riptide/peer: above 1 means Riptide is ahead for msgs/s and MB/s, behind for "
          "latency (ms) and for server CPU (cores busy while the workload ran). Each system "
          "is given the best of the ways it was driven (\"driven\"; every one is listed "
          "under the table).\n")
    print(b.table())
    print("\nEvery way each system was driven:\n")
    print(b.tried_table())
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({f"{w}/{s}": r for (w, s), r in b.results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
