"""Readings per second through POST /api/v1/ingest, beside the raw insert rate of the same database.

For batches of 1, 100 and 1,000 readings from 100 meters, in the same run:
  raw   — the same database and settings (SQLite WAL synchronous=FULL, or PostgreSQL), a plain
          DB-API executemany into a table with the same primary key, one transaction per batch;
  ours  — HTTP POSTs to a real `wattwise serve` (JSON, key check, validation, duplicate check,
          energy per reading, rollup marks, commit before the answer, live publish), from
          client processes on the same 2-core machine (they compete with the server for CPU);
          the request bodies are built before the clock starts, as raw's rows are.
With ``--servers 1 2`` (PostgreSQL only) "ours" is measured once per count of server
processes, joined by the bus link through the broker at ``--link`` as docs/scale.md deploys
them, the clients taking turns between them: what scaling out adds on this machine.
Beside the rate it prints the server's CPU time per reading over the timed uploads
(``/proc``): at two uploads in flight the server is bound by one core (the GIL), and that
figure moves far less with the machine's load than the rate does.
``--in-flight N`` keeps N uploads in flight (N client processes) instead of 2; the default
stays 2 so that figures keep meaning what they meant. Many meters uploading at once is the
realistic case; ``--in-flight 1 2 4 8`` gives the curve.

    python bench/ingest.py [--database sqlite|postgresql] [--readings 30000] [--batches 1000]
                           [--servers 1 2 --link 127.0.0.1:1883] [--in-flight 2]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import time

import httpx
import orjson
from common import SERVER_PIDS, add_meters, cpu_seconds, fresh_database, server
from sqlalchemy import text

from wattwise.store.engine import open_engine

METERS = 100
T0 = 1_764_000_000_000


Row = tuple[int, int, float, float, float, float, float, float, float]


def batches(batch: int, total: int) -> list[tuple[int, list[Row]]]:
    """Batches of consecutive readings of one meter, meters taking turns, as uploads arrive."""
    out = []
    for k in range(total // batch):
        meter, first = k % METERS + 1, (k // METERS) * batch
        out.append(
            (
                meter,
                [
                    (
                        meter,
                        T0 + (first + j) * 1000,
                        230.0 + j % 7 * 0.1,
                        1.5,
                        345.0 + j % 13,
                        1000.0 + (first + j) * 0.1,
                        50.0,
                        0.98,
                        0.1,
                    )
                    for j in range(batch)
                ],
            )
        )
    return out


def raw_rate(database: str, batch: int, total: int) -> float:
    engine = open_engine(database)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE raw_readings (device_id INTEGER, ts BIGINT, voltage FLOAT, current FLOAT, "
                "power FLOAT, energy FLOAT, frequency FLOAT, pf FLOAT, wh FLOAT, PRIMARY KEY (device_id, ts))"
            )
        )
    data = batches(batch, total)
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO raw_readings VALUES ({', '.join([mark] * 9)})"
    started = time.perf_counter()
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        for _meter, chunk in data:
            cur = raw.cursor()
            cur.executemany(sql, chunk)
            raw.commit()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return total / elapsed


# Each client worker's (key, body) uploads, built before the clock starts (as raw_rate builds its
# rows first) and inherited by the forked client processes: the timing covers the uploads only.
_UPLOADS: list[list[tuple[str, bytes]]] = []


def uploads(keys: list[str], batch: int, total: int, worker: int, workers: int) -> list[tuple[str, bytes]]:
    out = []
    for meter, chunk in batches(batch, total)[worker::workers]:
        body = [
            {"ts": ts, "voltage": v, "current": c, "power": p, "energy": e, "frequency": f, "pf": pf}
            for (_d, ts, v, c, p, e, f, pf, _wh) in chunk
        ]
        out.append((keys[meter - 1], orjson.dumps(body if batch > 1 else body[0])))
    return out


def _client(args: tuple[str, int]) -> int:
    url, worker = args  # the server this worker posts to
    accepted = 0
    with httpx.Client(timeout=60) as client:
        for key, body in _UPLOADS[worker]:
            r = client.post(
                url + "/api/v1/ingest",
                content=body,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            accepted += r.json()["accepted"]
    return accepted


def ours_rate(
    database: str,
    keys: list[str],
    batch: int,
    total: int,
    detectors: bool,
    servers: int = 1,
    link: str = "",
    in_flight: int = 2,
) -> tuple[float, float]:
    """Readings/s from ``in_flight`` client processes, each posting its share of uploads one after
    another, and the servers' CPU time per reading (µs) over the same uploads: it moves far less
    with the machine's load than the rate does."""
    workers = max(8 if batch == 1 else 4, in_flight)
    _UPLOADS[:] = [uploads(keys, batch, total, w, workers) for w in range(workers)]
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(server(database, detectors=detectors, link=link)) for _ in range(servers)]
        pool = stack.enter_context(multiprocessing.get_context("fork").Pool(in_flight))
        pids = [SERVER_PIDS[url] for url in urls]
        cpu = sum(cpu_seconds(pid) for pid in pids)
        started = time.perf_counter()
        accepted = sum(pool.map(_client, [(urls[w % servers], w) for w in range(workers)]))
        elapsed = time.perf_counter() - started
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu
    assert accepted == total, f"only {accepted} of {total} accepted"
    return total / elapsed, cpu / total * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--readings", type=int, default=30_000, help="readings per batch size (batch 1: a tenth)")
    parser.add_argument(
        "--detectors",
        action="store_true",
        help="keep the live detectors (NILM, anomaly, …) running in the server, as in production",
    )
    parser.add_argument(
        "--batches", type=int, nargs="+", default=[1, 100, 1000], help="batch sizes to measure (default 1 100 1000)"
    )
    parser.add_argument("--servers", type=int, nargs="+", default=[1], help="server processes (several: PostgreSQL)")
    parser.add_argument("--link", default="", help="broker host:port joining several server processes")
    parser.add_argument(
        "--in-flight",
        type=int,
        nargs="+",
        default=[2],
        help="uploads in flight at once, one client process each (default 2: the figure docs/benchmarks.md quotes)",
    )
    args = parser.parse_args()
    if min(args.in_flight) < 1:
        parser.error(f"--in-flight must be at least 1, not {min(args.in_flight)}")
    if max(args.servers) > 1 and args.database != "postgresql":
        parser.error("--servers above 1 needs --database postgresql (SQLite is one process's file)")
    print(
        f"database: {args.database}; {METERS} meters; client processes share the 2 cores with the server; "
        f"live detectors {'on' if args.detectors else 'off'}"
    )
    print(
        f"{'batch':>6} {'readings':>9} {'servers':>8} {'in flight':>9} "
        f"{'raw rows/s':>12} {'ingest rows/s':>14} {'ratio':>6} {'server µs/reading':>17}"
    )
    for batch in args.batches:
        total = args.readings // 10 if batch == 1 else args.readings
        with fresh_database(args.database, f"raw{batch}") as url:
            raw = raw_rate(url, batch, total)
        for servers in args.servers:
            for in_flight in args.in_flight:
                with fresh_database(args.database, f"api{batch}") as url:
                    keys = add_meters(url, METERS)
                    ours, cpu = ours_rate(url, keys, batch, total, args.detectors, servers, args.link, in_flight)
                line = (
                    f"{batch:>6} {total:>9} {servers:>8} {in_flight:>9} {raw:>12,.0f} {ours:>14,.0f} "
                    f"{ours / raw:>6.2f} {cpu:>17.2f}"
                )
                print(line, flush=True)


if __name__ == "__main__":
    main()
