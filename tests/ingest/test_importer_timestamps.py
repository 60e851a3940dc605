"""Timestamps as meters and files carry them: the API, the importer, the emulator and the
evaluation loaders read them one way."""

from __future__ import annotations

import pandas as pd

from wattwise.domain.timestamps import epoch_ms, timestamps_ms


def test_epoch_seconds_milliseconds_and_text_give_the_same_instant() -> None:
    instant = 1_764_000_000_000  # 2025-11-24 16:00:00 UTC
    assert timestamps_ms(pd.Series([1_764_000_000])).tolist() == [instant]
    assert timestamps_ms(pd.Series([instant])).tolist() == [instant]
    assert timestamps_ms(pd.Series(["2025-11-24 16:00:00"])).tolist() == [instant]
    assert timestamps_ms(pd.Series(["2025-11-24T17:00:00+01:00"])).tolist() == [instant]
    assert timestamps_ms(pd.Series(["2025-11-24 21:30:00"]), "Asia/Kolkata").tolist() == [instant]


def test_one_unix_time_in_seconds_or_milliseconds() -> None:
    assert epoch_ms(1_764_000_000) == epoch_ms(1_764_000_000_000) == 1_764_000_000_000
    assert epoch_ms(1_764_000_000.25) == 1_764_000_000_250
