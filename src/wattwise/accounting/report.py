"""A site's report over a local period: what a facility manager reads at the end of a month.

Every figure comes from stored data. Energy is the sum of the readings' own ``wh`` from the
hourly rollup (flushed first where a rollup is behind), counted as ``GET
/api/v1/sites/{id}/energy`` counts it: the site is its main and plain meters, not their
sub-meters, and an hour cut by a local midnight (India's +05:30) is shared out by time. Peaks,
voltages and counts read the hourly rollup for whole hours and the raw readings for the rest;
the longest silence reads the raw readings. Money is only defined per billing cycle, so the
report lists the bills issued for cycles that overlap the period instead of a per-month cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from wattwise.accounting.bills import statement_of
from wattwise.accounting.energy import load_series, site_meters
from wattwise.accounting.site import get_site
from wattwise.analysis.energy import add_months, local_midnight_ms
from wattwise.runtime import Services
from wattwise.store import alerts as alert_store
from wattwise.store import billing as billing_store
from wattwise.store import detections, findings
from wattwise.store import devices as device_store
from wattwise.store import series as series_store
from wattwise.store.clock import now_ms
from wattwise.store.devices import Device

MAX_DAYS = 366
FIRST_YEAR, LAST_YEAR = 1971, 9998  # a period and the one before it stay inside what ms and dates hold
TOP_APPLIANCES = 5
#: a meter never silent for 3 minutes has its silences timed from every reading up to this many
#: readings in the period (about a month at 5 s; 0.3 to 0.6 s a meter, docs/benchmarks.md)
SCAN_AT_MOST = 500_000
TOP_RULES = 5
ROLE_NAMES = {"main": "main", "sub": "sub", "meter": "standalone"}


@dataclass(frozen=True, slots=True)
class Moment:
    """A value and when it was read (UTC ms and the site's local time)."""

    value: float
    ts_ms: int
    local: str


@dataclass(frozen=True, slots=True)
class Silence:
    """The longest stretch without a reading: between two readings or at an end of the period."""

    seconds: float
    from_ms: int
    to_ms: int
    from_local: str
    to_local: str
    #: False: the meter was never silent for 3 minutes and had more than SCAN_AT_MOST readings, so
    #: the stretch is given to the minute (from a minute with readings to the end of the next) and
    #: the silence lasted at most ``seconds``
    exact: bool


@dataclass(frozen=True, slots=True)
class ApplianceUse:
    name: str
    runs: int
    kwh: float


@dataclass(frozen=True, slots=True)
class MeterReport:
    id: int
    name: str
    role: str  # main | sub | standalone
    parent_id: int | None
    parent_name: str | None
    counted: bool  # whether its energy is part of the site's total
    kwh: float
    share_pct: float | None  # of the site's total; None when the site used nothing
    peak_power: Moment | None
    voltage_min: Moment | None
    voltage_max: Moment | None
    readings: int
    longest_silence: Silence
    findings: dict[str, int]
    appliances: tuple[ApplianceUse, ...]


@dataclass(frozen=True, slots=True)
class Balance:
    """A main meter against its sub-meters: what none of them measured (losses, theft, an unmetered load)."""

    main_id: int
    main_name: str
    main_kwh: float
    sub_ids: tuple[int, ...]
    subs_kwh: float
    unaccounted_kwh: float
    unaccounted_pct: float | None  # of the main meter's; None when it measured nothing


@dataclass(frozen=True, slots=True)
class RuleFired:
    rule_id: int | None
    name: str
    kind: str
    alerts: int


@dataclass(frozen=True, slots=True)
class AlertSummary:
    total: int
    by_status: dict[str, int]
    top_rules: tuple[RuleFired, ...]


@dataclass(frozen=True, slots=True)
class BillIssued:
    number: str
    cycle_start: date
    cycle_end: date  # exclusive
    revision: int
    kwh: Decimal
    total: Decimal
    currency: str
    paid: Decimal
    due: Decimal
    status: str  # paid | partly_paid | unpaid


@dataclass(frozen=True, slots=True)
class SiteReport:
    site_id: int
    site_name: str
    timezone: str
    currency: str
    label: str
    start: date
    end: date  # exclusive
    start_ms: int
    end_ms: int
    generated_ms: int
    total_kwh: float
    previous_start: date
    previous_total_kwh: float
    change_pct: float | None  # None when the previous period used nothing
    meters: tuple[MeterReport, ...]
    balances: tuple[Balance, ...]
    alerts: AlertSummary
    has_tariff: bool
    bills: tuple[BillIssued, ...]


def last_month(today: date) -> tuple[date, date]:
    """The last whole calendar month before ``today``'s: the report's default period."""
    first = today.replace(day=1)
    return add_months(first, -1), first


def month_of(text: str) -> tuple[date, date]:
    """``YYYY-MM`` → its first day and the next month's; ValueError names ``month``."""
    try:
        first = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"month: {text!r} is not a month like 2026-10") from None
    return first, add_months(first, 1)


