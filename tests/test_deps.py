# tests/test_deps.py - scripts/check-deps, the first step of tests/run-all, really fails
# when something a test uses is missing: a program hidden from PATH, a Perl module and a
# Python module hidden behind stand-ins that refuse to load. Each is reported with the
# package to install, and the check exits 1.
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

CHECK = os.path.join(harness.ROOT, "scripts", "check-deps")


class CheckDepsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="pst-deps-", dir=harness.tmp_root())

    def check(self, env):
        return subprocess.run(["bash", CHECK, "test"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)

    def path_without(self, hidden):
        """A PATH folder with every program of the current PATH but hidden."""
        d = os.path.join(self.tmp, "bin")
        os.makedirs(d)
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            if not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                target = os.path.join(folder, name)
                if name != hidden and not os.path.lexists(os.path.join(d, name)) and os.access(target, os.X_OK):
                    os.symlink(target, os.path.join(d, name))
        return d

    def test_hidden_program_and_modules_are_missing(self):
        perl_lib = os.path.join(self.tmp, "perl", "Net")
        os.makedirs(perl_lib)
        with open(os.path.join(perl_lib, "SSLeay.pm"), "w") as f:
            f.write('die "hidden by tests/test_deps.py\\n";\n')
        py_lib = os.path.join(self.tmp, "python")
        os.makedirs(py_lib)
        with open(os.path.join(py_lib, "crypt.py"), "w") as f:
            f.write('raise ImportError("hidden by tests/test_deps.py")\n')
        env = dict(os.environ, PATH=self.path_without("swaks"),
                   PERL5LIB=os.path.join(self.tmp, "perl"), PYTHONPATH=py_lib)
        r = self.check(env)
        self.assertEqual(1, r.returncode, r.stdout)
        lines = r.stdout.splitlines()
        self.assertIn("missing: swaks (program) - apt-get install swaks", lines)
        self.assertIn("missing: Net::SSLeay (perl module) - apt-get install libnet-ssleay-perl", lines)
        self.assertIn("missing: crypt (python module) - apt-get install python3", lines)
        self.assertRegex(lines[-1], r"^check-deps: \d+ of \d+ missing")

    def test_present_program_is_not_reported(self):
        # A stand-in swaks first on PATH: found, whatever the machine has.
        d = os.path.join(self.tmp, "fake")
        os.makedirs(d)
        with open(os.path.join(d, "swaks"), "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(os.path.join(d, "swaks"), 0o755)
        r = self.check(dict(os.environ, PATH=d + os.pathsep + os.environ.get("PATH", "")))
        self.assertNotIn("missing: swaks ", r.stdout)


if __name__ == "__main__":
    harness.main()
