"""A printable bill as one self-contained HTML page (inline CSS, no external assets).

Print it to PDF from any browser; the page has print styles. The template lives here as a
string so it ships inside the package with no data-file configuration.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from jinja2 import Environment, StrictUndefined

from wattwise.analysis.billing.ledger import IssuedBill, Statement
from wattwise.analysis.billing.tariff import Tariff

SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£"}

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Bill {{ issued.number }}</title>
<style>
 body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111}
 body{margin:2rem auto;max-width:52rem;padding:0 1rem}
 h1{font-size:1.4rem;margin:0} .muted{color:#555} table{width:100%;border-collapse:collapse;margin:1rem 0}
 th,td{padding:.35rem .5rem;border-bottom:1px solid #ddd;text-align:left}
 td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
 tr.total td{font-weight:700;border-top:2px solid #111} .part{background:#f4f4f4;font-weight:600}
 .head{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}
 .box{border:1px solid #ccc;padding:.5rem .75rem}
 .rev{color:#a40} footer{font-size:12px;color:#555;margin-top:2rem}
 @media print{body{margin:0;max-width:none} .noprint{display:none}}
</style></head><body>
<div class="head">
 <div><h1>Electricity bill</h1>
  <div>{{ tariff.name }}</div>
  <div class="muted">Account {{ issued.account }} · Bill {{ issued.number }}</div>
  {% if issued.revision > 1 %}<div class="rev">Revision {{ issued.revision }}: {{ issued.reason }}</div>{% endif %}
 </div>
 <div class="box">
  <div>Cycle <b>{{ cycle_from }}</b> to <b>{{ cycle_to }}</b> ({{ bill.cycle.days }} days)</div>
  <div>Energy <b>{{ num(bill.kwh) }} kWh</b></div>
  <div>Issued {{ issued_on }}</div>
 </div>
</div>
<table>
 <thead><tr><th>Charge</th><th class="n">Quantity</th><th class="n">Rate</th><th class="n">Amount</th></tr></thead>
 <tbody>
 {% for part in parts %}
  {% if parts|length > 1 %}<tr class="part"><td colspan="4">{{ part.start }} to {{ part.last }}:
   tariff version from {{ part.effective_from }} · {{ num(part.kwh) }} kWh</td></tr>{% endif %}
  {% for line in part.lines %}
  <tr><td>{{ line.label }}</td>
   <td class="n">{% if line.quantity is not none %}{{ num(line.quantity) }} {{ line.quantity_unit }}{% endif %}</td>
   <td class="n">{% if line.rate is not none %}
    {%- if line.is_percent %}{{ num(line.rate) }} %{% else %}{{ price(line.rate) }}{% endif %}
    {%- endif %}</td>
   <td class="n">{{ money(line.amount) }}</td></tr>
  {% endfor %}
 {% endfor %}
 <tr class="total"><td colspan="3">Total for this cycle</td><td class="n">{{ money(bill.total) }}</td></tr>
 </tbody>
</table>
{% if statement %}
<h2>Payments and balance</h2>
<table>
 <thead><tr><th>Date</th><th>Method</th><th>Reference</th><th class="n">Amount</th></tr></thead>
 <tbody>
 {% for p in statement.payments %}
  <tr><td>{{ day(p.paid_at_ms) }}</td><td>{{ p.method }}</td><td>{{ p.reference }}</td>
   <td class="n">{{ money(p.amount) }}</td></tr>
 {% else %}<tr><td colspan="4" class="muted">No payments yet.</td></tr>{% endfor %}
 </tbody>
</table>
<table>
 <tr><td>This bill: paid</td><td class="n">{{ money(this.paid) }}</td></tr>
 <tr><td>This bill: due</td><td class="n">{{ money(this.due) }}</td></tr>
 <tr class="total"><td>Account balance (all bills less all payments)
  {%- if statement.balance < 0 %}, in credit{% endif %}</td>
  <td class="n">{{ money(statement.balance) }}</td></tr>
</table>
{% endif %}
<footer>Computed by Wattwise from the meter's own measurements; the utility's meter reading is what it bills.
 Tariff source: {{ tariff.source }}{% if tariff.source_date %} ({{ tariff.source_date }}){% endif %}.</footer>
</body></html>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_TEMPLATE = _ENV.from_string(TEMPLATE)


def render_bill_html(
    issued: IssuedBill, tariff: Tariff, statement: Statement | None = None, tz_name: str = "UTC"
) -> str:
    """The printable page of an issued bill, with payments and balance when a statement is given."""
    from zoneinfo import ZoneInfo

    bill = issued.bill
    zone = ZoneInfo(tz_name)
    symbol = SYMBOLS.get(bill.currency, bill.currency + " ")

    def num(x: Decimal) -> str:
        text = format(x.normalize(), "f")
        return text

    def price(x: Decimal) -> str:
        """A rate as tariffs print it: at least two decimals (4.70, 0.60729)."""
        text = num(x)
        decimals = len(text.partition(".")[2])
        return text if decimals >= 2 else f"{x:.2f}"

    def money(x: Decimal) -> str:
        sign = "−" if x < 0 else ""
        return f"{sign}{symbol}{abs(x):,.2f}"

    def day(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d")

    parts = [
        {
            "start": p.start,
            "last": p.end - timedelta(days=1),
            "effective_from": p.effective_from,
            "kwh": p.kwh,
            "lines": [ln for ln in bill.lines if ln.part == i],
        }
        for i, p in enumerate(bill.parts)
    ]
    this = None
    if statement is not None:
        this = next((b for b in statement.bills if b.issued.cycle == issued.cycle), None)
        if this is None:
            raise ValueError(f"bill {issued.number} is not on the statement of {statement.account}")
    return _TEMPLATE.render(
        issued=issued,
        bill=bill,
        tariff=tariff,
        parts=parts,
        statement=statement,
        this=this,
        cycle_from=bill.cycle.start,
        cycle_to=bill.cycle.end - timedelta(days=1),
        issued_on=datetime.fromtimestamp(issued.issued_at_ms / 1000, UTC).astimezone(zone).strftime("%Y-%m-%d"),
        num=num,
        money=money,
        price=price,
        day=day,
    )
