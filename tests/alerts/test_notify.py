"""Delivering an alert notice through each channel to real servers on this machine.

E-mail goes to a real SMTP server (aiosmtpd); webhook, ntfy, Telegram and WhatsApp go to a real
HTTP receiver standing in for the public service, which records the exact request it gets.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from alerts.channel_servers import LOGIN, PASSWORD, Mailbox, Receiver
from support import free_port
from wattwise.alerts.notify import Delivery, Notice, deliver

NOTICE = Notice(
    title="Over power on Kitchen",
    body="P = 3.2 kW above 3.0 kW for 60 s",
    severity="critical",
    url="https://wattwise.example.org/alerts?alert=7",
)


def _email(port: int, **overrides: Any) -> dict[str, Any]:
    config = {
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "from": "wattwise@home.example",
        "to": ["owner@home.example", "Partner <partner@home.example>"],
    }
    return config | overrides


# --- e-mail ----------------------------------------------------------------------------------


def test_email_reaches_the_smtp_server_with_sender_recipients_subject_and_body(mailbox: Mailbox) -> None:
    result = deliver("email", _email(mailbox.port), NOTICE, timeout_s=5)

    assert result == Delivery(ok=True)
    # Apprise mails each recipient on their own, so no one sees the others' addresses.
    assert mailbox.envelopes == [
        ("wattwise@home.example", ["owner@home.example"]),
        ("wattwise@home.example", ["partner@home.example"]),
    ]
    assert [m["To"] for m in mailbox.messages] == ["owner@home.example", "Partner <partner@home.example>"]
    for message in mailbox.messages:
        assert message["From"] == "wattwise@home.example"
        assert message["Subject"] == "Over power on Kitchen"
        assert message.get_content_type() == "text/plain"
        assert (
            message.get_content().replace("\r\n", "\n").strip()
            == "P = 3.2 kW above 3.0 kW for 60 s\nhttps://wattwise.example.org/alerts?alert=7"
        )


@pytest.mark.parametrize(
    ("severity", "priority", "importance"),
    [("info", "5", "low"), ("warning", None, None), ("critical", "1", "high")],
    ids=["info", "warn", "crit"],
)
def test_email_priority_follows_the_severity(
    mailbox: Mailbox, severity: str, priority: str | None, importance: str | None
) -> None:
    notice = Notice(NOTICE.title, NOTICE.body, severity)  # type: ignore[arg-type]

    assert deliver("email", _email(mailbox.port, to=["owner@home.example"]), notice, timeout_s=5).ok

    [message] = mailbox.messages
    assert (message["X-Priority"], message["Importance"]) == (priority, importance)


def test_email_logs_in_with_the_configured_account(mailbox: Mailbox) -> None:
    config = _email(mailbox.port, username=LOGIN, password=PASSWORD)

    assert deliver("email", config, NOTICE, timeout_s=5).ok
    assert mailbox.logins == [(LOGIN, True)]
    assert len(mailbox.messages) == 2


def test_a_refused_login_is_reported_and_nothing_is_sent(mailbox: Mailbox) -> None:
    config = _email(mailbox.port, username=LOGIN, password="wrong")

    result = deliver("email", config, NOTICE, timeout_s=5)

    assert not result.ok
    assert result.error == f"E-mail: login refused (127.0.0.1:{mailbox.port})"
    assert mailbox.logins and set(mailbox.logins) == {(LOGIN, False)}  # smtplib tries PLAIN, then LOGIN
    assert mailbox.messages == []


def test_starttls_asked_of_a_server_without_it_is_reported(mailbox: Mailbox) -> None:
    result = deliver("email", _email(mailbox.port, tls="starttls"), NOTICE, timeout_s=5)

    assert result == Delivery(ok=False, error=f"E-mail: the server does not offer STARTTLS (127.0.0.1:{mailbox.port})")
    assert mailbox.messages == []


def test_an_smtp_server_that_never_greets_is_given_up_after_the_timeout() -> None:
    with socket.socket() as silent:  # listening, so connecting succeeds, but nothing ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()

        result = deliver("email", _email(port), NOTICE, timeout_s=0.5)

        assert time.monotonic() - started < 2.0
    assert result == Delivery(ok=False, error=f"E-mail: timed out (127.0.0.1:{port})")


def test_email_to_a_closed_port_is_a_failed_delivery_not_an_exception() -> None:
    port = free_port()

    result = deliver("email", _email(port), NOTICE, timeout_s=5)

    assert result == Delivery(ok=False, error=f"E-mail: connection refused (127.0.0.1:{port})")


# --- webhook ---------------------------------------------------------------------------------


def test_webhook_posts_the_notice_as_json_with_the_configured_headers(receiver: Receiver) -> None:
    config = {"url": f"{receiver.url}/hooks/wattwise?site=home", "headers": {"X-Token": "s3cret-token"}}

    assert deliver("webhook", config, NOTICE, timeout_s=5) == Delivery(ok=True)

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hooks/wattwise?site=home")
    assert request.headers["X-Token"] == "s3cret-token"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "version": "1.0",
        "title": "Over power on Kitchen",
        "message": "P = 3.2 kW above 3.0 kW for 60 s",
        "attachments": [],
        "type": "failure",
        "severity": "critical",
        "url": "https://wattwise.example.org/alerts?alert=7",
    }


def test_a_webhook_answering_500_is_reported_with_the_status(receiver: Receiver) -> None:
    receiver.status = 500
    host = urlsplit(receiver.url).netloc

    result = deliver("webhook", {"url": f"{receiver.url}/hook"}, NOTICE, timeout_s=5)

    assert result == Delivery(ok=False, error=f"Webhook: {host} answered HTTP 500 Internal Server Error")


def test_a_slow_webhook_is_given_up_after_the_timeout(receiver: Receiver) -> None:
    receiver.delay_s = 3.0
    started = time.monotonic()

    result = deliver("webhook", {"url": f"{receiver.url}/hook"}, NOTICE, timeout_s=0.5)

    assert time.monotonic() - started < 2.0
    assert result.ok is False
    assert result.error is not None and result.error.startswith("Webhook: timed out")


def test_a_server_that_hangs_up_is_reported(receiver: Receiver) -> None:
    receiver.hang_up = True

    result = deliver("webhook", {"url": f"{receiver.url}/hook"}, NOTICE, timeout_s=5)

    assert result.ok is False
    assert result.error is not None
    assert result.error.startswith("Webhook: the server closed the connection without answering")


# --- ntfy ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "priority"), [("info", None), ("warning", "high"), ("critical", "max")], ids=["info", "warn", "crit"]
)
def test_ntfy_publishes_to_the_topic_with_the_severity_as_priority(
    receiver: Receiver, severity: str, priority: str | None
) -> None:
    config = {"server_url": receiver.url, "topic": "wattwise-home", "token": "tk_abc123"}
    notice = Notice(NOTICE.title, NOTICE.body, severity, NOTICE.url)  # type: ignore[arg-type]

    assert deliver("ntfy", config, notice, timeout_s=5).ok

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/")
    assert request.json() == {
        "topic": "wattwise-home",
        "title": "Over power on Kitchen",
        "message": "P = 3.2 kW above 3.0 kW for 60 s",
    }
    assert request.headers.get("X-Priority") == priority  # ntfy's "default" goes without a header
    assert request.headers["X-Click"] == "https://wattwise.example.org/alerts?alert=7"
    assert request.headers["Authorization"] == "Bearer tk_abc123"
    assert "X-Icon" not in request.headers  # nothing for the phone to fetch from the internet


def test_ntfy_server_down_is_reported() -> None:
    port = free_port()

    result = deliver("ntfy", {"server_url": f"http://127.0.0.1:{port}", "topic": "t"}, NOTICE, timeout_s=5)

    assert result == Delivery(ok=False, error=f"ntfy: connection refused (127.0.0.1:{port})")


# --- Telegram --------------------------------------------------------------------------------


def _telegram(receiver: Receiver) -> dict[str, Any]:
    return {"bot_token": "123456789:AAH-fake_token", "chat_id": "-1001234567890", "api_base_url": receiver.url}


def test_telegram_calls_send_message_of_the_bot_for_the_chat(receiver: Receiver) -> None:
    assert deliver("telegram", _telegram(receiver), NOTICE, timeout_s=5).ok

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/bot123456789:AAH-fake_token/sendMessage")
    sent = request.json()
    assert sent["chat_id"] == -1001234567890
    assert sent["parse_mode"] == "HTML"
    assert sent["text"] == (
        "<b>Over power on Kitchen</b>\r\nP = 3.2 kW above 3.0 kW for 60 s\nhttps://wattwise.example.org/alerts?alert=7"
    )


def test_telegram_text_is_escaped_so_comparisons_do_not_break_its_html(receiver: Receiver) -> None:
    notice = Notice("PF < 0.8 & falling", "PF 0.62 <limit 0.8>", "warning")

    assert deliver("telegram", _telegram(receiver), notice, timeout_s=5).ok

    assert receiver.requests[0].json()["text"] == "<b>PF &lt; 0.8 &amp; falling</b>\r\nPF 0.62 &lt;limit 0.8&gt;"


def test_telegram_refusal_names_the_status_and_the_reason_and_hides_the_token(receiver: Receiver) -> None:
    receiver.status = 400
    receiver.reply = {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    host = urlsplit(receiver.url).netloc

    result = deliver("telegram", _telegram(receiver), NOTICE, timeout_s=5)

    assert result == Delivery(ok=False, error=f"Telegram: {host} answered HTTP 400 Bad Request: chat not found")


# --- WhatsApp through CallMeBot --------------------------------------------------------------


def test_whatsapp_is_the_callmebot_get_request(receiver: Receiver) -> None:
    config = {"phone": "+34 644 12 34 56", "apikey": "1234567", "gateway_url": receiver.url}

    assert deliver("whatsapp", config, NOTICE, timeout_s=5).ok

    [request] = receiver.requests
    assert request.method == "GET"
    assert urlsplit(request.path).path == "/whatsapp.php"
    assert request.query() == {
        "phone": ["+34644123456"],
        "apikey": ["1234567"],
        "text": [
            "Over power on Kitchen\nP = 3.2 kW above 3.0 kW for 60 s\nhttps://wattwise.example.org/alerts?alert=7"
        ],
    }


def test_whatsapp_gateway_answering_500_is_reported_without_the_api_key(receiver: Receiver) -> None:
    receiver.status = 500
    config = {"phone": "+34644123456", "apikey": "1234567", "gateway_url": receiver.url}

    result = deliver("whatsapp", config, NOTICE, timeout_s=5)

    assert result.ok is False
    assert result.error == f"WhatsApp: {urlsplit(receiver.url).netloc} answered HTTP 500 Internal Server Error"


# --- the contract ----------------------------------------------------------------------------


def test_bad_settings_are_a_failed_delivery_naming_the_field(receiver: Receiver) -> None:
    result = deliver("ntfy", {"server_url": receiver.url, "topic": "no spaces allowed"}, NOTICE)

    assert result.ok is False
    assert result.error is not None and result.error.startswith("ntfy.topic: ")
    assert receiver.requests == []


def test_an_unknown_kind_is_a_failed_delivery() -> None:
    result = deliver("pigeon", {}, NOTICE)

    assert result.ok is False
    assert result.error is not None and result.error.startswith("kind: unknown channel kind 'pigeon'")


def test_concurrent_deliveries_each_get_their_own_reason(receiver: Receiver) -> None:
    receiver.status = 503
    closed = free_port()
    results: dict[str, Delivery] = {}

    def send(name: str, kind: str, config: dict[str, Any]) -> None:
        results[name] = deliver(kind, config, NOTICE, timeout_s=5)

    threads = [
        threading.Thread(target=send, args=(f"hook{i}", "webhook", {"url": f"{receiver.url}/h{i}"})) for i in range(4)
    ] + [
        threading.Thread(
            target=send, args=(f"ntfy{i}", "ntfy", {"server_url": f"http://127.0.0.1:{closed}", "topic": "t"})
        )
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    host = urlsplit(receiver.url).netloc
    for i in range(4):
        assert results[f"hook{i}"].error == f"Webhook: {host} answered HTTP 503 Service Unavailable"
        assert results[f"ntfy{i}"].error == f"ntfy: connection refused (127.0.0.1:{closed})"


def test_the_applications_logging_of_apprise_is_left_as_it_was(receiver: Receiver) -> None:
    apprise_log = logging.getLogger("apprise")
    before = (apprise_log.level, list(apprise_log.filters))

    deliver("webhook", {"url": f"{receiver.url}/h"}, NOTICE, timeout_s=5)

    assert (apprise_log.level, list(apprise_log.filters)) == before
