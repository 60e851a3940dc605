"""The far ends of the alert channels, one per test: ``receiver`` (HTTP) and ``mailbox`` (SMTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerts.channel_servers import Mailbox, Receiver, mail_server, receiving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as rec:
        yield rec


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with mail_server() as box:
        yield box
