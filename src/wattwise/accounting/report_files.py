"""A site report as JSON-ready dicts, as CSV (one row per meter) and as one printable HTML page.

The page is self-contained (inline CSS, no scripts, no external assets) like the printable
bill, so a browser's "Print to PDF" is the PDF. The figures are the ones in the JSON, rounded
only for reading.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined

from wattwise.accounting.report import MeterReport, Moment, SiteReport

KWH_DECIMALS = 6


def _plain(value: Any) -> Any:
    """Dates as ISO text, money as exact decimal text, kWh and % rounded to 6 decimals."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return round(value, KWH_DECIMALS)
    return value


def report_dict(report: SiteReport) -> dict[str, Any]:
    """The report's dataclasses as plain JSON values (``unit`` says what the numbers are in)."""
    return {"unit": "kWh", **_plain(asdict(report))}


CSV_COLUMNS = (
    "site",
    "period_start",
    "period_end",
    "meter_id",
    "meter",
    "role",
    "parent",
    "counted_in_site_total",
    "kwh",
    "share_pct",
    "peak_w",
    "peak_at",
    "voltage_min_v",
    "voltage_min_at",
    "voltage_max_v",
    "voltage_max_at",
    "readings",
    "longest_gap_s",
    "gap_exact",
    "gap_from",
    "gap_to",
    "findings",
    "top_appliances",
)


def _num(value: float | None, decimals: int = KWH_DECIMALS) -> str:
    return "" if value is None else str(round(value, decimals))


def _text(cell: str) -> str:
    """A name as a spreadsheet shows it, never runs it: one starting like a formula gets a quote."""
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def _value(moment: Moment | None) -> tuple[str, str]:
    return ("", "") if moment is None else (_num(moment.value), moment.local)


def _row(report: SiteReport, m: MeterReport) -> list[str]:
    return [
        _text(report.site_name),
        report.start.isoformat(),
        report.end.isoformat(),
        str(m.id),
        _text(m.name),
        m.role,
        _text(m.parent_name or ""),
        "yes" if m.counted else "no",
        _num(m.kwh),
        _num(m.share_pct, 2),
        *_value(m.peak_power),
        *_value(m.voltage_min),
        *_value(m.voltage_max),
        str(m.readings),
        _num(m.longest_silence.seconds, 3),
        "yes" if m.longest_silence.exact else "no",
        m.longest_silence.from_local,
        m.longest_silence.to_local,
        "; ".join(f"{kind}={n}" for kind, n in m.findings.items()),
        _text("; ".join(f"{a.name}: {a.runs} runs, {_num(a.kwh)} kWh" for a in m.appliances)),
    ]