def parse_day(name: str, text: str) -> date:
    """A local date like 2026-10-01; ValueError naming ``name``."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a date like 2026-10-01") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"{name}: {text!r} is outside {FIRST_YEAR} to {LAST_YEAR}")
    return day


def period_of(start: str | None, end: str | None, month: str | None, today: date) -> tuple[date, date]:
    """The period asked for: ``month``, or ``start``/``end`` (a month from the one given when only
    one is), or by default the last whole calendar month before ``today``."""
    if month is not None:
        if start is not None or end is not None:
            raise ValueError("month: give a month or start/end, not both")
        first, after = month_of(month)
        if not FIRST_YEAR <= first.year <= LAST_YEAR:
            raise ValueError(f"month: {month!r} is outside {FIRST_YEAR} to {LAST_YEAR}")
        return first, after
    if start is None and end is None:
        return last_month(today)
    if start is None:
        after = parse_day("end", str(end))
        first = add_months(after, -1)
    else:
        first = parse_day("start", start)
        after = parse_day("end", end) if end is not None else add_months(first, 1)
    check_period(first, after)
    return first, after


def check_period(start: date, end: date) -> None:
    """ValueError naming the parameter for an empty, reversed or too long period."""
    if end <= start:
        raise ValueError(f"end: must be after start ({end} ≤ {start}; end is exclusive)")
    if (end - start).days > MAX_DAYS:
        raise ValueError(f"end: a report covers at most {MAX_DAYS} days, got {(end - start).days}")


def period_label(start: date, end: date) -> str:
    """ "October 2026" for a calendar month, else "2026-10-03 to 2026-10-17" (the last day included)."""
    if start.day == 1 and end == add_months(start, 1):
        return f"{start:%B %Y}"
    return f"{start} to {end - timedelta(days=1)}"


def _local(ts_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, zone).isoformat(timespec="seconds")


def _moment(found: tuple[float, int] | None, zone: ZoneInfo) -> Moment | None:
    return None if found is None else Moment(found[0], found[1], _local(found[1], zone))


def _kwh(services: Services, device_ids: list[int], start_ms: int, end_ms: int) -> float:
    if not device_ids:
        return 0.0
    return load_series(services, device_ids, start_ms, end_ms).between(start_ms, end_ms) / 1000


def _pct(part: float, whole: float) -> float | None:
    return None if whole == 0 else part / whole * 100


@dataclass(frozen=True, slots=True)
class _Known:
    """What the site-wide queries already found for a meter."""

    parent_name: str | None
    counted: bool
    kwh: float
    share_pct: float | None
    findings: dict[str, int]


def _meter(
    conn: Connection, m: Device, zone: ZoneInfo, span: tuple[int, int], until_ms: int, known: _Known
) -> MeterReport:
    """One meter's figures."""
    start_ms, end_ms = span
    peak = series_store.extreme(conn, m.id, "power", start_ms, end_ms, highest=True)
    v_min = series_store.extreme(conn, m.id, "voltage", start_ms, end_ms, highest=False)
    v_max = series_store.extreme(conn, m.id, "voltage", start_ms, end_ms, highest=True)
    quiet_from, quiet_to, exact = series_store.longest_silence(
        conn, m.id, start_ms, until_ms, scan_at_most=SCAN_AT_MOST
    )
    used = detections.appliance_energy(conn, m.id, start_ms, end_ms)
    appliances = sorted(
        (ApplianceUse(label, runs, wh / 1000) for label, (runs, wh) in used.items()), key=lambda a: (-a.kwh, a.name)
    )
    return MeterReport(
        id=m.id,
        name=m.name,
        role=ROLE_NAMES.get(m.role, m.role),
        parent_id=m.parent_id,
        peak_power=_moment(peak, zone),
        voltage_min=_moment(v_min, zone),
        voltage_max=_moment(v_max, zone),
        readings=series_store.reading_count(conn, m.id, start_ms, end_ms),
        longest_silence=Silence(
            (quiet_to - quiet_from) / 1000,
            quiet_from,
            quiet_to,
            _local(quiet_from, zone),
            _local(quiet_to, zone),
            exact,
        ),
        appliances=tuple(appliances[:TOP_APPLIANCES]),
        parent_name=known.parent_name,
        counted=known.counted,
        kwh=known.kwh,
        share_pct=known.share_pct,
        findings=known.findings,
    )


