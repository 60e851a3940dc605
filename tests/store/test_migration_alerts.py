"""Migration 0007 (alerts) on SQLite and PostgreSQL: it adds the four alert tables, going back
removes them and leaves the rest, and going forward again works."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect

from wattwise.store import alerts as alert_store
from wattwise.store.engine import alembic_config, migrate, open_engine
from wattwise.store.sites import create_site

ALERT_TABLES = {"alert_channels", "alert_rules", "alerts", "alert_deliveries"}


def _to(engine: Engine, revision: str, up: bool) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.upgrade if up else command.downgrade)(cfg, revision)


def test_migration_0007_up_down_up(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        migrate(engine)
        assert set(inspect(engine).get_table_names()) >= ALERT_TABLES
        with engine.begin() as conn:
            site = create_site(conn, "Alert migration home")
            fields = alert_store.RuleFields(
                site_id=site.id, device_id=None, name="r", kind="offline", params={"after_s": 60}
            )
            alert_store.add_rule(conn, fields, by="test")
        _to(engine, "0006", up=False)
        tables = set(inspect(engine).get_table_names())
        assert not ALERT_TABLES & tables and {"sites", "findings", "commands"} <= tables
        _to(engine, "heads", up=True)
        with engine.connect() as conn:
            assert alert_store.list_rules(conn) == []
    finally:
        migrate(engine)
        engine.dispose()
