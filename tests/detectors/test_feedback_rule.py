"""When a new finding repeats a pattern a person judged: the rule the anomaly, grid and balance findings share."""

from __future__ import annotations

from wattwise.detectors.feedback import Judged, suppressed_by


def test_a_finding_like_an_ignored_one_is_ignored_and_a_raise_nearer_wins() -> None:
    ignored = Judged(finding_id=7, kind="anomaly", level=3000.0, hour=2.0, verdict="ignore")
    assert suppressed_by("anomaly", 3300.0, 3.0, [ignored]) == 7  # 10 % more power, an hour later
    late = Judged(finding_id=9, kind="anomaly", level=3000.0, hour=23.0, verdict="ignore")
    assert suppressed_by("anomaly", 3000.0, 0.5, [late]) == 9  # across midnight
    assert suppressed_by("anomaly", 4500.0, 2.0, [ignored]) is None  # half as much again: not the same
    assert suppressed_by("anomaly", 3000.0, 6.0, [ignored]) is None  # four hours later: not the same
    assert suppressed_by("sag", 3000.0, 2.0, [ignored]) is None  # another kind

    raised = Judged(finding_id=8, kind="anomaly", level=3100.0, hour=2.0, verdict="raise")
    assert suppressed_by("anomaly", 3100.0, 2.0, [ignored, raised]) is None
    assert suppressed_by("anomaly", 2900.0, 2.0, [ignored, raised]) == 7  # nearer the ignored one
