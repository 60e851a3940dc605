"""Small interactions every admin page shares: run a change and say plainly if it failed,
show a secret once, invite someone."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from nicegui import Client, ui
from sqlalchemy import Connection

from wattwise.runtime import Services
from wattwise.store import members as member_store
from wattwise.store.errors import NotFound
from wattwise.ui.context import SignedIn


def run_store(services: Services, action: str, work: Callable[[Connection], object]) -> bool:
    """Run ``work(conn)`` in a transaction; tell the user plainly what went wrong, if anything."""
    try:
        with services.engine.begin() as conn:
            work(conn)
    except (ValueError, NotFound) as exc:  # Conflict is a ValueError
        ui.notify(f"{action}: {exc}", type="negative", multi_line=True)
        return False
    return True


# Select the secret's text (so it can be copied by hand if all else fails), then copy it: the
# Clipboard API exists only in secure contexts (HTTPS or localhost), not on a phone that opens
# http://192.168.1.20:8000, where the older execCommand still copies the selection.
COPY_JS = """
const element = getHtmlElement(%s);
const input = element.tagName === 'INPUT' ? element : element.querySelector('input');
input.focus(); input.select();
if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(%s); return true; } catch (e) {}
}
try { return document.execCommand('copy'); } catch (e) { return false; }
"""


def shown_once(client: Client, title: str, secret: str, hint: str) -> None:
    """A dialog with a secret the server keeps only as a hash: copy it now or issue a new one."""
    # In the page's layout: the element that asked may just have been refreshed away.
    with client.layout, ui.dialog(value=True) as dialog, ui.card().classes("q-pa-lg").style("max-width: 560px"):
        ui.label(title).classes("text-h6")
        ui.label("Copy it now: it is shown only this once.").classes("text-warning")
        field = ui.input(value=secret).props('readonly outlined dense data-testid="secret"').classes("w-full")
        field.mark("secret")
        ui.markdown(hint).classes("ww-muted")

        async def copy() -> None:
            try:
                copied = await ui.run_javascript(COPY_JS % (field.id, json.dumps(secret)), timeout=3.0)
            except TimeoutError:
                copied = False
            if copied:
                ui.notify("Copied", type="positive")
            else:
                ui.notify(
                    "This browser did not let the page copy: the text is selected, copy it yourself", type="warning"
                )

        with ui.row().classes("w-full justify-end"):
            ui.button("Copy", icon="content_copy", on_click=copy).props("flat")
            ui.button("Done", on_click=dialog.close).props("unelevated")


def invite(page: SignedIn, username: str, hint: str, **where: Any) -> bool:
    """Create an account (``site_id``/``role`` or ``is_admin`` in ``where``) and show its first password."""
    made: list[member_store.Invitation] = []

    def work(conn: Connection) -> None:
        made.append(member_store.invite_user(conn, username, **where))

    if not run_store(page.services, "Could not invite", work):
        return False
    first = made[0].password
    assert first is not None, "the dashboard lets the server make up the first password"
    shown_once(page.client, f"First password for {made[0].user.username}", first, hint)
    return True
