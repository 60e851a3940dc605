"""`wattwise evaluate nilm` on CSVs in the REFIT layout."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
from typer.testing import CliRunner, Result

from wattwise.analysis.nilm.evaluate import read_refit_layout
from wattwise.cli.evaluate_nilm import nilm

app = typer.Typer()
app.command()(nilm)


def _evaluate(csvs: tuple[Path, Path], *extra: str) -> Result:
    train, test = csvs
    args = ["--train", str(train), "--test", str(test), "--event-min-w", "200", "--no-curve"]
    return CliRunner().invoke(app, [*args, *extra])


def test_evaluate_prints_the_table_and_writes_json_figures(tmp_path: Path, lab_csvs: tuple[Path, Path]) -> None:
    out = tmp_path / "nilm.json"
    res = _evaluate(lab_csvs, "--json", str(out), "--no-peers")
    assert res.exit_code == 0, res.output
    assert "NILMTK peers NOT run" in res.output
    assert "wattwise" in res.output and "predict_0w" in res.output
    assert "wattwise_live events:" in res.output  # live beside offline, every run
    figures = json.loads(out.read_text())["sets"][0]["methods"]["wattwise"]
    for key in ("event_precision", "event_recall", "event_f1"):
        assert 0.9 <= figures[key] <= 1.0
    kettle = figures["appliances"]["kettle"]
    assert set(kettle) >= {"on_off_f1", "mae_w", "identification_f1"}
    assert kettle["identification_f1"] >= 0.9


def test_missing_peer_environment_is_said_clearly(tmp_path: Path, lab_csvs: tuple[Path, Path]) -> None:
    res = _evaluate(lab_csvs, "--peer-python", str(tmp_path / "nowhere" / "python"))
    assert res.exit_code == 0, res.output
    assert "NILMTK peers NOT run: no peer environment" in res.output


def test_a_csv_without_aggregate_column_is_refused_by_name(tmp_path: Path, lab_csvs: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,total,kettle\n2024-01-01 00:00:00,1,0\n")
    res = _evaluate((bad, lab_csvs[1]), "--no-peers")
    assert res.exit_code != 0
    assert "aggregate" in str(res.exception) + res.output


def test_timestamps_in_epoch_seconds_are_read_as_such(tmp_path: Path, lab_csvs: tuple[Path, Path]) -> None:
    as_text = read_refit_layout(lab_csvs[0])
    frame = pd.read_csv(lab_csvs[0])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("int64") // 10**9
    numeric = tmp_path / "epoch_seconds.csv"
    frame.to_csv(numeric, index=False)
    assert (read_refit_layout(numeric).ts == as_text.ts).all()
