"""Each shipped tariff, billed by hand from its published rates, equals Wattwise's bill.

The hand computations are written out line by line from the rates in the preset's source
(see ../shared/reference/tariffs.md); amounts are to the paisa / cent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import numpy as np

from wattwise.analysis.billing.compute import Bill, Connection, bill_for_units, compute_bill
from wattwise.analysis.billing.presets import load_preset, preset_ids
from wattwise.analysis.energy import HOUR_MS, BillingCycle, EnergySeries, local_midnight_ms

BIMONTHLY = BillingCycle(date(2025, 1, 1), date(2025, 3, 1))
MONTH = BillingCycle(date(2025, 5, 1), date(2025, 6, 1))


def amounts(bill: Bill) -> list[tuple[str, D]]:
    return [(line.charge_id, line.amount) for line in bill.lines]


def test_every_preset_names_its_source_date_and_currency() -> None:
    assert preset_ids() == ["in-dl-domestic", "in-kl-domestic", "in-tn-domestic", "us-pge-e-tou-c"]
    for pid in preset_ids():
        t = load_preset(pid)
        assert t.source and t.source_date is not None and t.notes
        assert t.currency in {"INR", "USD"}


# -- Tamil Nadu: bi-monthly, first 100 units free, the total picks the schedule -------------


def test_tamil_nadu_450_units_keeps_the_101_200_concession() -> None:
    bill = bill_for_units(load_preset("in-tn-domestic"), BIMONTHLY, 450)
    # 100 x 0 + 100 x 2.35 + 200 x 4.70 + 50 x 6.30
    assert [line.amount for line in bill.lines] == [D("0.00"), D("235.00"), D("940.00"), D("315.00")]
    assert bill.total == D("1490.00")


def test_tamil_nadu_500_units_is_the_last_total_with_the_concession() -> None:
    # 100 x 0 + 100 x 2.35 + 200 x 4.70 + 100 x 6.30 = 235 + 940 + 630
    assert bill_for_units(load_preset("in-tn-domestic"), BIMONTHLY, 500).total == D("1805.00")
    # One unit more loses the concession: 300 x 4.70 + 100 x 6.30 + 1 x 8.40 = 1410 + 630 + 8.40
    assert bill_for_units(load_preset("in-tn-domestic"), BIMONTHLY, 501).total == D("2048.40")


def test_tamil_nadu_1150_units_reaches_the_top_slab() -> None:
    bill = bill_for_units(load_preset("in-tn-domestic"), BIMONTHLY, 1150)
    # 0 + 300 x 4.70 + 100 x 6.30 + 100 x 8.40 + 200 x 9.45 + 200 x 10.50 + 150 x 11.55
    expected = [D("0.00"), D("1410.00"), D("630.00"), D("840.00"), D("1890.00"), D("2100.00"),
                D("1732.50")]  # fmt: skip
    assert [line.amount for line in bill.lines] == expected
    assert bill.total == D("8602.50")


def test_tamil_nadu_monthly_cycle_halves_each_slab() -> None:
    bill = bill_for_units(load_preset("in-tn-domestic"), MONTH, 225)
    # 50 x 0 + 50 x 2.35 + 100 x 4.70 + 25 x 6.30 = 0 + 117.50 + 470 + 157.50
    assert bill.total == D("745.00")
    assert bill.lines[0].label == "Energy, first 50 units"


# -- Kerala: telescopic to 250 a month, non-telescopic above, slab-dependent fixed charge ----


def test_kerala_230_units_in_a_month_telescopic() -> None:
    bill = bill_for_units(load_preset("in-kl-domestic"), MONTH, 230)
    # energy 50 x 3.35 + 50 x 4.25 + 50 x 5.35 + 50 x 7.20 + 30 x 8.50
    #      = 167.50 + 212.50 + 267.50 + 360.00 + 255.00 = 1262.50
    # fixed charge (201-250 band, single phase) 160; meter rent 6
    # duty 10 % of 1262.50 = 126.25; GST 18 % of 6 = 1.08
    assert amounts(bill) == [
        ("energy", D("167.50")), ("energy", D("212.50")), ("energy", D("267.50")),
        ("energy", D("360.00")), ("energy", D("255.00")),
        ("fixed_charge", D("160.00")), ("meter_rent", D("6.00")),
        ("duty", D("126.25")), ("gst_meter_rent", D("1.08")),
    ]  # fmt: skip
    assert bill.total == D("1555.83")


def test_kerala_bimonthly_halves_the_units_bills_a_month_and_doubles_it() -> None:
    bill = bill_for_units(load_preset("in-kl-domestic"), BillingCycle(date(2025, 5, 1), date(2025, 7, 1)), 640)
    # 640 / 2 = 320 a month: above 250, so every unit at the 301-350 rate 7.60 (non-telescopic)
    # energy 640 x 7.60 = 4864.00; fixed 2 x 240 = 480; rent 2 x 6 = 12
    # duty 486.40; GST 18 % of 12 = 2.16
    assert amounts(bill) == [
        ("energy", D("4864.00")), ("fixed_charge", D("480.00")), ("meter_rent", D("12.00")),
        ("duty", D("486.40")), ("gst_meter_rent", D("2.16")),
    ]  # fmt: skip
    assert bill.total == D("5844.56")


def test_kerala_three_phase_fixed_charge() -> None:
    bill = bill_for_units(load_preset("in-kl-domestic"), MONTH, 230, Connection(phases=3))
    assert dict(amounts(bill))["fixed_charge"] == D("235.00")


def test_kerala_tariff_change_on_5_december_2024_in_mid_cycle() -> None:
    """A 30-day cycle, 20 Nov to 20 Dec 2024, split at 5 Dec: 15 days on each version.

    3 units a day: 45 units in each half; each half's slabs are half a month wide.
    Old (to 4.12.24): 25 x 3.25 + 20 x 4.05 = 81.25 + 81.00 = 162.25; fixed 51-100 band
      65 x 0.5 = 32.50; rent 3.00; duty 16.225 -> 16.23; GST 0.54          = 214.52
    New (from 5.12.24): 25 x 3.30 + 20 x 4.15 = 82.50 + 83.00 = 165.50; fixed 75 x 0.5
      = 37.50; rent 3.00; duty 16.55; GST 0.54                              = 223.09
    """
    zone = ZoneInfo("Asia/Kolkata")
    a = local_midnight_ms(date(2024, 11, 1), zone)
    ts = np.arange(a - a % HOUR_MS, a + 60 * 24 * HOUR_MS, HOUR_MS)
    series = EnergySeries.of(ts, np.full(ts.size, 125.0), HOUR_MS)  # 3 kWh a day
    cycle = BillingCycle(date(2024, 11, 20), date(2024, 12, 20))
    bill = compute_bill(load_preset("in-kl-domestic"), cycle, series)
    assert [(p.start, p.effective_from, p.kwh) for p in bill.parts] == [
        (date(2024, 11, 20), date(2023, 11, 1), D("45.000")),
        (date(2024, 12, 5), date(2024, 12, 5), D("45.000")),
    ]
    assert [line.amount for line in bill.lines if line.part == 0] == [
        D("81.25"), D("81.00"), D("32.50"), D("3.00"), D("16.23"), D("0.54"),
    ]  # fmt: skip
    assert [line.amount for line in bill.lines if line.part == 1] == [
        D("82.50"), D("83.00"), D("37.50"), D("3.00"), D("16.55"), D("0.54"),
    ]  # fmt: skip
    assert bill.total == D("437.61")


# -- Delhi: fixed charge per kW, surcharges and tax on fixed + energy, subsidy last ----------


def test_delhi_350_units_gets_half_off_capped_at_800() -> None:
    bill = bill_for_units(load_preset("in-dl-domestic"), MONTH, 350, Connection(sanctioned_kw=D(3)))
    # energy 200 x 3.00 + 150 x 4.50 = 600 + 675 = 1275; fixed 3 kW x 50 = 150; base 1425
    # PPAC 0 % = 0; surcharge 8 % = 114.00; pension 7 % = 99.75; tax 5 % = 71.25 -> 1710.00
    # subsidy 50 % = 855.00, capped at 800.00
    assert amounts(bill) == [
        ("energy", D("600.00")), ("energy", D("675.00")), ("fixed_charge", D("150.00")),
        ("ppac", D("0.00")), ("regulatory_surcharge", D("114.00")),
        ("pension_surcharge", D("99.75")), ("electricity_tax", D("71.25")),
        ("subsidy", D("-800.00")),
    ]  # fmt: skip
    assert bill.total == D("910.00")
    opted_out = bill_for_units(load_preset("in-dl-domestic"), MONTH, 350, Connection(sanctioned_kw=D(3), subsidy=False))
    assert opted_out.total == D("1710.00")


def test_delhi_up_to_200_units_is_a_zero_bill() -> None:
    bill = bill_for_units(load_preset("in-dl-domestic"), MONTH, 150, Connection(sanctioned_kw=D(3)))
    # 450 + 150 fixed = 600; +48 +42 +30 = 720; subsidy 100 %
    assert bill.amount_of("subsidy") == D("-720.00")
    assert bill.total == D("0.00")


def test_delhi_900_units_6_kw_with_the_distributors_ppac() -> None:
    base = load_preset("in-dl-domestic")
    version = base.versions[0]
    addons = tuple(a.model_copy(update={"percent": D("8.5")}) if a.id == "ppac" else a for a in version.addons)
    tariff = base.model_copy(update={"versions": (version.model_copy(update={"addons": addons}),)})
    bill = bill_for_units(tariff, MONTH, 900, Connection(sanctioned_kw=D(6)))
    # energy 600 + 200 x 4.50 + 400 x 6.50 + 100 x 7.00 = 600 + 900 + 2600 + 700 = 4800
    # fixed 6 kW x 100 (5-15 kW bracket) = 600; base 5400
    # PPAC 8.5 % 459.00; 8 % 432.00; 7 % 378.00; 5 % 270.00; no subsidy above 400 units
    assert bill.total == D("4800") + D("600") + D("459.00") + D("432.00") + D("378.00") + D("270.00")
    assert bill.total == D("6939.00")


def test_delhi_partial_month_pro_rates_slabs_fixed_charge_and_cap_by_days() -> None:
    # A 15-day final bill: everything monthly is scaled by 15 / 30 = 0.5.
    bill = bill_for_units(
        load_preset("in-dl-domestic"),
        BillingCycle(date(2025, 5, 1), date(2025, 5, 16)),
        150,
        Connection(sanctioned_kw=D(3)),
    )
    # slabs 0-100 at 3.00 = 300.00 and 101-150 at 4.50 = 225.00; fixed 3 kW x 50 x 0.5 = 75.00
    # base 600: 8 % 48.00, 7 % 42.00, 5 % 30.00 -> 720.00
    # 150 units in half a month is 300 a month: 50 % off = 360.00 (cap 800 x 0.5 = 400)
    assert amounts(bill) == [
        ("energy", D("300.00")), ("energy", D("225.00")), ("fixed_charge", D("75.00")), ("ppac", D("0.00")),
        ("regulatory_surcharge", D("48.00")), ("pension_surcharge", D("42.00")),
        ("electricity_tax", D("30.00")), ("subsidy", D("-360.00")),
    ]  # fmt: skip
    assert bill.total == D("360.00")


# -- PG&E E-TOU-C: peak 4-9 pm every day, seasons, baseline credit, daily minimum -----------

LA = ZoneInfo("America/Los_Angeles")


def constant_hours(first: date, last: date, wh: float) -> EnergySeries:
    a, b = local_midnight_ms(first, LA), local_midnight_ms(last, LA)
    ts = np.arange(a, b, HOUR_MS)
    return EnergySeries.of(ts, np.full(ts.size, wh), HOUR_MS)


def test_pge_july_one_kwh_every_hour() -> None:
    series = constant_hours(date(2025, 6, 25), date(2025, 8, 5), 1000.0)
    bill = compute_bill(load_preset("us-pge-e-tou-c"), BillingCycle(date(2025, 7, 1), date(2025, 8, 1)), series)
    # 31 days x 5 peak hours = 155 kWh x 0.60729 = 94.12995 -> 94.13
    # 31 days x 19 off-peak hours = 589 kWh x 0.50429 = 297.02681 -> 297.03
    # baseline 31 x 9.8 = 303.8 kWh x 0.10135 = 30.79013 -> -30.79
    assert amounts(bill) == [
        ("energy", D("94.13")), ("energy", D("297.03")), ("baseline_credit", D("-30.79")),
    ]  # fmt: skip
    assert bill.total == D("360.37")


def test_pge_cycle_across_the_start_of_summer() -> None:
    series = constant_hours(date(2025, 5, 1), date(2025, 7, 1), 500.0)
    bill = compute_bill(load_preset("us-pge-e-tou-c"), BillingCycle(date(2025, 5, 15), date(2025, 6, 15)), series)
    # 17 winter days (15-31 May), 14 summer days (1-14 June); 0.5 kWh an hour
    # winter peak 17 x 2.5 = 42.5 x 0.49312 = 20.9576 -> 20.96
    # winter off 17 x 9.5 = 161.5 x 0.46312 = 74.79388 -> 74.79
    # summer peak 14 x 2.5 = 35 x 0.60729 = 21.25515 -> 21.26
    # summer off 14 x 9.5 = 133 x 0.50429 = 67.07057 -> 67.07
    # baseline 17 x 9.7 + 14 x 9.8 = 302.1 kWh (< 372 used) x 0.10135 = 30.617835 -> -30.62
    assert amounts(bill) == [
        ("energy", D("21.26")), ("energy", D("67.07")), ("energy", D("20.96")),
        ("energy", D("74.79")), ("baseline_credit", D("-30.62")),
    ]  # fmt: skip
    assert bill.total == D("153.46")


def test_pge_daily_minimum_tops_up_a_nearly_empty_month() -> None:
    series = constant_hours(date(2025, 6, 25), date(2025, 8, 5), 10.0)  # 0.24 kWh a day
    bill = compute_bill(load_preset("us-pge-e-tou-c"), BillingCycle(date(2025, 7, 1), date(2025, 8, 1)), series)
    # peak 1.55 kWh x 0.60729 = 0.94; off 5.89 x 0.50429 = 2.97; credit 7.44 x 0.10135 = -0.75
    # energy 3.16 < minimum 31 x 0.39167 = 12.14177 -> top-up 8.98177 -> 8.98
    assert amounts(bill) == [
        ("energy", D("0.94")), ("energy", D("2.97")), ("baseline_credit", D("-0.75")),
        ("minimum", D("8.98")),
    ]  # fmt: skip
    assert bill.total == D("12.14")


def test_pge_bill_across_the_autumn_dst_change_counts_the_25_hour_day() -> None:
    series = constant_hours(date(2025, 10, 25), date(2025, 11, 10), 1000.0)
    bill = compute_bill(load_preset("us-pge-e-tou-c"), BillingCycle(date(2025, 11, 1), date(2025, 11, 3)), series)
    # 1 and 2 Nov: 24 + 25 hours = 49 kWh (peak 10 kWh, off-peak 39 kWh)
    assert bill.kwh == D("49.000")
    assert [line.quantity for line in bill.lines[:2]] == [D("10.000"), D("39.000")]
