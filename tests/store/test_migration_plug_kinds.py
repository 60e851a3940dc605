"""Migration 0009 (each meter's smart-plug kind) on SQLite and PostgreSQL: up, down, up."""

from __future__ import annotations

from sqlalchemy import inspect

from store.test_migration_alerts import _to
from wattwise.store.devices import create_device
from wattwise.store.engine import migrate, open_engine
from wattwise.store.plugs import Plug, plug_of, remember
from wattwise.store.sites import create_site


def test_migration_0009_up_down_up(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            site = create_site(conn, "Home")
            meter = create_device(conn, site_id=site.id, name="plug").device.id
            remember(conn, meter, Plug("esphome", "relay"))
        _to(engine, "0008", up=False)
        tables = set(inspect(engine).get_table_names())
        assert "plug_kinds" not in tables and "lead_settings" in tables
        _to(engine, "heads", up=True)
        with engine.connect() as conn:
            assert plug_of(conn, meter) is None
        with engine.begin() as conn:
            remember(conn, meter, Plug("esphome", "relay"))
            # a later sensor message names no switch: the known one is kept
            assert remember(conn, meter, Plug("esphome")) == Plug("esphome", "relay")
        with engine.begin() as conn:
            # reflashed as Tasmota: the kind follows the plug
            remember(conn, meter, Plug("tasmota"))
        with engine.connect() as conn:
            assert plug_of(conn, meter) == Plug("tasmota")
    finally:
        migrate(engine)
        engine.dispose()
