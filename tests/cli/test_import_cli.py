"""`wattwise import` brings a real recording in through the same pipeline as a live meter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import text
from typer.testing import CliRunner

from wattwise.cli.main import app as cli
from wattwise.config import Settings
from wattwise.runtime import start_services

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ingest" / "refit_house2_4h.csv"


def test_a_refit_recording_is_imported_once_and_a_rerun_counts_duplicates(tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["--data-dir", str(tmp_path), "device", "add", "house2", "--site", "refit"])
    assert added.exit_code == 0, added.output
    args = [
        "--data-dir",
        str(tmp_path),
        "import",
        str(FIXTURE),
        "--device",
        "1",
        "--map",
        "ts=timestamp,power=aggregate",
    ]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "1800 rows: 1800 stored, 0 duplicates, 0 rejected" in first.output
    again = runner.invoke(cli, args)
    assert "1800 rows: 0 stored, 1800 duplicates, 0 rejected" in again.output

    services = start_services(Settings(data_dir=tmp_path))
    try:
        services.writer.flush()
        with services.engine.connect() as conn:
            n, first_ts, wh = conn.execute(text("SELECT count(*), min(ts), sum(wh) FROM readings")).one()
            hourly = conn.execute(text("SELECT count(*), sum(wh) FROM rollup_1h")).one()
    finally:
        services.close()
    assert n == 1800 and first_ts == 1_420_329_600_000  # 2015-01-04T00:00:00Z
    assert hourly[0] == 4 and abs(hourly[1] - wh) < 1e-6
    assert 1000 < wh < 20_000  # four night hours of a real house, integrated from 8 s power


def test_import_explains_bad_rows_and_a_bad_mapping(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["--data-dir", str(tmp_path), "device", "add", "m", "--site", "s"])
    csv = tmp_path / "bad.csv"
    csv.write_text("time,watts\n2025-01-01T00:00:00Z,100\n2025-01-01T00:00:01Z,oops\n2025-01-01T00:00:02Z,2000000\n")
    result = runner.invoke(
        cli, ["--data-dir", str(tmp_path), "import", str(csv), "--device", "1", "--map", "ts=time,power=watts"]
    )
    assert "3 rows: 1 stored, 0 duplicates, 2 rejected" in result.output
    assert "row 2" in result.output and "row 3" in result.output and "power" in result.output
    wrong = runner.invoke(cli, ["--data-dir", str(tmp_path), "import", str(csv), "--device", "1", "--map", "power"])
    assert wrong.exit_code == 2 and "map" in wrong.output


def test_device_keys_are_shown_once_and_rotation_and_revocation_work(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    added = runner.invoke(cli, [*base, "device", "add", "kitchen", "--site", "home"])
    key = next(line.split()[1] for line in added.output.splitlines() if line.startswith("key:"))
    listed = runner.invoke(cli, [*base, "device", "list"]).output
    assert "kitchen" in listed and key not in listed and key[:8] in listed
    rotated = runner.invoke(cli, [*base, "device", "rotate", "1"]).output
    assert "key:" in rotated and key not in rotated
    assert "revoked" in runner.invoke(cli, [*base, "device", "revoke", "1"]).output
    assert "revoked" in runner.invoke(cli, [*base, "device", "list"]).output
    missing = runner.invoke(cli, [*base, "device", "rotate", "99"])
    assert missing.exit_code == 2 and "no meter with id 99" in missing.output
    duplicate = runner.invoke(cli, [*base, "device", "add", "kitchen", "--site", "home"])
    assert duplicate.exit_code == 2 and "already has a meter named" in duplicate.output


def test_import_refuses_a_missing_meter_column_zone_or_unit_factor_and_stores_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    runner.invoke(cli, [*base, "device", "add", "m", "--site", "s"])
    csv = tmp_path / "kw.csv"
    csv.write_text("time,kw\n2025-01-01T00:00:00,1.5\n2025-01-01T00:00:10,1.6\n")
    parquet = tmp_path / "kw.parquet"
    pd.read_csv(csv).to_parquet(parquet)

    def run(*extra: str, file: Path = csv) -> tuple[int, str]:
        result = runner.invoke(cli, [*base, "import", str(file), "--device", "1", "--map", "ts=time,power=kw", *extra])
        return result.exit_code, result.output

    refused = {
        "--device 2": "no meter with id 2",
        "--scale power": "scale: 'power' should look like power=1000",
        "--scale power=kilo": "scale: power's factor 'kilo' is not a number",
        "--scale watts=1000": "scale: 'watts' is not one of voltage, current, power",
        "--scale power=0": "finite number other than 0",
        "--scale power=inf": "finite number other than 0",
        "--timezone Mars/Olympus": "--timezone: unknown time zone 'Mars/Olympus'",
    }
    for args, message in refused.items():
        code, output = run(*args.split())
        assert code == 2 and message in output, (args, output)
    for file in (csv, parquet):
        result = runner.invoke(cli, [*base, "import", str(file), "--device", "1", "--map", "ts=time,power=watts"])
        assert result.exit_code == 2 and f"{file.name} has no column 'watts' (its columns: time, kw)" in result.output

    services = start_services(Settings(data_dir=tmp_path))
    try:
        with services.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == 0
    finally:
        services.close()

    code, output = run("--scale", "power=1000", "--timezone", "Asia/Kolkata")
    assert code == 0 and "2 rows: 2 stored" in output, output
    services = start_services(Settings(data_dir=tmp_path))
    try:
        with services.engine.connect() as conn:
            rows = conn.execute(text("SELECT device_id, ts, power FROM readings ORDER BY ts")).all()
    finally:
        services.close()
    # 00:00 in Kolkata is 18:30 UTC the day before; 1.5 kW is 1,500 W
    assert [tuple(r) for r in rows] == [(1, 1_735_669_800_000, 1500.0), (1, 1_735_669_810_000, 1600.0)]


def test_an_unreadable_time_or_number_costs_its_row_only_and_is_named(tmp_path: Path) -> None:
    """One bad cell turned the column into text: the import failed as a whole, saying
    'year 1764000000 is out of range' of the good Unix times; a word for a number was
    rejected as 'a reading needs at least one of power or current'."""
    runner = CliRunner()
    runner.invoke(cli, ["--data-dir", str(tmp_path), "device", "add", "m", "--site", "s"])
    csv = tmp_path / "house.csv"
    csv.write_text(
        "time,watts\n1764000000,100\nnot-a-time,110\n1764000012,120\n2025-11-24T16:00:30Z,130\n1764000040,lots\n"
    )
    result = runner.invoke(
        cli, ["--data-dir", str(tmp_path), "import", str(csv), "--device", "1", "--map", "ts=time,power=watts"]
    )
    assert result.exit_code == 0, result.output
    assert "5 rows: 3 stored, 0 duplicates, 2 rejected" in result.output
    assert "row 2: ts: 'not-a-time' is not RFC 3339 or a Unix time" in result.output
    assert "row 5: power: Input should be a valid number" in result.output


def test_adding_a_meter_says_when_it_made_its_site_and_the_list_shows_readable_times(tmp_path: Path) -> None:
    """``device add --site home`` made the site (UTC, INR) without a word, so 'Home' and 'home'
    became two sites unnoticed; ``device list`` showed last_seen_ms=1764000000000."""
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path)]
    first = runner.invoke(cli, [*base, "device", "add", "kitchen", "--site", "home"]).output
    assert "new site 'home' (time zone UTC, currency INR; wattwise site add sets others)" in first
    second = runner.invoke(cli, [*base, "device", "add", "hall", "--site", "home"]).output
    assert "new site" not in second
    assert "last reading: never" in runner.invoke(cli, [*base, "device", "list"]).output
    services = start_services(Settings(data_dir=tmp_path))
    try:
        services.pipeline.ingest_blocking(1, [{"ts": 1_764_000_000, "power": 10.0}])
    finally:
        services.close()
    assert "last reading: 2025-11-24 16:00:00 UTC" in runner.invoke(cli, [*base, "device", "list"]).output
