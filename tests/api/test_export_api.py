"""A meter's history downloaded as CSV or Parquet, from the API and from ``wattwise export``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from support import World, build_world
from wattwise.cli.main import app as cli
from wattwise.runtime import Services
from wattwise.store.devices import create_device
from wattwise.store.export import history_pages

T0 = 1_764_000_000_000  # 2025-11-24T16:00:00Z, a whole minute
READINGS = [
    {"ts": T0 + 0, "voltage": 230.0, "current": 1.0, "power": 200.0, "energy": 1000.0, "frequency": 50.0, "pf": 0.9},
    {"ts": T0 + 20_000, "voltage": 232.0, "current": 2.0, "power": 400.0, "energy": 1001.0, "frequency": 50.1},
    {"ts": T0 + 40_000, "voltage": 228.0, "current": 1.5, "power": 300.0, "energy": 1003.0, "frequency": 49.9},
    {"ts": T0 + 60_000, "voltage": 231.0, "power": 100.0, "energy": 1004.0},
]
RANGE = {"since": str(T0), "until": str(T0 + 120_000)}


@pytest.fixture
def both(services: Services) -> Iterator[World]:
    """The small installation on SQLite and on PostgreSQL, with the four readings stored."""
    w = build_world(services)
    with w.client:
        w.ingest(READINGS)
        yield w


def export(world: World, token: str | None = None, **params: str) -> tuple[int, bytes, dict[str, str]]:
    response = world.client.get(
        f"/api/v1/devices/{world.meter_a}/export", params={**RANGE, **params}, headers=world.auth(token)
    )
    return response.status_code, response.content, dict(response.headers)


def stored_wh(world: World) -> list[float]:
    with world.services.engine.connect() as conn:
        rows = conn.execute(text("SELECT wh FROM readings WHERE device_id = :d ORDER BY ts"), {"d": world.meter_a})
        return [float(r.wh) for r in rows]


def test_raw_csv_has_epoch_and_iso_times_every_metric_and_the_stored_energy(both: World) -> None:
    status, body, headers = export(both)
    assert status == 200, body
    assert headers["content-type"].startswith("text/csv")
    assert headers["content-disposition"] == 'attachment; filename="main-raw-20251124T1600-20251124T1602.csv"'
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == ["ts_ms", "time_utc", "voltage", "current", "power", "energy", "frequency", "pf", "wh"]
    assert [r[:2] for r in rows[1:]] == [
        [str(T0), "2025-11-24T16:00:00.000Z"],
        [str(T0 + 20_000), "2025-11-24T16:00:20.000Z"],
        [str(T0 + 40_000), "2025-11-24T16:00:40.000Z"],
        [str(T0 + 60_000), "2025-11-24T16:01:00.000Z"],
    ]
    assert rows[1][2:8] == ["230.0", "1.0", "200.0", "1000.0", "50.0", "0.9"]
    assert rows[4][2:8] == ["231.0", "", "100.0", "1004.0", "", ""]  # not measured: empty
    assert [float(r[8]) for r in rows[1:]] == stored_wh(both)
    assert sum(float(r[8]) for r in rows[1:]) == pytest.approx(4.0)  # the counter went 1000 → 1004 Wh


def test_parquet_of_chosen_metrics_at_one_minute_holds_count_mean_min_max(both: World) -> None:
    status, body, headers = export(both, format="parquet", resolution="1m", metrics="voltage,power")
    assert status == 200, body
    assert headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(body))
    assert table.column_names == [
        "ts_ms",
        "time_utc",
        "count",
        "voltage_mean",
        "voltage_min",
        "voltage_max",
        "power_mean",
        "power_min",
        "power_max",
        "wh",
    ]
    assert str(table.schema.field("time_utc").type) == "timestamp[ms, tz=UTC]"
    rows = table.to_pylist()
    assert [r["ts_ms"] for r in rows] == [T0, T0 + 60_000]
    assert rows[0]["time_utc"].isoformat() == "2025-11-24T16:00:00+00:00"
    first, second = rows
    assert (first["count"], first["power_mean"], first["power_min"], first["power_max"]) == (3, 300.0, 200.0, 400.0)
    assert first["voltage_mean"] == pytest.approx(230.0)
    assert (second["count"], second["power_mean"], second["voltage_max"]) == (1, 100.0, 231.0)
    assert first["wh"] + second["wh"] == pytest.approx(sum(stored_wh(both)))


def test_bad_parameters_are_refused_naming_the_parameter(world: World) -> None:
    cases = {
        "format": {"format": "xlsx"},
        "resolution": {"resolution": "5m"},
        "metrics": {"metrics": "power,watts"},
        "until": {"since": str(T0), "until": str(T0)},
        "since": {"since": "yesterday"},
    }
    for name, params in cases.items():
        status, body, _ = export(world, **params)
        assert status == 422, (name, body)
        assert body.decode().startswith(f'{{"detail":"{name}:'), (name, body)
    status, body, _ = export(world, since="2025-01-01T00:00:00Z", until="2025-03-01T00:00:00Z")
    assert status == 422 and "31 days" in body.decode() and "coarser resolution" in body.decode()
    status, _, _ = export(world, since="2025-01-01T00:00:00Z", until="2025-03-01T00:00:00Z", resolution="1h")
    assert status == 200


def test_a_time_outside_the_calendar_is_refused_naming_it(world: World) -> None:
    """Years before 1 or after 9999 have no date to name the file after (it was a 500)."""
    cases = {
        "since": {"since": "-99999999999999", "until": "0"},
        "until": {"since": "253402300799000", "until": "253402300800000"},
    }
    for name, params in cases.items():
        status, body, _ = export(world, **params)
        assert status == 422, (name, body)
        assert body.decode().startswith(f'{{"detail":"{name}: must be a time in the years 1 to 9999'), (name, body)


def test_only_someone_who_may_see_the_meter_can_export_it(world: World) -> None:
    world.ingest(READINGS)
    assert export(world, world.viewer_token)[0] == 200
    response = world.client.get(f"/api/v1/devices/{world.meter_b}/export", headers=world.auth(world.viewer_token))
    assert response.status_code == 404
    assert world.client.get(f"/api/v1/devices/{world.meter_a}/export").status_code == 401


def test_pages_cover_the_range_once_whatever_the_density(world: World) -> None:
    """Dense seconds, then a three-day gap, then more: every row once, in order, in small pages."""
    stamps = [T0 + i * 100 for i in range(60)] + [T0 + 3 * 86_400_000 + i * 1000 for i in range(20)]
    for lo in range(0, len(stamps), 25):
        world.ingest([{"ts": ts, "power": float(i)} for i, ts in enumerate(stamps) if lo <= i < lo + 25])
    since, until = T0 + 200, stamps[-1]  # a reading sits exactly on each end
    pages = list(
        history_pages(
            world.services.engine,
            world.meter_a,
            resolution="raw",
            metrics=("power",),
            since=since,
            until=until,
            page_rows=4,
        )
    )
    assert [row[0] for page in pages for row in page] == [ts for ts in stamps if since <= ts < until]
    assert max(map(len, pages[1:])) <= 4 * 4  # after the first guess, pages stay near page_rows


def test_the_command_writes_the_same_file_and_the_importer_takes_it_back(world: World, tmp_path: Path) -> None:
    world.ingest(READINGS)
    url = str(world.services.engine.url)
    out = tmp_path / "meter.csv"
    runner = CliRunner()
    args = ["--database", url, "export", "--device", str(world.meter_a), "--since", RANGE["since"]]
    result = runner.invoke(cli, [*args, "--until", RANGE["until"], "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == export(world)[1]
    with world.services.engine.begin() as conn:
        copy = create_device(conn, site_id=world.site_a, name="copy").device.id
    mapping = "ts=ts_ms,voltage=voltage,current=current,power=power,energy=energy,frequency=frequency,pf=pf"
    result = runner.invoke(cli, ["--database", url, "import", str(out), "--device", str(copy), "--map", mapping])
    assert result.exit_code == 0, result.output
    columns = "ts, voltage, current, power, energy, frequency, pf, wh"
    with world.services.engine.connect() as conn:
        original, imported = (
            conn.execute(text(f"SELECT {columns} FROM readings WHERE device_id = :d ORDER BY ts"), {"d": d}).all()
            for d in (world.meter_a, copy)
        )
    assert imported == original


def test_the_command_names_a_bad_option(world: World) -> None:
    url = str(world.services.engine.url)
    result = CliRunner().invoke(
        cli, ["--database", url, "export", "--device", str(world.meter_a), "--resolution", "2m"]
    )
    assert result.exit_code == 2
    assert "resolution: must be one of raw, 1m, 1h, 1d" in result.output


def test_the_command_says_plainly_when_it_cannot_write_the_file(world: World, tmp_path: Path) -> None:
    url = str(world.services.engine.url)
    missing = tmp_path / "no-such-folder" / "out.csv"
    result = CliRunner().invoke(
        cli, ["--database", url, "export", "--device", str(world.meter_a), "--out", str(missing)]
    )
    assert result.exit_code == 2, result.output
    assert f"error: --out: cannot write {missing}" in result.output
    assert "Traceback" not in result.output and not missing.parent.exists()
