"""A site's tariff, cycle, connection and budget, and where its current cycle stands.

The tariff is a preset (followed as Wattwise ships new versions of it) or the user's own
TOML/JSON, validated by the engine, which names every problem. A tariff carries dated
versions, so a change of rates is a new version and bills of earlier days keep theirs;
issued bills keep the tariff they were computed with in any case.

``budget_status`` is the entry point for the alert rules: the budget state of a site's
current cycle, or None when it has no tariff or no budget.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from wattwise.accounting.energy import recorded_series, site_meters
from wattwise.analysis.billing import (
    Budget,
    BudgetStatus,
    CycleOverview,
    DayCost,
    Tariff,
    TariffError,
    cycle_overview,
    daily_costs,
    load_preset,
    parse_tariff,
    preset_ids,
    tariff_from_dict,
)
from wattwise.analysis.billing import (
    Connection as Supply,
)
from wattwise.analysis.billing.projection import DEFAULT_HISTORY_DAYS
from wattwise.analysis.energy import BillingCycle, cycle_containing, local_date, local_midnight_ms
from wattwise.runtime import Services
from wattwise.store import billing as billing_store
from wattwise.store import sites as site_store
from wattwise.store.billing import BillingSettings, StoredTariff
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.sites import Site

DEFAULT_ANCHOR = date(2000, 1, 1)  # cycles start on the 1st unless the site says otherwise


class NoTariff(Conflict):
    """The site has no tariff yet, so there is nothing to price energy with."""


def get_site(conn: Connection, site_id: int) -> Site:
    found = site_store.list_sites(conn, frozenset({site_id}))
    if not found:
        raise NotFound(f"no site with id {site_id}")
    return found[0]


def account_of(site_id: int) -> str:
    """The account a site's bills and payments are kept under (and webhooks name)."""
    return f"site-{site_id}"


def site_of_account(account: str) -> int | None:
    head, _, number = account.partition("-")
    return int(number) if head == "site" and number.isdigit() else None


def tariff_of(stored: StoredTariff) -> Tariff:
    """The tariff in force: a preset as shipped now, or the user's own as validated then."""
    if stored.preset is not None and stored.preset in preset_ids():
        return load_preset(stored.preset)
    # the user's own, or a preset this version no longer ships: as it was when it was put
    return tariff_from_dict(json.loads(stored.tariff_json), f"site {stored.site_id} tariff")


def default_settings(site_id: int, tariff: Tariff | None) -> BillingSettings:
    """Cycles as long as the tariff's slab period (Tamil Nadu: 2 months), from the 1st."""
    months = tariff.versions[-1].slab_months if tariff is not None else 1
    return BillingSettings(site_id=site_id, cycle_months=months, cycle_anchor=DEFAULT_ANCHOR)


@dataclass(frozen=True, slots=True)
class SiteBilling:
    """Everything needed to price a site's energy."""

    site: Site
    stored: StoredTariff
    tariff: Tariff
    settings: BillingSettings

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    @property
    def account(self) -> str:
        return account_of(self.site.id)

    @property
    def supply(self) -> Supply:
        s = self.settings
        return Supply(phases=s.phases, sanctioned_kw=s.sanctioned_kw, subsidy=s.subsidy)

    @property
    def budget(self) -> Budget | None:
        s = self.settings
        if s.budget_limit is None:
            return None
        unit: Literal["money", "kwh"] = "kwh" if s.budget_unit == "kwh" else "money"
        return Budget(s.budget_limit, unit)

    def cycle_on(self, day: date) -> BillingCycle:
        return cycle_containing(self.settings.cycle_anchor, self.settings.cycle_months, day)

    def cycle_at(self, ts_ms: int) -> BillingCycle:
        return self.cycle_on(local_date(ts_ms, self.zone))

    def cycle_ms(self, cycle: BillingCycle) -> tuple[int, int]:
        return local_midnight_ms(cycle.start, self.zone), local_midnight_ms(cycle.end, self.zone)


def settings_of(conn: Connection, site_id: int, tariff: Tariff | None) -> BillingSettings:
    return billing_store.get_settings(conn, site_id) or default_settings(site_id, tariff)


def cycle_rule(conn: Connection, site_id: int) -> tuple[date, int]:
    """(anchor, months) of the site's billing cycles, whether or not it has a tariff yet."""
    s = settings_of(conn, site_id, _current_tariff(conn, site_id))
    return s.cycle_anchor, s.cycle_months


