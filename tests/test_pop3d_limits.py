# tests/test_pop3d_limits.py - pop3d(8)'s per-client connection limits, counted by
# anvil(8) over all pop3d processes, in an instance run by master(8): the session over
# pop3d_client_connection_count_limit or _rate_limit gets -ERR [SYS/TEMP] before any
# login and is closed, with one warning in Postfix's words; a QUIT frees a slot; clients
# in pop3d_client_connection_limit_exceptions are not counted; other client addresses
# and services have counts of their own; with anvil gone pop3d goes on with its own
# counts. POP3S (wrapper mode) refuses inside TLS and counts apart from POP3. Clients
# connect from chosen 127.0.0.x source addresses.
import os
import poplib
import re
import socket
import ssl
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from test_pop3d import tls_context  # noqa: E402

REFUSAL = b"-ERR [SYS/TEMP] Too many connections from your host\r\n"


class SourcePOP3(poplib.POP3):
    """poplib.POP3 connecting from a given local address."""

    def __init__(self, host, port, source, timeout=10):
        self.source = source
        try:
            super().__init__(host, port, timeout=timeout)
        except Exception:
            for f in (getattr(self, "file", None), getattr(self, "sock", None)):
                if f is not None:
                    f.close()
            raise

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))


class SourcePOP3_SSL(poplib.POP3_SSL):
    """poplib.POP3_SSL connecting from a given local address."""

    def __init__(self, host, port, source, timeout=10):
        self.source = source
        super().__init__(host, port, timeout=timeout, context=tls_context())

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
        return self.context.wrap_socket(sock, server_hostname=self.host)


def raw_session(inst, source, port_name="pop3"):
    """Connects from source (with TLS on pop3s) and reads what the server sends until
    it closes or 5 s pass: (bytes, closed)."""
    s = socket.create_connection((inst.addr, inst.ports[port_name]), 10, source_address=(source, 0))
    if port_name == "pop3s":
        s = tls_context().wrap_socket(s, server_hostname=inst.addr)
    s.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + 5
    closed = False
    try:
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                if data.endswith(b"\r\n"):
                    break  # a greeting, and the connection stays open
                continue
            if not chunk:
                closed = True
                break
            data += chunk
    finally:
        s.close()
    return data, closed


def sources(n):
    """n distinct client addresses on loopback."""
    return [harness.address() for _ in range(n)]


