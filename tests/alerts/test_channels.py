"""Channel settings: what is accepted, how it is normalised, what REST may show of it."""

from __future__ import annotations

from typing import Any

import pytest

from wattwise.alerts.channels import CHANNEL_KINDS, MASK, apprise_service, redacted, validate_config

EMAIL = {"host": "smtp.example.org", "from": "wattwise@example.org", "to": ["me@example.org"]}


def _error(kind: str, config: Any) -> str:
    with pytest.raises(ValueError) as caught:
        validate_config(kind, config)
    return str(caught.value)


def test_the_five_kinds() -> None:
    assert CHANNEL_KINDS == ("email", "webhook", "ntfy", "telegram", "whatsapp")


@pytest.mark.parametrize(
    ("tls", "port"), [("none", 25), ("starttls", 587), ("ssl", 465)], ids=["plain", "starttls", "ssl"]
)
def test_email_port_defaults_to_the_one_of_its_tls_mode(tls: str, port: int) -> None:
    assert validate_config("email", EMAIL | {"tls": tls})["port"] == port


def test_email_settings_come_back_complete_with_from_as_written() -> None:
    clean = validate_config("email", EMAIL | {"to": "me@example.org, Partner <you@example.org>"})

    assert clean == {
        "host": "smtp.example.org",
        "port": 587,
        "tls": "starttls",
        "username": None,
        "password": None,
        "from": "wattwise@example.org",
        "to": ["me@example.org", "Partner <you@example.org>"],
    }


@pytest.mark.parametrize(
    ("kind", "config", "expected"),
    [
        ("email", {"host": "smtp.example.org", "from": "wattwise@example.org"}, "email.to: Field required"),
        ("email", EMAIL | {"to": []}, "email.to: List should have at least 1 item"),
        (
            "email",
            EMAIL | {"to": ["me@example.org", "not-an-address"]},
            "email.to[1]: 'not-an-address' is not an e-mail address",
        ),
        ("email", EMAIL | {"from": "wattwise"}, "email.from: 'wattwise' is not an e-mail address"),
        ("email", EMAIL | {"tls": "tls"}, "email.tls: Input should be 'none', 'starttls' or 'ssl'"),
        ("email", EMAIL | {"port": 0}, "email.port: "),
        ("email", EMAIL | {"host": "smtp://smtp.example.org"}, "email.host: must be a host name"),
        ("email", EMAIL | {"password": "secret"}, "email.password: given without a username"),
        ("email", EMAIL | {"pasword": "secret"}, "email.pasword: Extra inputs are not permitted"),
        ("webhook", {"url": "ftp://example.org/in"}, "webhook.url: must be an http:// or https:// URL"),
        ("webhook", {"url": "https://example.org/in?a=1&a=2"}, "webhook.url: a query parameter given more than once"),
        ("webhook", {"url": "https://example.org", "headers": {"X Bad": "v"}}, "webhook.headers: 'X Bad' is not"),
        ("webhook", {"url": "https://example.org", "headers": {"X-A": "a\r\nX-B: b"}}, "webhook.headers: the value"),
        ("ntfy", {"topic": "has space"}, "ntfy.topic: must be 1 to 64 letters"),
        ("ntfy", {"topic": "t", "server_url": "https://ntfy.example.org/sub"}, "ntfy.server_url: must be the server"),
        ("telegram", {"bot_token": "nope", "chat_id": "1"}, "telegram.bot_token: must look like"),
        ("telegram", {"bot_token": "1:a", "chat_id": "me"}, "telegram.chat_id: must be a numeric chat id"),
        ("whatsapp", {"phone": "644123456", "apikey": "1"}, "whatsapp.phone: must be in international format"),
        ("whatsapp", {"phone": "+34644123456"}, "whatsapp.apikey: Field required"),
        ("pigeon", {}, "kind: unknown channel kind 'pigeon'; expected one of email, webhook, ntfy"),
        ("ntfy", ["t"], "ntfy: settings must be a JSON object, got list"),
    ],
)
def test_bad_settings_name_the_field(kind: str, config: Any, expected: str) -> None:
    assert _error(kind, config).startswith(expected)


