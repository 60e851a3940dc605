"""The simulator's guide keeps up with the command and the appliance table."""

from __future__ import annotations

import inspect
from pathlib import Path

from wattwise.cli.simulate import simulate
from wattwise.devices.simulator.appliances import APPLIANCES

GUIDE = Path(__file__).parents[3] / "docs" / "simulator.md"


def test_every_option_of_simulate_is_documented() -> None:
    text = GUIDE.read_text()
    options = ["--" + name.replace("_", "-") for name in inspect.signature(simulate).parameters]
    missing = [option for option in options if f"`{option}" not in text]
    assert not missing, f"docs/simulator.md does not describe {missing}"


def test_every_appliance_of_the_table_is_documented() -> None:
    text = GUIDE.read_text()
    missing = [a.name for a in APPLIANCES if f"| {a.name} |" not in text]
    assert not missing, f"docs/simulator.md does not list {missing}"
