# tests/test_chaos.py - the short run of tests/chaos.py in the test suite: SMTP load into a
# virtual mailbox and out through the relay to a second instance, IMAP and POP3 clients
# reading, and SIGKILL for any daemon of either instance (the front's master too, started
# again) for PST_CHAOS_SECONDS (default 40): every message acknowledged with 250 is
# delivered, in the mailbox it was for. A long run: python3 tests/chaos.py --seconds 600.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import chaos  # noqa: E402


class ChaosTest(harness.LogsOnFailure):
    def setUp(self):
        for d in ("master", "smtpd", "qmgr", "virtual", "smtp", "resolver", "auth", "imapd", "pop3d"):
            harness.require_daemon(self, d)
        seconds = float(os.environ.get("PST_CHAOS_SECONDS", "40"))
        self.chaos = chaos.Chaos(seconds, messages=5000, senders=3, seed=int(os.environ.get("PST_CHAOS_SEED", "17")),
                                 log=lambda line: sys.stderr.write("\n  " + line))
        self.addCleanup(self.chaos.cleanup)

    def on_failure(self):
        if hasattr(self, "chaos"):  # not when setUp stopped before the instances were made
            self.chaos.dump()

    def test_nothing_acknowledged_is_lost(self):
        r = self.chaos.run(drain=240)
        sys.stderr.write("\n")
        self.assertEqual([], r["lost"], "acknowledged but never delivered")
        self.assertEqual([], r["wrong_box"], "delivered into another mailbox")
        self.assertEqual(r["acknowledged"], r["delivered"])
        # The run was real: mail went both ways, many daemons died, the master too.
        self.assertGreater(r["acknowledged"], 50)
        self.assertGreater(r["kills"], 20)
        self.assertGreaterEqual(r["master_restarts"], 1)
        for kind in ("front:smtpd", "front:qmgr"):
            self.assertIn(kind, r["kinds"])


if __name__ == "__main__":
    harness.main()
