"""Users write their own tariff in TOML or JSON; mistakes come back named, with where they are."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from wattwise.analysis.billing.compute import bill_for_units
from wattwise.analysis.billing.tariff import TariffError, load_tariff, parse_tariff
from wattwise.analysis.energy import BillingCycle

# The home-assistant-glow #27 user's bi-monthly slabs: 0-100 free, 101-200 at 3.5, above at 4.6,
# with a fixed charge of 2 a day and a tariff rise on 1 March.
MY_TARIFF = """
id = "my-slabs"
name = "My utility, bi-monthly"
currency = "INR"
timezone = "Asia/Kolkata"

[[versions]]
effective_from = 2025-01-01
slab_months = 2
fixed = [{ id = "connection", label = "Connection charge", per = "day", amount = "2" }]
[[versions.schedules]]
slabs = [{ up_to = 100, rate = "0" }, { up_to = 200, rate = "3.5" }, { rate = "4.6" }]

[[versions]]
effective_from = 2025-03-01
slab_months = 2
fixed = [{ id = "connection", label = "Connection charge", per = "day", amount = "2" }]
[[versions.schedules]]
slabs = [{ up_to = 100, rate = "0" }, { up_to = 200, rate = "4" }, { rate = "5" }]
"""


def test_a_users_own_toml_tariff_bills_as_written() -> None:
    t = parse_tariff(MY_TARIFF, "toml")
    bill = bill_for_units(t, BillingCycle(date(2025, 1, 1), date(2025, 3, 1)), 250)
    # 100 x 0 + 100 x 3.5 + 50 x 4.6 = 350 + 230 = 580; 59 days x 2 = 118
    assert bill.total == D("698.00")


def test_a_tariff_rise_in_mid_cycle_splits_the_read_units_by_days() -> None:
    t = parse_tariff(MY_TARIFF, "toml")
    # 1 Feb - 31 Mar (59 days): 28 days old, 31 days new; 236 units read -> 112 + 124 by days.
    bill = bill_for_units(t, BillingCycle(date(2025, 2, 1), date(2025, 4, 1)), 236)
    assert [p.kwh for p in bill.parts] == [D("112.000"), D("124.000")]
    # Each part's slabs are its share of the cycle's: x 28/59 and x 31/59.
    # old: 100 x 28/59 = 47.458 free; 47.458 x 3.5 = 166.103 -> 166.10; 36 x 28/59 = 17.085
    #      x 4.6 = 78.591 -> 78.59; 28 days x 2 = 56.00
    # new: 100 x 31/59 = 52.542 free; 52.542 x 4 = 210.168 -> 210.17; 36 x 31/59 = 18.915
    #      x 5 = 94.575 -> 94.58; 31 days x 2 = 62.00
    assert [line.amount for line in bill.lines] == [
        D("0.00"), D("166.10"), D("78.59"), D("56.00"),
        D("0.00"), D("210.17"), D("94.58"), D("62.00"),
    ]  # fmt: skip
    assert bill.total == D("667.44")
    # a past cycle is never rewritten by the rise
    jan = bill_for_units(t, BillingCycle(date(2025, 1, 1), date(2025, 3, 1)), 250)
    assert jan.total == D("698.00")


def test_json_works_the_same(tmp_path: Path) -> None:
    data = {
        "id": "flat",
        "name": "Flat",
        "currency": "EUR",
        "versions": [{"effective_from": "2025-01-01", "energy_rate": "0.25"}],
    }
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(data))
    bill = bill_for_units(load_tariff(path), BillingCycle(date(2025, 1, 1), date(2025, 2, 1)), 123)
    assert bill.total == D("30.75")


def problems(text: str) -> list[str]:
    with pytest.raises(TariffError) as info:
        parse_tariff(text, "toml", "bad.toml")
    return info.value.problems


def test_slabs_that_do_not_rise_are_named() -> None:
    bad = MY_TARIFF.replace('{ up_to = 200, rate = "3.5" }', '{ up_to = 50, rate = "3.5" }')
    assert problems(bad) == ["versions[0].schedules[0].slabs: slab bounds must rise: 50 follows 100"]


def test_every_problem_is_listed_with_its_place() -> None:
    bad = """
id = "Bad Id"
name = "x"
currency = "rupees"
[[versions]]
effective_from = 2025-01-01
energy_rate = "-1"
"""
    found = problems(bad)
    assert any(p.startswith("id: String should match pattern") for p in found)
    assert any(p.startswith("currency: String should match pattern") for p in found)
    assert any(p.startswith("versions[0].energy_rate: Input should be greater than or equal to 0") for p in found)


def test_unknown_add_on_base_missing_tou_rate_and_version_order() -> None:
    first_fixed = 'fixed = [{ id = "connection", label = "Connection charge", per = "day", amount = "2" }]\n'
    taxed = first_fixed + 'addons = [{ id = "tax", label = "Tax", percent = "5", base = ["enrgy"] }]\n'
    addon = MY_TARIFF.replace(first_fixed, taxed, 1)
    assert problems(addon) == [
        "versions[0]: add-on 'tax': base ['enrgy'] names no earlier charge "
        "(known: ['connection', 'energy', 'fixed', 'per_unit'])"
    ]
    tou = """
id = "t"
name = "t"
currency = "USD"
[[versions]]
effective_from = 2025-01-01
[versions.tou]
[[versions.tou.seasons]]
name = "all"
start = "01-01"
end = "12-31"
default_period = "off"
weekday = [{ start = 16, end = 21, period = "peak" }]
rates = { off = "0.3" }
"""
    assert problems(tou) == ["versions[0].tou.seasons[0]: season 'all': period 'peak' has no rate in rates"]
    gap = tou.replace('end = "12-31"', 'end = "11-30"').replace(
        'rates = { off = "0.3" }', 'rates = { off = "0.3", peak = "1" }'
    )
    assert problems(gap) == ["versions[0].tou: no season covers 12-01"]
    swapped = MY_TARIFF.replace("2025-03-01", "2024-12-01")
    assert problems(swapped) == ["versions: versions must be in date order: 2024-12-01 follows 2025-01-01"]


def test_not_toml_and_wrong_suffix(tmp_path: Path) -> None:
    assert problems("id = ")[0].startswith("not valid TOML")
    other = tmp_path / "tariff.yaml"
    other.write_text("id: x")
    with pytest.raises(TariffError, match=r"must end in \.toml or \.json"):
        load_tariff(other)


def test_a_bill_before_the_first_version_says_so() -> None:
    t = parse_tariff(MY_TARIFF, "toml")
    with pytest.raises(TariffError, match="no version in force on 2024-12-01; first from 2025-01-01"):
        bill_for_units(t, BillingCycle(date(2024, 12, 1), date(2025, 2, 1)), 10)