class Pop3dLimitsTest(harness.InstanceTestCase):
    def instance(self, options, drop_anvil=False, ports=("pop3",)):
        harness.require_daemon(self, "pop3d")
        harness.require_daemon(self, "anvil")
        harness.require_daemon(self, "master")
        inst = self.make_instance(ports=ports, tls="pop3s" in ports)
        inst.init()
        with open(inst.main_conf(), "a") as f:
            for k, v in options.items():
                f.write("%s = %s\n" % (k, v))
        if drop_anvil:
            with open(inst.master_conf()) as f:
                lines = f.read().splitlines(True)
            with open(inst.master_conf(), "w") as f:
                f.writelines(l for l in lines if not (l.split() and l.split()[0] == "anvil"))
        inst.start()
        inst.wait_ready()
        return inst

    def refusal_lines(self, inst, what, source):
        pat = (r"postilion/pop3d\[\d+\]: warning: Connection %s limit exceeded: (\d+) from "
               r"unknown\[%s\] for service (\S+)$" % (what, re.escape(source)))
        return [m for m in (re.search(pat, l) for l in inst.log_text().splitlines()) if m]

    def assert_refused(self, inst, source, port_name="pop3"):
        data, closed = raw_session(inst, source, port_name)
        self.assertEqual(REFUSAL, data)
        self.assertTrue(closed, "the refused connection stays open")

    def open_when_allowed(self, inst, source, what):
        """Opens a session from source, retrying while the server still counts a session
        that just ended (its process is reaped asynchronously); at most 10 s."""
        deadline = time.monotonic() + 10
        while True:
            try:
                return SourcePOP3(inst.addr, inst.ports["pop3"], source)
            except poplib.error_proto as e:
                if not str(e).startswith("b'-ERR [SYS/TEMP] Too many") or time.monotonic() > deadline:
                    raise AssertionError("%s: %s" % (what, e))
            time.sleep(0.05)

    def test_count_limit(self):
        inst = self.instance({"pop3d_client_connection_count_limit": "2"})
        a, b = sources(2)
        p1 = SourcePOP3(inst.addr, inst.ports["pop3"], a)
        p2 = SourcePOP3(inst.addr, inst.ports["pop3"], a)
        self.assertTrue(p1.getwelcome().startswith(b"+OK"))
        self.assertTrue(p2.getwelcome().startswith(b"+OK"))
        # The client advertises RESP-CODES (RFC 2449), so [SYS/TEMP] is understood.
        self.assertIn("RESP-CODES", p2.capa())
        self.assert_refused(inst, a)
        with self.assertRaises(poplib.error_proto) as e:
            SourcePOP3(inst.addr, inst.ports["pop3"], a)
        self.assertIn("[SYS/TEMP] Too many connections from your host", str(e.exception))
        # Another client has a count of its own.
        other = SourcePOP3(inst.addr, inst.ports["pop3"], b)
        self.assertTrue(other.getwelcome().startswith(b"+OK"))
        other.quit()
        harness.wait_for(lambda: len(self.refusal_lines(inst, "concurrency", a)) == 2, 10, "two warnings")
        lines = self.refusal_lines(inst, "concurrency", a)
        self.assertEqual(["3", "3"], [m.group(1) for m in lines])
        self.assertEqual("%s:%d" % (inst.addr, inst.ports["pop3"]), lines[0].group(2))
        self.assertEqual([], self.refusal_lines(inst, "concurrency", b))
        # One QUIT frees one slot; the session after it works to the end.
        p1.quit()
        p3 = self.open_when_allowed(inst, a, "a session after QUIT")
        self.assertIn("UIDL", p3.capa())
        self.assert_refused(inst, a)
        p3.quit()
        p2.quit()
        # The refused sessions never reached a session process: three did.
        log = inst.log_text()
        self.assertEqual(3, len(re.findall(r"pop3d\[\d+\]: connect from \[%s\]$" % re.escape(a), log, re.M)))

    def test_rate_limit(self):
        inst = self.instance({"pop3d_client_connection_count_limit": "0",
                              "pop3d_client_connection_rate_limit": "3",
                              "anvil_rate_time_unit": "3600s"})
        c, d = sources(2)
        for i in range(3):
            p = SourcePOP3(inst.addr, inst.ports["pop3"], c)
            p.quit()
        self.assert_refused(inst, c)
        harness.wait_for(lambda: self.refusal_lines(inst, "rate", c), 10, "rate warning")
        self.assertEqual("4", self.refusal_lines(inst, "rate", c)[0].group(1))
        self.assertEqual([], self.refusal_lines(inst, "concurrency", c))
        # Ended sessions do not give the rate back; another client is not affected.
        self.assert_refused(inst, c)
        SourcePOP3(inst.addr, inst.ports["pop3"], d).quit()

    def test_exceptions(self):
        listed, net_listed, unlisted = sources(3)
        inst = self.instance({"pop3d_client_connection_count_limit": "1",
                              "pop3d_client_connection_rate_limit": "2",
                              "pop3d_client_connection_limit_exceptions":
                                  "%s, [::1]/128 %s/32" % (listed, net_listed)})
        held = [SourcePOP3(inst.addr, inst.ports["pop3"], listed) for _ in range(3)]
        held += [SourcePOP3(inst.addr, inst.ports["pop3"], net_listed) for _ in range(3)]
        for p in held:
            self.assertTrue(p.getwelcome().startswith(b"+OK"))
        u = SourcePOP3(inst.addr, inst.ports["pop3"], unlisted)
        self.assert_refused(inst, unlisted)
        for p in held + [u]:
            p.quit()
        log = inst.log_text()
        self.assertNotIn("[%s] for service" % listed, log)
        self.assertNotIn("[%s] for service" % net_listed, log)

    def test_pop3s_refuses_inside_tls_and_counts_apart(self):
        inst = self.instance({"pop3d_client_connection_count_limit": "1"}, ports=("pop3", "pop3s"))
        (a,) = sources(1)
        s1 = SourcePOP3_SSL(inst.addr, inst.ports["pop3s"], a)
        self.assertTrue(s1.getwelcome().startswith(b"+OK"))
        # The refusal is readable: it comes after the TLS handshake.
        self.assert_refused(inst, a, "pop3s")
        with self.assertRaises(poplib.error_proto) as e:
            SourcePOP3_SSL(inst.addr, inst.ports["pop3s"], a)
        self.assertIn("[SYS/TEMP] Too many connections from your host", str(e.exception))
        # The POP3 service has its own count for the same client.
        p = SourcePOP3(inst.addr, inst.ports["pop3"], a)
        self.assertTrue(p.getwelcome().startswith(b"+OK"))
        self.assert_refused(inst, a, "pop3")
        p.quit()
        s1.quit()
        harness.wait_for(lambda: len(self.refusal_lines(inst, "concurrency", a)) == 3, 10, "three warnings")
        services = [m.group(2) for m in self.refusal_lines(inst, "concurrency", a)]
        self.assertEqual(["%s:%d" % (inst.addr, inst.ports["pop3s"])] * 2 + ["%s:%d" % (inst.addr, inst.ports["pop3"])],
                         services)

    def test_client_limit_refuses_inside_tls_on_pop3s(self):
        # pop3d_client_limit: the refusal on port 995 comes after the handshake, where
        # the client can read it; on port 110 in plain text.
        inst = self.instance({"pop3d_client_limit": "1"}, ports=("pop3", "pop3s"))
        a, b = sources(2)
        held = SourcePOP3_SSL(inst.addr, inst.ports["pop3s"], a)
        self.assertTrue(held.getwelcome().startswith(b"+OK"))
        data, closed = raw_session(inst, b, "pop3s")
        self.assertEqual(b"-ERR [SYS/TEMP] too many connections, try again later\r\n", data)
        self.assertTrue(closed)
        held.quit()
        plain = SourcePOP3(inst.addr, inst.ports["pop3"], a)
        data, closed = raw_session(inst, b, "pop3")
        self.assertEqual(b"-ERR [SYS/TEMP] too many connections, try again later\r\n", data)
        self.assertTrue(closed)
        plain.quit()
        harness.wait_for(lambda: inst.log_text().count("pop3d_client_limit reached; refusing [%s]" % b) == 2, 10,
                         "two warnings")

    def test_without_anvil(self):
        inst = self.instance({"pop3d_client_connection_count_limit": "2"}, drop_anvil=True)
        (a,) = sources(1)
        held = [SourcePOP3(inst.addr, inst.ports["pop3"], a) for _ in range(2)]
        self.assert_refused(inst, a)
        self.assert_refused(inst, a)
        held[0].quit()
        p = self.open_when_allowed(inst, a, "a session after QUIT without anvil")
        p.quit()
        held[1].quit()
        harness.wait_for(lambda: len(self.refusal_lines(inst, "concurrency", a)) >= 2, 10, "warnings")
        log = inst.log_text()
        warnings = re.findall(r"postilion/pop3d\[(\d+)\]: warning: anvil unavailable: ", log)
        self.assertTrue(warnings, "no warning that anvil is unavailable")
        # One warning per outage and pop3d process, not one per client.
        self.assertEqual(len(warnings), len(set(warnings)))


if __name__ == "__main__":
    harness.main()
