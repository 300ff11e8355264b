"""A `riptide serve` on free loopback ports in a temporary directory, for the benchmark
scripts: started on entry, stopped by its PID on exit (also when the body fails), with
what the scripts read from /proc about it (CPU time, memory, descriptors)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalBroker:
    def __init__(self, riptide, prefix="riptide-bench-", args=()):
        self.riptide = riptide
        self.prefix = prefix
        self.args = list(args)
        self.proc = None
        self.work = None

    def __enter__(self):
        self.work = tempfile.mkdtemp(prefix=self.prefix)
        self.kafka_port, self.http_port = free_port(), free_port()
        self.log_path = os.path.join(self.work, "riptide.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.riptide, "serve", "--data-dir", os.path.join(self.work, "data"),
             "--kafka-listen", f"127.0.0.1:{self.kafka_port}",
             "--http-listen", f"127.0.0.1:{self.http_port}", *self.args],
            stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self.__exit__(None, None, None)
                raise RuntimeError(f"riptide serve exited with code {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.kafka_port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError("riptide serve did not listen within 30 s")
                time.sleep(0.1)

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None
        return False

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def pid(self):
        return self.proc.pid

    def cpu_seconds(self):
        """User + system CPU time of every thread of the broker so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status(self, key):
        """A /proc/<pid>/status figure in bytes (VmRSS, VmHWM) or as a number (Threads)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    parts = line.split()
                    value = int(parts[1])
                    return value * 1024 if len(parts) > 2 and parts[2] == "kB" else value
        return None

    def descriptors(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
