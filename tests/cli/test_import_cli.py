"""`wattwise import` brings a real recording in through the same pipeline as a live meter."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from typer.testing import CliRunner, Result

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


def import_csv(tmp_path: Path, content: str, device: str, mapping: str) -> Result:
    """``wattwise import house.csv`` into an installation with one meter (id 1)."""
    runner = CliRunner()
    runner.invoke(cli, ["--data-dir", str(tmp_path), "device", "add", "m", "--site", "s"])
    csv = tmp_path / "house.csv"
    csv.write_text(content)
    return runner.invoke(cli, ["--data-dir", str(tmp_path), "import", str(csv), "--device", device, "--map", mapping])


def test_import_into_a_meter_that_does_not_exist_is_refused_and_stores_nothing(tmp_path: Path) -> None:
    """It stored every row under the unknown id: readings of no meter, on no page."""
    result = import_csv(tmp_path, "time,watts\n1764000000,100\n1764000006,110\n", "99", "ts=time,power=watts")
    assert result.exit_code == 2
    assert "no meter with id 99" in result.output
    services = start_services(Settings(data_dir=tmp_path))
    try:
        with services.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM readings")).scalar_one() == 0
    finally:
        services.close()


def test_an_unreadable_time_or_number_costs_its_row_only_and_is_named(tmp_path: Path) -> None:
    """One bad cell turned the column into text: the import failed as a whole, saying
    'year 1764000000 is out of range' of the good Unix times; a word for a number was
    rejected as 'a reading needs at least one of power or current'."""
    content = "time,watts\n1764000000,100\nnot-a-time,110\n1764000012,120\n2025-11-24T16:00:30Z,130\n1764000040,lots\n"
    result = import_csv(tmp_path, content, "1", "ts=time,power=watts")
    assert result.exit_code == 0, result.output
    assert "5 rows: 3 stored, 0 duplicates, 2 rejected" in result.output
    assert "row 2: ts: 'not-a-time' is not RFC 3339 or a Unix time" in result.output
    assert "row 5: power: Input should be a valid number" in result.output


def test_a_mapped_column_missing_from_the_file_is_named_with_the_columns_it_has(tmp_path: Path) -> None:
    result = import_csv(tmp_path, "timestamp,aggregate\n1764000000,100\n", "1", "ts=time,power=aggregate")
    assert result.exit_code == 2
    assert "map: ts=time: house.csv has no column 'time' (its columns: timestamp, aggregate)" in result.output


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
