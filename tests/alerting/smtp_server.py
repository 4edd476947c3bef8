#!/usr/bin/env python3
"""A real SMTP server for Vigil's email tests (aiosmtpd), on 127.0.0.1 only.

STARTTLS with the given certificate (required before AUTH and MAIL; or implicit TLS
with --implicit), AUTH LOGIN/PLAIN
with one user, and recipients to refuse with 550. Every accepted message is saved raw
(N.eml) and parsed (N.json: subject, message-id, from, to, text and html parts, the
authenticated user, whether TLS was on). Prints "READY <port>" when it accepts
connections; stops when stdin closes (the test ended) or after --lifetime seconds.
"""
import argparse
import json
import os
import socket
import ssl
import sys
import threading
import time
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler:
    def __init__(self, out_dir, refuse):
        self.out_dir = out_dir
        self.refuse = set(refuse)
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 <%s>: mailbox refused by policy" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = envelope.original_content or envelope.content
        base = os.path.join(self.out_dir, "%04d" % self.count)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(raw)
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        parsed = {
            "subject": msg["subject"],
            "message_id": msg["message-id"],
            "from": msg["from"],
            "to": msg["to"],
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
            "envelope_to": envelope.rcpt_tos,
            "auth_user": getattr(session, "vigil_user", None),
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(parsed, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        os.rename(base + ".json.tmp", base + ".json")
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--user", default="vigil")
    ap.add_argument("--password", default="")
    ap.add_argument("--refuse", action="append", default=[])
    ap.add_argument("--lifetime", type=float, default=600)
    ap.add_argument("--implicit", action="store_true", help="implicit TLS (SMTPS) instead of STARTTLS")
    a = ap.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)

    def auth(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == a.user
            and auth_data.password.decode() == a.password
        )
        if ok:
            session.vigil_user = auth_data.login.decode()
        return AuthResult(success=ok, handled=False)

    port = free_port()
    if a.implicit:
        tls = {"ssl_context": ctx}
    else:
        tls = {"tls_context": ctx, "require_starttls": True}
    ctl = Controller(
        Handler(a.dir, a.refuse),
        hostname="127.0.0.1",
        port=port,
        authenticator=auth,
        # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS session is TLS already.
        auth_require_tls=not a.implicit,
        auth_required=bool(a.password),
        **tls,
    )
    ctl.start()
    print("READY %d" % port, flush=True)

    done = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait(a.lifetime)
    ctl.stop()


if __name__ == "__main__":
    main()
