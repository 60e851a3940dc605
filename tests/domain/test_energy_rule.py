"""Energy between two readings survives what real meters do to their counters."""

from wattwise.domain.energy import EnergyRules, interval_energy

S = 1000  # ms


def test_counter_advancing_normally_is_taken_as_is() -> None:
    assert interval_energy(0, 1000.0, 500.0, 10 * S, 1001.0, 500.0) == 1.0


def test_counter_reset_to_zero_counts_what_the_meter_shows_since() -> None:
    # meter rebooted / user pressed reset: counter back to 2 Wh
    assert interval_energy(0, 52_340.0, 300.0, 30 * S, 2.0, 300.0) == 2.0


def test_rollover_at_9999_99_kwh_gives_the_small_real_step() -> None:
    assert interval_energy(0, 9_999_995.0, 1800.0, 20 * S, 5.0, 1800.0) == 10.0


def test_a_dip_then_recovery_never_makes_a_negative_or_a_spike() -> None:
    rules = EnergyRules()
    a, dip, back = 215_600.0, 215_500.0, 215_601.0  # 0.1 kWh glitch (Grott #99)
    first = interval_energy(0, a, 200.0, 8 * S, dip, 200.0, rules)
    second = interval_energy(8 * S, dip, 200.0, 16 * S, back, 200.0, rules)
    assert first >= 0 and second >= 0
    # the glitch is replaced by the power integral: 200 W for 8 s ≈ 0.44 Wh each
    assert abs(first - 200 * 8 / 3600) < 1e-9
    assert abs(second - 200 * 8 / 3600) < 1e-9


def test_an_absurd_upward_jump_falls_back_to_integrating_power() -> None:
    wh = interval_energy(0, 1_000.0, 100.0, 2 * S, 1_000_000.0, 100.0)
    assert abs(wh - 100 * 2 / 3600) < 1e-9


def test_a_long_outage_still_counts_what_the_counter_recorded() -> None:
    hour = 3600 * S
    assert interval_energy(0, 10_000.0, 100.0, 2 * hour, 12_500.0, 100.0) == 2_500.0


def test_without_a_counter_power_is_integrated_but_never_across_a_long_gap() -> None:
    rules = EnergyRules(max_gap_ms=300 * S)
    assert abs(interval_energy(0, None, 1000.0, 36 * S, None, 1000.0, rules) - 10.0) < 1e-9
    assert interval_energy(0, None, 1000.0, 301 * S, None, 1000.0, rules) == 0.0
