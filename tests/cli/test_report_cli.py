"""`wattwise report` writes the site's report to a file, and refuses bad input with exit 2."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from wattwise.cli.main import app as cli


def _site_with_two_days(tmp_path: Path) -> CliRunner:
    """Site "Office" (UTC) with one meter read hourly from 1 to 3 June 2025, 500 Wh an hour, and
    one that never reported, named like a spreadsheet formula."""
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    assert runner.invoke(cli, [*base, "site", "add", "Office"]).exit_code == 0
    assert runner.invoke(cli, [*base, "device", "add", "incomer", "--site", "Office"]).exit_code == 0
    lines = ["ts,energy,power,voltage"]
    for i in range(49):
        ts = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(hours=i)
        lines.append(f"{ts.isoformat()},{10_000 + 500 * i},{3000 if i == 30 else 500},230")
    assert runner.invoke(cli, [*base, "device", "add", "=HYPERLINK(1)", "--site", "Office"]).exit_code == 0
    readings = tmp_path / "readings.csv"
    readings.write_text("\n".join(lines) + "\n")
    mapping = "ts=ts,energy=energy,power=power,voltage=voltage"
    imported = runner.invoke(cli, [*base, "import", str(readings), "--device", "1", "--map", mapping])
    assert imported.exit_code == 0 and "49 stored" in imported.output, imported.output
    return runner


def test_the_report_is_written_as_csv_json_and_html(tmp_path: Path) -> None:
    runner = _site_with_two_days(tmp_path)
    base = ["--data-dir", str(tmp_path), "report"]
    out = tmp_path / "june.csv"
    wrote = runner.invoke(cli, [*base, "Office", "--month", "2025-06", "--out", str(out)])
    assert wrote.exit_code == 0, wrote.output
    assert "June 2025" in wrote.output and "24.000 kWh" in wrote.output
    formula, row = csv.DictReader(out.open())  # by name: '=' sorts before letters
    assert (formula["meter"], formula["readings"], formula["kwh"]) == ("'=HYPERLINK(1)", "0", "0.0")  # never run
    assert (row["meter"], row["role"], float(row["kwh"]), int(row["readings"])) == ("incomer", "standalone", 24.0, 49)
    assert (float(row["peak_w"]), row["peak_at"]) == (3000.0, "2025-06-02T06:00:00+00:00")
    # silent from its last reading (3 June 00:00) to the end of June: 28 days
    assert float(row["longest_gap_s"]) == 28 * 86_400

    by_id = runner.invoke(cli, [*base, "1", "--start", "2025-06-01", "--end", "2025-06-02", "--format", "json"])
    assert by_id.exit_code == 0, by_id.output
    body = json.loads(by_id.output)
    assert (body["label"], body["total_kwh"], body["meters"][1]["readings"]) == (
        "2025-06-01 to 2025-06-01",
        11.5,
        24,
    )  # the first reading only starts the count

    page = tmp_path / "june.html"
    assert runner.invoke(cli, [*base, "Office", "--month", "2025-06", "--out", str(page)]).exit_code == 0
    assert "24.000" in page.read_text() and "https://" not in page.read_text()


def test_bad_input_is_refused_with_exit_2_naming_it(tmp_path: Path) -> None:
    runner = _site_with_two_days(tmp_path)
    base = ["--data-dir", str(tmp_path), "report"]
    for args, named in (
        (["Nowhere"], "SITE"),
        (["Office", "--month", "June"], "--month"),
        (["Office", "--start", "2025-02-30"], "--start"),
        (["Office", "--start", "2025-06-01", "--end", "2025-05-01"], "--end"),
        (["Office", "--start", "2024-01-01", "--end", "2025-06-01"], "--end"),
        (["Office", "--month", "2025-06", "--start", "2025-06-01"], "--month"),
        (["Office", "--format", "pdf"], "--format"),
        (["Office", "--out", str(tmp_path / "no" / "such" / "folder.csv")], "--out"),
    ):
        answer = runner.invoke(cli, [*base, *args])
        assert answer.exit_code == 2, (args, answer.output)
        assert f"error: {named}" in answer.output, (args, answer.output)
    assert not (tmp_path / "no").exists()
