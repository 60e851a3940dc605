"""The Grafana dashboard's SQL, expanded as Grafana expands it, run on PostgreSQL against readings
posted through the API: every panel returns the numbers the readings imply."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from grafana_sql import Query, expand
from support import World, build_world
from wattwise.runtime import Services

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "wattwise-dashboard.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
READER_GRANTS = ROOT / "deploy" / "grafana" / "grafana-reader.sql"
READER = f"grafana_reader_test_{os.getpid()}"
START = 1_763_596_800_000  # 2025-11-20T00:00:00Z
STEP = 30_000
N = 7200  # 2.5 days, a reading every 30 s
FROM_MS = START + 3 * 3_600_000 + 17 * 60_000 + 12_345  # 03:17:12.345Z: aligned to nothing
TO_MS = START + 2 * 86_400_000 + 9 * 3_600_000 + 41 * 60_000 + 5_678  # day 3, 09:41:05.678Z
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
#: Grafana's interval → the table that should answer it
INTERVALS = {20_000: "readings", 90_000: "readings", 5 * MINUTE: "rollup_1m", HOUR: "rollup_1h", DAY: "rollup_1d"}


def reading(i: int) -> dict[str, Any]:
    power = 300.0 + 200.0 * math.sin(i / 40) + (i % 7) * 3.0
    voltage = 228.0 + (i % 11) * 0.5
    out: dict[str, Any] = {
        "ts": START + i * STEP,
        "power": round(power, 3),
        "voltage": voltage,
        "current": round(power / voltage, 4),
        "frequency": 49.96 + (i % 9) * 0.01,
        "energy": round(1000.0 + i * 2.5, 3),  # 300 W for 30 s: the counter the meter keeps
    }
    if i % 13:
        out["pf"] = 0.8 + (i % 5) * 0.04  # every 13th reading has no power factor
    return out


READINGS = [reading(i) for i in range(N)]


@pytest.fixture
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


@pytest.fixture
def database_url(pg_url: str) -> str:
    """PostgreSQL only: Grafana's data source is PostgreSQL."""
    return pg_url


