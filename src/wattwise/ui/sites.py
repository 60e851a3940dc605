"""Sites and meters: create a site, add a meter (its key shown once), rotate or revoke keys,
mark main and sub-meters, and decide who may see each site."""

from __future__ import annotations

from zoneinfo import available_timezones

from nicegui import ui
from sqlalchemy import Connection

from wattwise.store import devices as device_store
from wattwise.store import members as member_store
from wattwise.store.clock import now_ms
from wattwise.store.devices import Device
from wattwise.store.errors import Conflict
from wattwise.store.sites import Site, list_sites
from wattwise.store.users import SITE_ROLES, Access, access_for, create_owned_site, get_user_by_name, grant
from wattwise.ui import context, dialogs, fmt
from wattwise.ui.frame import framed

ZONES = sorted(available_timezones())
ROLE_TEXT = {"meter": "Meter", "main": "Main meter", "sub": "Sub-meter"}


def register() -> None:
    ui.page("/sites", title="Sites & meters · Wattwise")(framed("Sites & meters", build))


def key_hint(key: str, server: str) -> str:
    return (
        "Put it in the meter's configuration. To try it by hand:\n\n"
        f"```\ncurl -X POST {server}/api/v1/ingest -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' -d '{\"voltage\": 230, \"power\": 120}'\n```"
    )


