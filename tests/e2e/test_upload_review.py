"""Upload and Weekly review in a real browser, on a server of their own over a copy of the demo
warehouse (uploads write): a file through the file input, confirmed and found in the ingest
history; the review drawn, exported as HTML (download) that renders offline, and presentation mode."""
import re
import shutil
import time
from html.parser import HTMLParser

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import ARTIFACTS, serve, stop
from tests.e2e.helpers import grid_rows, screenshot, wait_drawn

pytestmark = pytest.mark.browser
SHOPIFY = ROOT / "tests" / "fixtures" / "exports" / "shopify_orders.csv"


@pytest.fixture(scope="module")
def own_server(demo_db, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("upload-review")
    db = tmp / "warehouse.duckdb"
    shutil.copy(demo_db, db)
    proc, url = serve(db, tmp / "streamlit.log")
    yield url
    stop(proc)


def test_upload_a_file_confirm_and_find_it_in_the_history(page, own_server):
    page.goto(f"{own_server}/upload")
    wait_drawn(page, "Ingest history", dataframes=1, timeout=120_000)
    assert page.get_by_text("200 MB per file").is_visible()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(SHOPIFY))
    wait_drawn(page, "Ready: 13 rows into order_lines.", dataframes=2, timeout=120_000)
    page.get_by_role("button", name="Load shopify_orders.csv").wait_for(timeout=60_000)  # drawn, not placeholders
    page.get_by_test_id("stSelectbox").filter(has_text="Kind").locator("input").wait_for(timeout=60_000)
    assert page.get_by_text("kind orders (detected)").is_visible()
    assert page.get_by_text("encoding utf-8").is_visible()
    screenshot(page, ARTIFACTS / "upload-preview.png")

    page.get_by_role("button", name="Load shopify_orders.csv").click()
    wait_drawn(page, "shopify_orders.csv loaded — orders: 13 rows read; 13 inserted, 0 updated.", dataframes=1, timeout=120_000)
    # The grid (a canvas) writes its accessible rows a moment after the script run: read until the
    # new first row is there or 30 s have passed.
    history = page.get_by_test_id("stDataFrame").last
    want = ["shopify_orders.csv", "orders", "loaded", "orders: 13 rows read; 13 inserted, 0 updated"]
    deadline = time.monotonic() + 30
    while (first := grid_rows(history)[0])[:4] != want and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert first[:4] == want
    screenshot(page, ARTIFACTS / "upload.png")


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href") and v]


def test_weekly_review_export_and_presentation(page, own_server, tmp_path):
    page.goto(f"{own_server}/review")
    wait_drawn(page, "Key charts", dataframes=1, charts=3, timeout=120_000)
    stamp = page.get_by_text(re.compile(r"^Week \d{4}-W\d{2} .* Data up to ")).inner_text()
    iso = re.match(r"Week (\d{4}-W\d{2}) \(Mon (\d{2} \w{3}) – Sun (\d{2} \w{3} \d{4})\)", stamp)
    assert iso, stamp
    assert "Net sales" in page.get_by_test_id("stAlert").nth(1).inner_text()
    assert f"week={page.url.split('week=')[1][:10]}" in page.url  # the URL carries the week
    screenshot(page, ARTIFACTS / "review.png")

    with page.expect_download() as dl:
        page.get_by_test_id("stDownloadButton").filter(has_text="Export as HTML").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.name.startswith("storeboard-weekly-review-")
    text = path.read_text(encoding="utf-8")
    assert stamp in text and f"Week {iso.group(1)}" in text
    parser = Links()
    parser.feed(text)
    assert parser.links == []

    # the file renders offline: the page fixture fails the test on any request leaving the machine
    offline = page.context.new_page()
    offline.goto(path.as_uri())
    offline.wait_for_function("document.querySelectorAll('.plotly-graph-div .main-svg').length >= 3", timeout=60_000)
    offline.set_viewport_size({"width": 1300, "height": offline.evaluate("document.body.scrollHeight")})
    offline.screenshot(path=str(ARTIFACTS / "review-export.png"), full_page=True)
    offline.close()

    page.goto(f"{own_server}/review?present=1&refresh=60")
    wait_drawn(page, "Exit presentation", dataframes=1, charts=3, timeout=120_000)
    assert page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true"  # no sidebar on the screen
    assert page.get_by_test_id("stMetric").count() >= 6
    assert page.get_by_test_id("stSelectbox").count() == 0
    screenshot(page, ARTIFACTS / "review-present.png")