@pytest.fixture
def pg_world(services: Services) -> Iterator[World]:
    w = build_world(services)
    with w.client:
        for key in (w.key_a, w.key_b):
            for i in range(0, N, 2400):
                w.ingest(READINGS[i : i + 2400], key=key)
        services.writer.flush()  # the rollups of the last second
        with psycopg.connect(plain_url(w), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {READER}")  # type: ignore[arg-type]
            conn.execute(READER_GRANTS.read_text().replace("grafana_reader", READER))  # type: ignore[arg-type]
        try:
            yield w
        finally:
            with psycopg.connect(plain_url(w), autocommit=True) as conn:
                conn.execute(f"DROP OWNED BY {READER}")  # type: ignore[arg-type]
                conn.execute(f"DROP ROLE {READER}")  # type: ignore[arg-type]


def plain_url(world: World) -> str:
    return world.services.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def run(world: World, sql: str) -> list[tuple[Any, ...]]:
    """As Grafana sends it (a simple query, no parameters), with only the rights the docs grant it."""
    with psycopg.connect(plain_url(world)) as conn:
        conn.execute(f"SET ROLE {READER}")  # type: ignore[arg-type]
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def panel_sql(dashboard: dict[str, Any], title: str) -> str:
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    return str(panel["targets"][0]["rawSql"])


def expected_buckets(metric: str, width: int, stats: list[str]) -> list[tuple[int, ...]]:
    """What the readings say, with the range widened to whole buckets as the dashboard does."""
    lo = FROM_MS // 1000 * 1000 // width * width
    hi = -(-(TO_MS // 1000 + 1) * 1000 // width) * width
    buckets: dict[int, list[float]] = {}
    for r in READINGS:
        if lo <= r["ts"] < hi and r.get(metric) is not None:
            buckets.setdefault(r["ts"] // width * width, []).append(r[metric])
    pick = {"mean": lambda v: sum(v) / len(v), "min": min, "max": max}
    return [(b, *(pick[s](v) for s in stats)) for b, v in sorted(buckets.items())]  # type: ignore[operator]


def as_ms(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(int(row[0].timestamp() * 1000), *(float(x) for x in row[1:])) for row in rows]


def query(world: World, interval_ms: int, device: int | None = None) -> Query:
    return Query(FROM_MS, TO_MS, interval_ms, {"device": str(device or world.meter_a)})


METRIC_PANELS = {
    "Power": ("power", ["mean", "max"]),
    "Voltage": ("voltage", ["mean", "min", "max"]),
    "Current": ("current", ["mean", "max"]),
    "Power factor": ("pf", ["mean", "min"]),
    "Frequency": ("frequency", ["mean", "min", "max"]),
}


def test_each_metric_panel_shows_mean_min_max_per_bucket_at_every_zoom(
    pg_world: World, dashboard: dict[str, Any]
) -> None:
    for title, (metric, stats) in METRIC_PANELS.items():
        sql = panel_sql(dashboard, title)
        for interval in INTERVALS:
            got = as_ms(run(pg_world, expand(sql, query(pg_world, interval))))
            want = expected_buckets(metric, interval, stats)
            assert len(got) == len(want) > 0, (title, interval)
            for g, w in zip(got, want, strict=True):
                assert g[0] == w[0], (title, interval)
                assert g[1:] == pytest.approx(w[1:], rel=1e-9), (title, interval, g, w)


def test_long_ranges_are_answered_by_the_rollups(pg_world: World, dashboard: dict[str, Any]) -> None:
    """With raw readings and minute rollups gone (retention), hourly and daily zooms answer the same."""
    sql = panel_sql(dashboard, "Power")
    before = {i: run(pg_world, expand(sql, query(pg_world, i))) for i in INTERVALS}
    with pg_world.services.engine.begin() as conn:  # as the owner: Grafana may not delete
        conn.exec_driver_sql(f"DELETE FROM readings WHERE device_id = {pg_world.meter_a}")
        conn.exec_driver_sql(f"DELETE FROM rollup_1m WHERE device_id = {pg_world.meter_a}")
    for interval, table in INTERVALS.items():
        after = run(pg_world, expand(sql, query(pg_world, interval)))
        if table in ("rollup_1h", "rollup_1d"):
            assert after == before[interval]
        else:
            assert after == [], interval  # these zooms did read the finer tables


def test_energy_per_day_matches_the_energy_api_in_the_sites_own_days(
    pg_world: World, dashboard: dict[str, Any]
) -> None:
    sql = panel_sql(dashboard, "Energy per day")
    # site A is in Asia/Kolkata (+05:30: from minute rollups), site B in UTC (hourly rollups)
    for device in (pg_world.meter_a, pg_world.meter_b):
        rows = run(pg_world, expand(sql, query(pg_world, HOUR, device)))
        got = {int(t.timestamp() * 1000): float(kwh) for t, kwh in rows}
        api = pg_world.client.get(
            f"/api/v1/devices/{device}/energy",
            params={"period": "day", "start": str(FROM_MS), "end": str(TO_MS)},
            headers=pg_world.auth(),
        ).json()
        want = {p["start_ms"]: p["kwh"] for p in api["periods"] if p["kwh"] > 0}
        assert got.keys() == want.keys()
        assert [got[k] for k in want] == pytest.approx(list(want.values()), abs=1e-6)
        assert sum(got.values()) == pytest.approx((READINGS[-1]["energy"] - READINGS[0]["energy"]) / 1000)
    kolkata_midnight = datetime.fromisoformat("2025-11-19T18:30:00+00:00").timestamp() * 1000
    first_a = run(pg_world, expand(sql, query(pg_world, HOUR, pg_world.meter_a)))[0][0]
    assert first_a.timestamp() * 1000 == kolkata_midnight  # 20 Nov, local midnight


def test_the_meter_variable_lists_every_meter_by_site_and_name(pg_world: World, dashboard: dict[str, Any]) -> None:
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "device"]
    rows = run(pg_world, expand(variable["query"], query(pg_world, HOUR)))
    assert rows == [(pg_world.meter_a, "Home A / main"), (pg_world.meter_b, "Home B / main")]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        run(pg_world, "SELECT key_hash FROM devices")  # Grafana's login cannot read key hashes


def test_the_prometheus_panels_ask_for_series_that_metrics_exports(pg_world: World, dashboard: dict[str, Any]) -> None:
    exposition = pg_world.client.get("/metrics", headers=pg_world.auth()).text
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if "expr" in t]
    assert len(exprs) == 3
    for expr in exprs:
        for name in re.findall(r"wattwise_[a-z_]+", expr):
            assert re.search(rf'^{name}{{[^}}]*device_id="{pg_world.meter_a}"', exposition, re.M), name


def test_every_panel_uses_the_dashboard_data_source_variables(dashboard: dict[str, Any]) -> None:
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert names == {"pg", "prom", "device"}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert panel["datasource"]["uid"] in ("${pg}", "${prom}")
            if "rawSql" in target:
                assert target["format"] == "time_series" and target["rawQuery"]
    sources = yaml.safe_load((PROVISIONING / "datasources" / "wattwise.yaml").read_text())["datasources"]
    assert [s["type"] for s in sources] == ["grafana-postgresql-datasource", "prometheus"]
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "wattwise.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_sql_is_expanded_as_grafanas_own_macro_tests_expect() -> None:
    """The expectations of Grafana's macros_test.go, for 2018-04-12 18:00–18:05 UTC."""
    q = Query(1_523_556_000_000, 1_523_556_300_000, 600_000, {})
    assert expand("SELECT $__timeGroup(time_column,'5m'), value", q) == (
        'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value'
    )
    assert (
        expand("SELECT $__timeGroup(time_column , '5m')", q) == "SELECT floor(extract(epoch from time_column)/300)*300"
    )
    assert expand("WHERE $__timeFilter(time_column)", q) == (
        "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    )
    assert expand("select $__unixEpochFilter(time)", q) == "select time >= 1523556000 AND time <= 1523556300"
    assert expand("SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')", q) == (
        'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"'
    )
    assert expand("SELECT $__interval", q) == "SELECT 10m"
    with pytest.raises(ValueError, match="unknown macro"):
        expand("SELECT $__timeFiltr(t)", q)
