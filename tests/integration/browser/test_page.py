"""The page at `/`, driven in Debian's chromium against a local stack: what a player sees.

Scores go in through the API (current period, default occurred_at); the page must show them
without a reload, over the live socket or, when it cannot connect, by polling.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, Route, WebSocketRoute, expect

from local_runtime.stack import RunningStack
from shared.domain.boards import Window
from shared.domain.timestamps import now_ms
from tests.support.browser import DESKTOP, PHONE, board_ids, screenshot_path
from tests.support.http_api import Api
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# The board the screenshots show: fixed names and points, posted first into an empty board.
ROSTER = [
    ("NovaStrike", 4820),
    ("pixel_pirate", 4475),
    ("Kestrel", 4130),
    ("mira.exe", 3905),
    ("Zed0", 3560),
    ("Zoë Ørsted", 3320),
    ("Lobo Rojo", 3015),
    ("quietstorm", 2790),
    ("Ana_B", 2410),
    ("tinkerbot", 2105),
    ("dusk", 1500),
    ("frostbyte", 990),
]
HOSTILE_IDS = [
    "<img src=x onerror=alert(1)>",
    # Right-to-left text around markup and an entity: shown as typed, never parsed or reordered out of its cell.
    "שלום</li><script>alert(2)</script> &amp; 42",
]


def post(api: Api, user_id: str, points: int) -> None:
    status, body = api.post("/v1/scores", {"match_id": f"m-{uuid.uuid4().hex}", "user_id": user_id, "points": points})
    assert status == 202, body


def api_top(api: Api, limit: int = 10) -> list[dict[str, Any]]:
    status, body = api.get(f"/v1/leaderboards/monthly/top?limit={limit}")
    assert status == 200, body
    entries: list[dict[str, Any]] = body["entries"]
    return entries


def leader_points(api: Api) -> int:
    top = api_top(api, 1)
    return int(top[0]["points"]) if top else 0


def wait_for_board(page: Page, condition: Callable[[list[str]], bool], what: str) -> list[str]:
    def shown_when_true() -> list[str] | None:
        shown = board_ids(page)
        return shown if condition(shown) else None

    return wait_for(shown_when_true, what=what)


def wait_for_socket(page: Page, condition: Callable[[], bool], what: str) -> None:
    """Wait for what a routed WebSocket received: Playwright runs the route's callbacks only while
    a call of its own is under way, so each check makes one."""

    def checked() -> bool | None:
        page.evaluate("0")
        return condition() or None

    wait_for(checked, what=what)


def open_page(page: Page, stack: RunningStack) -> None:
    response = page.goto(f"{stack.api_url}/")
    assert response is not None and response.ok
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in response.headers["content-security-policy"]
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def search(page: Page, user_id: str) -> None:
    page.get_by_label("Player id").fill(user_id)
    page.get_by_role("button", name="Search").click()


@pytest.fixture(scope="module")
def roster(page_api: Api) -> list[str]:
    """ROSTER posted into the module's empty board; its top 10 ids once applied."""
    for user_id, points in ROSTER:
        post(page_api, user_id, points)
    expected = [user_id for user_id, _ in ROSTER[:10]]
    wait_for(lambda: [entry["user_id"] for entry in api_top(page_api)] == expected or None, what="the roster applied")
    return expected


def test_the_page_shows_the_posted_players(page: Page, page_stack: RunningStack, roster: list[str]) -> None:
    expected = roster
    open_page(page, page_stack)
    wait_for_board(page, lambda ids: ids == expected, "the roster on the page")
    assert page.locator("#top-list .points").first.text_content() == "4,820"
    wait_for(lambda: page.get_attribute("#connection", "data-state") in ("live", "polling") or None, what="connected")
    expect(page.get_by_role("tab", name="Monthly")).to_have_attribute("aria-selected", "true")


def test_screenshots_desktop_and_phone(page: Page, page_stack: RunningStack, roster: list[str], scratch: Path) -> None:
    open_page(page, page_stack)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    search(page, "Zed0")
    expect(page.locator("#standing-rank")).to_have_text("#5")
    page.screenshot(path=screenshot_path("desktop", scratch), full_page=True)
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sticks out sideways
    page.screenshot(path=screenshot_path("phone", scratch), full_page=True)
    page.set_viewport_size(DESKTOP)
    assert screenshot_path("desktop", scratch).stat().st_size > 0


