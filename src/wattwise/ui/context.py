"""What every page needs: the running services, and who is signed in (from the session cookie).

NiceGUI is one app per process, mounted into the FastAPI app that ``mount_ui`` was given
last; pages reach that app's services through here instead of building their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from nicegui import Client, ui

from wattwise.api.deps import SESSION_COOKIE, access_for_token
from wattwise.runtime import Services
from wattwise.store.users import Access


class _Mounted:
    app: FastAPI | None = None


def bind(app: FastAPI) -> None:
    """Serve pages from ``app``'s services (set by its lifespan as ``app.state.services``)."""
    _Mounted.app = app


def mounted_app() -> FastAPI:
    """The FastAPI app the dashboard serves (its ``state`` holds what its lifespan started)."""
    if _Mounted.app is None:
        raise RuntimeError("the dashboard is used before mount_ui bound it to an app")
    return _Mounted.app


def services() -> Services:
    app = _Mounted.app
    found = getattr(app.state, "services", None) if app is not None else None
    if not isinstance(found, Services):
        raise RuntimeError("the dashboard is used before its app started (no app.state.services)")
    return found


def signed_in(request: Request) -> Access | None:
    """The visitor's access, from the same session token the REST API and WebSocket accept."""
    return access_for_token(services(), request.cookies.get(SESSION_COOKIE))


def to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def role_on(access: Access, site_id: int) -> str:
    """How the user relates to a site, in words: "administrator", "owner", "member" or "viewer"."""
    return "administrator" if access.user.is_admin else access.roles.get(site_id, "")


@dataclass(eq=False)
class SignedIn:
    """A page's state for one signed-in user: the services, and what the user may see."""

    services: Services
    access: Access
    client: Client = field(default_factory=lambda: ui.context.client)  # the tab it was built for

    def server_url(self) -> str:
        """This server's address for the commands a page shows to copy (a ``curl`` line, the
        live feed's URL): the configured public address, else the one this tab was opened at."""
        if self.services.settings.public_url:
            return self.services.settings.public_url
        request = self.client.request
        return str(request.base_url).rstrip("/") if request is not None else "http://THIS-SERVER"
