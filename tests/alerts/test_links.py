"""A notice links to its alert on the dashboard when the dashboard's public address is set
(``Settings.public_url``): every channel carries the link where its reader finds it, and the
link opens that alert (through the sign-in page). Unset, notices carry no link.

The channels' far ends are real servers on this machine (``tests/alerts/channel_servers.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from alerts.alert_world import OVER_POWER, SECOND, AlertWorld, alert_world
from alerts.channel_servers import Mailbox, Receiver
from wattwise.runtime import Services

PUBLIC = "https://wattwise.example.org/home"


def every_kind_of_channel(aw: AlertWorld, mailbox: Mailbox, receiver: Receiver) -> list[int]:
    """One channel of each kind on site A, each to a real server here; their ids."""
    configs: dict[str, dict[str, Any]] = {
        "email": {
            "host": "127.0.0.1",
            "port": mailbox.port,
            "tls": "none",
            "from": "ww@home.example",
            "to": "me@home.example",
        },
        "webhook": {"url": aw.hook_url},
        "ntfy": {"server_url": receiver.url, "topic": "wattwise-home"},
        "telegram": {"bot_token": "123456789:AAH-fake", "chat_id": "-100123", "api_base_url": receiver.url},
        "whatsapp": {"phone": "+34644123456", "apikey": "1234567", "gateway_url": receiver.url},
    }
    return [
        int(
            aw.ok(
                "POST",
                "/api/v1/alert-channels",
                json={"site_id": aw.world.site_a, "name": kind, "kind": kind, "config": config},
            )["id"]
        )
        for kind, config in configs.items()
    ]


def overload(aw: AlertWorld, channel_ids: list[int]) -> dict[str, Any]:
    """Meter A above 2 kW for 30 s under a rule telling every channel: the alert it raised."""
    aw.rule(name="Overload", kind="threshold", params=OVER_POWER, channel_ids=channel_ids)
    aw.power(aw.clock.now - 60 * SECOND, [2450.0] * 8)
    (alert,) = aw.alerts()
    return alert  # type: ignore[no-any-return]


def by_path(receiver: Receiver) -> dict[str, Any]:
    """The last request the HTTP receiver got on each path (ntfy, Telegram and CallMeBot)."""
    return {urlsplit(r.path).path: r for r in receiver.requests}


def test_every_channel_carries_the_link_to_the_alert_and_the_link_opens_it(
    services: Services, mailbox: Mailbox, receiver: Receiver
) -> None:
    services.settings = services.settings.model_copy(update={"public_url": PUBLIC})
    with alert_world(services) as aw:
        alert = overload(aw, every_kind_of_channel(aw, mailbox, receiver))
        link = f"{PUBLIC}/alerts?alert={alert['id']}"

        (mail,) = mailbox.messages
        assert mail.get_content().replace("\r\n", "\n").strip().splitlines()[-1] == link
        (hook,) = aw.received
        assert hook["url"] == link
        sent = by_path(receiver)
        assert sent["/"].headers["X-Click"] == link  # ntfy: tapping the notification opens it
        assert sent["/bot123456789:AAH-fake/sendMessage"].json()["text"].endswith(f"\n{link}")
        assert sent["/whatsapp.php"].query()["text"][0].endswith(f"\n{link}")
        assert all(d["ok"] for d in aw.ok("GET", f"/api/v1/alerts/{alert['id']}")["deliveries"])

        # the dashboard answers the link's path: signed out, through the sign-in and back to it
        path = urlsplit(link).path.removeprefix(urlsplit(PUBLIC).path) + "?" + urlsplit(link).query
        answer = aw.client.get(path, follow_redirects=False)
        assert answer.headers["location"] == f"/login?next={quote(path)}"
        form = {"username": "viewer", "password": "viewer-password", "next": path}  # what /login posts
        signed_in = aw.client.post("/api/v1/session", data=form, follow_redirects=False)
        assert signed_in.headers["location"] == path
        page = aw.client.get(path)
        assert page.status_code == 200 and alert["message"] in page.text and "All alerts" in page.text


def test_a_test_notice_links_to_the_channels_page(services: Services, receiver: Receiver) -> None:
    services.settings = services.settings.model_copy(update={"public_url": PUBLIC})
    with alert_world(services) as aw:
        channel = aw.channel()
        assert aw.ok("POST", f"/api/v1/alert-channels/{channel}/test")["ok"]
        (hook,) = aw.received
        assert hook["url"] == f"{PUBLIC}/alerts/settings?site={aw.world.site_a}"


def test_without_the_public_address_notices_carry_no_link(
    services: Services, mailbox: Mailbox, receiver: Receiver
) -> None:
    assert services.settings.public_url == ""
    with alert_world(services) as aw:
        alert = overload(aw, every_kind_of_channel(aw, mailbox, receiver))

        (mail,) = mailbox.messages
        assert mail.get_content().replace("\r\n", "\n").strip() == alert["message"]
        (hook,) = aw.received
        assert "url" not in hook
        sent = by_path(receiver)
        assert "X-Click" not in sent["/"].headers
        assert "http" not in sent["/bot123456789:AAH-fake/sendMessage"].json()["text"]
        assert sent["/whatsapp.php"].query()["text"] == [f"Wattwise: Overload\n{alert['message']}"]
