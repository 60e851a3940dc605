"""Alembic environment: runs on the connection that ``wattwise.store.engine.migrate`` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import wattwise.store.alerts_schema
import wattwise.store.billing_schema
import wattwise.store.findings_schema  # noqa: F401  (detections and findings, migration 0005)
from wattwise.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # `alembic` run from the command line with -x url=...
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    assert url, "pass -x url=<database url>"
    with create_engine(url).connect() as conn:
        _run(conn)
