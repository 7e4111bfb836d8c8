"""The farm dashboard in a real browser (Playwright driving Debian's chromium, headless) while a swarm builds.

Every page loads without a console error, the live parts update by themselves, a build log is
followed to its end, a control action takes effect in the record, an unauthenticated visitor
sees only the login, the SQL explorer answers and refuses a write; labels, contrast and the
keyboard are checked. Screenshots are kept under .cache/screenshots/ (the path is printed).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, unavailable
from tests.integration.live_kit import TOKEN, Live, live, reachable_redis

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / ".cache" / "screenshots"
PAGES = ("/ui", "/ui/timeline", "/ui/plan", "/ui/fleet", "/ui/events", "/ui/logs", "/ui/sql", "/ui/control")

# every form control has a label; every graphic a name; body text 4.5:1 against its background (WCAG AA)
A11Y = """() => {
  const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.outerHTML.slice(0, 80));
  const unnamed = [...document.querySelectorAll('svg[role=img]')].filter(e => !e.getAttribute('aria-label')).length;
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3); } return [255, 255, 255]; };
  const low = [];
  for (const e of document.querySelectorAll('p, td, th, li, a, label, button, h1, h2, h3, caption, summary, span')) {
    if (!e.textContent.trim() || !e.offsetParent || e.closest('svg')) continue;
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(background(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${e.tagName}.${e.className}: ${ratio.toFixed(2)} "${e.textContent.trim().slice(0, 30)}"`);
  }
  return {unlabelled, unnamed, low: low.slice(0, 10), lang: document.documentElement.lang, h1: document.querySelectorAll('h1').length};
}"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, portage_cache: Path) -> Iterator[Live]:
    yield from live(tmp_path_factory.mktemp("dashboard"), portage_cache, reachable_redis())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing: `apt-get install chromium` (scripts/services.sh installs it)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SHOTS}")
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield found
        found.close()


class Watched:
    """A page whose console errors, uncaught exceptions and failed requests are collected."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def until(done: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll from here (the pages' Content-Security-Policy forbids the eval Playwright's wait_for_function uses)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.2)


def login(watched: Watched, base: str, token: str = TOKEN) -> None:
    page = watched.page
    page.goto(f"{base}/ui")
    assert page.url.startswith(f"{base}/ui/login")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Log in").click()


def test_an_unauthenticated_visitor_sees_only_the_login(stack: Live, browser: Any) -> None:
    base = stack.api()
    watched = Watched(browser)
    for path in (*PAGES, "/ui/part/overview", "/ui/explain?atom=sys-devel/gcc"):
        response = watched.page.goto(f"{base}{path}")
        assert watched.page.url.startswith(f"{base}/ui/login"), path
        assert response is not None and response.status == 200
        assert watched.page.locator("nav a", has_text="Control").count() == 0
        assert "session" not in watched.page.locator("main").inner_text().lower()
    login(watched, base, token="wrong-token")
    assert "not the admin token" in watched.page.locator(".error").inner_text()
    watched.shot("login-refused")
    assert watched.context.cookies() == []
    assert [p for p in watched.problems if "status of 401" not in p] == []  # the refused login itself answers 401


def test_every_page_loads_live_updates_arrive_and_controls_take_effect(stack: Live, browser: Any) -> None:
    base = stack.api()
    session = stack.swarm.new_session()
    watched = Watched(browser)
    login(watched, base)
    page = watched.page
    assert page.url == f"{base}/ui"
    (cookie,) = watched.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"] and TOKEN not in page.url
    _live_overview(watched, session)
    for path in PAGES:
        page.goto(f"{base}{path}")
        found = page.evaluate(A11Y)
        assert found == {"unlabelled": [], "unnamed": 0, "low": [], "lang": "en", "h1": 1}, path
        watched.shot(path.strip("/").replace("/", "-"))
    _follow_a_log(watched, base, stack, session)
    _pause_and_resume(watched, base, stack)
    _sql(watched, base)
    _keyboard(watched, base)
    stack.swarm.wait(lambda: stack.swarm.state(session) == "complete", 180, "the session to complete")
    page.goto(f"{base}/ui/timeline?session={session}")
    assert page.locator(".gantt rect.seg").count() >= 48
    watched.shot("timeline-complete")
    _fleet_health(watched, base, stack)
    assert watched.problems == []


def _fleet_health(watched: Watched, base: str, stack: Live) -> None:
    """A real probe round (Celery pings; no SSH inventory here) and a stale-tree hold show on the fleet page."""
    probed = stack.swarm.cli("fleet", "probe", "--json")
    assert probed.code == 0 and {c["drone"] for c in probed.json()} >= {"box1", "nas"}, probed.stderr
    stack.swarm.store.set_tree_hold("nas", "its tree is 3 h older than the coordinator's")
    page = watched.page
    page.goto(f"{base}/ui/fleet")
    rows = page.locator("table.health tbody tr")
    assert rows.count() == 2 and "yes" in rows.first.inner_text() and "none" in rows.first.inner_text()
    assert "held: its tree is 3 h older" in page.locator("table.fleet").inner_text()
    watched.shot("fleet-health")
    stack.swarm.store.set_tree_hold("nas", "")


def _live_overview(watched: Watched, session: str) -> None:
    """The overview's numbers change while the page stays loaded (no navigation): the live refresh works."""
    page = watched.page
    card = page.locator(f"article[data-session='{session}']")
    first = card.locator(".done").inner_text()
    page.evaluate("window.__marker = 1")  # gone if the page reloads
    until(lambda: card.locator(".done").inner_text() != first, 30, "the overview to update itself")
    assert page.evaluate("window.__marker") == 1
    assert card.locator("svg.bar rect.seg").count() >= 1 and "ETA" in card.inner_text()
    watched.shot("overview-running")


def _follow_a_log(watched: Watched, base: str, stack: Live, session: str) -> None:
    page = watched.page
    stack.swarm.wait(lambda: bool(stack.swarm.queries.running(session)), 60, "a build to run")
    running = stack.swarm.queries.running(session)[0]
    page.goto(f"{base}/ui/logs/{running.attempt}")
    until(lambda: page.locator("#log").get_attribute("data-done") == "1", 60, "the log to be followed to its end")
    text = page.locator("#log").inner_text()
    assert f">>> Emerging (1 of 1) {running.cpv}" in text and f">>> Completed {running.cpv}" in text
    assert page.locator("#log-state").inner_text() == "finished"
    watched.shot("log")


def _pause_and_resume(watched: Watched, base: str, stack: Live) -> None:
    page = watched.page
    page.goto(f"{base}/ui/control")
    page.locator("form.control", has=page.locator("input[value=pause]")).get_by_role("button", name="Pause").click()
    assert page.locator("p.ok[role=status]").count() == 1  # the coordinator's answer, not an error
    assert page.locator("#swarm-state").inner_text() == "paused" and stack.swarm.queries.swarm_paused()
    page.goto(f"{base}/ui")
    assert "The swarm is paused" in page.locator(".banner").inner_text()
    watched.shot("paused")
    page.goto(f"{base}/ui/control")
    page.locator("form.control", has=page.locator("input[value=resume]")).get_by_role("button", name="Resume").click()
    assert page.locator("#swarm-state").inner_text() == "running" and not stack.swarm.queries.swarm_paused()
    asked: list[str] = []
    before = page.url
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel session").click()  # asks first; dismissed, nothing is sent
    assert asked and asked[0].startswith("Cancel the session?") and page.url == before


def _sql(watched: Watched, base: str) -> None:
    page = watched.page
    page.goto(f"{base}/ui/sql")
    page.locator("summary", has_text=re.compile(r"^sessions$")).click()
    page.get_by_role("button", name="Query sessions").click()
    assert page.get_by_label("Query").input_value() == "SELECT * FROM sessions LIMIT 50"
    page.get_by_role("button", name="Run").click()
    assert page.locator("table.result th", has_text="id").count() == 1 and page.locator("table.result tbody tr").count() >= 1
    page.get_by_label("Query").fill("DELETE FROM attempts")
    page.get_by_role("button", name="Run").click()
    assert "refused" in page.locator(".error[role=alert]").inner_text()
    watched.shot("sql")


def _keyboard(watched: Watched, base: str) -> None:
    """Tab reaches the skip link first, Enter jumps to the content; the navigation works from the keyboard alone."""
    page = watched.page
    page.goto(f"{base}/ui")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.goto(f"{base}/ui")
    for _ in range(3):  # skip link, Overview, Timeline
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Timeline"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/ui/timeline")


def test_public_status_opens_the_read_only_pages_and_nothing_else(stack: Live, browser: Any) -> None:
    base = stack.api(SWARM_PUBLIC_STATUS="1")
    watched = Watched(browser)
    page = watched.page
    for path in PAGES[:6]:
        page.goto(f"{base}{path}")
        assert page.url == f"{base}{path}" and page.locator("nav a", has_text="Control").count() == 0
    for path in ("/ui/sql", "/ui/control"):
        page.goto(f"{base}{path}")
        assert page.url.startswith(f"{base}/ui/login")
    response = page.request.post(f"{base}/ui/control", form={"action": "pause", "csrf": "x"}, max_redirects=0)
    assert response.status == 303 and "/ui/login" in response.headers["location"] and not stack.swarm.queries.swarm_paused()
    watched.shot("public-overview")
    assert watched.problems == []


def test_a_control_from_another_site_is_refused(stack: Live, browser: Any) -> None:
    """A logged-in admin visits another site whose form posts a pause here: the browser does not send the SameSite=Strict
    cookie along, so it lands on the login; and a POST with the cookie but without the form's CSRF token is refused."""
    base = stack.api()
    watched = Watched(browser)
    login(watched, base)
    attack = (f'<form id="f" method="post" action="{base}/ui/control"><input name="action" value="pause">'
              '<input name="csrf" value="guess"></form><script>document.getElementById("f").submit()</script>')
    watched.page.route("http://elsewhere.test/**", lambda route: route.fulfill(content_type="text/html", body=attack))
    watched.page.goto("http://elsewhere.test/")
    watched.page.wait_for_url(re.compile(r".*/ui/login.*"))
    assert not stack.swarm.queries.swarm_paused()
    forged = watched.page.request.post(f"{base}/ui/control", form={"action": "pause", "csrf": "guess"}, max_redirects=0)
    assert forged.status == 403 and not stack.swarm.queries.swarm_paused()


def test_the_api_docs_render_without_the_internet(stack: Live, browser: Any) -> None:
    """Swagger UI loads its scripts from the API itself: with every other host blocked, it renders."""
    base = stack.api()
    watched = Watched(browser)
    blocked: list[str] = []

    def offline(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    watched.context.route("**/*", offline)
    watched.page.goto(f"{base}/docs")
    watched.page.locator(".swagger-ui .info .title", has_text="build-swarm coordinator").wait_for(timeout=30_000)
    assert watched.page.locator(".opblock-summary-path", has_text="/api/v1/status").count() >= 1
    watched.shot("docs")
    assert blocked == [] and watched.problems == []