def test_a_new_score_moves_the_board_without_a_reload(
    page: Page, page_stack: RunningStack, page_api: Api, roster: list[str]
) -> None:
    open_page(page, page_stack)
    page.evaluate("window.notReloaded = true")
    climber = ROSTER[4][0]
    gap = leader_points(page_api) - dict(ROSTER)[climber] + 1
    post(page_api, climber, gap)
    wait_for_board(page, lambda ids: ids[:1] == [climber], f"{climber} first on the page")
    assert page.evaluate("window.notReloaded") is True
    newcomer = f"newcomer-{uuid.uuid4().hex[:6]}"
    post(page_api, newcomer, leader_points(page_api) + 5)
    ids = wait_for_board(page, lambda ids: ids[:2] == [newcomer, climber], f"{newcomer} above {climber}")
    assert len(ids) == 10
    expect(page.locator("#announcer")).to_have_text(f"{newcomer} takes the lead")
    assert page.evaluate("window.notReloaded") is True


def test_with_the_real_socket_a_score_arrives_by_push_alone(
    page: Page, page_stack: RunningStack, page_api: Api, roster: list[str]
) -> None:
    """The local /v1/live server end to end: once the page says Live it reads nothing over HTTP, so
    the new leader can only have come by push."""
    reads: list[str] = []
    page.on("request", lambda request: reads.append(request.url) if "/v1/leaderboards/" in request.url else None)
    open_page(page, page_stack)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    wait_for_board(page, lambda ids: len(ids) == 10, "the board")
    reads.clear()
    pushed = f"pushed-{uuid.uuid4().hex[:6]}"
    post(page_api, pushed, leader_points(page_api) + 3)
    wait_for_board(page, lambda ids: ids[:1] == [pushed], f"{pushed} first on the page")
    assert reads == [], f"the page read over HTTP while live: {reads}"


def test_search_shows_rank_points_percentile_and_neighbours(
    page: Page, page_stack: RunningStack, page_api: Api, roster: list[str]
) -> None:
    player = "Lobo Rojo"
    status, standing = page_api.get(f"/v1/leaderboards/monthly/users/{player.replace(' ', '%20')}?around=2")
    assert status == 200, standing
    open_page(page, page_stack)
    search(page, player)
    expect(page.locator("#standing-rank")).to_have_text(f"#{standing['rank']}")
    expect(page.locator("#standing-points")).to_have_text(f"{standing['points']:,}")
    expect(page.locator("#standing-percentile")).to_have_text(f"{standing['percentile']:g}%")
    expect(page.locator("#standing-player")).to_have_text(player)
    assert board_ids(page, "around-list") == [entry["user_id"] for entry in standing["around"]]
    assert page.locator("#around-list [aria-current=true] .player").text_content() == player

    post(page_api, player, 10)  # kept live: the new points show without a new search
    expect(page.locator("#standing-points")).to_have_text(f"{standing['points'] + 10:,}")

    search(page, "nobody-has-this-id")
    expect(page.locator("#search-message")).to_have_text("No score for nobody-has-this-id in this period.")


def test_hostile_player_ids_show_literally_as_text(page: Page, page_stack: RunningStack, page_api: Api) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    top_points = leader_points(page_api)
    for offset, user_id in enumerate(HOSTILE_IDS):
        post(page_api, user_id, top_points + 100 - offset)
    open_page(page, page_stack)
    wait_for_board(page, lambda ids: ids[:2] == HOSTILE_IDS, "the hostile ids on top")
    rows = page.locator("#top-list .player")
    assert rows.nth(0).inner_text() == HOSTILE_IDS[0]
    assert rows.nth(1).inner_text() == HOSTILE_IDS[1]
    assert page.locator("#top-list img, #top-list script, main img, main script").count() == 0
    assert page.locator("#top-list > li").count() == 10  # the `</li>` in an id closed nothing
    search(page, HOSTILE_IDS[0])
    expect(page.locator("#standing-player")).to_have_text(HOSTILE_IDS[0])
    assert page.locator("#standing img, #around-list img").count() == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert dialogs == []


def test_the_tabs_work_from_the_keyboard(page: Page, page_stack: RunningStack, roster: list[str]) -> None:
    open_page(page, page_stack)
    tabs = page.get_by_role("tab")
    expect(tabs).to_have_count(4)
    page.get_by_role("tab", name="Monthly").focus()
    page.keyboard.press("ArrowRight")
    alltime = page.get_by_role("tab", name="All-time")
    expect(alltime).to_have_attribute("aria-selected", "true")
    expect(alltime).to_be_focused()
    expect(page.get_by_role("tab", name="Monthly")).to_have_attribute("aria-selected", "false")
    assert page.eval_on_selector(":focus", "tab => getComputedStyle(tab).outlineStyle") == "solid"  # focus is visible
    expect(page.locator("#board-title")).to_have_text("Top 10 · All time")
    page.keyboard.press("Home")
    daily = page.get_by_role("tab", name="Daily")
    expect(daily).to_be_focused()
    expect(daily).to_have_attribute("aria-selected", "true")
    expect(page.locator("#period-picker option").first).to_contain_text("(current)")
    wait_for_board(page, lambda ids: len(ids) == 10, "the daily top 10")  # today's board holds today's scores
    page.keyboard.press("ArrowLeft")  # wraps to the last tab
    expect(alltime).to_be_focused()
    assert [tab.get_attribute("tabindex") for tab in tabs.all()] == ["-1", "-1", "-1", "0"]


