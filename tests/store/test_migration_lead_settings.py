"""Migration 0008 (the leader's detector settings) on SQLite and PostgreSQL: up, down, up."""

from __future__ import annotations

from sqlalchemy import inspect

from store.test_migration_alerts import _to
from wattwise.store.engine import migrate, open_engine
from wattwise.store.lead import record_settings, recorded_settings


def test_migration_0008_up_down_up(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            record_settings(conn, {"WATTWISE_DETECTOR_REFRESH_S": "300.0"}, process="host pid 1", at_ms=1)
        _to(engine, "0007", up=False)
        tables = set(inspect(engine).get_table_names())
        assert "lead_settings" not in tables and "alerts" in tables
        _to(engine, "heads", up=True)
        with engine.connect() as conn:
            assert recorded_settings(conn) is None
        with engine.begin() as conn:
            record_settings(conn, {"WATTWISE_DETECTOR_REFRESH_S": "60.0"}, process="host pid 2", at_ms=2)
        with engine.connect() as conn:
            found = recorded_settings(conn)
        assert found is not None and (found.values, found.process) == (
            {"WATTWISE_DETECTOR_REFRESH_S": "60.0"},
            "host pid 2",
        )
    finally:
        migrate(engine)
        engine.dispose()
