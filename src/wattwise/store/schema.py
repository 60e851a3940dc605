"""The one schema, for SQLite and PostgreSQL alike (SQLAlchemy Core).

Times are UTC epoch milliseconds (BIGINT). Readings are keyed by (device_id, ts), which is
what makes a retried upload a duplicate rather than a second row. Each reading keeps ``wh``,
the energy since the meter's previous reading (see ``wattwise.domain.energy``), so energy over
any range is a plain sum at every tier.

Rollup tiers hold, per metric, count / sum / min / max, so a coarser bucket is computed
exactly from finer ones and a series answers identically from any tier.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from wattwise.domain.readings import METRICS

metadata = MetaData()

sites = Table(
    "sites",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("currency", String(8), nullable=False, server_default="INR"),
    Column("created_ms", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    # SHA-256 of the device key; NULL once revoked. The key itself is never stored.
    Column("key_hash", String(64), unique=True),
    # The same key hashed the way Mosquitto's password file wants it ($7$ PBKDF2-SHA512).
    Column("mqtt_hash", String(200)),
    Column("key_prefix", String(12)),
    Column("role", String(16), nullable=False, server_default="meter"),  # meter | main | sub
    Column("parent_id", Integer, ForeignKey("devices.id")),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger),
    UniqueConstraint("site_id", "name", name="uq_devices_site_name"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default="0"),
    Column("created_ms", BigInteger, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), primary_key=True),
    Column("role", String(16), nullable=False),  # owner | member | viewer
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_used_ms", BigInteger),
)

readings = Table(
    "readings",
    metadata,
    Column("device_id", Integer, primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    *(Column(m, Float) for m in METRICS),
    Column("wh", Float, nullable=False, server_default="0"),
)


def _rollup_table(name: str) -> Table:
    stats = [
        Column(f"{m}_{stat}", Float if stat != "n" else Integer) for m in METRICS for stat in ("n", "sum", "min", "max")
    ]
    return Table(
        name,
        metadata,
        Column("device_id", Integer, primary_key=True),
        Column("ts", BigInteger, primary_key=True),
        Column("n", Integer, nullable=False),
        *stats,
        Column("wh", Float, nullable=False),
    )


rollup_1m = _rollup_table("rollup_1m")

# Minutes whose rollups are behind their readings: written in the readings' own transaction,
# cleared by the writer's refresh, so a crash between the two loses nothing.
rollup_dirty = Table(
    "rollup_dirty",
    metadata,
    Column("device_id", Integer, primary_key=True),
    Column("ts", BigInteger, primary_key=True),
)
rollup_1h = _rollup_table("rollup_1h")
rollup_1d = _rollup_table("rollup_1d")

# Orders for a meter (relay off/on, reset the energy counter), carried out once by the device,
# which reports the result against the command's id.
commands = Table(
    "commands",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # pending | done | failed
    Column("requested_by", String(100), nullable=False),  # a user name, or "rule:<id>"
    Column("created_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger),
    Column("done_ms", BigInteger),
    Column("relay", String(8)),  # the relay state the device reported: on | off
    Column("detail", String(500)),
)

# OTA manifests a site's meters should follow; the newest row is the current one.
firmware_manifests = Table(
    "firmware_manifests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", String(40), nullable=False),
    Column("url", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# The settings the leading process runs its detectors with, one row per environment variable
# (``store/lead.py``): recorded when it takes the lead, so every other process can tell
# whether its own detectors would run alike (docs/scale.md).
lead_settings = Table(
    "lead_settings",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("process", String(200), nullable=False),  # host and pid of the process that recorded it
    Column("recorded_ms", BigInteger, nullable=False),
)

# What kind of smart plug a meter is (``store/plugs.py``), learnt from the first plug message
# stored for it, so that commands go out in the plug's own language from every process.
plug_kinds = Table(
    "plug_kinds",
    metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("kind", String(16), nullable=False),  # tasmota | shelly | esphome
    Column("switch", String(100)),  # ESPHome: the switch's object_id, once it has published its state
)

#: What a Shelly or ESPHome plug's next message is read against (Shelly's last full status,
#: ESPHome's latest value of each sensor), as JSON: in the store, so that every server process
#: taking the plug's messages off the shared subscription reads the same (``ingest/plugs.py``).
plug_held = Table(
    "plug_held",
    metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("data", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

Index("ix_devices_last_seen", devices.c.last_seen_ms)
