"""A site's energy and money, joining the store (what was measured, what was set) to the engine.

``wattwise.analysis`` holds the calendar and money rules as pure functions; ``wattwise.store``
holds the rows. These modules fetch the one, call the other, and are what the REST API,
the dashboard and the alert rules call: ``energy`` (periods and cycles for a meter or a
site), ``site`` (tariff, settings, budget, the current cycle), ``bills`` (close a cycle,
revisions, statement, printable bill) and ``payments`` (by hand or by a signed webhook).
"""
