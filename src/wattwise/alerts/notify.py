"""Sending one alert notice to one channel (e-mail, webhook, ntfy, Telegram, WhatsApp).

The contract the alert engine relies on: ``deliver`` never raises for a channel's own
failure (an unreachable server, a refused login); it returns a ``Delivery`` saying what
went wrong, so one broken channel never stops the others or the engine.
"""

from __future__ import annotations

import html
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import quote

from apprise import NotifyBase, NotifyFormat, NotifyType

from wattwise.alerts.channels import LABELS, apprise_service, endpoint, secret_values, validate_config

Severity = Literal["info", "warning", "critical"]

log = logging.getLogger(__name__)

_NOTIFY_TYPE = {"info": NotifyType.INFO, "warning": NotifyType.WARNING, "critical": NotifyType.FAILURE}


@dataclass(frozen=True, slots=True)
class Notice:
    title: str
    body: str
    severity: Severity = "warning"
    url: str | None = None  # where to look at it in the dashboard, when known


def dashboard_link(public_url: str, path: str) -> str | None:
    """Where a notice's reader opens it on the dashboard (``Notice.url``): ``path`` under the
    dashboard's public address (``Settings.public_url``), or None while it is not set — a link
    to this machine's own address would not open on the reader's phone."""
    return f"{public_url}{path}" if public_url else None


def alert_path(alert_id: int) -> str:
    """The Alerts page showing one alert (``ui/alerts.py`` answers ``?alert=``)."""
    return f"/alerts?alert={alert_id}"


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    error: str | None = None


class _Reasons(logging.Filter):
    """Keeps the records Apprise logs in the threads that are delivering, to say why a send failed.

    Apprise never raises for a failed send: it logs a warning, and the cause (the socket error,
    the server's answer) only at DEBUG. While any delivery runs, the ``apprise`` logger is opened
    to DEBUG and this filter, on that logger, hands each record to the thread that made it; records
    below the level the application had configured are then dropped, so its logs look the same.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger
        self._lock = threading.Lock()
        self._threads: dict[int, list[logging.LogRecord]] = {}
        self._level = logging.NOTSET
        self._shown = logging.WARNING

    @contextmanager
    def collect(self) -> Iterator[list[logging.LogRecord]]:
        """The records Apprise logs in this thread until the block ends."""
        records: list[logging.LogRecord] = []
        me = threading.get_ident()
        with self._lock:
            if not self._threads:
                self._level, self._shown = self._logger.level, self._logger.getEffectiveLevel()
                self._logger.addFilter(self)
                self._logger.setLevel(logging.DEBUG)
            self._threads[me] = records
        try:
            yield records
        finally:
            with self._lock:
                del self._threads[me]
                if not self._threads:
                    self._logger.setLevel(self._level)
                    self._logger.removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        records = self._threads.get(record.thread or 0)
        if records is not None:
            records.append(record)
        return record.levelno >= self._shown


_reasons = _Reasons(logging.getLogger("apprise"))

# Causes buried in socket and HTTP client errors, said plainly.
_CAUSES = (
    (re.compile(r"Connection refused", re.I), "connection refused"),
    (re.compile(r"timed out|timeout", re.I), "timed out"),
    (
        re.compile(r"RemoteDisconnected|Connection aborted|Connection reset", re.I),
        "the server closed the connection without answering",
    ),
    (re.compile(r"Name or service not known|getaddrinfo failed|nodename nor servname", re.I), "host name not found"),
    (re.compile(r"Network is unreachable|No route to host", re.I), "network unreachable"),
    (
        re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed", re.I),
        "the server's TLS certificate was refused",
    ),
    (re.compile(r"STARTTLS extension not supported", re.I), "the server does not offer STARTTLS"),
    (re.compile(r"WRONG_VERSION_NUMBER|wrong version number", re.I), "the server does not speak TLS on this port"),
    (re.compile(r"\b535\b|Authentication (credentials invalid|failed|unsuccessful)", re.I), "login refused"),
    (re.compile(r"AUTH extension not supported", re.I), "the server does not accept a login"),
)


_HTTP_STATUS = re.compile(r"^[^:]*(?::\s*(?P<text>.*?))?[.,\s]*error=(?P<code>\d{3})\b")


def _http_status(code: int, said: str) -> str:
    """``HTTP 400 Bad Request``, with what the server said when it is more than Apprise's stock phrase."""
    phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else ""
    said = said.strip().rstrip(".")
    stock = str(NotifyBase.http_response_code_lookup(code)).strip().rstrip(".")  # type: ignore[no-untyped-call]
    if not said or said.lower() in (stock.lower(), phrase.lower()):
        return f"HTTP {code} {phrase}".rstrip()
    if phrase and said.lower().startswith(phrase.lower()):
        return f"HTTP {code} {said}"
    return f"HTTP {code} {phrase} ({said})".replace("  ", " ")


