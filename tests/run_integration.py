#!/usr/bin/env python3
# tests/run_integration.py - runs every tests/test_*.py (or those named) and ends with
#   integration: tests=N failures=M
# Environment: BUILD_DIR (a configured, built tree to `make install` from) or PST_PREFIX
# (an installed tree); PST_KEEP=1 keeps the instances' temp folders.
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


def main(argv):
    loader = unittest.TestLoader()
    if len(argv) > 1:
        suite = unittest.TestSuite()
        for name in argv[1:]:
            # test_x.py, tests/test_x.py, test_x, test_x.Class or test_x.Class.test_method
            if name.endswith(".py"):
                name = os.path.basename(name)[:-3]
            suite.addTests(loader.loadTestsFromName(name))
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    started = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    try:
        result = runner.run(suite)
    finally:
        harness.cleanup_tmp_root()
    failures = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    run = result.testsRun - len(result.skipped)
    print("integration: %d skipped, %.1fs" % (len(result.skipped), time.monotonic() - started))
    print("integration: tests=%d failures=%d" % (run, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
