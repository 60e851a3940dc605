"""What each notification channel needs to be configured, and the Apprise service that reaches it.

A channel is a ``kind`` (one of ``CHANNEL_KINDS``) plus a plain dict of settings, so the alert
store can keep it as JSON. ``validate_config`` is the one gate a dict passes before it is stored
or used; ``redacted`` is what the REST API may show of it; ``apprise_service`` turns it into the
Apprise plugin that sends (Apprise owns every protocol client; we only build its URL).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

import apprise
from apprise import NotifyBase
from apprise.plugins.telegram import NotifyTelegram
from apprise.utils.parse import is_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

CHANNEL_KINDS = ("email", "webhook", "ntfy", "telegram", "whatsapp")

MASK = "***"

# ntfy's own notion of urgency for each alert severity (ntfy: min, low, default, high, max).
NTFY_PRIORITY = {"info": "default", "warning": "high", "critical": "max"}
# Mail clients' (X-Priority 1 highest .. 5 lowest, and Outlook's Importance); a warning is normal.
EMAIL_PRIORITY = {
    "info": {"X-Priority": "5", "Importance": "low"},
    "critical": {"X-Priority": "1", "Importance": "high"},
}

_DEFAULT_SMTP_PORT = {"none": 25, "starttls": 587, "ssl": 465}
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def _http_url(value: str, *, path: bool) -> str:
    """An http(s) URL with a host; without a path, query or credentials unless ``path``."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError("has an invalid port") from None
    if parts.fragment:
        raise ValueError("must not have a #fragment (it is never sent)")
    if not path and (parts.path.strip("/") or parts.query or parts.username):
        raise ValueError("must be the server's base URL only (no path, query or credentials)")
    return value.rstrip("/") if not parts.query else value


