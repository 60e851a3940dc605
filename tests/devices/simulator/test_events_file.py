"""The ground-truth file grows across runs and refuses to mix formats."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from wattwise.devices.simulator.events_file import EventWriter
from wattwise.devices.simulator.schedule import ApplianceEvent

KETTLE_ON = ApplianceEvent(ts=1_000, appliance="kettle", state="on", phase="boil", delta_w=2000.0)
KETTLE_OFF = ApplianceEvent(ts=181_000, appliance="kettle", state="off", phase="boil", delta_w=-2000.0)


def test_a_second_run_continues_the_same_csv_under_one_header(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    with EventWriter(path) as writer:
        writer.write("1", [KETTLE_ON])
    with EventWriter(path) as writer:
        writer.write("1", [KETTLE_OFF])
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["ts"], r["state"], r["delta_w"]) for r in rows] == [
        ("1000", "on", "2000.0"),
        ("181000", "off", "-2000.0"),
    ]


def test_a_csv_of_something_else_is_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("name,amount\nrent,100\n")
    with pytest.raises(ValueError, match="other columns"):
        EventWriter(path)
    assert path.read_text() == "name,amount\nrent,100\n"