def _reason(records: list[logging.LogRecord], where: str) -> str:
    """Why Apprise's send failed, in plain words: the HTTP status, or the cause of a socket error.

    Apprise's own warning ("Failed to send JSON POST notification...") is the last resort: it
    names Apprise's plugin, not what a person configured.
    """
    warnings = [r.getMessage().strip() for r in records if r.levelno >= logging.WARNING]
    details = [r.getMessage() for r in records if r.levelno < logging.WARNING and "Exception" in r.getMessage()]
    for warning in warnings:
        if status := _HTTP_STATUS.match(warning):
            return f"{where} answered {_http_status(int(status['code']), status['text'] or '')}"
    causes = [plain for text in details for pattern, plain in _CAUSES if pattern.search(text)]
    if causes:
        return f"{causes[0]} ({where})"
    said = "; ".join(dict.fromkeys(warnings)) or "the notice was not accepted"
    if details:
        return f"{said.rstrip('.')}: {details[-1].split(':', 1)[-1].strip()}"
    return said


def _scrub(text: str, secrets: list[str]) -> str:
    """``text`` without any secret of the channel (an HTTP error quotes the URL, token and all)."""
    for secret in sorted(secrets, key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(form, "***")
    return text


def _message(kind: str, notice: Notice) -> tuple[str, str, NotifyFormat]:
    """Title, body and its format as the channel should get them.

    Webhook and ntfy carry the dashboard link in a field of their own; the others read it at the
    end of the body. Telegram is sent as HTML (Apprise's default there), so the text is escaped;
    CallMeBot has no title, so the title leads the text.
    """
    body = notice.body
    if notice.url and kind not in ("webhook", "ntfy"):
        body = f"{body}\n{notice.url}"
    if kind == "telegram":
        return html.escape(notice.title, quote=False), html.escape(body, quote=False), NotifyFormat.HTML
    if kind == "whatsapp":
        return "", f"{notice.title}\n{body}" if notice.title else body, NotifyFormat.TEXT
    return notice.title, body, NotifyFormat.TEXT


def deliver(kind: str, config: dict[str, Any], notice: Notice, *, timeout_s: float = 10.0) -> Delivery:
    """Send ``notice`` through one channel of ``kind`` configured by ``config``.

    Bad settings come back as ``Delivery(ok=False)`` naming the field, like any other failure,
    so a channel saved before a rule changed cannot stop the others.
    """
    try:
        clean = validate_config(kind, config)
    except ValueError as exc:
        return Delivery(ok=False, error=str(exc))
    secrets = secret_values(kind, clean)
    title, body, body_format = _message(kind, notice)
    with _reasons.collect() as records:
        try:
            service = apprise_service(kind, clean, severity=notice.severity, link=notice.url, timeout_s=timeout_s)
            sent = bool(
                service.notify(
                    body=body, title=title, notify_type=_NOTIFY_TYPE[notice.severity], body_format=body_format
                )
            )
        except Exception as exc:  # the contract: a channel's failure is reported, never raised
            error = f"{LABELS[kind]}: {_scrub(f'{type(exc).__name__}: {exc}', secrets)}"
            log.warning("channel failed unexpectedly: %s", error)
            log.debug("the unexpected %s failure", kind, exc_info=True)  # may quote a secret: debug only
            return Delivery(ok=False, error=error)
    if sent:
        return Delivery(ok=True)
    return Delivery(ok=False, error=f"{LABELS[kind]}: {_scrub(_reason(records, endpoint(kind, clean)), secrets)}")