def _shaped(pattern: str, rule: str) -> AfterValidator:
    """A check that text matches ``pattern``, failing with ``rule`` in plain words."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


def _email_address(value: str) -> str:
    """An address Apprise will mail (``a@b.org`` or ``Name <a@b.org>``), by the rule Apprise applies."""
    if not is_email(value):  # type: ignore[no-untyped-call]
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _text_of_int(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _comma_list(value: Any) -> Any:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


Host = Annotated[str, _shaped(r"^[A-Za-z0-9._-]+$", "must be a host name or IPv4 address, without scheme or port")]
EmailAddress = Annotated[str, AfterValidator(_email_address)]
Url = Annotated[str, AfterValidator(lambda value: _http_url(value, path=True))]
ServerUrl = Annotated[str, AfterValidator(lambda value: _http_url(value, path=False))]
NtfyTopic = Annotated[str, _shaped(r"^[-_A-Za-z0-9]{1,64}$", "must be 1 to 64 letters, digits, '-' or '_'")]
BotToken = Annotated[
    str, _shaped(r"^[0-9]+:[A-Za-z0-9_-]+$", "must look like '123456789:AAH...' as BotFather gives it")
]
ChatId = Annotated[
    str,
    BeforeValidator(_text_of_int),
    _shaped(r"^(-?[0-9]{1,32}|@[A-Za-z][A-Za-z0-9_]{3,})$", "must be a numeric chat id or a @channelname"),
]
Phone = Annotated[
    str,
    BeforeValidator(lambda value: re.sub(r"[\s().-]", "", value) if isinstance(value, str) else value),
    _shaped(r"^\+[0-9]{6,15}$", "must be in international format with country code, e.g. +34123456789"),
]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


class EmailConfig(_Config):
    """An SMTP server account that sends the alert mail."""

    host: Host
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: EmailAddress = Field(alias="from")
    to: Annotated[list[EmailAddress], BeforeValidator(_comma_list)] = Field(min_length=1)

    @model_validator(mode="after")
    def _defaults(self) -> EmailConfig:
        if self.password and not self.username:
            raise ValueError("password: given without a username")
        if self.port is None:
            self.port = _DEFAULT_SMTP_PORT[self.tls]
        return self


class WebhookConfig(_Config):
    """Any HTTP endpoint that takes a JSON POST."""

    url: Url
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _once_each(cls, value: str) -> str:
        keys = [key for key, _ in parse_qsl(urlsplit(value).query, keep_blank_values=True)]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"a query parameter given more than once is not supported: {', '.join(repeated)}")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if "\r" in text or "\n" in text:
                raise ValueError(f"the value of {name!r} must be one line")
        return value


class NtfyConfig(_Config):
    """A topic on ntfy.sh or on a self-hosted ntfy server."""

    server_url: ServerUrl = "https://ntfy.sh"
    topic: NtfyTopic
    token: str | None = None


class TelegramConfig(_Config):
    """A Telegram bot and the chat (user, group or @channel) it writes to."""

    bot_token: BotToken
    chat_id: ChatId
    api_base_url: Url | None = None  # a self-hosted Bot API server; None means api.telegram.org


class WhatsAppConfig(_Config):
    """A phone registered with the CallMeBot WhatsApp gateway and the API key it was sent."""

    phone: Phone
    apikey: str = Field(min_length=1)
    gateway_url: Url = "https://api.callmebot.com"


_MODELS: dict[str, type[_Config]] = {
    "email": EmailConfig,
    "webhook": WebhookConfig,
    "ntfy": NtfyConfig,
    "telegram": TelegramConfig,
    "whatsapp": WhatsAppConfig,
}

# The settings a person must never see again once saved.
_SECRET_FIELDS = {"email": ("password",), "ntfy": ("token",), "telegram": ("bot_token",), "whatsapp": ("apikey",)}
# Shared secrets only administrators see: whoever knows an ntfy topic reads its notices, yet
# someone has to be able to give it to the phones that subscribe.
_ADMIN_ONLY_FIELDS = {"ntfy": ("topic",)}


def _model(kind: str) -> type[_Config]:
    if kind not in _MODELS:
        raise ValueError(f"kind: unknown channel kind {kind!r}; expected one of {', '.join(CHANNEL_KINDS)}")
    return _MODELS[kind]


def _field_path(kind: str, loc: tuple[int | str, ...], model: type[_Config]) -> str:
    """``email.to[1]``: the field as a person writes it ("from", not the model's ``sender``)."""
    path = kind
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            field = model.model_fields.get(part) if i == 0 else None
            path += "." + ((field.alias if field else None) or part)
    return path


def validate_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The normalised settings of one channel, or ValueError naming each bad field ("email.to: ...")."""
    model = _model(kind)
    if not isinstance(config, dict):
        raise ValueError(f"{kind}: settings must be a JSON object, got {type(config).__name__}")
    try:
        parsed = model.model_validate(config)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            message = err["msg"].removeprefix("Value error, ")
            if not err["loc"] and ": " in message:  # a whole-model rule names its field itself
                field, message = message.split(": ", 1)
                problems.append(f"{kind}.{field}: {message}")
            else:
                problems.append(f"{_field_path(kind, tuple(err['loc']), model)}: {message}")
        raise ValueError("; ".join(problems)) from None
    return parsed.model_dump(by_alias=True)


def _mask_url(url: str) -> str:
    """Scheme, host and port of a webhook URL; its credentials, path and query may carry a token."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    if parts.username:
        netloc = f"{parts.username}:{MASK}@{netloc}" if parts.password else f"{parts.username}@{netloc}"
    hidden = "/" + MASK if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{netloc}{hidden}"


def redacted(kind: str, config: dict[str, Any], *, admin: bool = False) -> dict[str, Any]:
    """The channel's settings as REST may show them: every password, token and key masked,
    and to anyone but an ``admin`` the shared secrets too (an ntfy topic)."""
    shown = validate_config(kind, config)
    for name in (*_SECRET_FIELDS.get(kind, ()), *(() if admin else _ADMIN_ONLY_FIELDS.get(kind, ()))):
        if shown.get(name):
            shown[name] = MASK
    if kind == "webhook":
        shown["url"] = _mask_url(shown["url"])
        shown["headers"] = dict.fromkeys(shown["headers"], MASK)
    return shown


def shown(kind: str, config: dict[str, Any], *, admin: bool = False) -> dict[str, Any]:
    """Stored settings as a person may see them (REST and the dashboard): ``redacted``; settings
    stored before a rule of their kind changed show which fields there are, not what."""
    try:
        return redacted(kind, config, admin=admin)
    except ValueError:
        return dict.fromkeys(config, MASK)


def masked_fields(kind: str, config: dict[str, Any]) -> list[str]:
    """The settings (checked or not) that hold the mask ``redacted`` shows in place of a secret,
    named as errors name them (``password``, ``url``, ``headers.X-Key``)."""
    names = [name for name, value in config.items() if value == MASK]
    if kind == "webhook":
        if isinstance(config.get("url"), str) and MASK in config["url"]:
            names.append("url")
        headers = config.get("headers")
        if isinstance(headers, dict):
            names += [f"headers.{k}" for k, v in headers.items() if v == MASK]
    return names


def secret_values(kind: str, config: dict[str, Any]) -> list[str]:
    """The secret strings in validated settings, so text shown to people (errors) can be scrubbed."""
    values = [str(config[name]) for name in _SECRET_FIELDS.get(kind, ()) if config.get(name)]
    if kind == "webhook":
        parts = urlsplit(config["url"])
        values += [v for v in (parts.password, parts.path.strip("/"), parts.query) if v]
        values += [v for v in config["headers"].values() if v]
    return values


LABELS = {"email": "E-mail", "webhook": "Webhook", "ntfy": "ntfy", "telegram": "Telegram", "whatsapp": "WhatsApp"}


def endpoint(kind: str, config: dict[str, Any]) -> str:
    """The server a validated channel talks to, as ``host:port``, for messages to people."""
    if kind == "email":
        return f"{config['host']}:{config['port']}"
    url = {
        "webhook": config.get("url"),
        "ntfy": config.get("server_url"),
        "telegram": config.get("api_base_url") or "https://api.telegram.org",
        "whatsapp": config.get("gateway_url"),
    }[kind]
    parts = urlsplit(str(url))
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


_SERVER_FIELDS = {"webhook": "url", "ntfy": "server_url", "telegram": "api_base_url", "whatsapp": "gateway_url"}
_SERVER_DEFAULTS = {
    "ntfy": "https://ntfy.sh",
    "telegram": "https://api.telegram.org",
    "whatsapp": "https://api.callmebot.com",
}


def destination(kind: str, config: dict[str, Any]) -> tuple[Any, ...]:
    """Where settings (checked or not) send a channel's secrets: the server and how it is
    reached, so a secret kept from before is never handed to another one."""
    if kind == "email":
        tls = config.get("tls") or "starttls"
        return (str(config.get("host") or "").strip().lower(), config.get("port") or _DEFAULT_SMTP_PORT.get(tls), tls)
    url = config.get(_SERVER_FIELDS.get(kind, "")) or _SERVER_DEFAULTS.get(kind, "")
    parts = urlsplit(str(url).strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))


