# tests/test_harness.py - the harness's loopback addresses and ports (see harness.py's
# header): addresses are never handed out twice, another test process gets another block
# of 127.0.0.0/8, and ports lie outside the kernel's range for ephemeral ports.
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


class LoopbackTest(unittest.TestCase):
    def test_addresses_are_new_and_in_our_block(self):
        addrs = [harness.address() for _ in range(300)]
        self.assertEqual(len(set(addrs)), len(addrs))
        block = harness.loopback().block
        for a in addrs:
            parts = [int(x) for x in a.split(".")]
            self.assertEqual(parts[:2], [127, block], a)
            self.assertTrue(1 <= parts[3] <= 254, a)

    def test_another_process_gets_another_block(self):
        r = subprocess.run([sys.executable, "-c", "import harness; print(harness.address())"], cwd=HERE,
                           stdout=subprocess.PIPE, text=True, check=True)
        theirs = int(r.stdout.split(".")[1])
        self.assertNotEqual(theirs, harness.loopback().block)

    def test_ports_are_outside_the_ephemeral_range(self):
        lo, hi = harness.Loopback.ephemeral_range()
        ports = [harness.port() for _ in range(20)]
        self.assertEqual(len(set(ports)), len(ports))
        for p in ports:
            self.assertTrue(1024 <= p < lo or hi < p <= 65535, p)


class BuiltProgramTest(unittest.TestCase):
    """harness.program() takes a program from the folder whose Makefile.am builds it, so a
    reused build folder's leftovers (smtpd/anvil, from before anvil/ had a folder of its
    own) are never picked, nor make the lookup fail."""

    def setUp(self):
        self.build = tempfile.mkdtemp(prefix="pst-build-")
        self.addCleanup(shutil.rmtree, self.build)
        saved = os.environ.get("BUILD_DIR")
        self.addCleanup(lambda: os.environ.__setitem__("BUILD_DIR", saved) if saved is not None
                        else os.environ.pop("BUILD_DIR", None))
        os.environ["BUILD_DIR"] = self.build

    def executable(self, *parts):
        path = os.path.join(self.build, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(path, 0o755)
        return path

    def test_stale_copy_in_another_folder_is_ignored(self):
        self.executable("smtpd", "anvil")
        current = self.executable("anvil", "anvil")
        self.assertEqual(harness.program("anvil"), current)

    def test_only_a_stale_copy_is_not_taken(self):
        self.executable("smtpd", "anvil")
        self.assertIsNone(harness._built("anvil"))  # program() then takes the installed one

    def test_source_folders(self):
        self.assertEqual(harness.source_of("anvil"), ("anvil", "pkglibexec"))
        self.assertEqual(harness.source_of("relay_probe"), ("smtp", "noinst"))
        self.assertIsNone(harness.source_of("no_such_program"))
        with self.assertRaises(harness.HarnessError):
            harness.source_of("smtp_test")  # a unit test program of lib/smtp and of smtp/


class LogsOnFailureTest(unittest.TestCase):
    """A test whose setUp fails before what on_failure() shows exists is one error, not
    the end of the whole run."""

    def test_broken_on_failure_does_not_stop_the_run(self):
        class Broken(harness.LogsOnFailure):
            def setUp(self):
                raise RuntimeError("setUp failed")

            def on_failure(self):
                self.never_made.dump()

            def test_a(self):
                pass

            def test_b(self):
                pass

        result = unittest.TextTestRunner(stream=io.StringIO()).run(
            unittest.defaultTestLoader.loadTestsFromTestCase(Broken))
        self.assertEqual(2, result.testsRun)
        self.assertEqual(2, len(result.errors))


if __name__ == "__main__":
    harness.main()
