"""Tables of the alerts: rules, the channels they notify, the alerts raised and each delivery.

On the same ``metadata`` as ``schema.py`` (migration 0007). Times are UTC epoch
milliseconds; ``params``, ``channel_ids`` and ``config`` are small JSON documents kept as
text, so SQLite and PostgreSQL store them alike.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from wattwise.store.schema import metadata

# Where a site's alerts are sent: kind is a channel of ``alerts.notify`` (email, webhook,
# ntfy, telegram, whatsapp); config its settings, secrets included (never shown in full).
alert_channels = Table(
    "alert_channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("config", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
Index("ix_alert_channels_site", alert_channels.c.site_id)

# What to watch: on one meter (device_id) or every meter of the site (device_id null; a
# budget rule is always the site's). kind: threshold | offline | budget | finding | appliance,
# params its settings (``alerts.rules.parse_params``).
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id")),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("params", Text, nullable=False),
    Column("channel_ids", Text, nullable=False),  # JSON list of alert_channels ids
    Column("cooldown_s", Integer, nullable=False),
    Column("relay_off", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
Index("ix_alert_rules_site", alert_rules.c.site_id)

# One alert: a rule that fired on a meter (or a site). status: open | acknowledged |
# confirmed | ignored | resolved. ``quiet`` says why nobody was notified (cooldown, a
# pattern a person ignored); ``rule_id`` becomes null when the rule is deleted.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rule_id", Integer, ForeignKey("alert_rules.id")),
    Column("site_id", Integer, ForeignKey("sites.id"), nullable=False),
    Column("device_id", Integer, ForeignKey("devices.id")),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_ts", BigInteger, nullable=False),
    Column("ended_ts", BigInteger),
    Column("value", Float),
    Column("message", String(500), nullable=False),
    Column("finding_id", Integer, ForeignKey("findings.id")),
    Column("command_id", Integer, ForeignKey("commands.id")),
    Column("repeat_count", Integer, nullable=False),
    Column("quiet", String(32)),
    Column("last_notified_ms", BigInteger),
    Column("acknowledged_by", String(100)),
    Column("acknowledged_ms", BigInteger),
    Column("confirmed_by", String(100)),
    Column("confirmed_ms", BigInteger),
    Column("ignored_by", String(100)),
    Column("ignored_ms", BigInteger),
    Column("resolved_by", String(100)),  # "rule" when its clear condition held
    Column("resolved_ms", BigInteger),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
Index("ix_alerts_rule_device_status", alerts.c.rule_id, alerts.c.device_id, alerts.c.status)
Index("ix_alerts_site_started", alerts.c.site_id, alerts.c.started_ts)
Index("ix_alerts_finding", alerts.c.finding_id)

# Each attempt to send an alert (or a channel's test notice: alert_id null) through a channel.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id")),
    Column("channel_id", Integer, nullable=False),  # no foreign key: kept when the channel goes
    Column("ok", Boolean, nullable=False),
    Column("error", String(500)),
    Column("ts", BigInteger, nullable=False),
)
Index("ix_alert_deliveries_alert", alert_deliveries.c.alert_id)
Index("ix_alert_deliveries_channel", alert_deliveries.c.channel_id, alert_deliveries.c.ts)
