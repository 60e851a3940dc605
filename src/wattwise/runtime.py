"""Assemble one running Wattwise: database, writer, bus and pipeline, started and stopped together.

The API, the dashboard, the MQTT adapter and the command line all receive the same
``Services`` instead of building their own, so there is one writer per database per process.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from wattwise.bus import Bus
from wattwise.config import Settings
from wattwise.domain.energy import EnergyRules
from wattwise.ingest.pipeline import Pipeline
from wattwise.store import rollups
from wattwise.store.clock import now_ms
from wattwise.store.commands import PendingDevices
from wattwise.store.engine import migrate, open_engine
from wattwise.store.retention import Retention, prune
from wattwise.store.writer import Writer


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: Engine
    writer: Writer
    bus: Bus
    pipeline: Pipeline
    retention: Retention
    pending_commands: PendingDevices

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()


def energy_rules(settings: Settings) -> EnergyRules:
    return EnergyRules(max_gap_ms=settings.energy_max_gap_s * 1000, max_power_w=settings.energy_max_power_w)


def start_services(settings: Settings) -> Services:
    """Open (and migrate) the database and start the writer thread."""
    engine = open_engine(settings.database_url(), sqlite_synchronous=settings.sqlite_synchronous)
    migrate(engine)
    retention = Retention(settings.raw_retention_days, settings.minute_retention_days)

    def maintenance(conn: Connection) -> None:
        rollups.refresh_marked(conn)
        prune(conn, retention, now_ms())

    writer = Writer(engine, maintenance=maintenance)
    bus = Bus()
    pipeline = Pipeline(engine, writer, bus, energy_rules(settings), retention)
    return Services(
        settings=settings,
        engine=engine,
        writer=writer,
        bus=bus,
        pipeline=pipeline,
        retention=retention,
        pending_commands=PendingDevices(engine),
    )
