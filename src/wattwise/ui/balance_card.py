"""The energy-balance card on a main meter's page: is the balance watching, which period was
last vouched clean and whether the detectors have applied it, and, for the site's owner, a
control to vouch for a period.

The period is typed as dates and times on the site's clock (as every time on the dashboard
is shown), whatever the browser's zone. The vouch goes through
:func:`wattwise.detectors.edits.vouch_clean`, the function ``PUT
/api/v1/devices/{id}/balance/clean-period`` calls: the same checks, the same refusals.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui

from wattwise.detectors import edits
from wattwise.detectors.balance import MIN_INTERVALS, stored_status
from wattwise.runtime import Services
from wattwise.store.clock import now_ms
from wattwise.store.errors import NotFound
from wattwise.ui.live_feed import timer_when_connected
from wattwise.ui.site_pages import in_thread

WALL = "%Y-%m-%d %H:%M"
#: the check's field names, as the page names its inputs
FIELDS = {"since/until: ": "", "since: ": "From: ", "until: ": "To: "}


def local_ms(day: str, clock: str, zone: ZoneInfo, name: str) -> int:
    """A date and a time on the site's clock as epoch ms; ValueError naming the input
    (``name``) when it is not a date and a time, or is a time the site's clock skipped. In
    the hour a clock goes back, the first of the two times is meant."""
    typed = f"{(day or '').strip()} {(clock or '').strip()}"
    for form in (WALL, WALL + ":%S"):  # a browser may send the seconds too
        try:
            clock_time = datetime.strptime(typed, form)
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"{name}: enter a date and a time (YYYY-MM-DD and HH:MM), got {day!r} and {clock!r}")
    at = clock_time.replace(tzinfo=zone)
    if at.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != clock_time:
        raise ValueError(f"{name}: {clock_time:{WALL}} did not happen in {zone.key} (the clocks went forward)")
    return int(at.timestamp() * 1000)


def wall(ts_ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, zone)


def in_page_words(message: str) -> str:
    """A refusal of the check with its fields named as the page's inputs are (To, From)."""
    for field, shown in FIELDS.items():
        if message.startswith(field):
            return shown + message.removeprefix(field)
    return message


def load_status(services: Services, main_id: int) -> dict[str, Any]:
    with services.engine.connect() as conn:
        return stored_status(conn, main_id)


def taught_text(taught: dict[str, Any]) -> str:
    return (
        f"Vouched. The period has {taught['intervals']} intervals of {taught['interval_ms'] // 60_000} min:"
        " an unmetered base"
        f" of {taught['base_wh_per_interval']:.1f} Wh an interval. {taught['reason']}"
    )


