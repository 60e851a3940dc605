"""Meters and their keys. A key is shown once, at creation or rotation; only hashes are kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from wattwise.store.clock import now_ms
from wattwise.store.errors import Conflict, NotFound
from wattwise.store.schema import devices, sites
from wattwise.store.secrets import mosquitto_hash, new_secret, sha256_hex

ROLES = ("meter", "main", "sub")


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    site_id: int
    site_name: str
    name: str
    role: str
    parent_id: int | None
    key_prefix: str | None  # None once the key is revoked
    last_seen_ms: int | None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A device together with its key in clear: the only moment the key is known."""

    device: Device
    key: str


def _key_columns(key: str) -> dict[str, Any]:
    return {"key_hash": sha256_hex(key), "mqtt_hash": mosquitto_hash(key), "key_prefix": key[:8]}


_COLUMNS = (
    devices.c.id,
    devices.c.site_id,
    sites.c.name.label("site_name"),
    devices.c.name,
    devices.c.role,
    devices.c.parent_id,
    devices.c.key_prefix,
    devices.c.last_seen_ms,
)


def _select() -> Any:
    return select(*_COLUMNS).join(sites, sites.c.id == devices.c.site_id)


def _device(row: Any) -> Device:
    return Device(**row._mapping)


def create_device(conn: Connection, *, site_id: int, name: str) -> IssuedKey:
    if not name.strip():
        raise ValueError("meter name: must not be empty")
    # asked first: the foreign key's refusal would otherwise read as a name clash below
    if conn.execute(select(sites.c.id).where(sites.c.id == site_id)).first() is None:
        raise NotFound(f"no site with id {site_id}")
    key = new_secret("wwd")
    try:
        result = conn.execute(
            insert(devices).values(site_id=site_id, name=name, created_ms=now_ms(), **_key_columns(key))
        )
    except IntegrityError as exc:
        raise Conflict(f"the site already has a meter named {name!r}") from exc
    assert result.inserted_primary_key is not None
    return IssuedKey(device=get_device(conn, int(result.inserted_primary_key[0])), key=key)


def get_device(conn: Connection, device_id: int) -> Device:
    row = conn.execute(_select().where(devices.c.id == device_id)).first()
    if row is None:
        raise NotFound(f"no meter with id {device_id}")
    return _device(row)


def list_devices(conn: Connection, site_ids: frozenset[int] | None = None) -> list[Device]:
    """Every meter, or those of the given sites, in a stable order."""
    query = _select().order_by(sites.c.name, devices.c.name)
    if site_ids is not None:
        query = query.where(devices.c.site_id.in_(site_ids))
    return [_device(row) for row in conn.execute(query)]


def first_added_ms(conn: Connection, site_id: int) -> int | None:
    """When the site's first meter was added (UTC ms); None while it has none."""
    found = conn.execute(select(func.min(devices.c.created_ms)).where(devices.c.site_id == site_id)).scalar()
    return None if found is None else int(found)


def rotate_key(conn: Connection, device_id: int) -> IssuedKey:
    """Give the meter a new key; the old one stops working at once."""
    get_device(conn, device_id)
    key = new_secret("wwd")
    conn.execute(update(devices).where(devices.c.id == device_id).values(**_key_columns(key)))
    return IssuedKey(device=get_device(conn, device_id), key=key)


def revoke_key(conn: Connection, device_id: int) -> Device:
    """Refuse the meter's uploads until a new key is issued; its history stays."""
    get_device(conn, device_id)
    conn.execute(
        update(devices).where(devices.c.id == device_id).values(key_hash=None, mqtt_hash=None, key_prefix=None)
    )
    return get_device(conn, device_id)


def set_role(conn: Connection, device_id: int, *, role: str, parent_id: int | None = None) -> Device:
    """Mark a meter as its site's main meter or as a sub-meter of another (for energy balance)."""
    if role not in ROLES:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    device = get_device(conn, device_id)
    if role == "sub":
        if parent_id is None:
            raise ValueError("parent: a sub-meter needs the meter it hangs under")
        parent = get_device(conn, parent_id)
        if parent.site_id != device.site_id or parent.id == device.id:
            raise ValueError("parent: must be another meter of the same site")
    else:
        parent_id = None
    conn.execute(update(devices).where(devices.c.id == device_id).values(role=role, parent_id=parent_id))
    return get_device(conn, device_id)


def device_id_for_key(conn: Connection, key: str) -> int | None:
    """The meter a key belongs to, or None for an unknown or revoked key."""
    return conn.execute(select(devices.c.id).where(devices.c.key_hash == sha256_hex(key))).scalar_one_or_none()


def mosquitto_credentials(conn: Connection) -> list[tuple[int, str]]:
    """(device id, broker password hash) of every meter with a live key."""
    rows = conn.execute(
        select(devices.c.id, devices.c.mqtt_hash).where(devices.c.mqtt_hash.is_not(None)).order_by(devices.c.id)
    )
    return [(int(r.id), str(r.mqtt_hash)) for r in rows]


_TOUCH = text("UPDATE devices SET last_seen_ms = :t WHERE id = :d AND (last_seen_ms IS NULL OR last_seen_ms < :t)")


def touch_last_seen(conn: Connection, device_id: int, ts_ms: int) -> None:
    conn.execute(_TOUCH, {"d": device_id, "t": ts_ms})
