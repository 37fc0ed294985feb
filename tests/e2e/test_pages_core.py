"""The core pages in a real browser over the demo warehouse: each draws fully (charts and tables),
filters given in the URL change the numbers as metrics/ says, the sidebar keeps them across a page
switch, and a screenshot of every page lands in artifacts/<page>.png."""
from datetime import timedelta

import duckdb
import pytest

from data import warehouse
from metrics.compute import kpis
from metrics.filters import Filters
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import screenshot, wait_drawn

pytestmark = pytest.mark.browser

# url path: (heading, text at the bottom of the page, plotly charts, dataframes drawn)
PAGES = {
    "overview": ("Overview", "Alerts", 1, 1),
    "traffic": ("Traffic & conversion", "Funnel", 5, 3),
    "customers": ("Customers", "RFM segments", 3, 4),
    "nps": ("NPS", "Search the comments", 2, 3),
    "products": ("Products", "Every SKU", 1, 2),
    "settings": ("Settings", "Save settings", 0, 0),
}


def card(page, label: str) -> str:
    """The value shown on the KPI card ``label``."""
    metric = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    return metric.get_by_test_id("stMetricValue").inner_text()


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """The demo warehouse once more (same seed and scale on the same day: the same data), for the
    expected numbers: the server holds demo_db open."""
    from data import demo
    path = tmp_path_factory.mktemp("twin") / "warehouse.duckdb"
    demo.build(path, seed=42, scale=0.3)
    return path


@pytest.fixture(scope="module")
def last_day(twin):
    with duckdb.connect(str(twin), read_only=True) as con:
        return con.execute("select cast(max(ordered_at) as date) from order_lines").fetchall()[0][0]


def drawn(page, text: str, charts: int = 0, dataframes: int = 0) -> None:
    # generous: these machines are shared, and the first visit imports pandas/plotly in the server
    wait_drawn(page, text, charts=charts, dataframes=dataframes, timeout=150_000)


def values(twin, f: Filters) -> dict:
    with warehouse.connect(twin) as con:  # writable: the first call builds the order facts
        return kpis(con, f, ["gmv", "orders", "visitors"])


@pytest.mark.parametrize("path", list(PAGES))
def test_page_draws_and_is_screenshotted(page, demo_server, path):
    heading, bottom, charts, frames = PAGES[path]
    page.goto(f"{demo_server}/{'' if path == 'overview' else path}?range=28d")  # the default page is at /
    wait_drawn(page, bottom, charts=charts, dataframes=frames, timeout=150_000)
    assert page.get_by_role("heading", name=heading, exact=True).is_visible()
    assert page.get_by_test_id("stAlert").filter(has_text="Demo data").is_visible()
    assert not page.get_by_test_id("stException").count()
    assert not page.get_by_text("could not be drawn").count()
    inputs = page.locator('[data-testid="stNumberInput"] input, [data-testid="stTextInput"] input')
    if path == "settings":  # the form's inputs are drawn lazily too
        page.wait_for_function("n => document.querySelectorAll('[data-testid=\"stNumberInput\"] input').length >= n",
                               arg=11, timeout=60_000)
        assert inputs.first.is_visible()
    shot = screenshot(page, ARTIFACTS / f"{path}.png")
    assert shot.stat().st_size > 20_000


def test_url_filters_change_the_numbers(page, demo_server, twin, last_day):
    page.goto(f"{demo_server}/?range=7d")
    drawn(page, "Alerts", charts=1, dataframes=1)
    week = values(twin, Filters(last_day - timedelta(days=6), last_day))
    assert card(page, "GMV") == f"{week['gmv'].value:,.0f} EUR"

    start, end = last_day - timedelta(days=60), last_day - timedelta(days=31)
    page.goto(f"{demo_server}/?range=custom&start={start}&end={end}&channel=web&channel=app")
    drawn(page, f"{start:%d %b %Y} – {end:%d %b %Y}", charts=1, dataframes=1)
    month = values(twin, Filters(start, end, ("web", "app")))
    assert card(page, "GMV") == f"{month['gmv'].value:,.0f} EUR" != f"{week['gmv'].value:,.0f} EUR"
    assert card(page, "Orders") == f"{month['orders'].value:,.0f}"

    # a page switch through the menu keeps the filters in the URL and the numbers
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Traffic & conversion").click()
    drawn(page, "Funnel", charts=5, dataframes=3)
    assert "range=custom" in page.url and "channel=web" in page.url and "channel=app" in page.url
    assert card(page, "Visitors (UV)") == f"{month['visitors'].value:,.0f}"


def test_sidebar_preset_writes_the_url(page, demo_server, twin, last_day):
    page.goto(f"{demo_server}/?range=28d")
    drawn(page, "Alerts", charts=1, dataframes=1)
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="Last 90 days").click()
    drawn(page, f"{last_day - timedelta(days=89):%d %b %Y} – {last_day:%d %b %Y}", charts=1, dataframes=1)
    assert "range=90d" in page.url
    q = values(twin, Filters(last_day - timedelta(days=89), last_day))
    assert card(page, "GMV") == f"{q['gmv'].value:,.0f} EUR"
