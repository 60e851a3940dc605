"""Delay from ingest to the browser: 50 meters posting every 2 s, the overview open in Chromium.

In the same run, against the same `wattwise serve` process:
  dashboard — from just before a meter's POST /api/v1/ingest is sent to the moment that
              reading's power value appears in its tile on the overview page (a
              MutationObserver in headless Chromium stamps the change; same machine clock);
  reference — from the same send to the moment a plain WebSocket client of /api/v1/live
              (in this process) receives the reading: the floor set by ingest and the bus.

Each reading carries a power value unique to its meter, so the tile text names the reading.
Meters are spread evenly over the 2 s period, as real meters would be.

    python bench/live_latency.py [--meters 50] [--period 2] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time

import httpx
import websockets
from common import add_meters, fresh_database, server
from playwright.async_api import async_playwright

from wattwise.api.deps import SESSION_COOKIE
from wattwise.store.engine import open_engine
from wattwise.store.tokens import SESSION_TOKEN_NAME
from wattwise.store.users import create_token, create_user

CHROMIUM = "/usr/bin/chromium"
WARM_UP_S = 4.0

OBSERVE_JS = """() => {
  window.seen = [];
  const power = (node) => {
    const el = node.nodeType === Node.TEXT_NODE ? node.parentElement : node;
    if (!el || !el.closest) return null;
    return el.closest('[data-field="power"]') || (el.querySelector && el.querySelector('[data-field="power"]'));
  };
  new MutationObserver((mutations) => {
    const t = performance.timeOrigin + performance.now();
    for (const m of mutations) {
      for (const node of [m.target, ...m.addedNodes]) {
        const field = power(node);
        const tile = field && field.closest('[data-meter]');
        if (tile) window.seen.push([Number(tile.dataset.meter), field.textContent.trim(), t]);
      }
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def session(database: str) -> str:
    """An administrator and a browser session for them (as signing in would create)."""
    engine = open_engine(database)
    with engine.begin() as conn:
        user = create_user(conn, "bench", "bench-password", is_admin=True)
        token = create_token(conn, user.id, SESSION_TOKEN_NAME)
    engine.dispose()
    return token


async def meter_loop(
    client: httpx.AsyncClient,
    url: str,
    meter: int,
    key: str,
    offset: float,
    period: float,
    until: float,
    sent: dict[tuple[int, int], float],
) -> int:
    """Post one reading every ``period`` s; each power value (100 W + n) names the reading."""
    first = time.monotonic() + offset
    n, errors = 0, 0
    while (due := first + n * period) < until:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        n += 1
        power = 100 + n
        sent[(meter, power)] = time.time() * 1000
        response = await client.post(
            f"{url}/api/v1/ingest",
            json={"power": float(power), "voltage": 230.0},
            headers={"Authorization": f"Bearer {key}"},
        )
        errors += response.status_code != 200
    return errors


async def websocket_reference(
    url: str, token: str, received: dict[tuple[int, int], float], stop: asyncio.Event
) -> None:
    async with websockets.connect(f"{url.replace('http', 'ws', 1)}/api/v1/live?token={token}") as ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            t = time.time() * 1000
            for r in json.loads(raw)["data"]:
                received.setdefault((r["device_id"], round(r["power"])), t)


def delays(sent: dict[tuple[int, int], float], arrived: dict[tuple[int, int], float], after: float) -> list[float]:
    return [arrived[k] - t for k, t in sent.items() if t >= after and k in arrived]


async def measure(url: str, keys: list[str], token: str, period: float, seconds: float) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-background-networking"]
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url}])
        page = await context.new_page()
        await page.goto(url + "/")
        await page.wait_for_selector('[data-meter="1"]')
        await page.evaluate(OBSERVE_JS)
        reloads: list[str] = []  # a reload (the page lost its server) would lose what was seen
        page.on("framenavigated", lambda frame: reloads.append(frame.url) if frame == page.main_frame else None)

        sent: dict[tuple[int, int], float] = {}
        by_ws: dict[tuple[int, int], float] = {}
        stop = asyncio.Event()
        reference = asyncio.create_task(websocket_reference(url, token, by_ws, stop))
        measured_from = time.time() * 1000 + WARM_UP_S * 1000
        until = time.monotonic() + WARM_UP_S + seconds
        limits = httpx.Limits(max_connections=len(keys), max_keepalive_connections=len(keys))
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            errors = await asyncio.gather(
                *(
                    meter_loop(client, url, i + 1, key, i * period / len(keys), period, until, sent)
                    for i, key in enumerate(keys)
                )
            )
        await asyncio.sleep(1.0)  # let the last readings arrive
        stop.set()
        await reference
        seen = await page.evaluate("() => window.seen || []")
        await browser.close()

    by_browser: dict[tuple[int, int], float] = {}
    for meter, text, t in seen:
        if text.endswith(" W") and text[:-2].isdigit():
            by_browser.setdefault((int(meter), int(text[:-2])), t)
    dashboard = delays(sent, by_browser, measured_from)
    floor = delays(sent, by_ws, measured_from)
    total = sum(1 for t in sent.values() if t >= measured_from)

    print(
        f"{len(keys)} meters, one reading every {period:g} s each, {seconds:g} s measured "
        f"({total} readings, {sum(errors)} refused); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for name, values in (
        ("dashboard (ingest → tile in Chromium)", dashboard),
        ("reference (ingest → WebSocket)", floor),
    ):
        if not values:
            print(f"  {name:40s} nothing arrived")
            continue
        print(
            f"  {name:40s} p50 {statistics.median(values):6.1f} ms  p99 {percentile(values, 99):6.1f} ms  "
            f"max {max(values):6.1f} ms  ({len(values)}/{total} seen)"
        )
    if reloads:
        print(f"  the page reloaded {len(reloads)} time(s): it lost its connection to the server")
    if dashboard and floor:
        print(
            f"  ratio dashboard / reference: p50 {statistics.median(dashboard) / statistics.median(floor):.2f}×  "
            f"p99 {percentile(dashboard, 99) / percentile(floor, 99):.2f}×  (aim: dashboard p99 < 250 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--period", type=float, default=2.0, help="seconds between a meter's readings")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to measure (after a warm-up)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wattwise-bench-ui-") as data_dir, fresh_database("sqlite", "live") as db:
        os.environ["WATTWISE_DATA_DIR"] = data_dir  # the server keeps its dashboard secret there
        keys = add_meters(db, args.meters, site="bench")
        token = session(db)
        with server(db) as url:
            asyncio.run(measure(url, keys, token, args.period, args.seconds))


if __name__ == "__main__":
    main()