def test_without_the_socket_the_page_polls_and_still_moves(page: Page, page_stack: RunningStack, page_api: Api) -> None:
    def no_live_socket(route: Route) -> None:
        config = json.loads(route.fetch().text())
        config["live_url"] = config["live_url"].replace("/v1/live", "/v1/no-live-socket-here")
        route.fulfill(json=config)

    page.route("**/config.json", no_live_socket)
    open_page(page, page_stack)
    expect(page.locator("#connection")).to_have_attribute("data-state", "polling")
    expect(page.locator("#connection")).to_contain_text("Polling")
    late = f"late-bloomer-{uuid.uuid4().hex[:6]}"
    post(page_api, late, leader_points(page_api) + 1)
    wait_for_board(page, lambda ids: ids[:1] == [late], f"{late} first by polling")

    page.context.set_offline(True)
    try:
        expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    finally:
        page.context.set_offline(False)
    expect(page.locator("#connection")).to_have_attribute("data-state", "polling")


def test_pushed_messages_update_the_board_and_the_indicator_says_live(page: Page, page_stack: RunningStack) -> None:
    status, periods = Api(page_stack.api_url, page_stack.api_key).get("/v1/leaderboards/monthly/periods")
    assert status == 200, periods
    current = periods["current"]
    sockets: list[WebSocketRoute] = []
    subscriptions: list[dict[str, Any]] = []

    def live_socket(socket: WebSocketRoute) -> None:  # stands in for the server's /v1/live
        sockets.append(socket)
        socket.on_message(lambda message: subscriptions.append(json.loads(message)))

    page.route_web_socket("**/v1/live", live_socket)
    open_page(page, page_stack)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#connection")).to_contain_text("Live")
    wait_for_socket(page, lambda: bool(subscriptions), "a subscribe message")
    assert subscriptions[-1] == {"action": "subscribe", "window": "monthly"}

    pushed = [
        {"rank": 1, "user_id": "pushed-first", "points": 99_000},
        {"rank": 2, "user_id": "<b>pushed</b>", "points": 98_000},
    ]
    stale = {
        "type": "top",
        "window": "monthly",
        "period": "1999-01",
        "entries": [{"rank": 1, "user_id": "x", "points": 1}],
    }
    sockets[-1].send(json.dumps(stale))  # another period than the one shown: ignored
    top = {"type": "top", "window": "monthly", "period": current, "as_of": 2_000, "entries": pushed}
    sockets[-1].send(json.dumps(top))
    wait_for_board(page, lambda ids: ids == ["pushed-first", "<b>pushed</b>"], "the pushed top")

    search(page, "<b>pushed</b>")
    wait_for_socket(page, lambda: "user_id" in subscriptions[-1], "a subscribe with the player")
    assert subscriptions[-1] == {"action": "subscribe", "window": "monthly", "user_id": "<b>pushed</b>"}
    expect(page.locator("#search-message")).to_have_text("No score for <b>pushed</b> in this period.")  # over HTTP
    standing = {
        "type": "standing",
        "window": "monthly",
        "period": current,
        "user_id": "<b>pushed</b>",
        "rank": 2,
        "points": 98_000,
        "around": pushed,
    }
    sockets[-1].send(json.dumps({**top, "as_of": 3_000}))  # over the HTTP read the search made
    wait_for_board(page, lambda ids: ids == ["pushed-first", "<b>pushed</b>"], "the pushed top again")
    overtaken = {**top, "as_of": 2_500, "entries": [{"rank": 1, "user_id": "read-earlier", "points": 1}]}
    sockets[-1].send(json.dumps(overtaken))  # a push read before the one shown, arriving after it: dropped
    sockets[-1].send(json.dumps(standing))
    expect(page.locator("#standing-rank")).to_have_text("#2")  # messages are handled in order: both were seen
    expect(page.locator("#standing-points")).to_have_text("98,000")
    assert board_ids(page) == ["pushed-first", "<b>pushed</b>"]
    assert page.locator("main b").count() == 0

    sockets[-1].close()  # the socket drops: polling takes over
    expect(page.locator("#connection")).to_have_attribute("data-state", "polling")


