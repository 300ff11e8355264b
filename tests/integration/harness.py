"""Starting and stopping the real riptide binary for integration tests.

Every server runs on a fresh temporary data directory and is stopped by its PID when
the test ends, pass or fail.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

RIPTIDE = os.environ.get("TEST_RIPTIDE_BIN", "build/release/riptide")


class Server:
    """One `riptide serve` process; stderr (its log) is collected in the background."""

    def __init__(self, data_dir, *args, env=None, preexec_fn=None):
        self.data_dir = data_dir
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [RIPTIDE, "serve", "--data-dir", data_dir, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, text=True,
            preexec_fn=preexec_fn)
        self._lines = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stderr:
            with self._lock:
                self._lines.append(line)

    @property
    def log(self):
        with self._lock:
            return "".join(self._lines)

    def wait_for(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                if text in self.log:
                    return
                raise AssertionError(f"riptide exited ({self.proc.returncode}) before "
                                     f"logging {text!r}:\n{self.log}")
            time.sleep(0.02)
        raise AssertionError(f"riptide did not log {text!r} within {timeout}s:\n{self.log}")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` and returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"riptide did not stop within {timeout}s:\n{self.log}")
        self._reader.join(timeout=5)
        return rc

    def wait_exit(self, timeout=30):
        """Waits for the process to exit by itself and returns the exit code."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"riptide did not exit within {timeout}s:\n{self.log}")
        self._reader.join(timeout=5)
        return rc

    @property
    def kafka_port(self):
        """The port of the Kafka listener, from the log line announcing it."""
        self.wait_for("Kafka listener on ")
        import re
        m = re.search(r"Kafka listener on [^ ]+:(\d+) ", self.log)
        return int(m.group(1))

    @property
    def http_port(self):
        """The port of the HTTP listener, from the log line announcing it."""
        self.wait_for("HTTP listener on ")
        import re
        m = re.search(r"HTTP listener on [^ ]+:(\d+) ", self.log)
        return int(m.group(1))

    def http_get(self, path):
        """(status, body) of GET http://127.0.0.1:<admin port><path>."""
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}",
                                        timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.kafka_port}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


class ServerTest(unittest.TestCase):
    """Gives each test a temporary directory and stops every server it started."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="riptide-it-")
        self.servers = []

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        failed = result is not None and any(
            t is self for t, _ in (*result.failures, *result.errors))
        for i, s in enumerate(self.servers):
            s.kill()
            if failed:
                # What the broker said is the first thing to read when a test fails.
                tail = "".join(s.log.splitlines(keepends=True)[-40:])
                sys.stderr.write(f"\n--- {self.id()}: log of server {i + 1} of "
                                 f"{len(self.servers)} (last 40 lines) ---\n{tail}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *args, data_dir=None, env=None, listen="127.0.0.1:0",
              http_listen="127.0.0.1:0", preexec_fn=None):
        s = Server(data_dir or os.path.join(self.tmp, "data"), "--kafka-listen", listen,
                   "--http-listen", http_listen, "--shards", "2", *args, env=env,
                   preexec_fn=preexec_fn)
        self.servers.append(s)
        return s

    def run_riptide(self, *args, env=None, timeout=30):
        full_env = dict(os.environ)
        full_env.update(env or {})
        return subprocess.run([RIPTIDE, *args], capture_output=True, text=True, env=full_env,
                              timeout=timeout, cwd=self.tmp)
