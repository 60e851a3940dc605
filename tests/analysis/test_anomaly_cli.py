"""``wattwise evaluate anomaly|theft|classify`` as a user runs them (typer's CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from wattwise.cli.main import app

DATA = Path(__file__).parents[1] / "fixtures" / "anomaly" / "data"
FRIDGE = DATA / "appliance-anomaly-1min" / "data" / "Fridge" / "Fridge_1"
runner = CliRunner()


def _only(tmp_path: Path, *folders: str) -> Path:
    """A data folder holding only some of the fixture sets, to keep each run small."""
    root = tmp_path / "data"
    root.mkdir()
    for folder in folders:
        (root / folder).symlink_to(DATA / folder)
    return root


def test_any_csv_with_timestamps_power_and_labels_can_be_scored(tmp_path: Path) -> None:
    train = pd.concat(
        pd.read_csv(FRIDGE / "Normal" / f"fridge_1_day{d}.csv", encoding="utf-8-sig") for d in (1, 2, 3, 4, 5)
    )
    # Another interval and other column names: epoch seconds and "power".
    train_csv = tmp_path / "train.csv"
    pd.DataFrame(
        {"timestamp": pd.to_datetime(train["ctime"]).astype("int64") // 10**9, "power": train["activePower"]}
    ).to_csv(train_csv, index=False)
    test_csv = FRIDGE / "anomaly_Faulty_Compressor" / "fridge_1_day6_ANOMALIES.csv"
    out = tmp_path / "figures.json"
    result = runner.invoke(
        app, ["evaluate", "anomaly", "--train", str(train_csv), "--test", str(test_csv), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert {"precision", "recall", "f1", "delay_s"} <= set(figures)
    assert figures["f1"] >= 0.6
    assert figures["f1"] > figures["seed_raw_power_forest"]["f1"]


def test_a_test_file_without_labels_is_refused_with_the_reason(tmp_path: Path) -> None:
    normal = FRIDGE / "Normal" / "fridge_1_day1.csv"
    result = runner.invoke(app, ["evaluate", "anomaly", "--train", str(normal), "--test", str(normal)])
    assert result.exit_code != 0
    assert "label" in result.output


def test_a_file_without_power_names_the_columns_it_found(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,watts_maybe\n2024-01-01 00:00,5\n")
    result = runner.invoke(app, ["evaluate", "anomaly", "--train", str(bad), "--test", str(bad)])
    assert result.exit_code != 0
    assert "watts_maybe" in result.output


def test_anomaly_figures_on_the_labelled_set(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "anomaly", "--data", str(_only(tmp_path, "appliance-anomaly-1min"))])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["f1"] >= 0.6
    assert "missing/refit-house2-8s" in figures["details"]


def test_theft_energy_balance_figures(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "theft", "--data", str(_only(tmp_path, "ompm-pzem004t-1hz"))])
    assert result.exit_code == 0, result.output
    balance = json.loads(result.output)["balance_ompm_30s"]
    assert balance["false_alarm_after_s"] is None
    assert balance["delay_s_loss_20pct"] <= 300


def test_classification_figures(tmp_path: Path) -> None:
    root = _only(tmp_path, "lab-1hz-kettle-vacuum-waterheater")
    out = tmp_path / "classify.json"
    result = runner.invoke(app, ["evaluate", "classify", "--data", str(root), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["lab/2combi_kettle+vacuum"]["accuracy"] >= 0.98


def test_the_held_out_days_protocols_score_the_fault_set_without_its_test_split(tmp_path: Path) -> None:
    root = _only(tmp_path, "appliance-anomaly-1min")
    out = tmp_path / "rotation.json"
    result = runner.invoke(
        app, ["evaluate", "anomaly", "--data", str(root), "--protocol", "rotation", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["protocol"] == "rotation"
    assert figures["tp"] > 0
    assert {"precision", "recall", "f1"} <= set(figures)
    assert figures["details"]["all"]["f1"] == figures["f1"]
    assert figures["tp"] == sum(f["tp"] for name, f in figures["details"].items() if name != "all")


def test_an_unknown_protocol_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "anomaly", "--data", str(DATA), "--protocol", "weekly"])
    assert result.exit_code != 0
    assert "rotation" in result.output