def report_csv(report: SiteReport) -> str:
    """One row per meter; ``period_end`` is exclusive, as in the JSON. Names that start like a
    spreadsheet formula (``=``, ``+``, ``-``, ``@``) are written with a leading ``'``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_row(report, m) for m in report.meters)
    return out.getvalue()


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ r.site_name }} · {{ r.label }}</title>
<style>
 body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111}
 body{margin:2rem auto;max-width:64rem;padding:0 1rem}
 h1{font-size:1.4rem;margin:0} h2{font-size:1.1rem;margin:1.5rem 0 .25rem} .muted{color:#555}
 table{width:100%;border-collapse:collapse;margin:.5rem 0 1rem}
 th,td{padding:.3rem .45rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
 td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
 tr.total td{font-weight:700;border-top:2px solid #111}
 .head{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}
 .box{border:1px solid #ccc;padding:.5rem .75rem} .warn{color:#a40}
 footer{font-size:12px;color:#555;margin-top:2rem}
 @media print{body{margin:0;max-width:none;font-size:12px} h2{break-after:avoid} tr{break-inside:avoid}}
</style></head><body>
<div class="head">
 <div><h1>Site report: {{ r.site_name }}</h1>
  <div>{{ r.label }}</div>
  <div class="muted">{{ r.start }} to {{ last_day }} (local dates, {{ r.timezone }})</div>
 </div>
 <div class="box">
  <div>Site total <b>{{ kwh(r.total_kwh) }} kWh</b></div>
  <div>Previous {{ days }} days ({{ r.previous_start }} to {{ previous_last }}):
   {{ kwh(r.previous_total_kwh) }} kWh</div>
  <div>Change {% if r.change_pct is none %}—{% else %}{{ signed(r.change_pct) }} %{% endif %}</div>
 </div>
</div>

<h2>Meters</h2>
<table>
 <thead><tr><th>Meter</th><th>Role</th><th class="n">kWh</th><th class="n">Share</th><th>Peak power</th>
  <th>Voltage min / max</th><th class="n">Readings</th><th>Longest gap</th><th>Findings</th></tr></thead>
 <tbody>
 {% for m in r.meters %}
  <tr><td>{{ m.name }}</td>
   <td>{{ m.role }}{% if m.parent_name %} of {{ m.parent_name }}{% endif %}{% if not m.counted %}
    <span class="muted">(inside its main)</span>{% endif %}</td>
   <td class="n">{{ kwh(m.kwh) }}</td>
   <td class="n">{% if m.share_pct is not none %}{{ pct(m.share_pct) }} %{% endif %}</td>
   <td>{% if m.peak_power %}{{ watts(m.peak_power.value) }} W<br><span class="muted">{{ when(m.peak_power) }}</span>
    {% else %}—{% endif %}</td>
   <td>{% if m.voltage_min %}{{ volts(m.voltage_min.value) }} V <span class="muted">{{ when(m.voltage_min) }}</span><br>
    {{ volts(m.voltage_max.value) }} V <span class="muted">{{ when(m.voltage_max) }}</span>{% else %}—{% endif %}</td>
   <td class="n">{{ count(m.readings) }}</td>
   <td>{% if not m.longest_silence.exact %}at most {% endif %}{{ duration(m.longest_silence.seconds) }}<br>
    <span class="muted">{{ local(m.longest_silence.from_local) }}
    to {{ local(m.longest_silence.to_local) }}</span></td>
   <td>{% for kind, n in m.findings.items() %}{{ kind }}: {{ n }}{% if not loop.last %}<br>{% endif %}
    {% else %}<span class="muted">none</span>{% endfor %}</td></tr>
 {% endfor %}
 <tr class="total"><td colspan="2">Site total (main and standalone meters)</td>
  <td class="n">{{ kwh(r.total_kwh) }}</td><td colspan="6"></td></tr>
 </tbody>
</table>

{% if r.balances %}
<h2>Energy balance</h2>
<table>
 <thead><tr><th>Main meter</th><th class="n">Main kWh</th><th class="n">Sub-meters kWh</th>
  <th class="n">Unaccounted kWh</th><th class="n">% of main</th></tr></thead>
 <tbody>
 {% for b in r.balances %}
  <tr><td>{{ b.main_name }}</td><td class="n">{{ kwh(b.main_kwh) }}</td><td class="n">{{ kwh(b.subs_kwh) }}</td>
   <td class="n{% if b.unaccounted_kwh > 0 %} warn{% endif %}">{{ kwh(b.unaccounted_kwh) }}</td>
   <td class="n">{% if b.unaccounted_pct is not none %}{{ pct(b.unaccounted_pct) }} %{% else %}—{% endif %}</td></tr>
 {% endfor %}
 </tbody>
</table>
{% endif %}

{% if appliances %}
<h2>Top appliances</h2>
<table>
 <thead><tr><th>Meter</th><th>Appliance</th><th class="n">Runs</th><th class="n">kWh</th></tr></thead>
 <tbody>
 {% for m, a in appliances %}
  <tr><td>{{ m.name }}</td><td>{{ a.name }}</td><td class="n">{{ a.runs }}</td><td class="n">{{ kwh(a.kwh) }}</td></tr>
 {% endfor %}
 </tbody>
</table>
{% endif %}

<h2>Alerts</h2>
{% if r.alerts.total %}
<p>{{ r.alerts.total }} alert{{ "s" if r.alerts.total != 1 }} started in the period:
 {% for status, n in r.alerts.by_status.items() %}{{ n }} {{ status }}{% if not loop.last %}, {% endif %}
 {% endfor %}.</p>
<table>
 <thead><tr><th>Rule</th><th>Kind</th><th class="n">Alerts</th></tr></thead>
 <tbody>
 {% for rule in r.alerts.top_rules %}
  <tr><td>{{ rule.name }}</td><td>{{ rule.kind }}</td><td class="n">{{ rule.alerts }}</td></tr>
 {% endfor %}
 </tbody>
</table>
{% else %}<p class="muted">No alerts started in the period.</p>{% endif %}

<h2>Bills</h2>
{% if r.bills %}
<table>
 <thead><tr><th>Bill</th><th>Cycle</th><th class="n">kWh</th><th class="n">Amount</th><th class="n">Due</th>
  <th>Status</th></tr></thead>
 <tbody>
 {% for b in r.bills %}
  <tr><td>{{ b.number }}</td><td>{{ b.cycle_start }} to {{ b.cycle_end }}</td><td class="n">{{ b.kwh }}</td>
   <td class="n">{{ b.currency }} {{ b.total }}</td><td class="n">{{ b.currency }} {{ b.due }}</td>
   <td>{{ b.status.replace("_", " ") }}</td></tr>
 {% endfor %}
 </tbody>
</table>
<p class="muted">Bills are defined per billing cycle; these are the cycles that overlap the period (cycle end
 exclusive), not a cost of the period itself.</p>
{% elif r.has_tariff %}<p class="muted">No bill issued for a cycle overlapping the period.</p>
{% else %}<p class="muted">The site has no tariff, so nothing is priced.</p>{% endif %}

<footer>Computed by Wattwise on {{ generated }} from the meters' stored readings. A sub-meter's energy is part
 of its main meter's, so the site total counts main and standalone meters only.</footer>
</body></html>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_TEMPLATE = _ENV.from_string(TEMPLATE)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join(shown[:2]) or "0 s"


def _minute(local: str) -> str:
    """An ISO local time as people read it: 2026-10-03 14:05."""
    return local[:16].replace("T", " ")


def report_html(report: SiteReport) -> str:
    """The printable page of the report."""
    zone = ZoneInfo(report.timezone)
    days = (report.end - report.start).days
    return _TEMPLATE.render(
        r=report,
        days=days,
        last_day=report.end - timedelta(days=1),
        previous_last=report.start - timedelta(days=1),
        appliances=[(m, a) for m in report.meters for a in m.appliances],
        generated=datetime.fromtimestamp(report.generated_ms / 1000, zone).strftime("%Y-%m-%d %H:%M"),
        kwh=lambda x: f"{x:,.3f}",
        pct=lambda x: f"{x:.1f}",
        signed=lambda x: f"{x:+.1f}",
        watts=lambda x: f"{x:,.0f}",
        count=lambda x: f"{x:,}",
        volts=lambda x: f"{x:.1f}",
        when=lambda m: _minute(m.local),
        local=_minute,
        duration=_duration,
    )