def _bills(conn: Connection, site_id: int, start: date, end: date) -> tuple[BillIssued, ...]:
    owed = statement_of(conn, site_id)
    return tuple(
        BillIssued(
            b.issued.number,
            b.issued.cycle.start,
            b.issued.cycle.end,
            b.issued.revision,
            b.issued.bill.kwh,
            b.issued.bill.total,
            b.issued.bill.currency,
            b.paid,
            b.due,
            b.status,
        )
        for b in owed.bills
        if b.issued.cycle.start < end and b.issued.cycle.end > start
    )


def _in_order(meters: list[Device]) -> list[Device]:
    """Main and standalone meters by name, each main followed by its sub-meters."""
    names = {m.id: m.name for m in meters}

    def key(m: Device) -> tuple[str, int, str, int]:
        parent = names.get(m.parent_id) if m.role == "sub" and m.parent_id is not None else None
        return (parent or m.name, 0 if parent is None else 1, m.name, m.id)

    return sorted(meters, key=key)


def site_report(services: Services, site_id: int, start: date, end: date) -> SiteReport:
    """The report of ``[start, end)`` in the site's local dates; NotFound for an unknown site."""
    check_period(start, end)
    with services.engine.connect() as conn:
        site = get_site(conn, site_id)
        meters = _in_order(device_store.list_devices(conn, frozenset({site_id})))
        counted_ids = site_meters(conn, site_id)
    zone = ZoneInfo(site.timezone)
    start_ms, end_ms = local_midnight_ms(start, zone), local_midnight_ms(end, zone)
    previous_start = start - (end - start)
    previous_ms = local_midnight_ms(previous_start, zone)
    generated = now_ms()
    until_ms = max(start_ms, min(end_ms, generated))  # a period still running is silent only until now

    kwh = {m.id: _kwh(services, [m.id], start_ms, end_ms) for m in meters}
    total = sum(kwh[i] for i in counted_ids)
    previous_total = _kwh(services, counted_ids, previous_ms, start_ms)
    names = {m.id: m.name for m in meters}

    with services.engine.connect() as conn:
        found = findings.count_by_kind(conn, [m.id for m in meters], start_ms, end_ms)
        rows = []
        for m in meters:
            known = _Known(
                parent_name=names.get(m.parent_id) if m.parent_id is not None else None,
                counted=m.id in counted_ids,
                kwh=kwh[m.id],
                share_pct=_pct(kwh[m.id], total),
                findings=dict(sorted((kind, n) for (d, kind), n in found.items() if d == m.id)),
            )
            rows.append(_meter(conn, m, zone, (start_ms, end_ms), until_ms, known))
        statuses, rules = alert_store.started_between(conn, site_id, start_ms, end_ms)
        has_tariff = billing_store.current_tariff(conn, site_id) is not None
        bills = _bills(conn, site_id, start, end)

    balances = []
    for main in (m for m in meters if m.role == "main"):
        subs = tuple(m.id for m in meters if m.role == "sub" and m.parent_id == main.id)
        if not subs:
            continue
        subs_kwh = sum(kwh[s] for s in subs)
        lost = kwh[main.id] - subs_kwh
        balances.append(Balance(main.id, main.name, kwh[main.id], subs, subs_kwh, lost, _pct(lost, kwh[main.id])))
    return SiteReport(
        site_id=site.id,
        site_name=site.name,
        timezone=site.timezone,
        currency=site.currency,
        label=period_label(start, end),
        start=start,
        end=end,
        start_ms=start_ms,
        end_ms=end_ms,
        generated_ms=generated,
        total_kwh=total,
        previous_start=previous_start,
        previous_total_kwh=previous_total,
        change_pct=_pct(total - previous_total, previous_total),
        meters=tuple(rows),
        balances=tuple(balances),
        alerts=AlertSummary(
            total=sum(statuses.values()),
            by_status=dict(sorted(statuses.items())),
            top_rules=tuple(RuleFired(r.rule_id, r.name, r.kind, r.alerts) for r in rules[:TOP_RULES]),
        ),
        has_tariff=has_tariff,
        bills=bills,
    )
