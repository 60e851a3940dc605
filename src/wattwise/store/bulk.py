"""Insert many rows with a few multi-row INSERT statements instead of ``executemany``.

Python's sqlite3 ``executemany`` releases the GIL around every row's step and must take it
back for the next one. In the server the writer thread shares the GIL with the event loop, so
each row could wait up to the interpreter's switch interval (5 ms) while the loop parses the
next upload: a 1,000-row batch then took longer to insert than to parse, and alone the
per-row statements are slower too. One ``INSERT … VALUES (…), (…), …`` steps once for
hundreds of rows.

Statements are cut into power-of-two sizes so that a handful of texts cover every batch
size and stay in the driver's prepared-statement cache (compiling a 512-row statement costs
more than running it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection

MAX_ROWS = 512  # per statement; fewer when the database allows fewer parameters


def insert_many(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], tail: str = ""
) -> None:
    """``INSERT INTO table (columns) VALUES … tail`` for every row, in as few statements as sizes allow."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    start = 0
    for size in chunk_sizes(len(rows), _max_rows(conn, len(columns))):
        chunk = rows[start : start + size]
        conn.exec_driver_sql(_sql(table, tuple(columns), tail, mark, size), tuple(chain.from_iterable(chunk)))
        start += size


def chunk_sizes(count: int, limit: int = MAX_ROWS) -> list[int]:
    """The statement sizes ``insert_many`` uses for ``count`` rows (largest first)."""
    sizes = []
    size = limit
    while count:
        while size > count:
            size //= 2
        sizes.append(size)
        count -= size
    return sizes


def _max_rows(conn: Connection, width: int) -> int:
    """The largest power of two ≤ MAX_ROWS whose rows fit the database's parameter limit."""
    if conn.dialect.name != "sqlite":
        return MAX_ROWS  # PostgreSQL allows 65,535 parameters
    raw = conn.connection.dbapi_connection
    limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if isinstance(raw, sqlite3.Connection) else 999
    size = MAX_ROWS
    while size > 1 and size * width > limit:
        size //= 2
    return size


@cache
def _sql(table: str, columns: tuple[str, ...], tail: str, mark: str, rows: int) -> str:
    one = "(" + ", ".join([mark] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)} {tail}".rstrip()
