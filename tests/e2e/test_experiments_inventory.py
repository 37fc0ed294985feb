"""Experiments and Inventory & restock in a real browser: the sample-size calculator on the shared
demo server; a forecast run started from the page and the restock CSV for purchasing on a server
of its own over a small shop (a run writes, and a run on the whole demo takes minutes here)."""
import csv
import io
import math

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from data import warehouse
from tests.e2e.conftest import ARTIFACTS, serve, stop
from tests.e2e.helpers import screenshot, wait_drawn
from tests.test_pages_experiments_inventory import small_shop

pytestmark = pytest.mark.browser


@pytest.fixture
def own_server(tmp_path):
    """(base URL, warehouse path, stop) of a server over the small shop of the AppTests."""
    db = tmp_path / "warehouse.duckdb"
    small_shop(db)
    proc, url = serve(db, tmp_path / "streamlit.log")
    stopped = []

    def halt():
        if not stopped:
            stop(proc)
            stopped.append(True)
    yield url, db, halt
    halt()


def test_experiments_page_and_calculator(page, demo_server):
    url = demo_server
    page.goto(f"{url}/experiments")
    wait_drawn(page, "All comparisons", dataframes=2, charts=2, timeout=60_000)
    main = page.get_by_test_id("stMain")
    assert main.get_by_role("heading", name="checkout_redesign").is_visible()
    assert main.get_by_text("Traffic split matches the plan").is_visible()
    assert main.get_by_text("ship", exact=True).first.is_visible()

    page.get_by_role("spinbutton", name="Baseline conversion rate (%)").fill("4")
    page.get_by_role("spinbutton", name="Minimum effect").fill("10")
    page.get_by_role("spinbutton", name="Traffic to the variant (%)").fill("40")
    page.get_by_role("button", name="Calculate").click()
    wait_drawn(page, "Users in total", dataframes=2, charts=2)
    ratio = 40 / 60
    n = NormalIndPower().solve_power(effect_size=proportion_effectsize(0.044, 0.04), alpha=0.05, power=0.8,
                                     ratio=ratio)
    metric = page.get_by_test_id("stMetric").filter(has_text="Users in control")
    assert metric.get_by_test_id("stMetricValue").inner_text() == f"{math.ceil(n):,}"
    shot = screenshot(page, ARTIFACTS / "experiments.png")
    assert shot.stat().st_size > 20_000


def test_inventory_forecast_run_and_restock_csv(page, own_server):
    url, db, halt = own_server
    page.goto(f"{url}/inventory")
    wait_drawn(page, "Stock and days of cover", dataframes=1, timeout=60_000)
    assert page.get_by_text("No forecast has been run on this warehouse yet").is_visible()
    page.get_by_role("button", name="Run forecast now").click()
    # the job runs in the background; the page follows it and draws the run when it is stored
    wait_drawn(page, "Restock recommendations", dataframes=2, charts=1, timeout=1_500_000)
    assert page.get_by_text("Forecast run #1 made").is_visible()
    screenshot(page, ARTIFACTS / "inventory.png")

    with page.expect_download() as dl:
        page.locator(".st-key-plan_csv button").click()
    download = dl.value
    assert download.suggested_filename == "restock_plan_run1.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    halt()  # the server holds the warehouse; read what it stored
    con = warehouse.connect(db, read_only=True)
    stored = con.execute("""select sku, recommended_qty, order_by from restock_plan where run_id = 1
                            order by order_by nulls last, sku""").fetchall()
    con.close()
    assert len(rows) == len(stored) > 0
    assert [(r["sku"], float(r["recommended_qty"]), r["order_by"]) for r in rows] == \
        [(s, q, str(d) if d else "") for s, q, d in stored]
