"""Migration 0006 (provisional runs) on SQLite and PostgreSQL: runs stored before it become
final; going back drops the provisional rows with the column (an older detector would list
them as runs) and keeps the final ones and the table's index; going forward again works."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect, select, text

from wattwise.store import detections
from wattwise.store.detections import NewEvent, NewRun
from wattwise.store.devices import create_device
from wattwise.store.engine import alembic_config, migrate, open_engine
from wattwise.store.findings_schema import appliance_runs
from wattwise.store.sites import create_site


def _to(engine: Engine, revision: str, up: bool) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.upgrade if up else command.downgrade)(cfg, revision)


def _event(ts: int, delta_p: float) -> NewEvent:
    return NewEvent(ts, delta_p, None, abs(delta_p), 0, 0.0, 0.0, "fridge", 0.9)


def test_migration_0006_up_down_up_keeps_final_runs_and_drops_provisional_ones(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:  # a PostgreSQL database is shared by the session's tests
            conn.execute(text(f"DELETE FROM {appliance_runs.name}"))
        _to(engine, "0005", up=False)
        with engine.begin() as conn:
            site = create_site(conn, "Migration home")
            device = create_device(conn, site_id=site.id, name="main").device.id
            on, off, on2 = detections.insert_events(conn, device, [_event(1, 90.0), _event(2, -90.0), _event(3, 90.0)])
            conn.execute(
                text(
                    f"INSERT INTO {appliance_runs.name} (device_id, start_ts, end_ts, power_w, label,"
                    " on_event_id, off_event_id, created_ms) VALUES (:d, 1, 2, 90.0, 'fridge', :on, :off, 0)"
                ),
                {"d": device, "on": on, "off": off},
            )
        _to(engine, "0006", up=True)
        with engine.begin() as conn:
            assert [r.final for r in detections.list_runs(conn, device)] == [True]  # stored before: final
            detections.replace_provisional(conn, device, [NewRun(3, 4, 90.0, "fridge", on2, None)])
            assert sorted(r.final for r in detections.list_runs(conn, device)) == [False, True]
        _to(engine, "0005", up=False)
        columns = {c["name"] for c in inspect(engine).get_columns(appliance_runs.name)}
        assert "final" not in columns
        assert "ix_appliance_runs_device_start" in {i["name"] for i in inspect(engine).get_indexes(appliance_runs.name)}
        with engine.connect() as conn:
            left = conn.execute(text(f"SELECT start_ts FROM {appliance_runs.name} WHERE device_id = :d"), {"d": device})
            assert [int(ts) for (ts,) in left] == [1]
        _to(engine, "heads", up=True)
        with engine.connect() as conn:
            assert list(conn.execute(select(appliance_runs.c.final).where(appliance_runs.c.device_id == device))) == [
                (True,)
            ]
    finally:
        migrate(engine)  # leave a shared database as the other tests expect it
        with engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {appliance_runs.name}"))
        engine.dispose()
