# tests/test_harness.py - the harness's loopback addresses and ports (see harness.py's
# header): addresses are never handed out twice, another test process gets another block
# of 127.0.0.0/8, and ports lie outside the kernel's range for ephemeral ports.
import os
import subprocess
import sys
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


if __name__ == "__main__":
    harness.main()
