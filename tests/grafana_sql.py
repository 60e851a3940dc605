"""A panel's SQL as Grafana's PostgreSQL data source would send it to the database.

Three steps, in Grafana's order: the dashboard's template variables (``$device``, ``${device}``,
``[[device]]``, done by the browser); the SQL data sources' global substitutions
(``$__interval_ms``, ``$__interval``, ``$__unixEpochFrom()``, ``$__unixEpochTo()``, in
pkg/tsdb/grafana-postgresql-datasource/sqleng/sql_engine.go ``Interpolate``); then the
PostgreSQL macro engine (macros.go), which turns each ``$__name(args)`` into SQL and refuses
names it does not know — so does this one, and a typo in the dashboard fails the test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
FIXED = {
    "__time": '{col} AS "time"',
    "__timeEpoch": 'extract(epoch from {col}) as "time"',
    "__timeFilter": "{col} BETWEEN '{from_}' AND '{to_}'",
    "__timeFrom": "'{from_}'",
    "__timeTo": "'{to_}'",
    "__unixEpochFilter": "{col} >= {frm} AND {col} <= {to}",
}
GROUPS = {"__timeGroup": "floor(extract(epoch from {col})/{s})*{s}", "__unixEpochGroup": "floor(({col})/{s})*{s}"}
UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
    "y": 365 * 86_400_000,
}


@dataclass(frozen=True, slots=True)
class Query:
    """What Grafana knows when it runs a panel: the time range, the interval, the variables."""

    from_ms: int
    to_ms: int
    interval_ms: int
    variables: dict[str, str]


def format_interval(ms: int) -> str:
    """gtime.FormatInterval: the largest whole unit (``20s``, ``5m``, ``1h``, ``1d``)."""
    for unit in ("y", "d", "h", "m", "s", "ms"):
        if ms >= UNITS_MS[unit]:
            return f"{ms // UNITS_MS[unit]}{unit}"
    return "1ms"


def parse_interval(text: str) -> float:
    """gtime.ParseInterval for the forms dashboards use (``5m``, ``1h``, ``30s``), in seconds."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip("'"))
    if match is None:
        raise ValueError(f"error parsing interval {text}")
    return int(match[1]) * UNITS_MS[match[2]] / 1000


def rfc3339(ms: int) -> str:
    """Go's time.RFC3339Nano in UTC: no trailing zeros in the fraction, ``Z``."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}".rstrip("0")
    return text + "Z"


def _seconds(value: float) -> str:
    """Go's %v of a float64 of whole seconds: ``300``, not ``300.0``."""
    return str(int(value)) if value == int(value) else repr(value)


def _macro(name: str, args: list[str], q: Query) -> str:
    if (template := FIXED.get(name)) is not None:
        return template.format(
            col=args[0], from_=rfc3339(q.from_ms), to_=rfc3339(q.to_ms), frm=q.from_ms // 1000, to=q.to_ms // 1000
        )
    if (group := GROUPS.get(name.removesuffix("Alias"))) is not None:
        s = _seconds(parse_interval(args[1]))
        return group.format(col=args[0], s=s) + (' AS "time"' if name.endswith("Alias") else "")
    raise ValueError(f"unknown macro {name!r}")


def expand(sql: str, q: Query) -> str:
    """The SQL the database receives (Grafana first strips comments; ours hold no quotes)."""
    sql = re.sub(r"--[^\n]*", "", sql)
    for name, value in q.variables.items():
        sql = re.sub(rf"\$\{{{name}\}}|\[\[{name}\]\]|\${name}\b", value, sql)
    sql = sql.replace("$__interval_ms", str(q.interval_ms))
    sql = sql.replace("$__interval", format_interval(q.interval_ms))
    sql = sql.replace("$__unixEpochFrom()", str(q.from_ms // 1000))
    sql = sql.replace("$__unixEpochTo()", str(q.to_ms // 1000))

    def one(match: re.Match[str]) -> str:
        name = match[1]
        # macros.go: "$__timeGroup(...)," is the pre-5.3 form, which adds the alias
        if name == "__timeGroup" and sql[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"
        return _macro(name, [a.strip() for a in match[2].split(",")], q)

    expanded = MACRO.sub(one, sql)
    if "$" in expanded:
        raise ValueError(f"left unexpanded: {expanded[expanded.index('$') :][:40]!r}")
    return expanded
