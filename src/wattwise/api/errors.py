"""The store's errors as HTTP answers that say what is wrong: one mapping for every route."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from wattwise.store.errors import Conflict, NotFound


def http_error(exc: NotFound | Conflict | ValueError) -> HTTPException:
    """404 for what does not exist, 409 for a clash, 422 for a bad value."""
    if isinstance(exc, NotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc))
    if isinstance(exc, Conflict):
        return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc))


@contextmanager
def store_errors() -> Iterator[None]:
    try:
        yield
    except (NotFound, Conflict, ValueError) as exc:
        raise http_error(exc) from exc


#: the largest id (and count) an integer column holds on PostgreSQL
MAX_ID = 2**31 - 1
_OUT_OF_RANGE = "22003"  # SQLSTATE numeric_value_out_of_range


def _too_large(request: Request) -> str:
    """Name the path or query number past what the database stores, else say it plainly."""
    for name, value in [*request.path_params.items(), *request.query_params.items()]:
        text = str(value).strip()
        if text.lstrip("-").isdigit() and abs(int(text)) > MAX_ID:
            return f"{name}: {text} is past any id the database holds (at most {MAX_ID})"
    return f"a number in the request is past any id the database holds (at most {MAX_ID})"


def _nul_in(request: Request) -> str:
    """Name the path or query text holding a NUL character, else say it plainly."""
    for name, value in [*request.path_params.items(), *request.query_params.items()]:
        if "\x00" in str(value):
            return f"{name}: must not contain the NUL character (\\u0000)"
    return "the request's text must not contain the NUL character (\\u0000)"


def answer_unstorable(app: FastAPI) -> None:
    """A value the database cannot hold is a bad request, not a server error: a number too
    large for an integer column, on PostgreSQL (``integer out of range``) as on SQLite (which
    only refuses past 2**63), and text with a NUL character, which PostgreSQL cannot store
    (request bodies refuse it themselves, see ``BodyIn``; this covers paths and queries)."""

    async def refuse(request: Request, exc: Exception) -> JSONResponse:
        orig = getattr(exc, "orig", None)
        if isinstance(exc, DataError) and "NUL" in str(orig):
            return JSONResponse({"detail": _nul_in(request)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
        too_large = (
            getattr(orig, "sqlstate", None) == _OUT_OF_RANGE
            if isinstance(exc, DataError)
            else "SQLite INTEGER" in str(exc)
        )
        if not too_large:
            raise exc
        detail = _too_large(request)
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    app.add_exception_handler(DataError, refuse)
    app.add_exception_handler(OverflowError, refuse)


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and the infinities spelled as JavaScript spells them, which JSON can carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def answer_invalid_request(app: FastAPI) -> None:
    """FastAPI's own 422, except that it can be written: Python's JSON reader admits ``NaN`` and
    ``Infinity``, and the refusal quotes the input back, which JSON cannot carry (a bare 500)."""

    async def refuse(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = _json_safe(jsonable_encoder(exc.errors()))
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    app.add_exception_handler(RequestValidationError, refuse)


_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
UNKNOWN_API_PATH = "/api/{rest:path}"
#: read by ``api.deps`` from any request, where a header cannot be set: a meter's ``?key=``
#: (the seed firmware's), a person's ``?token=`` (a link, a Grafana data source)
CREDENTIALS = frozenset({"key", "token"})


def answer_unknown_api_path(app: FastAPI) -> None:
    """A path under ``/api/`` that no route takes is answered in JSON: 405 naming the methods
    the path does take, or 404. Added after every API route and before the dashboard, which
    answers every other path, and would answer these with its HTML "page not found"."""

    async def unknown(request: Request) -> JSONResponse:
        path = request.scope["path"]
        allowed = sorted(
            {
                method
                for route in app.router.routes
                if isinstance(route, APIRoute) and route.endpoint is not unknown and route.path_regex.match(path)
                for method in route.methods or ()
            }
        )
        where = f"{request.method} {path}"
        if allowed:
            return JSONResponse(
                {"detail": f"{where}: method not allowed; use {' or '.join(allowed)}"},
                status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
                headers={"Allow": ", ".join(allowed)},
            )
        return JSONResponse({"detail": f"{where}: no such API path (see /docs)"}, status_code=status.HTTP_404_NOT_FOUND)

    app.add_api_route(UNKNOWN_API_PATH, unknown, methods=_ANY_METHOD, include_in_schema=False)


class RefuseUnknownQuery:
    """ASGI middleware: a query parameter that an ``/api/`` route does not take is refused (422
    naming it and what the route takes) instead of being ignored: ``series?since=…`` (export's
    name; series takes ``start``) silently answered the last 24 hours.

    Only requests with a query string under ``/api/`` are looked at, so an upload pays nothing.
    """

    def __init__(self, app: ASGIApp, router: APIRouter) -> None:
        self.app = app
        self.router = router
        self._taken: dict[int, frozenset[str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string") and scope["path"].startswith("/api/"):
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        for route in self.router.routes:
            if not isinstance(route, APIRoute) or route.path == UNKNOWN_API_PATH:
                continue
            if route.matches(scope)[0] != Match.FULL:
                continue
            taken = self._taken.get(id(route))
            if taken is None:
                taken = frozenset(_query_names(route.dependant)) | CREDENTIALS
                self._taken[id(route)] = taken
            asked = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            unknown = sorted({name for name, _ in asked} - taken)
            if not unknown:
                return None
            declared = sorted(taken - CREDENTIALS)
            takes = f"it takes {', '.join(declared)}" if declared else "it takes none"
            msg = f"not a parameter of {route.path}; {takes}"
            detail = [{"loc": ["query", name], "msg": msg, "type": "unknown_parameter"} for name in unknown]
            return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
        return None


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route takes, its dependencies' (the caller's token …) included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
