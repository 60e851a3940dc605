"""The Alerts page and its Rules & channels page through NiceGUI's simulated user: alerts in
plain words and acted on in one click, a channel added and tested against a real local
receiver, a rule added, switched off and refused when its settings are wrong, and who may do
what."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User
from playwright.sync_api import Browser, expect

from support import QuietHandler, World, http_server
from ui.browser_support import Installation, serve_seeded
from ui.test_browser import PHONE, signed_in
from ui.test_energy_pages import screenshots
from wattwise.alerts import channels
from wattwise.alerts import edits as alert_edits
from wattwise.runtime import Services
from wattwise.store import alerts as alert_store
from wattwise.store import findings as finding_store
from wattwise.store.clock import now_ms
from wattwise.store.devices import create_device, set_role
from wattwise.store.findings import NewFinding
from wattwise.store.users import create_user, grant

SignIn = Callable[[str], None]
HOUR = 3_600_000


PARAMS = {
    "threshold": {"quantity": "power", "direction": "above", "trigger": 2000},
    "budget": {"used_pct": 80},
    "finding": {"kinds": ["anomaly"]},
}


def raise_alert(
    world: World, site_id: int, device_id: int | None, message: str, rule_id: int | None = None, **extra: Any
) -> int:
    """An alert as the engine stores it for a rule of the site (a new rule of its kind unless given)."""
    kind = extra.pop("kind", "threshold")
    with world.services.engine.begin() as conn:
        if rule_id is None:
            fields = alert_store.RuleFields(
                site_id=site_id, device_id=device_id, name="Heater left on", kind=kind, params=PARAMS[kind]
            )
            rule_id = alert_store.add_rule(conn, fields, by="admin").id
        alert = alert_store.add_alert(
            conn,
            alert_store.NewAlert(
                rule_id=rule_id,
                site_id=site_id,
                device_id=device_id,
                kind=kind,
                started_ts=now_ms() - HOUR,
                value=2500.0,
                message=message,
                **extra,
            ),
        )
    return alert.id


def set_value(user: User, marker: str, value: Any) -> None:
    """What choosing in a select or typing a number does: the element takes the value."""
    (element,) = user.find(marker=marker).elements
    element.value = value  # type: ignore[attr-defined]


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(QuietHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.body()))
            self.send_response(204)
            self.end_headers()

    with http_server(Hook) as base:
        yield f"{base}/hook", received


async def test_no_alerts_says_what_raises_them(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("admin")
    await user.open("/alerts")
    await user.should_see("Nothing needs you now.")
    await user.should_see("Rules & channels")


async def test_an_alert_says_notice_sent_only_when_a_channel_took_it(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """The outbox marks every alert it handled, also one whose rule tells no channel, and one
    whose channels all refused: neither was "notice sent"."""
    with dashboard.services.engine.begin() as conn:
        phone = channels.validate_config("whatsapp", {"phone": "+919876543210", "apikey": "123456"})
        channel = alert_store.add_channel(conn, dashboard.site_a, "Warden's phone", "whatsapp", phone).id
    told = {}
    for name, results in (("nobody", []), ("refused", [False]), ("through", [True]), ("half", [True, False])):
        told[name] = raise_alert(dashboard, dashboard.site_a, dashboard.meter_a, f"Alert for {name}")
        with dashboard.services.engine.begin() as conn:
            for ok in results:
                alert_store.add_delivery(conn, told[name], channel, ok, None if ok else "HTTP 500")
            alert_store.mark_notified(conn, told[name], now_ms())
    sign_in("admin")
    await user.open("/alerts")
    for name, words in (
        ("nobody", "dashboard only"),
        ("refused", "notice not delivered: Test its channel under Rules & channels"),
        ("through", "notice sent"),
        ("half", "notice sent on 1 of 2 channels"),
    ):
        await user.should_see(f"Alert for {name}")
        (card,) = (c for c in user.find(ui.card).elements if c.props.get("data-alert") == str(told[name]))
        (line,) = (e.text for e in card.descendants() if isinstance(e, ui.label) and "Home A › main" in e.text)
        assert line.endswith(f"· {words}"), (name, line)


async def test_an_alert_is_acknowledged_then_resolved_and_leaves_the_active_list(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    message = "main (Home A): Power above 2000 W for 30 s (2500 W now)"
    alert = raise_alert(dashboard, dashboard.site_a, dashboard.meter_a, message)
    sign_in("admin")
    await user.open("/alerts")
    await user.should_see(message)
    await user.should_see("Open")
    user.find(marker=f"acknowledge-{alert}").click()
    await user.should_see("acknowledged by admin")
    user.find(marker=f"resolve-{alert}").click()
    await user.should_see("Nothing needs you now.")
    await user.open("/alerts?view=resolved")
    await user.should_see(message)
    await user.should_see("resolved by admin")
    with dashboard.services.engine.connect() as conn:
        assert alert_store.get_alert(conn, alert).status == "resolved"


async def test_ignoring_an_alert_from_a_finding_teaches_the_detectors(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    with dashboard.services.engine.begin() as conn:
        finding = finding_store.add_finding(
            conn,
            NewFinding(
                dashboard.meter_a, "anomaly", now_ms() - HOUR, now_ms(), 0.9, "2.4 kW at 03:00", {"level": 2400}
            ),
        )
    alert = raise_alert(
        dashboard,
        dashboard.site_a,
        dashboard.meter_a,
        "Anomaly: 2.4 kW at 03:00",
        kind="finding",
        finding_id=finding.id,
    )
    sign_in("admin")
    await user.open("/alerts")
    user.find(marker=f"ignore-{alert}").click()
    await user.should_see("Nothing needs you now.")
    with dashboard.services.engine.connect() as conn:
        assert finding_store.get_finding(conn, finding.id).verdict == "ignore"
        assert alert_store.get_alert(conn, alert).status == "ignored"


async def test_a_notices_link_opens_its_alert_even_once_it_is_over(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """The link a notice carries (``/alerts?alert=N``) shows that alert alone, settled or not;
    one of a site the reader cannot see is not shown."""
    over = raise_alert(dashboard, dashboard.site_a, dashboard.meter_a, "Power above 2000 W on A")
    with dashboard.services.engine.begin() as conn:
        alert_store.take_action(conn, over, "resolve", by="admin")
    raise_alert(dashboard, dashboard.site_a, dashboard.meter_a, "Voltage below 200 V on A")
    elsewhere = raise_alert(dashboard, dashboard.site_b, dashboard.meter_b, "Power above 2000 W on B")
    sign_in("viewer")
    await user.open(f"/alerts?alert={over}")
    await user.should_see("Power above 2000 W on A")
    await user.should_see("Resolved")
    await user.should_not_see("Voltage below 200 V on A")
    await user.open(f"/alerts?alert={elsewhere}")
    await user.should_see(f"No alert {elsewhere} to show.")
    await user.should_not_see("Power above 2000 W on B")
    user.find(marker="all-alerts").click()
    await user.should_see("Voltage below 200 V on A")


async def test_a_viewer_sees_their_sites_alerts_and_cannot_act(user: User, dashboard: World, sign_in: SignIn) -> None:
    mine = raise_alert(dashboard, dashboard.site_a, dashboard.meter_a, "Power above 2000 W on A")
    raise_alert(dashboard, dashboard.site_b, dashboard.meter_b, "Power above 2000 W on B")
    sign_in("viewer")
    await user.open("/alerts")
    await user.should_see("Power above 2000 W on A")
    await user.should_not_see("Power above 2000 W on B")
    await user.should_not_see(marker=f"acknowledge-{mine}")
    await user.open("/alerts/settings")
    await user.should_see("Only the site's owners change its rules.")
    await user.should_not_see(marker="save-rule")


async def test_a_new_alert_appears_without_a_reload(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("admin")
    await user.open("/alerts")
    await user.should_see("Nothing needs you now.")
    alert = raise_alert(dashboard, dashboard.site_a, None, "Budget 86 % used (8.6 of 10 kWh)", kind="budget")
    with dashboard.services.engine.connect() as conn:
        dashboard.services.bus.publish("alerts", [alert_store.get_alert(conn, alert).to_dict()])
    await user.should_see("Budget 86 % used (8.6 of 10 kWh)", retries=30)


async def test_an_open_alerts_page_sees_an_alert_resolved_by_switching_its_rule_off(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """Someone switches the rule off elsewhere (another tab, REST): the page that shows its
    alert redraws without a reload."""
    alert = raise_alert(dashboard, dashboard.site_a, dashboard.meter_a, "Power above 2000 W on A")
    sign_in("viewer")
    await user.open("/alerts")
    await user.should_see("Power above 2000 W on A")
    with dashboard.services.engine.connect() as conn:
        rule = alert_store.get_rule(conn, alert_store.get_alert(conn, alert).rule_id or 0)
    fields = {k: getattr(rule, k) for k in alert_store.RuleFields.__dataclass_fields__ if k != "enabled"}
    off = alert_store.RuleFields(**fields, enabled=False)
    await alert_edits.save_rule(dashboard.services, off, by="admin", rule_id=rule.id)
    await user.should_see("Nothing needs you now.", retries=30)
    with dashboard.services.engine.connect() as conn:
        assert alert_store.get_alert(conn, alert).resolved_by == "rule disabled"


async def test_an_owner_adds_a_channel_tests_it_and_adds_a_rule_that_tells_it(
    user: User, dashboard: World, sign_in: SignIn, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    hook_url, received = receiver
    sign_in("admin")
    await user.open(f"/alerts/settings?site={dashboard.site_a}")
    await user.should_see("No channels yet.")

    user.find(marker="channel-name").type("Warden's hook")
    set_value(user, "channel-kind", "webhook")
    user.find(marker="channel-url").type(hook_url)
    user.find(marker="save-channel").click()
    await user.should_see("Channel Warden's hook added: send it a test")
    with dashboard.services.engine.connect() as conn:
        (channel,) = alert_store.list_channels(conn, frozenset({dashboard.site_a}))
    user.find(marker=f"test-{channel.id}").click()
    await user.should_see("Test notice sent through Warden's hook", retries=50)
    assert [n["title"] for n in received] == ["Wattwise: test notice"]

    user.find(marker="rule-name").type("Heater left on")
    set_value(user, "rule-meter", dashboard.meter_a)
    set_value(user, "rule-trigger", 2000)
    set_value(user, "rule-clear", 1800)
    set_value(user, "rule-for_s", 30)
    set_value(user, "rule-channels", [channel.id])
    user.find(marker="rule-relay").click()
    user.find(marker="save-rule").click()
    await user.should_see("Power above 2000 W for 30 s; clears below 1800 W")
    await user.should_see("tells Warden's hook")
    with dashboard.services.engine.connect() as conn:
        (rule,) = alert_store.list_rules(conn, frozenset({dashboard.site_a}))
    assert (rule.name, rule.device_id, rule.channel_ids, rule.relay_off, rule.cooldown_s) == (
        "Heater left on",
        dashboard.meter_a,
        [channel.id],
        True,
        600,
    )
    assert rule.params == {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 1800, "for_s": 30}

    set_value(user, f"enabled-{rule.id}", False)
    await user.should_see("Heater left on switched off")
    with dashboard.services.engine.connect() as conn:
        assert alert_store.get_rule(conn, rule.id).enabled is False


async def test_a_rule_with_wrong_settings_is_refused_naming_what_is_wrong(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    sign_in("admin")
    await user.open("/alerts/settings")
    user.find(marker="rule-name").type("No level")
    user.find(marker="save-rule").click()  # a threshold with no level
    await user.should_see("params.trigger")
    set_value(user, "rule-direction", "below")
    set_value(user, "rule-trigger", 200)
    user.find(marker="rule-relay").click()  # a relay cut on "below" makes no sense
    user.find(marker="save-rule").click()
    await user.should_see("relay_off: only a rule on power or current 'above' a level")
    with dashboard.services.engine.connect() as conn:
        assert alert_store.list_rules(conn) == []


async def test_a_quiet_time_out_of_range_is_refused_as_over_rest(user: User, dashboard: World, sign_in: SignIn) -> None:
    sign_in("admin")
    await user.open("/alerts/settings")
    user.find(marker="rule-name").type("Heater")
    set_value(user, "rule-trigger", 2000)
    for minutes in (-5, 10**9):
        set_value(user, "rule-cooldown", minutes)
        user.find(marker="save-rule").click()
        await user.should_see("cooldown_s: must be from 0 to 2592000 s (30 days)")
    with dashboard.services.engine.connect() as conn:
        assert alert_store.list_rules(conn) == []


@pytest.mark.parametrize(
    ("kind", "typed", "params", "words"),
    [
        ("offline", {"rule-after_min": 15}, {"after_s": 900.0}, "No reading for 15 min"),
        (
            "budget",
            {"rule-used_pct": 90},
            {"projected": True, "used_pct": 90},
            "90 % of the budget used or the cycle projected to end above the budget",
        ),
        ("finding", {"rule-kinds": ["theft", "grid"]}, {"kinds": ["theft", "grid"]}, "A finding: theft, sag"),
        (
            "appliance",
            {"rule-label": "iron", "rule-on_longer_than_min": 30},
            {"label": "iron", "on_longer_than_s": 1800.0},
            "Iron still on after 30 min",
        ),
    ],
)
async def test_each_kind_of_rule_is_added_from_its_own_form(
    user: User, dashboard: World, sign_in: SignIn, kind: str, typed: dict[str, Any], params: dict[str, Any], words: str
) -> None:
    sign_in("admin")
    await user.open(f"/alerts/settings?site={dashboard.site_a}")
    set_value(user, "rule-kind", kind)
    for marker, value in typed.items():
        set_value(user, marker, value)
    user.find(marker="save-rule").click()
    await user.should_see(words)
    await user.should_see("On the whole site" if kind == "budget" else "On every meter")  # a bill is the site's
    with dashboard.services.engine.connect() as conn:
        (rule,) = alert_store.list_rules(conn, frozenset({dashboard.site_a}))
    assert (rule.kind, rule.params) == (kind, params)
    assert rule.device_id is None  # every meter (a budget is always the whole site's)


def add_channel(world: World, name: str, kind: str, config: dict[str, Any]) -> int:
    with world.services.engine.begin() as conn:
        return alert_store.add_channel(conn, world.site_a, name, kind, channels.validate_config(kind, config)).id


def stored_channel(world: World, channel_id: int) -> alert_store.Channel:
    with world.services.engine.connect() as conn:
        return alert_store.get_channel(conn, channel_id)


def an_owner_of_site_a(world: World) -> None:
    """A user "owner" who sets site A's channels without being an administrator."""
    with world.services.engine.begin() as conn:
        grant(conn, create_user(conn, "owner", "owner-password").id, world.site_a, "owner")