class BalanceCard:
    """Drawn where it is created; ``may_vouch`` (the site's owner or an administrator, as
    REST asks) adds the control. While a vouch waits for the detectors the card looks
    again every few seconds."""

    def __init__(
        self, services: Services, main_id: int, zone: ZoneInfo, status: dict[str, Any], *, may_vouch: bool
    ) -> None:
        self.services, self.main_id, self.zone = services, main_id, zone
        self.status = status
        with ui.card().classes("w-full gap-2").props('data-testid="balance"'):
            ui.label("Energy balance against the sub-meters").classes("text-subtitle2")
            self.reason = ui.label().mark("balance-reason")
            self.vouched = ui.label().classes("ww-muted").props('data-testid="vouched"').mark("vouched")
            if may_vouch:
                self.control()
            else:
                ui.label("Only the site's owner can vouch for a clean period.").classes("ww-muted")
        self.show(status)
        timer_when_connected(5.0, self.refresh)

    def control(self) -> None:
        since, until = self.default_period()
        ui.label(
            f"Vouch for a clean period (no loss, no theft) to learn the unmetered base from it: over, and with at"
            f" least {MIN_INTERVALS} intervals in which every meter reported. Times in {self.zone.key}."
        ).classes("ww-muted text-caption")
        with ui.row().classes("w-full gap-2 items-end").props('data-testid="vouch-period"'):
            self.since = self.moment("From", "since", since)
            self.until = self.moment("To", "until", until)
            ui.button("Vouch…", on_click=self.confirm).props('unelevated data-testid="vouch"').mark("vouch")
        self.result = ui.label().classes("w-full").props('data-testid="vouch-result"').mark("vouch-result")
        self.result.set_visibility(False)

    def moment(self, label: str, mark: str, at: datetime) -> tuple[ui.input, ui.input]:
        """A date and a time input on the site's clock (the phone's own pickers)."""
        with ui.row().classes("gap-1 no-wrap"):
            day = (
                ui.input(f"{label} date", value=f"{at:%Y-%m-%d}")
                .props(f'type=date dense outlined stack-label data-testid="{mark}-date"')
                .style("width: 10rem")
                .mark(f"{mark}-date")
            )
            clock = (
                ui.input(f"{label} time", value=f"{at:%H:%M}")
                .props(f'type=time dense outlined stack-label data-testid="{mark}-time"')
                .style("width: 8rem")
                .mark(f"{mark}-time")
            )
        return day, clock

    def default_period(self) -> tuple[datetime, datetime]:
        """The period last vouched, else the whole of yesterday on the site's clock."""
        vouched = self.status.get("clean_period")
        if vouched is not None:
            return wall(vouched["since"], self.zone), wall(vouched["until"], self.zone)
        today = wall(now_ms(), self.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=1), today

    def period(self) -> tuple[int, int]:
        (since_day, since_clock), (until_day, until_clock) = self.since, self.until
        return (
            local_ms(str(since_day.value), str(since_clock.value), self.zone, "From"),
            local_ms(str(until_day.value), str(until_clock.value), self.zone, "To"),
        )

    async def confirm(self) -> None:
        """Ask before vouching: the base learned so far is replaced."""
        try:
            since, until = self.period()
        except ValueError as exc:
            self.say(f"Not vouched: {exc}", ok=False)
            return
        with ui.dialog() as dialog, ui.card().classes("q-pa-md").style("max-width: 440px"):
            ui.label("Vouch for this period?").classes("text-h6")
            ui.label(f"{wall(since, self.zone):{WALL}} – {wall(until, self.zone):{WALL}} ({self.zone.key})").mark(
                "vouch-asked"
            )
            ui.label(
                "Only if you know nothing was lost or stolen then: the balance learns its unmetered base from this"
                " period and forgets the one it learned before."
            ).classes("ww-muted")
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat")
                ui.button("Vouch", on_click=lambda: dialog.submit(True)).props(
                    'unelevated data-testid="vouch-confirm"'
                ).mark("vouch-confirm")
        agreed = await dialog
        dialog.delete()  # the next question gets a dialog of its own
        if agreed:
            await self.vouch(since, until)

    async def vouch(self, since: int, until: int) -> None:
        try:
            taught = await edits.vouch_clean(self.services, self.main_id, since, until)
        except (ValueError, NotFound) as exc:  # Conflict is a ValueError
            self.say(f"Not vouched: {in_page_words(str(exc))}", ok=False)
            return
        self.say(taught_text(taught), ok=True)
        await self.refresh(force=True)

    def say(self, text: str, *, ok: bool) -> None:
        self.result.set_text(text)
        self.result.classes(replace="w-full " + ("text-positive" if ok else "text-negative"))
        self.result.set_visibility(True)

    async def refresh(self, force: bool = False) -> None:
        """Read the balance again: after a vouch, and while the detectors have not applied it."""
        pending = (self.status.get("clean_period") or {}).get("applied") is False
        if force or pending:
            self.show(await in_thread(load_status, self.services, self.main_id))

    def show(self, status: dict[str, Any]) -> None:
        self.status = status
        self.reason.set_text(status["reason"])
        vouched = status.get("clean_period")
        if vouched is None:
            self.vouched.set_text("No period vouched clean: the base is learned from the first intervals.")
            return
        when = (
            f"Vouched clean: {wall(vouched['since'], self.zone):{WALL}} – {wall(vouched['until'], self.zone):{WALL}}"
            f" ({self.zone.key}), on {wall(vouched['at'], self.zone):{WALL}}"
        )
        applied = (
            "applied: the base now comes from this period"
            if vouched["applied"]
            else "not applied yet: the detectors learn from it when they next look at this meter's group"
        )
        self.vouched.set_text(f"{when} · {applied}.")
