"""Energy between two consecutive readings of one meter, robust to misbehaving counters.

Meters report a cumulative counter (Wh) that resets (reboot, user reset), rolls over
(PZEM-004T at 9999.99 kWh), dips for a sample (voltage loss) or spikes (corrupt frame).
Turning a pair of readings into the energy of the interval between them, one pair at a
time, keeps the rule local: a late reading only changes the two intervals beside it.

The rule, for readings ``a`` then ``b``:

1. Counter advanced plausibly (0 ≤ Δ ≤ ``max_power_w`` × Δt): the counter is right.
2. Counter went back across the rollover point plausibly: rollover.
3. Counter went back and ``b`` itself is plausible as "energy since a reset": a reset,
   the interval's energy is ``b``'s counter.
4. Anything else (a glitch, or no counter at all): integrate power (trapezoid) if the
   gap is at most ``max_gap_ms``, else nothing — never a negative or absurd value.
"""

from __future__ import annotations

from dataclasses import dataclass

PZEM_ROLLOVER_WH = 10_000_000.0  # 9999.99 kWh displayed; the register wraps at 10 MWh
DEFAULT_MAX_GAP_MS = 5 * 60 * 1000
DEFAULT_MAX_POWER_W = 25_000.0  # above a 100 A PZEM's 23 kW
COUNTER_SLACK_WH = 2.0  # counter resolution (1 Wh) plus rounding on both ends


@dataclass(frozen=True, slots=True)
class EnergyRules:
    """Limits that separate a real counter movement from a glitch."""

    max_gap_ms: int = DEFAULT_MAX_GAP_MS
    max_power_w: float = DEFAULT_MAX_POWER_W
    rollover_wh: float = PZEM_ROLLOVER_WH


DEFAULT_RULES = EnergyRules()


def integrate_power(ts_a: int, power_a: float | None, ts_b: int, power_b: float | None, rules: EnergyRules) -> float:
    """Trapezoid of power over (a, b] in Wh; zero across a gap longer than allowed."""
    dt = ts_b - ts_a
    if dt <= 0 or dt > rules.max_gap_ms:
        return 0.0
    if power_a is None and power_b is None:
        return 0.0
    pa = power_b if power_a is None else power_a
    pb = power_a if power_b is None else power_b
    assert pa is not None and pb is not None
    return (pa + pb) / 2.0 * dt / 3_600_000.0


def interval_energy(
    ts_a: int,
    energy_a: float | None,
    power_a: float | None,
    ts_b: int,
    energy_b: float | None,
    power_b: float | None,
    rules: EnergyRules = DEFAULT_RULES,
) -> float:
    """Energy in Wh consumed between reading a and the later reading b."""
    dt = ts_b - ts_a
    if dt <= 0:
        return 0.0
    if energy_a is None or energy_b is None:
        return integrate_power(ts_a, power_a, ts_b, power_b, rules)
    bound = rules.max_power_w * dt / 3_600_000.0 + COUNTER_SLACK_WH
    delta = energy_b - energy_a
    if 0.0 <= delta <= bound:
        return delta
    if delta < 0.0:
        wrapped = energy_b + rules.rollover_wh - energy_a
        if 0.0 <= wrapped <= bound:
            return wrapped  # rollover: only possible when a was just below the wrap point
        if energy_b <= bound:
            return energy_b  # reset: everything on the counter was used since a
    return integrate_power(ts_a, power_a, ts_b, power_b, rules)
