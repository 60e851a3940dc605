"""Fixtures shared by the analysis tests (fixture data: tests/fixtures/anomaly/NOTICE.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwise.analysis import model_data, theft

DATA = Path(__file__).parents[1] / "fixtures" / "anomaly" / "data"


@pytest.fixture(scope="session")
def ihepc_theft_rows() -> theft.TheftRows:
    """IHEPC's whole house and its three sub-meters as meter-days, honest and with theft injected."""
    ihepc = model_data.load_ihepc(DATA)
    meters = {
        name: (theft.hourly_days(ihepc["ts"].to_numpy(), ihepc[name].to_numpy()), "FR")
        for name in ("power", "kitchen", "laundry", "heater_ac")
    }
    return theft.theft_rows(meters, reference_days=2)