def _q(value: str) -> str:
    return quote(value, safe="")


def _email_url(c: dict[str, Any], extra: dict[str, str]) -> str:
    auth = ""
    if c["username"]:
        auth = _q(c["username"]) + (f":{_q(c['password'])}" if c["password"] else "") + "@"
    scheme = "mailto" if c["tls"] == "none" else "mailtos"
    mode = {"none": "insecure", "starttls": "starttls", "ssl": "ssl"}[c["tls"]]
    query = {"smtp": c["host"], "from": c["from"], "to": ",".join(c["to"]), "mode": mode, "format": "text", **extra}
    return f"{scheme}://{auth}{c['host']}:{c['port']}/?{_query(query)}"


def _webhook_url(c: dict[str, Any], extra: dict[str, str]) -> str:
    parts = urlsplit(c["url"])
    auth = ""
    if parts.username:
        auth = parts.username + (f":{parts.password}" if parts.password else "") + "@"
    port = f":{parts.port}" if parts.port else ""
    query = {f"-{k}": v for k, v in parse_qsl(parts.query, keep_blank_values=True)}  # "-": sent as-is
    query |= {f"+{k}": v for k, v in c["headers"].items()}  # "+": an HTTP header
    query |= extra
    scheme = "jsons" if parts.scheme == "https" else "json"
    return f"{scheme}://{auth}{parts.hostname}{port}{parts.path or '/'}?{_query(query)}"


