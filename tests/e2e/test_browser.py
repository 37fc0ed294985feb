"""The app in a real browser: it loads offline, lists the pages, draws the Warehouse page and shows the data."""
import pytest

from data import warehouse
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import grid_rows, screenshot, wait_drawn

pytestmark = pytest.mark.browser


def test_warehouse_page(page, server):  # page first: no browser, no server start
    page.goto(f"{server}/warehouse")
    wait_drawn(page, "Last ingests", dataframes=2)
    assert page.get_by_role("heading", name="Warehouse").is_visible()
    assert page.get_by_test_id("stAlert").filter(has_text="Demo data").is_visible()
    shot = screenshot(page, ARTIFACTS / "warehouse.png")
    assert shot.stat().st_size > 10_000

    tables, log = page.get_by_test_id("stDataFrame").all()
    counts = dict(grid_rows(tables))
    assert list(counts) == list(warehouse.TABLES)
    assert counts["order_lines"] == "3" and counts["ingest_log"] == "1"
    assert grid_rows(log)[0][:3] == ["orders_jan.csv", "orders", "loaded"]


def test_navigation_lists_the_sections_and_opens_on_the_overview(page, server):
    page.goto(server)
    wait_drawn(page, "Alerts")
    assert page.get_by_role("heading", name="Overview").is_visible()
    nav = page.get_by_test_id("stSidebarNav")
    for section in ("Dashboards", "Data", "Admin"):
        assert nav.get_by_text(section, exact=True).is_visible()
    for title in ("Overview", "Traffic & conversion", "Customers", "NPS", "Products", "Warehouse", "Settings"):
        assert nav.get_by_role("link", name=title).is_visible()
    nav.get_by_role("link", name="Warehouse").click()
    wait_drawn(page, "Last ingests", dataframes=2)
    assert page.url.endswith("/warehouse")