CONTRAST_OF = """elements => elements.map(element => {
  const rgb = text => text.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const luminance = ([r, g, b]) => [r, g, b]
    .map(v => v / 255).map(c => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  let backdrop = element;
  while (backdrop && rgb(getComputedStyle(backdrop).backgroundColor)[3] === 0) backdrop = backdrop.parentElement;
  const background = backdrop ? rgb(getComputedStyle(backdrop).backgroundColor) : [13, 18, 32];
  const [light, dark] = [luminance(rgb(getComputedStyle(element).color)), luminance(background)].sort((a, b) => b - a);
  return [element.className || element.tagName, (light + 0.05) / (dark + 0.05)];
})"""


def test_text_has_at_least_4_5_to_1_contrast(page: Page, page_stack: RunningStack, roster: list[str]) -> None:
    open_page(page, page_stack)
    search(page, "Kestrel")
    expect(page.locator("#standing-rank")).not_to_be_empty()
    selectors = (
        "h1, h2, h3, .tab, label, .meta, .hint, .connection-label, .rank, .player, .points, dt, dd, button, select"
    )
    ratios = page.eval_on_selector_all(selectors, CONTRAST_OF)
    assert len(ratios) > 30
    assert [(name, round(ratio, 2)) for name, ratio in ratios if ratio < 4.5] == []


def test_ranks_move_with_a_flip_animation_unless_motion_is_reduced(page: Page, page_stack: RunningStack) -> None:
    status, periods = Api(page_stack.api_url, page_stack.api_key).get("/v1/leaderboards/monthly/periods")
    assert status == 200, periods
    sockets: list[WebSocketRoute] = []
    subscriptions: list[str | bytes] = []

    def live_socket(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        socket.on_message(lambda message: subscriptions.append(message))

    page.route_web_socket("**/v1/live", live_socket)
    open_page(page, page_stack)
    wait_for_socket(page, lambda: bool(subscriptions), "a subscription")

    def push(order: list[str]) -> None:
        entries = [{"rank": rank, "user_id": user, "points": 100 - rank} for rank, user in enumerate(order, 1)]
        message = {"type": "top", "window": "monthly", "period": periods["current"], "entries": entries}
        sockets[-1].send(json.dumps(message))
        wait_for_board(page, lambda ids: ids == order, f"the board in the order {order}")

    def animated_rows() -> int:
        count: int = page.eval_on_selector_all("#top-list .row", "rows => rows.filter(r => r.style.transition).length")
        return count

    push(["ann", "bob", "cy"])
    push(["cy", "ann", "bob"])
    assert animated_rows() == 3  # every row slid from its old place
    page.emulate_media(reduced_motion="reduce")
    page.evaluate("document.querySelectorAll('#top-list .row').forEach(row => row.style.transition = '')")
    push(["bob", "cy", "ann"])
    assert animated_rows() == 0


def test_the_period_picker_shows_last_months_final_board(page: Page, page_stack: RunningStack, page_api: Api) -> None:
    last_month = Window.MONTHLY.current(now_ms()).previous()
    assert last_month is not None
    veteran = f"veteran-{uuid.uuid4().hex[:6]}"
    match = {"match_id": f"m-{uuid.uuid4().hex}", "user_id": veteran, "points": 7, "occurred_at": last_month.start_ms}
    status, body = page_api.post("/v1/scores", match)
    assert status == 202 and body["periods"]["monthly"] == last_month.period, body

    def last_month_listed() -> bool | None:
        _, periods = page_api.get("/v1/leaderboards/monthly/periods")
        return last_month.period in periods.get("periods", []) or None

    wait_for(last_month_listed, what=f"{last_month.period} among the periods")
    open_page(page, page_stack)
    picker = page.get_by_label("Period")
    picker.select_option(last_month.period)
    wait_for_board(page, lambda ids: ids == [veteran], f"{last_month.period}'s board")
    expect(page.locator("#board-meta")).to_contain_text("final standings")
    expect(page.get_by_role("tab", name="Monthly")).to_have_attribute("aria-selected", "true")


def test_the_page_also_works_as_localhost(page: Page, page_stack: RunningStack, roster: list[str]) -> None:
    page.goto(page_stack.api_url.replace("127.0.0.1", "localhost") + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    wait_for_board(page, lambda ids: ids[:1] != [] and set(ids) & set(roster) != set(), "the board as localhost")
