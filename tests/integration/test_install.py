"""`make install` as a packager runs it: the install rules of the build directory under a
DESTDIR, then the installed binary, configuration and systemd unit used as installed.

The build directory is the one holding the binary under test (TEST_RIPTIDE_BIN); its
install prefix is whatever it was configured with (`make install` sets PREFIX and
SYSCONFDIR), so the test reads the paths back from the installed unit.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import RIPTIDE

BUILD_DIR = os.path.dirname(os.path.abspath(RIPTIDE))


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(BUILD_DIR, "cmake_install.cmake")):
            raise AssertionError(f"{RIPTIDE} is not in a CMake build directory")
        cls.destdir = tempfile.mkdtemp(prefix="riptide-install-")
        r = subprocess.run(["cmake", "--install", BUILD_DIR], capture_output=True, text=True,
                           env={**os.environ, "DESTDIR": cls.destdir}, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"cmake --install failed:\n{r.stdout}{r.stderr}")
        cls.install_log = r.stdout
        units = [os.path.join(d, f) for d, _, fs in os.walk(cls.destdir) for f in fs
                 if f == "riptide.service"]
        if len(units) != 1:
            raise AssertionError(f"expected one riptide.service, found {units}")
        with open(units[0]) as f:
            cls.unit = f.read()
        cls.unit_path = units[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir, ignore_errors=True)

    def staged(self, path):
        return self.destdir + path

    def unit_command(self):
        m = re.search(r"^ExecStart=(\S+) serve --config (\S+)$", self.unit, re.MULTILINE)
        self.assertIsNotNone(m, self.unit)
        return m.group(1), m.group(2)

    def test_unit_names_the_installed_binary_and_configuration(self):
        binary, config = self.unit_command()
        self.assertTrue(os.access(self.staged(binary), os.X_OK), binary)
        self.assertTrue(os.path.isfile(self.staged(config)), config)
        r = subprocess.run([self.staged(binary), "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        for line in ("User=riptide", "StateDirectory=riptide", "Restart=on-failure",
                     "KillSignal=SIGTERM", "RestartPreventExitStatus=2"):
            self.assertIn(line + "\n", self.unit)
        self.assertRegex(self.unit, r"(?m)^TimeoutStopSec=\d+s$")
        self.assertRegex(self.unit, r"(?m)^LimitNOFILE=\d+$")

    def test_installed_configuration_points_at_the_state_directory(self):
        binary, config = self.unit_command()
        r = subprocess.run([self.staged(binary), "serve", "--config", self.staged(config),
                            "--print-config"], capture_output=True, text=True, env={})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'(?m)^data_dir = "/var/lib/riptide" +# file ')
        prefix = os.path.dirname(os.path.dirname(binary))
        example = self.staged(f"{prefix}/share/riptide/riptide.example.toml")
        with open(example) as f:
            self.assertIn('data_dir = "./data"', f.read())
        self.assertTrue(os.path.isfile(self.staged(f"{prefix}/share/doc/riptide/README.md")))
        self.assertTrue(os.path.isfile(
            self.staged(f"{prefix}/share/doc/riptide/docs/operations.md")))
        with open(self.staged(f"{prefix}/lib/sysusers.d/riptide.conf")) as f:
            self.assertRegex(f.read(), r"(?m)^u riptide - .* /var/lib/riptide$")

    def test_reinstall_keeps_an_edited_configuration(self):
        _, config = self.unit_command()
        with open(self.staged(config), "a") as f:
            f.write("# edited by the administrator\n")
        r = subprocess.run(["cmake", "--install", BUILD_DIR], capture_output=True, text=True,
                           env={**os.environ, "DESTDIR": self.destdir}, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.staged(config)) as f:
            self.assertTrue(f.read().endswith("# edited by the administrator\n"))


if __name__ == "__main__":
    unittest.main()
