"""The rules decide when an alert fires, repeats and clears: duration, hysteresis, offline,
budget, appliances — and say what is wrong with a rule a person wrote."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwise.alerts import rules as r
from wattwise.api.routes.findings import KINDS as DETECTOR_KINDS

S = 1000  # one second in ms
OVER_POWER = r.parse_params(
    "threshold", {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 1800, "for_s": 30}
)


def run(rule: r.Threshold, samples: list[tuple[int, float]]) -> list[tuple[str, int]]:
    hold = r.Hold()
    out = []
    for ts, value in samples:
        hold, t = r.step(rule, hold, ts, value)
        if t is not None:
            out.append((t.phase, t.ts))
    return out


def every_5_s(values: list[float], start: int = 0) -> list[tuple[int, float]]:
    return [(start + i * 5 * S, v) for i, v in enumerate(values)]


def test_an_over_power_rule_fires_after_30_s_above_and_clears_after_30_s_below_the_clear_level() -> None:
    assert isinstance(OVER_POWER, r.Threshold)
    # 25 s above is not enough; then 35 s above: fires 30 s after the second stretch began
    samples = every_5_s([2500] * 6 + [1500] + [2500] * 8 + [1700] * 7)
    assert run(OVER_POWER, samples) == [("fire", 65 * S), ("clear", 105 * S)]


def test_hovering_between_the_clear_and_the_trigger_level_neither_clears_nor_fires_again() -> None:
    assert isinstance(OVER_POWER, r.Threshold)
    # fires, then wobbles 1900–2100 W: dips into the band re-arm, a return above for 30 s repeats
    wobble = [1900, 2100, 1900, 2100] * 3
    samples = every_5_s([2500] * 7 + wobble + [2100] * 7 + [1900] * 10)
    # the wobble ends above at 90 s and stays above: a repeat 30 s later; then 50 s in the band
    assert run(OVER_POWER, samples) == [("fire", 30 * S), ("repeat", 120 * S)]


def test_a_below_rule_mirrors_an_above_rule() -> None:
    sag = r.parse_params("threshold", {"quantity": "voltage", "direction": "below", "trigger": 200, "clear": 210})
    assert isinstance(sag, r.Threshold)
    # 205 V is in the band: not cleared; 199 V again is a repeat; 211 V clears
    expected = [("fire", 5 * S), ("repeat", 15 * S), ("clear", 20 * S)]
    assert run(sag, every_5_s([230, 195, 205, 199, 211, 230])) == expected
    assert r.threshold_message(sag, 195.0) == "Voltage below 200 V (195 V now)"
    assert isinstance(OVER_POWER, r.Threshold)
    assert r.threshold_message(OVER_POWER, 2450.0) == "Power above 2000 W for 30 s (2450 W now)"


def test_readings_without_the_quantity_and_late_readings_change_nothing() -> None:
    assert isinstance(OVER_POWER, r.Threshold)
    hold, _ = r.step(OVER_POWER, r.Hold(), 0, 2500)
    assert r.step(OVER_POWER, hold, 5 * S, None) == (hold, None)
    later, _ = r.step(OVER_POWER, hold, 10 * S, 2500)
    assert r.step(OVER_POWER, later, 1 * S, 100) == (later, None)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.sampled_from([1000.0, 1799.0, 1800.0, 1900.0, 2000.0, 2001.0, 2600.0]), max_size=60),
    gaps=st.lists(st.integers(min_value=1, max_value=20), min_size=60, max_size=60),
    for_s=st.sampled_from([0, 10, 30]),
)
def test_fires_and_clears_alternate_and_each_fire_follows_a_whole_for_s_above(
    values: list[float], gaps: list[int], for_s: int
) -> None:
    rule = r.Threshold(quantity="power", direction="above", trigger=2000, clear=1800, for_s=for_s)
    ts = [sum(gaps[:i]) * S for i in range(len(values))]
    samples = list(zip(ts, values, strict=True))
    transitions = run(rule, samples)
    active = False
    for phase, at in transitions:
        assert phase == ("clear" if active else "fire") or (phase == "repeat" and active)
        active = phase != "clear"
        if phase == "clear":
            continue
        # every sample from the stretch's start to the fire meets the trigger, and the stretch is ≥ for_s
        upto = [v for t, v in samples if t <= at]
        stretch = 0
        while stretch < len(upto) and upto[-1 - stretch] > 2000:
            stretch += 1
        first = [t for t, _ in samples if t <= at][-stretch]
        assert stretch >= 1 and at - first >= for_s * S


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), max_size=50))
def test_with_no_duration_and_no_band_the_alert_is_active_exactly_while_the_value_is_above(
    values: list[float],
) -> None:
    rule = r.Threshold(quantity="power", direction="above", trigger=2000, clear=2000)
    hold = r.Hold()
    for i, v in enumerate(values):
        was = hold.active
        hold, _ = r.step(rule, hold, i * S, v)
        assert hold.active == (v > 2000 or (v == 2000 and was))


def test_a_meter_silent_for_the_rule_s_time_is_offline_until_it_reports_again() -> None:
    rule = r.Offline(after_s=600)
    hold, t = r.step_offline(rule, r.Hold(), 599 * S, 0)
    assert t is None
    hold, t = r.step_offline(rule, hold, 700 * S, 0)
    assert t == r.Transition("fire", 600 * S, 700.0)  # it went quiet at 600 s, seen at 700 s
    hold, t = r.step_offline(rule, hold, 800 * S, 0)
    assert t is None  # still offline: one alert
    hold, t = r.step_offline(rule, hold, 900 * S, 900 * S)
    assert t is not None and t.phase == "clear"
    assert r.offline_message(rule, 700.0) == "No reading for 12 min"


def test_an_appliance_left_on_fires_once_it_ran_the_rule_s_time_and_clears_when_it_switches_off() -> None:
    iron = r.ApplianceRule(label="Iron", on_longer_than_s=1800)
    state, t = r.step_appliance(iron, r.ApplianceHold(), 1000 * S, "on")
    assert t is None
    state, t = r.step_appliance(iron, state, 2700 * S, None)  # 28 min on
    assert t is None
    state, t = r.step_appliance(iron, state, 2900 * S, None)  # 31 min 40 s on
    assert t is not None and t.phase == "fire" and t.value == 1900.0
    assert r.appliance_message(iron, t.value) == "Iron still on after 32 min"
    # the OFF event is found a little after the readings that showed it: it still clears
    state, t = r.step_appliance(iron, state, 2850 * S, "off")
    assert t is not None and t.phase == "clear"


def test_a_switches_on_rule_fires_at_each_switching_on_and_clears_at_the_off() -> None:
    kettle = r.ApplianceRule(label="kettle")
    assert kettle.is_it("Kettle ")
    state, t = r.step_appliance(kettle, r.ApplianceHold(), 10 * S, "on")
    assert t is not None and t.phase == "fire"
    state, t = r.step_appliance(kettle, state, 20 * S, None)
    assert t is None
    state, t = r.step_appliance(kettle, state, 200 * S, "off")
    assert t is not None and t.phase == "clear"
    assert r.appliance_message(kettle, 0) == "Kettle switched on"


def test_a_budget_rule_on_the_share_used_or_on_the_projection() -> None:
    share = r.BudgetRule(used_pct=80)
    assert not r.budget_breached(share, 0.79, "at_risk")
    assert r.budget_breached(share, 0.80, "on_track")
    projected = r.BudgetRule(projected=True)
    assert r.budget_breached(projected, 0.1, "at_risk") and not r.budget_breached(projected, 0.9, "on_track")
    text = r.budget_message(projected, 0.5, "at_risk", "500.00", "1000", "INR")
    assert text == "Budget 50 % used (500.00 of 1000 INR): this cycle may end above it"


def test_finding_rules_know_every_kind_the_detectors_raise() -> None:
    assert set(r.FINDING_KINDS) == set(DETECTOR_KINDS)
    rule = r.parse_params("finding", {"kinds": ["grid", "theft"], "min_score": 0.5})
    assert isinstance(rule, r.FindingRule)
    assert rule.matches("sag", 0.7) and rule.matches("theft", 0.5)
    assert not rule.matches("sag", 0.4) and not rule.matches("anomaly", 0.9)


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("threshold", {"quantity": "watts", "direction": "above", "trigger": 1}, "params.quantity"),
        ("threshold", {"quantity": "power", "direction": "over", "trigger": 1}, "params.direction"),
        ("threshold", {"quantity": "power", "direction": "above"}, "params.trigger"),
        ("threshold", {"quantity": "power", "direction": "above", "trigger": "2 kW"}, "params.trigger"),
        ("threshold", {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 2100}, "params.clear"),
        ("threshold", {"quantity": "voltage", "direction": "below", "trigger": 200, "clear": 190}, "params.clear"),
        ("threshold", {"quantity": "power", "direction": "above", "trigger": 1, "for_s": -1}, "params.for_s"),
        ("threshold", {"quantity": "power", "direction": "above", "trigger": 1, "for": 5}, "params.for"),
        ("offline", {}, "params.after_s"),
        ("budget", {}, "params.used_pct"),
        ("budget", {"projected": "yes"}, "params.projected"),
        ("finding", {"kinds": []}, "params.kinds"),
        ("finding", {"kinds": ["burglary"]}, "params.kinds"),
        ("appliance", {"label": " "}, "params.label"),
        ("appliance", {"label": "iron", "on_longer_than_s": 0}, "params.on_longer_than_s"),
        ("weather", {}, "kind"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(kind: str, params: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        r.parse_params(kind, params)


def test_only_an_overload_rule_may_cut_the_relay() -> None:
    assert r.may_cut_relay(OVER_POWER)
    assert r.may_cut_relay(r.parse_params("threshold", {"quantity": "current", "direction": "above", "trigger": 16}))
    high_voltage = {"quantity": "voltage", "direction": "above", "trigger": 250}
    assert not r.may_cut_relay(r.parse_params("threshold", high_voltage))
    assert not r.may_cut_relay(r.Offline(after_s=60))


def test_durations_read_as_people_say_them() -> None:
    assert [r.duration(s) for s in (12, 119, 300, 7200, 9000)] == ["12 s", "119 s", "5 min", "2 h", "2 h 30 min"]
