"""The app in a real browser: it loads offline, draws the Warehouse page and shows the data."""
import pytest

from data import warehouse
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import grid_rows, screenshot, wait_drawn

pytestmark = pytest.mark.browser


def test_warehouse_page(page, server):  # page first: no browser, no server start
    page.goto(server)
    wait_drawn(page, "Last ingests", dataframes=2)
    assert page.get_by_role("heading", name="Warehouse").is_visible()
    assert page.get_by_test_id("stAlert").filter(has_text="Demo data").is_visible()
    # One page, so no navigation menu (Streamlit's legacy pages/ discovery would add one).
    assert page.get_by_test_id("stSidebarNav").count() == 0
    shot = screenshot(page, ARTIFACTS / "warehouse.png")
    assert shot.stat().st_size > 10_000

    tables, log = page.get_by_test_id("stDataFrame").all()
    counts = dict(grid_rows(tables))
    assert list(counts) == list(warehouse.TABLES)
    assert counts["order_lines"] == "3" and counts["ingest_log"] == "1"
    assert grid_rows(log)[0][:3] == ["orders_jan.csv", "orders", "loaded"]
