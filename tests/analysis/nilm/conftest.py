"""Real excerpts (tests/fixtures/nilm, see NOTICE.md) shared by the NILM tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattwise.analysis.nilm.evaluate import Recording, SetSpec, read_refit_layout

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nilm"
LAB_TRAIN = FIXTURES / "lab_3combi_train.csv"
LAB_TEST = FIXTURES / "lab_3combi_test.csv"
REFIT_TRAIN = FIXTURES / "refit_house2_train_2015-01-05pm.csv"
REFIT_TEST = FIXTURES / "refit_house2_test_2015-01-08pm.csv"
AMPDS2_TRAIN = FIXTURES / "ampds2_train_2013-11-21_22.csv"
AMPDS2_TEST = FIXTURES / "ampds2_test_2012-08-23.csv"


@pytest.fixture(scope="session")
def lab_csvs() -> tuple[Path, Path]:
    """The lab training and test CSVs, in the REFIT layout."""
    return LAB_TRAIN, LAB_TEST


@pytest.fixture(scope="session")
def lab_train() -> Recording:
    return read_refit_layout(LAB_TRAIN)


@pytest.fixture(scope="session")
def lab_test() -> Recording:
    return read_refit_layout(LAB_TEST)


@pytest.fixture(scope="session")
def lab_set(lab_train: Recording, lab_test: Recording) -> SetSpec:
    return SetSpec("lab", [lab_train], [lab_test], event_min_w=200.0)


def _csv_set(name: str, train: Path, test: Path) -> SetSpec:
    return SetSpec(name, [read_refit_layout(train)], [read_refit_layout(test)], event_min_w=50.0)


@pytest.fixture(scope="session")
def refit_set() -> SetSpec:
    return _csv_set("refit", REFIT_TRAIN, REFIT_TEST)


@pytest.fixture(scope="session")
def ampds2_set() -> SetSpec:
    """Two days of AMPds2's training week (November) and its test day (August), 1 min."""
    return _csv_set("ampds2", AMPDS2_TRAIN, AMPDS2_TEST)
