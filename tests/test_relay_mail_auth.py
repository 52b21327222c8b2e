# tests/test_relay_mail_auth.py - smtp(8) and the AUTH= parameter of MAIL FROM (RFC 4954
# section 5): the queue file's "auth" mailbox goes, as xtext, only to a server the
# connection authenticated to; a server that offers AUTH but was not authenticated to
# gets AUTH=<>; a server without AUTH gets no parameter. Small SMTP sinks on loopback.
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from dns import smtp_sink  # noqa: E402
from test_relay_agent import Agent  # noqa: E402


class RelayMailAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_program("smtp")
        harness.require_program("relay_probe")
        cls.tmp = harness.class_tempdir(cls, "pst-mailauth-")
        cls.qdir = os.path.join(cls.tmp, "spool")
        os.makedirs(os.path.join(cls.qdir, "private"))
        cls.port = p = harness.port()
        cls.addr = {name: harness.address() for name in ("auth", "other", "plain")}
        cls.sinks = {}
        cls.addClassCleanup(lambda: [s.stop() for s in cls.sinks.values()])
        cls.sinks = {
            # AUTH offered, and we have credentials for it.
            "auth": smtp_sink.Sink(cls.addr["auth"], p, users={"usera": "s3cret"}).start(),
            # AUTH offered, no credentials for it: we do not authenticate.
            "other": smtp_sink.Sink(cls.addr["other"], p, users={"userb": "x"}).start(),
            # No AUTH at all.
            "plain": smtp_sink.Sink(cls.addr["plain"], p).start(),
        }
        cls.agent = Agent(cls.qdir, {
            "smtp_destination_port": str(p), "smtp_connect_timeout": "3", "smtp_helo_timeout": "10",
            "smtp_command_timeout": "10", "smtp_data_done_timeout": "10", "myhostname": "relay.examplea.tst",
            "smtp_sasl_auth_enable": "yes",
            "smtp_sasl_password_maps": "inline:{[%s]:%d=usera:s3cret}" % (cls.addr["auth"], p),
        })
        cls.addClassCleanup(cls.agent.stop)

    def mail_auth(self, sink, attrs):
        """Delivers to the sink named sink; returns its MAIL command's AUTH= value."""
        before = len(self.sinks[sink].messages)
        run = self.agent.deliver("[%s]" % self.addr[sink], ["u@b.tst"], attrs=attrs)[0]
        self.assertEqual(run["rcpt"]["u@b.tst"]["result"], "sent", (run, self.agent.log_text()[-2000:]))
        self.assertEqual(len(self.sinks[sink].messages), before + 1)
        mail = self.sinks[sink].messages[-1]["mail"]
        self.assertTrue(mail.startswith("MAIL FROM:<a@examplea.tst>"), mail)
        m = re.findall(r" AUTH=(\S*)", mail)
        return m[0] if len(m) == 1 else (None if not m else m)

    def test_mailbox_to_authenticated_server_as_xtext(self):
        self.assertEqual(self.mail_auth("auth", ["auth=alice@examplea.tst"]), "alice@examplea.tst")
        self.assertEqual(self.sinks["auth"].messages[-1]["auth"], "usera")
        # RFC 3461 xtext: '+', '=' and bytes outside 33..126 as +HH.
        self.assertEqual(self.mail_auth("auth", ["auth=a+b=c j\u00f6@examplea.tst"]),
                         "a+2Bb+3Dc+20j+C3+B6@examplea.tst")

    def test_unknown_or_untrusted_mailbox_is_empty(self):
        self.assertEqual(self.mail_auth("auth", ["auth=<>"]), "<>")
        self.assertEqual(self.mail_auth("auth", []), "<>")

    def test_not_authenticated_server_gets_empty(self):
        self.assertEqual(self.mail_auth("other", ["auth=alice@examplea.tst"]), "<>")
        self.assertIsNone(self.sinks["other"].messages[-1]["auth"])

    def test_server_without_auth_gets_none(self):
        self.assertIsNone(self.mail_auth("plain", ["auth=alice@examplea.tst"]))


if __name__ == "__main__":
    unittest.main()
