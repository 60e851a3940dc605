"""GET /metrics — Prometheus exposition of every meter the token's owner may see.

Base units and names follow Prometheus conventions: ``wattwise_power_watts``,
``wattwise_voltage_volts``, … and ``wattwise_energy_joules_total``, a counter, so
``rate(wattwise_energy_joules_total[5m])`` is the mean power in watts.

Beside the meters, the answering process's own part in an installation of several
(docs/scale.md): ``wattwise_leader`` (1 while it runs the detectors and the alert engine) and
its bus link's message counters, ``wattwise_bus_link_missed_total`` being the ones the broker
dropped before they got here, and ``wattwise_writer_retries_total``: transactions its writer
ran again after PostgreSQL aborted them for a deadlock. While it runs the detectors, how far they
are behind ingest: ``wattwise_detector_backlog_readings`` (readings waiting),
``wattwise_detector_lag_seconds`` (how long the oldest of them has waited; alert on it),
``wattwise_detector_readings_processed_total``, and, past ``WATTWISE_DETECTOR_BACKLOG_MAX``,
``wattwise_detector_spilled_readings`` (the part of the backlog waiting in the store rather than
in memory) and ``wattwise_detector_readings_reread_total`` (read back from the store).
``wattwise_detector_settings_differ`` names (label ``setting``) each ``WATTWISE_DETECTOR_*``
setting of this process that differs from the leader's: should it take over, its detectors
would learn afresh what depends on them.
``wattwise_bus_subscribers`` (label ``topic``): the subscriptions to this process's bus, one per
live section of each open dashboard tab beside the server's own consumers; a count that keeps
growing while tabs close is a leak.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from wattwise.api.deps import AccessDep, ServicesDep
from wattwise.bus_link import BusLink
from wattwise.consumers import Consumers
from wattwise.detectors.progress import Progress
from wattwise.runtime import Services
from wattwise.store import rollups
from wattwise.store.devices import Device, list_devices
from wattwise.store.latest import MeterState, meter_state
from wattwise.store.users import Access

router = APIRouter(tags=["integrations"])

GAUGES = (
    ("voltage", "wattwise_voltage_volts", "RMS voltage"),
    ("current", "wattwise_current_amperes", "RMS current"),
    ("power", "wattwise_power_watts", "Active power (negative: export)"),
    ("frequency", "wattwise_frequency_hertz", "Grid frequency"),
    ("pf", "wattwise_power_factor_ratio", "Power factor"),
)
LABELS = ["device_id", "device", "site"]


class _Meters(Collector):
    def __init__(self, states: list[tuple[Device, MeterState]]) -> None:
        self._states = states

    def collect(self) -> Iterator[Metric]:
        families = {key: GaugeMetricFamily(name, doc, labels=LABELS) for key, name, doc in GAUGES}
        seen = GaugeMetricFamily(
            "wattwise_last_reading_timestamp_seconds", "Time of the meter's last reading", labels=LABELS
        )
        energy = CounterMetricFamily(
            "wattwise_energy_joules", "Energy consumed since the meter's first reading", labels=LABELS
        )
        for device, state in self._states:
            labels = [str(device.id), device.name, device.site_name]
            for key, family in families.items():
                value = state.values.get(key)
                if value is not None:
                    family.add_metric(labels, value)
            if state.ts is not None:
                seen.add_metric(labels, state.ts / 1000)
            energy.add_metric(labels, state.energy_wh * 3600)
        yield from families.values()
        yield seen
        yield energy


class _Process(Collector):
    """What this process does for the installation (absent when it does not apply)."""

    def __init__(
        self, consumers: Consumers | None, link: BusLink | None, writer_retries: int, subscribers: dict[str, int]
    ) -> None:
        self._consumers, self._link, self._retries = consumers, link, writer_retries
        self._subscribers = subscribers

    def collect(self) -> Iterator[Metric]:
        retried = "Transactions the writer ran again after the database aborted them (a deadlock)"
        yield CounterMetricFamily("wattwise_writer_retries", retried, value=self._retries)
        subscribed = GaugeMetricFamily(
            "wattwise_bus_subscribers",
            "Subscriptions to this process's bus (open dashboard tabs' among them)",
            labels=["topic"],
        )
        for topic, count in sorted(self._subscribers.items()):
            subscribed.add_metric([topic], count)
        yield subscribed
        if self._consumers is not None:
            leads = "1 while this process runs the detectors and the alert engine (docs/scale.md)"
            yield GaugeMetricFamily("wattwise_leader", leads, value=int(self._consumers.running))
            detectors = self._consumers.detectors
            if detectors is not None:
                yield from _detector_progress(detectors.progress)
            differs = GaugeMetricFamily(
                "wattwise_detector_settings_differ",
                "1 for each detector setting of this process that differs from the one the leader recorded",
                labels=["setting"],
            )
            for d in self._consumers.settings_differing():
                differs.add_metric([d.name], 1)
            yield differs
        if self._link is not None:
            for name, value, doc in (
                ("sent", self._link.sent, "Bus messages this process sent to the others"),
                ("left_out", self._link.left_out, "Bus messages not sent: the queue for the broker was full"),
                ("received", self._link.received, "Bus messages received from the other processes"),
                ("missed", self._link.missed, "Messages of the other processes the broker dropped"),
            ):
                yield CounterMetricFamily(f"wattwise_bus_link_{name}", doc, value=value)


def _detector_progress(progress: Progress) -> Iterator[Metric]:
    waiting = "Readings handed to the live detectors and not processed yet"
    yield GaugeMetricFamily("wattwise_detector_backlog_readings", waiting, value=progress.backlog)
    lag = "Seconds the oldest reading waiting for the live detectors has waited (0: caught up)"
    yield GaugeMetricFamily("wattwise_detector_lag_seconds", lag, value=progress.lag_s())
    done = "Readings the live detectors have processed since they started"
    yield CounterMetricFamily("wattwise_detector_readings_processed", done, value=progress.processed)
    spilled = (
        "Readings waiting for the live detectors in the store, not in memory (their backlog passed "
        "WATTWISE_DETECTOR_BACKLOG_MAX); part of the backlog"
    )
    yield GaugeMetricFamily("wattwise_detector_spilled_readings", spilled, value=progress.spilled)
    reread = "Readings the live detectors read back from the store because they were behind"
    yield CounterMetricFamily("wattwise_detector_readings_reread", reread, value=progress.reread)


def _exposition(services: Services, access: Access, process: _Process) -> bytes:
    with services.engine.connect() as conn:
        devices = list_devices(conn, access.site_ids())
        pending = any(rollups.pending(conn, d.id, 0, 2**62) for d in devices)
    if pending:
        services.writer.flush()
    with services.engine.connect() as conn:
        states = [(d, meter_state(conn, d.id)) for d in devices]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Meters(states))
    registry.register(process)
    return generate_latest(registry)


@router.get("/metrics", summary="Prometheus metrics of the meters you may see")
async def metrics(access: AccessDep, services: ServicesDep, request: Request) -> Response:
    """Scrape with ``authorization: {credentials: <personal API token>}`` in prometheus.yml."""
    state = request.app.state
    process = _Process(
        getattr(state, "consumers", None),
        getattr(state, "link", None),
        services.writer.retries,
        services.bus.subscribers(),
    )
    body = await run_in_threadpool(_exposition, services, access, process)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