def load_site_billing(conn: Connection, site_id: int) -> SiteBilling:
    site = get_site(conn, site_id)
    stored = billing_store.current_tariff(conn, site_id)
    if stored is None:
        raise NoTariff(f"site {site.name!r} has no tariff yet: PUT /api/v1/sites/{site_id}/tariff")
    tariff = tariff_of(stored)
    return SiteBilling(site, stored, tariff, settings_of(conn, site_id, tariff))


def read_tariff(*, preset: str | None = None, toml: str | None = None, data: object = None) -> tuple[Tariff, str, str]:
    """Validate exactly one way of giving a tariff; returns it, its format and its source text."""
    given = [name for name, v in (("preset", preset), ("toml", toml), ("tariff", data)) if v is not None]
    if len(given) != 1:
        raise TariffError("tariff", [f"give exactly one of preset, toml, tariff; got {', '.join(given) or 'none'}"])
    if preset is not None:
        return load_preset(preset), "preset", preset
    if toml is not None:
        return parse_tariff(toml, "toml", "toml"), "toml", toml
    if not isinstance(data, dict):
        raise TariffError("tariff", ["tariff: must be a JSON object"])
    return tariff_from_dict(data, "tariff"), "json", json.dumps(data, indent=2)


def from_day(earlier: Tariff, later: Tariff, day: date) -> Tariff:
    """``earlier`` until ``day``, then ``later``: one tariff whose versions change on ``day``.

    This is how a switch of tariff (say from a preset to the user's own) keeps its dates: the
    days before ``day`` are still priced by the versions that were in force then. The version
    of ``later`` in force on ``day`` starts on ``day``; its later versions follow.
    """
    if later.currency != earlier.currency:
        raise TariffError("tariff", [f"currency: {later.currency} cannot follow {earlier.currency} in one tariff"])
    if later.versions[0].effective_from > day:
        raise TariffError(
            "tariff",
            [
                f"effective_from: the new tariff has no version in force on {day}; its first starts on "
                f"{later.versions[0].effective_from}"
            ],
        )
    before = [v.model_dump(mode="json") for v in earlier.versions if v.effective_from < day]
    first = later.version_on(day).model_copy(update={"effective_from": day})
    after = [v.model_dump(mode="json") for v in later.versions if v.effective_from > day]
    data = later.model_dump(mode="json") | {"versions": [*before, first.model_dump(mode="json"), *after]}
    return tariff_from_dict(data, f"{earlier.id} until {day}, then {later.id}")


def set_tariff(
    conn: Connection,
    site_id: int,
    by: str,
    *,
    preset: str | None = None,
    toml: str | None = None,
    data: object = None,
    effective_from: date | None = None,
) -> tuple[StoredTariff, Tariff]:
    """Put a tariff in force for the site; TariffError names what is wrong with it.

    With ``effective_from``, only from that day: the tariff in force until then keeps pricing
    the days before it (the two are stored as one tariff of dated versions).
    """
    site = get_site(conn, site_id)
    tariff, fmt, text = read_tariff(preset=preset, toml=toml, data=data)
    if tariff.currency != site.currency:
        raise TariffError(
            "tariff",
            [f"currency: the tariff is in {tariff.currency} but site {site.name!r} keeps accounts in {site.currency}"],
        )
    if effective_from is not None:
        earlier = _current_tariff(conn, site_id)
        if earlier is None:
            raise TariffError("tariff", ["effective_from: the site has no tariff yet for the days before it"])
        tariff = from_day(earlier, tariff, effective_from)
        preset, fmt, text = None, "json", json.dumps(json.loads(tariff.model_dump_json()), indent=2)
    stored = billing_store.add_tariff(
        conn,
        site_id,
        preset=preset,
        source_format=fmt,
        source_text=text,
        tariff_json=tariff.model_dump_json(),
        by=by,
    )
    return stored, tariff


def _current_tariff(conn: Connection, site_id: int) -> Tariff | None:
    stored = billing_store.current_tariff(conn, site_id)
    return None if stored is None else tariff_of(stored)


#: the largest sanctioned load a connection may have: 100 MW, past any site Wattwise meters,
#: and small enough that a per-kW charge stays inside Decimal's 28 digits (1e308 kW stored
#: made every bill of the site fail)
MAX_SANCTIONED_KW = Decimal(100_000)
#: the largest budget per cycle, in money or kWh: far past any bill, like the largest payment
MAX_BUDGET = Decimal(10**12)