def _ntfy_url(c: dict[str, Any], extra: dict[str, str]) -> str:
    parts = urlsplit(c["server_url"])
    port = f":{parts.port}" if parts.port else ""
    query = {"mode": "private", "image": "no"}  # image=no: no icon URL on github for phones to fetch
    if c["token"]:
        query |= {"auth": "token", "token": c["token"]}
    scheme = "ntfys" if parts.scheme == "https" else "ntfy"
    return f"{scheme}://{parts.hostname}{port}/{c['topic']}?{_query(query | extra)}"


def _telegram_url(c: dict[str, Any], extra: dict[str, str]) -> str:
    return f"tgram://{c['bot_token']}/{_q(c['chat_id'])}/?{_query({'detect': 'no', **extra})}"


def _whatsapp_url(c: dict[str, Any], extra: dict[str, str]) -> str:
    parts = urlsplit(c["gateway_url"])
    port = f":{parts.port}" if parts.port else ""
    # CallMeBot takes GET /whatsapp.php?phone=&text=&apikey=: Apprise's form:// with method=GET
    # sends its payload as the query; ":message=text" renames the body, ":title=" etc. drop the rest.
    query = {"method": "GET", ":message": "text", ":title": "", ":type": "", ":version": ""}
    query |= {"-phone": c["phone"], "-apikey": c["apikey"]}
    scheme = "forms" if parts.scheme == "https" else "form"
    return f"{scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}/whatsapp.php?{_query(query | extra)}"


def _query(items: dict[str, str]) -> str:
    return "&".join(f"{_q(k) if k[0] not in '-+:' else k[0] + _q(k[1:])}={_q(v)}" for k, v in items.items())


_URLS: dict[str, Callable[[dict[str, Any], dict[str, str]], str]] = {
    "email": _email_url,
    "webhook": _webhook_url,
    "ntfy": _ntfy_url,
    "telegram": _telegram_url,
    "whatsapp": _whatsapp_url,
}


def apprise_url(
    kind: str, config: dict[str, Any], *, severity: str = "warning", link: str | None = None, timeout_s: float = 10.0
) -> str:
    """The Apprise URL that sends one notice of ``severity`` through validated ``config``.

    ``timeout_s`` bounds connecting and each read (Apprise's ``cto`` and ``rto``). ``link`` and
    ``severity`` travel as fields where the channel has them: ntfy's click action and priority,
    the mail's X-Priority and Importance headers, the webhook's JSON ``url`` and ``severity``.
    """
    extra = {"cto": f"{timeout_s:g}", "rto": f"{timeout_s:g}"}
    if kind == "email":
        extra |= {f"+{name}": value for name, value in EMAIL_PRIORITY.get(severity, {}).items()}
    if kind == "ntfy":
        extra["priority"] = NTFY_PRIORITY[severity]
        if link:
            extra["click"] = link
    if kind == "webhook":
        extra[":severity"] = severity
        if link:
            extra[":url"] = link
    return _URLS[kind](config, extra)


def apprise_service(
    kind: str, config: dict[str, Any], *, severity: str = "warning", link: str | None = None, timeout_s: float = 10.0
) -> NotifyBase:
    """The Apprise plugin for validated ``config``; raises TypeError if Apprise refuses the URL.

    Telegram's server cannot be set in a ``tgram://`` URL, so a self-hosted Bot API server (or a
    test receiver) is reached by setting the plugin's ``notify_url``, the prefix it puts before
    ``<token>/sendMessage``.
    """
    url = apprise_url(kind, config, severity=severity, link=link, timeout_s=timeout_s)
    service = apprise.Apprise.instantiate(url, suppress_exceptions=False)
    if service is None:
        raise TypeError(f"Apprise did not accept the {kind} settings")
    if isinstance(service, NotifyTelegram) and config["api_base_url"]:
        service.notify_url = config["api_base_url"].rstrip("/") + "/bot"
    return service
