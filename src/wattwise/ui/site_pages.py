"""What the per-site energy and money pages share: opening a page without blocking the event
loop, the site picker, money and units in words, and the "no tariff yet" chooser.

Every database call goes through ``run.io_bound`` (a thread), so one slow query never
stalls the live views of every other tab. The chooser calls the same accounting function
as ``PUT /api/v1/sites/{id}/tariff``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import run, ui
from sqlalchemy import Connection

from wattwise.accounting import site as site_ops
from wattwise.analysis.billing import TariffError, load_preset, preset_ids
from wattwise.runtime import Services
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.sites import Site, list_sites
from wattwise.store.users import Access
from wattwise.ui import context
from wattwise.ui.frame import frame

T = TypeVar("T")
SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def money(amount: Decimal | float | None, currency: str) -> str:
    """``₹1,490.00``; a negative amount keeps its sign in front (``−₹20.00``)."""
    if amount is None:
        return "—"
    value = Decimal(str(amount))
    symbol = SYMBOLS.get(currency, f"{currency} ")
    text = f"{symbol}{abs(value):,.0f}" if currency == "JPY" else f"{symbol}{abs(value):,.2f}"
    return f"−{text}" if value < 0 else text


def kwh(value: Decimal | float | None) -> str:
    """Units as a bill prints them: ``12.34 kWh`` (``1,234 kWh`` from a thousand)."""
    if value is None:
        return "—"
    v = float(value)
    return f"{v:,.0f} kWh" if abs(v) >= 1000 else f"{v:,.2f} kWh"


def typed_number(text: object) -> Decimal:
    """A number as a person types it in a field ("1,490.50", " 3 "); InvalidOperation for
    anything else, also NaN and the infinities, which no amount or load can be."""
    number = Decimal(str(text or "").replace(",", "").strip())
    if not number.is_finite():
        raise InvalidOperation(f"{text!r} is not a finite number")
    return number


def days(start: date, end: date) -> str:
    """A cycle ``[start, end)`` as people read it, by its first and last day: "1 Oct – 31 Oct 2026"."""
    last = end - timedelta(days=1)
    return f"{start.day} {start:%b} – {last.day} {last:%b %Y}"


async def in_thread(work: Callable[..., T], *args: object) -> T:
    """Run blocking (database) work in a thread; the event loop keeps serving every tab."""
    return await run.io_bound(work, *args)


def visible_sites(services: Services, access: Access) -> list[Site]:
    with services.engine.connect() as conn:
        return list_sites(conn, access.site_ids())


@dataclass
class SitePage:
    """A signed-in per-site page: who is looking, the sites they may see and the one shown."""

    services: Services
    access: Access
    sites: list[Site]
    site: Site | None
    presets: dict[str, str]  # shipped tariffs in the site's currency: id → name

    def may_write(self) -> bool:
        """Owners and members change a site's billing (as the REST routes allow); viewers only look."""
        return self.site is not None and self.access.can_operate(self.site.id)


async def open_site_page(request: Request, title: str, site_id: int | None) -> SitePage | RedirectResponse:
    """Send strangers to sign in; otherwise draw the frame and pick the site (``?site=``, else the first)."""
    services = context.services()
    access = await in_thread(context.signed_in, request)
    if access is None:
        return context.to_sign_in(request)
    sites = await in_thread(visible_sites, services, access)
    frame(access, title)
    chosen = next((s for s in sites if s.id == site_id), sites[0] if sites else None)
    presets = await in_thread(presets_for, chosen.currency) if chosen else {}  # TOML files: read off the loop
    return SitePage(services, access, sites, chosen, presets)


def site_picker(page: SitePage, path: str) -> None:
    """A select of the user's sites (hidden when there is only one); choosing one reloads the page for it."""
    if page.site is None:
        with ui.card().classes("w-full q-mt-md"):
            ui.label("You do not belong to any site yet.").classes("text-subtitle1")
            ui.label("Create one under Sites & meters, or ask an administrator to add you to one.")
        return
    if len(page.sites) < 2:
        return
    ui.select(
        {s.id: s.name for s in page.sites},
        value=page.site.id,
        label="Site",
        on_change=lambda e: ui.navigate.to(f"{path}?site={e.value}"),
    ).props('dense outlined data-testid="site"').classes("w-44")


class SiteSection:
    """A per-site page's content below its heading; ``draw`` (re)builds it inside ``body``."""

    split = False  # two columns side by side on a desktop (one on a phone)

    def __init__(self, page: SitePage, body: ui.element) -> None:
        assert page.site is not None
        self.page = page
        self.site: Site = page.site
        self.body = body

    async def draw(self) -> None:
        raise NotImplementedError