class SitesPage(context.SignedIn):
    def refresh_access(self) -> None:
        with self.services.engine.connect() as conn:
            self.access = access_for(conn, self.access.user)

    # ---- sites -------------------------------------------------------------------------
    def new_site_card(self) -> None:
        expansion = ui.expansion("New site", icon="add_home").classes("w-full").props("dense")
        with expansion, ui.row().classes("w-full items-end gap-3"):
            name = ui.input("Name").props('outlined dense data-testid="site-name"').classes("min-w-200")
            zone = ui.select(ZONES, value="UTC", label="Time zone", with_input=True).props("outlined dense")
            currency = ui.input("Currency", value="INR").props("outlined dense maxlength=8").classes("w-28")

            def create() -> None:
                if not (name.value or "").strip():
                    ui.notify("Name: give the site a name", type="warning")
                    return

                def work(conn: Connection) -> None:
                    create_owned_site(
                        conn, self.access.user.id, name.value.strip(), timezone=zone.value, currency=currency.value
                    )

                if dialogs.run_store(self.services, "Could not create the site", work):
                    ui.notify(f"Site {name.value.strip()!r} created; you are its owner", type="positive")
                    name.value = ""
                    self.refresh_access()
                    self.body.refresh()

            ui.button("Create site", icon="add", on_click=create).props("unelevated")

    @ui.refreshable_method
    def body(self) -> None:
        with self.services.engine.connect() as conn:
            sites = list_sites(conn, self.access.site_ids())
            devices = device_store.list_devices(conn, self.access.site_ids())
        if not sites:
            ui.label("No sites yet: create the first one above.").classes("ww-muted")
        for site in sites:
            self.site_card(site, [d for d in devices if d.site_id == site.id])

    def site_card(self, site: Site, devices: list[Device]) -> None:
        manage = self.access.can_manage(site.id)
        role = context.role_on(self.access, site.id)
        with ui.card().classes("w-full").props(f'data-site="{site.id}"'):
            with ui.row().classes("w-full items-baseline gap-2"):
                ui.label(site.name).classes("text-h6")
                ui.label(f"{site.timezone} · {site.currency}").classes("ww-muted")
                ui.space()
                ui.badge(role, color="secondary").props("outline")
            self.meters_table(site, devices, manage)
            if manage:
                self.add_meter_row(site)
            with ui.expansion("People", icon="group").classes("w-full").props("dense"):
                self.members(site, manage)

    # ---- meters ------------------------------------------------------------------------
    def meters_table(self, site: Site, devices: list[Device], manage: bool) -> None:
        if not devices:
            ui.label("No meters yet." + (" Add one below; its key is shown once." if manage else "")).classes(
                "ww-muted"
            )
            return
        names = {d.id: d.name for d in devices}
        at = now_ms()
        for device in devices:
            state = fmt.state(device.last_seen_ms, at)
            text, color = fmt.STATE_BADGE[state]
            with ui.row().classes("w-full items-center gap-2 q-py-xs ww-rule no-wrap"):
                with ui.column().classes("gap-0 min-w-0 col"):
                    with ui.row().classes("items-center gap-2"):
                        ui.link(device.name, f"/meters/{device.id}").classes("ww-link text-weight-medium")
                        ui.badge(text, color=color)
                    role = ROLE_TEXT.get(device.role, device.role)
                    if device.role == "sub" and device.parent_id in names:
                        role += f" of {names[device.parent_id]}"
                    key = "key revoked" if device.key_prefix is None else f"key {device.key_prefix}…"
                    ui.label(f"{role} · {key} · last seen {fmt.ago(device.last_seen_ms, at)}").classes(
                        "ww-muted"  # wraps on a phone: "last seen" is the part that matters, cut off by "…"
                    )
                if manage:
                    with ui.button(icon="more_vert").props("flat round dense aria-label='Meter actions'"), ui.menu():
                        ui.menu_item("Rotate key", lambda d=device: self.rotate(d))
                        ui.menu_item("Revoke key", lambda d=device: self.revoke(d))
                        ui.menu_item("Main / sub-meter…", lambda d=device, ds=devices: self.role_dialog(d, ds))

    def add_meter_row(self, site: Site) -> None:
        with ui.row().classes("w-full items-center gap-2 q-mt-sm"):
            name = ui.input("New meter name").props(f'outlined dense data-testid="meter-name-{site.id}"')
            name.mark(f"meter-name-{site.id}")

            def add() -> None:
                if not (name.value or "").strip():
                    ui.notify("Name: give the meter a name", type="warning")
                    return
                try:
                    with self.services.engine.begin() as conn:
                        issued = device_store.create_device(conn, site_id=site.id, name=name.value.strip())
                except Conflict as exc:
                    ui.notify(f"Could not add the meter: {exc}", type="negative")
                    return
                name.value = ""
                self.body.refresh()
                dialogs.shown_once(
                    self.client, f"Key for {issued.device.name}", issued.key, key_hint(issued.key, self.server_url())
                )

            ui.button("Add meter", icon="add", on_click=add).props("unelevated dense").mark(f"add-meter-{site.id}")

    def rotate(self, device: Device) -> None:
        with self.services.engine.begin() as conn:
            issued = device_store.rotate_key(conn, device.id)
        self.services.pipeline.forget_keys()
        self.body.refresh()
        dialogs.shown_once(
            self.client,
            f"New key for {device.name}",
            issued.key,
            "The old key stopped working just now. " + key_hint(issued.key, self.server_url()),
        )

    def revoke(self, device: Device) -> None:
        with self.services.engine.begin() as conn:
            device_store.revoke_key(conn, device.id)
        self.services.pipeline.forget_keys()
        ui.notify(f"{device.name}: key revoked; its uploads are refused until you rotate it", type="warning")
        self.body.refresh()

    def role_dialog(self, device: Device, devices: list[Device]) -> None:
        others = {d.id: d.name for d in devices if d.id != device.id}
        with ui.dialog(value=True) as dialog, ui.card().classes("q-pa-lg").style("min-width: 300px"):
            ui.label(f"{device.name}: place in the site").classes("text-h6")
            role = ui.select(ROLE_TEXT, value=device.role, label="Role").props("outlined dense").classes("w-full")
            parent = ui.select(others, value=device.parent_id, label="Hangs under").props("outlined dense")
            parent.classes("w-full").bind_visibility_from(role, "value", lambda v: v == "sub")
            ui.label(
                "The main meter measures the whole site; a sub-meter measures part of the meter above it."
            ).classes("ww-muted")

            def save() -> None:
                if dialogs.run_store(
                    self.services,
                    "Could not change the role",
                    lambda conn: device_store.set_role(conn, device.id, role=role.value, parent_id=parent.value),
                ):
                    dialog.close()
                    self.body.refresh()

            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Save", on_click=save).props("unelevated")

    # ---- people ------------------------------------------------------------------------
    def members(self, site: Site, manage: bool) -> None:
        with self.services.engine.connect() as conn:
            people = member_store.list_members(conn, site.id)
        if not people:
            ui.label("Nobody is a member yet (administrators see every site).").classes("ww-muted")
        for person in people:
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(person.username).classes("col")
                if manage and person.user_id != self.access.user.id:
                    ui.select(
                        list(SITE_ROLES),
                        value=person.role,
                        on_change=lambda e, p=person: self.set_role(site, p.username, str(e.value)),
                    ).props("dense borderless")
                    ui.button(icon="person_remove", on_click=lambda p=person: self.remove(site, p.username)).props(
                        "flat round dense aria-label='Remove'"
                    )
                else:
                    ui.label(person.role).classes("ww-muted")
        if manage:
            self.add_person(site)

    def set_role(self, site: Site, username: str, role: str) -> bool:
        def work(conn: Connection) -> None:
            grant(conn, get_user_by_name(conn, username).id, site.id, role)

        if not dialogs.run_store(self.services, "Could not change the role", work):
            return False
        ui.notify(f"{username} is now {role} of {site.name}")
        return True

    def remove(self, site: Site, username: str) -> None:
        def work(conn: Connection) -> None:
            member_store.remove_member(conn, site.id, get_user_by_name(conn, username).id)

        if dialogs.run_store(self.services, "Could not remove", work):
            self.body.refresh()

    def add_person(self, site: Site) -> None:
        with ui.row().classes("w-full items-center gap-2"):
            who = ui.input("Username").props(f'outlined dense data-testid="person-{site.id}"')
            role = ui.select(list(SITE_ROLES), value="viewer").props("outlined dense")

            def add_existing() -> None:
                if self.set_role(site, (who.value or "").strip(), role.value):
                    self.body.refresh()

            ui.button("Add", on_click=add_existing).props("flat dense")
            if self.access.user.is_admin:

                def invite() -> None:
                    hint = "Give it to them; they can change it under Account after signing in."
                    if dialogs.invite(self, who.value or "", hint, site_id=site.id, role=role.value):
                        self.body.refresh()

                ui.button("Invite new account", icon="person_add", on_click=invite).props("flat dense")


def build(access: Access) -> None:
    page = SitesPage(context.services(), access)
    page.new_site_card()
    page.body()
