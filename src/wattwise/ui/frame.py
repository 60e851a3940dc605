"""The frame around every signed-in page: header, navigation, light/dark switch, sign-out.

On a phone the navigation folds into a drawer behind the menu button; on a desktop the
drawer stays open beside the page.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app, ui

from wattwise.store.users import Access
from wattwise.ui import context

NAV = (
    ("Overview", "/", "dashboard"),
    ("Energy", "/energy", "bar_chart"),
    ("Bill", "/bill", "receipt_long"),
    ("Payments", "/payments", "payments"),
    ("Appliances", "/appliances", "kitchen"),
    ("Alerts", "/alerts", "notifications"),
    ("Findings", "/findings", "report"),
    ("Sites & meters", "/sites", "tune"),
    ("Account", "/account", "person"),
)
_DARK_ICONS = {None: "brightness_auto", False: "light_mode", True: "dark_mode"}
_NEXT_DARK: dict[bool | None, bool | None] = {None: False, False: True, True: None}

# The few utility classes the pages use (NiceGUI's Tailwind runtime is off, see mount_ui).
CSS = """
.w-full { width: 100%; } .min-w-0 { min-width: 0; } .min-w-200 { min-width: 200px; } .m-0 { margin: 0; }
.gap-0 { gap: 0 !important; } .gap-1 { gap: .25rem !important; } .gap-2 { gap: .5rem !important; }
.gap-3 { gap: .75rem !important; }
.h-56 { height: 14rem; } .h-80 { height: 20rem; } .w-44 { width: 11rem; } .w-28 { width: 7rem; }
.font-semibold { font-weight: 600; } .text-lg { font-size: 1.125rem; } .rounded { border-radius: .25rem; }
.ww-hover:hover { background: rgba(128, 128, 128, .12); }
.ww-rule { border-bottom: 1px solid rgba(128, 128, 128, .2); }
.ww-split { display: grid; grid-template-columns: 1fr; gap: .75rem; width: 100%; }
@media (min-width: 1024px) { .ww-split { grid-template-columns: 1fr 2fr; } }
.ww-tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 12px; width: 100%; }
.ww-big { font-size: 2rem; font-weight: 600; line-height: 1.1; font-variant-numeric: tabular-nums; }
.ww-num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.ww-tile-head { display: flex; align-items: center; gap: 6px; margin-bottom: 4px; }
.ww-tile-name { font-size: 1rem; font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ww-space { flex: 1; } .ww-foot { margin-top: 4px; }
.ww-cells { display: grid; grid-template-columns: 1fr 1fr; column-gap: 12px; }
.ww-cell { display: flex; justify-content: space-between; gap: 6px; white-space: nowrap; }
.ww-wide { grid-column: span 2; }
.ww-link { color: inherit; text-decoration: none; }
.ww-link:hover { text-decoration: underline; }
.ww-muted { opacity: .7; font-size: .85rem; }
.ww-form .q-field { width: 100%; max-width: 420px; }
.body--dark .q-badge--outline.text-secondary { color: #94a3b8 !important; }
.ww-page { width: 100%; max-width: 1280px; margin: 0 auto; padding: 12px; }
@media (max-width: 599px) { .ww-page { padding: 8px; } .ww-tiles { grid-template-columns: 1fr; } }
"""


def frame(access: Access, title: str) -> None:
    """Draw the header and navigation; the caller then fills the page."""
    ui.page_title(f"{title} · Wattwise")
    ui.add_css(CSS)
    preference = app.storage.user.get("dark")
    dark = ui.dark_mode(preference if isinstance(preference, bool) else None)
    ui.colors(primary="#0f766e", secondary="#334155", accent="#f59e0b", positive="#16a34a", negative="#dc2626")

    # Not value=None: NiceGUI would then ask each browser, once connected, whether the drawer is
    # open, and log a traceback whenever the tab moved on within a second. Quasar's show-if-above
    # opens it on a wide screen by itself and reports that back.
    drawer = ui.left_drawer(value=False, bordered=True).props("show-if-above width=220 breakpoint=1024")
    drawer.classes("q-pa-sm")
    with drawer:
        for label, target, icon in NAV:
            link = ui.link(target=target).classes("ww-link w-full")
            with link, ui.row().classes("items-center gap-3 q-pa-sm rounded ww-hover w-full"):
                ui.icon(icon)
                ui.label(label)

    with ui.header(elevated=False).classes("items-center q-px-sm q-py-xs gap-1 bg-primary"):
        ui.button(icon="menu", on_click=drawer.toggle).props("flat round dense color=white").classes("lt-md")
        ui.icon("bolt", size="sm").classes("text-white")
        ui.label("Wattwise").classes("text-white text-lg font-semibold")
        ui.label(f"· {title}").classes("text-white gt-xs")
        ui.space()

        def cycle_dark() -> None:
            dark.value = _NEXT_DARK[dark.value]
            app.storage.user["dark"] = dark.value
            toggle.props(f"icon={_DARK_ICONS[dark.value]}")

        toggle = ui.button(icon=_DARK_ICONS[dark.value], on_click=cycle_dark).props(
            "flat round dense color=white aria-label='Light or dark'"
        )
        ui.label(access.user.username).classes("text-white gt-xs q-mx-sm")
        with ui.element("form").props('method=post action="/api/v1/session/logout"').classes("m-0"):
            ui.button(icon="logout").props("type=submit flat round dense color=white aria-label='Sign out'").tooltip(
                "Sign out"
            )


def framed(title: str, build: Callable[[Access], None]) -> Callable[[Request], RedirectResponse | None]:
    """A page handler: send strangers to sign in, else draw the frame and ``build`` the page for them."""

    def handler(request: Request) -> RedirectResponse | None:
        access = context.signed_in(request)
        if access is None:
            return context.to_sign_in(request)
        frame(access, title)
        with ui.column().classes("ww-page gap-3"):
            build(access)
        return None

    return handler
