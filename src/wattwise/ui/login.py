"""The sign-in page: a plain HTML form posting to ``/api/v1/session``, which sets the session cookie.

A native form (not a script) signs in even before the page's scripts have loaded, and lets
password managers fill it in. Errors come back as ``?error=1``.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from wattwise.store.users import count_users
from wattwise.ui import context
from wattwise.ui.frame import CSS


def register() -> None:
    ui.page("/login", title="Sign in · Wattwise")(login_page)


def login_page(request: Request) -> RedirectResponse | None:
    if context.signed_in(request) is not None:
        return RedirectResponse("/", status_code=303)
    target = (request.query_params.get("next") or "/").replace('"', "%22")  # checked by /api/v1/session
    with context.services().engine.connect() as conn:
        nobody_yet = count_users(conn) == 0
    ui.add_css(CSS)
    ui.dark_mode(None)
    ui.colors(primary="#0f766e")
    with ui.column().classes("absolute-center items-stretch w-full q-pa-md").style("max-width: 380px"):
        with ui.row().classes("items-center justify-center gap-2"):
            ui.icon("bolt", size="lg").classes("text-primary")
            ui.label("Wattwise").classes("text-h4 text-weight-medium")
        with ui.card().classes("w-full q-pa-lg"):
            ui.label("Sign in").classes("text-h6")
            if request.query_params.get("error"):
                ui.label("Wrong username or password.").classes("text-negative").props('role="alert"')
            with ui.element("form").props('method=post action="/api/v1/session"').classes("column gap-3 w-full"):
                ui.input("Username").props("name=username autocomplete=username autofocus outlined").classes("w-full")
                ui.input("Password", password=True, password_toggle_button=True).props(
                    "name=password autocomplete=current-password outlined"
                ).classes("w-full")
                ui.element("input").props(f'type=hidden name=next value="{target}"')
                ui.button("Sign in").props("type=submit unelevated color=primary").classes("w-full")
        if nobody_yet:
            with ui.card().classes("w-full bg-amber-1 text-black"):
                ui.label("No account exists yet.").classes("text-weight-medium")
                ui.markdown(
                    "Create the administrator with `wattwise user add admin --admin` "
                    "(or run `wattwise demo`, which prints its login)."
                )
    return None
