# tests/dns/smtp_sink.py - a tiny SMTP server for tests of the relay client: asyncio in
# a background thread, on a loopback address. It records every connection, command,
# AUTH and message, and answers as told: greeting code, EHLO extensions, per-recipient
# replies, the reply after DATA, STARTTLS with a given certificate.
import asyncio
import base64
import ssl
import threading


class Sink:
    def __init__(self, address, port, greeting="220 sink.tst ESMTP", extensions=None,
                 rcpt_replies=None, data_reply="250 2.0.0 Ok: queued as SINK", tls_cert=None,
                 users=None, name="sink.tst", tls_broken=False):
        self.address, self.port, self.name = address, port, name
        self.greeting = greeting
        self.extensions = ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"] \
            if extensions is None else extensions
        self.rcpt_replies = rcpt_replies or {}
        self.data_reply = data_reply
        self.tls_cert = tls_cert  # (certfile, keyfile) to offer STARTTLS
        self.users = users or {}  # user -> password: offer AUTH PLAIN LOGIN
        self.tls_broken = tls_broken  # offer STARTTLS, then answer the handshake with garbage
        self.messages = []
        self.connections = 0
        self.commands = []
        self.lock = threading.Lock()
        self._loop = None
        self._server = None
        self._thread = None

    # -- running ---------------------------------------------------------------------
    def start(self):
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._session, self.address, self.port, reuse_address=True))
            ready.set()
            self._loop.run_forever()
            self._server.close()
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("sink did not start")
        return self

    def stop(self):
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    # -- the conversation --------------------------------------------------------------
    async def _session(self, reader, writer):
        with self.lock:
            self.connections += 1
            conn_id = self.connections
        tls = False
        auth_user = None
        state = {"from": None, "rcpts": []}

        async def send(line):
            writer.write((line + "\r\n").encode())
            await writer.drain()

        try:
            await send(self.greeting)
            if not self.greeting.startswith("2"):
                return
            while True:
                raw = await asyncio.wait_for(reader.readline(), 60)
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                with self.lock:
                    self.commands.append((conn_id, line))
                if verb == "EHLO":
                    exts = list(self.extensions)
                    if (self.tls_cert or self.tls_broken) and not tls:
                        exts.append("STARTTLS")
                    if self.users:
                        exts.append("AUTH PLAIN LOGIN")
                    lines = [self.name] + exts
                    for i, l in enumerate(lines):
                        await send("250%s%s" % ("-" if i + 1 < len(lines) else " ", l))
                elif verb == "HELO":
                    await send("250 " + self.name)
                elif verb == "STARTTLS" and self.tls_broken:
                    await send("220 2.0.0 Ready to start TLS")
                    writer.write(b"this is not a TLS server hello\r\n" * 4)
                    await writer.drain()
                    return
                elif verb == "STARTTLS" and self.tls_cert and not tls:
                    await send("220 2.0.0 Ready to start TLS")
                    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                    ctx.load_cert_chain(*self.tls_cert)
                    await writer.start_tls(ctx)
                    tls = True
                elif verb == "AUTH":
                    parts = line.split()
                    user = password = None
                    if len(parts) >= 3 and parts[1].upper() == "PLAIN":
                        fields = base64.b64decode(parts[2]).split(b"\0")
                        user, password = fields[1].decode(), fields[2].decode()
                    elif len(parts) >= 2 and parts[1].upper() == "LOGIN":
                        await send("334 VXNlcm5hbWU6")
                        user = base64.b64decode((await reader.readline()).strip()).decode()
                        await send("334 UGFzc3dvcmQ6")
                        password = base64.b64decode((await reader.readline()).strip()).decode()
                    if user is not None and self.users.get(user) == password:
                        auth_user = user
                        await send("235 2.7.0 Authentication successful")
                    else:
                        await send("535 5.7.8 Authentication failed")
                elif verb == "MAIL":
                    state = {"from": line[10:].split(">")[0].lstrip("<"), "rcpts": [], "mail": line}
                    await send("250 2.1.0 Ok")
                elif verb == "RCPT":
                    addr = line[8:].split(">")[0].lstrip("<")
                    reply = self.rcpt_replies.get(addr) or self.rcpt_replies.get(addr.split("@")[0]) \
                        or "250 2.1.5 Ok"
                    if reply.startswith("2"):
                        state["rcpts"].append(addr)
                    await send(reply)
                elif verb == "DATA":
                    if not state["rcpts"]:
                        await send("554 5.5.1 Error: no valid recipients")
                        continue
                    await send("354 End data with <CR><LF>.<CR><LF>")
                    data = b""
                    while True:
                        chunk = await asyncio.wait_for(reader.readline(), 60)
                        if not chunk:
                            return
                        if chunk == b".\r\n":
                            break
                        data += chunk
                    with self.lock:
                        self.messages.append({"from": state["from"], "rcpts": state["rcpts"], "data": data,
                                              "tls": tls, "auth": auth_user, "conn": conn_id,
                                              "mail": state.get("mail", "")})
                    await send(self.data_reply)
                elif verb == "RSET":
                    state = {"from": None, "rcpts": []}
                    await send("250 2.0.0 Ok")
                elif verb == "QUIT":
                    await send("221 2.0.0 Bye")
                    return
                elif verb == "NOOP":
                    await send("250 2.0.0 Ok")
                else:
                    await send("502 5.5.2 Error: command not recognized")
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError):
            return
        finally:
            try:
                writer.close()
            except Exception:
                pass