def site_page(
    title: str, path: str, section: type[SiteSection]
) -> Callable[[Request, int | None], Awaitable[RedirectResponse | None]]:
    """A page handler: the frame, a heading with the site picker (``?site=``), then ``section`` drawn for the site."""

    async def handler(request: Request, site: int | None = None) -> RedirectResponse | None:
        page = await open_site_page(request, title, site)
        if isinstance(page, RedirectResponse):
            return page
        with ui.column().classes("ww-page gap-3"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(page.site.name if page.site else title).classes("text-h6")
                ui.space()
                site_picker(page, path)
            body = ui.element("div").classes("ww-split") if section.split else ui.column().classes("w-full gap-3")
        if page.site is not None:
            await section(page, body).draw()
        return None

    return handler


def presets_for(currency: str) -> dict[str, str]:
    """Shipped presets in the site's currency: id → "name (id)"."""
    out = {}
    for pid in preset_ids():
        tariff = load_preset(pid)
        if tariff.currency == currency:
            out[pid] = tariff.name
    return out


def put_preset(services: Services, site_id: int, username: str, preset: str) -> None:
    with services.engine.begin() as conn:
        site_ops.set_tariff(conn, site_id, username, preset=preset)


def tariff_chooser(page: SitePage, reload: Callable[[], Awaitable[None]]) -> None:
    """The empty state of a site without a tariff: say so, and let a writer choose a preset."""
    assert page.site is not None
    site = page.site
    with ui.card().classes("w-full").props('data-testid="no-tariff"'):
        ui.label("No tariff set yet — choose a preset").classes("text-subtitle1")
        ui.label(
            "Energy is shown in kWh; costs, the bill and the budget need a tariff. "
            f"Your own tariff (TOML or JSON) can be put with PUT /api/v1/sites/{site.id}/tariff."
        ).classes("ww-muted")
        if not page.may_write():
            ui.label("The site's owner or a member can set it.").classes("ww-muted")
            return
        preset_row(page, reload)


def preset_row(page: SitePage, reload: Callable[[], Awaitable[None]]) -> None:
    """A select of the presets in the site's currency and the button that sets the chosen one."""
    assert page.site is not None
    site = page.site
    options = page.presets
    if not options:
        ui.label(f"No preset is in {site.currency}; put your own tariff through the API.").classes("text-warning")
        return
    with ui.row().classes("w-full items-center gap-2"):
        choice = (
            ui.select(options, value=next(iter(options)), label="Preset")
            .props('dense outlined data-testid="preset"')
            .classes("min-w-200")
            .mark("preset")
        )

        async def use() -> None:
            try:
                await in_thread(put_preset, page.services, site.id, page.access.user.username, str(choice.value))
            except (TariffError, ValueError, Conflict, NotFound) as exc:
                ui.notify(f"Could not set the tariff: {exc}", type="negative", multi_line=True)
                return
            ui.notify(f"Tariff set: {options[str(choice.value)]}", type="positive")
            await reload()

        ui.button("Use this tariff", icon="check", on_click=use).props("unelevated")


def put_sanctioned_load(services: Services, site_id: int, kw: Decimal) -> None:
    begin_and(services, lambda conn: site_ops.set_sanctioned_load(conn, site_id, kw))


def tariff_problem(page: SitePage, problem: str, reload: Callable[[], Awaitable[None]]) -> None:
    """A tariff is set but cannot price the cycle yet (say, a charge per kW and no sanctioned load):
    say why, and let a writer give the sanctioned load or choose another tariff right here."""
    assert page.site is not None
    site = page.site
    with ui.card().classes("w-full").props('data-testid="tariff-problem"'):
        ui.label("The tariff cannot price this cycle yet").classes("text-subtitle1 text-warning")
        ui.label(problem).style("white-space: pre-line")
        ui.label(
            f"The connection's phases and the rest can be set with PUT /api/v1/sites/{site.id}/billing/settings. "
            "Energy is shown in kWh meanwhile."
        ).classes("ww-muted")
        if not page.may_write():
            ui.label("The site's owner or a member can fix it.").classes("ww-muted")
            return
        with ui.row().classes("w-full items-center gap-2"):
            load = (
                ui.input("Sanctioned load (kW)")
                .props('dense outlined inputmode=decimal data-testid="sanctioned-kw"')
                .classes("w-44")
                .mark("sanctioned-kw")
            )

            async def save() -> None:
                try:
                    kw = typed_number(load.value)
                    await in_thread(put_sanctioned_load, page.services, site.id, kw)
                except InvalidOperation:
                    ui.notify("Sanctioned load: give a number of kW, such as 3", type="negative")
                    return
                except (ValueError, NotFound) as exc:
                    ui.notify(f"Could not set the sanctioned load: {exc}", type="negative")
                    return
                ui.notify(f"Sanctioned load set: {kw} kW", type="positive")
                await reload()

            ui.button("Save", icon="check", on_click=save).props("unelevated").mark("save-sanctioned-kw")
        ui.label("Or choose another tariff:").classes("ww-muted")
        preset_row(page, reload)


def connect_and(services: Services, work: Callable[[Connection], T]) -> T:
    """``work(conn)`` on a read-only connection (for ``in_thread``)."""
    with services.engine.connect() as conn:
        return work(conn)


def begin_and(services: Services, work: Callable[[Connection], T]) -> T:
    """``work(conn)`` in a committed transaction (for ``in_thread``), as the REST routes write."""
    with services.engine.begin() as conn:
        return work(conn)