def set_cycle_and_supply(
    conn: Connection,
    site_id: int,
    *,
    cycle_months: int,
    cycle_anchor: date,
    phases: int,
    sanctioned_kw: Decimal | None,
    subsidy: bool,
) -> BillingSettings:
    """How the site's cycles run and what its connection is; the budget is kept."""
    get_site(conn, site_id)
    if not 1 <= cycle_months <= 12:
        raise ValueError(f"cycle_months: a cycle lasts 1 to 12 months, got {cycle_months}")
    if phases not in (1, 3):
        raise ValueError(f"phases: 1 or 3, got {phases}")
    if sanctioned_kw is not None and not 0 < sanctioned_kw <= MAX_SANCTIONED_KW:
        raise ValueError(f"sanctioned_kw: must be above zero and at most {MAX_SANCTIONED_KW:,} kW, got {sanctioned_kw}")
    now = settings_of(conn, site_id, _current_tariff(conn, site_id))
    return billing_store.put_settings(
        conn,
        replace(
            now,
            cycle_months=cycle_months,
            cycle_anchor=cycle_anchor,
            phases=phases,
            sanctioned_kw=sanctioned_kw,
            subsidy=subsidy,
        ),
    )


def set_sanctioned_load(conn: Connection, site_id: int, sanctioned_kw: Decimal) -> BillingSettings:
    """Set only the connection's sanctioned load (what a charge per kW needs); the rest is kept."""
    now = settings_of(conn, site_id, _current_tariff(conn, site_id))
    return set_cycle_and_supply(
        conn,
        site_id,
        cycle_months=now.cycle_months,
        cycle_anchor=now.cycle_anchor,
        phases=now.phases,
        sanctioned_kw=sanctioned_kw,
        subsidy=now.subsidy,
    )


def set_budget(conn: Connection, site_id: int, budget: Budget | None) -> BillingSettings:
    """Set (or with None, remove) the site's budget per cycle; the cycle settings are kept."""
    get_site(conn, site_id)
    if budget is not None and budget.limit > MAX_BUDGET:  # on the way in only: what is stored stays readable
        raise ValueError(f"limit: a budget is at most {MAX_BUDGET:,} a cycle, got {budget.limit}")
    now = settings_of(conn, site_id, _current_tariff(conn, site_id))
    limit, unit = (None, None) if budget is None else (budget.limit, budget.unit)
    return billing_store.put_settings(conn, replace(now, budget_limit=limit, budget_unit=unit))


def overview(services: Services, site_id: int, as_of_ms: int) -> tuple[SiteBilling, CycleOverview]:
    """The cycle containing ``as_of_ms``: days, bill to date, today, projection, budget."""
    with services.engine.connect() as conn:
        sb = load_site_billing(conn, site_id)
        meters = site_meters(conn, site_id)
    cycle = sb.cycle_at(as_of_ms)
    history_from = local_midnight_ms(cycle.start - timedelta(days=DEFAULT_HISTORY_DAYS), sb.zone)
    series = recorded_series(services, meters, history_from, min(as_of_ms, sb.cycle_ms(cycle)[1]))
    result = cycle_overview(
        sb.tariff,
        series,
        as_of_ms,
        sb.settings.cycle_anchor,
        sb.settings.cycle_months,
        sb.zone,
        sb.supply,
        sb.budget,
    )
    return sb, result


def today(services: Services, site_id: int, as_of_ms: int) -> tuple[SiteBilling, DayCost]:
    """Today's units and what they added to the bill, and the bill so far — without a projection."""
    with services.engine.connect() as conn:
        sb = load_site_billing(conn, site_id)
        meters = site_meters(conn, site_id)
    cycle = sb.cycle_at(as_of_ms)
    start_ms, end_ms = sb.cycle_ms(cycle)
    series = recorded_series(services, meters, start_ms, min(as_of_ms, end_ms))
    days = daily_costs(sb.tariff, cycle, series, as_of_ms, sb.zone, sb.supply)
    return sb, days[-1]


def budget_status(services: Services, site_id: int, now_ms: int) -> BudgetStatus | None:
    """The site's current cycle against its budget (for the alert rules); None: nothing to check."""
    with services.engine.connect() as conn:
        settings = billing_store.get_settings(conn, site_id)
        if settings is None or settings.budget_limit is None or billing_store.current_tariff(conn, site_id) is None:
            return None
    return overview(services, site_id, now_ms)[1].budget
