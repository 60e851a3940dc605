"""Alerts: rules on what the meters measure and the detectors find, their lifecycle and notices.

``attach(services)`` starts the engine on the bus and returns it (call it to detach); see
``wattwise.alerts.engine`` for how the work is split, ``alerts.rules`` for the rules and
``docs/alerts.md`` for what a user can set up.
"""

from wattwise.alerts.engine import Alerts, AlertSettings, attach

__all__ = ["AlertSettings", "Alerts", "attach"]
