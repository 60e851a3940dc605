"""Who may see and change a site's energy and money, and how the accounting errors answer over HTTP.

Anyone with a role on the site (and an administrator) reads; owners and members write;
a viewer who writes gets 403; a site the user may not see is 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from zoneinfo import ZoneInfo

from fastapi import HTTPException, status
from sqlalchemy import Connection

from wattwise.accounting.site import get_site
from wattwise.analysis.billing import TariffError
from wattwise.analysis.energy import DAY_MS, local_midnight_ms
from wattwise.api.errors import http_error
from wattwise.api.routes.series import parse_time
from wattwise.domain.timestamps import calendar_error
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.sites import Site
from wattwise.store.users import Access

WRITERS = ("owner", "member")


def site_for(conn: Connection, access: Access, site_id: int, *, write: bool = False) -> Site:
    """The site if the user may see it (and, with ``write``, change its billing)."""
    if not access.can_see(site_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no site with id {site_id}")
    try:
        site = get_site(conn, site_id)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    if write and not (access.user.is_admin or access.roles.get(site_id) in WRITERS):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="only the site's owners and members may change its billing"
        )
    return site


@contextmanager
def answering() -> Iterator[None]:
    """Turn the accounting layer's errors into 4xx answers that say what is wrong."""
    try:
        yield
    except TariffError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"message": f"{exc.source}: invalid tariff", "problems": exc.problems},
        ) from exc
    except (NotFound, Conflict, ValueError) as exc:
        raise http_error(exc) from exc


def instant(name: str, value: str | None, default: int, zone: ZoneInfo) -> int:
    """A query instant: a local date (its midnight in the site's zone), RFC 3339, or Unix s/ms."""
    if value is not None and len(value) == 10 and value[4] == "-":
        try:
            return local_midnight_ms(date.fromisoformat(value), zone)
        except ValueError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"{name}: {value!r} is not a date like 2025-01-31"
            ) from exc
    at = parse_time(name, value, default)
    if (error := calendar_error(name, at, spare_ms=DAY_MS)) is not None:  # its local day must be a date
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=error)
    return at
