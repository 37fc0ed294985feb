"""Upload and Weekly review pages through AppTest, on the demo warehouse and on an empty one; the
upload logic (data/upload.py) against what data.ingest.ingest_file does with the same file."""
import json
import shutil
from datetime import date, timedelta

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from data import ingest, upload, warehouse
from metrics import compute, review
from metrics.filters import Filters
from tests.conftest import ROOT

EXPORTS = ROOT / "tests" / "fixtures" / "exports"


@pytest.fixture
def demo_db(demo_file, tmp_db):
    """A copy of the demo warehouse per test (uploads write); STOREBOARD_DB points at it."""
    shutil.copy(demo_file, tmp_db)
    return tmp_db


def page(path: str, params: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page(path)
    for k, v in (params or {}).items():  # as if the page's link were opened
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def exported(name: str) -> tuple[str, bytes, str]:
    return name, (EXPORTS / name).read_bytes(), "text/csv"


def boxes(at: AppTest) -> list[str]:
    return [b.value for kind in (at.success, at.info, at.warning, at.error) for b in kind]


# ------------------------------------------------------------------------------------ upload logic

@pytest.mark.parametrize("name", ["shopify_orders.csv", "orders_few_bad_rows.csv", "orders_many_bad_rows.csv",
                                  "sycm_traffic_gbk.csv", "taobao_orders_gbk.csv", "orders.xlsx"])
def test_preview_agrees_with_the_load(tmp_path, name):
    data = (EXPORTS / name).read_bytes()
    con = warehouse.connect(tmp_path / "w.duckdb")
    p = upload.preview(con, data, name)
    assert warehouse.table_counts(con) == [(t, 0) for t in warehouse.TABLES]  # a preview writes nothing
    r = ingest.ingest_file(con, data, name)
    assert (p.kind, p.encoding, p.rows_read, p.rejected_rows) == (r.kind, r.encoding, r.rows_read, r.rejected)
    assert p.rejected.to_dicts() == (r.rejected_rows.to_dicts() if r.rejected_rows is not None else [])
    assert (p.status == "refused") == (r.status == "refused")
    if r.status == "loaded":
        assert sum(p.rows_to_load.values()) >= r.inserted and p.rows_to_load[next(iter(p.rows_to_load))] == r.inserted
        assert upload.preview(con, data, name).status == "duplicate_file"


def test_preview_says_what_is_missing(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    unknown = upload.preview(con, (EXPORTS / "orders_unknown_headers.csv").read_bytes(), "x.csv")
    assert unknown.status == "needs_mapping" and unknown.kind == "orders"
    assert unknown.headers[:3] == ["Ref", "When", "Cust"] and unknown.head.height == 6
    nodate = upload.preview(con, (EXPORTS / "nps_survey_nodate.csv").read_bytes(), "nps.csv")
    assert (nodate.status, nodate.kind, nodate.message) == ("needs_date", "nps",
                                                            "this NPS file has no date column: give the survey date")
    assert upload.preview(con, b"", "e.csv").message == "the file is empty"
    assert upload.preview(con, (EXPORTS / "bad_binary.bin").read_bytes(), "b.bin").status == "refused"


def test_mapping_rows_round_trip_and_conflicts():
    headers = ["Ref", "When", "Each", "Note"]
    rows = upload.mapping_rows("orders", headers, {"order_id": "Ref", "ordered_at": "When"})
    assert rows.to_dicts() == [{"header": "Ref", "column": "order_id"}, {"header": "When", "column": "ordered_at"},
                               {"header": "Each", "column": ""}, {"header": "Note", "column": ""}]
    edited = rows.with_columns(pl.when(pl.col("header") == "Each").then(pl.lit("unit_price"))
                               .otherwise(pl.col("column")).alias("column"))
    assert upload.user_mapping(edited) == {"Ref": "order_id", "When": "ordered_at", "Each": "unit_price", "Note": ""}
    twice = edited.with_columns(pl.lit("order_id").alias("column"))
    with pytest.raises(ValueError, match="“order_id” is chosen for more than one header"):
        upload.user_mapping(twice)
    assert upload.canonical_columns("orders")[:3] == ["order_id", "ordered_at", "paid_at"]


# ------------------------------------------------------------------------------------ upload page

def test_upload_page_on_an_empty_warehouse(tmp_db):
    at = page("app_pages/upload.py")
    assert at.title[0].value == "Upload"
    assert any("Choose one or more exports" in b for b in boxes(at))
    assert any("200 MB per file" in c.value for c in at.caption)
    assert any(c.value == "No file has been loaded yet." for c in at.caption)
    assert at.file_uploader(key="up_files").accept_multiple_files


def test_upload_several_files_preview_then_load(tmp_db):
    at = page("app_pages/upload.py")
    at.file_uploader(key="up_files").set_value([exported("shopify_orders.csv"), exported("orders_few_bad_rows.csv"),
                                                exported("orders_unknown_headers.csv")]).run()
    assert not at.exception, [e.message for e in at.exception]
    facts = [m.value for m in at.markdown if m.value.startswith("kind **")]
    size = (EXPORTS / "shopify_orders.csv").stat().st_size
    assert facts[0] == f"kind **orders** (detected) · {size:,} bytes · format **csv** · encoding **utf\\-8** · 13 rows"
    assert any(b == "Ready: 13 rows into order_lines." for b in boxes(at))
    assert any("3 of 20 rows rejected" in b for b in boxes(at))
    assert any("Some columns need mapping" in b for b in boxes(at))
    # the rejected rows shown are the ones data.ingest reports
    con = warehouse.connect(":memory:")
    expected = ingest.ingest_file(con, EXPORTS / "orders_few_bad_rows.csv").rejected_rows
    shown = next(d.value for d in at.dataframe if list(d.value.columns) == ["row", "column", "value", "reason"])
    assert shown["row"].tolist() == expected["row"].to_list() and shown["reason"].tolist() == expected["reason"].to_list()
    assert dict(warehouse.table_counts(_con(tmp_db)))["order_lines"] == 0  # nothing written before Load

    load = next(b for b in at.button if b.label == "Load shopify_orders.csv")
    load.click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert "shopify_orders.csv loaded — orders: 13 rows read; 13 inserted, 0 updated." in \
        [s.value.replace("\\", "") for s in at.success]
    history = at.dataframe[-1].value
    assert history.loc[0, "file_name"] == "shopify_orders.csv" and history.loc[0, "inserted"] == 13
    assert history.loc[0, "status"] == "loaded" and len(history) == 1


def test_upload_maps_unknown_headers_in_the_page(tmp_db):
    at = page("app_pages/upload.py")
    at.file_uploader(key="up_files").set_value([exported("orders_unknown_headers.csv")]).run()
    editor = at.data_editor[0]
    rows = editor.value
    mapping = json.loads((EXPORTS / "orders_unknown_headers.mapping.json").read_text())
    at.session_state[editor.key] = {"edited_rows": {i: {"column": mapping[h]} for i, h in enumerate(rows["header"])},
                                    "added_rows": [], "deleted_rows": []}
    at.run()
    next(b for b in at.button if b.label == "Apply mapping").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any(b == "Ready: 6 rows into order_lines." for b in boxes(at))
    next(b for b in at.button if b.label == "Load orders_unknown_headers.csv").click().run()
    assert any("orders_unknown_headers.csv loaded — orders: 6 rows read; 6 inserted" in s.value.replace("\\", "")
               for s in at.success)
    # remembered for the header set: the same headers now detect without a mapping
    at.file_uploader(key="up_files").set_value([("again.csv", (EXPORTS / "orders_unknown_headers.csv").read_bytes()
                                                 + b"INV-9999,2024-03-09 10:00,K-1,MUG,Mug,1,14.00,0,0,paid,EUR\n",
                                                 "text/csv")]).run()
    assert any(b == "Ready: 7 rows into order_lines." for b in boxes(at)), boxes(at)


def test_upload_needs_a_date_for_an_undated_survey(tmp_db):
    at = page("app_pages/upload.py")
    at.file_uploader(key="up_files").set_value([exported("nps_survey_nodate.csv")]).run()
    assert any("This NPS file has no date column: give the survey date: pick it above." in b.replace("\\", "")
               for b in boxes(at))
    at.date_input[0].set_value(date(2026, 11, 4)).run()
    # tests/fixtures/exports/EXPECTED.md §9: 20 rows read, 17 load, 3 rejected
    assert "Ready: 17 rows into nps_responses." in boxes(at)
    assert any(b.startswith("**3 of 20 rows rejected**") for b in boxes(at))


def test_upload_refuses_in_words(tmp_db):
    at = page("app_pages/upload.py")
    at.file_uploader(key="up_files").set_value([("bad.csv", b"", "text/csv"), exported("orders_many_bad_rows.csv")]
                                               ).run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]
    assert "Cannot read this file: the file is empty." in errors
    assert any(e.startswith("4 of 10 rows are invalid (more than 20%): the file would be refused whole") for e in errors)
    assert not any(b.label.startswith("Load orders_many") for b in at.button)


# ------------------------------------------------------------------------------------ weekly review page

def test_review_on_the_demo_shows_the_week_against_the_previous(demo_db):
    at = page("app_pages/review.py")
    assert at.title[0].value == "Weekly review"
    picker = at.selectbox(key="rv_week")
    week = picker.value
    assert week == _default(demo_db) and week.weekday() == 0 and at.query_params["week"] == week.isoformat()
    values = compute.kpis(_con(demo_db), Filters(week, week + timedelta(days=6)))
    kpis = at.dataframe[0].value.set_index("KPI")
    assert kpis.loc["GMV", "This week"] == review.fmt("money", values["gmv"].value, "EUR")
    assert kpis.loc["GMV", "Previous week"] == review.fmt("money", values["gmv"].previous, "EUR")
    assert kpis.loc["Orders", "This week"] == f"{values['orders'].value:,}"
    assert kpis.loc["Conversion rate", "This week"] == f"{values['conversion_rate'].value:.2%}"
    highlights = [b.value for b in (*at.success, *at.warning) if "Demo data" not in b.value]
    assert 3 <= len(highlights) <= 5
    assert highlights[0].replace("\\", "").startswith(f"Net sales {values['net_sales'].value:,.2f} EUR")
    assert len(at.get("plotly_chart")) == 3
    assert any(c.value.startswith(f"Week {week.isocalendar().year}-W") and "Filters: all channels" in c.value
               for c in at.caption)
    assert at.get("download_button")  # the HTML export (and the KPI CSV)


def _con(path):
    """The warehouse the page reads, through the app's cached connection (one handle per process)."""
    import ui
    return ui._connection(str(path))


def test_review_follows_the_url(demo_db):
    at = page("app_pages/review.py")
    channel = at.multiselect(key="rv_channels").options[0]
    with _con(demo_db).cursor() as cur:
        monday = review.weeks(cur)[3]  # four weeks back
    at2 = page("app_pages/review.py", {"week": str(monday), "channel": channel})
    assert at2.selectbox(key="rv_week").value == monday and at2.multiselect(key="rv_channels").value == [channel]
    values = compute.kpis(_con(demo_db), Filters(monday, monday + timedelta(days=6), (channel,)))
    kpis = at2.dataframe[0].value.set_index("KPI")
    assert kpis.loc["GMV", "This week"] == review.fmt("money", values["gmv"].value, "EUR")
    assert any(f"Filters: {channel}" in c.value for c in at2.caption)


def test_review_presentation_mode(demo_db):
    at = page("app_pages/review.py", {"present": "1", "refresh": "30"})
    assert not at.selectbox and not at.multiselect  # no controls on the shared screen
    assert any(b.label == "Exit presentation" for b in at.button)
    values = compute.kpis(_con(demo_db), review.week_filters(_default(demo_db)))
    cards = {m.label: m.value for m in at.metric}
    assert cards["Net sales"] == review.fmt("money", values["net_sales"].value, "EUR")
    deltas = {m.label: m.delta for m in at.metric}  # ASCII signs: st.metric colours and points the arrow by them
    assert deltas["Average order value"] == review.fmt_delta("money", values["aov"].delta, "EUR")
    assert deltas["Orders"] == f"{values['orders'].delta:+,}"
    assert cards["Orders"] == f"{values['orders'].value:,}"
    assert all(h.value.startswith("### ") for h in at.success)  # highlights in large type
    assert not at.get("download_button")
    next(b for b in at.button if b.label == "Exit presentation").click().run()
    assert "present" not in at.query_params and at.selectbox(key="rv_week")


def _default(path):
    with _con(path).cursor() as cur:
        return review.default_week(cur)


def test_review_with_a_bad_week_in_the_link(demo_db):
    at = page("app_pages/review.py", {"week": "1999-01-04"})
    assert any("has no full week of data" in w.value for w in at.warning)
    assert at.selectbox(key="rv_week").value == _default(demo_db)


def test_review_on_an_empty_warehouse(tmp_db):
    at = page("app_pages/review.py")
    assert at.title[0].value == "Weekly review"
    assert any("No orders, traffic or NPS answers yet" in i.value and "Upload" in i.value for i in at.info)
    assert not at.dataframe and not at.get("plotly_chart")


# ------------------------------------------------------------------------------------ concurrent sessions

def _big_orders(n: int) -> bytes:
    """A canonical orders export of ``n`` one-line orders (built with Polars, not a Python loop)."""
    i = pl.int_range(0, n, eager=True)
    return pl.DataFrame({
        "order_id": "BIG-" + i.cast(pl.String), "ordered_at": "2024-05-01 10:00:00", "customer_id": "C-" + (i % 500)
        .cast(pl.String), "channel": "web", "status": "paid", "sku": "SKU-" + (i % 50).cast(pl.String),
        "quantity": 1, "unit_price": 9.5}).write_csv().encode()


def test_other_sessions_never_see_the_log_row_before_all_its_lines(tmp_path):
    """A reader on its own cursor of the app's one connection (another browser session) never sees
    the new ingest_log row before all the file's order lines, and sees everything once the load
    returns. DuckDB 2.0 makes a commit visible piece by piece: for a moment (about 1 run in 3 here)
    a reader sees the new lines while ingest_log still has its old rows, and once (a clean-clone
    CI run, stop 15) it saw the first 122,880-row row group of the 200,000 new lines alone. The
    pipeline writes data before its log row, so such a moment only shows new data under the old
    warehouse version, and the page cache refreshes when the version moves; the opposite order
    would cache old or partial data under the new version, which this test forbids."""
    import threading
    con = warehouse.connect(tmp_path / "w.duckdb")
    ingest.ingest_file(con, EXPORTS / "orders_canonical.csv")
    state = "select (select count(*) from order_lines), (select count(*) from ingest_log)"
    before = con.execute(state).fetchall()[0]
    n = 200_000
    data = _big_orders(n)
    seen, done = set(), threading.Event()

    def read():
        with con.cursor() as cur:
            while not done.is_set():
                seen.add(cur.execute(state).fetchall()[0])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with con.cursor() as cur:
            result = ingest.ingest_file(cur, data, "big.csv")
    finally:
        done.set()
        reader.join()
    assert result.status == "loaded" and result.inserted == n
    seen.add(con.execute(state).fetchall()[0])
    after = (before[0] + n, before[1] + 1)
    assert all(before[0] <= lines <= after[0] for lines, _ in seen)
    assert {logs for _, logs in seen} <= {before[1], after[1]}
    assert {lines for lines, logs in seen if logs == after[1]} == {after[0]}  # never the log row without all its lines


def test_two_sessions_upload_at_once(tmp_path):
    """Two uploads on two cursors of one connection (two sessions pressing Load together) both load."""
    from concurrent.futures import ThreadPoolExecutor
    con = warehouse.connect(tmp_path / "w.duckdb")

    def load(name):
        with con.cursor() as cur:
            return ingest.ingest_file(cur, (EXPORTS / name).read_bytes(), name)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(load, ["shopify_orders.csv", "woocommerce_orders.csv"]))
    assert [r.status for r in results] == ["loaded", "loaded"]
    logged = con.execute("select file_name, inserted from ingest_log order by file_name").fetchall()
    assert logged == sorted((r.file, r.inserted) for r in results)
    assert con.execute("select count(*) from order_lines").fetchall()[0][0] == sum(r.inserted for r in results)


def test_review_presentation_on_an_empty_warehouse(tmp_db):
    at = page("app_pages/review.py", {"present": "1", "refresh": "5"})
    assert any("No orders, traffic or NPS answers yet" in i.value for i in at.info)
    assert at.button[-1].label == "Exit presentation" and not at.metric
