"""A site without sub-meters: an appliance's labels say whether it is short and strong."""

from __future__ import annotations

from wattwise.analysis.nilm.bursts import MIN_LABELS, burst_model_from_labels
from wattwise.analysis.nilm.signatures import Features


def use(dp: float, duration_s: float | None, on: bool = True) -> Features:
    return Features(dp, None, 1.0 if on else None, 19.0, duration_s, on)


def test_three_short_strong_uses_make_a_burst_model_with_their_step_and_window() -> None:
    labels = [use(1334, 80), use(1294, 80, on=False), use(1378, 32), use(1362, 104)]
    bm = burst_model_from_labels(labels)
    assert bm is not None and bm.from_labels
    assert bm.step_w == 1362 and bm.draw_w == bm.step_w, "the ON steps' median; no sub-meter to draw from"
    assert bm.max_s == 1.5 * 92.0, "1.5 x the 75th percentile of the runs' lengths, as offline"


def test_too_few_uses_with_a_known_length_make_none() -> None:
    assert MIN_LABELS == 3
    two = [use(1334, 80), use(1378, 32), use(1294, 80, on=False)]
    assert burst_model_from_labels(two) is None
    assert burst_model_from_labels([*two, use(1362, None)]) is None, (
        "a use whose run never closed says nothing of its length"
    )
    assert burst_model_from_labels([*two, use(1362, 60)]) is not None


def test_a_long_or_weak_appliance_is_not_taken_for_a_burst_one() -> None:
    assert burst_model_from_labels([use(1300, 60), use(1300, 90), use(1300, 900)]) is None, "one run over 10 min"
    assert burst_model_from_labels([use(120, 60), use(110, 90), use(130, 30)]) is None, "a TV's step, not 500 W"
