"""Multi-row inserts store every row once, whatever the count, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3

from sqlalchemy import text

from wattwise.runtime import Services
from wattwise.store.bulk import MAX_ROWS, chunk_sizes, insert_many


def test_chunk_sizes_are_powers_of_two_that_add_up() -> None:
    for count in (0, 1, 2, 3, 511, 512, 513, 1000, 1023, 10_000):
        sizes = chunk_sizes(count)
        assert sum(sizes) == count
        assert all(s & (s - 1) == 0 and s <= MAX_ROWS for s in sizes)
        assert sizes == sorted(sizes, reverse=True)
    assert chunk_sizes(1000) == [512, 256, 128, 64, 32, 8]
    assert chunk_sizes(100, limit=8) == [8] * 12 + [4]


def test_every_row_is_inserted_once_and_a_conflict_is_skipped(services: Services) -> None:
    with services.engine.begin() as conn:
        conn.execute(text("CREATE TABLE bulk_probe (a INTEGER, b FLOAT, c TEXT, PRIMARY KEY (a))"))
    try:
        for start, count in ((0, 1000), (1000, 1), (1001, 37), (0, 1038)):  # the last: all stored already
            rows = [(i, i / 3, f"r{i}") for i in range(start, start + count)]
            with services.engine.begin() as conn:
                insert_many(conn, "bulk_probe", ("a", "b", "c"), rows, "ON CONFLICT (a) DO NOTHING")
        with services.engine.connect() as conn:
            stored = conn.execute(text("SELECT a, b, c FROM bulk_probe ORDER BY a")).all()
        assert [tuple(r) for r in stored] == [(i, i / 3, f"r{i}") for i in range(1038)]
    finally:
        with services.engine.begin() as conn:
            conn.execute(text("DROP TABLE bulk_probe"))


def test_a_sqlite_with_a_small_parameter_limit_gets_smaller_statements(sqlite_services: Services) -> None:
    with sqlite_services.engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        old = raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)  # 33 rows of 3 columns
        try:
            conn.execute(text("CREATE TEMP TABLE bulk_small (a INTEGER PRIMARY KEY, b FLOAT, c TEXT)"))
            insert_many(conn, "bulk_small", ("a", "b", "c"), [(i, 1.0, "x") for i in range(300)])
            assert conn.execute(text("SELECT count(*), sum(a) FROM bulk_small")).one() == (300, sum(range(300)))
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, old)
