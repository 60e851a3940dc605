"""Send readings to ``POST /api/v1/ingest`` in batches, retrying what may succeed later.

Answers and what this driver does with them:

- 200: counted (accepted, duplicates, each rejected reading with its reasons).
- 401: the key is wrong or revoked — stop with a message naming the meter.
- 413: the batch is too large for this server — halve it and remember the smaller size.
- 422: the server could use none of the readings — stop and show its reasons.
- 408, 429, 5xx and connection failures: retry with exponential back-off; after the last
  attempt raise DeliveryUnavailable so the caller can keep the readings for later.

Retrying a batch is safe: the server counts a reading it already has as a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from wattwise.devices.simulator.delivery import (
    DeliveryError,
    DeliveryUnavailable,
    MeterIdentity,
    Row,
    SendResult,
)

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
MAX_BATCH = 10_000
_RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


def _reasons(body: Any, limit: int = 3) -> list[str]:
    """The server's reasons for rejecting readings, as short strings."""
    if not isinstance(body, dict):
        return [str(body)[:200]]
    found: list[str] = []
    for item in body.get("rejected") or []:
        errors = "; ".join(item.get("errors", [])) if isinstance(item, dict) else str(item)
        index = item.get("index") if isinstance(item, dict) else None
        found.append(f"reading {index}: {errors}" if index is not None else errors)
    detail = body.get("detail")
    if detail is not None:
        found.append(str(detail))
    return found[:limit] if limit else found


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


class HttpSender:
    """Posts readings of each meter with its own device key."""

    def __init__(
        self,
        server: str,
        *,
        client: httpx.AsyncClient | None = None,
        max_batch: int = MAX_BATCH,
        attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 15.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"batch size must be 1 to {MAX_BATCH}, got {max_batch}")
        self.url = server.rstrip("/") + INGEST_PATH
        self._client = client or httpx.AsyncClient(timeout=30.0)
        self._own_client = client is None
        self.max_batch = max_batch
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep

    async def send(self, meter: MeterIdentity, rows: list[Row]) -> SendResult:
        """Post ``rows`` in batches of at most ``max_batch``; see the module doc for errors."""
        if meter.key is None:
            raise DeliveryError(
                f"meter {meter.label} has no device key: pass --key or --keys-file (`wattwise device add` prints one)"
            )
        total = SendResult()
        position = 0
        while position < len(rows):
            size = self.max_batch
            total.add(await self._post(meter, rows[position : position + size]))
            position += size
        return total

    async def _post(self, meter: MeterIdentity, batch: list[Row]) -> SendResult:
        response = await self._post_with_retries(meter, batch)
        status = response.status_code
        if status == 200:
            body = _json(response)
            rejected = _reasons(body, limit=0)
            if rejected:
                log.warning("meter %s: server rejected %d reading(s), e.g. %s", meter.label, len(rejected), rejected[0])
            return SendResult(
                sent=len(batch),
                accepted=int(body.get("accepted", 0)),
                duplicates=int(body.get("duplicates", 0)),
                rejected=rejected,
            )
        if status == 401:
            raise DeliveryError(
                f"{self.url} refused the key of meter {meter.label} (401 Unauthorized): "
                "the key is unknown or revoked; check --key/--keys-file"
            )
        if status == 413:
            if len(batch) == 1:
                raise DeliveryError(f"{self.url} refuses even one reading as too large (413)")
            half = len(batch) // 2
            self.max_batch = min(self.max_batch, half)
            log.warning(
                "meter %s: batch of %d too large for the server (413), sending %d at a time",
                meter.label,
                len(batch),
                half,
            )
            result = await self._post(meter, batch[:half])
            result.add(await self._post(meter, batch[half:]))
            return result
        if status == 422:
            reasons = "; ".join(_reasons(_json(response))) or response.text[:300]
            raise DeliveryError(
                f"{self.url} could use none of the {len(batch)} reading(s) of meter {meter.label} (422): {reasons}"
            )
        raise DeliveryError(f"{self.url} answered {status} for meter {meter.label}: {response.text[:300]}")

    async def _post_with_retries(self, meter: MeterIdentity, batch: list[Row]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {meter.key}"}
        delay = self._backoff_s
        problem = ""
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(self.url, json=batch, headers=headers)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code not in _RETRYABLE:
                    return response
                problem = f"{response.status_code} {response.reason_phrase}"
                delay = max(delay, _retry_after(response))
            if attempt < self._attempts:
                log.info(
                    "meter %s: %s; retrying in %.1f s (attempt %d of %d)",
                    meter.label,
                    problem,
                    delay,
                    attempt + 1,
                    self._attempts,
                )
                await self._sleep(delay)
                delay = min(delay * 2.0, self._max_backoff_s)
        raise DeliveryUnavailable(
            f"{self.url} unavailable for meter {meter.label} after {self._attempts} attempts: {problem}"
        )

    async def aclose(self) -> None:
        """Close the connection pool if this sender made it."""
        if self._own_client:
            await self._client.aclose()


def _retry_after(response: httpx.Response) -> float:
    """Seconds the server asked us to wait (Retry-After in seconds), else 0."""
    try:
        return min(float(response.headers.get("Retry-After", "0")), 60.0)
    except ValueError:
        return 0.0
