"""Read a JSON request body without trusting its size or its syntax."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import HTTPException, Request, status

from wattwise.domain.limits import MAX_BATCH


async def read_json(request: Request, max_bytes: int) -> Any:
    """The parsed body; 413 past ``max_bytes`` (checked while streaming), 400 for broken JSON."""
    return decode_json(await read_body(request, max_bytes))


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body; 413 past ``max_bytes``, checked while streaming (a declared size first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(body: bytes) -> Any:
    """The parsed body; 422 when empty, 400 for broken JSON."""
    if not body.strip():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="body: empty, send a reading")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"body: not valid JSON ({exc})") from exc


def readings_payload(payload: Any) -> list[Any]:
    """One reading or an array of at most ``MAX_BATCH``."""
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_BATCH:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"body: {len(items)} readings; send at most {MAX_BATCH} per request",
        )
    if not items:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="body: empty array")
    return items


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        detail=f"body: larger than {max_bytes} bytes; split the batch",
    )
