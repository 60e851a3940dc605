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


@pytest.fixture(scope="session")
def refit_set() -> SetSpec:
    return SetSpec(
        "refit",
        [read_refit_layout(REFIT_TRAIN)],
        [read_refit_layout(REFIT_TEST)],
        event_min_w=50.0,
    )