def test_every_bad_field_is_named_at_once() -> None:
    message = _error("telegram", {"bot_token": "x", "chat_id": "y"})

    assert message.startswith("telegram.bot_token: ")
    assert "; telegram.chat_id: " in message


def test_public_services_are_the_defaults() -> None:
    assert validate_config("ntfy", {"topic": "home"})["server_url"] == "https://ntfy.sh"
    assert validate_config("whatsapp", {"phone": "+34644123456", "apikey": "1"})["gateway_url"] == (
        "https://api.callmebot.com"
    )
    telegram = validate_config("telegram", {"bot_token": "1:a", "chat_id": -100})
    assert telegram["api_base_url"] is None
    assert apprise_service("telegram", telegram).notify_url == "https://api.telegram.org/bot"  # type: ignore[attr-defined]


def test_a_self_hosted_ntfy_server_and_a_phone_written_with_spaces_are_normalised() -> None:
    assert validate_config("ntfy", {"topic": "home", "server_url": " http://ntfy.lan:8080/ "})["server_url"] == (
        "http://ntfy.lan:8080"
    )
    assert validate_config("whatsapp", {"phone": "+34 644-12 34 56", "apikey": "1"})["phone"] == "+34644123456"
    assert validate_config("telegram", {"bot_token": "1:a", "chat_id": -100123})["chat_id"] == "-100123"


@pytest.mark.parametrize(
    ("kind", "config", "secret_field"),
    [
        ("email", EMAIL | {"username": "alerts", "password": "hunter2"}, "password"),
        ("ntfy", {"topic": "home", "token": "tk_0123456789"}, "token"),
        ("telegram", {"bot_token": "123456789:AAH-secret", "chat_id": "42"}, "bot_token"),
        ("whatsapp", {"phone": "+34644123456", "apikey": "9876543"}, "apikey"),
    ],
)
def test_redacted_masks_the_secret_and_keeps_the_rest(kind: str, config: dict[str, Any], secret_field: str) -> None:
    clean = validate_config(kind, config)

    shown = redacted(kind, config, admin=True)  # even an administrator sees no secret

    assert shown[secret_field] == MASK
    assert {k: v for k, v in shown.items() if k != secret_field} == {
        k: v for k, v in clean.items() if k != secret_field
    }
    assert config[secret_field] != MASK  # the caller's settings are left alone


def test_an_ntfy_topic_is_shown_to_administrators_only() -> None:
    """Whoever knows the topic reads the notices; an administrator gives it to the phones."""
    config = {"server_url": "http://ntfy.lan:8080", "topic": "wattwise-home-5f3a"}

    assert redacted("ntfy", config)["topic"] == MASK
    assert redacted("ntfy", config, admin=True)["topic"] == "wattwise-home-5f3a"
    assert redacted("ntfy", config)["server_url"] == "http://ntfy.lan:8080"


def test_redacted_webhook_shows_only_where_it_goes() -> None:
    config = {
        "url": "https://bot:pa55@hooks.example.org:8443/services/T000/B000/XXXXSECRET?token=abc",
        "headers": {"Authorization": "Bearer abc", "X-Site": "home"},
    }

    shown = redacted("webhook", config)

    assert shown == {
        "url": f"https://bot:{MASK}@hooks.example.org:8443/{MASK}",
        "headers": dict.fromkeys(["Authorization", "X-Site"], MASK),
    }


def test_redacted_leaves_nothing_to_mask_alone() -> None:
    assert redacted("ntfy", {"topic": "home"})["token"] is None
    assert redacted("webhook", {"url": "http://10.0.0.2:9000"}) == {"url": "http://10.0.0.2:9000", "headers": {}}