def value_of(user: User, marker: str) -> Any:
    (element,) = user.find(marker=marker).elements
    return element.value  # type: ignore[attr-defined]


async def test_an_owner_changes_a_channel_without_seeing_its_ntfy_topic_and_keeps_it(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    """Whoever knows the topic reads the notices: the form shows it masked to an owner, and
    saving the form as shown keeps it."""
    phones = add_channel(dashboard, "phones", "ntfy", {"server_url": "http://ntfy.lan:8080", "topic": "home-5f3a"})
    an_owner_of_site_a(dashboard)
    sign_in("owner")
    await user.open(f"/alerts/settings?site={dashboard.site_a}")
    assert value_of(user, f"channel-{phones}-topic") == channels.MASK
    assert value_of(user, f"channel-{phones}-server_url") == "http://ntfy.lan:8080"
    set_value(user, f"channel-{phones}-name", "Our phones")
    user.find(marker=f"save-channel-{phones}").click()
    await user.should_see("Channel Our phones saved: send it a test")
    saved = stored_channel(dashboard, phones)
    assert (saved.name, saved.config["topic"]) == ("Our phones", "home-5f3a")

    sign_in("admin")  # an administrator sees it, to give it to the phones
    await user.open(f"/alerts/settings?site={dashboard.site_a}")
    assert value_of(user, f"channel-{phones}-topic") == "home-5f3a"


async def test_a_channel_turned_into_another_kind_with_a_masked_secret_is_refused_naming_it(
    user: User, dashboard: World, sign_in: SignIn
) -> None:
    family = add_channel(dashboard, "family", "telegram", {"bot_token": "123456789:AAH-real", "chat_id": "-100123"})
    sign_in("admin")
    await user.open(f"/alerts/settings?site={dashboard.site_a}")
    assert value_of(user, f"channel-{family}-bot_token") == channels.MASK
    set_value(user, f"channel-{family}-kind", "ntfy")
    set_value(user, f"channel-{family}-topic", "family")
    set_value(user, f"channel-{family}-token", channels.MASK)
    user.find(marker=f"save-channel-{family}").click()
    await user.should_see("Not saved: ntfy.token: type its real value: the channel was Telegram")
    assert stored_channel(dashboard, family).kind == "telegram"

    set_value(user, f"channel-{family}-token", "tk_real")
    user.find(marker=f"save-channel-{family}").click()
    await user.should_see("Channel family saved: send it a test")
    assert stored_channel(dashboard, family).config == {
        "server_url": "https://ntfy.sh",
        "topic": "family",
        "token": "tk_real",
    }


# ---- in a real browser: screenshots at desktop width and at 360 px ---------------------------


def seed_alerts(services: Services, world: World) -> None:
    """A hostel's week of alerts, a channel and the rules behind them."""
    rule_ids: dict[str, int] = {}
    with services.engine.begin() as conn:
        phone = channels.validate_config("whatsapp", {"phone": "+919876543210", "apikey": "123456"})
        hook = alert_store.add_channel(conn, world.site_a, "Warden's phone", "whatsapp", phone)
        for name, kind, params, relay in (
            (
                "Heater left on",
                "threshold",
                {"quantity": "power", "direction": "above", "trigger": 2000, "clear": 1800, "for_s": 30},
                True,
            ),
            (
                "Low voltage",
                "threshold",
                {"quantity": "voltage", "direction": "below", "trigger": 200, "for_s": 10},
                False,
            ),
            ("Meter silent", "offline", {"after_s": 600}, False),
            ("What the detectors find", "finding", {"kinds": ["anomaly", "theft", "grid"]}, False),
            ("Budget", "budget", {"used_pct": 80, "projected": True}, False),
        ):
            rule_ids[name] = alert_store.add_rule(
                conn,
                alert_store.RuleFields(
                    site_id=world.site_a,
                    device_id=None,
                    name=name,
                    kind=kind,
                    params=params,
                    channel_ids=[hook.id],
                    relay_off=relay,
                ),
                by="admin",
            ).id
    overload = "main (Home A): Power above 2000 W for 30 s (2450 W now); the meter was told to switch its relay off"
    raise_alert(world, world.site_a, world.meter_a, overload, rule_ids["Heater left on"])
    low = "main (Home A): Voltage below 200 V for 10 s (193.4 V now)"
    raise_alert(world, world.site_a, world.meter_a, low, rule_ids["Low voltage"])
    unusual = "Anomaly: power 2.4 kW is 5× the usual for Tuesday 14:00"
    raise_alert(world, world.site_a, world.meter_a, unusual, rule_ids["What the detectors find"], kind="finding")
    with services.engine.begin() as conn:
        geyser = create_device(conn, site_id=world.site_a, name="Geyser, first-floor bathroom").device.id
        set_role(conn, geyser, role="sub", parent_id=world.meter_a)
    hot = "Geyser, first-floor bathroom (Home A): Power above 2000 W for 30 s (2210 W now)"
    over = raise_alert(world, world.site_a, geyser, hot, rule_ids["Heater left on"])
    with services.engine.begin() as conn:
        alert_store.mark_notified(conn, over, now_ms())
        alert_store.resolve(conn, over, now_ms())


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    yield from serve_seeded(tmp_path_factory.mktemp("alerts"), seed_alerts)


@pytest.mark.browser
def test_the_alerts_pages_in_a_browser(installation: Installation, browser: Browser) -> None:
    screenshots(browser, installation, "/alerts", "alerts", "Anomaly: power 2.4 kW", dark=True)
    screenshots(browser, installation, "/alerts/settings", "alert-settings", "Heater left on")


@pytest.mark.browser
def test_long_lines_wrap_on_a_phone_instead_of_widening_the_page(installation: Installation, browser: Browser) -> None:
    """An alert's where-when-notice line and a meter's role-key-last-seen line are long on a 360 px
    screen: they wrap (alerts) or end in "…" (meters); the page never scrolls sideways."""
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = context.new_page()
    for path, ready in (("/alerts?view=all", "lasted"), ("/sites", "Geyser, first-floor bathroom")):
        signed_in(installation, page, path, "admin")
        expect(page.get_by_text(ready).first).to_be_visible(timeout=15_000)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than a {PHONE['width']} px screen"
    context.close()


@pytest.mark.browser
def test_the_rule_forms_fields_show_their_whole_label_and_unit_on_a_phone(
    installation: Installation, browser: Browser
) -> None:
    """Every field of "Add a rule" says what it asks, at 360 px too ("Tell (channels)" had room for
    none of its words), and the level says its unit, following the quantity."""
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = context.new_page()
    signed_in(installation, page, "/alerts/settings", "admin")
    page.get_by_text("Add a rule").click()
    form = page.locator(".q-expansion-item", has_text="Add a rule")
    expect(form.get_by_text("Tell (channels)")).to_be_visible()
    cut = form.locator(".q-field__label").evaluate_all(
        "labels => labels.filter(l => l.offsetParent && l.scrollWidth > l.clientWidth + 1).map(l => l.textContent)"
    )
    assert cut == [], f"labels cut off: {cut}"
    expect(form.get_by_text("Level (W)", exact=True)).to_be_visible()
    expect(form.get_by_text("Clears at (W, optional)", exact=True)).to_be_visible()
    form.locator(".q-field").filter(has=page.get_by_text("Quantity", exact=True)).click()
    page.locator(".q-menu .q-item", has_text="Voltage").click()
    expect(form.get_by_text("Level (V)", exact=True)).to_be_visible()
    context.close()
