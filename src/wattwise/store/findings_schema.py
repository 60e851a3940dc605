"""Tables of what the detectors find: appliance events and runs, findings and fitted models.

They sit on the same ``metadata`` as ``schema.py`` so one migration history covers them.
Times are UTC epoch milliseconds. ``detail`` columns hold small JSON documents (the
numbers behind a finding, the features a verdict teaches) as text, so SQLite and
PostgreSQL store them alike.
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
    LargeBinary,
    String,
    Table,
    Text,
    true,
)

from wattwise.store.schema import metadata

# One ON or OFF step found in a meter's power (NILM). ``source`` is "detector" while the
# label is the classifier's, "user" once a person labelled it (the detector then leaves it).
appliance_events = Table(
    "appliance_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("delta_p", Float, nullable=False),
    Column("delta_q", Float),
    Column("peak_w", Float, nullable=False),
    Column("settle_ms", BigInteger, nullable=False),
    Column("level_before", Float, nullable=False),
    Column("level_after", Float, nullable=False),
    Column("label", String(100), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("source", String(16), nullable=False),  # detector | user
    Column("features", Text),  # JSON of the features taught to the library with a user label
    Column("created_ms", BigInteger, nullable=False),
)
Index("ix_appliance_events_device_ts", appliance_events.c.device_id, appliance_events.c.ts)

# An appliance switching on and off again: a pair of events (the OFF may be estimated).
# ``final`` false: a run as it stands now (a fridge's rhythm chain decides its runs hours
# late); the meter's provisional rows are replaced as a whole at each update.
appliance_runs = Table(
    "appliance_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("start_ts", BigInteger, nullable=False),
    Column("end_ts", BigInteger, nullable=False),
    Column("power_w", Float, nullable=False),
    Column("label", String(100), nullable=False),
    Column("on_event_id", Integer, ForeignKey("appliance_events.id"), nullable=False),
    Column("off_event_id", Integer, ForeignKey("appliance_events.id")),
    Column("created_ms", BigInteger, nullable=False),
    Column("final", Boolean, nullable=False, server_default=true()),
)
Index("ix_appliance_runs_device_start", appliance_runs.c.device_id, appliance_runs.c.start_ts)

# Something a detector wants a person (or an alert rule) to know about one meter.
# kind: anomaly | sag | swell | interruption | under_frequency | over_frequency |
#       grid_surge | grid_dip | balance_loss | theft
# status: open (raised), ignored (by a person, or automatically because a person ignored the
# same pattern: then ``suppressed_by`` names that finding), confirmed (a person said Raise).
findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("device_id", Integer, ForeignKey("devices.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("start_ts", BigInteger, nullable=False),
    Column("end_ts", BigInteger, nullable=False),
    Column("score", Float, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("detail", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("suppressed_by", Integer, ForeignKey("findings.id")),
    Column("verdict", String(8)),  # ignore | raise, a person's feedback
    Column("verdict_by", String(100)),
    Column("verdict_ms", BigInteger),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
Index("ix_findings_device_start", findings.c.device_id, findings.c.start_ts)
Index("ix_findings_kind_status", findings.c.kind, findings.c.status)

# A fitted model (or a detector's learned state) of one meter, by kind: nilm (JSON),
# anomaly, theft (pickles this installation wrote), balance (JSON).
detector_models = Table(
    "detector_models",
    metadata,
    Column("device_id", Integer, ForeignKey("devices.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("trained_until", BigInteger),
    Column("rows", Integer),
    Column("updated_ms", BigInteger, nullable=False),
)
