"""The commands of README.md's "Quick start" and of docs/ (getting-started.md and every
other page that marks its blocks), run as written.

Which blocks run is marked in the markdown itself, so the text and the test cannot drift:

    <!-- doc-test: run -->        before a ```sh block: run it (bash -e -o pipefail) against
                                   a running broker; it must exit 0.
    <!-- doc-test: output -->     before a ```text block: each of its non-empty lines must
                                   appear, in this order, among the stdout lines of the
                                   preceding run block (runs of spaces compare as one;
                                   a line `...` stands for lines left out).

The blocks of one document run in order against one broker started on a fresh data
directory with the default configuration, so the commands can use the documented default
addresses 127.0.0.1:9092 (Kafka) and 127.0.0.1:9644 (HTTP) unchanged. Another broker on
this machine may hold those ports, so the broker and the commands run in a private network
namespace (`unshare --net`, with a user namespace when not root) whose loopback has every
port free: the text runs verbatim. Where namespaces are not permitted (some containers),
the broker listens on free ports instead and the two default addresses are the only thing
replaced, in the commands and in the expected output; the test prints which mode it used.

The working directory of the blocks is a scratch directory in which build/release/riptide
is the binary under test and config/ is the repository's config/, so commands written for a
fresh clone work without touching the source tree.

This file is also the runner: `test_readme.py --run-blocks SPEC` (inside the namespace)
starts the broker, runs the blocks and prints the results as JSON.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import unittest

from harness import RIPTIDE, Server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_HTTP = "127.0.0.1:9644"
MARKED_BLOCK = re.compile(r"<!-- doc-test: (run|output) -->\n```[a-z]*\n(.*?)```", re.DOTALL)


def marked_blocks(text):
    """[(kind, code)] in document order."""
    return [(m.group(1), m.group(2)) for m in MARKED_BLOCK.finditer(text)]


def section(text, heading):
    """The text under a '## heading', up to the next heading of that level."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    if not m:
        raise AssertionError(f"no '## {heading}' section")
    return m.group(1)


def private_network_command():
    """The unshare prefix that gives a private network (and PID) namespace, or None."""
    # --mount-proc: a /proc of the new PID namespace, so getpid() names /proc/<pid>
    # (LeakSanitizer reads /proc/<pid>/task at exit).
    base = ["--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    candidates = [["unshare", "--user", "--map-root-user", *base]]
    if os.getuid() == 0:
        candidates.insert(0, ["unshare", *base])
    for cmd in candidates:
        try:
            if subprocess.run([*cmd, "true"], capture_output=True, timeout=10).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def loopback_up():
    """Brings up `lo` in a fresh network namespace (SIOCGIFFLAGS / SIOCSIFFLAGS)."""
    import fcntl
    import socket
    import struct
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 0x1))


def run_blocks(spec_path):
    """The runner: broker up, blocks in order, broker down; results as JSON on stdout."""
    with open(spec_path) as f:
        spec = json.load(f)
    if spec["private_network"]:
        loopback_up()
        listen = []
    else:
        listen = ["--kafka-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"]
    server = Server(spec["data_dir"], "--shards", "2", *listen)
    out = {"results": [], "broker_log": "", "broker_exit": None}
    try:
        server.wait_for("ready.")
        kafka, http = server.bootstrap, f"127.0.0.1:{server.http_port}"
        fix = lambda s: s.replace(DEFAULT_KAFKA, kafka).replace(DEFAULT_HTTP, http)
        out["addresses"] = [kafka, http]
        for kind, code in spec["blocks"]:
            if kind == "output":
                out["results"].append({"kind": kind, "expected": fix(code)})
                continue
            try:
                r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", fix(code)],
                                   cwd=spec["cwd"], capture_output=True, text=True, timeout=120)
                out["results"].append({"kind": kind, "code": fix(code), "rc": r.returncode,
                                       "stdout": r.stdout, "stderr": r.stderr,
                                       "broker": server.proc.poll()})
            except subprocess.TimeoutExpired as e:
                out["results"].append({"kind": kind, "code": fix(code), "rc": "timeout",
                                       "stdout": str(e.stdout), "stderr": str(e.stderr)})
        out["broker_exit"] = server.stop(signal.SIGTERM)
    finally:
        server.kill()
        out["broker_log"] = server.log
    json.dump(out, sys.stdout)


class DocCommandsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="riptide-doc-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.tmp])
        cwd = os.path.join(self.tmp, "work")
        os.makedirs(os.path.join(cwd, "build", "release"))
        os.symlink(os.path.abspath(RIPTIDE), os.path.join(cwd, "build", "release", "riptide"))
        os.symlink(os.path.join(ROOT, "config"), os.path.join(cwd, "config"))
        self.cwd = cwd

    def run_document(self, name, text):
        blocks = marked_blocks(text)
        self.assertTrue(any(kind == "run" for kind, _ in blocks), f"{name}: no doc-test blocks")
        self.assertEqual(blocks[0][0], "run", f"{name}: an output block needs a run block before")
        namespace = private_network_command()
        run_dir = tempfile.mkdtemp(dir=self.tmp, prefix="run-")  # fresh data for each page
        spec = os.path.join(run_dir, "spec.json")
        with open(spec, "w") as f:
            json.dump({"blocks": blocks, "data_dir": os.path.join(run_dir, "data"),
                       "cwd": self.cwd, "private_network": namespace is not None}, f)
        runner = [sys.executable, os.path.abspath(__file__), "--run-blocks", spec]
        print(f"\n{name}: " + ("verbatim, in a private network namespace" if namespace else
                              "network namespaces unavailable: default addresses replaced"),
              file=sys.stderr)
        proc = subprocess.Popen([*(namespace or []), *runner], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the runner and the broker it started
            proc.communicate()
            self.fail(f"{name}: the commands did not finish within 300s")
        self.assertEqual(proc.returncode, 0, f"{name}: runner failed:\n{stderr}")
        out = json.loads(stdout)
        log = out["broker_log"]

        last = None
        for r in out["results"]:
            if r["kind"] == "run":
                self.assertEqual(r["rc"], 0, f"{name}: this block failed:\n{r['code']}\n"
                                  f"stdout:\n{r['stdout']}\nstderr:\n{r['stderr']}\n"
                                 f"broker exit status afterwards: {r['broker']}\n"
                                 f"broker log:\n{log}")
                last = r
                continue
            # Runs of spaces are one space: column alignment is not part of the promise.
            squash = lambda line: " ".join(line.split())
            lines = [squash(line) for line in last["stdout"].splitlines()]
            pos = 0
            expected = [squash(line) for line in r["expected"].splitlines()]
            for want in [line for line in expected if line and line != "..."]:
                found = want in lines[pos:]
                self.assertTrue(found, f"{name}: expected the line\n  {want}\nin the output of\n"
                                f"{last['code']}\n(in the documented order), got:\n"
                                f"{last['stdout']}")
                pos = lines.index(want, pos) + 1
        self.assertEqual(out["broker_exit"], 0, f"{name}: broker did not stop cleanly:\n{log}")

    def test_readme_quick_start(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            self.run_document("README.md Quick start", section(f.read(), "Quick start"))

    def test_docs_pages(self):
        """Every page of docs/ that marks blocks; getting-started.md must be one of them."""
        pages = []
        for page in sorted(os.listdir(os.path.join(ROOT, "docs"))):
            with open(os.path.join(ROOT, "docs", page)) as f:
                text = f.read()
            if page.endswith(".md") and "<!-- doc-test: " in text:
                pages.append(page)
                with self.subTest(page=page):
                    self.run_document(f"docs/{page}", text)
        self.assertIn("getting-started.md", pages)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run-blocks"]:
        run_blocks(sys.argv[2])
    else:
        unittest.main()
