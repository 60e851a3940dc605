"""Real servers on this machine standing in for each channel's far end: an SMTP server
(aiosmtpd) that keeps what it is sent and checks logins, and an HTTP receiver that records
each request exactly (webhook, ntfy, Telegram's Bot API, CallMeBot).

The fixtures ``receiver`` and ``mailbox`` (``tests/alerts/conftest.py``) start one per test.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from support import QuietHandler, free_port, http_server, reply_json


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)


@dataclass
class Receiver:
    """A local HTTP server that records each request and answers ``status`` with ``reply``."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    status: int = 200
    reply: dict[str, Any] = field(default_factory=lambda: {"ok": True, "result": {}})
    delay_s: float = 0.0
    hang_up: bool = False  # close the connection without answering


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self._record()

        def do_POST(self) -> None:
            self._record()

        def _record(self) -> None:
            receiver.requests.append(Request(self.command, self.path, dict(self.headers.items()), self.body()))
            if receiver.hang_up:
                self.close_connection = True
                return
            time.sleep(receiver.delay_s)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up waiting
                reply_json(self, receiver.status, receiver.reply)

    return Handler


LOGIN = "alerts@home.example"
PASSWORD = "p@ss:w/rd %+&?#x"  # every character a URL gives a meaning to


@dataclass
class Mailbox:
    """What a real SMTP server received, and the logins it saw."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 OK"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = data.login == LOGIN.encode() and data.password == PASSWORD.encode()
        self.logins.append((data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    """An HTTP receiver on a free local port, for as long as the block runs."""
    with http_server(_handler(rec := Receiver())) as rec.url:
        yield rec


@contextlib.contextmanager
def mail_server() -> Iterator[Mailbox]:
    """An SMTP server on a free local port that takes the LOGIN/PASSWORD account."""
    box = Mailbox(port=free_port())
    controller = Controller(
        box, hostname="127.0.0.1", port=box.port, authenticator=box.authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
