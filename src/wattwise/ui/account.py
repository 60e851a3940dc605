"""Your account: password, personal API tokens (Grafana, Home Assistant, scripts) and, for
administrators, every account and invitations."""

from __future__ import annotations

from nicegui import ui
from sqlalchemy import Connection

from wattwise.store import members as member_store
from wattwise.store import tokens as token_store
from wattwise.store.sites import list_sites
from wattwise.store.users import Access, authenticate, create_token, set_password
from wattwise.ui import context, dialogs
from wattwise.ui.fmt import local_time
from wattwise.ui.frame import framed


def token_hint(server: str) -> str:
    live = server.replace("http", "ws", 1)  # http → ws, https → wss
    return (
        "Send it as `Authorization: Bearer <token>`. Grafana (JSON API / Infinity data source): "
        "`GET /api/v1/devices/{id}/series`. Home Assistant (REST sensor) or scripts: the same header; "
        f"the live feed is `{live}/api/v1/live?token=<token>`."
    )


class AccountPage(context.SignedIn):
    def about(self) -> None:
        with self.services.engine.connect() as conn:
            sites = list_sites(conn, self.access.site_ids())
        with ui.card().classes("w-full"):
            ui.label(self.access.user.username).classes("text-h6")
            if self.access.user.is_admin:
                ui.label("Administrator: sees and manages every site.").classes("ww-muted")
            for site in sites:
                role = context.role_on(self.access, site.id)
                ui.label(f"{site.name}: {role}")

    def password(self) -> None:
        with ui.expansion("Change password", icon="password").classes("w-full"), ui.column().classes("gap-2"):
            current = ui.input("Current password", password=True).props("outlined dense autocomplete=current-password")
            new = ui.input("New password (8 characters or more)", password=True).props(
                "outlined dense autocomplete=new-password"
            )

            def change() -> None:
                def work(conn: Connection) -> None:
                    if authenticate(conn, self.access.user.username, current.value or "") is None:
                        raise ValueError("current password is wrong")
                    set_password(conn, self.access.user.id, new.value or "")

                if dialogs.run_store(self.services, "Password not changed", work):
                    current.value = new.value = ""
                    ui.notify("Password changed", type="positive")

            ui.button("Change password", on_click=change).props("unelevated")

    @ui.refreshable_method
    def tokens(self) -> None:
        with self.services.engine.connect() as conn:
            mine = token_store.list_tokens(conn, self.access.user.id)
        ui.label("Personal API tokens").classes("text-subtitle1")
        ui.label("For scripts, Grafana and Home Assistant. Each sees what you see.").classes("ww-muted")
        for token in mine:
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(token.name).classes("col")
                ui.label(f"created {local_time(token.created_ms, 'UTC')} UTC").classes("ww-muted gt-xs")
                ui.button(icon="delete", on_click=lambda t=token.id: self.revoke(t)).props(
                    "flat round dense aria-label='Revoke'"
                )
        with ui.row().classes("items-center gap-2"):
            name = ui.input("What is it for?", value="grafana").props("outlined dense")

            def issue() -> None:
                with self.services.engine.begin() as conn:
                    token = create_token(conn, self.access.user.id, (name.value or "api").strip()[:100])
                self.tokens.refresh()
                dialogs.shown_once(self.client, "Your new API token", token, token_hint(self.server_url()))

            ui.button("New token", icon="key", on_click=issue).props("unelevated dense")

    def revoke(self, token_id: int) -> None:
        with self.services.engine.begin() as conn:
            token_store.revoke_token(conn, self.access.user.id, token_id)
        self.tokens.refresh()

    @ui.refreshable_method
    def accounts(self) -> None:
        with self.services.engine.connect() as conn:
            everyone = member_store.list_accounts(conn)
        ui.label("Accounts").classes("text-subtitle1")
        for user in everyone:
            ui.label(user.username + (" (administrator)" if user.is_admin else ""))
        with ui.row().classes("items-center gap-2"):
            who = ui.input("New username").props("outlined dense")
            admin = ui.checkbox("Administrator")

            def invite() -> None:
                hint = "Give it to them, and a role on a site under Sites & meters."
                if dialogs.invite(self, who.value or "", hint, is_admin=bool(admin.value)):
                    self.accounts.refresh()

            ui.button("Invite", icon="person_add", on_click=invite).props("unelevated dense")


def register() -> None:
    ui.page("/account", title="Account · Wattwise")(framed("Account", build))


def build(access: Access) -> None:
    page = AccountPage(context.services(), access)
    page.about()
    with ui.card().classes("w-full"):
        page.password()
    with ui.card().classes("w-full"):
        page.tokens()
    if access.user.is_admin:
        with ui.card().classes("w-full"):
            page.accounts()
